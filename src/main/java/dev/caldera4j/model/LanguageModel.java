package dev.caldera4j.model;

/**
 * What evaluation needs of a causal language model: next-token logits for every position of a
 * token sequence, computed from an empty context. CPU and GPU implementations both provide it.
 */
public interface LanguageModel {
    int vocabSize();

    /**
     * Logits (tokens.length, vocabSize) row-major: row t scores the token that follows tokens[0..t].
     * Each call starts from an empty KV cache.
     */
    float[] logits(int[] tokens);

    /**
     * Logits for scoring several continuations of one shared context: result[i] is
     * (continuations[i].length, vocab), and its row j scores continuations[i][j] given
     * context + continuations[i][0 … j). This default runs one full pass per continuation; models with a
     * KV cache override it to run the context once.
     */
    default float[][] continuationLogits(int[] context, int[][] continuations) {
        int vocab = vocabSize();
        float[][] out = new float[continuations.length][];
        for (int i = 0; i < continuations.length; i++) {
            int[] cont = continuations[i];
            int[] input = java.util.Arrays.copyOf(context, context.length + cont.length - 1);
            System.arraycopy(cont, 0, input, context.length, cont.length - 1);
            float[] l = logits(input);
            out[i] = java.util.Arrays.copyOfRange(l, (context.length - 1) * vocab, input.length * vocab);
        }
        return out;
    }
}
