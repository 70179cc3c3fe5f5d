package dev.caldera4j.quant;

/**
 * One quantised weight matrix in format v1's storage: w[r, c] = (q[r, c] − zero[r, g])·scale[r, g]
 * with g = c / group. Records compare arrays by reference; compare contents with
 * {@link java.util.Arrays#equals}.
 *
 * @param dOut    output features (rows of W)
 * @param dIn     input features (columns of W)
 * @param bits    code width bq ∈ {2, 3, 4, 8}
 * @param group   input columns per group (dIn when per-channel); divides dIn
 * @param qweight (dOut, ceil(dIn·bits/32)) packed codes, see {@link Packing} for the bit layout
 * @param scales  (dOut, dIn/group) fp16 bits
 * @param zeros   (dOut, dIn/group) fp16 bits; integers in [0, 2^bits − 1] as produced here
 *                (asymmetric: round(−min/scale); symmetric: 2^(bits−1)), but any fp16 is valid
 */
public record QuantizedMatrix(int dOut, int dIn, int bits, int group, int[] qweight, short[] scales, short[] zeros) {

    public QuantizedMatrix {
        if (dOut < 1 || dIn < 1)
            throw new IllegalArgumentException("QuantizedMatrix: shape (" + dOut + ", " + dIn + ") must be positive");
        if (bits != 2 && bits != 3 && bits != 4 && bits != 8)
            throw new IllegalArgumentException("QuantizedMatrix: bits=" + bits + " is not one of 2, 3, 4, 8");
        if (bits == 3 && dIn % 32 != 0)
            throw new IllegalArgumentException("QuantizedMatrix: 3-bit codes need d_in to be a multiple of 32 (format v1: 32 codes per 3 words), got d_in="
                    + dIn + "; pad d_in or use 2/4/8 bits");
        if (group < 1 || dIn % group != 0)
            throw new IllegalArgumentException("QuantizedMatrix: group=" + group + " does not divide d_in=" + dIn
                    + "; format v1 needs whole groups (group = d_in for per-channel)");
        if (qweight.length != (long) dOut * Packing.wordsPerRow(dIn, bits))
            throw new IllegalArgumentException("QuantizedMatrix: qweight has " + qweight.length + " words, expected (" + dOut
                    + ", " + Packing.wordsPerRow(dIn, bits) + ")");
        long nScales = (long) dOut * (dIn / group);
        if (scales.length != nScales || zeros.length != nScales)
            throw new IllegalArgumentException("QuantizedMatrix: scales/zeros have " + scales.length + "/" + zeros.length
                    + " entries, expected (" + dOut + ", " + dIn / group + ") = " + nScales);
    }

    /** Groups per row, dIn/group. */
    public int nGroups() {
        return dIn / group;
    }

    public int code(int row, int col) {
        return Packing.code(qweight, dIn, bits, row, col);
    }

    public float scale(int row, int g) {
        return Float.float16ToFloat(scales[row * nGroups() + g]);
    }

    public float zero(int row, int g) {
        return Float.float16ToFloat(zeros[row * nGroups() + g]);
    }

    /** The dense (dOut, dIn) float matrix these codes represent. */
    public float[] dequantize() {
        float[] W = new float[dOut * dIn];
        dequantizeRows(0, dOut, W);
        return W;
    }

    /** out[0 .. nRows·dIn) = rows row0 .. row0+nRows of the dequantised matrix, (nRows, dIn) row-major. */
    public void dequantizeRows(int row0, int nRows, float[] out) {
        int G = nGroups();
        int[] q = new int[dIn];
        for (int i = 0; i < nRows; i++) {
            int r = row0 + i;
            Packing.unpackRow(qweight, dIn, bits, r, q, 0);
            for (int g = 0; g < G; g++) {
                float s = Float.float16ToFloat(scales[r * G + g]), z = Float.float16ToFloat(zeros[r * G + g]);
                for (int c = g * group, o = i * dIn; c < (g + 1) * group; c++) out[o + c] = Quantizer.dequant(q[c], s, z);
            }
        }
    }

    /**
     * Stored bits per weight: (packed code words + one fp16 scale and zero per group)·32 / (dOut·dIn).
     * Equals bits + 32/group exactly whenever dIn·bits is a multiple of 32 (every real model
     * shape); otherwise it also counts the zero padding of each row's last word.
     */
    public double bitsPerParam() {
        return 32.0 * (Packing.wordsPerRow(dIn, bits) + nGroups()) / dIn;
    }

    /** Bytes of qweight + scales + zeros. */
    public long storedBytes() {
        return 4L * qweight.length + 2L * scales.length + 2L * zeros.length;
    }
}
