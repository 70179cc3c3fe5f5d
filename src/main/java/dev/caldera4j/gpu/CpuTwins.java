package dev.caldera4j.gpu;

import dev.caldera4j.gpu.GpuLayout.GpuLayer;
import java.util.stream.IntStream;

/**
 * Plain-Java twins of the GPU kernels in qlr.cu and the float64 reference they are checked
 * against. Activations are fp16 bits, row-major (tokens, features); outputs (tokens, d_out).
 */
public final class CpuTwins {
    private CpuTwins() {}

    // ---------------------------------------------------------------- decoding the GPU layout

    /**
     * The kernels' decode of pair p (0..7) of a 32-bit word, emulated on fp16 bits: lop3 ORs the
     * two codes (slots p and p+8) into the mantissa of 1024.0 in both halves (after a shift by 10
     * for p ≥ 5), then hfma2(h, 4^-sh, −1024·4^-sh) removes the bias. Returns {low q, high q}.
     * The fma is exact here (small integers times powers of two), so float arithmetic is faithful.
     */
    public static int[] magicPair(int word, int p) {
        int sh = p < 5 ? p : p - 5;
        int src = p < 5 ? word : word >>> 10;
        int h = (src & (0x00030003 << (2 * sh))) | 0x64006400;
        float m = (float) Math.pow(4, -sh);
        float lo = Math.fma(Float.float16ToFloat((short) h), m, -1024f * m);
        float hi = Math.fma(Float.float16ToFloat((short) (h >>> 16)), m, -1024f * m);
        return new int[] {(int) lo, (int) hi};
    }

    /**
     * The v3 decode's variant (dequant_q_magic): the magic constant of each bit position has the
     * exponent of 1024/4^sh, so the two code bits weigh 1 and 2 and h − magic = q exactly.
     * Returns {low q, high q}.
     */
    public static int[] magicPairPerPosition(int word, int p) {
        int sh = p < 5 ? p : p - 5;
        int src = p < 5 ? word : word >>> 10;
        short magic = Float.floatToFloat16((float) (1024 >> (2 * sh)));
        int h = (src & (0x00030003 << (2 * sh))) | ((magic & 0xFFFF) * 0x00010001);
        float m = Float.float16ToFloat(magic);
        float lo = Float.float16ToFloat((short) h) - m, hi = Float.float16ToFloat((short) (h >>> 16)) - m;
        return new int[] {(int) lo, (int) hi};
    }

    /**
     * Twin of dequant_q_f16, bit for bit: walks every tile, lane, word and pair the way the kernels
     * do, decodes with {@link #magicPair}, and writes fp16(fma(q, s, fp16(−z·s))) at the (row, k)
     * the tile map names. Returns W (dOut, dIn) as fp16 bits.
     */
    public static short[] dequantTiles(GpuLayer g) {
        short[] W = new short[g.dOut() * g.dIn()];
        IntStream.range(0, g.MT()).parallel().forEach(mt -> {
            for (int kt = 0; kt < g.KT(); kt++) {
                int tile = mt * g.KT() + kt;
                for (int lane = 0; lane < 32; lane++) {
                    int grp = ((lane & 3) * g.GT()) >> 2;
                    for (int w = 0; w < 4; w++) {
                        int word = g.qtiles()[(tile * 32 + lane) * 4 + w];
                        for (int p = 0; p < 8; p++) {
                            int[] q = magicPair(word, p);
                            for (int hi = 0; hi < 2; hi++) {
                                int slot = p + 8 * hi;
                                int o = mt * 16 + GpuLayout.slotRow(lane, w, slot);
                                int k = kt * 128 + GpuLayout.slotK(lane, w, slot);
                                if (o >= g.dOut() || k >= g.dIn()) continue;
                                int rs = GpuLayout.slotRow(lane, w, slot) >> 3;
                                int at = (((tile * g.GT() + grp) * 8 + (lane >> 2)) * 2 + rs) * 2;
                                float s = Float.float16ToFloat(g.sz()[at]), nzs = Float.float16ToFloat(g.sz()[at + 1]);
                                W[o * g.dIn() + k] = Float.floatToFloat16(Math.fma((float) q[hi], s, nzs));
                            }
                        }
                    }
                }
            }
        });
        return W;
    }

    /** The codes of Q read back through the tile map, (dOut, dIn): must equal format v1's. */
    public static int[] codesFromTiles(GpuLayer g) {
        int[] c = new int[g.dOut() * g.dIn()];
        for (int tile = 0; tile < g.MT() * g.KT(); tile++) {
            int mt = tile / g.KT(), kt = tile % g.KT();
            for (int lane = 0; lane < 32; lane++)
                for (int w = 0; w < 4; w++) {
                    int word = g.qtiles()[(tile * 32 + lane) * 4 + w];
                    for (int slot = 0; slot < 16; slot++) {
                        int o = mt * 16 + GpuLayout.slotRow(lane, w, slot), k = kt * 128 + GpuLayout.slotK(lane, w, slot);
                        int code = (word >>> (2 * slot)) & 3;
                        if (o < g.dOut() && k < g.dIn()) c[o * g.dIn() + k] = code;
                        else if (code != 0) throw new IllegalStateException("padding code " + code + " at row " + o + " k " + k);
                    }
                }
        }
        return c;
    }

