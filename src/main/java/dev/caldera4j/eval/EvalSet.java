package dev.caldera4j.eval;

/** The four evaluation sets; {@code perplexity} sets are scored by windows, the others per item. */
public enum EvalSet {
    WIKITEXT2("wikitext2", true),
    C4("c4", true),
    LAMBADA("lambada", false),
    HELLASWAG("hellaswag", false);

    public final String label;
    public final boolean perplexity;

    EvalSet(String label, boolean perplexity) {
        this.label = label;
        this.perplexity = perplexity;
    }

    public static EvalSet parse(String s) {
        for (EvalSet e : values()) {
            if (e.label.equalsIgnoreCase(s)) {
                return e;
            }
        }
        throw new IllegalArgumentException("eval set \"" + s + "\" is unknown: use wikitext2, c4, lambada or hellaswag");
    }
}
