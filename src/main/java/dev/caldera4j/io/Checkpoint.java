package dev.caldera4j.io;

import com.google.gson.JsonElement;
import com.google.gson.JsonObject;
import com.google.gson.JsonParser;
import com.google.gson.JsonPrimitive;

import java.io.IOException;
import java.lang.foreign.MemorySegment;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.stream.Stream;

/**
 * The weights of a Hugging Face model directory: {@code model.safetensors}, or the shards listed
 * by {@code model.safetensors.index.json} ({@code "weight_map": name → shard file}). The read API is
 * {@link SafetensorsFile}'s, routed to the shard that holds each tensor.
 *
 * <p>When both files exist, {@code model.safetensors} wins, as in transformers. Every shard is
 * opened (header read and validated, file mapped) at {@link #open}, so a broken download fails
 * there rather than halfway through a run; tensor data is still read only when asked for.
 * A shard may hold tensors the index does not list; they are ignored, as transformers does.
 */
public final class Checkpoint implements AutoCloseable {

    public static final String SINGLE_FILE = "model.safetensors";
    public static final String INDEX_FILE = "model.safetensors.index.json";

    private final Path dir;
    private final List<SafetensorsFile> files;            // single file, or shards in order of first use in the index
    private final Map<String, SafetensorsFile> fileOf;    // tensor name → its file, index (or header) order

    private Checkpoint(Path dir, List<SafetensorsFile> files, Map<String, SafetensorsFile> fileOf) {
        this.dir = dir;
        this.files = files;
        this.fileOf = fileOf;
    }

    /**
     * Opens the weights of a model directory.
     *
     * @throws SafetensorsException when the directory has neither weight file (the message lists
     *                              what it holds), the index is malformed, names a missing shard, or
     *                              lists a tensor its shard lacks; or when a file is corrupt
     */
    public static Checkpoint open(Path dir) {
        if (!Files.isDirectory(dir)) {
            throw new SafetensorsException(dir, null, Files.exists(dir) ? "is not a directory" : "does not exist",
                    "pass the model directory that holds config.json and *.safetensors");
        }
        Path single = dir.resolve(SINGLE_FILE);
        Path index = dir.resolve(INDEX_FILE);
        if (Files.isRegularFile(single)) {
            SafetensorsFile f = SafetensorsFile.open(single);
            Map<String, SafetensorsFile> fileOf = new LinkedHashMap<>();
            for (String n : f.names()) fileOf.put(n, f);
            return new Checkpoint(dir, List.of(f), Collections.unmodifiableMap(fileOf));
        }
        if (Files.isRegularFile(index)) {
            return openSharded(dir, index);
        }
        throw new SafetensorsException(dir, null, "holds neither " + SINGLE_FILE + " nor " + INDEX_FILE
                + " (found: " + listing(dir) + ")",
                "pass the model directory that holds config.json and *.safetensors");
    }

    private static Checkpoint openSharded(Path dir, Path index) {
        Map<String, String> weightMap = readWeightMap(index);
        Map<String, SafetensorsFile> byShard = new LinkedHashMap<>();
        Map<String, SafetensorsFile> fileOf = new LinkedHashMap<>();
        try {
            for (Map.Entry<String, String> e : weightMap.entrySet()) {
                String name = e.getKey(), shard = e.getValue();
                SafetensorsFile f = byShard.get(shard);
                if (f == null) {
                    Path p = dir.resolve(shard);
                    if (!Files.isRegularFile(p)) {
                        throw new SafetensorsException(index, name, "names shard '" + shard + "', which is not in "
                                + dir + " (found: " + listing(dir) + ")",
                                "the download is incomplete: fetch " + shard + " into the directory");
                    }
                    f = SafetensorsFile.open(p);
                    byShard.put(shard, f);
                }
                if (!f.has(name)) {
                    throw new SafetensorsException(f.path(), name, "is listed in " + INDEX_FILE
                            + " but absent from this shard",
                            "the index and the shards come from different downloads; fetch the checkpoint again");
                }
                fileOf.put(name, f);
            }
        } catch (RuntimeException ex) {
            byShard.values().forEach(SafetensorsFile::close);
            throw ex;
        }
        return new Checkpoint(dir, List.copyOf(byShard.values()), Collections.unmodifiableMap(fileOf));
    }

