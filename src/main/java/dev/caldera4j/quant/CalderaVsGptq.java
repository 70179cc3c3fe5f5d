package dev.caldera4j.quant;

import java.util.ArrayList;
import java.util.List;

/**
 * CALDERA against GPTQ on one weight matrix, at matched bit budgets: the per-matrix check the
 * lead runs on real layers. Both proxy errors are tr(ΔHΔᵀ)/tr(WHWᵀ) with the same W and H, and
 * bits/param are the exact stored bits of the weight (codes, fp16 scales/zeros, factors, signs;
 * no bias) over d_out·d_in.
 */
public final class CalderaVsGptq {
    private CalderaVsGptq() {}

    /** Group sizes GPTQ is tried at (those dividing d_in). */
    static final int[] GPTQ_GROUPS = {128, 64, 32, 16};

    /**
     * @param method       "caldera" or "gptq"
     * @param group        Q's group (CALDERA) or GPTQ's group
     * @param bitsPerParam exact stored bits per weight
     * @param proxyError   tr(ΔHΔᵀ)/tr(WHWᵀ)
     */
    public record Row(String method, int bq, int group, double bitsPerParam, double proxyError) {}

    /**
     * @param caldera  CALDERA with the given config
     * @param gptq     GPTQ at bq bits for each group in {128, 64, 32, 16} dividing d_in (act-order
     *                 and damping as CALDERA's Q step)
     * @param matched  the GPTQ row with the fewest bits that still spends at least as many bits as
     *                 CALDERA (null when every group spends fewer)
     * @param calderaWins CALDERA's proxy error is below the matched GPTQ row's (false when none)
     * @param calderaResult the full CALDERA result (layer, per-iteration errors, log)
     */
    public record Comparison(Row caldera, List<Row> gptq, Row matched, boolean calderaWins, Caldera.Result calderaResult) {}

    /** Decomposes W (dOut, dIn) with CALDERA (cfg) and quantises it with GPTQ at cfg.bq() bits and several groups. */
    public static Comparison compare(float[] W, int dOut, int dIn, double[] H, CalderaConfig cfg) {
        Caldera.Result c = Caldera.decompose(W, dOut, dIn, H, cfg, "compare");
        Row caldera = new Row("caldera", cfg.bq(), cfg.group(), c.layer().bitsPerParam(), c.proxyError());
        List<Row> gptq = new ArrayList<>();
        Row matched = null;
        for (int g : GPTQ_GROUPS) {
            if (dIn % g != 0) continue;
            QuantConfig qc = QuantConfig.of(cfg.bq(), g).withActOrder(cfg.actOrder()).withDamping(cfg.percdamp(), cfg.maxDampEscalations());
            Gptq.Result r = Gptq.quantize(W, dOut, dIn, H, qc, "compare.gptq.g" + g);
            Row row = new Row("gptq", cfg.bq(), g, r.Q().bitsPerParam(), r.proxyError());
            gptq.add(row);
            if (row.bitsPerParam() >= caldera.bitsPerParam() && (matched == null || row.bitsPerParam() < matched.bitsPerParam()))
                matched = row;
        }
        return new Comparison(caldera, gptq, matched, matched != null && caldera.proxyError() < matched.proxyError(), c);
    }
}
