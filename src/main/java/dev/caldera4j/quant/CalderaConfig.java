package dev.caldera4j.quant;

/**
 * How one weight matrix is decomposed by {@link Caldera}: W ≈ Q + L·R.
 *
 * @param bq                 code width of Q ∈ {2, 3, 4, 8}
 * @param group              input columns per (scale, zero) of Q, and of R when br &lt; 16; -1 or 0 =
 *                           one group per row. Must divide d_in (d_in′ with Hadamard padding)
 * @param rank               r, the inner dimension of L (d_out, r) and R (r, d_in); when bl &lt; 16,
 *                           L is grouped along r with group min(r, 128), so r ≤ 128 or a multiple of 128
 * @param bl                 bits of L: 16 (fp16) or 2, 3, 4, 8 (groupwise; 5–7 are not in format v1)
 * @param br                 bits of R, as bl
 * @param outerIters         alternations of (L·R step, Q step); the best iterate is kept
 * @param lrAlsIters         rounds of alternating least squares with quantised factors inside one
 *                           L·R step (ignored when bl = br = 16)
 * @param hadamard           decompose in a randomised Hadamard basis (QuIP#-style incoherence)
 * @param seed               seeds the Hadamard signs (mixed with the layer name) and the randomised SVD
 * @param actOrder           act-order (static groups) in the LDLQ step of Q
 * @param percdamp           LDLQ damping λ (H += λ·mean(diag H)·I) for Q and L
 * @param maxDampEscalations LDLQ: how many ×10 escalations of λ before giving up
 * @param hessianDowndate    Q step on the downdated Hessian H − H·R̂ᵀ(R̂·H·R̂ᵀ)⁻¹·R̂·H (see {@link Caldera})
 * @param rLdlq              quantise R by LDLQ with H instead of groupwise RTN (costs one d_in³
 *                           factorisation per ALS round: small models only)
 * @param sqrtDamping        the L·R fit factors H + δ·I = S·Sᵀ with δ = sqrtDamping·mean(diag H)
 *                           (escalated ×10 while Cholesky fails): only so that a singular H
 *                           factors; errors are always measured with H itself
 * @param svd                how the top-r singular subspace of (W − Q)·H^½ is found
 * @param svdOversample      randomised SVD: extra columns beyond r in the sketch
 * @param svdPowerIters      randomised SVD: power (subspace) iterations
 */
