package dev.caldera4j.calib;

import com.google.gson.JsonObject;
import dev.caldera4j.model.Qwen2Config;
import dev.caldera4j.plan.Overrides;
import dev.caldera4j.quant.Caldera;
import dev.caldera4j.quant.CalderaConfig;
import dev.caldera4j.quant.CompressedLinear;
import dev.caldera4j.quant.Gptq;
import dev.caldera4j.quant.QuantConfig;
import dev.caldera4j.quant.Rtn;

import java.util.List;
import java.util.Map;

/**
 * What a compression run does to every linear layer: the method and its settings. The one place
 * that maps a method name to a {@link LayerCompressor}; a new method is one more case in
 * {@link #compressor()} (and its settings in {@link #toJson()}).
 *
 * @param method          "rtn", "gptq" or "caldera"
 * @param quant           the grid of Q: bits, group (−1 = per channel), symmetric, act-order, GPTQ damping
 * @param trueSequential  within a block, take each group's Hessian after the previous groups were
 *                        compressed ([q,k,v] → [o] → [gate,up] → [down]); false: all four Hessians
 *                        from the dense block in one pass (GPTQ's two modes)
 * @param caldera         the Q + L·R settings when method is "caldera" (its Q grid is {@code quant}), else null
 * @param overrides       per-matrix exceptions (layer × kind): each listed matrix is compressed with its own
 *                        bq, group, rank, bl, br ({@link #forMatrix}); the rest with the settings above.
 *                        With method caldera a rank-0 override compresses that matrix by LDLQ (= GPTQ) alone;
 *                        with rtn/gptq only bq and group may change. lm_head is never compressed here (it is
 *                        copied), so an lm_head override is refused.
 */
public record CompressSpec(String method, QuantConfig quant, boolean trueSequential, CalderaConfig caldera, Overrides overrides) {

    public static final List<String> METHODS = List.of("rtn", "gptq", "caldera");

    public CompressSpec {
        if (!METHODS.contains(method))
            throw new IllegalArgumentException("method '" + method + "' is unknown: use one of " + METHODS);
        if (method.equals("caldera") != (caldera != null))
            throw new IllegalArgumentException("a CalderaConfig goes with method caldera and only with it (method " + method + ")");
        if (caldera != null && (caldera.bq() != quant.bits() || caldera.group() != quant.group() || caldera.actOrder() != quant.actOrder()))
            throw new IllegalArgumentException("CalderaConfig's Q grid (bq " + caldera.bq() + ", group " + caldera.group()
                    + ") must equal the spec's (bq " + quant.bits() + ", group " + quant.group() + ")");
        if (overrides == null) overrides = Overrides.NONE;
        if (overrides.map().containsKey(Overrides.LM_HEAD))
            throw new IllegalArgumentException("an lm_head override cannot be honoured: the compressor copies lm_head (and the"
                    + " embedding) unchanged; drop it from the map (the footprint planner takes lm_head settings separately)");
        if (!method.equals("caldera"))
            for (var e : overrides.map().entrySet())
                if (e.getValue().rank() != 0)
                    throw new IllegalArgumentException("override '" + e.getKey() + "' asks for rank " + e.getValue().rank()
                            + " but method " + method + " has no low-rank term: use method caldera or rank 0");
    }

    public CompressSpec(String method, QuantConfig quant, boolean trueSequential, CalderaConfig caldera) {
        this(method, quant, trueSequential, caldera, Overrides.NONE);
    }

    public CompressSpec(String method, QuantConfig quant, boolean trueSequential) {
        this(method, quant, trueSequential, null);
    }

    public CompressSpec withOverrides(Overrides o) {
        return new CompressSpec(method, quant, trueSequential, caldera, o);
    }

    /** The base setting as an override entry (what a matrix without one gets). */
    public Overrides.Setting baseSetting() {
        int g = quant.perChannel() ? -1 : quant.group();
        return caldera == null ? Overrides.Setting.q(quant.bits(), g)
                : new Overrides.Setting(quant.bits(), g, caldera.rank(), caldera.bl(), caldera.br());
    }

    /**
     * The spec (without overrides) that compresses one matrix with setting {@code s}: the Q grid
     * becomes (s.bq, s.group) with every other Q option kept; for caldera the low-rank term becomes
     * (s.rank, s.bl, s.br), and rank 0 turns it into GPTQ with caldera's Q step settings (LDLQ is GPTQ).
     */
    public CompressSpec withSetting(Overrides.Setting s) {
        QuantConfig q = new QuantConfig(s.bq(), s.group(), quant.symmetric(), quant.actOrder(), quant.percdamp(),
                quant.blocksize(), quant.maxDampEscalations());
        if (caldera == null) return new CompressSpec(method, q, trueSequential);
        if (s.rank() == 0) {
            QuantConfig lq = new QuantConfig(s.bq(), s.group(), false, caldera.actOrder(), caldera.percdamp(),
                    QuantConfig.DEFAULT_BLOCKSIZE, caldera.maxDampEscalations());
            return new CompressSpec("gptq", lq, trueSequential);
        }
        return new CompressSpec(method, q, trueSequential, caldera.withQ(s.bq(), s.group()).withLowRank(s.rank(), s.bl(), s.br()));
    }

    /** The spec (without overrides) of matrix (layer, kind): its override applied, or this spec's base. */
    public CompressSpec forMatrix(int layer, int kind) {
        Overrides.Setting s = overrides.get(layer, kind);
        return s == null ? withOverrides(Overrides.NONE) : withSetting(s);
    }

