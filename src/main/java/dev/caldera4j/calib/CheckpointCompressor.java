package dev.caldera4j.calib;

import com.google.gson.Gson;
import com.google.gson.JsonElement;
import com.google.gson.JsonObject;
import com.google.gson.JsonParser;
import dev.caldera4j.eval.ResultsFile;
import dev.caldera4j.format.CompressedCheckpoint;
import dev.caldera4j.io.Checkpoint;
import dev.caldera4j.io.SafetensorsFile;
import dev.caldera4j.io.SafetensorsWriter;
import dev.caldera4j.io.TensorInfo;
import dev.caldera4j.model.Linear;
import dev.caldera4j.model.Qwen2Config;
import dev.caldera4j.model.Qwen2Loader;
import dev.caldera4j.model.Qwen2Model;
import dev.caldera4j.model.Qwen2Weights;
import dev.caldera4j.tokenizer.Tokenizer;
import dev.caldera4j.tokenizer.Tokenizers;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.channels.FileChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.AtomicMoveNotSupportedException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.StandardOpenOption;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.time.Instant;
import java.util.ArrayList;
import java.util.HexFormat;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.TreeMap;
import java.util.function.IntConsumer;
import java.util.stream.Stream;

/**
 * Compresses an HF Qwen2/Llama checkpoint directory into a format-v1 compressed checkpoint
 * ({@link CompressedCheckpoint}), block by block ({@link SequentialCompressor}), atomically and
 * resumably.
 *
 * <p>On disk, while running: {@code <out>.partial/} holds {@code caldera4j-spec.json} (the run's
 * settings, compared on resume), shard 1 (embedding, final norm, lm_head: copied bytes) and one
 * shard per block ({@code model-000{l+2}-of-000{L+1}.safetensors}), each written atomically as its
 * block completes, with the block's caldera4j.json entries in the shard's metadata. When all
 * blocks are there, the index, caldera4j.json (assembled from the shards' metadata, so a resumed
 * run writes what an uninterrupted one does) and the config/tokenizer files are written, and the
 * directory is renamed to {@code <out>}.
 *
 * <p>Resume: run the same job again. Finished blocks are read back from their shards and run
 * forward on the calibration windows (deterministic), which re-creates the activations the next
 * block needs; compression continues there. Because every block is fed, in both cases, by the
 * block as READ BACK from its shard, the output is byte-identical to an uninterrupted run.
 *
 * <p>Bad input (not Qwen2/Llama, missing tensor, shape mismatch, NaN/Inf, a grid that does not fit
 * a layer shape, missing corpus) fails before anything is written: every tensor is checked first.
 *
 * <p>Where the whole model still lives: nowhere during compression (one block at a time, the
 * embedding gathered per calibration token from the mapped file). Validation reads every tensor
 * once (one at a time) and hashes the weights (SHA-256, ~minutes at 72B).
 */
public final class CheckpointCompressor {
    private CheckpointCompressor() {}

    /** Timings and events of a run (JSON lines); the only file of the output that is not deterministic. */
    public static final String RUN_LOG = "caldera4j-run.log";
    /** The run's settings inside {@code <out>.partial}; a resume must match them exactly. */
    public static final String SPEC_FILE = "caldera4j-spec.json";
    /**
     * Test hook: when this system property names a layer, the run prints {@link #PAUSE_MARKER} +
     * layer to stderr after that layer's shard is written and then waits forever (to be killed).
     */
    public static final String PAUSE_PROPERTY = "caldera4j.test.pauseAfterLayer";
    public static final String PAUSE_MARKER = "caldera4j-test: paused after layer ";

    /** Files copied unchanged from the model directory when present (config and tokenizer). */
    static final List<String> COPIED_FILES = List.of("config.json", "generation_config.json", "tokenizer.json",
            "tokenizer_config.json", "special_tokens_map.json", "added_tokens.json", "vocab.json", "merges.txt",
            "tokenizer.model");

    private static final Gson COMPACT = new Gson();

