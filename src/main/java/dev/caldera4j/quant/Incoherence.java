package dev.caldera4j.quant;

/**
 * Randomised Hadamard incoherence processing (QuIP#/CALDERA): the compressed layer approximates
 * W̃ = U·W·Vᵀ with U = H_out·diag(sv)/√d_out′ and V = H_in·diag(su)/√d_in′ (orthogonal), where
 * d′ are the dimensions zero-padded to a size the fast transform supports. Inference undoes it
 * exactly: y = W·x = Uᵀ·W̃·(V·x), so the input is transformed before Q + L·R and the output after.
 *
 * @param dIn      original input width
 * @param dOut     original output width
 * @param dInPad   padded input width d_in′ (≥ dIn)
 * @param dOutPad  padded output width d_out′ (≥ dOut)
 * @param su       (dInPad) random signs ±1 of the input side
 * @param sv       (dOutPad) random signs ±1 of the output side
 */
public record Incoherence(int dIn, int dOut, int dInPad, int dOutPad, byte[] su, byte[] sv) {

    public Incoherence {
        if (dInPad < dIn || dOutPad < dOut)
            throw new IllegalArgumentException("Incoherence: padded dims (" + dOutPad + ", " + dInPad + ") smaller than (" + dOut + ", " + dIn + ")");
        if (su.length != dInPad || sv.length != dOutPad)
            throw new IllegalArgumentException("Incoherence: su has " + su.length + " signs (want " + dInPad + "), sv " + sv.length + " (want " + dOutPad + ")");
        Hadamard.checkSupported(dInPad, "d_in′");
        Hadamard.checkSupported(dOutPad, "d_out′");
    }

    /** x (rows, dIn) → V·x per row, (rows, dInPad). */
    public float[] transformInput(float[] x, int rows) {
        float[] out = new float[rows * dInPad];
        for (int r = 0; r < rows; r++) {
            int o = r * dInPad;
            for (int i = 0; i < dIn; i++) out[o + i] = x[r * dIn + i] * su[i];
            Hadamard.transformNormalized(out, o, dInPad);
        }
        return out;
    }

    /** y′ (rows, dOutPad) → Uᵀ·y′ per row, cropped to (rows, dOut), written into y. */
    public void transformOutput(float[] yPad, int rows, float[] y) {
        float[] tmp = new float[dOutPad];
        for (int r = 0; r < rows; r++) {
            System.arraycopy(yPad, r * dOutPad, tmp, 0, dOutPad);
            Hadamard.transformNormalized(tmp, 0, dOutPad); // H is symmetric: Hᵀ = H
            for (int i = 0; i < dOut; i++) y[r * dOut + i] = tmp[i] * sv[i];
        }
    }
}
