package dev.caldera4j.quant;

import static org.junit.jupiter.api.Assertions.*;

import java.util.Arrays;
import java.util.Random;
import org.junit.jupiter.api.Test;

class HessianAccumulatorTest {
    /** float64 sums of ≤ 300 products of float32 inputs, in different orders: ~300·2⁻⁵³ relative to Σ|x_i x_j|. */
    static final double SUM_TOL = 1e-13;

    @Test
    void batchesMatchNaiveTwinOnTheConcatenation() {
        Random rnd = new Random(6);
        for (int dIn : new int[] {1, 5, 33, 130}) {
            int[] batches = {1, 7, 64, 3, 200};
            int total = Arrays.stream(batches).sum();
            float[] X = new float[total * dIn];
            for (int i = 0; i < X.length; i++) X[i] = (float) (rnd.nextGaussian() * (1 + i % dIn));
            try (HessianAccumulator acc = new HessianAccumulator(dIn)) {
                int r0 = 0;
                for (int b : batches) {
                    acc.add(Arrays.copyOfRange(X, r0 * dIn, (r0 + b) * dIn), b);
                    r0 += b;
                }
                acc.add(new float[0], 0);
                assertEquals(total, acc.count());
                double[] H = acc.H(), ref = HessianAccumulator.naive(X, total, dIn);
                double scale = 0;
                for (int j = 0; j < dIn; j++) scale = Math.max(scale, ref[j * dIn + j]);
                assertArrayEquals(ref, H, SUM_TOL * scale * total, "dIn=" + dIn);
                for (int i = 0; i < dIn; i++)
                    for (int j = 0; j < dIn; j++) assertEquals(H[i * dIn + j], H[j * dIn + i], 0.0, "symmetric");
            }
        }
    }

    @Test
    void batchLargerThanOneChunk() {
        int dIn = 33, rows = 23;
        Random rnd = new Random(7);
        float[] X = new float[rows * dIn];
        for (int i = 0; i < X.length; i++) X[i] = (float) rnd.nextGaussian();
        double[] ref = HessianAccumulator.naive(X, rows, dIn);
        for (int chunk : new int[] {1, 5, 23, 64}) {
            try (HessianAccumulator acc = new HessianAccumulator(dIn, chunk)) {
                acc.add(X, rows);
                assertArrayEquals(ref, acc.H(), SUM_TOL * rows * 10, "chunk=" + chunk);
            }
        }
    }

    @Test
    void errorsNameTheProblem() {
        try (HessianAccumulator acc = new HessianAccumulator(3)) {
            var e = assertThrows(IllegalStateException.class, acc::H);
            assertTrue(e.getMessage().contains("no rows"), e.getMessage());
            var s = assertThrows(IllegalArgumentException.class, () -> acc.add(new float[5], 2));
            assertTrue(s.getMessage().contains("(rows, dIn) = (2, 3)"), s.getMessage());
            var n = assertThrows(IllegalArgumentException.class, () -> acc.add(new float[] {0, Float.NaN, 0}, 1));
            assertTrue(n.getMessage().contains("X[0, 1] = NaN"), n.getMessage());
        }
    }
}
