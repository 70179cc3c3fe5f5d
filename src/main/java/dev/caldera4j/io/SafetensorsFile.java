package dev.caldera4j.io;

import com.google.gson.Gson;
import com.google.gson.JsonArray;
import com.google.gson.JsonElement;
import com.google.gson.JsonObject;
import com.google.gson.JsonPrimitive;
import com.google.gson.Strictness;
import com.google.gson.TypeAdapter;
import com.google.gson.stream.JsonReader;
import com.google.gson.stream.JsonToken;

import java.io.IOException;
import java.io.StringReader;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.math.BigInteger;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.channels.FileChannel;
import java.nio.charset.CharacterCodingException;
import java.nio.charset.CodingErrorAction;
import java.nio.charset.StandardCharsets;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collections;
import java.util.Comparator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * One safetensors file, memory-mapped read-only through java.lang.foreign.
 *
 * <p>Layout (https://github.com/huggingface/safetensors): 8 bytes little-endian u64 N, N bytes of
 * UTF-8 JSON header (possibly padded with trailing spaces), then the data buffer. The header maps
 * each tensor name to {@code {"dtype", "shape", "data_offsets": [begin, end]}} with offsets
 * relative to the data buffer, plus an optional {@code "__metadata__"} string→string map.
 *
 * <p>{@link #open} reads and validates only the header; the data is mapped, not read, so a page is
 * touched only when a tensor is asked for. The whole file is one {@link MemorySegment}, addressed
 * with long offsets: tensors above 2 GB work (Qwen2-72B's embedding, 152064 × 8192 bf16, is
 * 2.49 GB). Reads go through explicit little-endian <em>unaligned</em> layouts because the data
 * buffer starts at 8 + N, which need not be a multiple of the element size, and writers that
 * order tensors by name do not align them either.
 *
 * <p>Every read method returns a fresh array (or a zero-copy slice for {@link #segment}); the
 * {@code floatRows(..., out, outOffset)} overload writes into a caller-owned buffer. Reads are
 * thread-safe (the mapping is held by a shared arena). After {@link #close} the mapping is gone
 * and reads, including from slices handed out earlier, throw IllegalStateException.
 */
public final class SafetensorsFile implements AutoCloseable {

    /** Larger headers are refused as "not a safetensors file": Qwen2-72B's biggest shard header is ~40 kB. */
    public static final long MAX_HEADER_BYTES = 100L << 20;

    /** Largest Java array the VM reliably allocates; bigger tensors must be read in pieces. */
    static final int MAX_ARRAY = Integer.MAX_VALUE - 8;

    static final ValueLayout.OfShort LE_SHORT = ValueLayout.JAVA_SHORT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
    static final ValueLayout.OfInt LE_INT = ValueLayout.JAVA_INT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
    static final ValueLayout.OfLong LE_LONG = ValueLayout.JAVA_LONG_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
    static final ValueLayout.OfFloat LE_FLOAT = ValueLayout.JAVA_FLOAT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
    static final ValueLayout.OfDouble LE_DOUBLE = ValueLayout.JAVA_DOUBLE_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);

    /** 16-bit values are widened in chunks of this many elements, so a tensor is never held twice in heap. */
    private static final int CHUNK = 1 << 14;

    private static final TypeAdapter<JsonElement> JSON = new Gson().getAdapter(JsonElement.class);

    private final Path path;
    private final Arena arena;
    private final MemorySegment data;               // the data buffer: file bytes [8 + N, size)
    private final Map<String, TensorInfo> tensors;  // header order
    private final Map<String, String> metadata;     // "__metadata__", header order; empty if absent

    private SafetensorsFile(Path path, Arena arena, MemorySegment data, Map<String, TensorInfo> tensors,
                            Map<String, String> metadata) {
        this.path = path;
        this.arena = arena;
        this.data = data;
        this.tensors = tensors;
        this.metadata = metadata;
    }

    /**
     * Opens and validates a safetensors file and maps it read-only. Nothing of the data buffer is
     * read here.
     *
     * @throws SafetensorsException naming the file (and tensor) when the file is absent, truncated,
     *                              has a malformed header or inconsistent entries
     */
    public static SafetensorsFile open(Path path) {
        try (FileChannel ch = FileChannel.open(path, StandardOpenOption.READ)) {
            long size = ch.size();
            if (size < 8) {
                throw new SafetensorsException(path, null, "file is " + size + " bytes, shorter than the 8-byte header length",
                        "the file is truncated or empty; download or write it again");
            }
            ByteBuffer lenBuf = ByteBuffer.allocate(8).order(ByteOrder.LITTLE_ENDIAN);
            readFully(ch, lenBuf, 0);
            long n = lenBuf.getLong(0);
            if (n < 0 || n > MAX_HEADER_BYTES) {
                throw new SafetensorsException(path, null, "header length " + Long.toUnsignedString(n)
                        + " is absurd (more than " + MAX_HEADER_BYTES + " bytes)",
                        "this is not a safetensors file (its first 8 bytes must be the little-endian header length)");
            }
            if (8 + n > size) {
                throw new SafetensorsException(path, null, "header length " + n + " runs past the end of the file ("
                        + size + " bytes)", "the file is truncated; download or write it again");
            }
            ByteBuffer header = ByteBuffer.allocate((int) n);
            readFully(ch, header, 8);
            long dataLength = size - 8 - n;
            Header h = parseHeader(path, header.array(), dataLength);

            Arena arena = Arena.ofShared();
            try {
                MemorySegment file = ch.map(FileChannel.MapMode.READ_ONLY, 0, size, arena);
                return new SafetensorsFile(path, arena, file.asSlice(8 + n), h.tensors, h.metadata);
            } catch (IOException | RuntimeException e) {
                arena.close();
                throw e;
            }
        } catch (NoSuchFileException e) {
            throw new SafetensorsException(path, null, "no such file", "check the path", e);
        } catch (IOException e) {
            throw new SafetensorsException(path, null, "cannot read: " + e, "check that the file is readable", e);
        }
    }

    private static void readFully(FileChannel ch, ByteBuffer buf, long position) throws IOException {
        while (buf.hasRemaining()) {
            int r = ch.read(buf, position + buf.position());
            if (r < 0) throw new IOException("unexpected end of file at byte " + (position + buf.position()));
        }
    }

    /** The parsed header: tensors in header order and the metadata map. */
    record Header(Map<String, TensorInfo> tensors, Map<String, String> metadata) {}

    /**
     * Parses and validates a header against a data buffer of {@code dataLength} bytes. Every
     * failure is a SafetensorsException naming {@code file} and, where there is one, the tensor.
     */
    static Header parseHeader(Path file, byte[] headerBytes, long dataLength) {
        String text;
        try {
            text = StandardCharsets.UTF_8.newDecoder()
                    .onMalformedInput(CodingErrorAction.REPORT)
                    .onUnmappableCharacter(CodingErrorAction.REPORT)
                    .decode(ByteBuffer.wrap(headerBytes)).toString();
        } catch (CharacterCodingException e) {
            throw new SafetensorsException(file, null, "header is not valid UTF-8",
                    "the file is corrupt or not a safetensors file", e);
        }
        Map<String, TensorInfo> tensors = new LinkedHashMap<>();
        Map<String, String> metadata = new LinkedHashMap<>();
        String current = null;  // tensor being parsed, for malformed-JSON messages
        try {
            // A streaming reader rather than JsonParser: it sees duplicate names (which a JsonObject
            // would silently collapse to the last) and can be kept STRICT.
            JsonReader r = new JsonReader(new StringReader(text));
            r.setStrictness(Strictness.STRICT);
            if (r.peek() != JsonToken.BEGIN_OBJECT) {
                throw new SafetensorsException(file, null, "malformed JSON header: expected an object, found " + r.peek(),
                        "the file is corrupt or not a safetensors file");
            }
            r.beginObject();
            while (r.hasNext()) {
                current = r.nextName();
                JsonElement v = JSON.read(r);
                if (current.equals("__metadata__")) {
                    if (!metadata.isEmpty()) duplicate(file, current);
                    metadata.putAll(parseMetadata(file, v));
                } else {
                    if (tensors.containsKey(current)) duplicate(file, current);
                    tensors.put(current, parseEntry(file, current, v));
                }
                current = null;
            }
            r.endObject();
            boolean trailing;
            try {
                trailing = r.peek() != JsonToken.END_DOCUMENT;
            } catch (IOException e) {
                trailing = true;  // STRICT refuses a second top-level value outright
            }
            if (trailing) {
                throw new SafetensorsException(file, null, "malformed JSON header: text after the closing brace",
                        "the header may hold only trailing spaces after the JSON object");
            }
        } catch (IOException | IllegalStateException | NumberFormatException | com.google.gson.JsonParseException e) {
            throw new SafetensorsException(file, current, "malformed JSON header: " + gsonMessage(e),
                    "the file is corrupt or not a safetensors file", e);
        }
        checkRanges(file, tensors.values(), dataLength);
        return new Header(Collections.unmodifiableMap(tensors), Collections.unmodifiableMap(metadata));
    }

    /** Gson's message without its advice to the programmer (lenient mode, a troubleshooting link). */
    private static String gsonMessage(Exception e) {
        String m = String.valueOf(e.getMessage());
        int see = m.indexOf("\nSee ");
        if (see >= 0) m = m.substring(0, see);
        return m.replace("Use JsonReader.setStrictness(Strictness.LENIENT) to accept malformed JSON ", "invalid syntax ");
    }

    private static void duplicate(Path file, String name) {
        throw new SafetensorsException(file, name, "appears twice in the header",
                "the file is corrupt: each tensor name must be unique");
    }

    private static Map<String, String> parseMetadata(Path file, JsonElement v) {
        if (!v.isJsonObject()) {
            throw new SafetensorsException(file, "__metadata__", "must be a JSON object of strings, found " + v,
                    "fix the writer: __metadata__ is a string-to-string map");
        }
        Map<String, String> m = new LinkedHashMap<>();
        for (Map.Entry<String, JsonElement> e : v.getAsJsonObject().entrySet()) {
            if (!(e.getValue() instanceof JsonPrimitive p) || !p.isString()) {
                throw new SafetensorsException(file, "__metadata__", "value of '" + e.getKey() + "' is " + e.getValue()
                        + ", not a string", "fix the writer: __metadata__ is a string-to-string map");
            }
            m.put(e.getKey(), p.getAsString());
        }
        return m;
    }

    private static TensorInfo parseEntry(Path file, String name, JsonElement v) {
        if (!v.isJsonObject()) {
            throw new SafetensorsException(file, name, "entry is " + v + ", not an object",
                    "each entry must be {\"dtype\", \"shape\", \"data_offsets\"}");
        }
        JsonObject o = v.getAsJsonObject();
        for (String key : new String[] {"dtype", "shape", "data_offsets"}) {
            if (!o.has(key)) {
                throw new SafetensorsException(file, name, "entry lacks \"" + key + "\"",
                        "each entry must be {\"dtype\", \"shape\", \"data_offsets\"}; the file is corrupt");
            }
        }
        if (!(o.get("dtype") instanceof JsonPrimitive dp) || !dp.isString()) {
            throw new SafetensorsException(file, name, "dtype is " + o.get("dtype") + ", not a string",
                    "dtype must be a string such as \"BF16\"");
        }
        DType dtype = DType.parse(dp.getAsString(), file, name);

        if (!o.get("shape").isJsonArray()) {
            throw new SafetensorsException(file, name, "shape is " + o.get("shape") + ", not an array",
                    "shape must be a list of non-negative integers, [] for a scalar");
        }
        JsonArray sa = o.getAsJsonArray("shape");
        long[] shape = new long[sa.size()];
        for (int i = 0; i < shape.length; i++) {
            shape[i] = nonNegative(file, name, "shape " + sa, sa.get(i));
        }
        long bytes;
        try {
            bytes = Math.multiplyExact(new TensorInfo(name, dtype, shape, 0, 0).numel(), (long) dtype.bytes);
        } catch (ArithmeticException e) {
            throw new SafetensorsException(file, name, "shape " + sa + " of " + dtype + " overflows a 64-bit byte count",
                    "the header is corrupt");
        }

        if (!o.get("data_offsets").isJsonArray() || o.getAsJsonArray("data_offsets").size() != 2) {
            throw new SafetensorsException(file, name, "data_offsets is " + o.get("data_offsets")
                    + ", not a pair [begin, end]", "the header is corrupt");
        }
        JsonArray oa = o.getAsJsonArray("data_offsets");
        long begin = nonNegative(file, name, "data_offsets " + oa, oa.get(0));
        long end = nonNegative(file, name, "data_offsets " + oa, oa.get(1));
        if (end < begin) {
            throw new SafetensorsException(file, name, "data_offsets " + oa + " end before they begin",
                    "the header is corrupt");
        }
        if (end - begin != bytes) {
            throw new SafetensorsException(file, name, "shape " + sa + " of " + dtype + " needs " + bytes
                    + " bytes but data_offsets " + oa + " span " + (end - begin),
                    "the header is corrupt or the dtype/shape was edited without the data");
        }
        return new TensorInfo(name, dtype, shape, begin, end);
    }

    /** A JSON integer in [0, Long.MAX_VALUE]; "1.0", "1e3", strings and negatives are refused. */
    private static long nonNegative(Path file, String name, String what, JsonElement e) {
        BigInteger b = null;
        if (e instanceof JsonPrimitive p && p.isNumber() && p.getAsString().matches("-?[0-9]+")) {
            b = new BigInteger(p.getAsString());
        }
        if (b == null) {
            throw new SafetensorsException(file, name, what + " holds " + e + ", not an integer", "the header is corrupt");
        }
        if (b.signum() < 0) {
            throw new SafetensorsException(file, name, what + " holds the negative value " + b, "the header is corrupt");
        }
        if (b.bitLength() > 63) {
            throw new SafetensorsException(file, name, what + " holds " + b + ", which overflows a 64-bit integer",
                    "the header is corrupt");
        }
        return b.longValueExact();
    }

    /**
     * Every tensor lies inside the data buffer and no two share a byte. The spec also asks that
     * the tensors cover the buffer with no gap; gaps are tolerated here (they lose nothing), overlaps
     * are not (writing one tensor would change another). Empty tensors occupy no byte and are only
     * range-checked.
     */
    private static void checkRanges(Path file, Iterable<TensorInfo> infos, long dataLength) {
        List<TensorInfo> byBegin = new ArrayList<>();
        for (TensorInfo t : infos) {
            if (t.end() > dataLength) {
                throw new SafetensorsException(file, t.name(), "data_offsets [" + t.begin() + ", " + t.end()
                        + "] run past the data buffer of " + dataLength + " bytes",
                        "the file is truncated or the header is corrupt; download or write it again");
            }
            if (t.end() > t.begin()) byBegin.add(t);
        }
        byBegin.sort(Comparator.comparingLong(TensorInfo::begin).thenComparingLong(TensorInfo::end));
        for (int i = 1; i < byBegin.size(); i++) {
            TensorInfo a = byBegin.get(i - 1), b = byBegin.get(i);
            if (b.begin() < a.end()) {
                throw new SafetensorsException(file, b.name(), "bytes [" + b.begin() + ", " + b.end()
                        + ") overlap tensor '" + a.name() + "' at [" + a.begin() + ", " + a.end() + ")",
                        "the header is corrupt: tensors must not share bytes");
            }
        }
    }

    // ---------------------------------------------------------------------------------- header API

    /** The file this was opened from. */
    public Path path() {
        return path;
    }

    /** The "__metadata__" map (unmodifiable, header order; empty when absent). */
    public Map<String, String> metadata() {
        return metadata;
    }

    /** Tensor names in header order (the order the writer chose; {@link SafetensorsWriter} sorts them). */
    public List<String> names() {
        return List.copyOf(tensors.keySet());
    }

    /** Size of the data buffer in bytes (file size − 8 − header length). */
    public long dataBytes() {
        return data.byteSize();
    }

    public boolean has(String name) {
        return tensors.containsKey(name);
    }

    /** The header entry of a tensor; throws SafetensorsException naming the file if it is absent. */
    public TensorInfo info(String name) {
        TensorInfo t = tensors.get(name);
        if (t == null) {
            throw new SafetensorsException(path, name, "no such tensor in this file", suggest(name, tensors.keySet()));
        }
        return t;
    }

    /** A hint listing names that share the longest dotted prefix with {@code name}. */
    static String suggest(String name, java.util.Collection<String> names) {
        String prefix = name;
        List<String> close = List.of();
        while (!prefix.isEmpty()) {
            int dot = prefix.lastIndexOf('.');
            prefix = dot < 0 ? "" : prefix.substring(0, dot);
            String p = prefix;
            close = names.stream().filter(s -> s.startsWith(p)).sorted().limit(5).toList();
            if (!close.isEmpty() && !prefix.isEmpty()) break;
        }
        return "the file holds " + names.size() + " tensors; names() lists them"
                + (close.isEmpty() ? "" : "; similar: " + String.join(", ", close));
    }

    // ---------------------------------------------------------------------------------- data API

    /**
     * The tensor's bytes as a read-only slice of the mapping (zero copy; little-endian, possibly
     * unaligned: read it with {@code ValueLayout.*_UNALIGNED.withOrder(LITTLE_ENDIAN)}). Valid
     * until {@link #close}.
     */
    public MemorySegment segment(String name) {
        TensorInfo t = info(name);
        return live().asSlice(t.begin(), t.end() - t.begin());
    }

    /** BF16, F16 or F32 widened to float32, row-major, shape info(name).shape(). */
    public float[] floats(String name) {
        TensorInfo t = info(name);
        float[] out = new float[arrayLength(t, t.numel(), "floatRows(name, rowStart, rowCount)")];
        decodeFloats(t, 0, out, 0, out.length);
        return out;
    }

    /**
     * Rows [rowStart, rowStart + rowCount) of a tensor viewed as (shape[0], numel / shape[0]),
     * widened to float32: a (rowCount, cols) row-major array. Meant for huge embeddings, gathered
     * per token without reading the rest (only the touched pages are faulted in).
     */
    public float[] floatRows(String name, long rowStart, int rowCount) {
        TensorInfo t = info(name);
        long cols = rowCols(t, rowStart, rowCount);
        float[] out = new float[arrayLength(t, rowCount * cols, "fewer rows per call")];
        decodeFloats(t, rowStart * cols, out, 0, out.length);
        return out;
    }

    /**
     * As {@link #floatRows(String, long, int)}, into a caller-owned buffer:
     * out[outOffset, outOffset + rowCount·cols) receives the rows.
     */
    public void floatRows(String name, long rowStart, int rowCount, float[] out, int outOffset) {
        TensorInfo t = info(name);
        long cols = rowCols(t, rowStart, rowCount);
        long count = rowCount * cols;
        if (outOffset < 0 || outOffset + count > out.length) {
            throw new SafetensorsException(path, name, rowCount + " rows of " + cols + " need " + count
                    + " floats from offset " + outOffset + " but out holds " + out.length,
                    "pass a buffer of at least outOffset + rowCount·cols floats");
        }
        decodeFloats(t, rowStart * cols, out, outOffset, (int) count);
    }

    /** Columns per row (product of shape[1..]) after checking the row range; throws naming the tensor. */
    private long rowCols(TensorInfo t, long rowStart, int rowCount) {
        if (t.rank() == 0) {
            throw new SafetensorsException(path, t.name(), "is a scalar and has no rows", "use floats(name)");
        }
        long rows = t.dim(0);
        if (rowCount < 0 || rowStart < 0 || rowStart > rows - rowCount) {
            throw new SafetensorsException(path, t.name(), "rows [" + rowStart + ", " + rowStart + " + " + rowCount
                    + ") are outside [0, " + rows + ")", "ask for rows within shape[0] = " + rows);
        }
        long cols = 1;
        for (int i = 1; i < t.rank(); i++) cols *= t.dim(i);  // no overflow: byteSize() fit in a long
        return cols;
    }

    /** count elements from element index elemStart of a BF16/F16/F32 tensor into out[off, off + count). */
    private void decodeFloats(TensorInfo t, long elemStart, float[] out, int off, int count) {
        MemorySegment s = live();
        long base = t.begin() + elemStart * t.dtype().bytes;
        switch (t.dtype()) {
            case F32 -> MemorySegment.copy(s, LE_FLOAT, base, out, off, count);
            case BF16, F16 -> {
                short[] tmp = new short[Math.min(count, CHUNK)];
                boolean bf = t.dtype() == DType.BF16;
                for (int done = 0; done < count; ) {
                    int k = Math.min(tmp.length, count - done);
                    MemorySegment.copy(s, LE_SHORT, base + 2L * done, tmp, 0, k);
                    if (bf) {
                        for (int i = 0; i < k; i++) out[off + done + i] = Float.intBitsToFloat((tmp[i] & 0xFFFF) << 16);
                    } else {
                        for (int i = 0; i < k; i++) out[off + done + i] = Float.float16ToFloat(tmp[i]);
                    }
                    done += k;
                }
            }
            default -> throw wrongType(t, "floats/floatRows read BF16, F16, F32");
        }
    }

    /** I32 values. */
    public int[] ints(String name) {
        TensorInfo t = require(name, "ints reads I32", DType.I32);
        int[] out = new int[arrayLength(t, t.numel(), "segment(name)")];
        MemorySegment.copy(live(), LE_INT, t.begin(), out, 0, out.length);
        return out;
    }

    /** Raw 16-bit values: I16, or the bit patterns of F16 / BF16 (see {@link Half}). */
    public short[] shorts(String name) {
        TensorInfo t = require(name, "shorts reads I16, F16 or BF16 bits", DType.I16, DType.F16, DType.BF16);
        short[] out = new short[arrayLength(t, t.numel(), "segment(name)")];
        MemorySegment.copy(live(), LE_SHORT, t.begin(), out, 0, out.length);
        return out;
    }

    /** I8, U8 (read as signed Java bytes: mask with 0xFF for 0..255) or BOOL (0 or 1). */
    public byte[] bytes(String name) {
        TensorInfo t = require(name, "bytes reads I8, U8 or BOOL", DType.I8, DType.U8, DType.BOOL);
        byte[] out = new byte[arrayLength(t, t.numel(), "segment(name)")];
        MemorySegment.copy(live(), ValueLayout.JAVA_BYTE, t.begin(), out, 0, out.length);
        return out;
    }

    /** I64 values. */
    public long[] longs(String name) {
        TensorInfo t = require(name, "longs reads I64", DType.I64);
        long[] out = new long[arrayLength(t, t.numel(), "segment(name)")];
        MemorySegment.copy(live(), LE_LONG, t.begin(), out, 0, out.length);
        return out;
    }

    /** F64 values. */
    public double[] doubles(String name) {
        TensorInfo t = require(name, "doubles reads F64", DType.F64);
        double[] out = new double[arrayLength(t, t.numel(), "segment(name)")];
        MemorySegment.copy(live(), LE_DOUBLE, t.begin(), out, 0, out.length);
        return out;
    }

    private TensorInfo require(String name, String what, DType... allowed) {
        TensorInfo t = info(name);
        if (!Arrays.asList(allowed).contains(t.dtype())) throw wrongType(t, what);
        return t;
    }

    private SafetensorsException wrongType(TensorInfo t, String what) {
        String use = switch (t.dtype()) {
            case BF16, F16, F32 -> "floats(name)";
            case I32 -> "ints(name)";
            case I16 -> "shorts(name)";
            case I8, U8, BOOL -> "bytes(name)";
            case I64 -> "longs(name)";
            case F64 -> "doubles(name)";
        };
        return new SafetensorsException(path, t.name(), "dtype is " + t.dtype() + " but " + what,
                "read it with " + use + " or segment(name)");
    }

    private int arrayLength(TensorInfo t, long n, String instead) {
        if (n > MAX_ARRAY) {
            throw new SafetensorsException(path, t.name(), n + " elements do not fit in one Java array",
                    "read it in pieces with " + instead);
        }
        return (int) n;
    }

    private MemorySegment live() {
        if (!arena.scope().isAlive()) {
            throw new IllegalStateException(path + " is closed; open it again to read tensors");
        }
        return data;
    }

    /** Unmaps the file. Idempotent. Slices from {@link #segment} become invalid. */
    @Override
    public synchronized void close() {
        if (arena.scope().isAlive()) arena.close();
    }

    @Override
    public String toString() {
        return "SafetensorsFile[" + path + ", " + tensors.size() + " tensors]";
    }
}
