package dev.caldera4j.gpu;

/**
 * One low-rank factor of a format-v1 layer: L (d_out, rank) or R (rank, d_in), stored in fp16
 * or as 4-bit codes with groupwise fp16 scales and zeros along each row (L grouped along rank with
 * group = min(rank, 128), R grouped along d_in). Value of a 4-bit entry: (q − zero)·scale.
 * Plain host arrays, no dependency on the quantiser classes.
 */
public record Factor(
        String name,
        int rows,
        int cols,
        int bits,          // 16 or 4
        int group,         // columns per scale group when bits == 4 (ignored for 16)
        short[] fp16,      // (rows, cols) fp16 bits when bits == 16, else null
        int[] qweight,     // (rows, cols/8) when bits == 4: code e of a word in bits [4e, 4e+4), little-endian along the row
        short[] scales,    // (rows, cols/group) fp16 bits when bits == 4
        short[] zeros) {   // (rows, cols/group) fp16 bits when bits == 4

    public Factor {
        if (rows <= 0 || cols <= 0)
            throw new IllegalArgumentException(name + ": shape (" + rows + ", " + cols + ") must be positive");
        if (bits == 16) {
            if (fp16 == null || fp16.length != (long) rows * cols)
                throw new IllegalArgumentException(name + ": fp16 data has " + (fp16 == null ? "null" : fp16.length)
                        + " values, expected rows·cols = " + (long) rows * cols);
        } else if (bits == 4) {
            if (cols % 8 != 0)
                throw new IllegalArgumentException(name + ": 4-bit factor needs cols % 8 == 0 (8 codes per int32), got cols=" + cols);
            if (group <= 0 || cols % group != 0 || group % 8 != 0)
                throw new IllegalArgumentException(name + ": group " + group + " must divide cols=" + cols
                        + " and be a multiple of 8 (a code word never straddles two groups)");
            if (qweight == null || qweight.length != (long) rows * cols / 8)
                throw new IllegalArgumentException(name + ".qweight has " + (qweight == null ? "null" : qweight.length)
                        + " words, expected rows·cols/8 = " + (long) rows * cols / 8);
            long ng = (long) rows * (cols / group);
            if (scales == null || scales.length != ng || zeros == null || zeros.length != ng)
                throw new IllegalArgumentException(name + ".scales/.zeros must each have rows·cols/group = " + ng + " values");
        } else {
            throw new IllegalArgumentException(name + ": bits must be 4 or 16, got " + bits);
        }
    }

    /** The 4-bit code at (r, c). */
    public int code(int r, int c) {
        return (qweight[r * (cols / 8) + c / 8] >>> (4 * (c % 8))) & 15;
    }

    /** The dequantised value at (r, c), exact in double. */
    public double value(int r, int c) {
        if (bits == 16) return Float.float16ToFloat(fp16[r * cols + c]);
        int gi = r * (cols / group) + c / group;
        return (code(r, c) - (double) Float.float16ToFloat(zeros[gi])) * Float.float16ToFloat(scales[gi]);
    }

    /** Bytes of this factor in format v1 (codes + fp16 scales and zeros, or fp16 values). */
    public long bytes() {
        return bits == 16 ? 2L * rows * cols : (long) rows * cols / 2 + 4L * rows * (cols / group);
    }

    /** An fp16 factor from float values (rounded to fp16; CALDERA's 16-bit factors are fp16-exact already). */
    public static Factor fp16(String name, int rows, int cols, float[] v) {
        short[] h = new short[v.length];
        for (int i = 0; i < v.length; i++) h[i] = Float.floatToFloat16(v[i]);
        return new Factor(name, rows, cols, 16, 0, h, null, null, null);
    }

    /** A 4-bit factor from a format-v1 quantised matrix (same word order, scales and zeros). */
    public static Factor of(String name, dev.caldera4j.quant.QuantizedMatrix q) {
        if (q.bits() != 4) throw new IllegalArgumentException(name + ": GPU factors are 4-bit or fp16, got " + q.bits() + " bits");
        return new Factor(name, q.dOut(), q.dIn(), 4, q.group(), null, q.qweight(), q.scales(), q.zeros());
    }
}
