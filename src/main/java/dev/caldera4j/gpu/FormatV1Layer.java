package dev.caldera4j.gpu;

/**
 * One compressed linear layer W ≈ Q + L·R in format v1 (DESIGN.md), as plain host arrays:
 * Q's codes packed along the input dim (code j of a word in bits [bq·j, bq·j+bq), little-endian),
 * fp16 scales and zeros per (row, group) with w = (q − zero)·scale, and optional factors.
 * bq ∈ {2, 4, 8} here (3-bit words straddle; no GPU kernel reads them).
 */
public record FormatV1Layer(
        String name,
        int dOut,
        int dIn,
        int bq,
        int group,
        int[] qweight,     // (dOut, dIn·bq/32)
        short[] scales,    // (dOut, dIn/group) fp16 bits
        short[] zeros,     // (dOut, dIn/group) fp16 bits
        Factor L,          // (dOut, rank), or null when rank == 0
        Factor R) {        // (rank, dIn), or null when rank == 0

    public FormatV1Layer {
        if (dOut <= 0 || dIn <= 0)
            throw new IllegalArgumentException(name + ": shape (" + dOut + ", " + dIn + ") must be positive");
        if (bq != 2 && bq != 4 && bq != 8)
            throw new IllegalArgumentException(name + ": bq=" + bq + " not supported here (2, 4 or 8; 3-bit codes straddle words)");
        if ((long) dIn * bq % 32 != 0)
            throw new IllegalArgumentException(name + ": dIn·bq must be a multiple of 32, got dIn=" + dIn + " bq=" + bq);
        if (group <= 0 || dIn % group != 0)
            throw new IllegalArgumentException(name + ": group " + group + " must divide dIn=" + dIn);
        long words = (long) dOut * dIn * bq / 32;
        if (qweight == null || qweight.length != words)
            throw new IllegalArgumentException(name + ".qweight has " + (qweight == null ? "null" : qweight.length)
                    + " words, expected dOut·dIn·bq/32 = " + words);
        long ng = (long) dOut * (dIn / group);
        if (scales == null || scales.length != ng || zeros == null || zeros.length != ng)
            throw new IllegalArgumentException(name + ".scales/.zeros must each have dOut·dIn/group = " + ng + " values");
        if ((L == null) != (R == null))
            throw new IllegalArgumentException(name + ": L and R must both be present or both absent");
        if (L != null) {
            if (L.rows() != dOut || R.cols() != dIn || L.cols() != R.rows())
                throw new IllegalArgumentException(name + ": factor shapes L (" + L.rows() + ", " + L.cols() + ") R ("
                        + R.rows() + ", " + R.cols() + ") do not match W (" + dOut + ", " + dIn + ")");
        }
    }

    public int rank() {
        return L == null ? 0 : L.cols();
    }

    /** Q's code at (o, k). */
    public int code(int o, int k) {
        int perWord = 32 / bq;
        return (qweight[o * (dIn / perWord) + k / perWord] >>> (bq * (k % perWord))) & ((1 << bq) - 1);
    }

    /** Q's dequantised weight (q − zero)·scale at (o, k), exact in double. */
    public double q(int o, int k) {
        int gi = o * (dIn / group) + k / group;
        return (code(o, k) - (double) Float.float16ToFloat(zeros[gi])) * Float.float16ToFloat(scales[gi]);
    }

    /** Bytes in format v1: codes, fp16 scales and zeros, factors. */
    public long bytes() {
        long b = (long) dOut * dIn * bq / 8 + 4L * dOut * (dIn / group);
        return L == null ? b : b + L.bytes() + R.bytes();
    }
}
