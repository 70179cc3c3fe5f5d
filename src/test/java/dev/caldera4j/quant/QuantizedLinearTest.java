package dev.caldera4j.quant;

import static org.junit.jupiter.api.Assertions.*;

import dev.caldera4j.linalg.Gemm;
import java.util.Random;
import org.junit.jupiter.api.Test;

class QuantizedLinearTest {
    /** Unit roundoff of float32. */
    static final double U = Math.pow(2, -24);

    /**
     * Two float32 dot products of length n in different orders each differ from the exact value by at
     * most γ_n·Σ|x_i·w_i| (γ_n ≈ n·u): their difference is within 2·n·u·Σ|x_i·w_i| (+1 ulp for the bias add).
     */
    static void assertClose(float[] ref, float[] got, float[] x, float[] Wq, float[] bias, int rows, int dOut, int dIn, String where) {
        for (int r = 0; r < rows; r++)
            for (int o = 0; o < dOut; o++) {
                double mag = bias == null ? 0 : Math.abs(bias[o]);
                for (int c = 0; c < dIn; c++) mag += Math.abs((double) x[r * dIn + c] * Wq[o * dIn + c]);
                double tol = 2 * (dIn + 1) * U * mag;
                assertEquals(ref[r * dOut + o], got[r * dOut + o], tol, where + " at (" + r + ", " + o + ")");
            }
    }

    @Test
    void forwardMatchesNaiveTwinCachedModeAndDenseWeight() {
        Random rnd = new Random(8);
        // (dOut, dIn, rows); (70, 4096) decodes in two tiles of 64 and 6 rows (tile = 2¹⁸ / dIn)
        int[][] shapes = {{1, 32, 1}, {3, 64, 2}, {17, 96, 5}, {70, 4096, 2}, {5, 7, 4}};
        for (int[] s : shapes) {
            int dOut = s[0], dIn = s[1], rows = s[2];
            for (int bits : new int[] {2, 3, 4, 8}) {
                if (bits == 3 && dIn % 32 != 0) continue;
                int group = dIn % 32 == 0 ? 32 : -1;
                String where = "(" + dOut + ", " + dIn + ") rows=" + rows + " bits=" + bits;
                float[] W = new float[dOut * dIn], x = new float[rows * dIn], bias = new float[dOut];
                for (int i = 0; i < W.length; i++) W[i] = (float) rnd.nextGaussian();
                for (int i = 0; i < x.length; i++) x[i] = (float) rnd.nextGaussian();
                for (int i = 0; i < dOut; i++) bias[i] = (float) rnd.nextGaussian();
                QuantizedMatrix Q = Rtn.quantize(W, dOut, dIn, QuantConfig.of(bits, group));
                float[] Wq = Q.dequantize();
                for (float[] b : new float[][] {null, bias}) {
                    QuantizedLinear onTheFly = new QuantizedLinear(Q, b), cached = QuantizedLinear.cached(Q, b);
                    float[] yNaive = new float[rows * dOut], y = new float[rows * dOut], yCached = new float[rows * dOut];
                    onTheFly.forwardNaive(x, rows, yNaive);
                    onTheFly.forward(x, rows, y);
                    cached.forward(x, rows, yCached);
                    assertClose(yNaive, y, x, Wq, b, rows, dOut, dIn, "on the fly vs twin " + where);
                    assertClose(yNaive, yCached, x, Wq, b, rows, dOut, dIn, "cached vs twin " + where);
                    // against denseWeight()·x with the plain float GEMM
                    float[] yDense = new float[rows * dOut];
                    Gemm.matmulTransBNaive(x, onTheFly.denseWeight(), yDense, rows, dOut, dIn, false);
                    if (b != null) for (int r = 0; r < rows; r++) for (int o = 0; o < dOut; o++) yDense[r * dOut + o] += b[o];
                    assertClose(yDense, y, x, Wq, b, rows, dOut, dIn, "denseWeight·x " + where);
                    assertArrayEquals(Wq, cached.denseWeight(), 0f);
                    assertEquals(Q.storedBytes() + (b == null ? 0 : 2L * dOut), onTheFly.storedBytes());
                }
            }
        }
    }

    @Test
    void shapesAreChecked() {
        QuantizedMatrix Q = Rtn.quantize(new float[2 * 32], 2, 32, QuantConfig.of(4, 32));
        var e = assertThrows(IllegalArgumentException.class, () -> new QuantizedLinear(Q, new float[3]));
        assertTrue(e.getMessage().contains("d_out=2"), e.getMessage());
        QuantizedLinear L = new QuantizedLinear(Q, null);
        assertThrows(IllegalArgumentException.class, () -> L.forward(new float[31], 1, new float[2]));
        L.forward(new float[0], 0, new float[0]);
        assertEquals(32, L.dIn());
        assertEquals(2, L.dOut());
        assertNull(L.bias());
    }
}
