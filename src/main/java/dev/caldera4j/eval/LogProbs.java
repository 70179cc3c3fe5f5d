package dev.caldera4j.eval;

/**
 * Log-softmax pieces over one row of a (T, vocab) row-major logits array, in double.
 *
 * <p>Logits arrive as float32; the max-shifted sum of exponentials is accumulated in double so
 * that a vocabulary of 152,064 entries loses nothing to rounding (a float sum would carry
 * ~1e-7 × vocab relative error into every NLL).
 */
public final class LogProbs {
    private LogProbs() {}

    /** log Σ_v exp(logits[row, v]), stable: max + log Σ exp(x − max). NaN if the row holds a NaN. */
    public static double logSumExp(float[] logits, int row, int vocab) {
        int base = row * vocab;
        double max = Double.NEGATIVE_INFINITY;
        for (int v = 0; v < vocab; v++) {
            float x = logits[base + v];
            if (Float.isNaN(x)) {
                return Double.NaN;
            }
            if (x > max) {
                max = x;
            }
        }
        if (max == Double.POSITIVE_INFINITY || max == Double.NEGATIVE_INFINITY) {
            // +inf: the distribution is degenerate; −inf: every token impossible. Both are
            // numerical trouble the caller logs; return the value the limit suggests.
            return max;
        }
        double sum = 0.0;
        for (int v = 0; v < vocab; v++) {
            sum += Math.exp(logits[base + v] - max);
        }
        return max + Math.log(sum);
    }

    /** log p(token | row) = logits[row, token] − logSumExp(row). */
    public static double logProb(float[] logits, int row, int vocab, int token) {
        return logits[row * vocab + token] - logSumExp(logits, row, vocab);
    }

    /** Index of the largest logit of the row; the first one on ties (as torch.argmax / np.argmax). */
    public static int argmax(float[] logits, int row, int vocab) {
        int base = row * vocab;
        int best = 0;
        float bestValue = logits[base];
        for (int v = 1; v < vocab; v++) {
            if (logits[base + v] > bestValue) {
                bestValue = logits[base + v];
                best = v;
            }
        }
        return best;
    }

    /** Checks a model's output shape once per call, so a wrong model fails with the numbers in hand. */
    static void checkShape(float[] logits, int tokens, int vocab) {
        if (logits == null || (long) logits.length != (long) tokens * vocab) {
            throw new IllegalStateException("LanguageModel.logits returned "
                    + (logits == null ? "null" : logits.length + " floats") + " for " + tokens
                    + " tokens × vocab " + vocab + " (expected " + ((long) tokens * vocab)
                    + "): the model must return (T, vocabSize) row-major logits");
        }
    }

    static void checkToken(int token, int vocab, String where) {
        if (token < 0 || token >= vocab) {
            throw new IllegalArgumentException("token id " + token + " in " + where
                    + " is outside the model's vocabulary [0, " + vocab
                    + "): the tokenizer and the model do not match");
        }
    }
}