    /**
     * Where calibration windows come from.
     *
     * @param corpus training corpus directory or file ({@link Corpus#load})
     */
    public record Calibration(Path corpus, int seqs, int seqlen, long seed) {}

    /**
     * One compression.
     *
     * @param model HF model directory (config.json, *.safetensors, tokenizer.json)
     * @param out   output directory; must not exist ({@code <out>.partial} may: it is resumed)
     * @param calib null: data-free (RTN only; no proxy errors)
     */
    public record Job(Path model, Path out, CompressSpec spec, Calibration calib) {}

    /**
     * @param out            the finished checkpoint
     * @param layersResumed  blocks found finished in {@code <out>.partial} and not redone
     * @param seconds        compression wall time as an uninterrupted run would have taken it: Σ of
     *                       every block's time (from the run log, whichever session did it) + this
     *                       session's setup (validation, calibration sampling) and finishing
     * @param bitsPerParam   caldera4j.json's bits_per_param object
     */
    public record Summary(Path out, int layersResumed, double seconds, JsonObject bitsPerParam) {}

    /** Runs (or resumes) a job; progress gets the number of linears done of 7·layers. */
    public static Summary run(Job job, IntConsumer progress) {
        long t0 = System.nanoTime();
        Path model = job.model();
        if (!Files.isRegularFile(model.resolve("config.json")))
            throw new IllegalArgumentException(model + " has no config.json: pass an HF model directory (config.json,"
                    + " *.safetensors, tokenizer.json)");
        if (CompressedCheckpoint.isCompressed(model))
            throw new IllegalArgumentException(model + " is already a compressed checkpoint (it has "
                    + CompressedCheckpoint.META_FILE + "): pass the dense model");
        Qwen2Config c = Qwen2Config.load(model.resolve("config.json"));
        CompressSpec spec = job.spec();
        spec.checkShapes(c);
        if (spec.needsHessian() && job.calib() == null)
            throw new IllegalArgumentException("method " + spec.method() + " needs calibration data: give --calib-seqs > 0");
        Path out = job.out().toAbsolutePath().normalize();
        Path partial = out.resolveSibling(out.getFileName() + ".partial");
        if (Files.exists(out))
            throw new IllegalArgumentException("output " + out + " already exists: delete it or choose another --out");

        try (Checkpoint ck = Checkpoint.open(model)) {
            Qwen2Loader.check(c, ck);
            Map<String, long[]> source = Qwen2Loader.expectedTensors(c, ck);
            CalibrationData cd = job.calib() == null ? null : sampleCalibration(model, job.calib());
            JsonObject runSpec = runSpec(model, c, ck, source.keySet(), spec, cd);
            long setupNanos = System.nanoTime() - t0;

            boolean resuming = preparePartial(partial, runSpec);
            int L = c.numLayers();
            appendLog(partial, event(resuming ? "resume" : "start", "git_commit", ResultsFile.gitCommit(Path.of("")),
                    "machine", ResultsFile.machine(null), "setup_seconds", setupNanos * 1e-9));
            long t1 = System.nanoTime();

            Path shard0 = partial.resolve(shardName(0, L + 1));
            if (!Files.exists(shard0)) writeEmbeddingShard(ck, c, shard0);

            Qwen2Model runner = Qwen2Model.blockRunner(c);
            int seqlen = cd == null ? 0 : cd.seqlen();
            float[][] X = cd == null ? null : embed(c, ck, cd.tokens());
            double prepSeconds = (System.nanoTime() - t1) * 1e-9;
            int lastDone = -1;
            while (lastDone + 1 < L && Files.exists(partial.resolve(shardName(lastDone + 2, L + 1)))) lastDone++;
            int done = 0;
            for (int l = 0; l < L; l++) {
                Path shard = partial.resolve(shardName(l + 1, L + 1));
                if (l <= lastDone) {
                    done += 7;
                    if (progress != null) progress.accept(done);
                    if (X != null && lastDone + 1 < L) forwardFromShard(runner, c, shard, l, X, seqlen);
                    continue;
                }
                long tl = System.nanoTime();
                Qwen2Weights.Block dense = Qwen2Loader.loadBlock(c, ck, l);
                int base = done;
                int[] k = {0};
                SequentialCompressor.BlockResult br = SequentialCompressor.compressBlock(runner, dense, l, X, seqlen,
                        spec.compressor(), spec.trueSequential(), n -> { k[0] += n; if (progress != null) progress.accept(base + k[0]); });
                writeLayerShard(ck, l, br, shard);
                done += 7;
                if (X != null && l + 1 < L) forwardFromShard(runner, c, shard, l, X, seqlen);
                appendLog(partial, event("layer", "layer", l, "seconds", (System.nanoTime() - tl) * 1e-9));
                pauseForTest(l);
            }
            long tf = System.nanoTime();
            JsonObject meta = finish(model, c, partial, source, runSpec);
            // replays of finished blocks on resume are not counted: this is the uninterrupted run's time
            double seconds = setupNanos * 1e-9 + prepSeconds + layerSeconds(partial) + (System.nanoTime() - tf) * 1e-9;
            appendLog(partial, event("finish", "compress_seconds", seconds, "session_seconds", (System.nanoTime() - t0) * 1e-9));
            moveAtomically(partial, out);
            try {
                Files.deleteIfExists(out.resolve(SPEC_FILE)); // caldera4j.json carries the same settings
            } catch (IOException e) {
                throw new UncheckedIOException("cannot remove " + out.resolve(SPEC_FILE) + ": " + e.getMessage(), e);
            }
            return new Summary(out, lastDone + 1, seconds, meta.getAsJsonObject("bits_per_param"));
        }
    }

