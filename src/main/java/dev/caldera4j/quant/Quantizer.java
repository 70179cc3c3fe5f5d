package dev.caldera4j.quant;

/**
 * The uniform grid shared by RTN and GPTQ: fitting one group's (scale, zero), choosing a code,
 * and the dequantisation rule w = (q − zero)·scale that format v1 stores.
 *
 * <p>Scale and zero are rounded to fp16 BEFORE any code is chosen, so the codes are the nearest
 * points of the grid that is actually stored, and {@link QuantizedMatrix#dequantize()} reproduces
 * exactly the values the quantiser used (GPTQ's error feedback included).
 */
public final class Quantizer {
    private Quantizer() {}

    /** Smallest positive fp16 (2⁻²⁴): a scale that underflows fp16 is raised to this, so codes stay finite. */
    static final float MIN_SCALE = Float.float16ToFloat((short) 1);
    /** Largest finite fp16. */
    static final float MAX_SCALE = 65504f;

    /**
     * Fits the grid of one group (values w[off .. off+len)) and stores it as fp16 bits at
     * scales[idx], zeros[idx].
     *
     * <p>Asymmetric (GPTQ's default): xmin = min(0, min w), xmax = max(0, max w) (the range always
     * contains 0, so exact zeros stay exact); scale = (xmax − xmin)/maxq;
     * zero = round(−xmin/scale) clamped to [0, maxq] (an integer, exact in fp16).
     * Symmetric: scale = 2·absmax/maxq, zero = 2^(bits−1) = (maxq + 1)/2, as GPTQ's sym=True
     * (codes 0..maxq span [−2^(b−1), 2^(b−1) − 1]·scale). Unlike the reference we use absmax also
     * when every value is ≥ 0 (the reference then halves the range and clips).
     * An all-zero group gets the range [−1, 1] as in the reference.
     */
    public static void fit(double[] w, int off, int len, int bits, boolean symmetric,
                           short[] scales, short[] zeros, int idx) {
        int maxq = (1 << bits) - 1;
        double xmin = 0, xmax = 0;
        for (int i = off; i < off + len; i++) {
            double v = w[i];
            if (!Double.isFinite(v))
                throw new IllegalArgumentException("Quantizer.fit: weight " + v + " at group offset " + (i - off)
                        + "; the matrix to quantise contains NaN or Inf");
            if (v < xmin) xmin = v;
            if (v > xmax) xmax = v;
        }
        if (symmetric) {
            double amax = Math.max(-xmin, xmax);
            if (amax == 0) amax = 1;
            float scale = toFp16Scale(2 * amax / maxq);
            scales[idx] = Float.floatToFloat16(scale);
            zeros[idx] = Float.floatToFloat16((maxq + 1) / 2f);
        } else {
            if (xmin == 0 && xmax == 0) {
                xmin = -1;
                xmax = 1;
            }
            float scale = toFp16Scale((xmax - xmin) / maxq);
            double zero = Math.min(maxq, Math.max(0, Math.rint(-xmin / scale)));
            scales[idx] = Float.floatToFloat16(scale);
            zeros[idx] = Float.floatToFloat16((float) zero);
        }
    }

    /** scale rounded to the nearest fp16, kept inside [2⁻²⁴, 65504] so that w/scale is finite. */
    private static float toFp16Scale(double scale) {
        float s = Float.float16ToFloat(Float.floatToFloat16((float) scale));
        return Math.min(MAX_SCALE, Math.max(MIN_SCALE, s));
    }

    /** The code of w on the grid (scale, zero): clamp(round(w/scale) + zero, 0, maxq), round half to even (torch.round). */
    public static int code(double w, float scale, float zero, int maxq) {
        double q = Math.rint(w / scale) + zero;
        return q <= 0 ? 0 : q >= maxq ? maxq : (int) q;
    }

    /** w = (q − zero)·scale in float32: the one dequantisation rule of format v1. */
    public static float dequant(int q, float scale, float zero) {
        return (q - zero) * scale;
    }
}
