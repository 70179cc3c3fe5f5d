package dev.caldera4j.quant;

import static org.junit.jupiter.api.Assertions.*;

import java.util.Random;
import org.junit.jupiter.api.Test;

/** RTN, QuantizedMatrix, QuantConfig and the grid of Quantizer. */
class RtnTest {
    static float[] gaussian(int n, long seed, double sd) {
        Random rnd = new Random(seed);
        float[] W = new float[n];
        for (int i = 0; i < n; i++) W[i] = (float) (sd * rnd.nextGaussian());
        return W;
    }

    @Test
    void dequantizeIsExactlyTheStoredGridAndCodesAreNearest() {
        for (int bits : new int[] {2, 3, 4, 8})
            for (int group : new int[] {-1, 32, 64})
                for (boolean sym : new boolean[] {false, true}) {
                    int dOut = 5, dIn = 128;
                    String where = "bits=" + bits + " group=" + group + " sym=" + sym;
                    float[] W = gaussian(dOut * dIn, bits * 100 + group, 0.02);
                    W[7] = 0; // an exact zero
                    QuantConfig c = QuantConfig.of(bits, group).withSymmetric(sym);
                    QuantizedMatrix Q = Rtn.quantize(W, dOut, dIn, c);
                    int g = group <= 0 ? dIn : group, maxq = (1 << bits) - 1;
                    assertEquals(g, Q.group(), where);
                    float[] Wq = Q.dequantize();
                    for (int r = 0; r < dOut; r++)
                        for (int col = 0; col < dIn; col++) {
                            int q = Q.code(r, col);
                            float s = Q.scale(r, col / g), z = Q.zero(r, col / g);
                            assertTrue(q >= 0 && q <= maxq, where);
                            assertEquals((q - z) * s, Wq[r * dIn + col], 0f, "dequantize = (q − zero)·scale exactly, " + where);
                            // nearest point of the stored grid (ties may go either way: allow equality)
                            double err = Math.abs(W[r * dIn + col] - (double) Wq[r * dIn + col]);
                            for (int q2 : new int[] {q - 1, q + 1})
                                if (q2 >= 0 && q2 <= maxq)
                                    assertTrue(err <= Math.abs(W[r * dIn + col] - (double) ((q2 - z) * s)) + 1e-12, where + " at " + r + "," + col);
                        }
                    for (int k = 0; k < Q.scales().length; k++) {
                        float z = Float.float16ToFloat(Q.zeros()[k]);
                        assertEquals(Math.rint(z), z, 0f, "integer zero");
                        if (sym) assertEquals(1 << (bits - 1), z, 0f, "symmetric zero = 2^(bits−1)");
                        assertTrue(Float.float16ToFloat(Q.scales()[k]) > 0, "positive scale");
                    }
                    if (!sym) assertEquals(0f, Wq[7], 0f, "asymmetric grids contain 0 exactly, " + where);
                }
    }

    @Test
    void relativeErrorShrinksWithBits() {
        int dOut = 16, dIn = 256;
        float[] W = gaussian(dOut * dIn, 9, 1);
        double prev = Double.MAX_VALUE;
        for (int bits : new int[] {2, 3, 4, 8}) {
            float[] Wq = Rtn.quantize(W, dOut, dIn, QuantConfig.of(bits, 64)).dequantize();
            double e = 0, n = 0;
            for (int i = 0; i < W.length; i++) {
                e += (W[i] - Wq[i]) * (W[i] - Wq[i]);
                n += W[i] * W[i];
            }
            assertTrue(e / n < prev, "bits=" + bits);
            prev = e / n;
        }
        assertTrue(prev < 1e-4, "8-bit relative error " + prev);
    }

    @Test
    void degenerateGroupsStayFinite() {
        int dOut = 3, dIn = 64;
        float[] W = new float[dOut * dIn];                   // row 0: all zero
        for (int j = 0; j < dIn; j++) W[dIn + j] = 1e-12f * (j - 32); // row 1: far below fp16's smallest scale
        for (int j = 0; j < dIn; j++) W[2 * dIn + j] = 3f;   // row 2: constant positive
        for (boolean sym : new boolean[] {false, true}) {
            QuantizedMatrix Q = Rtn.quantize(W, dOut, dIn, QuantConfig.of(2, 32).withSymmetric(sym));
            float[] Wq = Q.dequantize();
            for (int i = 0; i < dIn; i++) assertEquals(0f, Wq[i], 0f, "zero row stays zero");
            for (int i = dIn; i < 2 * dIn; i++) assertEquals(0f, Wq[i], 1e-7f, "tiny row → ~0, finite");
            for (int i = 2 * dIn; i < 3 * dIn; i++) assertEquals(3f, Wq[i], 3f / 3 * 1.01f, "constant row within one step");
            for (float v : Wq) assertTrue(Float.isFinite(v));
        }
    }