public record CalderaConfig(int bq, int group, int rank, int bl, int br, int outerIters, int lrAlsIters,
                            boolean hadamard, long seed, boolean actOrder, double percdamp, int maxDampEscalations,
                            boolean hessianDowndate, boolean rLdlq, double sqrtDamping,
                            SvdMode svd, int svdOversample, int svdPowerIters) {

    /** EXACT: dgesdd of the full (d_out, d_in) product; RANDOMIZED: subspace iteration on GEMMs; AUTO: exact up to {@link #EXACT_SVD_MAX_ELEMENTS}. */
    public enum SvdMode { AUTO, EXACT, RANDOMIZED }

    /** AUTO uses the exact SVD up to this many elements of d_out·d_in (e.g. 2048 × 2048): a few seconds of dgesdd. */
    public static final long EXACT_SVD_MAX_ELEMENTS = 1L << 22;
    public static final int DEFAULT_OUTER_ITERS = 15;
    public static final int DEFAULT_ALS_ITERS = 5;
    public static final double DEFAULT_SQRT_DAMPING = 1e-8;
    public static final int DEFAULT_POWER_ITERS = 3;

    public CalderaConfig {
        if (bq != 2 && bq != 3 && bq != 4 && bq != 8)
            throw new IllegalArgumentException("CalderaConfig: bq=" + bq + " is not supported; format v1 stores 2, 3, 4 or 8-bit codes");
        if (group < -1)
            throw new IllegalArgumentException("CalderaConfig: group=" + group + " is invalid; use a positive group (e.g. 128) or -1 for per-row");
        if (rank < 1)
            throw new IllegalArgumentException("CalderaConfig: rank=" + rank + " must be at least 1 (use GPTQ for rank 0)");
        checkFactorBits("bl", bl);
        checkFactorBits("br", br);
        if (bl < 16 && rank > 128 && rank % 128 != 0)
            throw new IllegalArgumentException("CalderaConfig: rank=" + rank + " with bl=" + bl + ": L is grouped along the rank with group "
                    + "min(rank, 128) (format v1), so a rank above 128 must be a multiple of 128");
        if (bl == 3 && rank % 32 != 0)
            throw new IllegalArgumentException("CalderaConfig: bl=3 needs rank to be a multiple of 32 (format v1: 3-bit rows of 32 codes); got rank=" + rank);
        if (outerIters < 1) throw new IllegalArgumentException("CalderaConfig: outerIters=" + outerIters + " must be at least 1 (default 15)");
        if (lrAlsIters < 1) throw new IllegalArgumentException("CalderaConfig: lrAlsIters=" + lrAlsIters + " must be at least 1 (default 5)");
        if (!(percdamp > 0) || !Double.isFinite(percdamp))
            throw new IllegalArgumentException("CalderaConfig: percdamp=" + percdamp + " must be a positive finite number (default 0.01)");
        if (maxDampEscalations < 0)
            throw new IllegalArgumentException("CalderaConfig: maxDampEscalations=" + maxDampEscalations + " must be >= 0");
        if (!(sqrtDamping >= 0 && sqrtDamping < 1))
            throw new IllegalArgumentException("CalderaConfig: sqrtDamping=" + sqrtDamping + " must lie in [0, 1) (default 1e-8)");
        if (svd == null) throw new IllegalArgumentException("CalderaConfig: svd mode is null; use SvdMode.AUTO");
        if (svdOversample < 0 || svdPowerIters < 0)
            throw new IllegalArgumentException("CalderaConfig: svdOversample=" + svdOversample + ", svdPowerIters=" + svdPowerIters + " must be >= 0");
    }

    private static void checkFactorBits(String what, int bits) {
        if (bits != 2 && bits != 3 && bits != 4 && bits != 8 && bits != 16)
            throw new IllegalArgumentException("CalderaConfig: " + what + "=" + bits + " is not supported; factors are stored at 16 bits (fp16) "
                    + "or quantised at 2, 3, 4 or 8 bits (format v1 has no 5-7-bit codes)");
    }

    /**
     * Defaults: bq = 2, group 128, 15 outer iterations, 5 ALS rounds, no Hadamard (seed 0),
     * act-order on, percdamp 0.01 with 4 escalations, no Hessian downdate, RTN for R, Cholesky
     * damping 1e-8·mean(diag H), AUTO SVD (randomised: oversampling max(16, min(r, 64)), 3 power iterations).
     */
    public static CalderaConfig of(int rank, int bl, int br) {
        return new CalderaConfig(2, 128, rank, bl, br, DEFAULT_OUTER_ITERS, DEFAULT_ALS_ITERS, false, 0L, true,
                QuantConfig.DEFAULT_PERCDAMP, QuantConfig.DEFAULT_MAX_DAMP_ESCALATIONS, false, false, DEFAULT_SQRT_DAMPING,
                SvdMode.AUTO, Math.max(16, Math.min(rank, 64)), DEFAULT_POWER_ITERS);
    }

    public CalderaConfig withQ(int bq, int group) {
        return new CalderaConfig(bq, group, rank, bl, br, outerIters, lrAlsIters, hadamard, seed, actOrder, percdamp,
                maxDampEscalations, hessianDowndate, rLdlq, sqrtDamping, svd, svdOversample, svdPowerIters);
    }

    /**
     * This config with another low-rank term (rank, bl, br); the randomised SVD's oversampling
     * follows the rank as in {@link #of} (per-matrix overrides change the rank).
     */
    public CalderaConfig withLowRank(int rank, int bl, int br) {
        return new CalderaConfig(bq, group, rank, bl, br, outerIters, lrAlsIters, hadamard, seed, actOrder, percdamp,
                maxDampEscalations, hessianDowndate, rLdlq, sqrtDamping, svd, Math.max(16, Math.min(rank, 64)), svdPowerIters);
    }

    public CalderaConfig withIters(int outerIters, int lrAlsIters) {
        return new CalderaConfig(bq, group, rank, bl, br, outerIters, lrAlsIters, hadamard, seed, actOrder, percdamp,
                maxDampEscalations, hessianDowndate, rLdlq, sqrtDamping, svd, svdOversample, svdPowerIters);
    }

    public CalderaConfig withHadamard(boolean hadamard, long seed) {
        return new CalderaConfig(bq, group, rank, bl, br, outerIters, lrAlsIters, hadamard, seed, actOrder, percdamp,
                maxDampEscalations, hessianDowndate, rLdlq, sqrtDamping, svd, svdOversample, svdPowerIters);
    }

    public CalderaConfig withActOrder(boolean actOrder) {
        return new CalderaConfig(bq, group, rank, bl, br, outerIters, lrAlsIters, hadamard, seed, actOrder, percdamp,
                maxDampEscalations, hessianDowndate, rLdlq, sqrtDamping, svd, svdOversample, svdPowerIters);
    }

    public CalderaConfig withDamping(double percdamp, int maxDampEscalations) {
        return new CalderaConfig(bq, group, rank, bl, br, outerIters, lrAlsIters, hadamard, seed, actOrder, percdamp,
                maxDampEscalations, hessianDowndate, rLdlq, sqrtDamping, svd, svdOversample, svdPowerIters);
    }

    public CalderaConfig withHessianDowndate(boolean hessianDowndate) {
        return new CalderaConfig(bq, group, rank, bl, br, outerIters, lrAlsIters, hadamard, seed, actOrder, percdamp,
                maxDampEscalations, hessianDowndate, rLdlq, sqrtDamping, svd, svdOversample, svdPowerIters);
    }

    public CalderaConfig withRLdlq(boolean rLdlq) {
        return new CalderaConfig(bq, group, rank, bl, br, outerIters, lrAlsIters, hadamard, seed, actOrder, percdamp,
                maxDampEscalations, hessianDowndate, rLdlq, sqrtDamping, svd, svdOversample, svdPowerIters);
    }

    public CalderaConfig withSqrtDamping(double sqrtDamping) {
        return new CalderaConfig(bq, group, rank, bl, br, outerIters, lrAlsIters, hadamard, seed, actOrder, percdamp,
                maxDampEscalations, hessianDowndate, rLdlq, sqrtDamping, svd, svdOversample, svdPowerIters);
    }

    public CalderaConfig withSvd(SvdMode svd, int svdOversample, int svdPowerIters) {
        return new CalderaConfig(bq, group, rank, bl, br, outerIters, lrAlsIters, hadamard, seed, actOrder, percdamp,
                maxDampEscalations, hessianDowndate, rLdlq, sqrtDamping, svd, svdOversample, svdPowerIters);
    }

    /**
     * Checks that a (dOut, dIn) weight can be decomposed with this config, in the basis it will be
     * decomposed in (Hadamard-padded dims when hadamard is on): Q's and R's group divide d_in, the
     * rank fits. Throws naming {@code what} (e.g. the layer) — call it for every shape of a model
     * before a run starts.
     */
    public void checkShape(int dOut, int dIn, String what) {
        int m = hadamard ? Hadamard.paddedSize(dOut) : dOut, n = hadamard ? Hadamard.paddedSize(dIn) : dIn;
        String basis = hadamard ? " (Hadamard-padded to (" + m + ", " + n + "))" : "";
        if (rank > Math.min(m, n))
            throw new IllegalArgumentException("Caldera " + what + basis + ": rank=" + rank + " exceeds min(d_out, d_in) = " + Math.min(m, n)
                    + "; choose a rank at most " + Math.min(m, n));
        qConfig().groupFor(n, "Caldera " + what + basis + " (Q)");
        if (br < 16) QuantConfig.of(br, group).groupFor(n, "Caldera " + what + basis + " (R)");
    }

    /** The LDLQ configuration of the Q step: asymmetric bq-bit grids, this group, act-order, damping. */
    public QuantConfig qConfig() {
        return new QuantConfig(bq, group, false, actOrder, percdamp, QuantConfig.DEFAULT_BLOCKSIZE, maxDampEscalations);
    }
}
