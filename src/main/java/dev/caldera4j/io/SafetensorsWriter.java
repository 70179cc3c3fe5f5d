package dev.caldera4j.io;

import com.google.gson.Gson;
import com.google.gson.GsonBuilder;

import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.channels.FileChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.AtomicMoveNotSupportedException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.StandardOpenOption;
import java.util.Arrays;
import java.util.Map;
import java.util.TreeMap;
import java.util.concurrent.ThreadLocalRandom;

/**
 * Collects tensors and writes them as one safetensors file, atomically and deterministically.
 *
 * <p>Layout written: tensors sorted by name (String order), laid end to end in that order with no
 * gaps (the spec, and the Rust/Python reader, require full coverage of the data buffer);
 * {@code "__metadata__"} first when there is any, its keys sorted; the JSON header padded with
 * spaces so that 8 + N is a multiple of 8 (the data buffer starts 8-aligned). Individual tensors
 * are <em>not</em> aligned (a BF16 tensor of odd length shifts the next one by 2); readers use
 * unaligned access. With no timestamps and sorted names, the same tensors and metadata give a
 * byte-identical file whatever order they were added in.
 *
 * <p>Arrays passed to {@code add} are encoded to little-endian bytes at once (the caller may reuse
 * them). A {@link MemorySegment} is kept by reference and copied to the file only in
 * {@link #write}: that is the streaming path for tensors too big for the heap (a slice of another
 * mapped file, or native memory), since the writer never copies it into the heap. It must stay
 * valid and unchanged until {@code write} returns.
 *
 * <p>{@link #write} writes a temp file beside the target, fsyncs it, then renames it over the
 * target (ATOMIC_MOVE): a reader sees the old file or the complete new one, never a torn one.
 */
public final class SafetensorsWriter {

    /** Heap-encoded tensors above this size go to native memory instead (a byte[] caps at 2 GB). */
    private static final long HEAP_LIMIT = SafetensorsFile.MAX_ARRAY;

    /** Bytes handed to one FileChannel.write: a ByteBuffer view is int-indexed, and small views keep the copy cache-friendly. */
    private static final long WRITE_CHUNK = 1L << 24;

    private static final Gson GSON = new GsonBuilder().disableHtmlEscaping().create();

    /** One tensor to write: its bytes are little-endian, numel(shape) × dtype.bytes long. */
    private record Entry(DType dtype, long[] shape, MemorySegment bytes) {}

    private final Map<String, Entry> tensors = new TreeMap<>();   // sorted by name: fixes file order
    private final Map<String, String> metadata = new TreeMap<>();

    /** Adds a "__metadata__" entry (replacing an earlier value of the key). */
    public SafetensorsWriter metadata(String key, String value) {
        metadata.put(key, value);
        return this;
    }

    /** Raw little-endian bytes of any dtype: raw.length = numel · dtype.bytes. Copied. */
    public SafetensorsWriter add(String name, DType dtype, long[] shape, byte[] raw) {
        long n = check(name, dtype, shape, raw.length, true);
        MemorySegment dst = allocate(n * dtype.bytes);
        MemorySegment.copy(raw, 0, dst, ValueLayout.JAVA_BYTE, 0, raw.length);
        return put(name, dtype, shape, dst);
    }

    /**
     * float32 values stored as F32, F16 or BF16 (both rounding to nearest even; F16 overflows to
     * ±inf past 65504). values.length = numel.
     */
    public SafetensorsWriter add(String name, DType dtype, long[] shape, float[] values) {
        if (!dtype.isFloat16or32()) throw wrong(name, dtype, "float[]", "F32, F16 or BF16");
        long n = check(name, dtype, shape, values.length, false);
        MemorySegment dst = allocate(n * dtype.bytes);
        switch (dtype) {
            case F32 -> MemorySegment.copy(values, 0, dst, SafetensorsFile.LE_FLOAT, 0, values.length);
            case BF16 -> {
                for (int i = 0; i < values.length; i++) dst.set(SafetensorsFile.LE_SHORT, 2L * i, Half.floatToBf16(values[i]));
            }
            case F16 -> {
                for (int i = 0; i < values.length; i++) dst.set(SafetensorsFile.LE_SHORT, 2L * i, Float.floatToFloat16(values[i]));
            }
            default -> throw new AssertionError(dtype);
        }
        return put(name, dtype, shape, dst);
    }