    // ------------------------------------------------------------------ calibration and source

    private static CalibrationData sampleCalibration(Path model, Calibration cal) {
        Corpus corpus = Corpus.load(cal.corpus());
        Tokenizer tok = Tokenizers.load(model);
        try {
            return CalibrationData.sample(corpus, tok, cal.seqs(), cal.seqlen(), cal.seed());
        } finally {
            if (tok instanceof AutoCloseable a) {
                try {
                    a.close();
                } catch (Exception e) {
                    throw new IllegalStateException("cannot close the tokenizer: " + e.getMessage(), e);
                }
            }
        }
    }

    /** X[s] (seqlen, hidden): embedding rows gathered from the mapped checkpoint (never the whole table on the heap). */
    static float[][] embed(Qwen2Config c, Checkpoint ck, int[][] tokens) {
        int h = c.hiddenSize();
        String name = "model.embed_tokens.weight";
        float[][] X = new float[tokens.length][];
        float[] row = new float[h];
        for (int s = 0; s < tokens.length; s++) {
            X[s] = new float[tokens[s].length * h];
            for (int t = 0; t < tokens[s].length; t++) {
                int id = tokens[s][t];
                if (id < 0 || id >= c.vocabSize())
                    throw new IllegalArgumentException("calibration token " + id + " is outside the model's vocabulary [0, "
                            + c.vocabSize() + "): the tokenizer does not belong to this model");
                ck.floatRows(name, id, 1, row, 0);
                System.arraycopy(row, 0, X[s], t * h, h);
            }
        }
        return X;
    }

    /** The settings that determine the output: compared on resume and written into caldera4j.json. */
    private static JsonObject runSpec(Path model, Qwen2Config c, Checkpoint ck, Iterable<String> tensors,
                                      CompressSpec spec, CalibrationData cd) {
        JsonObject o = new JsonObject();
        o.addProperty("format", "caldera4j compressed checkpoint");
        o.addProperty("format_version", CompressedCheckpoint.FORMAT_VERSION);
        o.addProperty("method", spec.method());
        o.add("method_config", spec.toJson());
        JsonObject src = new JsonObject();
        src.addProperty("name", model.toAbsolutePath().normalize().getFileName().toString());
        src.addProperty("model_type", c.modelType());
        src.addProperty("dtype", c.dtype());
        src.addProperty("config_sha256", sha256(model.resolve("config.json")));
        src.addProperty("weights_sha256", weightsSha256(ck, tensors));
        o.add("source", src);
        if (cd != null) o.add("calibration", cd.describe());
        JsonObject sw = new JsonObject();
        sw.addProperty("caldera4j", ResultsFile.versions().get("caldera4j"));
        sw.addProperty("java", System.getProperty("java.version"));
        o.add("software", sw);
        return o;
    }