    // ---------------------------------------------------------------- reference products

    private static double[] toDouble(short[] h) {
        double[] d = new double[h.length];
        for (int i = 0; i < h.length; i++) d[i] = Float.float16ToFloat(h[i]);
        return d;
    }

    /**
     * The reference: y (T, rows.length) = x·Qᵀ + (x·Rᵀ)·Lᵀ in float64 straight from format v1, for
     * the output rows listed (null: all rows, in order). x is (T, dIn) fp16.
     */
    public static double[] exact(FormatV1Layer w, short[] x, int T, int[] rows) {
        int dIn = w.dIn(), rank = w.rank();
        int[] rs = rows != null ? rows : IntStream.range(0, w.dOut()).toArray();
        double[] xd = toDouble(x);
        double[] tm = new double[T * rank];  // (T, rank) = x·Rᵀ
        IntStream.range(0, rank).parallel().forEach(j -> {
            double[] Rj = new double[dIn];
            for (int k = 0; k < dIn; k++) Rj[k] = w.R().value(j, k);
            for (int n = 0; n < T; n++) {
                double s = 0;
                for (int k = 0; k < dIn; k++) s += Rj[k] * xd[n * dIn + k];
                tm[n * rank + j] = s;
            }
        });
        double[] y = new double[T * rs.length];
        IntStream.range(0, rs.length).parallel().forEach(i -> {
            int o = rs[i];
            double[] Wo = new double[dIn];
            for (int k = 0; k < dIn; k++) Wo[k] = w.q(o, k);
            double[] Lo = new double[rank];
            for (int j = 0; j < rank; j++) Lo[j] = w.L().value(o, j);
            for (int n = 0; n < T; n++) {
                double s = 0;
                for (int k = 0; k < dIn; k++) s += Wo[k] * xd[n * dIn + k];
                for (int j = 0; j < rank; j++) s += Lo[j] * tm[n * rank + j];
                y[n * rs.length + i] = s;
            }
        });
        return y;
    }

    /**
     * The natural size of each output of {@link #exact} for rounding errors: sqrt(Σ_k (W[o][k]·x[k])²
     * + Σ_j (L[o][j]·t[j])²), (T, rows.length). It is |y| for uncorrelated terms, and unlike |y| it
     * does not shrink when one output happens to cancel (parity errors are measured against it).
     */
    public static double[] exactScale(FormatV1Layer w, short[] x, int T, int[] rows) {
        int dIn = w.dIn(), rank = w.rank();
        int[] rs = rows != null ? rows : IntStream.range(0, w.dOut()).toArray();
        double[] xd = toDouble(x);
        double[] tm = new double[T * rank];
        IntStream.range(0, rank).parallel().forEach(j -> {
            for (int n = 0; n < T; n++) {
                double s = 0;
                for (int k = 0; k < dIn; k++) s += w.R().value(j, k) * xd[n * dIn + k];
                tm[n * rank + j] = s;
            }
        });
        double[] sc = new double[T * rs.length];
        IntStream.range(0, rs.length).parallel().forEach(i -> {
            int o = rs[i];
            double[] Wo = new double[dIn];
            for (int k = 0; k < dIn; k++) Wo[k] = w.q(o, k);
            for (int n = 0; n < T; n++) {
                double s = 0;
                for (int k = 0; k < dIn; k++) s += Wo[k] * Wo[k] * xd[n * dIn + k] * xd[n * dIn + k];
                for (int j = 0; j < rank; j++) {
                    double v = w.L().value(o, j) * tm[n * rank + j];
                    s += v * v;
                }
                sc[n * rs.length + i] = Math.sqrt(s);
            }
        });
        return sc;
    }

    /** The natural output size of {@link #gemmF16}: sqrt(Σ_k (A[m][k]·B[n][k])²), (N, rows.length). */
    public static double[] gemmF16Scale(short[] A, short[] B, int M, int N, int K, int[] rows) {
        int[] rs = rows != null ? rows : IntStream.range(0, M).toArray();
        double[] out = new double[N * rs.length];
        IntStream.range(0, rs.length).parallel().forEach(i -> {
            int m = rs[i];
            for (int n = 0; n < N; n++) {
                double s = 0;
                for (int k = 0; k < K; k++) {
                    double v = (double) Float.float16ToFloat(A[m * K + k]) * Float.float16ToFloat(B[n * K + k]);
                    s += v * v;
                }
                out[n * rs.length + i] = Math.sqrt(s);
            }
        });
        return out;
    }

