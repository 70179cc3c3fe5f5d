package dev.caldera4j.calib;

import dev.caldera4j.model.Linear;
import dev.caldera4j.model.Qwen2Config;
import dev.caldera4j.model.Qwen2Model;
import dev.caldera4j.model.Qwen2Weights;
import dev.caldera4j.quant.HessianAccumulator;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.function.IntConsumer;

/**
 * GPTQ's sequential scheme, for any {@link LayerCompressor}: block ℓ is run on the current
 * calibration activations to collect the Hessian H = XᵀX/n of each linear input (q/k/v share
 * one, gate/up share one; float64), its seven linears are compressed, and the COMPRESSED block's
 * outputs become the inputs of block ℓ+1, so each block is fitted to the errors of those before it.
 *
 * <p>Memory: one block's weights (dense and compressed), the activations of every calibration
 * window (seqs·seqlen·hidden floats: 8.6 GB at 72B with 128 × 2048, what GPTQ keeps on its GPU),
 * the Hessians of one block (7 GB for 72B's down_proj alone) and a one-layer KV cache
 * ({@link Qwen2Model#newBlockCache}). Nothing here needs the whole model: blocks come from
 * whoever calls {@link #compressBlock} (a checkpoint read block by block in
 * {@link CheckpointCompressor}, or the in-memory weights in {@link #compress}).
 */
public final class SequentialCompressor {
    private SequentialCompressor() {}

    /** The four input sites of a block, as {@link Qwen2Model.LinearInputHook} names them. */
    public static final List<String> SITES = List.of("qkv", "o", "gate_up", "down");

    /** For each site, the linears (indices into {@link Qwen2Weights.Block#LINEAR_NAMES}) that read it. */
    static final int[][] SITE_LINEARS = {{0, 1, 2}, {3}, {4, 5}, {6}};

    /** The site of linear i (index into LINEAR_NAMES). */
    static int siteOf(int linear) {
        for (int s = 0; s < SITE_LINEARS.length; s++) for (int i : SITE_LINEARS[s]) if (i == linear) return s;
        throw new IllegalArgumentException("linear index " + linear);
    }

    /** Input width of a site: hidden (qkv, gate_up), heads·head_dim (o), intermediate (down). */
    public static int siteDim(Qwen2Config c, int site) {
        return switch (site) {
            case 0, 2 -> c.hiddenSize();
            case 1 -> c.qDim();
            case 3 -> c.intermediateSize();
            default -> throw new IllegalArgumentException("site " + site);
        };
    }

    /** The tensor prefix of linear i of a layer, e.g. model.layers.3.mlp.down_proj. */
    public static String linearName(int layer, int i) {
        return "model.layers." + layer + "." + Qwen2Weights.Block.LINEAR_NAMES[i];
    }

    /** X[s] (seqlen, hidden): the embedding rows of each window, from an in-memory (vocab, hidden) embedding. */
    public static float[][] embed(Qwen2Config c, float[] embed, int[][] tokens) {
        int h = c.hiddenSize();
        float[][] X = new float[tokens.length][];
        for (int s = 0; s < tokens.length; s++) {
            X[s] = new float[tokens[s].length * h];
            for (int t = 0; t < tokens[s].length; t++) {
                int id = tokens[s][t];
                if (id < 0 || id >= c.vocabSize())
                    throw new IllegalArgumentException("calibration token " + id + " (window " + s + ", position " + t
                            + ") is outside the vocabulary [0, " + c.vocabSize() + "): tokenize with the model's own tokenizer");
                System.arraycopy(embed, id * h, X[s], t * h, h);
            }
        }
        return X;
    }

    /**
     * The Hessians H = XᵀX/n (float64, (d, d) row-major) of the sites with want[site], from running
     * block b on every window of X (X is not modified; each window runs on a copy). Unwanted sites
     * are null.
     */
    public static double[][] hessians(Qwen2Model runner, Qwen2Weights.Block b, int layer, float[][] X, int seqlen, boolean[] want) {
        Qwen2Config c = runner.config();
        HessianAccumulator[] acc = new HessianAccumulator[SITES.size()];
        try {
            for (int s = 0; s < acc.length; s++) if (want[s]) acc[s] = new HessianAccumulator(siteDim(c, s));
            Qwen2Model.KVCache cache = runner.newBlockCache(seqlen);
            Qwen2Model.LinearInputHook hook = (l, site, x, rows) -> {
                HessianAccumulator a = acc[SITES.indexOf(site)];
                if (a != null) a.add(x, rows);
            };
            for (float[] x : X) {
                cache.reset();
                runner.block(b, layer, x.clone(), seqlen, cache, hook);
            }
            double[][] H = new double[SITES.size()][];
            for (int s = 0; s < acc.length; s++) if (acc[s] != null) H[s] = acc[s].H();
            return H;
        } finally {
            for (HessianAccumulator a : acc) if (a != null) a.close();
        }
    }

