package dev.caldera4j.quant;

import dev.caldera4j.model.Linear;

/**
 * A compressed linear layer W ≈ Q + L·R (CALDERA), or Q alone (RTN/GPTQ), optionally in a randomised
 * Hadamard basis: y = Uᵀ·(Q + L·R)·(V·x) + bias. This is format v1's layer as the CPU forward pass
 * runs it; {@link #forwardNaive} is the plain twin (dense reconstruction, then x·Wᵀ).
 *
 * @param Q     the quantised part, (dOutPad, dInPad) when incoherence is used, else (dOut, dIn)
 * @param lr    the low-rank part in the same basis, or null
 * @param inc   the incoherence transform, or null
 * @param bias  (dOut) or null, in the original basis
 */
public record CompressedLinear(QuantizedMatrix Q, LowRank lr, Incoherence inc, float[] bias) implements Linear {

    public CompressedLinear {
        int rows = inc != null ? inc.dOutPad() : Q.dOut(), cols = inc != null ? inc.dInPad() : Q.dIn();
        if (Q.dOut() != rows || Q.dIn() != cols)
            throw new IllegalArgumentException("CompressedLinear: Q is (" + Q.dOut() + ", " + Q.dIn() + "), expected (" + rows + ", " + cols + ")");
        if (lr != null && (lr.dOut() != rows || lr.dIn() != cols))
            throw new IllegalArgumentException("CompressedLinear: L·R is (" + lr.dOut() + ", " + lr.dIn() + "), expected (" + rows + ", " + cols + ")");
        if (bias != null && bias.length != (inc != null ? inc.dOut() : Q.dOut()))
            throw new IllegalArgumentException("CompressedLinear: bias has " + bias.length + " values for d_out " + (inc != null ? inc.dOut() : Q.dOut()));
    }

    @Override
    public int dIn() {
        return inc != null ? inc.dIn() : Q.dIn();
    }

    @Override
    public int dOut() {
        return inc != null ? inc.dOut() : Q.dOut();
    }

    @Override
    public void forward(float[] x, int rows, float[] y) {
        float[] xin = inc != null ? inc.transformInput(x, rows) : x;
        float[] yq = inc != null ? new float[rows * Q.dOut()] : y;
        new QuantizedLinear(Q, null).forward(xin, rows, yq);
        if (lr != null) lr.addTo(xin, rows, yq);
        if (inc != null) inc.transformOutput(yq, rows, y);
        addBias(y, rows);
    }

    /** Twin: reconstruct the dense W in the original basis and multiply plainly. */
    public void forwardNaive(float[] x, int rows, float[] y) {
        float[] W = denseWeight();
        int dIn = dIn(), dOut = dOut();
        for (int r = 0; r < rows; r++)
            for (int o = 0; o < dOut; o++) {
                double s = 0;
                for (int i = 0; i < dIn; i++) s += (double) x[r * dIn + i] * W[o * dIn + i];
                y[r * dOut + o] = (float) s;
            }
        addBias(y, rows);
    }

    private void addBias(float[] y, int rows) {
        if (bias == null) return;
        int dOut = dOut();
        for (int r = 0; r < rows; r++) for (int o = 0; o < dOut; o++) y[r * dOut + o] += bias[o];
    }

    /** Q + L·R in the original basis, (dOut, dIn). */
    @Override
    public float[] denseWeight() {
        float[] Wt = Q.dequantize();
        if (lr != null) {
            float[] LR = lr.product();
            for (int i = 0; i < Wt.length; i++) Wt[i] += LR[i];
        }
        if (inc == null) return Wt;
        // W = Uᵀ·W̃·V: transform each row by Vᵀ (= rows of W̃·V), then each column by Uᵀ
        int rp = inc.dOutPad(), cp = inc.dInPad();
        float[] rowsV = new float[rp * cp];
        for (int o = 0; o < rp; o++) {
            System.arraycopy(Wt, o * cp, rowsV, o * cp, cp);
            Hadamard.transformNormalized(rowsV, o * cp, cp);   // row·H (H symmetric)
            for (int i = 0; i < cp; i++) rowsV[o * cp + i] *= inc.su()[i];
        }
        float[] W = new float[dOut() * dIn()];
        float[] col = new float[rp];
        for (int i = 0; i < dIn(); i++) {
            for (int o = 0; o < rp; o++) col[o] = rowsV[o * cp + i];
            Hadamard.transformNormalized(col, 0, rp);
            for (int o = 0; o < dOut(); o++) W[o * dIn() + i] = col[o] * inc.sv()[o];
        }
        return W;
    }

    @Override
    public float[] bias() {
        return bias;
    }

    /** Codes, scales, zeros, factors, signs (1 byte each, as format v1's I8) and the 16-bit bias. */
    @Override
    public long storedBytes() {
        return Q.storedBytes() + (lr == null ? 0 : lr.storedBytes())
                + (inc == null ? 0 : inc.dInPad() + inc.dOutPad())
                + (bias == null ? 0 : (long) QuantizedLinear.BIAS_BYTES * bias.length);
    }

    /** Exact bits per parameter of the original W (dOut·dIn), everything stored included. */
    public double bitsPerParam() {
        return storedBytes() * 8.0 / ((double) dOut() * dIn());
    }
}