    @Test
    void bitsPerParamAndStoredBytesAreExact() {
        float[] W = gaussian(4 * 4096, 1, 1);
        QuantizedMatrix Q = Rtn.quantize(W, 4, 4096, QuantConfig.of(2, 128));
        assertEquals(2.25, Q.bitsPerParam(), 0.0);
        assertEquals(4L * 4 * 256 + 2L * 2 * 4 * 32, Q.storedBytes());
        assertEquals(3.25, Rtn.quantize(W, 4, 4096, QuantConfig.of(3, 128)).bitsPerParam(), 0.0);
        assertEquals(4 + 32.0 / 4096, Rtn.quantize(W, 4, 4096, QuantConfig.of(4, -1)).bitsPerParam(), 0.0);
        assertEquals(8.5, Rtn.quantize(W, 4, 4096, QuantConfig.of(8, 64)).bitsPerParam(), 0.0);
        // dIn·bits not a multiple of 32: the padded last word is counted
        QuantizedMatrix odd = Rtn.quantize(gaussian(2 * 5, 2, 1), 2, 5, QuantConfig.of(2, 0));
        assertEquals(32.0 * (1 + 1) / 5, odd.bitsPerParam(), 0.0);
        assertEquals(4L * 2 + 2L * 2 + 2L * 2, odd.storedBytes());
    }

    @Test
    void badShapesAndConfigsSayWhatToDo() {
        var e = assertThrows(IllegalArgumentException.class, () -> Rtn.quantize(new float[2 * 100], 2, 100, QuantConfig.of(4, 128)));
        assertTrue(e.getMessage().contains("d_in=100") && e.getMessage().contains("group=128"), e.getMessage());
        var e3 = assertThrows(IllegalArgumentException.class, () -> Rtn.quantize(new float[2 * 33], 2, 33, QuantConfig.of(3, -1)));
        assertTrue(e3.getMessage().contains("multiple of 32") && e3.getMessage().contains("d_in=33"), e3.getMessage());
        var eq = assertThrows(IllegalArgumentException.class,
                () -> new QuantizedMatrix(1, 33, 3, 33, new int[4], new short[1], new short[1]));
        assertTrue(eq.getMessage().contains("multiple of 32"), eq.getMessage());
        var eb = assertThrows(IllegalArgumentException.class, () -> QuantConfig.of(5, 128));
        assertTrue(eb.getMessage().contains("bits=5"), eb.getMessage());
        var eg = assertThrows(IllegalArgumentException.class, () -> QuantConfig.of(4, -7));
        assertTrue(eg.getMessage().contains("group=-7"), eg.getMessage());
        assertThrows(IllegalArgumentException.class, () -> QuantConfig.of(4, 128).withDamping(0, 4));
        assertThrows(IllegalArgumentException.class, () -> QuantConfig.of(4, 128).withDamping(0.01, -1));
        assertThrows(IllegalArgumentException.class, () -> QuantConfig.of(4, 128).withBlocksize(0));
        var ew = assertThrows(IllegalArgumentException.class, () -> Rtn.quantize(new float[10], 2, 4, QuantConfig.of(4, -1)));
        assertTrue(ew.getMessage().contains("10 elements"), ew.getMessage());
        float[] nan = new float[64];
        nan[3] = Float.NaN;
        assertThrows(IllegalArgumentException.class, () -> Rtn.quantize(nan, 1, 64, QuantConfig.of(4, 32)));
        // per-channel works at any width the packing allows
        assertEquals(7, Rtn.quantize(gaussian(7, 5, 1), 1, 7, QuantConfig.of(4, -1)).group());
        assertTrue(QuantConfig.of(2, 128).actOrder() && !QuantConfig.of(4, 128).actOrder(), "act-order default on at 2 bits only");
    }
}