    /** X[s] ← block b applied to X[s], for every window (in place). */
    public static void forward(Qwen2Model runner, Qwen2Weights.Block b, int layer, float[][] X, int seqlen) {
        Qwen2Model.KVCache cache = runner.newBlockCache(seqlen);
        for (float[] x : X) {
            cache.reset();
            runner.block(b, layer, x, seqlen, cache, null);
        }
    }

    /**
     * One compressed block.
     *
     * @param block   the block with its seven linears compressed (norms unchanged)
     * @param linears the seven results in {@link Qwen2Weights.Block#LINEAR_NAMES} order
     */
    public record BlockResult(Qwen2Weights.Block block, LayerCompressor.Result[] linears) {}

    /**
     * Compresses the seven linears of block {@code layer}, given its inputs X (seqs windows of
     * (seqlen, hidden); not modified), or with no Hessians when X is null (data-free methods).
     *
     * @param linearDone called after each linear is compressed (progress)
     */
    public static BlockResult compressBlock(Qwen2Model runner, Qwen2Weights.Block dense, int layer, float[][] X, int seqlen,
                                            LayerCompressor comp, boolean trueSequential, IntConsumer linearDone) {
        Linear[] lin = dense.linears();
        Linear[] out = lin.clone();
        LayerCompressor.Result[] res = new LayerCompressor.Result[lin.length];
        double[][] H = new double[SITES.size()][];
        if (X != null && !trueSequential) {
            boolean[] all = new boolean[SITES.size()];
            Arrays.fill(all, true);
            H = hessians(runner, dense, layer, X, seqlen, all);
        }
        for (int site = 0; site < SITES.size(); site++) {
            if (X != null && trueSequential) {
                boolean[] one = new boolean[SITES.size()];
                one[site] = true;
                // the groups before this one are compressed already: their errors shape this Hessian
                H[site] = hessians(runner, dense.withLinears(out), layer, X, seqlen, one)[site];
            }
            for (int i : SITE_LINEARS[site]) {
                Linear d = lin[i];
                res[i] = comp.compress(linearName(layer, i), d.denseWeight(), d.dOut(), d.dIn(), H[site], d.bias());
                if (res[i].layer().dOut() != d.dOut() || res[i].layer().dIn() != d.dIn())
                    throw new IllegalStateException(linearName(layer, i) + ": the compressor returned a (" + res[i].layer().dOut()
                            + ", " + res[i].layer().dIn() + ") layer for a (" + d.dOut() + ", " + d.dIn() + ") weight");
                out[i] = res[i].layer();
                if (linearDone != null) linearDone.accept(1);
            }
            H[site] = null; // a 72B down_proj Hessian is 7 GB: let it go before the next one
        }
        return new BlockResult(dense.withLinears(out), res);
    }

    /**
     * A whole model compressed in memory (small models: tests, notebooks; the checkpoint path,
     * {@link CheckpointCompressor}, is the one that scales and resumes).
     *
     * @param weights every block with its linears compressed; embedding, norms, lm_head shared with the input
     * @param linears layer-major, seven per block in LINEAR_NAMES order
     */
    public record Compressed(Qwen2Weights weights, List<LayerCompressor.Result> linears) {}

    /**
     * Compresses every block of {@code dense} in order with {@code comp}, calibrating on
     * {@code calib} (seqs, seqlen) token windows, or data-free when calib is null.
     *
     * @param progress called with the number of linears done so far (7 per block), or null
     */
    public static Compressed compress(Qwen2Weights dense, int[][] calib, LayerCompressor comp, boolean trueSequential,
                                      IntConsumer progress) {
        Qwen2Config c = dense.config();
        Qwen2Model runner = Qwen2Model.blockRunner(c);
        int seqlen = calib == null ? 0 : calib[0].length;
        float[][] X = calib == null ? null : embed(c, dense.embed(), calib);
        Qwen2Weights w = dense;
        List<LayerCompressor.Result> all = new ArrayList<>();
        int[] done = {0};
        for (int l = 0; l < c.numLayers(); l++) {
            BlockResult br = compressBlock(runner, dense.layers()[l], l, X, seqlen, comp, trueSequential,
                    k -> { done[0] += k; if (progress != null) progress.accept(done[0]); });
            w = w.withBlock(l, br.block());
            all.addAll(List.of(br.linears()));
            if (X != null && l + 1 < c.numLayers()) forward(runner, br.block(), l, X, seqlen);
        }
        return new Compressed(w, all);
    }
}
