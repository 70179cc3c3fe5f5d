package dev.caldera4j.sensitivity;

import dev.caldera4j.eval.LogProbs;
import dev.caldera4j.model.Linear;
import dev.caldera4j.model.Qwen2Config;
import dev.caldera4j.model.Qwen2Model;
import dev.caldera4j.model.Qwen2Weights;

import java.util.function.IntConsumer;

/**
 * Signal 2, output divergence: for one matrix replaced by a compressed version and everything else
 * dense, the mean over every position of the windows of KL(p_dense ‖ p_this) between the two
 * models' next-token distributions (nats per token).
 *
 * <p>Cost: the dense residual stream entering every block is kept per window, so a matrix in block
 * ℓ re-runs only blocks ℓ … L−1 and the head (float32, exact same code path as a full forward:
 * the blocks before ℓ would produce the same bits).
 */
public final class KlSignal {
    private KlSignal() {}

    /** The dense model's state on the windows: inputs of every block and log-probabilities. */
    public record Reference(Qwen2Model dense, int[][] windows, float[][][] blockInputs, float[][] logProbs) {}

    /** Runs the dense model once per window: blockInputs[w][ℓ] (T, hidden), logProbs[w] (T, vocab). */
    public static Reference reference(Qwen2Model dense, int[][] windows) {
        Qwen2Config c = dense.config();
        float[][][] in = new float[windows.length][c.numLayers()][];
        float[][] lp = new float[windows.length][];
        for (int w = 0; w < windows.length; w++) {
            int T = windows[w].length;
            Qwen2Model.KVCache cache = dense.newCache(T);
            float[] x = dense.embed(windows[w]);
            for (int l = 0; l < c.numLayers(); l++) {
                in[w][l] = x.clone();
                dense.block(l, x, T, cache, null);
            }
            lp[w] = logSoftmax(dense.head(x, T, true), T, c.vocabSize());
        }
        return new Reference(dense, windows, in, lp);
    }

    /** Mean KL(dense ‖ dense-with-matrix-(layer, kind)-replaced) per token, in nats. */
    public static double kl(Reference ref, int layer, int kind, Linear replacement) {
        Qwen2Model dense = ref.dense();
        Qwen2Config c = dense.config();
        Qwen2Weights.Block b = dense.weights().layers()[layer];
        Linear[] lin = b.linears();
        lin[kind] = replacement;
        Qwen2Weights.Block changed = b.withLinears(lin);
        double sum = 0;
        long n = 0;
        for (int w = 0; w < ref.windows().length; w++) {
            int T = ref.windows()[w].length;
            Qwen2Model.KVCache cache = dense.newCache(T);
            float[] x = ref.blockInputs()[w][layer].clone();
            dense.block(changed, layer, x, T, cache, null);
            for (int l = layer + 1; l < c.numLayers(); l++) dense.block(l, x, T, cache, null);
            float[] q = logSoftmax(dense.head(x, T, true), T, c.vocabSize());
            float[] p = ref.logProbs()[w];
            int V = c.vocabSize();
            for (int t = 0; t < T; t++) {
                double s = 0;
                for (int v = 0; v < V; v++) {
                    double lp = p[t * V + v];
                    s += Math.exp(lp) * (lp - q[t * V + v]);
                }
                sum += Math.max(s, 0);  // ≥ 0 mathematically; float rounding can dip a hair below
                n++;
            }
        }
        return sum / n;
    }

    /** KL of every matrix at its pool candidate {@code j}: [layer·7 + kind]. */
    public static double[] perMatrix(Reference ref, ProxySignal.Entry[][] pool, int j, IntConsumer progress) {
        double[] out = new double[pool.length];
        for (int m = 0; m < pool.length; m++) {
            ProxySignal.Entry e = pool[m][j];
            out[m] = kl(ref, e.layer(), e.kind(), e.layerOut());
            if (progress != null) progress.accept(1);
        }
        return out;
    }

    /** Row-wise log-softmax of (T, V) logits ({@link LogProbs#logSumExp} per row). */
    static float[] logSoftmax(float[] logits, int T, int V) {
        float[] out = new float[T * V];
        for (int t = 0; t < T; t++) {
            double lse = LogProbs.logSumExp(logits, t, V);
            for (int v = 0; v < V; v++) out[t * V + v] = (float) (logits[t * V + v] - lse);
        }
        return out;
    }
}
