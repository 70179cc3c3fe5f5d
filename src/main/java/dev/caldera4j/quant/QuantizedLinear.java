package dev.caldera4j.quant;

import dev.caldera4j.linalg.Gemm;
import dev.caldera4j.model.Linear;

/**
 * A quantised linear layer on the CPU: y = x·dequant(Q)ᵀ + bias.
 *
 * <p>Two modes, same results up to float summation order:
 * <ul>
 *   <li>decode on the fly (default, {@link #QuantizedLinear(QuantizedMatrix, float[])}): for
 *       each tile of output rows, decode the tile to float and multiply it with x by sgemm.
 *       Memory: the packed matrix plus one tile (≤ ~1 MB) per call.</li>
 *   <li>cached ({@link #cached}): the dequantised float32 weight is built once and kept.
 *       Memory: 4·dOut·dIn bytes, i.e. 32/bq times the packed codes (16× at 2 bits); worth it
 *       for a small model evaluated over many tokens, not for a 72B one.</li>
 * </ul>
 * {@link #forwardNaive} is the plain-Java twin both are tested against.
 */
public final class QuantizedLinear implements Linear {
    /** Bytes per bias element in the checkpoint: format v1 keeps the bias in its original 16-bit dtype (bf16 for Qwen2). */
    public static final int BIAS_BYTES = 2;
    /** Decoded tile size cap in floats (1 MB): large enough for an efficient sgemm, small enough to stay out of humongous allocations. */
    private static final int TILE_FLOATS = 1 << 18;

    /** The quantised weight, (dOut, dIn). */
    public final QuantizedMatrix Q;
    private final float[] bias;  // (dOut) or null
    private final float[] dense; // (dOut, dIn) dequantised cache, or null when decoding on the fly

    /** Decode-on-the-fly layer; bias (dOut) may be null. */
    public QuantizedLinear(QuantizedMatrix Q, float[] bias) {
        this(Q, bias, null);
    }

    private QuantizedLinear(QuantizedMatrix Q, float[] bias, float[] dense) {
        if (bias != null && bias.length != Q.dOut())
            throw new IllegalArgumentException("QuantizedLinear: bias has " + bias.length + " elements, expected d_out=" + Q.dOut());
        this.Q = Q;
        this.bias = bias;
        this.dense = dense;
    }

    /** A layer that keeps the dequantised float32 weight (4·dOut·dIn bytes) and multiplies with one sgemm. */
    public static QuantizedLinear cached(QuantizedMatrix Q, float[] bias) {
        return new QuantizedLinear(Q, bias, Q.dequantize());
    }

    @Override
    public int dIn() {
        return Q.dIn();
    }

    @Override
    public int dOut() {
        return Q.dOut();
    }

    @Override
    public void forward(float[] x, int rows, float[] y) {
        int dIn = Q.dIn(), dOut = Q.dOut();
        checkBuffers(x, rows, y);
        if (rows == 0) return;
        if (dense != null) {
            Gemm.matmulTransB(x, dense, y, rows, dOut, dIn, false);
            if (bias != null) for (int r = 0; r < rows; r++) for (int o = 0; o < dOut; o++) y[r * dOut + o] += bias[o];
            return;
        }
        int T = Math.max(1, Math.min(dOut, TILE_FLOATS / dIn));
        float[] Wt = new float[T * dIn]; // (t, dIn) decoded rows o0 .. o0+t
        float[] yt = new float[rows * T]; // (rows, t)
        for (int o0 = 0; o0 < dOut; o0 += T) {
            int t = Math.min(T, dOut - o0);
            Q.dequantizeRows(o0, t, Wt);
            Gemm.matmulTransB(x, Wt, yt, rows, t, dIn, false);
            for (int r = 0; r < rows; r++)
                for (int j = 0; j < t; j++)
                    y[r * dOut + o0 + j] = yt[r * t + j] + (bias == null ? 0f : bias[o0 + j]);
        }
    }

    /** Plain-Java twin of {@link #forward}: every weight through {@link QuantizedMatrix#code}, float accumulation in input order. */
    public void forwardNaive(float[] x, int rows, float[] y) {
        int dIn = Q.dIn(), dOut = Q.dOut(), group = Q.group();
        checkBuffers(x, rows, y);
        for (int r = 0; r < rows; r++) {
            for (int o = 0; o < dOut; o++) {
                float s = 0f;
                for (int c = 0; c < dIn; c++) {
                    int g = c / group;
                    s += x[r * dIn + c] * Quantizer.dequant(Q.code(o, c), Q.scale(o, g), Q.zero(o, g));
                }
                y[r * dOut + o] = bias == null ? s : s + bias[o];
            }
        }
    }

    /** Packed codes + fp16 scales and zeros + the bias in its 16-bit checkpoint dtype. */
    @Override
    public long storedBytes() {
        return Q.storedBytes() + (bias == null ? 0 : (long) BIAS_BYTES * bias.length);
    }

    @Override
    public float[] denseWeight() {
        return dense != null ? dense.clone() : Q.dequantize();
    }

    @Override
    public float[] bias() {
        return bias;
    }

    private void checkBuffers(float[] x, int rows, float[] y) {
        if (rows < 0 || x.length < (long) rows * Q.dIn() || y.length < (long) rows * Q.dOut())
            throw new IllegalArgumentException("QuantizedLinear.forward: x has " + x.length + " and y " + y.length
                    + " elements; need (rows, dIn) = (" + rows + ", " + Q.dIn() + ") and (rows, dOut) = (" + rows + ", " + Q.dOut() + ")");
    }
}