    /** SHA-256 over (name, dtype, shape, bytes) of every tensor the model is made of, in load order. */
    static String weightsSha256(Checkpoint ck, Iterable<String> names) {
        MessageDigest md = sha();
        byte[] buf = new byte[1 << 20];
        for (String n : names) {
            TensorInfo i = ck.info(n);
            md.update((n + "|" + i.dtype() + "|" + java.util.Arrays.toString(i.shape()) + "\n").getBytes(StandardCharsets.UTF_8));
            MemorySegment seg = ck.segment(n);
            for (long off = 0; off < seg.byteSize(); off += buf.length) {
                int k = (int) Math.min(buf.length, seg.byteSize() - off);
                MemorySegment.copy(seg, ValueLayout.JAVA_BYTE, off, buf, 0, k);
                md.update(buf, 0, k);
            }
        }
        return HexFormat.of().formatHex(md.digest());
    }

    private static String sha256(Path file) {
        try {
            return HexFormat.of().formatHex(sha().digest(Files.readAllBytes(file)));
        } catch (IOException e) {
            throw new UncheckedIOException("cannot read " + file + ": " + e.getMessage(), e);
        }
    }

    private static MessageDigest sha() {
        try {
            return MessageDigest.getInstance("SHA-256");
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException("SHA-256 is missing from this JVM", e);
        }
    }

    // ------------------------------------------------------------------ the partial directory

    /** Creates {@code partial} with the spec, or checks that an existing one holds the same spec. Returns true when resuming. */
    private static boolean preparePartial(Path partial, JsonObject runSpec) {
        String specText = CompressedCheckpoint.GSON.toJson(runSpec) + "\n";
        try {
            if (Files.isDirectory(partial)) {
                Path sf = partial.resolve(SPEC_FILE);
                String old = Files.isRegularFile(sf) ? Files.readString(sf) : null;
                if (old != null && !old.equals(specText))
                    throw new IllegalArgumentException(partial + " holds an unfinished run with different settings or inputs"
                            + " (compare its " + SPEC_FILE + " with this run's):\n" + diff(old, specText)
                            + "\nre-run the original command to finish it, or delete " + partial);
                removeStrayTemps(partial);
                if (old == null) writeAtomically(sf, specText);
                return old != null;
            }
            Files.createDirectories(partial.getParent());
            Files.createDirectory(partial);
            writeAtomically(partial.resolve(SPEC_FILE), specText);
            return false;
        } catch (IOException e) {
            throw new UncheckedIOException("cannot prepare " + partial + ": " + e.getMessage(), e);
        }
    }

    private static String diff(String a, String b) {
        List<String> la = a.lines().toList(), lb = b.lines().toList();
        StringBuilder sb = new StringBuilder();
        for (int i = 0; i < Math.max(la.size(), lb.size()); i++) {
            String x = i < la.size() ? la.get(i) : "", y = i < lb.size() ? lb.get(i) : "";
            if (!x.equals(y)) sb.append("  was: ").append(x.strip()).append("\n  now: ").append(y.strip()).append('\n');
        }
        return sb.toString().stripTrailing();
    }

    /** Temp files of writes a kill interrupted (".name.xxx.tmp"): never part of the result. */
    private static void removeStrayTemps(Path dir) throws IOException {
        try (Stream<Path> s = Files.list(dir)) {
            for (Path p : s.toList()) {
                String n = p.getFileName().toString();
                if (n.startsWith(".") && n.endsWith(".tmp")) Files.delete(p);
            }
        }
    }

