package dev.caldera4j.quant;

/**
 * Round to nearest: each group's grid fitted by min-max (asymmetric) or absmax (symmetric), each
 * weight its nearest grid point. The baseline GPTQ must beat. Ignores actOrder and the GPTQ
 * damping settings of the config.
 */
public final class Rtn {
    private Rtn() {}

    /** W (dOut, dIn) row-major float32 → codes, fp16 scales and zeros in format v1. */
    public static QuantizedMatrix quantize(float[] W, int dOut, int dIn, QuantConfig c) {
        if (dOut < 1 || W.length != (long) dOut * dIn)
            throw new IllegalArgumentException("Rtn.quantize: W has " + W.length + " elements, expected (dOut, dIn) = ("
                    + dOut + ", " + dIn + ")");
        int group = c.groupFor(dIn, "Rtn.quantize"), G = dIn / group, maxq = c.maxq();
        int[] codes = new int[dOut * dIn];
        short[] scales = new short[dOut * G], zeros = new short[dOut * G];
        double[] row = new double[dIn];
        for (int r = 0; r < dOut; r++) {
            for (int j = 0; j < dIn; j++) row[j] = W[r * dIn + j];
            for (int g = 0; g < G; g++) {
                int idx = r * G + g;
                Quantizer.fit(row, g * group, group, c.bits(), c.symmetric(), scales, zeros, idx);
                float s = Float.float16ToFloat(scales[idx]), z = Float.float16ToFloat(zeros[idx]);
                for (int j = g * group; j < (g + 1) * group; j++) codes[r * dIn + j] = Quantizer.code(row[j], s, z, maxq);
            }
        }
        return new QuantizedMatrix(dOut, dIn, c.bits(), group, Packing.pack(codes, dOut, dIn, c.bits()), scales, zeros);
    }
}
