package dev.caldera4j.gpu;

import dev.caldera4j.model.LanguageModel;

/**
 * A {@link LanguageModel} on the GPU engine, for evaluation: each call starts from an empty KV
 * cache and scores every position (prefill in chunks of the engine's maxTokens). One engine has
 * one stream and one cache, so calls are serialised (the evaluator's worker threads queue here),
 * and each call makes the GPU's context current on its thread first.
 */
public final class EngineModel implements LanguageModel {
    private final Engine e;

    public EngineModel(Engine e) {
        if (e.o.logitRows() < e.o.maxTokens())
            throw new IllegalArgumentException("evaluation needs every position's logits: make the engine with logitRows = maxTokens");
        this.e = e;
    }

    @Override
    public int vocabSize() {
        return e.c.vocabSize();
    }

    @Override
    public synchronized float[] logits(int[] tokens) {
        e.gpu().makeCurrent();
        e.reset();
        return e.forward(tokens, true);
    }
}