    /** Shard k (0-based) of n: HF's model-0000{k+1}-of-0000{n}.safetensors. */
    static String shardName(int k, int n) {
        return String.format(Locale.ROOT, "model-%05d-of-%05d.safetensors", k + 1, n);
    }

    private static void writeEmbeddingShard(Checkpoint ck, Qwen2Config c, Path shard) {
        SafetensorsWriter w = new SafetensorsWriter();
        copy(w, ck, "model.embed_tokens.weight");
        copy(w, ck, "model.norm.weight");
        if (!c.tieWordEmbeddings() && ck.has("lm_head.weight")) copy(w, ck, "lm_head.weight");
        w.metadata("format", "pt");
        w.write(shard);
    }

    /** A tensor copied byte for byte, dtype and shape kept. */
    private static void copy(SafetensorsWriter w, Checkpoint ck, String name) {
        TensorInfo i = ck.info(name);
        w.add(name, i.dtype(), i.shape(), ck.segment(name));
    }

    private static void writeLayerShard(Checkpoint ck, int l, SequentialCompressor.BlockResult br, Path shard) {
        SafetensorsWriter w = new SafetensorsWriter();
        String p = "model.layers." + l + ".";
        copy(w, ck, p + "input_layernorm.weight");
        copy(w, ck, p + "post_attention_layernorm.weight");
        JsonObject entries = new JsonObject();
        Linear[] lin = br.block().linears();
        for (int i = 0; i < lin.length; i++) {
            String P = SequentialCompressor.linearName(l, i);
            LayerCompressor.Result r = br.linears()[i];
            JsonObject e = CompressedCheckpoint.addLinear(w, P, r.layer());
            e.addProperty("act_order", r.actOrder());
            if (Double.isFinite(r.proxyError())) e.addProperty("proxy_error", r.proxyError());
            for (var kv : r.info().entrySet()) e.add(kv.getKey(), COMPACT.toJsonTree(kv.getValue()));
            if (!r.log().isEmpty()) e.add("log", COMPACT.toJsonTree(r.log()));
            entries.add(P, e);
        }
        w.metadata("format", "pt");
        w.metadata("caldera4j.layers", COMPACT.toJson(entries));
        w.write(shard);
    }

    private static JsonObject shardEntries(SafetensorsFile f) {
        String m = f.metadata().get("caldera4j.layers");
        if (m == null)
            throw new IllegalArgumentException(f.path() + " lacks its caldera4j.layers metadata: it was not written by this"
                    + " compressor; delete the .partial directory and start again");
        return JsonParser.parseString(m).getAsJsonObject();
    }

    /** X ← the block stored in {@code shard} applied to X (the block exactly as a reader will see it). */
    private static void forwardFromShard(Qwen2Model runner, Qwen2Config c, Path shard, int l, float[][] X, int seqlen) {
        try (SafetensorsFile f = SafetensorsFile.open(shard)) {
            Qwen2Weights.Block b = CompressedCheckpoint.loadBlock(c, f, shardEntries(f), l);
            SequentialCompressor.forward(runner, b, l, X, seqlen);
        }
    }

    private static void pauseForTest(int l) {
        String p = System.getProperty(PAUSE_PROPERTY);
        if (p == null || Integer.parseInt(p.strip()) != l) return;
        System.err.println(PAUSE_MARKER + l);
        System.err.flush();
        try {
            Thread.sleep(Long.MAX_VALUE);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IllegalStateException("interrupted while paused for a test", e);
        }
    }

    // ------------------------------------------------------------------ finishing