    /** The "weight_map" of an index file, in file order. */
    private static Map<String, String> readWeightMap(Path index) {
        JsonObject o;
        try {
            JsonElement root = JsonParser.parseString(Files.readString(index));
            if (!root.isJsonObject()) throw new IllegalStateException("not a JSON object");
            o = root.getAsJsonObject();
        } catch (IOException e) {
            throw new SafetensorsException(index, null, "cannot read: " + e, "check that the file is readable", e);
        } catch (RuntimeException e) {
            throw new SafetensorsException(index, null, "malformed JSON: " + e.getMessage(),
                    "the index is corrupt; fetch it again", e);
        }
        if (!o.has("weight_map") || !o.get("weight_map").isJsonObject()) {
            throw new SafetensorsException(index, null, "has no \"weight_map\" object",
                    "an HF index maps each tensor name to its shard under \"weight_map\"");
        }
        Map<String, String> m = new LinkedHashMap<>();
        for (Map.Entry<String, JsonElement> e : o.getAsJsonObject("weight_map").entrySet()) {
            if (!(e.getValue() instanceof JsonPrimitive p) || !p.isString()) {
                throw new SafetensorsException(index, e.getKey(), "maps to " + e.getValue() + ", not a shard file name",
                        "the index is corrupt; fetch it again");
            }
            m.put(e.getKey(), p.getAsString());
        }
        return m;
    }

    /** Up to 20 entry names of a directory, sorted, for error messages. */
    private static String listing(Path dir) {
        try (Stream<Path> s = Files.list(dir)) {
            List<String> names = new ArrayList<>(s.map(p -> p.getFileName().toString()).sorted().toList());
            if (names.isEmpty()) return "nothing";
            int n = names.size();
            return String.join(", ", names.subList(0, Math.min(20, n))) + (n > 20 ? ", … (" + n + " entries)" : "");
        } catch (IOException e) {
            return "unreadable: " + e.getMessage();
        }
    }

    /** The model directory. */
    public Path dir() {
        return dir;
    }

    /** The open files: the single file, or the shards in order of first appearance in the index. */
    public List<SafetensorsFile> files() {
        return files;
    }

    /** Tensor names: the index's weight_map order (sorted in HF indexes), or the single file's header order. */
    public List<String> names() {
        return List.copyOf(fileOf.keySet());
    }

    public boolean has(String name) {
        return fileOf.containsKey(name);
    }

    /** The file (shard) holding a tensor. */
    public SafetensorsFile file(String name) {
        SafetensorsFile f = fileOf.get(name);
        if (f == null) {
            throw new SafetensorsException(dir, name, "no such tensor in this checkpoint",
                    SafetensorsFile.suggest(name, fileOf.keySet()));
        }
        return f;
    }

    /** Header entry; begin/end are relative to the data buffer of {@code file(name)}. */
    public TensorInfo info(String name) {
        return file(name).info(name);
    }

    /** See {@link SafetensorsFile#segment}. */
    public MemorySegment segment(String name) {
        return file(name).segment(name);
    }

    /** See {@link SafetensorsFile#floats}. */
    public float[] floats(String name) {
        return file(name).floats(name);
    }

    /** See {@link SafetensorsFile#floatRows(String, long, int)}. */
    public float[] floatRows(String name, long rowStart, int rowCount) {
        return file(name).floatRows(name, rowStart, rowCount);
    }

    /** See {@link SafetensorsFile#floatRows(String, long, int, float[], int)}. */
    public void floatRows(String name, long rowStart, int rowCount, float[] out, int outOffset) {
        file(name).floatRows(name, rowStart, rowCount, out, outOffset);
    }

    /** See {@link SafetensorsFile#ints}. */
    public int[] ints(String name) {
        return file(name).ints(name);
    }

    /** See {@link SafetensorsFile#shorts}. */
    public short[] shorts(String name) {
        return file(name).shorts(name);
    }

    /** See {@link SafetensorsFile#bytes}. */
    public byte[] bytes(String name) {
        return file(name).bytes(name);
    }

    /** See {@link SafetensorsFile#longs}. */
    public long[] longs(String name) {
        return file(name).longs(name);
    }

    /** See {@link SafetensorsFile#doubles}. */
    public double[] doubles(String name) {
        return file(name).doubles(name);
    }

    /** Unmaps every file. Idempotent. */
    @Override
    public void close() {
        files.forEach(SafetensorsFile::close);
    }

    @Override
    public String toString() {
        return "Checkpoint[" + dir + ", " + fileOf.size() + " tensors in " + files.size() + " file(s)]";
    }
}
