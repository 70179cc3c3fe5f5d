package dev.caldera4j.eval;

import java.util.List;

/**
 * How much of each set an evaluation covers (DESIGN "Evaluation protocol"). QUICK is the fixed
 * subset every sweep row uses — the first 64 windows of 512 tokens of each perplexity set, the
 * first 1,000 LAMBADA items and the first 1,000 HellaSwag tasks — so quick rows compare with each
 * other; FULL is everything, at seqlen 2048 and 512.
 *
 * @param label      the results-file value of "eval"
 * @param seqlens    perplexity window lengths when the caller gives none
 * @param maxWindows perplexity windows per set and seqlen; 0 = all
 * @param lambadaItems   first items of LAMBADA; 0 = all
 * @param hellaSwagTasks first tasks of HellaSwag; 0 = all
 */
public enum EvalMode {
    QUICK("quick", List.of(512), 64, 1000, 1000),
    FULL("full", List.of(2048, 512), 0, 0, 0);

    public final String label;
    public final List<Integer> seqlens;
    public final int maxWindows;
    public final int lambadaItems;
    public final int hellaSwagTasks;

    EvalMode(String label, List<Integer> seqlens, int maxWindows, int lambadaItems, int hellaSwagTasks) {
        this.label = label;
        this.seqlens = seqlens;
        this.maxWindows = maxWindows;
        this.lambadaItems = lambadaItems;
        this.hellaSwagTasks = hellaSwagTasks;
    }

    public static EvalMode parse(String s) {
        for (EvalMode m : values()) {
            if (m.label.equalsIgnoreCase(s)) {
                return m;
            }
        }
        throw new IllegalArgumentException("eval mode \"" + s + "\" is unknown: use quick or full");
    }
}
