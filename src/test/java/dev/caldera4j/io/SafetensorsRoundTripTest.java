package dev.caldera4j.io;

import com.google.gson.JsonObject;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collections;
import java.util.List;
import java.util.Map;
import java.util.SplittableRandom;
import java.util.stream.Stream;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** SafetensorsWriter → SafetensorsFile round trips, checked against a naive decoding of the file's bytes. */
class SafetensorsRoundTripTest {

    @TempDir
    Path tmp;

    /** Shapes that catch off-by-ones: scalar, empty, single, odd, a zero inside, and non-power-of-two rows. */
    static final long[][] SHAPES = {{}, {0}, {1}, {7}, {3, 5}, {2, 0, 3}, {1, 1, 1}, {5, 1, 3}, {2, 3, 17}};

    /** One tensor to write: data is the float[]/short[]/int[]/long[]/double[]/byte[] passed to add. */
    record Case(String name, DType dtype, long[] shape, Object data) {}

    static long numel(long[] shape) {
        long n = 1;
        for (long d : shape) n *= d;
        return n;
    }

    /** Seeded data for every dtype × shape; floats include specials so rounding edge cases are exercised. */
    static List<Case> cases(long seed) {
        SplittableRandom r = new SplittableRandom(seed);
        float[] specials = {0f, -0f, Float.MIN_VALUE, 1e-30f, 65504f, 70000f, -3.0e38f, Float.POSITIVE_INFINITY,
                Float.NEGATIVE_INFINITY, Float.intBitsToFloat(0x3F81_8000), Float.intBitsToFloat(0x3F80_8000)};
        List<Case> cases = new ArrayList<>();
        for (DType dt : DType.values()) {
            for (long[] shape : SHAPES) {
                int n = (int) numel(shape);
                String name = "t." + dt + "." + (shape.length == 0 ? "scalar" : Arrays.toString(shape).replaceAll("[\\[\\] ]", "").replace(',', 'x'));
                Object data = switch (dt) {
                    case F32, F16, BF16 -> {
                        float[] v = new float[n];
                        for (int i = 0; i < n; i++) {
                            v[i] = r.nextInt(8) == 0 ? specials[r.nextInt(specials.length)] : (float) (r.nextGaussian() * 3);
                        }
                        yield v;
                    }
                    case F64 -> r.doubles(n).map(x -> x * 1e6 - 5e5).toArray();
                    case I64 -> r.longs(n).toArray();
                    case I32 -> r.ints(n).toArray();
                    case I16 -> {
                        short[] v = new short[n];
                        for (int i = 0; i < n; i++) v[i] = (short) r.nextInt();
                        yield v;
                    }
                    case I8, U8 -> {
                        byte[] v = new byte[n];
                        for (int i = 0; i < n; i++) v[i] = (byte) r.nextInt();
                        yield v;
                    }
                    case BOOL -> {
                        byte[] v = new byte[n];
                        for (int i = 0; i < n; i++) v[i] = (byte) r.nextInt(2);
                        yield v;
                    }
                };
                cases.add(new Case(name, dt, shape, data));
                if (dt == DType.BF16 || dt == DType.F16) {
                    // the raw-bits path for the same dtype
                    short[] bits = new short[n];
                    for (int i = 0; i < n; i++) bits[i] = (short) r.nextInt();
                    cases.add(new Case(name + ".bits", dt, shape, bits));
                }
            }
        }
        return cases;
    }

    static void add(SafetensorsWriter w, Case c) {
        switch (c.data) {
            case float[] v -> w.add(c.name, c.dtype, c.shape, v);
            case short[] v -> w.add(c.name, c.dtype, c.shape, v);
            case int[] v -> w.add(c.name, c.dtype, c.shape, v);
            case long[] v -> w.add(c.name, c.dtype, c.shape, v);
            case double[] v -> w.add(c.name, c.dtype, c.shape, v);
            case byte[] v -> w.add(c.name, c.dtype, c.shape, v);
            default -> throw new AssertionError(c.data);
        }
    }

