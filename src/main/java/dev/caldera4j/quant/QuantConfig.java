package dev.caldera4j.quant;

/**
 * How one weight matrix is quantised (RTN or GPTQ).
 *
 * @param bits               code width bq ∈ {2, 3, 4, 8}
 * @param group              input columns per (scale, zero) pair; -1 or 0 = per output channel
 *                           (one group spanning d_in). d_in must be a multiple of it.
 * @param symmetric          true: zero = 2^(bits−1), scale = 2·absmax/(2^bits − 1) (GPTQ's "sym");
 *                           false: min-max grid with an integer zero in [0, 2^bits − 1]
 * @param actOrder           GPTQ only: quantise columns by descending diag(H), with static groups
 *                           (group parameters fitted on the original W in original column order)
 * @param percdamp           GPTQ damping λ: H += λ·mean(diag H)·I
 * @param blocksize          GPTQ lazy-update block width (columns); changes speed, not results
 * @param maxDampEscalations GPTQ: how many times λ may be multiplied by 10 when Cholesky fails
 *                           before giving up with an exception
 */
public record QuantConfig(int bits, int group, boolean symmetric, boolean actOrder, double percdamp,
                          int blocksize, int maxDampEscalations) {

    public static final double DEFAULT_PERCDAMP = 0.01;
    public static final int DEFAULT_BLOCKSIZE = 128;
    /** λ may go 0.01 → 0.1 → 1 → 10 → 100: beyond that H is mostly damping and GPTQ degenerates to RTN. */
    public static final int DEFAULT_MAX_DAMP_ESCALATIONS = 4;

    public QuantConfig {
        if (bits != 2 && bits != 3 && bits != 4 && bits != 8)
            throw new IllegalArgumentException("QuantConfig: bits=" + bits + " is not supported; format v1 stores 2, 3, 4 or 8-bit codes");
        if (group < -1)
            throw new IllegalArgumentException("QuantConfig: group=" + group
                    + " is invalid; use a positive group size (e.g. 128) or -1/0 for one group per output channel");
        if (!(percdamp > 0) || !Double.isFinite(percdamp))
            throw new IllegalArgumentException("QuantConfig: percdamp=" + percdamp + " must be a positive finite number (default 0.01)");
        if (blocksize < 1)
            throw new IllegalArgumentException("QuantConfig: blocksize=" + blocksize + " must be at least 1 (default 128)");
        if (maxDampEscalations < 0)
            throw new IllegalArgumentException("QuantConfig: maxDampEscalations=" + maxDampEscalations + " must be >= 0");
    }

    /**
     * Defaults: asymmetric, percdamp 0.01, blocksize 128, 4 damping escalations, act-order on at
     * 2 bits only (where issue 4 measured it to matter; static groups make it free in the format).
     */
    public static QuantConfig of(int bits, int group) {
        return new QuantConfig(bits, group, false, bits == 2, DEFAULT_PERCDAMP, DEFAULT_BLOCKSIZE, DEFAULT_MAX_DAMP_ESCALATIONS);
    }

    public QuantConfig withActOrder(boolean actOrder) {
        return new QuantConfig(bits, group, symmetric, actOrder, percdamp, blocksize, maxDampEscalations);
    }

    public QuantConfig withSymmetric(boolean symmetric) {
        return new QuantConfig(bits, group, symmetric, actOrder, percdamp, blocksize, maxDampEscalations);
    }

    public QuantConfig withDamping(double percdamp, int maxDampEscalations) {
        return new QuantConfig(bits, group, symmetric, actOrder, percdamp, blocksize, maxDampEscalations);
    }

    public QuantConfig withBlocksize(int blocksize) {
        return new QuantConfig(bits, group, symmetric, actOrder, percdamp, blocksize, maxDampEscalations);
    }

    /** True when one group spans the whole input dimension. */
    public boolean perChannel() {
        return group <= 0;
    }

    /** Largest code, 2^bits − 1. */
    public int maxq() {
        return (1 << bits) - 1;
    }

    /**
     * The group size for a matrix with dIn input columns (dIn itself when per-channel), checking
     * that it divides dIn and (at 3 bits) that dIn is a multiple of 32, as format v1 requires.
     */
    public int groupFor(int dIn, String what) {
        if (dIn < 1) throw new IllegalArgumentException(what + ": d_in=" + dIn + " must be positive");
        if (bits == 3 && dIn % 32 != 0)
            throw new IllegalArgumentException(what + ": 3-bit codes need d_in to be a multiple of 32 (format v1), got d_in="
                    + dIn + "; pad d_in or use 2/4/8 bits");
        if (perChannel()) return dIn;
        if (dIn % group != 0)
            throw new IllegalArgumentException(what + ": d_in=" + dIn + " is not a multiple of group=" + group
                    + " (format v1 requires whole groups); choose a group that divides " + dIn + " or -1 for per-channel");
        return group;
    }
}
