package dev.caldera4j.eval;

import dev.caldera4j.model.LanguageModel;
import dev.caldera4j.tokenizer.Tokenizer;

import java.util.Arrays;

/**
 * lm-evaluation-harness's {@code loglikelihood(context, continuation)} request: the summed
 * log-probability of the continuation's tokens after the context, and whether greedy decoding
 * would have produced exactly those tokens. LAMBADA and HellaSwag are built on it.
 */
public final class Loglikelihood {
    private Loglikelihood() {}

    /**
     * @param context      (c) context token ids, c ≥ 1
     * @param continuation (k) continuation token ids, k ≥ 1
     */
    public record Pair(int[] context, int[] continuation) {
        public Pair {
            if (context.length == 0 || continuation.length == 0) {
                throw new IllegalArgumentException("a scored pair needs ≥ 1 context and ≥ 1 continuation"
                        + " token (got " + context.length + " and " + continuation.length + ")");
            }
        }
    }

    /**
     * @param logProb Σ log p(continuation token | everything before it), nats
     * @param greedy  every continuation token is the argmax of its row
     * @param tokens  continuation tokens scored
     */
    public record Score(double logProb, boolean greedy, int tokens) {}

    /**
     * lm-eval-harness's {@code _encode_pair}: trailing whitespace of the context moves to the
     * continuation; whole = encode(context + continuation), ctx = encode(context), and the
     * continuation tokens are whole[len(ctx):]. Tokenizing the whole string keeps the tokens the
     * model would see in running text even where BPE merges across the boundary. An empty context
     * becomes the single prefix token (BOS if the tokenizer has one, else EOS), as lm-eval does.
     */
    public static Pair encode(Tokenizer tokenizer, String context, String continuation) {
        int end = context.length();
        // Python's str.rstrip() also strips non-breaking and other Unicode spaces
        while (end > 0 && (Character.isWhitespace(context.charAt(end - 1))
                || Character.isSpaceChar(context.charAt(end - 1)))) {
            end--;
        }
        String ctx = context.substring(0, end);
        String cont = context.substring(end) + continuation;
        int[] ctxTokens = tokenizer.encode(ctx);
        int[] whole = tokenizer.encode(ctx + cont);
        int[] contTokens = Arrays.copyOfRange(whole, Math.min(ctxTokens.length, whole.length), whole.length);
        if (contTokens.length == 0) {
            throw new IllegalArgumentException("continuation \"" + continuation + "\" after context ending \""
                    + tail(context) + "\" tokenizes to nothing: nothing to score");
        }
        if (ctxTokens.length == 0) {
            int prefix = tokenizer.bosId() >= 0 ? tokenizer.bosId() : tokenizer.eosId();
            if (prefix < 0) {
                throw new IllegalArgumentException("empty context and the tokenizer has neither BOS nor EOS"
                        + " to condition on: give a non-empty context");
            }
            ctxTokens = new int[] {prefix};
        }
        return new Pair(ctxTokens, contTokens);
    }

    /**
     * Scores a pair with one model call on (context + continuation)[:-1], left-truncated to
     * maxLength tokens (lm-eval: inp = (ctx + cont)[-(maxLength+1):][:-1]).
     */
    public static Score score(LanguageModel model, Pair pair, int maxLength) {
        int[] ctx = pair.context();
        int[] cont = pair.continuation();
        int vocab = model.vocabSize();
        int total = ctx.length + cont.length;
        if (cont.length > maxLength) {
            throw new IllegalArgumentException("continuation of " + cont.length
                    + " tokens does not fit maxLength " + maxLength + ": raise maxLength");
        }
        int start = Math.max(0, total - (maxLength + 1));
        int[] input = new int[total - 1 - start]; // (n) model input: all but the last token
        for (int i = 0; i < input.length; i++) {
            int p = start + i;
            input[i] = p < ctx.length ? ctx[p] : cont[p - ctx.length];
        }
        float[] logits = model.logits(input); // (n, vocab)
        LogProbs.checkShape(logits, input.length, vocab);
        double logProb = 0.0;
        boolean greedy = true;
        // continuation token j sits at position ctx.length + j of the full sequence; it is
        // predicted by the row of the position before it, shifted by the truncation.
        for (int j = 0; j < cont.length; j++) {
            int row = ctx.length + j - 1 - start;
            LogProbs.checkToken(cont[j], vocab, "continuation position " + j);
            logProb += LogProbs.logProb(logits, row, vocab, cont[j]);
            if (LogProbs.argmax(logits, row, vocab) != cont[j]) {
                greedy = false;
            }
        }
        return new Score(logProb, greedy, cont.length);
    }

    /**
     * Scores continuations that share one context with {@link LanguageModel#continuationLogits} (the
     * context runs once). Falls back to {@link #score} per pair when the longest input would exceed
     * maxLength (left truncation differs per pair).
     */
    public static Score[] scoreShared(LanguageModel model, int[] context, int[][] continuations, int maxLength) {
        int longest = 0;
        for (int[] cont : continuations) longest = Math.max(longest, cont.length);
        Score[] scores = new Score[continuations.length];
        if (context.length + longest - 1 > maxLength) {
            for (int i = 0; i < continuations.length; i++) scores[i] = score(model, new Pair(context, continuations[i]), maxLength);
            return scores;
        }
        int vocab = model.vocabSize();
        float[][] logits = model.continuationLogits(context, continuations);
        for (int i = 0; i < continuations.length; i++) {
            int[] cont = continuations[i];
            LogProbs.checkShape(logits[i], cont.length, vocab);
            double logProb = 0.0;
            boolean greedy = true;
            for (int j = 0; j < cont.length; j++) {
                LogProbs.checkToken(cont[j], vocab, "continuation position " + j);
                logProb += LogProbs.logProb(logits[i], j, vocab, cont[j]);
                if (LogProbs.argmax(logits[i], j, vocab) != cont[j]) greedy = false;
            }
            scores[i] = new Score(logProb, greedy, cont.length);
        }
        return scores;
    }

    private static String tail(String s) {
        return s.length() <= 40 ? s : "…" + s.substring(s.length() - 40);
    }
}
