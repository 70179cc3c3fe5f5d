package dev.caldera4j.quant;

import dev.caldera4j.linalg.Blas;
import dev.caldera4j.linalg.DMatrix;

/**
 * The layer-wise proxy loss of GPTQ/CALDERA, relative: tr(Δ·H·Δᵀ) / tr(W·H·Wᵀ) with Δ = W − Ŵ.
 * With H = XᵀX/n this is ‖X·Δᵀ‖² / ‖X·Wᵀ‖²: the output error on the calibration inputs relative
 * to the output energy. Computed in float64.
 */
public final class ProxyError {
    private ProxyError() {}

    /** Rows of [Δ; W] per dgemm: the chunk and its product stay around 32 MB each. */
    private static final long CHUNK_DOUBLES = 1L << 22;

    /**
     * tr(ΔHΔᵀ)/tr(WHWᵀ) for W, What (dOut, dIn) float32 row-major and H (dIn, dIn) float64
     * row-major, by dgemm over row chunks (H is copied once into native memory). Returns 0 when
     * both traces are 0, +Inf when only tr(WHWᵀ) is.
     */
    public static double relative(float[] W, float[] What, int dOut, int dIn, double[] H) {
        return relative(W, What, dOut, dIn, H, (int) Math.max(1, Math.min(dOut, CHUNK_DOUBLES / (2L * dIn))));
    }

    /** {@link #relative} with R rows of W per dgemm (tests force several chunks with a small R). */
    static double relative(float[] W, float[] What, int dOut, int dIn, double[] H, int R) {
        check(W, What, dOut, dIn, H);
        double num = 0, den = 0;
        double[] s = new double[dIn], m = new double[dIn];
        try (DMatrix Hn = DMatrix.of(H, dIn, dIn); DMatrix S = DMatrix.zeros(2 * R, dIn); DMatrix M = DMatrix.zeros(2 * R, dIn)) {
            for (int r0 = 0; r0 < dOut; r0 += R) {
                int rr = Math.min(R, dOut - r0);
                for (int i = 0; i < rr; i++) { // S = [Δ rows; W rows] of this chunk, (2·rr, dIn)
                    int o = (r0 + i) * dIn;
                    for (int j = 0; j < dIn; j++) s[j] = (double) W[o + j] - What[o + j];
                    S.setRow(i, 0, s, 0, dIn);
                    for (int j = 0; j < dIn; j++) s[j] = W[o + j];
                    S.setRow(rr + i, 0, s, 0, dIn);
                }
                Blas.dgemm(false, false, 2 * rr, dIn, dIn, 1, S, 0, dIn, Hn, 0, dIn, 0, M, 0, dIn);
                for (int i = 0; i < 2 * rr; i++) {
                    S.getRow(i, 0, s, 0, dIn);
                    M.getRow(i, 0, m, 0, dIn);
                    double t = 0;
                    for (int j = 0; j < dIn; j++) t += s[j] * m[j];
                    if (i < rr) num += t;
                    else den += t;
                }
            }
        }
        return ratio(num, den);
    }

    /** Plain-Java twin of {@link #relative}: Σ_r Δ_r·H·Δ_rᵀ directly, O(dOut·dIn²). */
    public static double relativeNaive(float[] W, float[] What, int dOut, int dIn, double[] H) {
        check(W, What, dOut, dIn, H);
        double num = 0, den = 0;
        double[] d = new double[dIn];
        for (int r = 0; r < dOut; r++) {
            for (int j = 0; j < dIn; j++) d[j] = (double) W[r * dIn + j] - What[r * dIn + j];
            for (int i = 0; i < dIn; i++) {
                double hd = 0, hw = 0;
                for (int j = 0; j < dIn; j++) {
                    hd += H[i * dIn + j] * d[j];
                    hw += H[i * dIn + j] * W[r * dIn + j];
                }
                num += d[i] * hd;
                den += W[r * dIn + i] * hw;
            }
        }
        return ratio(num, den);
    }

    private static double ratio(double num, double den) {
        if (den == 0) return num == 0 ? 0 : Double.POSITIVE_INFINITY;
        return num / den;
    }

    private static void check(float[] W, float[] What, int dOut, int dIn, double[] H) {
        if (dOut < 1 || dIn < 1 || W.length != (long) dOut * dIn || What.length != W.length || H.length != (long) dIn * dIn)
            throw new IllegalArgumentException("ProxyError: W has " + W.length + ", What " + What.length + ", H " + H.length
                    + " elements; expected (dOut, dIn) = (" + dOut + ", " + dIn + ") and H (dIn, dIn)");
    }
}