    /** 16-bit values as they are: I16, or F16 / BF16 bit patterns. values.length = numel. */
    public SafetensorsWriter add(String name, DType dtype, long[] shape, short[] values) {
        if (dtype != DType.I16 && dtype != DType.F16 && dtype != DType.BF16) {
            throw wrong(name, dtype, "short[]", "I16, F16 or BF16 (raw bits)");
        }
        long n = check(name, dtype, shape, values.length, false);
        MemorySegment dst = allocate(n * 2);
        MemorySegment.copy(values, 0, dst, SafetensorsFile.LE_SHORT, 0, values.length);
        return put(name, dtype, shape, dst);
    }

    /** I32 values. values.length = numel. */
    public SafetensorsWriter add(String name, DType dtype, long[] shape, int[] values) {
        if (dtype != DType.I32) throw wrong(name, dtype, "int[]", "I32");
        long n = check(name, dtype, shape, values.length, false);
        MemorySegment dst = allocate(n * 4);
        MemorySegment.copy(values, 0, dst, SafetensorsFile.LE_INT, 0, values.length);
        return put(name, dtype, shape, dst);
    }

    /** I64 values. values.length = numel. */
    public SafetensorsWriter add(String name, DType dtype, long[] shape, long[] values) {
        if (dtype != DType.I64) throw wrong(name, dtype, "long[]", "I64");
        long n = check(name, dtype, shape, values.length, false);
        MemorySegment dst = allocate(n * 8);
        MemorySegment.copy(values, 0, dst, SafetensorsFile.LE_LONG, 0, values.length);
        return put(name, dtype, shape, dst);
    }

    /** F64 values. values.length = numel. */
    public SafetensorsWriter add(String name, DType dtype, long[] shape, double[] values) {
        if (dtype != DType.F64) throw wrong(name, dtype, "double[]", "F64");
        long n = check(name, dtype, shape, values.length, false);
        MemorySegment dst = allocate(n * 8);
        MemorySegment.copy(values, 0, dst, SafetensorsFile.LE_DOUBLE, 0, values.length);
        return put(name, dtype, shape, dst);
    }

    /**
     * Raw little-endian bytes of any dtype from a segment of numel · dtype.bytes bytes, kept by
     * reference (not copied) until {@link #write}: the way to write tensors larger than the heap,
     * e.g. {@code add(n, t.dtype(), t.shape(), file.segment(n))} copies a tensor between files.
     */
    public SafetensorsWriter add(String name, DType dtype, long[] shape, MemorySegment bytes) {
        check(name, dtype, shape, bytes.byteSize(), true);
        return put(name, dtype, shape, bytes);
    }

    /** Names added so far, sorted (the order they will have in the file). */
    public java.util.List<String> names() {
        return java.util.List.copyOf(tensors.keySet());
    }

    /** numel after checking the name and the shape, and that {@code length} (bytes, or elements) matches. */
    private long check(String name, DType dtype, long[] shape, long length, boolean lengthIsBytes) {
        if (name == null || name.isEmpty() || name.equals("__metadata__")) {
            throw new IllegalArgumentException("tensor name '" + name + "' is not allowed (empty or reserved)");
        }
        if (tensors.containsKey(name)) {
            throw new IllegalArgumentException("tensor '" + name + "' was already added; names must be unique");
        }
        for (long d : shape) {
            if (d < 0) {
                throw new IllegalArgumentException("tensor '" + name + "': shape " + Arrays.toString(shape)
                        + " has a negative dim");
            }
        }
        long n, bytes;
        try {
            n = new TensorInfo(name, dtype, shape, 0, 0).numel();  // the reader's own product, so both agree
            bytes = Math.multiplyExact(n, (long) dtype.bytes);
        } catch (ArithmeticException e) {
            throw new IllegalArgumentException("tensor '" + name + "': shape " + Arrays.toString(shape) + " of " + dtype
                    + " overflows a 64-bit byte count");
        }
        long expected = lengthIsBytes ? bytes : n;
        if (length != expected) {
            throw new IllegalArgumentException("tensor '" + name + "': shape " + Arrays.toString(shape) + " of " + dtype
                    + " needs " + expected + (lengthIsBytes ? " bytes" : " values") + " but " + length + " were given"
                    + " (pass data of exactly numel(shape) elements)");
        }
        return n;
    }

    private static IllegalArgumentException wrong(String name, DType dtype, String type, String allowed) {
        return new IllegalArgumentException("tensor '" + name + "': " + type + " data cannot be stored as " + dtype
                + " (it can be stored as " + allowed + ")");
    }

    private static MemorySegment allocate(long bytes) {
        // An auto arena frees the native memory once the writer (and the segment) is unreachable.
        return bytes <= HEAP_LIMIT ? MemorySegment.ofArray(new byte[(int) bytes]) : Arena.ofAuto().allocate(bytes);
    }

