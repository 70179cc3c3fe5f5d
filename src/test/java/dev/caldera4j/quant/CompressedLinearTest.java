package dev.caldera4j.quant;

import org.junit.jupiter.api.Test;

import java.util.SplittableRandom;

import static org.junit.jupiter.api.Assertions.*;

class CompressedLinearTest {

    /** Both paths compute the same float32 products in different orders (blocked GEMM vs a double dot): ~1e-5 of Σ|x·w|. */
    private static final double FORWARD_REL_TOL = 1e-4;

    static float[] gaussian(SplittableRandom r, int n) {
        float[] a = new float[n];
        for (int i = 0; i < n; i++) a[i] = (float) r.nextGaussian();
        return a;
    }

    @Test
    void hadamardIsOrthogonalAndSelfInverse() {
        SplittableRandom r = new SplittableRandom(1);
        for (int n : new int[] {1, 2, 8, 64, 1024}) {
            float[] v = gaussian(r, n), w = v.clone();
            Hadamard.transformNormalized(w, 0, n);
            double nv = 0, nw = 0;
            for (int i = 0; i < n; i++) { nv += v[i] * v[i]; nw += w[i] * w[i]; }
            assertEquals(nv, nw, 1e-4 * nv, "norm kept, n=" + n);
            Hadamard.transformNormalized(w, 0, n);
            for (int i = 0; i < n; i++) assertEquals(v[i], w[i], 1e-5, "self-inverse, n=" + n);
        }
        assertEquals(29568, Hadamard.paddedSize(29568), "924·32: Paley II ⊗ Sylvester, no padding (HadamardTest)");
        var e = assertThrows(IllegalArgumentException.class, () -> Hadamard.transformNormalized(new float[10], 0, 10));
        assertTrue(e.getMessage().contains("pad to 12"), e.getMessage());
    }

    @Test
    void forwardMatchesDenseTwinWithLowRankAndIncoherence() {
        SplittableRandom r = new SplittableRandom(2);
        int[][] shapes = {{24, 40}, {64, 64}, {7, 32}};
        for (int[] s : shapes) {
            int dOut = s[0], dIn = s[1], rank = 4;
            for (boolean useInc : new boolean[] {false, true}) {
                int rp = useInc ? Hadamard.paddedSize(dOut) : dOut, cp = useInc ? Hadamard.paddedSize(dIn) : dIn;
                int group = cp % 32 == 0 ? 32 : cp;
                QuantizedMatrix Q = Rtn.quantize(gaussian(r, rp * cp), rp, cp, QuantConfig.of(2, group));
                QuantizedMatrix Lq = Rtn.quantize(gaussian(r, rp * rank), rp, rank, QuantConfig.of(4, LowRank.lGroup(rank)));
                LowRank lr = new LowRank(rp, cp, rank, 4, 16, null, LowRank.toFp16(gaussian(r, rank * cp)), Lq, null);
                Incoherence inc = null;
                if (useInc) {
                    byte[] su = new byte[cp], sv = new byte[rp];
                    for (int i = 0; i < cp; i++) su[i] = (byte) (r.nextBoolean() ? 1 : -1);
                    for (int i = 0; i < rp; i++) sv[i] = (byte) (r.nextBoolean() ? 1 : -1);
                    inc = new Incoherence(dIn, dOut, cp, rp, su, sv);
                }
                CompressedLinear cl = new CompressedLinear(Q, lr, inc, gaussian(r, dOut));
                int rows = 3;
                float[] x = gaussian(r, rows * dIn), y = new float[rows * dOut], yt = new float[rows * dOut];
                cl.forward(x, rows, y);
                cl.forwardNaive(x, rows, yt);
                double scale = 0, diff = 0;
                for (int i = 0; i < y.length; i++) { scale = Math.max(scale, Math.abs(yt[i])); diff = Math.max(diff, Math.abs(y[i] - yt[i])); }
                assertTrue(diff <= FORWARD_REL_TOL * scale, dOut + "x" + dIn + " inc=" + useInc + ": diff " + diff + " scale " + scale);
                double bpp = cl.bitsPerParam();
                assertEquals(cl.storedBytes() * 8.0 / (dOut * dIn), bpp, 1e-12);
            }
        }
    }
}