    /** Index, caldera4j.json, config and tokenizer files into {@code partial}; returns the caldera4j.json object. */
    private static JsonObject finish(Path model, Qwen2Config c, Path partial, Map<String, long[]> source, JsonObject runSpec) {
        int L = c.numLayers();
        Map<String, String> weightMap = new TreeMap<>();
        Map<String, Long> bytes = new TreeMap<>();
        JsonObject layers = new JsonObject();
        for (int k = 0; k <= L; k++) {
            String name = shardName(k, L + 1);
            try (SafetensorsFile f = SafetensorsFile.open(partial.resolve(name))) {
                for (String n : f.names()) {
                    weightMap.put(n, name);
                    bytes.put(n, f.info(n).byteSize());
                }
                if (k > 0) for (var e : shardEntries(f).entrySet()) layers.add(e.getKey(), e.getValue());
            }
        }
        JsonObject meta = runSpec.deepCopy();
        bitsPerParam(meta, source, bytes, layers);
        meta.add("layers", layers);

        JsonObject index = new JsonObject();
        JsonObject im = new JsonObject();
        im.addProperty("total_size", bytes.values().stream().mapToLong(Long::longValue).sum());
        index.add("metadata", im);
        JsonObject wm = new JsonObject();
        weightMap.forEach(wm::addProperty);
        index.add("weight_map", wm);
        try {
            writeAtomically(partial.resolve(Checkpoint.INDEX_FILE), CompressedCheckpoint.GSON.toJson(index) + "\n");
            for (String f : COPIED_FILES) {
                Path src = model.resolve(f);
                if (Files.isRegularFile(src)) {
                    Path tmp = partial.resolve("." + f + ".tmp");
                    Files.copy(src, tmp, StandardCopyOption.REPLACE_EXISTING);
                    Files.move(tmp, partial.resolve(f), StandardCopyOption.ATOMIC_MOVE, StandardCopyOption.REPLACE_EXISTING);
                }
            }
            writeAtomically(partial.resolve(CompressedCheckpoint.META_FILE), CompressedCheckpoint.GSON.toJson(meta) + "\n");
        } catch (IOException e) {
            throw new UncheckedIOException("cannot finish " + partial + ": " + e.getMessage(), e);
        }
        return meta;
    }

    /**
     * Exact bits per parameter: stored bytes × 8 over parameters of the source model, for the
     * block linears (their P.* tensors incl. bias, over Σ d_out·d_in, as {@code CompressedLinear}
     * counts), the embeddings (embed_tokens, and lm_head when untied), everything but the
     * embeddings, and everything.
     */
    private static void bitsPerParam(JsonObject meta, Map<String, long[]> source, Map<String, Long> bytes, JsonObject layers) {
        long pLin = 0, pEmb = 0, pAll = 0;
        for (var e : source.entrySet()) {
            long n = 1;
            for (long d : e.getValue()) n *= d;
            pAll += n;
            if (isEmbedding(e.getKey())) pEmb += n;
        }
        for (var e : layers.entrySet()) {
            JsonObject o = e.getValue().getAsJsonObject();
            pLin += o.get("d_out").getAsLong() * o.get("d_in").getAsLong();
        }
        long bLin = 0, bEmb = 0, bAll = 0;
        for (var e : bytes.entrySet()) {
            bAll += e.getValue();
            if (isEmbedding(e.getKey())) bEmb += e.getValue();
            int dot = e.getKey().lastIndexOf('.');
            String P = e.getKey().substring(0, dot);
            if (layers.has(P) || (P.endsWith(".L") || P.endsWith(".R")) && layers.has(P.substring(0, P.length() - 2))) bLin += e.getValue();
        }
        JsonObject bits = new JsonObject();
        bits.addProperty("linears", bLin * 8.0 / pLin);
        bits.addProperty("embeddings", bEmb * 8.0 / pEmb);
        bits.addProperty("without_embeddings", (bAll - bEmb) * 8.0 / (pAll - pEmb));
        bits.addProperty("with_embeddings", bAll * 8.0 / pAll);
        meta.add("bits_per_param", bits);
        JsonObject params = new JsonObject();
        params.addProperty("linears", pLin);
        params.addProperty("embeddings", pEmb);
        params.addProperty("total", pAll);
        meta.add("params", params);
        JsonObject stored = new JsonObject();
        stored.addProperty("linears", bLin);
        stored.addProperty("embeddings", bEmb);
        stored.addProperty("total", bAll);
        meta.add("stored_bytes", stored);
    }

