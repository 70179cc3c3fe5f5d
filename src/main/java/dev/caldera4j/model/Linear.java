package dev.caldera4j.model;

/**
 * One linear layer y = W·x (+ bias), dense or compressed. Every projection of the model goes
 * through this interface so that compressed layers slot in without touching the forward pass.
 *
 * <p>Row-major activations: {@code x} is (rows, dIn), {@code y} is (rows, dOut). The caller owns
 * both buffers; implementations overwrite {@code y} and must not keep references to them.
 */
public interface Linear {
    /** Input features (columns of W). */
    int dIn();

    /** Output features (rows of W). */
    int dOut();

    /** y[rows, dOut] = x[rows, dIn] · Wᵀ (+ bias). */
    void forward(float[] x, int rows, float[] y);

    /** Bytes this layer's parameters occupy in their stored form (weights, scales, factors, bias). */
    long storedBytes();

    /** The dense weight this layer represents, (dOut, dIn) row-major: dequantised for compressed layers. */
    float[] denseWeight();

    /** The bias (dOut), or null. */
    float[] bias();
}
