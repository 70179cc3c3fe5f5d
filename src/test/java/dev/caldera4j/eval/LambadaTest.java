package dev.caldera4j.eval;

import dev.caldera4j.model.LanguageModel;
import org.junit.jupiter.api.Test;

import java.util.ArrayList;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.Set;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

class LambadaTest {
    private static final Fakes.CharTokenizer TOK = new Fakes.CharTokenizer();

    /**
     * Knows every passage; predicts its next char with a large logit, except that for passages in
     * {@code wrongAt} it predicts a wrong char at the given target offset (0 = first target char,
     * -1 = last). So those items have all target tokens but one right.
     */
    static final class Oracle implements LanguageModel {
        final Map<String, Integer> wrongAt = new HashMap<>();
        final List<String> passages;

        Oracle(List<String> passages) {
            this.passages = passages;
        }

        @Override
        public int vocabSize() {
            return 128;
        }

        @Override
        public float[] logits(int[] tokens) {
            String input = TOK.decode(tokens);
            String full = null;
            for (String p : passages) {
                if (p.length() == input.length() + 1 && p.startsWith(input)) {
                    full = p;
                }
            }
            if (full == null) {
                throw new AssertionError("oracle called with an input that is no passage minus its last char: " + input);
            }
            int targetStart = full.lastIndexOf(' ');
            Integer wrong = wrongAt.get(full);
            int wrongPos = wrong == null ? -2 : wrong >= 0 ? targetStart + wrong : full.length() - 1;
            float[] out = new float[tokens.length * 128];
            for (int t = 0; t < tokens.length; t++) {
                int nextPos = t + 1;
                int predicted = full.charAt(nextPos);
                if (nextPos == wrongPos) {
                    predicted = predicted == 'z' ? 'y' : predicted + 1;
                }
                out[t * 128 + predicted] = 10f;
            }
            return out;
        }
    }

    private static List<String> passages(int n, long seed) {
        Random rnd = new Random(seed);
        Set<String> seen = new HashSet<>();
        List<String> out = new ArrayList<>();
        while (out.size() < n) {
            StringBuilder sb = new StringBuilder();
            int words = 2 + rnd.nextInt(6);
            for (int w = 0; w < words; w++) {
                if (w > 0) {
                    sb.append(' ');
                }
                int len = 1 + rnd.nextInt(7);
                for (int c = 0; c < len; c++) {
                    sb.append((char) ('a' + rnd.nextInt(26)));
                }
            }
            if (seen.add(sb.toString())) {
                out.add(sb.toString());
            }
        }
        return out;
    }

    @Test
    void parseSplitsAtTheLastSpace() {
        Lambada.Item item = Lambada.parse("he said \"go\" to his dog");
        assertEquals("he said \"go\" to his", item.context());
        assertEquals(" dog", item.target());
        assertThrows(IllegalArgumentException.class, () -> Lambada.parse("nospace"));
        assertThrows(IllegalArgumentException.class, () -> Lambada.parse("trailing "));
    }

    @Test
    void accuracyCountsItemsWhoseEveryTargetTokenIsGreedy() {
        List<String> texts = passages(40, 5);
        Oracle model = new Oracle(texts);
        Random rnd = new Random(9);
        int expectedCorrect = 0;
        for (String t : texts) {
            int target = t.length() - t.lastIndexOf(' ');
            int choice = rnd.nextInt(3);
            if (choice == 0) {
                expectedCorrect++;
            } else if (choice == 1) {
                model.wrongAt.put(t, -1); // only the last target token wrong
            } else {
                model.wrongAt.put(t, rnd.nextInt(target)); // one target token (maybe the space) wrong
            }
        }
        List<Lambada.Item> items = texts.stream().map(Lambada::parse).toList();
        int[] progress = new int[1];
        Lambada.Result r = Lambada.evaluate(model, TOK, items, 0, 2048, d -> progress[0] = d);
        assertEquals(40, r.items());
        assertEquals(expectedCorrect, r.correct());
        assertEquals(expectedCorrect / 40.0, r.acc(), 0.0);
        assertEquals(40, progress[0]);
        long targetChars = 0;
        for (Lambada.Item item : items) {
            targetChars += item.target().length();
        }
        assertEquals(targetChars, r.targetTokens(), "char tokenizer: one token per target char incl. the space");

        Lambada.Result firstTen = Lambada.evaluate(model, TOK, items, 10, 2048, d -> { });
        assertEquals(10, firstTen.items());
    }

