package dev.caldera4j.eval;

import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Set;

/**
 * What one {@link Evaluator#run} measured.
 *
 * @param mode         quick or full
 * @param perplexities one entry per (perplexity set, seqlen), in run order
 * @param lambada      null when LAMBADA was not run
 * @param hellaSwag    null when HellaSwag was not run
 */
public record EvalReport(EvalMode mode, List<Ppl> perplexities, Lambada.Result lambada,
                         HellaSwag.Result hellaSwag) {

    public EvalReport {
        perplexities = List.copyOf(perplexities);
    }

    /** Perplexity of one set at one seqlen. */
    public record Ppl(EvalSet set, Perplexity.Result result) {}

    /** Total seconds of every part. */
    public double seconds() {
        double s = 0;
        for (Ppl p : perplexities) {
            s += p.result().seconds();
        }
        if (lambada != null) {
            s += lambada.seconds();
        }
        if (hellaSwag != null) {
            s += hellaSwag.seconds();
        }
        return s;
    }

    /** The perplexity of {@code set} at {@code seqlen}, or null when not measured. */
    public Perplexity.Result ppl(EvalSet set, int seqlen) {
        for (Ppl p : perplexities) {
            if (p.set() == set && p.result().seqlen() == seqlen) {
                return p.result();
            }
        }
        return null;
    }

    /**
     * Results-file rows: {@code base} (model, method, bq, … — what identifies the model) plus one
     * row per seqlen with eval, seqlen, ppl_wikitext2 / ppl_c4, seconds (the parts in that row) and
     * tokens_per_s (perplexity tokens through the model per second). LAMBADA and HellaSwag do not
     * depend on seqlen; they go into the first row only (seqlen 2048 in full mode), so a table
     * filtered on one seqlen never counts them twice. With no perplexity set, one row without
     * seqlen. A non-finite metric is left out and named in "note" (JSON has no NaN).
     */
    public List<Map<String, Object>> rows(Map<String, Object> base) {
        Set<Integer> seqlens = new LinkedHashSet<>();
        for (Ppl p : perplexities) {
            seqlens.add(p.result().seqlen());
        }
        List<Integer> order = new ArrayList<>(seqlens);
        if (order.isEmpty()) {
            order.add(null);
        }
        List<Map<String, Object>> rows = new ArrayList<>();
        for (int i = 0; i < order.size(); i++) {
            Integer seqlen = order.get(i);
            Map<String, Object> row = new LinkedHashMap<>(base);
            List<String> nonFinite = new ArrayList<>();
            row.put("eval", mode.label);
            double seconds = 0;
            double pplTokens = 0;
            double pplSeconds = 0;
            if (seqlen != null) {
                row.put("seqlen", seqlen);
                for (Ppl p : perplexities) {
                    if (p.result().seqlen() == seqlen) {
                        put(row, "ppl_" + p.set().label, p.result().ppl(), nonFinite);
                        seconds += p.result().seconds();
                        pplSeconds += p.result().seconds();
                        pplTokens += (double) p.result().windows() * p.result().seqlen();
                    }
                }
            }
            if (i == 0) {
                if (lambada != null) {
                    put(row, "lambada_acc", lambada.acc(), nonFinite);
                    seconds += lambada.seconds();
                }
                if (hellaSwag != null) {
                    put(row, "hellaswag_acc", hellaSwag.acc(), nonFinite);
                    put(row, "hellaswag_acc_norm", hellaSwag.accNorm(), nonFinite);
                    seconds += hellaSwag.seconds();
                }
            }
            row.put("seconds", seconds);
            if (pplSeconds > 0) {
                row.put("tokens_per_s", pplTokens / pplSeconds);
            }
            if (!nonFinite.isEmpty()) {
                row.put("note", "not finite, left out: " + String.join(", ", nonFinite));
            }
            rows.add(row);
        }
        return rows;
    }

    private static void put(Map<String, Object> row, String field, double value, List<String> nonFinite) {
        if (Double.isFinite(value)) {
            row.put(field, value);
        } else {
            nonFinite.add(field + "=" + value);
        }
    }

    /** A few human-readable lines (for the CLI and notebooks). */
    public String summary() {
        StringBuilder sb = new StringBuilder();
        for (Ppl p : perplexities) {
            Perplexity.Result r = p.result();
            sb.append(String.format(Locale.ROOT, "%-9s ppl @%-4d %10.4f  (%d windows, %.1f s, %.0f tok/s)%n",
                    p.set().label, r.seqlen(), r.ppl(), r.windows(), r.seconds(), r.tokensPerSecond()));
        }
        if (lambada != null) {
            sb.append(String.format(Locale.ROOT, "lambada   acc      %10.4f  (%d/%d, %.1f s)%n",
                    lambada.acc(), lambada.correct(), lambada.items(), lambada.seconds()));
        }
        if (hellaSwag != null) {
            sb.append(String.format(Locale.ROOT, "hellaswag acc      %10.4f  acc_norm %.4f  (%d tasks, %.1f s)%n",
                    hellaSwag.acc(), hellaSwag.accNorm(), hellaSwag.tasks(), hellaSwag.seconds()));
        }
        return sb.toString();
    }
}
