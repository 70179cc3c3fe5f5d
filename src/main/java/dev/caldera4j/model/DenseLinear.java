package dev.caldera4j.model;

import dev.caldera4j.linalg.Gemm;

/**
 * A dense float32 linear layer: y = x·Wᵀ + bias through OpenBLAS sgemm.
 *
 * @param W     weight (dOut, dIn) row-major
 * @param bias  (dOut) or null
 * @param dOut  output features
 * @param dIn   input features
 * @param storedBytesPerParam bytes each weight occupied in the checkpoint (2 for bf16/f16), for footprint reports
 */
public record DenseLinear(float[] W, float[] bias, int dOut, int dIn, int storedBytesPerParam) implements Linear {

    public DenseLinear {
        if (dOut <= 0 || dIn <= 0) throw new IllegalArgumentException("DenseLinear: dOut=" + dOut + " dIn=" + dIn + " must be positive");
        if (W.length != (long) dOut * dIn) {
            throw new IllegalArgumentException("DenseLinear: W has " + W.length + " values, expected dOut·dIn = "
                    + dOut + "·" + dIn + " = " + (long) dOut * dIn);
        }
        if (bias != null && bias.length != dOut) {
            throw new IllegalArgumentException("DenseLinear: bias has " + bias.length + " values, expected dOut = " + dOut);
        }
    }

    public DenseLinear(float[] W, float[] bias, int dOut, int dIn) {
        this(W, bias, dOut, dIn, 2);
    }

    @Override
    public void forward(float[] x, int rows, float[] y) {
        Gemm.matmulTransB(x, W, y, rows, dOut, dIn, false);
        if (bias != null) {
            for (int r = 0; r < rows; r++) {
                int o = r * dOut;
                for (int j = 0; j < dOut; j++) y[o + j] += bias[j];
            }
        }
    }

    @Override
    public long storedBytes() {
        return (long) dOut * dIn * storedBytesPerParam + (bias == null ? 0 : (long) dOut * storedBytesPerParam);
    }

    @Override
    public float[] denseWeight() {
        return W;
    }
}
