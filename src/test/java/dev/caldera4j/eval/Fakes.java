package dev.caldera4j.eval;

import dev.caldera4j.model.LanguageModel;
import dev.caldera4j.tokenizer.Tokenizer;

import java.util.ArrayList;
import java.util.List;
import java.util.function.IntUnaryOperator;

/** Small fake models and a character tokenizer for the evaluation tests. */
final class Fakes {
    private Fakes() {}

    /** Every row all zeros: p = 1/vocab for every token. Records the inputs it was called with. */
    static final class Uniform implements LanguageModel {
        final int vocab;
        final List<int[]> calls = new ArrayList<>();

        Uniform(int vocab) {
            this.vocab = vocab;
        }

        @Override
        public int vocabSize() {
            return vocab;
        }

        @Override
        public float[] logits(int[] tokens) {
            calls.add(tokens.clone());
            return new float[tokens.length * vocab];
        }
    }

    /**
     * Puts probability ≈ p on next(x_t) and spreads the rest evenly: logit a on that token, 0
     * elsewhere, with a = log(p (V−1) / (1−p)) rounded to float. {@link #realizedP()} is the exact
     * probability that float logit gives.
     */
    static final class Follower implements LanguageModel {
        final int vocab;
        final IntUnaryOperator next;
        final float a;

        Follower(int vocab, IntUnaryOperator next, double p) {
            this.vocab = vocab;
            this.next = next;
            this.a = (float) Math.log(p * (vocab - 1) / (1 - p));
        }

        double realizedP() {
            return Math.exp(a) / (Math.exp(a) + (vocab - 1));
        }

        @Override
        public int vocabSize() {
            return vocab;
        }

        @Override
        public float[] logits(int[] tokens) {
            float[] out = new float[tokens.length * vocab];
            for (int t = 0; t < tokens.length; t++) {
                out[t * vocab + next.applyAsInt(tokens[t])] = a;
            }
            return out;
        }
    }

    /** One token per UTF-16 char (ASCII test text), vocab 128, EOS 0, no BOS. */
    static final class CharTokenizer implements Tokenizer {
        @Override
        public int[] encode(String text) {
            int[] ids = new int[text.length()];
            for (int i = 0; i < ids.length; i++) {
                char c = text.charAt(i);
                if (c == 0 || c >= 128) {
                    throw new IllegalArgumentException("CharTokenizer: non-ASCII char in " + text);
                }
                ids[i] = c;
            }
            return ids;
        }

        @Override
        public String decode(int[] ids) {
            StringBuilder sb = new StringBuilder();
            for (int id : ids) {
                if (id != 0) {
                    sb.append((char) id);
                }
            }
            return sb.toString();
        }

        @Override
        public int vocabSize() {
            return 128;
        }

        @Override
        public int bosId() {
            return -1;
        }

        @Override
        public int eosId() {
            return 0;
        }
    }
}