    /** The bits the writer must store for element i, computed from the input with the naive twins. */
    static long expectedBits(Case c, int i) {
        return switch (c.data) {
            case float[] v -> switch (c.dtype) {
                case F32 -> Float.floatToRawIntBits(v[i]) & 0xFFFF_FFFFL;
                case BF16 -> HalfTest.naiveFloatToBf16(v[i]) & 0xFFFF;
                case F16 -> Float.floatToFloat16(v[i]) & 0xFFFF;
                default -> throw new AssertionError();
            };
            case short[] v -> v[i] & 0xFFFF;
            case int[] v -> v[i] & 0xFFFF_FFFFL;
            case long[] v -> v[i];
            case double[] v -> Double.doubleToRawLongBits(v[i]);
            case byte[] v -> v[i] & 0xFF;
            default -> throw new AssertionError();
        };
    }

    @Test
    void everyDtypeAndShapeRoundTripsAndTheBytesAreWhatTheNaiveEncodingSays() throws IOException {
        List<Case> cases = cases(42);
        SafetensorsWriter w = new SafetensorsWriter().metadata("format", "pt").metadata("note ü", "π ≈ 3.14 \"quoted\"");
        cases.forEach(c -> add(w, c));
        Path p = tmp.resolve("all.safetensors");
        w.write(p);
        byte[] file = Files.readAllBytes(p);

        try (SafetensorsFile f = SafetensorsFile.open(p)) {
            assertEquals(Map.of("format", "pt", "note ü", "π ≈ 3.14 \"quoted\""), f.metadata());
            List<String> sorted = new ArrayList<>(cases.stream().map(Case::name).toList());
            Collections.sort(sorted);
            assertEquals(sorted, f.names(), "the writer orders tensors by name");
            for (Case c : cases) {
                TensorInfo t = f.info(c.name);
                assertEquals(c.dtype, t.dtype(), c.name);
                assertArrayEquals(c.shape, t.shape(), c.name);
                int n = (int) numel(c.shape);
                assertEquals((long) n * c.dtype.bytes, t.byteSize(), c.name);

                // 1. the file's bytes, located through a Gson parse of the header, are the naive encoding
                byte[] raw = Craft.tensorBytes(file, c.name);
                assertEquals(t.byteSize(), raw.length, c.name);
                for (int i = 0; i < n; i++) {
                    long stored = Craft.le(raw, i * c.dtype.bytes, c.dtype.bytes);
                    long want = expectedBits(c, i);
                    assertEquals(want, stored, c.name + "[" + i + "]");
                }
                // 2. the zero-copy slice holds the same bytes
                assertArrayEquals(raw, f.segment(c.name).toArray(ValueLayout.JAVA_BYTE), c.name);

                // 3. the typed readers decode them
                switch (c.dtype) {
                    case F32, F16, BF16 -> {
                        float[] got = f.floats(c.name);
                        for (int i = 0; i < n; i++) {
                            short h = (short) Craft.le(raw, 2 * i, 2);
                            float want = switch (c.dtype) {
                                case F32 -> Float.intBitsToFloat((int) Craft.le(raw, 4 * i, 4));
                                case BF16 -> HalfTest.naiveBf16ToFloat(h);
                                default -> HalfTest.naiveF16ToFloat(h);
                            };
                            // bitwise equality (NaN patterns aside): widening is exact
                            if (Float.isNaN(want)) assertTrue(Float.isNaN(got[i]), c.name + "[" + i + "]");
                            else assertEquals(Float.floatToRawIntBits(want), Float.floatToRawIntBits(got[i]), c.name + "[" + i + "]");
                        }
                        if (c.dtype != DType.F32) {
                            short[] bits = f.shorts(c.name);
                            for (int i = 0; i < n; i++) assertEquals(expectedBits(c, i), bits[i] & 0xFFFF, c.name);
                        }
                        if (c.dtype == DType.F32) {
                            assertArrayEquals((float[]) c.data, got, c.name);  // exact for F32
                        }
                    }
                    case F64 -> assertArrayEquals((double[]) c.data, f.doubles(c.name), c.name);
                    case I64 -> assertArrayEquals((long[]) c.data, f.longs(c.name), c.name);
                    case I32 -> assertArrayEquals((int[]) c.data, f.ints(c.name), c.name);
                    case I16 -> assertArrayEquals((short[]) c.data, f.shorts(c.name), c.name);
                    case I8, U8, BOOL -> assertArrayEquals((byte[]) c.data, f.bytes(c.name), c.name);
                }
            }
        }

        // layout promises: header 8-aligned, tensors contiguous in name order, the buffer fully covered
        JsonObject h = Craft.header(file);
        assertEquals(0, Craft.dataStart(file) % 8, "data buffer starts 8-aligned");
        long expectBegin = 0;
        for (String name : h.keySet().stream().filter(k -> !k.equals("__metadata__")).sorted().toList()) {
            var off = h.getAsJsonObject(name).getAsJsonArray("data_offsets");
            assertEquals(expectBegin, off.get(0).getAsLong(), name + " begins where the previous one ended");
            expectBegin = off.get(1).getAsLong();
        }
        assertEquals(file.length - Craft.dataStart(file), expectBegin, "tensors cover the data buffer exactly");
    }

