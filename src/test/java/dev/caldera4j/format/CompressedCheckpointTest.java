package dev.caldera4j.format;

import com.google.gson.JsonObject;
import dev.caldera4j.io.DType;
import dev.caldera4j.io.SafetensorsFile;
import dev.caldera4j.io.SafetensorsWriter;
import dev.caldera4j.io.TensorInfo;
import dev.caldera4j.quant.CompressedLinear;
import dev.caldera4j.quant.Hadamard;
import dev.caldera4j.quant.Incoherence;
import dev.caldera4j.quant.LowRank;
import dev.caldera4j.quant.QuantConfig;
import dev.caldera4j.quant.QuantizedMatrix;
import dev.caldera4j.quant.Rtn;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Path;
import java.util.Arrays;
import java.util.Map;
import java.util.SplittableRandom;
import java.util.TreeMap;

import static org.junit.jupiter.api.Assertions.*;

/** Format v1 per layer: write → read gives the same layer; tensor names, dtypes and shapes exactly as DESIGN's table. */
class CompressedCheckpointTest {

    record Case(String label, int dOut, int dIn, int bq, int group, int rank, int bl, int br, boolean hadamard, boolean fp16Bias) {}

    static final Case[] CASES = {
        new Case("3-bit Q only, fp16 bias", 24, 64, 3, 32, 0, 0, 0, false, true),
        new Case("2-bit Q + L 4-bit, R 16-bit + Hadamard, f32 bias", 24, 40, 2, 16, 8, 4, 16, true, false),
        new Case("4-bit Q + L 16-bit, R 4-bit", 16, 64, 4, 32, 8, 16, 4, false, true),
        new Case("2-bit Q + L,R 16-bit + Hadamard, no bias", 7, 32, 2, 32, 4, 16, 16, true, false),
        new Case("8-bit per-channel Q + L,R 4-bit, rank 256: L in two groups of 128", 8, 32, 8, 32, 256, 4, 4, false, true),
    };

    static float[] gaussian(SplittableRandom r, int n) {
        float[] a = new float[n];
        for (int i = 0; i < n; i++) a[i] = (float) r.nextGaussian();
        return a;
    }

    static CompressedLinear make(Case c, SplittableRandom r, boolean withBias) {
        int rows = c.hadamard ? Hadamard.paddedSize(c.dOut) : c.dOut, cols = c.hadamard ? Hadamard.paddedSize(c.dIn) : c.dIn;
        QuantizedMatrix Q = Rtn.quantize(gaussian(r, rows * cols), rows, cols, QuantConfig.of(c.bq, c.group));
        LowRank lr = null;
        if (c.rank > 0) {
            QuantizedMatrix Lq = c.bl == 16 ? null : Rtn.quantize(gaussian(r, rows * c.rank), rows, c.rank, QuantConfig.of(c.bl, LowRank.lGroup(c.rank)));
            QuantizedMatrix Rq = c.br == 16 ? null : Rtn.quantize(gaussian(r, c.rank * cols), c.rank, cols, QuantConfig.of(c.br, 16));
            lr = new LowRank(rows, cols, c.rank, c.bl, c.br, c.bl == 16 ? LowRank.toFp16(gaussian(r, rows * c.rank)) : null,
                    c.br == 16 ? LowRank.toFp16(gaussian(r, c.rank * cols)) : null, Lq, Rq);
        }
        Incoherence inc = null;
        if (c.hadamard) {
            byte[] su = new byte[cols], sv = new byte[rows];
            for (int i = 0; i < cols; i++) su[i] = (byte) (r.nextBoolean() ? 1 : -1);
            for (int i = 0; i < rows; i++) sv[i] = (byte) (r.nextBoolean() ? 1 : -1);
            inc = new Incoherence(c.dIn, c.dOut, cols, rows, su, sv);
        }
        float[] bias = !withBias ? null : c.fp16Bias ? LowRank.toFp16(gaussian(r, c.dOut)) : gaussian(r, c.dOut);
        return new CompressedLinear(Q, lr, inc, bias);
    }

    @Test
    void writeReadGivesTheSameLayerAndTheTableLayout(@TempDir Path tmp) {
        SplittableRandom r = new SplittableRandom(3);
        for (Case c : CASES) {
            boolean withBias = !c.label.contains("no bias");
            CompressedLinear cl = make(c, r, withBias);
            String P = "model.layers.0.mlp.down_proj";
            SafetensorsWriter w = new SafetensorsWriter();
            JsonObject e = CompressedCheckpoint.addLinear(w, P, cl);
            Path f = tmp.resolve(c.bq + "-" + c.rank + "-" + c.hadamard + ".safetensors");
            w.write(f);
            try (SafetensorsFile sf = SafetensorsFile.open(f)) {
                assertEquals(expectedLayout(c, P, withBias), layout(sf), c.label);
                CompressedLinear back = CompressedCheckpoint.readLinear(
                        new CompressedCheckpoint.Tensors(f, n -> sf.has(n) ? sf : null), P, e, c.dOut, c.dIn);
                assertArrayEquals(cl.Q().qweight(), back.Q().qweight(), c.label);
                assertArrayEquals(cl.Q().scales(), back.Q().scales(), c.label);
                assertArrayEquals(cl.Q().zeros(), back.Q().zeros(), c.label);
                assertArrayEquals(cl.denseWeight(), back.denseWeight(), c.label + ": identical dequantised weight");
                int rows = 3;
                float[] x = gaussian(r, rows * c.dIn), y1 = new float[rows * c.dOut], y2 = new float[rows * c.dOut];
                cl.forward(x, rows, y1);
                back.forward(x, rows, y2);
                assertArrayEquals(y1, y2, c.label + ": identical forward");
                long extraBias = withBias && !c.fp16Bias ? 2L * c.dOut : 0; // F32 bias: 2 bytes more than CompressedLinear's 16-bit count
                assertEquals(cl.storedBytes() + extraBias, e.get("stored_bytes").getAsLong(), c.label);
                assertEquals(e.get("stored_bytes").getAsLong(), sf.dataBytes(), c.label + ": stored_bytes counts every byte written");
                assertEquals(sf.dataBytes() * 8.0 / (c.dOut * c.dIn), e.get("bits_per_param").getAsDouble(), 1e-12);
            }
        }
    }

