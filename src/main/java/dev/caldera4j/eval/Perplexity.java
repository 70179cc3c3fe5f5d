package dev.caldera4j.eval;

import dev.caldera4j.model.LanguageModel;

import java.util.function.IntConsumer;

/**
 * Perplexity over non-overlapping windows (GPTQ's "wikitext2"/"c4" protocol).
 *
 * <p>The text is tokenized once (no BOS anywhere); window w is tokens [w·seqlen, (w+1)·seqlen);
 * the tail shorter than seqlen is dropped. Each window starts from an empty context and predicts
 * its tokens 1 … seqlen−1, so a window contributes seqlen−1 predictions, and
 * ppl = exp(Σ NLL / (windows·(seqlen−1))). GPTQ's code writes exp(Σ_w loss_w·seqlen /
 * (windows·seqlen)) with loss_w the mean over the window's seqlen−1 shifted labels; because every
 * window has the same count this is the same number. Evidence for "no BOS, floor(N/seqlen)
 * windows": standin-small's card gives 744 windows of 512 and 186 of 2048 for 381,159 tokens
 * (floor(381159/512) = 744, floor(381159/2048) = 186; a BOS per window of seqlen−1 text tokens
 * would give 745), and its tokenizer_config has bos_token null.
 */
public final class Perplexity {
    private static final System.Logger LOG = System.getLogger(Perplexity.class.getName());

    private Perplexity() {}

    /**
     * @param ppl             exp(nllSum / predictedTokens)
     * @param nllSum          Σ −log p over every predicted token (nats)
     * @param predictedTokens windows · (seqlen − 1)
     * @param windows         windows evaluated
     * @param seqlen          tokens per window
     * @param seconds         wall time of the model calls and scoring
     */
    public record Result(double ppl, double nllSum, long predictedTokens, int windows, int seqlen,
                         double seconds) {
        public double meanNll() {
            return nllSum / predictedTokens;
        }

        /** Tokens fed through the model per second (windows · seqlen / seconds). */
        public double tokensPerSecond() {
            return (double) windows * seqlen / seconds;
        }
    }

    /** Windows that fit: floor(tokens / seqlen), capped at maxWindows when maxWindows > 0. */
    public static int windowCount(int tokens, int seqlen, int maxWindows) {
        if (seqlen < 2) {
            throw new IllegalArgumentException("seqlen " + seqlen
                    + " predicts nothing: a window needs at least 2 tokens");
        }
        int all = tokens / seqlen;
        return maxWindows > 0 ? Math.min(all, maxWindows) : all;
    }

    /**
     * Perplexity of {@code model} on {@code tokens}.
     *
     * @param tokens     the whole tokenized text, (N)
     * @param seqlen     window length
     * @param maxWindows evaluate only the first maxWindows windows; ≤ 0 means all
     * @param progress   called with the number of windows done after each window (may be null)
     */
    public static Result compute(LanguageModel model, int[] tokens, int seqlen, int maxWindows,
                                 IntConsumer progress) {
        int windows = windowCount(tokens.length, seqlen, maxWindows);
        if (windows == 0) {
            throw new IllegalArgumentException("the text has " + tokens.length
                    + " tokens, fewer than one window of seqlen " + seqlen + ": use a shorter seqlen");
        }
        int vocab = model.vocabSize();
        long start = System.nanoTime();
        // windows are independent: all cores, NLLs summed in window order (same sum as a sequential loop)
        java.util.List<Double> nlls = dev.caldera4j.util.Parallel.map(windows, w -> {
            int[] window = java.util.Arrays.copyOfRange(tokens, w * seqlen, (w + 1) * seqlen); // (seqlen)
            float[] logits = model.logits(window); // (seqlen, vocab); dropped after this window
            double nll = windowNll(logits, window, vocab);
            if (!Double.isFinite(nll)) {
                LOG.log(System.Logger.Level.WARNING, "perplexity window {0} of seqlen {1}: NLL is {2}"
                        + " (non-finite logits or a zero-probability target); the perplexity will be {2}",
                        w, seqlen, nll);
            }
            return nll;
        }, progress);
        double nllSum = 0.0;
        for (double nll : nlls) nllSum += nll;
        double seconds = (System.nanoTime() - start) * 1e-9;
        long predicted = (long) windows * (seqlen - 1);
        return new Result(Math.exp(nllSum / predicted), nllSum, predicted, windows, seqlen, seconds);
    }

    /**
     * Σ_{t=0}^{T−2} −log softmax(logits[t])[window[t+1]] for one window.
     *
     * @param logits (T, vocab) row-major, T = window.length
     * @param window (T) token ids
     */
    public static double windowNll(float[] logits, int[] window, int vocab) {
        LogProbs.checkShape(logits, window.length, vocab);
        double nll = 0.0;
        for (int t = 0; t + 1 < window.length; t++) {
            int target = window[t + 1];
            LogProbs.checkToken(target, vocab, "perplexity window position " + (t + 1));
            nll -= LogProbs.logProb(logits, t, vocab, target);
        }
        return nll;
    }
}