    @Test
    void floatRowsMatchesTheSliceOfFloatsForEveryRowRange() {
        SplittableRandom r = new SplittableRandom(3);
        SafetensorsWriter w = new SafetensorsWriter();
        long[][] shapes = {{1, 1}, {5, 3}, {7, 1}, {4, 2, 3}, {3}, {0, 4}};
        for (DType dt : new DType[] {DType.F32, DType.F16, DType.BF16}) {
            for (long[] s : shapes) {
                float[] v = new float[(int) numel(s)];
                for (int i = 0; i < v.length; i++) v[i] = (float) r.nextGaussian();
                w.add(dt + Arrays.toString(s), dt, s, v);
            }
        }
        Path p = tmp.resolve("rows.safetensors");
        w.write(p);
        try (SafetensorsFile f = SafetensorsFile.open(p)) {
            for (String name : f.names()) {
                float[] all = f.floats(name);
                long rows = f.info(name).dim(0);
                int cols = rows == 0 ? 4 : (int) (all.length / rows);
                for (int start = 0; start <= rows; start++) {
                    for (int count = 0; start + count <= rows; count++) {
                        float[] got = f.floatRows(name, start, count);
                        assertArrayEquals(Arrays.copyOfRange(all, start * cols, (start + count) * cols), got,
                                name + " rows " + start + "+" + count);
                        float[] out = new float[count * cols + 3];
                        Arrays.fill(out, -7f);
                        f.floatRows(name, start, count, out, 2);
                        assertArrayEquals(got, Arrays.copyOfRange(out, 2, 2 + count * cols), name + " into out");
                        assertEquals(-7f, out[0]);
                        assertEquals(-7f, out[out.length - 1], "floatRows writes no more than its rows");
                    }
                }
                SafetensorsException e = assertThrows(SafetensorsException.class, () -> f.floatRows(name, rows, 1));
                assertTrue(e.getMessage().contains(name) && e.getMessage().contains("outside"), e.getMessage());
                assertThrows(SafetensorsException.class, () -> f.floatRows(name, -1, 1));
            }
        }
    }

    @Test
    void twoWritesOfTheSameTensorsAreByteIdenticalWhateverTheOrderOfAdds() throws IOException {
        List<Case> cases = new ArrayList<>(cases(9));
        SafetensorsWriter a = new SafetensorsWriter().metadata("format", "pt").metadata("b", "2");
        cases.forEach(c -> add(a, c));
        Collections.shuffle(cases, new java.util.Random(1));
        SafetensorsWriter b = new SafetensorsWriter().metadata("b", "2").metadata("format", "pt");
        cases.forEach(c -> add(b, c));
        Path pa = tmp.resolve("a.safetensors"), pb = tmp.resolve("b.safetensors");
        a.write(pa);
        b.write(pb);
        assertEquals(-1, Files.mismatch(pa, pb), "same tensors and metadata must give the same bytes");
        a.write(pb);  // overwriting an existing file goes through the same rename
        assertEquals(-1, Files.mismatch(pa, pb));
        assertEquals(List.of("a.safetensors", "b.safetensors"), listing(tmp), "no temp files left behind");
    }