    private static boolean isEmbedding(String name) {
        return name.startsWith("model.embed_tokens.") || name.startsWith("lm_head.");
    }

    private static void moveAtomically(Path from, Path to) {
        try {
            Files.move(from, to, StandardCopyOption.ATOMIC_MOVE);
        } catch (AtomicMoveNotSupportedException e) {
            throw new UncheckedIOException("cannot rename " + from + " to " + to + " atomically: keep them on one file system", e);
        } catch (IOException e) {
            throw new UncheckedIOException("cannot rename " + from + " to " + to + ": " + e.getMessage(), e);
        }
    }

    /** Text via ".name.tmp" beside the target, fsync, atomic rename (a kill leaves the old file or the new one). */
    static void writeAtomically(Path file, String text) throws IOException {
        Path tmp = file.resolveSibling("." + file.getFileName() + ".tmp");
        Files.deleteIfExists(tmp);
        try (FileChannel ch = FileChannel.open(tmp, StandardOpenOption.WRITE, StandardOpenOption.CREATE_NEW)) {
            ch.write(java.nio.ByteBuffer.wrap(text.getBytes(StandardCharsets.UTF_8)));
            ch.force(true);
        }
        Files.move(tmp, file, StandardCopyOption.ATOMIC_MOVE, StandardCopyOption.REPLACE_EXISTING);
    }

    // ------------------------------------------------------------------ run log

    private static JsonObject event(String kind, Object... kv) {
        JsonObject o = new JsonObject();
        o.addProperty("event", kind);
        o.addProperty("time", Instant.now().toString());
        for (int i = 0; i < kv.length; i += 2) o.add((String) kv[i], COMPACT.toJsonTree(kv[i + 1]));
        return o;
    }

    private static void appendLog(Path dir, JsonObject e) {
        try {
            Files.writeString(dir.resolve(RUN_LOG), COMPACT.toJson(e) + "\n", StandardCharsets.UTF_8,
                    StandardOpenOption.CREATE, StandardOpenOption.APPEND);
        } catch (IOException ex) {
            throw new UncheckedIOException("cannot append to the run log in " + dir + ": " + ex.getMessage(), ex);
        }
    }

    /** The run log's events (a torn last line from a kill is skipped). */
    static List<JsonObject> readLog(Path dir) {
        List<JsonObject> out = new ArrayList<>();
        Path p = dir.resolve(RUN_LOG);
        if (!Files.isRegularFile(p)) return out;
        try {
            for (String line : Files.readAllLines(p)) {
                try {
                    JsonElement e = JsonParser.parseString(line);
                    if (e.isJsonObject()) out.add(e.getAsJsonObject());
                } catch (RuntimeException torn) {
                    // a kill during an append leaves half a line; it carries nothing we need
                }
            }
        } catch (IOException e) {
            throw new UncheckedIOException("cannot read " + p + ": " + e.getMessage(), e);
        }
        return out;
    }

    /** Σ seconds of the "layer" events, the last one per layer (whichever session finished it). */
    private static double layerSeconds(Path dir) {
        Map<Integer, Double> perLayer = new LinkedHashMap<>();
        for (JsonObject e : readLog(dir))
            if (e.get("event").getAsString().equals("layer")) perLayer.put(e.get("layer").getAsInt(), e.get("seconds").getAsDouble());
        return perLayer.values().stream().mapToDouble(Double::doubleValue).sum();
    }

    /** Compression wall time of a finished checkpoint: the "compress_seconds" of its run log's last "finish" event. */
    public static double compressSeconds(Path dir) {
        double s = Double.NaN;
        for (JsonObject e : readLog(dir)) if (e.get("event").getAsString().equals("finish")) s = e.get("compress_seconds").getAsDouble();
        return s;
    }
}
