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
}
