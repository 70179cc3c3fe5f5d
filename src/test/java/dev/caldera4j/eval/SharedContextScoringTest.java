package dev.caldera4j.eval;

import dev.caldera4j.model.LanguageModel;
import dev.caldera4j.model.Qwen2Loader;
import dev.caldera4j.model.Qwen2Model;
import org.junit.jupiter.api.Test;

import java.nio.file.Path;

import static org.junit.jupiter.api.Assertions.*;

/** The KV-cache path of continuation scoring (context once) gives what one full pass per pair gives. */
class SharedContextScoringTest {

    /** Both paths compute the same float32 network on different GEMM shapes: ~1e-5 per log-prob, summed over ≤ 6 tokens. */
    private static final double LOGPROB_ABS_TOL = 1e-3;

    @Test
    void cachedContextMatchesFullPassesOnTheTinyModel() {
        Qwen2Model m = new Qwen2Model(Qwen2Loader.load(Path.of("data/models/tiny")));
        // the same model without the override: the interface's default (one full pass per continuation)
        LanguageModel plain = new LanguageModel() {
            public int vocabSize() { return m.vocabSize(); }
            public float[] logits(int[] tokens) { return m.logits(tokens); }
        };
        int[] ctx = {5, 17, 301, 42, 9, 1000, 77};
        int[][] conts = {{12}, {12, 13, 14}, {4000, 3, 2, 1, 0, 7}, {88, 99}};
        Loglikelihood.Score[] fast = Loglikelihood.scoreShared(m, ctx, conts, 2048);
        Loglikelihood.Score[] slow = Loglikelihood.scoreShared(plain, ctx, conts, 2048);
        for (int i = 0; i < conts.length; i++) {
            Loglikelihood.Score ref = Loglikelihood.score(m, new Loglikelihood.Pair(ctx, conts[i]), 2048);
            assertEquals(ref.logProb(), fast[i].logProb(), LOGPROB_ABS_TOL, "cached, continuation " + i);
            assertEquals(ref.logProb(), slow[i].logProb(), LOGPROB_ABS_TOL, "default, continuation " + i);
            assertEquals(ref.greedy(), fast[i].greedy(), "greedy flag, continuation " + i);
            assertEquals(conts[i].length, fast[i].tokens());
        }
        // inputs longer than maxLength fall back to per-pair left truncation
        Loglikelihood.Score[] cut = Loglikelihood.scoreShared(m, ctx, conts, 6);
        for (int i = 0; i < conts.length; i++) {
            assertEquals(Loglikelihood.score(m, new Loglikelihood.Pair(ctx, conts[i]), 6).logProb(), cut[i].logProb(), 1e-9);
        }
    }
}