    @Test
    void encodeMovesTrailingContextSpaceIntoTheContinuation() {
        Loglikelihood.Pair pair = Loglikelihood.encode(TOK, "abc  ", "d");
        assertArrayEquals(TOK.encode("abc"), pair.context());
        assertArrayEquals(TOK.encode("  d"), pair.continuation());
        Loglikelihood.Pair empty = Loglikelihood.encode(TOK, "", "xy");
        assertArrayEquals(new int[] {0}, empty.context(), "empty context → EOS as prefix when there is no BOS");
    }

    @Test
    void scoreSumsContinuationLogProbsAndTruncatesFromTheLeft() {
        Fakes.Uniform model = new Fakes.Uniform(128);
        Loglikelihood.Pair pair = new Loglikelihood.Pair(TOK.encode("abcdefgh"), TOK.encode("ijk"));
        Loglikelihood.Score s = Loglikelihood.score(model, pair, 2048);
        assertArrayEquals(TOK.encode("abcdefghij"), model.calls.get(0), "input = (ctx + cont)[:-1]");
        // uniform logits: each of the 3 continuation tokens has log p = −log 128
        assertEquals(-3 * Math.log(128), s.logProb(), 1e-12);
        assertFalse(s.greedy(), "argmax of an all-zero row is token 0, not a letter");
        Loglikelihood.score(model, pair, 5);
        assertArrayEquals(TOK.encode("fghij"), model.calls.get(1), "lm-eval: (ctx+cont)[-(max+1):][:-1]");
        Loglikelihood.Score tight = Loglikelihood.score(model, pair, 3);
        assertArrayEquals(TOK.encode("hij"), model.calls.get(2), "a continuation of exactly maxLength still fits");
        assertEquals(s.logProb(), tight.logProb(), 0.0);
        assertThrows(IllegalArgumentException.class, () -> Loglikelihood.score(model, pair, 2));
    }

    @Test
    void truncatedInputStillScoresTheRightRows() {
        int vocab = 53;
        java.util.function.IntUnaryOperator next = x -> (7 * x + 3) % vocab;
        int[] seq = new int[24];
        seq[0] = 1;
        for (int i = 1; i < seq.length; i++) {
            seq[i] = next.applyAsInt(seq[i - 1]);
        }
        Fakes.Follower model = new Fakes.Follower(vocab, next, 0.7);
        Loglikelihood.Pair pair = new Loglikelihood.Pair(java.util.Arrays.copyOf(seq, 20),
                java.util.Arrays.copyOfRange(seq, 20, 24));
        for (int maxLength : new int[] {4, 5, 6, 23, 2048}) {
            Loglikelihood.Score s = Loglikelihood.score(model, pair, maxLength);
            assertTrue(s.greedy(), "maxLength " + maxLength);
            // four tokens each of probability realizedP; double sums of 4 logs agree to ~1e-15
            assertEquals(4 * Math.log(model.realizedP()), s.logProb(), 1e-12, "maxLength " + maxLength);
        }
    }

    @Test
    void greedyIsTrueOnlyWhenEveryTokenIsTheArgmax() {
        Oracle model = new Oracle(List.of("aa bcd"));
        Loglikelihood.Pair pair = Loglikelihood.encode(TOK, "aa", " bcd");
        assertTrue(Loglikelihood.score(model, pair, 2048).greedy());
        model.wrongAt.put("aa bcd", 2);
        assertFalse(Loglikelihood.score(model, pair, 2048).greedy());
    }
}