    @Test
    void segmentsStreamIntoTheWriterAndReproduceTheFile() throws IOException {
        SafetensorsWriter w = new SafetensorsWriter().metadata("format", "pt");
        cases(5).forEach(c -> add(w, c));
        Path src = tmp.resolve("src.safetensors"), copy = tmp.resolve("copy.safetensors");
        w.write(src);
        try (SafetensorsFile f = SafetensorsFile.open(src)) {
            SafetensorsWriter c = new SafetensorsWriter().metadata("format", "pt");
            for (String n : f.names()) c.add(n, f.info(n).dtype(), f.info(n).shape(), f.segment(n));
            c.write(copy);
        }
        assertEquals(-1, Files.mismatch(src, copy), "copying every tensor by segment reproduces the file");
    }

    @Test
    void readersRefuseTheWrongDtypeAndUnknownNamesWithAHint() {
        Path p = tmp.resolve("x.safetensors");
        new SafetensorsWriter()
                .add("model.layers.0.mlp.up_proj.weight", DType.BF16, new long[] {2, 2}, new float[] {1, 2, 3, 4})
                .add("model.layers.0.mlp.down_proj.weight", DType.I32, new long[] {2}, new int[] {1, 2})
                .write(p);
        try (SafetensorsFile f = SafetensorsFile.open(p)) {
            SafetensorsException e = assertThrows(SafetensorsException.class, () -> f.ints("model.layers.0.mlp.up_proj.weight"));
            assertTrue(e.getMessage().contains("x.safetensors") && e.getMessage().contains("up_proj") && e.getMessage().contains("BF16")
                    && e.getMessage().contains("floats(name)"), e.getMessage());
            e = assertThrows(SafetensorsException.class, () -> f.floats("model.layers.0.mlp.down_proj.weight"));
            assertTrue(e.getMessage().contains("ints(name)"), e.getMessage());
            assertThrows(SafetensorsException.class, () -> f.bytes("model.layers.0.mlp.down_proj.weight"));
            assertThrows(SafetensorsException.class, () -> f.longs("model.layers.0.mlp.down_proj.weight"));
            assertThrows(SafetensorsException.class, () -> f.doubles("model.layers.0.mlp.down_proj.weight"));
            assertThrows(SafetensorsException.class, () -> f.shorts("model.layers.0.mlp.down_proj.weight"));

            e = assertThrows(SafetensorsException.class, () -> f.floats("model.layers.0.mlp.gate_proj.weight"));
            assertEquals("model.layers.0.mlp.gate_proj.weight", e.tensor());
            assertTrue(e.getMessage().contains("no such tensor") && e.getMessage().contains("similar: model.layers.0.mlp.down_proj.weight"),
                    e.getMessage());
            assertFalse(f.has("model.layers.0.mlp.gate_proj.weight"));
        }
    }

    @Test
    void closeUnmapsAndIsIdempotent() {
        Path p = tmp.resolve("c.safetensors");
        new SafetensorsWriter().add("w", DType.F32, new long[] {3}, new float[] {1, 2, 3}).write(p);
        SafetensorsFile f = SafetensorsFile.open(p);
        MemorySegment s = f.segment("w");
        assertEquals(2f, s.get(SafetensorsFile.LE_FLOAT, 4));
        f.close();
        f.close();
        IllegalStateException e = assertThrows(IllegalStateException.class, () -> f.floats("w"));
        assertTrue(e.getMessage().contains("c.safetensors"), e.getMessage());
        assertThrows(IllegalStateException.class, () -> s.get(SafetensorsFile.LE_FLOAT, 4), "slices die with the file");
        assertEquals(DType.F32, f.info("w").dtype(), "the header stays readable after close");
    }

