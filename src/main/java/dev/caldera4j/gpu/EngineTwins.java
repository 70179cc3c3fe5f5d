package dev.caldera4j.gpu;

/**
 * Plain-Java twins of engine.cu's kernels that do more than elementwise work, computing exactly
 * what the kernels compute, in the same order of operations where it matters: split-context
 * attention (eng_attn_partial + eng_attn_combine), the 4-bit lm_head GEMV (eng_gemv_q4_f32) and
 * greedy argmax (eng_argmax). EngineTwinsTest checks them against the direct formulas; the engine
 * as a whole is checked against the CPU reference (Qwen2Model) by EngineBench / EngineGpuTest.
 */
public final class EngineTwins {
    private EngineTwins() {}

    /**
     * Attention output (hd) of one query over positions 0 … ctx−1 of one KV head, computed in S
     * splits of max(32, ⌈ctx/S⌉) positions (per split: max m, Σ e^(s−m), Σ e^(s−m)·v) and merged with the
     * max of the maxima — the kernels' algorithm.
     *
     * @param q (hd) query, K and V (≥ ctx, hd) row-major
     */
    public static float[] splitAttention(float[] q, float[] K, float[] V, int ctx, int hd, int S, float scale) {
        int chunk = Math.max(Engine.ATT_MIN_CHUNK, (ctx + S - 1) / S);
        float[][] acc = new float[S][hd];
        float[] m = new float[S], l = new float[S];
        for (int s = 0; s < S; s++) {
            int j0 = s * chunk, j1 = Math.min(ctx, j0 + chunk);
            m[s] = Float.NEGATIVE_INFINITY;
            float[] p = new float[Math.max(0, j1 - j0)];
            for (int j = j0; j < j1; j++) {
                float a = 0;
                for (int d = 0; d < hd; d++) a += q[d] * scale * K[j * hd + d];
                p[j - j0] = a;
                m[s] = Math.max(m[s], a);
            }
            for (int j = 0; j < p.length; j++) {
                p[j] = (float) Math.exp(p[j] - m[s]);
                l[s] += p[j];
            }
            for (int d = 0; d < hd; d++)
                for (int j = j0; j < j1; j++) acc[s][d] += p[j - j0] * V[j * hd + d];
        }
        float M = Float.NEGATIVE_INFINITY;
        for (int s = 0; s < S; s++) M = Math.max(M, m[s]);
        float[] out = new float[hd];
        for (int d = 0; d < hd; d++) {
            float num = 0, den = 0;
            for (int s = 0; s < S; s++) {
                if (l[s] == 0) continue; // an empty split
                float f = (float) Math.exp(m[s] - M);
                num += f * acc[s][d];
                den += f * l[s];
            }
            out[d] = num / den;
        }
        return out;
    }

    /**
     * y (dOut) = dequant(Q)·x for 4-bit format v1, as the kernel groups it: per 32 inputs,
     * s·(Σ q·x − z·Σ x) with the 32 inputs in one scale group (group % 32 == 0).
     */
    public static float[] gemvQ4(int[] qweight, short[] scales, short[] zeros, float[] x, int dOut, int dIn, int group) {
        if (dIn % 32 != 0 || group % 32 != 0)
            throw new IllegalArgumentException("eng_gemv_q4_f32 needs d_in and group multiples of 32, got " + dIn + ", " + group);
        float[] y = new float[dOut];
        for (int o = 0; o < dOut; o++) {
            float a = 0;
            for (int c = 0; c < dIn / 32; c++) {
                int k0 = c * 32, grp = k0 / group;
                float s = Float.float16ToFloat(scales[o * (dIn / group) + grp]), z = Float.float16ToFloat(zeros[o * (dIn / group) + grp]);
                float acc = 0, xs = 0;
                for (int e = 0; e < 32; e++) {
                    int k = k0 + e;
                    int code = (qweight[o * (dIn / 8) + k / 8] >>> (4 * (k % 8))) & 15;
                    acc += code * x[k];
                    xs += x[k];
                }
                a += s * (acc - z * xs);
            }
            y[o] = a;
        }
        return y;
    }

    /** The lowest index of the maximum; 0 when there is none (every value NaN). */
    public static int argmax(float[] a) {
        int best = -1;
        for (int i = 0; i < a.length; i++) if (!Float.isNaN(a[i]) && (best < 0 || a[i] > a[best])) best = i;
        return Math.max(best, 0);
    }
}
