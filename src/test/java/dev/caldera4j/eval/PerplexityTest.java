package dev.caldera4j.eval;

import org.junit.jupiter.api.Test;

import java.util.Random;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

class PerplexityTest {
    /**
     * Uniform logits: each NLL is max + log Σ exp(0) = log V to one double ulp; a sum over ≤ 10⁴
     * terms keeps the relative error near 1e-12, so 1e-9 leaves room and still catches any
     * miscount of predicted tokens (one token off in 10⁴ is 1e-4).
     */
    private static final double EXACT_REL_TOL = 1e-9;

    private static int[] randomTokens(int n, int vocab, long seed) {
        Random rnd = new Random(seed);
        int[] t = new int[n];
        for (int i = 0; i < n; i++) {
            t[i] = rnd.nextInt(vocab);
        }
        return t;
    }

    @Test
    void uniformLogitsGivePerplexityEqualToVocabSize() {
        for (int vocab : new int[] {1, 2, 257, 8192}) {
            for (int seqlen : new int[] {2, 7, 64}) {
                int[] tokens = randomTokens(seqlen * 5 + seqlen - 1, vocab, vocab * 31L + seqlen);
                Fakes.Uniform model = new Fakes.Uniform(vocab);
                Perplexity.Result r = Perplexity.compute(model, tokens, seqlen, 0, d -> { });
                assertEquals(vocab, r.ppl(), vocab * EXACT_REL_TOL, "vocab " + vocab + " seqlen " + seqlen);
                assertEquals(5, r.windows(), "a tail shorter than seqlen is dropped");
                assertEquals(5L * (seqlen - 1), r.predictedTokens());
                assertEquals(Math.log(vocab) * r.predictedTokens(), r.nllSum(),
                        Math.max(1e-12, Math.log(vocab) * r.predictedTokens() * EXACT_REL_TOL));
            }
        }
    }

    @Test
    void modelThatGivesTheNextTokenProbabilityPHasPerplexityOneOverP() {
        int vocab = 101;
        java.util.function.IntUnaryOperator next = x -> (31 * x + 7) % vocab;
        int[] tokens = new int[1000];
        tokens[0] = 5;
        for (int i = 1; i < tokens.length; i++) {
            tokens[i] = next.applyAsInt(tokens[i - 1]);
        }
        for (double p : new double[] {0.01, 0.5, 0.9, 0.999}) {
            Fakes.Follower model = new Fakes.Follower(vocab, next, p);
            Perplexity.Result r = Perplexity.compute(model, tokens, 33, 0, d -> { });
            // the float logit realises p only to ~1e-7; compare with the probability it does give
            assertEquals(1 / model.realizedP(), r.ppl(), EXACT_REL_TOL / model.realizedP(), "p " + p);
            assertEquals(p, 1 / r.ppl(), 1e-6, "p " + p + " (float rounding of the logit)");
        }
    }

    @Test
    void windowsAreNonOverlappingSlicesAndMaxWindowsCapsThem() {
        int[] tokens = randomTokens(10 * 16 + 15, 50, 7);
        Fakes.Uniform model = new Fakes.Uniform(50);
        int[] progress = new int[1];
        Perplexity.Result r = Perplexity.compute(model, tokens, 16, 4, d -> progress[0] = d);
        assertEquals(4, r.windows());
        assertEquals(4, model.calls.size());
        assertEquals(4, progress[0]);
        for (int w = 0; w < 4; w++) {
            assertArrayEquals(java.util.Arrays.copyOfRange(tokens, 16 * w, 16 * w + 16), model.calls.get(w));
        }
        assertEquals(10, Perplexity.windowCount(tokens.length, 16, 0));
        assertEquals(10, Perplexity.windowCount(tokens.length, 16, 64));
    }

    @Test
    void windowNllMatchesAPlainLogOfSoftmax() {
        // slow twin: softmax in double, then log of the probability; fine for moderate logits
        Random rnd = new Random(11);
        int vocab = 37;
        int[] window = randomTokens(9, vocab, 3);
        float[] logits = new float[window.length * vocab];
        for (int i = 0; i < logits.length; i++) {
            logits[i] = (float) (rnd.nextGaussian() * 4);
        }
        double expected = 0;
        for (int t = 0; t + 1 < window.length; t++) {
            double sum = 0;
            for (int v = 0; v < vocab; v++) {
                sum += Math.exp(logits[t * vocab + v]);
            }
            expected -= Math.log(Math.exp(logits[t * vocab + window[t + 1]]) / sum);
        }
        // both in double on logits of magnitude ≲ 20: agreement to ~1e-13 relative
        assertEquals(expected, Perplexity.windowNll(logits, window, vocab), Math.abs(expected) * 1e-12);
    }

    @Test
    void logSumExpIsStableForHugeLogits() {
        float[] row = {1000f, 999f, -1e30f};
        double expected = 1000 + Math.log(1 + Math.exp(-1));
        assertEquals(expected, LogProbs.logSumExp(row, 0, 3), 1e-12);
        assertTrue(Double.isNaN(LogProbs.logSumExp(new float[] {1f, Float.NaN}, 0, 2)));
        assertEquals(0, LogProbs.argmax(new float[] {2f, 5f, 5f}, 0, 3) - 1, "first maximum on ties");
    }

    @Test
    void badInputFailsWithAMessage() {
        IllegalArgumentException shortText = assertThrows(IllegalArgumentException.class,
                () -> Perplexity.compute(new Fakes.Uniform(10), new int[100], 512, 0, d -> { }));
        assertTrue(shortText.getMessage().contains("100 tokens"), shortText.getMessage());
        dev.caldera4j.model.LanguageModel wrongShape = new dev.caldera4j.model.LanguageModel() {
            public int vocabSize() {
                return 10;
            }

            public float[] logits(int[] tokens) {
                return new float[tokens.length * 9];
            }
        };
        IllegalStateException shape = assertThrows(IllegalStateException.class,
                () -> Perplexity.compute(wrongShape, new int[64], 8, 0, d -> { }));
        assertTrue(shape.getMessage().contains("(T, vocabSize)"), shape.getMessage());
        IllegalArgumentException token = assertThrows(IllegalArgumentException.class,
                () -> Perplexity.compute(new Fakes.Uniform(10), new int[] {1, 2, 30, 4}, 4, 0, d -> { }));
        assertTrue(token.getMessage().contains("token id 30"), token.getMessage());
    }
}
