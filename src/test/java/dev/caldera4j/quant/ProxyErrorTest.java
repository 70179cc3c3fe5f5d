package dev.caldera4j.quant;

import static org.junit.jupiter.api.Assertions.*;

import java.util.Random;
import org.junit.jupiter.api.Test;

class ProxyErrorTest {
    /** Both paths sum ~dOut·dIn² float64 products (positive-semidefinite forms, no cancellation) in different orders. */
    static final double REL_TOL = 1e-12;

    @Test
    void gemmPathMatchesNaiveTwinOverChunks() {
        Random rnd = new Random(5);
        for (int[] s : new int[][] {{1, 1}, {7, 33}, {20, 64}}) {
            int dOut = s[0], dIn = s[1];
            float[] X = new float[3 * dIn * dIn];
            for (int i = 0; i < X.length; i++) X[i] = (float) rnd.nextGaussian();
            double[] H = HessianAccumulator.naive(X, 3 * dIn, dIn);
            float[] W = new float[dOut * dIn], What = new float[dOut * dIn];
            for (int i = 0; i < W.length; i++) {
                W[i] = (float) rnd.nextGaussian();
                What[i] = W[i] + (float) (0.1 * rnd.nextGaussian());
            }
            double slow = ProxyError.relativeNaive(W, What, dOut, dIn, H);
            if (dOut * dIn >= 100) assertTrue(slow > 0.003 && slow < 0.03, "independent Δ of 0.1·σ: E ≈ 1 % relative error, got " + slow);
            for (int R : new int[] {1, 3, dOut}) assertEquals(slow, ProxyError.relative(W, What, dOut, dIn, H, R), REL_TOL * slow, "R=" + R);
            assertEquals(slow, ProxyError.relative(W, What, dOut, dIn, H), REL_TOL * slow);
            assertEquals(0.0, ProxyError.relative(W, W, dOut, dIn, H), 0.0, "no error");
            assertEquals(1.0, ProxyError.relative(W, new float[W.length], dOut, dIn, H), 0.0, "Ŵ = 0: Δ = W exactly");
        }
    }

    @Test
    void zeroEnergyAndBadShapes() {
        double[] H = {0};
        assertEquals(0.0, ProxyError.relative(new float[] {1}, new float[] {2}, 1, 1, H), 0.0, "0/0 → 0");
        assertEquals(Double.POSITIVE_INFINITY, ProxyError.relative(new float[] {0}, new float[] {2}, 1, 1, new double[] {1}));
        var e = assertThrows(IllegalArgumentException.class, () -> ProxyError.relative(new float[4], new float[4], 2, 2, new double[3]));
        assertTrue(e.getMessage().contains("H 3"), e.getMessage());
    }
}