    public static CompressSpec rtn(QuantConfig q) {
        return new CompressSpec("rtn", q, false);
    }

    public static CompressSpec gptq(QuantConfig q) {
        return new CompressSpec("gptq", q, false);
    }

    /** True when the method needs calibration Hessians (RTN uses them only to report proxy errors). */
    public boolean needsHessian() {
        return !method.equals("rtn");
    }

    /**
     * The layer compressor of this method and settings; with overrides, each matrix (named by its
     * tensor prefix, model.layers.N.*_proj) is compressed by its own {@link #forMatrix} spec.
     */
    public LayerCompressor compressor() {
        if (!overrides.isEmpty()) {
            return (name, W, dOut, dIn, H, bias) -> {
                int[] lk = Overrides.locate(name);
                CompressSpec s = lk == null ? withOverrides(Overrides.NONE) : forMatrix(lk[0], lk[1]);
                return s.compressor().compress(name, W, dOut, dIn, H, bias);
            };
        }
        return switch (method) {
            case "rtn" -> this::rtnLayer;
            case "gptq" -> this::gptqLayer;
            case "caldera" -> this::calderaLayer;
            default -> throw new AssertionError(method);
        };
    }

    private LayerCompressor.Result rtnLayer(String name, float[] W, int dOut, int dIn, double[] H, float[] bias) {
        CompressedLinear cl = new CompressedLinear(Rtn.quantize(W, dOut, dIn, quant), null, null, bias);
        return LayerCompressor.Result.of(cl, W, H, false, Map.of(), List.of());
    }

    private LayerCompressor.Result gptqLayer(String name, float[] W, int dOut, int dIn, double[] H, float[] bias) {
        if (H == null) throw new IllegalArgumentException("GPTQ " + name + " needs calibration data (a Hessian); none was given");
        Gptq.Result r = Gptq.quantize(W, dOut, dIn, H, quant, name);
        return new LayerCompressor.Result(new CompressedLinear(r.Q(), null, null, bias), r.proxyError(), quant.actOrder(),
                Map.of("percdamp", r.percdamp(), "damp_escalations", r.dampEscalations()), r.log());
    }

    private LayerCompressor.Result calderaLayer(String name, float[] W, int dOut, int dIn, double[] H, float[] bias) {
        if (H == null) throw new IllegalArgumentException("CALDERA " + name + " needs calibration data (a Hessian); none was given");
        Caldera.Result r = Caldera.decompose(W, dOut, dIn, H, caldera, name);
        CompressedLinear cl = new CompressedLinear(r.layer().Q(), r.layer().lr(), r.layer().inc(), bias);
        return new LayerCompressor.Result(cl, r.proxyError(), caldera.actOrder(),
                Map.of("best_iteration", r.bestIteration(), "best_after_lowrank", r.bestAfterLowRank()), r.log());
    }

    /**
     * Checks every linear shape of the model against the grid (group divides d_in, 3-bit d_in a
     * multiple of 32) before anything runs, so a bad setting fails at once, not at layer 40.
     */
    public void checkShapes(Qwen2Config c) {
        int h = c.hiddenSize(), q = c.qDim(), im = c.intermediateSize();
        quant.groupFor(h, "q/k/v/gate/up_proj (d_in = hidden_size " + h + ")");
        quant.groupFor(q, "o_proj (d_in = heads·head_dim " + q + ")");
        quant.groupFor(im, "down_proj (d_in = intermediate_size " + im + ")");
        overrides.checkLayers(c.numLayers(), "compress");
        int[][] shapes = {{c.qDim(), h}, {c.kvDim(), h}, {c.kvDim(), h}, {h, q}, {im, h}, {im, h}, {h, im}};
        for (var e : overrides.map().entrySet()) {
            int[] lk = Overrides.parseKey(e.getKey());
            CompressSpec s = withSetting(e.getValue());
            int[] sh = shapes[lk[1]];
            s.quant.groupFor(sh[1], "override " + e.getKey() + " (" + sh[0] + " x " + sh[1] + ")");
            if (s.caldera != null) s.caldera.checkShape(sh[0], sh[1], "override " + e.getKey());
        }
    }

    /** The settings as written to caldera4j.json and compared when a run resumes. */
    public JsonObject toJson() {
        JsonObject o = new JsonObject();
        o.addProperty("method", method);
        o.addProperty("bq", quant.bits());
        o.addProperty("group", quant.perChannel() ? -1 : quant.group());
        o.addProperty("symmetric", quant.symmetric());
        o.addProperty("act_order", method.equals("rtn") ? false : quant.actOrder());
        if (!method.equals("rtn")) {
            o.addProperty("percdamp", quant.percdamp());
            o.addProperty("blocksize", quant.blocksize());
            o.addProperty("max_damp_escalations", quant.maxDampEscalations());
        }
        o.addProperty("true_sequential", trueSequential);
        if (caldera != null) {
            o.addProperty("rank", caldera.rank());
            o.addProperty("bl", caldera.bl());
            o.addProperty("br", caldera.br());
            o.addProperty("outer_iters", caldera.outerIters());
            o.addProperty("lr_als_iters", caldera.lrAlsIters());
            o.addProperty("hadamard", caldera.hadamard());
            if (caldera.hadamard()) o.addProperty("hadamard_seed", caldera.seed());
            o.addProperty("hessian_downdate", caldera.hessianDowndate());
            o.addProperty("r_ldlq", caldera.rLdlq());
        }
        if (!overrides.isEmpty()) o.add("overrides", overrides.toJson());
        return o;
    }
}
