package dev.caldera4j.gpu;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

/** The fp32 twins (fused, unfused) against each other and against the float64 reference. */
class CpuTwinsTest {

    /**
     * fp32 twins summing a few hundred terms of order one differ from float64 (and from each
     * other, which only reorder the sums) by about sqrt(n)·2^-24 of the terms' size: 1e-6 of the
     * output's rms. 2e-5 leaves a wide margin yet fails on any real difference (a missing L·R
     * term or a wrong weight moves the result by ≫ 1e-3).
     */
    private static final double FP32_REORDER_REL = 2e-5;

    private static double rms(double[] y) {
        double s = 0;
        for (double v : y) s += v * v;
        return Math.sqrt(s / y.length);
    }

    @ParameterizedTest(name = "dOut={0} dIn={1} group={2} rank={3} bl={4} br={5} T={6}")
    @CsvSource({"1, 64, 64, 8, 16, 16, 1", "7, 192, 64, 16, 4, 4, 3", "33, 320, 32, 24, 4, 16, 2",
            "19, 256, 128, 0, 4, 4, 5", "12, 384, 128, 64, 16, 4, 1"})
    void fusedTwinEqualsUnfusedTwinAndTheReference(int dOut, int dIn, int group, int rank, int bl, int br, int T) {
        long seed = 1000L * dOut + dIn + rank;
        FormatV1Layer w = RandomLayers.layer(seed, dOut, dIn, group, rank, bl, br);
        short[] x = RandomLayers.activations(seed + 9, T, dIn);
        double[] ref = CpuTwins.exact(w, x, T, null);
        float[] fused = CpuTwins.fused(w, x, T), unfused = CpuTwins.unfused(w, x, T);
        double tol = FP32_REORDER_REL * rms(ref);
        assertTrue(rms(ref) > 0.1, "the random layer should give outputs of order one, rms " + rms(ref));
        for (int i = 0; i < ref.length; i++) {
            assertEquals(unfused[i], fused[i], tol, "fused vs unfused twin at " + i);
            assertEquals(ref[i], fused[i], tol, "fused twin vs float64 at " + i);
        }
    }

    @ParameterizedTest(name = "rank={0}")
    @CsvSource({"8", "32"})
    void lowRankTermIsPresentAndRowSubsetsAgree(int rank) {
        FormatV1Layer w = RandomLayers.layer(5, 21, 256, 64, rank, 4, 4);
        FormatV1Layer q = new FormatV1Layer("Q only", w.dOut(), w.dIn(), 2, 64, w.qweight(), w.scales(), w.zeros(), null, null);
        short[] x = RandomLayers.activations(6, 2, 256);
        double[] all = CpuTwins.exact(w, x, 2, null), qOnly = CpuTwins.exact(q, x, 2, null);
        // L·(R·x) is of order one by construction (RandomLayers), so it must move the outputs
        double diff = 0;
        for (int i = 0; i < all.length; i++) diff += (all[i] - qOnly[i]) * (all[i] - qOnly[i]);
        assertTrue(Math.sqrt(diff / all.length) > 0.1, "low-rank term rms " + Math.sqrt(diff / all.length));
        int[] rows = {20, 0, 7};
        double[] sub = CpuTwins.exact(w, x, 2, rows);
        for (int n = 0; n < 2; n++)
            for (int i = 0; i < rows.length; i++)
                assertEquals(all[n * 21 + rows[i]], sub[n * rows.length + i], 0.0, "row subset " + rows[i] + " token " + n);
    }
}