    @Test
    void writerRefusesBadInputWithMessagesNamingTheTensor() {
        SafetensorsWriter w = new SafetensorsWriter().add("a", DType.F32, new long[] {2}, new float[] {1, 2});
        String m = assertThrows(IllegalArgumentException.class,
                () -> w.add("b", DType.F32, new long[] {2, 3}, new float[5])).getMessage();
        assertTrue(m.contains("'b'") && m.contains("[2, 3]") && m.contains("6 values") && m.contains("5"), m);
        m = assertThrows(IllegalArgumentException.class, () -> w.add("a", DType.F32, new long[] {1}, new float[1])).getMessage();
        assertTrue(m.contains("'a'") && m.contains("already"), m);
        m = assertThrows(IllegalArgumentException.class, () -> w.add("c", DType.I32, new long[] {1}, new float[1])).getMessage();
        assertTrue(m.contains("'c'") && m.contains("float[]") && m.contains("I32"), m);
        m = assertThrows(IllegalArgumentException.class, () -> w.add("d", DType.F32, new long[] {1}, new int[1])).getMessage();
        assertTrue(m.contains("'d'") && m.contains("int[]"), m);
        m = assertThrows(IllegalArgumentException.class, () -> w.add("e", DType.F32, new long[] {-1}, new byte[0])).getMessage();
        assertTrue(m.contains("'e'") && m.contains("negative"), m);
        m = assertThrows(IllegalArgumentException.class, () -> w.add("f", DType.U8, new long[] {3}, new byte[4])).getMessage();
        assertTrue(m.contains("'f'") && m.contains("3 bytes"), m);
        m = assertThrows(IllegalArgumentException.class, () -> w.add("g", DType.F32, new long[] {1L << 40, 1L << 40}, new byte[0])).getMessage();
        assertTrue(m.contains("'g'") && m.contains("overflow"), m);
        assertThrows(IllegalArgumentException.class, () -> w.add("__metadata__", DType.U8, new long[] {0}, new byte[0]));
        assertThrows(IllegalArgumentException.class, () -> w.add("", DType.U8, new long[] {0}, new byte[0]));
        assertEquals(List.of("a"), w.names(), "failed adds leave nothing behind");
    }

    @Test
    void writeToAMissingDirectoryFailsClearlyAndLeavesNoTempFile() throws IOException {
        Path target = tmp.resolve("no-such-dir").resolve("model.safetensors");
        SafetensorsWriter w = new SafetensorsWriter().add("w", DType.F32, new long[] {1}, new float[] {1});
        SafetensorsException e = assertThrows(SafetensorsException.class, () -> w.write(target));
        assertTrue(e.getMessage().contains(target.toString()) && e.getMessage().contains("does not exist")
                && e.getMessage().contains("createDirectories"), e.getMessage());
        assertEquals(List.of(), listing(tmp), "nothing created");
    }

    @Test
    void aFailureMidWriteRemovesTheTempFileAndKeepsTheOldTarget() throws IOException {
        Path target = tmp.resolve("m.safetensors");
        new SafetensorsWriter().add("old", DType.F32, new long[] {1}, new float[] {1}).write(target);
        byte[] before = Files.readAllBytes(target);
        Arena arena = Arena.ofConfined();
        MemorySegment seg = arena.allocate(4096);
        SafetensorsWriter w = new SafetensorsWriter().add("a", DType.F32, new long[] {2}, new float[] {1, 2})
                .add("big", DType.U8, new long[] {4096}, seg);
        arena.close();  // the segment dies before write reaches it: the write fails halfway
        assertThrows(IllegalStateException.class, () -> w.write(target));
        assertArrayEquals(before, Files.readAllBytes(target), "the old file is untouched");
        assertEquals(List.of("m.safetensors"), listing(tmp), "the temp file is gone");
    }

    static List<String> listing(Path dir) throws IOException {
        try (Stream<Path> s = Files.list(dir)) {
            return s.map(p -> p.getFileName().toString()).sorted().toList();
        }
    }
}
