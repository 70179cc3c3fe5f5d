package dev.caldera4j.quant;

import dev.caldera4j.linalg.Gemm;

/**
 * The low-rank term L·R of a CALDERA layer: L (dOut, rank), R (rank, dIn), each stored at 16 bits
 * (fp16: the float values here are exactly fp16-representable) or quantised groupwise at bl / br bits
 * (format v1: L grouped along the rank with group min(rank, 128), R grouped along d_in).
 *
 * @param dOut  rows of L
 * @param dIn   columns of R
 * @param rank  r
 * @param bl    bits of L: 16 (fp16) or 2…8 (groupwise)
 * @param br    bits of R
 * @param L16   (dOut, rank) fp16-exact values when bl == 16, else null
 * @param R16   (rank, dIn) fp16-exact values when br == 16, else null
 * @param Lq    L quantised when bl < 16, else null
 * @param Rq    R quantised when br < 16, else null
 */
public record LowRank(int dOut, int dIn, int rank, int bl, int br, float[] L16, float[] R16,
                      QuantizedMatrix Lq, QuantizedMatrix Rq) {

    public LowRank {
        if (rank <= 0) throw new IllegalArgumentException("LowRank: rank must be positive, got " + rank);
        check("L", bl, L16, Lq, dOut, rank);
        check("R", br, R16, Rq, rank, dIn);
    }

    private static void check(String what, int bits, float[] f16, QuantizedMatrix q, int rows, int cols) {
        if (bits == 16) {
            if (f16 == null || f16.length != (long) rows * cols || q != null)
                throw new IllegalArgumentException("LowRank: " + what + " at 16 bits needs a (" + rows + ", " + cols + ") fp16 array and no quantised form");
        } else {
            if (q == null || f16 != null || q.dOut() != rows || q.dIn() != cols || q.bits() != bits)
                throw new IllegalArgumentException("LowRank: " + what + " at " + bits + " bits needs a quantised (" + rows + ", " + cols
                        + ") matrix of that bit width and no fp16 array");
        }
    }

    /** Group size of L along the rank (format v1): min(rank, 128). */
    public static int lGroup(int rank) {
        return Math.min(rank, 128);
    }

    /** L (dOut, rank) as float. */
    public float[] L() {
        return L16 != null ? L16 : Lq.dequantize();
    }

    /** R (rank, dIn) as float. */
    public float[] R() {
        return R16 != null ? R16 : Rq.dequantize();
    }

    /** L·R (dOut, dIn). */
    public float[] product() {
        float[] LR = new float[dOut * dIn];
        Gemm.matmul(L(), R(), LR, dOut, dIn, rank, false);
        return LR;
    }

    /** y (rows, dOut) += x (rows, dIn) · Rᵀ · Lᵀ, through t = x·Rᵀ (rows, rank): two thin GEMMs. */
    public void addTo(float[] x, int rows, float[] y) {
        float[] t = new float[rows * rank];
        Gemm.matmulTransB(x, R(), t, rows, rank, dIn, false);
        Gemm.matmulTransB(t, L(), y, rows, dOut, rank, true);
    }

    /** Bytes stored: fp16 factors at 2 bytes a value, quantised ones as codes + fp16 scales and zeros. */
    public long storedBytes() {
        return (L16 != null ? 2L * dOut * rank : Lq.storedBytes()) + (R16 != null ? 2L * rank * dIn : Rq.storedBytes());
    }

    /** Bits per parameter of W (dOut·dIn) that the factors add. */
    public double bitsPerParam() {
        return storedBytes() * 8.0 / ((double) dOut * dIn);
    }

    /** Rounds every value to the nearest fp16 (for 16-bit factors). */
    public static float[] toFp16(float[] a) {
        float[] out = new float[a.length];
        for (int i = 0; i < a.length; i++) out[i] = Float.float16ToFloat(Float.floatToFloat16(a[i]));
        return out;
    }
}
