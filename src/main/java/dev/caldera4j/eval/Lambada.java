package dev.caldera4j.eval;

import dev.caldera4j.model.LanguageModel;
import dev.caldera4j.tokenizer.Tokenizer;

import java.util.List;
import java.util.function.IntConsumer;

/**
 * LAMBADA (OpenAI variant) last-word accuracy, as lm-eval-harness's {@code lambada_openai}:
 * context = text up to its last space, target = " " + last word; the pair is tokenized with
 * {@link Loglikelihood#encode}; an item is correct iff greedy predictions equal ALL target tokens.
 * No BOS is prepended (Qwen2 tokenizers add none; the reference numbers are from transformers).
 */
public final class Lambada {
    private Lambada() {}

    /** @param target " " + the last word */
    public record Item(String context, String target) {}

    /**
     * @param items        items scored
     * @param correct      items whose every target token was the greedy choice
     * @param targetNll    Σ over items of −log p(target | context), nats
     * @param targetTokens Σ target tokens
     * @param seconds      wall time
     */
    public record Result(int items, int correct, double targetNll, long targetTokens, double seconds) {
        public double acc() {
            return (double) correct / items;
        }

        /** lm-eval's lambada perplexity: exp(mean over items of −log p(target)). */
        public double ppl() {
            return Math.exp(targetNll / items);
        }
    }

    /** Splits a passage at its last space (lm-eval: text.split(' ')[:-1] joined, " " + last). */
    public static Item parse(String text) {
        int cut = text.lastIndexOf(' ');
        if (cut <= 0 || cut == text.length() - 1) {
            throw new IllegalArgumentException("LAMBADA passage has no \"context last-word\" split at a space: \""
                    + (text.length() > 60 ? text.substring(0, 60) + "…" : text) + "\"");
        }
        return new Item(text.substring(0, cut), text.substring(cut));
    }

    /**
     * Accuracy over the first maxItems items (≤ 0: all).
     *
     * @param maxLength longest model input; longer contexts are cut from the left
     * @param progress  called with the number of items done after each item
     */
    public static Result evaluate(LanguageModel model, Tokenizer tokenizer, List<Item> items, int maxItems,
                                  int maxLength, IntConsumer progress) {
        int n = maxItems > 0 ? Math.min(maxItems, items.size()) : items.size();
        if (n == 0) {
            throw new IllegalArgumentException("no LAMBADA items to evaluate");
        }
        return evaluateEncoded(model, encode(tokenizer, items, n), n, maxLength, progress);
    }

    /** The first n items tokenized as {@link Loglikelihood#encode} does (one thread, item order). */
    public static List<Loglikelihood.Pair> encode(Tokenizer tokenizer, List<Item> items, int n) {
        List<Loglikelihood.Pair> pairs = new java.util.ArrayList<>(n);
        for (int i = 0; i < n; i++) pairs.add(Loglikelihood.encode(tokenizer, items.get(i).context(), items.get(i).target()));
        return pairs;
    }

    /**
     * Accuracy over the first maxItems already-tokenized items (≤ 0: all) — what {@link #evaluate}
     * runs after tokenizing; a machine without the tokenizer evaluates from a {@link TokenizedEval}.
     */
    public static Result evaluateEncoded(LanguageModel model, List<Loglikelihood.Pair> pairs, int maxItems,
                                         int maxLength, IntConsumer progress) {
        int n = maxItems > 0 ? Math.min(maxItems, pairs.size()) : pairs.size();
        if (n == 0) {
            throw new IllegalArgumentException("no LAMBADA items to evaluate");
        }
        long start = System.nanoTime();
        // score the items on all cores; sums in item order
        List<Loglikelihood.Score> scores = dev.caldera4j.util.Parallel.map(n,
                i -> Loglikelihood.score(model, pairs.get(i), maxLength), progress);
        int correct = 0;
        double nll = 0.0;
        long targetTokens = 0;
        for (Loglikelihood.Score s : scores) {
            if (s.greedy()) {
                correct++;
            }
            nll -= s.logProb();
            targetTokens += s.tokens();
        }
        double seconds = (System.nanoTime() - start) * 1e-9;
        return new Result(n, correct, nll, targetTokens, seconds);
    }
}
