package dev.caldera4j.model;

import java.util.Arrays;
import java.util.function.IntConsumer;

/** Autoregressive generation with a KV cache: the prompt in one pass, then one token at a time. */
public final class Generator {
    private Generator() {}

    /** What one generation produced, with its speed. */
    public record Result(int[] tokens, double promptTokensPerSecond, double decodeTokensPerSecond) {}

    /**
     * @param prompt     token ids (non-empty; start with BOS if the model expects one)
     * @param maxNew     tokens to generate at most
     * @param stopId     stop after emitting this id (−1: never)
     * @param onToken    called with each new token as it is produced (may be null)
     */
    public static Result generate(Qwen2Model model, int[] prompt, int maxNew, Sampler sampler, int stopId, IntConsumer onToken) {
        if (prompt.length == 0) throw new IllegalArgumentException("generate needs a non-empty prompt (e.g. the BOS id)");
        int capacity = Math.min(prompt.length + maxNew, Math.max(prompt.length + maxNew, 1));
        Qwen2Model.KVCache cache = model.newCache(capacity);
        Sampler.Draw draw = sampler.start();
        int vocab = model.vocabSize();
        long t0 = System.nanoTime();
        float[] logits = model.forward(prompt, cache, false);
        long t1 = System.nanoTime();
        int[] out = new int[maxNew];
        int n = 0;
        while (n < maxNew) {
            int next = draw.next(logits, 0, vocab);
            out[n++] = next;
            if (onToken != null) onToken.accept(next);
            if (next == stopId || n == maxNew) break;
            logits = model.forward(new int[] {next}, cache, false);
        }
        long t2 = System.nanoTime();
        return new Result(Arrays.copyOf(out, n), prompt.length / ((t1 - t0) / 1e9),
                n > 1 ? (n - 1) / ((t2 - t1) / 1e9) : 0);
    }
}