    private SafetensorsWriter put(String name, DType dtype, long[] shape, MemorySegment bytes) {
        tensors.put(name, new Entry(dtype, shape.clone(), bytes));
        return this;
    }

    /** The header bytes (JSON padded with spaces to a multiple of 8), offsets in name order. */
    byte[] header() {
        StringBuilder sb = new StringBuilder("{");
        if (!metadata.isEmpty()) {
            sb.append("\"__metadata__\":").append(GSON.toJson(metadata));
        }
        long offset = 0;
        for (Map.Entry<String, Entry> e : tensors.entrySet()) {
            Entry t = e.getValue();
            long end = offset + t.bytes.byteSize();
            if (sb.length() > 1) sb.append(',');
            sb.append(GSON.toJson(e.getKey())).append(":{\"dtype\":\"").append(t.dtype.name())
                    .append("\",\"shape\":").append(GSON.toJson(t.shape))
                    .append(",\"data_offsets\":[").append(offset).append(',').append(end).append("]}");
            offset = end;
        }
        sb.append('}');
        byte[] json = sb.toString().getBytes(StandardCharsets.UTF_8);
        byte[] padded = Arrays.copyOf(json, (json.length + 7) & ~7);
        Arrays.fill(padded, json.length, padded.length, (byte) ' ');
        return padded;
    }

    /**
     * Writes the file atomically: temp file in the target's directory, fsync, rename over the
     * target. On any failure the temp file is deleted and the target is left as it was.
     *
     * @throws SafetensorsException naming the target when its directory is missing or writing fails
     */
    public void write(Path target) {
        Path abs = target.toAbsolutePath();
        Path dir = abs.getParent();
        if (dir == null || !Files.isDirectory(dir)) {
            throw new SafetensorsException(target, null, "directory " + dir + " does not exist",
                    "create it first (Files.createDirectories) or pass a path in an existing directory");
        }
        byte[] header = header();
        Path tmp = null;
        try {
            // Not Files.createTempFile: it makes the file 0600, and the rename would carry that mode to
            // the target. CREATE_NEW gives the umask's mode and never clobbers another writer's temp.
            Path candidate = dir.resolve("." + abs.getFileName() + "."
                    + Long.toHexString(ThreadLocalRandom.current().nextLong()) + ".tmp");
            FileChannel ch = FileChannel.open(candidate, StandardOpenOption.WRITE, StandardOpenOption.CREATE_NEW);
            tmp = candidate;
            try (ch) {
                ByteBuffer len = ByteBuffer.allocate(8).order(ByteOrder.LITTLE_ENDIAN).putLong(0, header.length);
                writeFully(ch, len);
                writeFully(ch, ByteBuffer.wrap(header));
                for (Entry t : tensors.values()) {
                    for (long off = 0; off < t.bytes.byteSize(); off += WRITE_CHUNK) {
                        long k = Math.min(WRITE_CHUNK, t.bytes.byteSize() - off);
                        writeFully(ch, t.bytes.asSlice(off, k).asByteBuffer());
                    }
                }
                ch.force(true);
            }
            try {
                Files.move(tmp, abs, StandardCopyOption.ATOMIC_MOVE, StandardCopyOption.REPLACE_EXISTING);
            } catch (AtomicMoveNotSupportedException e) {
                throw new SafetensorsException(target, null, "the file system cannot rename atomically",
                        "write to a local file system (the temp file sits beside the target)", e);
            }
            tmp = null;
            syncDirectory(dir);
        } catch (IOException e) {
            throw new SafetensorsException(target, null, "cannot write: " + e,
                    "check free space and permissions of " + dir, e);
        } finally {
            if (tmp != null) {
                try {
                    Files.deleteIfExists(tmp);
                } catch (IOException e) {
                    // The original failure is the one to report; the stray temp file is named here so it can be removed.
                    System.getLogger(SafetensorsWriter.class.getName()).log(System.Logger.Level.WARNING,
                            "could not delete temp file " + tmp + ": " + e);
                }
            }
        }
    }

    private static void writeFully(FileChannel ch, ByteBuffer buf) throws IOException {
        while (buf.hasRemaining()) ch.write(buf);
    }

    /**
     * fsync of the directory makes the rename itself durable across a crash. Some file systems
     * refuse to open a directory for this; the file is already complete and renamed then, so that
     * is logged, not thrown.
     */
    private static void syncDirectory(Path dir) {
        try (FileChannel d = FileChannel.open(dir, StandardOpenOption.READ)) {
            d.force(true);
        } catch (IOException e) {
            System.getLogger(SafetensorsWriter.class.getName()).log(System.Logger.Level.DEBUG,
                    "directory fsync not supported for " + dir + ": " + e);
        }
    }
}