    /** name → "DTYPE[shape]" as DESIGN's format table prescribes. */
    static Map<String, String> expectedLayout(Case c, String P, boolean withBias) {
        int rows = c.hadamard ? Hadamard.paddedSize(c.dOut) : c.dOut, cols = c.hadamard ? Hadamard.paddedSize(c.dIn) : c.dIn;
        Map<String, String> m = new TreeMap<>();
        m.put(P + ".qweight", "I32" + Arrays.toString(new long[] {rows, (long) cols * c.bq / 32}));
        m.put(P + ".scales", "F16" + Arrays.toString(new long[] {rows, cols / c.group}));
        m.put(P + ".zeros", "F16" + Arrays.toString(new long[] {rows, cols / c.group}));
        if (c.rank > 0) {
            if (c.bl == 16) m.put(P + ".L", "F16" + Arrays.toString(new long[] {rows, c.rank}));
            else {
                m.put(P + ".L.qweight", "I32" + Arrays.toString(new long[] {rows, (long) c.rank * c.bl / 32}));
                m.put(P + ".L.scales", "F16" + Arrays.toString(new long[] {rows, c.rank / Math.min(c.rank, 128)}));
                m.put(P + ".L.zeros", "F16" + Arrays.toString(new long[] {rows, c.rank / Math.min(c.rank, 128)}));
            }
            if (c.br == 16) m.put(P + ".R", "F16" + Arrays.toString(new long[] {c.rank, cols}));
            else {
                m.put(P + ".R.qweight", "I32" + Arrays.toString(new long[] {c.rank, (long) cols * c.br / 32}));
                m.put(P + ".R.scales", "F16" + Arrays.toString(new long[] {c.rank, cols / 16}));
                m.put(P + ".R.zeros", "F16" + Arrays.toString(new long[] {c.rank, cols / 16}));
            }
        }
        if (c.hadamard) {
            m.put(P + ".su", "I8" + Arrays.toString(new long[] {cols}));
            m.put(P + ".sv", "I8" + Arrays.toString(new long[] {rows}));
        }
        if (withBias) m.put(P + ".bias", (c.fp16Bias ? "F16" : "F32") + Arrays.toString(new long[] {c.dOut}));
        return m;
    }

    static Map<String, String> layout(SafetensorsFile f) {
        Map<String, String> m = new TreeMap<>();
        for (String n : f.names()) {
            TensorInfo i = f.info(n);
            m.put(n, i.dtype() + Arrays.toString(i.shape()));
        }
        return m;
    }

    @Test
    void readerRejectsWrongDtypeAndShapeNamingTheTensor(@TempDir Path tmp) {
        SplittableRandom r = new SplittableRandom(4);
        CompressedLinear cl = make(CASES[0], r, true);
        String P = "model.layers.0.self_attn.o_proj";
        SafetensorsWriter w = new SafetensorsWriter();
        JsonObject e = CompressedCheckpoint.addLinear(w, P, cl);
        Path f = tmp.resolve("a.safetensors");
        w.write(f);
        try (SafetensorsFile sf = SafetensorsFile.open(f)) {
            var t = new CompressedCheckpoint.Tensors(f, n -> sf.has(n) ? sf : null);
            var shape = assertThrows(IllegalArgumentException.class, () -> CompressedCheckpoint.readLinear(t, P, e, 24, 32));
            assertTrue(shape.getMessage().contains(P) && shape.getMessage().contains("config.json"), shape.getMessage());
            JsonObject wrongBits = e.deepCopy();
            wrongBits.addProperty("bq", 4);
            var bits = assertThrows(IllegalArgumentException.class, () -> CompressedCheckpoint.readLinear(t, P, wrongBits, 24, 64));
            assertTrue(bits.getMessage().contains(P + ".qweight"), bits.getMessage());
        }
        SafetensorsWriter w2 = new SafetensorsWriter();
        w2.add(P + ".qweight", DType.I16, new long[] {24, 6}, new short[24 * 6]);
        Path g = tmp.resolve("b.safetensors");
        w2.write(g);
        try (SafetensorsFile sf = SafetensorsFile.open(g)) {
            var t = new CompressedCheckpoint.Tensors(g, n -> sf.has(n) ? sf : null);
            var dt = assertThrows(IllegalArgumentException.class, () -> CompressedCheckpoint.readLinear(t, P, e, 24, 64));
            assertTrue(dt.getMessage().contains("I16") && dt.getMessage().contains(P + ".qweight"), dt.getMessage());
        }
    }
}