    /**
     * The tile-level identity behind the v3m decode (dequant_magic_raw): with A = magic + q in every
     * slot, a row's mma sum over a tile is Σ q·x + M, M = Σ_k magic(k)·x_k, where magic(k) is the
     * constant of the bit position that input k's slot occupies for that row (rows g and g+8 differ).
     * Returns {M for rows g, M for rows g+8} of one 128-input tile x (fp16), as the kernel computes.
     */
    public static double[] tileMagicSums(short[] x128) {
        double m0 = 0, m1 = 0;
        for (int kk = 0; kk < 128; kk++) {
            double xv = Float.float16ToFloat(x128[kk]);
            m0 += magicWeight(kk, 0) * xv;
            m1 += magicWeight(kk, 1) * xv;
        }
        return new double[] {m0, m1};
    }

    /** magic_sum_weight of qlr.cu: the magic constant of row g + 8·rs at input kk of a lane. */
    public static int magicWeight(int kk, int rs) {
        int j = (kk & 31) >> 2, reg = rs + 2 * ((kk >> 1) & 1), p = 4 * (j & 1) + reg;
        int sh = p < 5 ? p : p - 5;
        return 1024 >> (2 * sh);
    }

    /** fp32 t = x·Rᵀ, (T, rank). */
    private static float[] lowRankInput(FormatV1Layer w, float[] xf, int T) {
        int dIn = w.dIn(), rank = w.rank();
        float[] t = new float[T * rank];
        for (int j = 0; j < rank; j++)
            for (int n = 0; n < T; n++) {
                float s = 0f;
                for (int k = 0; k < dIn; k++) s += (float) w.R().value(j, k) * xf[n * dIn + k];
                t[n * rank + j] = s;
            }
        return t;
    }

    private static float[] toFloat(short[] h) {
        float[] f = new float[h.length];
        for (int i = 0; i < h.length; i++) f[i] = Float.float16ToFloat(h[i]);
        return f;
    }

    /** fp32 twin of the fused kernels: t = x·Rᵀ, then per output one sum over Q·x and L·t. */
    public static float[] fused(FormatV1Layer w, short[] x, int T) {
        int dIn = w.dIn(), dOut = w.dOut(), rank = w.rank();
        float[] xf = toFloat(x), t = lowRankInput(w, xf, T), y = new float[T * dOut];
        for (int o = 0; o < dOut; o++)
            for (int n = 0; n < T; n++) {
                float s = 0f;
                for (int k = 0; k < dIn; k++) s += (float) w.q(o, k) * xf[n * dIn + k];
                for (int j = 0; j < rank; j++) s += (float) w.L().value(o, j) * t[n * rank + j];
                y[n * dOut + o] = s;
            }
        return y;
    }

    /** fp32 twin of the unfused path: y1 = x·Qᵀ, t = x·Rᵀ, y2 = t·Lᵀ as separate arrays, then y1 + y2. */
    public static float[] unfused(FormatV1Layer w, short[] x, int T) {
        int dIn = w.dIn(), dOut = w.dOut(), rank = w.rank();
        float[] xf = toFloat(x), W = new float[dOut * dIn];
        for (int o = 0; o < dOut; o++)
            for (int k = 0; k < dIn; k++) W[o * dIn + k] = (float) w.q(o, k);
        float[] y1 = new float[T * dOut], y2 = new float[T * dOut], t = lowRankInput(w, xf, T);
        for (int n = 0; n < T; n++)
            for (int o = 0; o < dOut; o++) {
                float s = 0f;
                for (int k = 0; k < dIn; k++) s += W[o * dIn + k] * xf[n * dIn + k];
                y1[n * dOut + o] = s;
                float u = 0f;
                for (int j = 0; j < rank; j++) u += (float) w.L().value(o, j) * t[n * rank + j];
                y2[n * dOut + o] = u;
            }
        float[] y = new float[T * dOut];
        for (int i = 0; i < y.length; i++) y[i] = y1[i] + y2[i];
        return y;
    }

    /**
     * float64 reference of the fp16 baselines: out (N, rows.length) = B·Aᵀ over K for A (M, K) and
     * B (N, K) in fp16 (y = x·Wᵀ with A = W, B = x), for the rows of A listed (null: all).
     */
    public static double[] gemmF16(short[] A, short[] B, int M, int N, int K, int[] rows) {
        int[] rs = rows != null ? rows : IntStream.range(0, M).toArray();
        double[] out = new double[N * rs.length];
        IntStream.range(0, rs.length).parallel().forEach(i -> {
            int m = rs[i];
            for (int n = 0; n < N; n++) {
                double s = 0;
                for (int k = 0; k < K; k++)
                    s += (double) Float.float16ToFloat(A[m * K + k]) * Float.float16ToFloat(B[n * K + k]);
                out[n * rs.length + i] = s;
            }
        });
        return out;
    }
}
