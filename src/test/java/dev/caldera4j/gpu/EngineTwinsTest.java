package dev.caldera4j.gpu;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.caldera4j.quant.QuantConfig;
import dev.caldera4j.quant.QuantizedMatrix;
import dev.caldera4j.quant.Rtn;
import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;

/** The engine kernels' twins against the direct formulas (CPU only; the GPU side is EngineGpuTest). */
class EngineTwinsTest {
    /** float32 sums of ≤ 300 terms of O(1) size, merged across splits: a few ulp of the output's scale. */
    static final double ATTENTION_TOL = 1e-5;
    /** The q4 GEMV regroups Σ s·(q − z)·x as s·(Σ q·x − z·Σ x): float32 cancellation over 32-term groups. */
    static final double Q4_TOL = 1e-4;

    @Test
    void splitAttentionEqualsOneSoftmaxForEverySplitCount() {
        SplittableRandom r = new SplittableRandom(1);
        int hd = 16;
        for (int ctx : new int[] {1, 2, 7, 64, 129, 300}) {
            float[] q = gauss(r, hd), K = gauss(r, ctx * hd), V = gauss(r, ctx * hd);
            float scale = (float) (1 / Math.sqrt(hd));
            double[] s = new double[ctx];
            double max = Double.NEGATIVE_INFINITY, sum = 0;
            for (int j = 0; j < ctx; j++) {
                for (int d = 0; d < hd; d++) s[j] += q[d] * scale * K[j * hd + d];
                max = Math.max(max, s[j]);
            }
            for (int j = 0; j < ctx; j++) sum += Math.exp(s[j] - max);
            for (int S : new int[] {1, 2, 3, 5, 64}) {  // S > ctx leaves splits empty
                float[] out = EngineTwins.splitAttention(q, K, V, ctx, hd, S, scale);
                for (int d = 0; d < hd; d++) {
                    double want = 0;
                    for (int j = 0; j < ctx; j++) want += Math.exp(s[j] - max) / sum * V[j * hd + d];
                    assertEquals(want, out[d], ATTENTION_TOL, "ctx " + ctx + " S " + S + " d " + d);
                }
            }
        }
    }

    @Test
    void q4GemvEqualsTheDequantisedProduct() {
        SplittableRandom r = new SplittableRandom(2);
        for (int[] shape : new int[][] {{5, 64, 32}, {17, 256, 128}, {3, 96, 96}}) {
            int dOut = shape[0], dIn = shape[1], group = shape[2];
            float[] W = gauss(r, dOut * dIn), x = gauss(r, dIn);
            QuantizedMatrix q = Rtn.quantize(W, dOut, dIn, QuantConfig.of(4, group));
            float[] Wq = q.dequantize();
            float[] y = EngineTwins.gemvQ4(q.qweight(), q.scales(), q.zeros(), x, dOut, dIn, group);
            for (int o = 0; o < dOut; o++) {
                double want = 0, scale = 0;
                for (int k = 0; k < dIn; k++) {
                    want += (double) Wq[o * dIn + k] * x[k];
                    scale += Math.abs(Wq[o * dIn + k] * x[k]);
                }
                assertEquals(want, y[o], Q4_TOL * scale, "row " + o + " of " + dOut + "×" + dIn + " g" + group);
            }
        }
    }

    @Test
    void argmaxTakesTheFirstMaximumAndSurvivesNaN() {
        assertEquals(1, EngineTwins.argmax(new float[] {0f, 3f, 3f, -1f}));
        assertEquals(2, EngineTwins.argmax(new float[] {Float.NaN, 1f, 2f}));
        assertEquals(0, EngineTwins.argmax(new float[] {Float.NaN, Float.NaN}));
    }

    @Test
    void decodeSplitsCoverTheSmsAndBoundTheChunk() {
        var c = dev.caldera4j.model.Qwen2Config.qwen2_72b();
        int s = Engine.decodeSplits(c, Engine.Options.defaults(4096), 132);
        assertTrue(s * c.numHeads() >= 2 * 132, "too few blocks: " + s);
        assertTrue((4096 + s - 1) / s <= 64, "chunk too long at a full cache: " + s);
        assertEquals(1, Engine.decodeSplits(c, Engine.Options.defaults(1), 1));
    }

    static float[] gauss(SplittableRandom r, int n) {
        float[] a = new float[n];
        for (int i = 0; i < n; i++) a[i] = (float) r.nextGaussian();
        return a;
    }
}
