package dev.caldera4j.experiment;

import dev.caldera4j.model.Qwen2Config;
import dev.caldera4j.plan.Footprint;

/**
 * Stage 1 (issue 5): CALDERA's configuration matrix scaled to the small model.
 */
public final class Stage1 {
    private Stage1() {}

    /** Q's grid in every Stage-1 row: 2 bits, group 128 (act-order, static groups). */
    public static final int BQ = 2, GROUP = 128;
    /** The seed's ranks on Qwen2-72B; the small model's ranks are matched to their overhead. */
    public static final int[] RANKS_72B = {64, 128, 256};

    /**
     * Bits per parameter the L·R factors add to the decoder's linears of {@code c} at this rank and
     * factor width (16 = fp16), exactly as format v1 stores them ({@link Footprint#linearBytes}: codes,
     * scales and zeros of L and R, R grouped along d_in with group 128, L along the rank with min(r, 128)).
     */
    public static double overheadBits(Qwen2Config c, int rank, int bits) {
        Footprint.Settings with = new Footprint.Settings(BQ, GROUP, rank, bits, bits, GROUP, false, 16, 128, false);
        Footprint.Settings without = with.withRank(0);
        return (linearBytes(c, with) - linearBytes(c, without)) * 8.0 / Footprint.linearParams(c);
    }

    private static long linearBytes(Qwen2Config c, Footprint.Settings s) {
        int h = c.hiddenSize(), q = c.qDim(), kv = c.kvDim(), im = c.intermediateSize();
        long perLayer = Footprint.linearBytes(q, h, s) + 2 * Footprint.linearBytes(kv, h, s) + Footprint.linearBytes(h, q, s)
                + 2 * Footprint.linearBytes(im, h, s) + Footprint.linearBytes(h, im, s);
        return c.numLayers() * perLayer;
    }

    /**
     * The rank of {@code small} whose overhead at {@code matchBits}-bit factors is closest to what
     * {@code bigRank} costs on {@code big} at the same width (ties: the smaller rank). Ranks run from 1
     * to the smallest linear dimension of the small model; with quantised factors a rank above 128
     * must be a multiple of 128 (format v1).
     *
     * <p>Stage 1 matches at 16 bits ({@link #MATCH_BITS}) and uses the same ranks for 4-bit factors.
     * Why not match the 4-bit overhead itself: format v1 groups L along the rank with group min(r, 128),
     * so every row of L pays a 32-bit scale + zero and a whole 32-bit word of codes however small r
     * is. On Qwen2-72B (rows of 8192…29568 columns) that costs little; on standin-small it dominates:
     * 4-bit rank 1 already costs more than 72B's 4-bit rank 128, so an exact 4-bit match gives ranks
     * {1, 1, ~9}, degenerate for a sweep. Matching the fp16 overhead (no scales: r·16·(d_out + d_in)
     * per matrix) gives the ratio the seed's ranks have to the model's width; each row then records
     * its exact overhead on both models.
     */
    public static int matchedRank(Qwen2Config small, Qwen2Config big, int bigRank, int matchBits) {
        double target = overheadBits(big, bigRank, matchBits);
        int maxRank = Math.min(Math.min(small.hiddenSize(), small.kvDim()), Math.min(small.qDim(), small.intermediateSize()));
        int best = 1;
        double bestDiff = Double.POSITIVE_INFINITY;
        for (int r = 1; r <= maxRank; r++) {
            if (matchBits < 16 && r > 128 && r % 128 != 0) continue;
            double d = Math.abs(overheadBits(small, r, matchBits) - target);
            if (d < bestDiff) {
                bestDiff = d;
                best = r;
            }
        }
        return best;
    }

    /** Factor width whose exact overhead the ranks are matched at (see {@link #matchedRank}). */
    public static final int MATCH_BITS = 16;
}
