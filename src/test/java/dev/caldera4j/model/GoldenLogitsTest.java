package dev.caldera4j.model;

import com.google.gson.JsonObject;
import com.google.gson.JsonParser;
import dev.caldera4j.TestData;
import dev.caldera4j.io.SafetensorsFile;
import dev.caldera4j.tokenizer.Tokenizer;
import dev.caldera4j.tokenizer.Tokenizers;
import org.junit.jupiter.api.Test;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;

import static org.junit.jupiter.api.Assertions.*;

/**
 * The Java forward pass against golden logits that transformers computed in fp32 on the same
 * weights (tools/golden.py; fixtures in src/test/resources/golden, prompts in the JSON sidecars).
 */
class GoldenLogitsTest {

    /**
     * fp32 against fp32: both sides round differently (GEMM blocking, RMSNorm accumulation order, the
     * softmax sum), which leaves ~1e-5 of the logits' range; 1e-4 of the largest |logit| is a bound
     * that a wrong RoPE, bias or norm (errors of order 1) cannot sneak under.
     */
    private static final double GOLDEN_REL_TOL = 1e-4;

    @Test
    void tinyMatchesTransformers() throws Exception {
        check(Path.of("data/models/tiny"), "tiny");
    }

    @Test
    void standinSmallMatchesTransformers() throws Exception {
        check(TestData.sharedData("models/standin-small"), "standin-small");
    }

    private static void check(Path modelDir, String fixture) throws Exception {
        Path golden = Path.of("src/test/resources/golden/" + fixture + ".safetensors");
        JsonObject meta = JsonParser.parseString(Files.readString(
                Path.of("src/test/resources/golden/" + fixture + ".json"))).getAsJsonObject();
        Qwen2Model m = new Qwen2Model(Qwen2Loader.load(modelDir));
        int vocab = m.vocabSize();
        try (SafetensorsFile g = SafetensorsFile.open(golden)) {
            int[] ids = g.ints("input_ids");               // (2, 32)
            int[] positions = g.ints("positions");         // (P)
            float[] logits = g.floats("logits");           // (2, P, vocab)
            float[] hidden = g.floats("hidden_states");    // (layers+1, hidden)
            int T = ids.length / 2, P = positions.length;

            // the tokenizer gives the fixture's ids for the prompts' text
            try (var tok = (dev.caldera4j.tokenizer.HfTokenizer) Tokenizers.load(modelDir)) {
                for (int b = 0; b < 2; b++) {
                    int[] mine = tok.encode(meta.getAsJsonArray("prompts").get(b).getAsString());
                    assertArrayEquals(Arrays.copyOfRange(ids, b * T, b * T + T), Arrays.copyOf(mine, T),
                            fixture + ": prompt " + b + " token ids");
                }
            }

            double maxAbs = 0, maxDiff = 0;
            for (int b = 0; b < 2; b++) {
                float[] mine = m.logits(Arrays.copyOfRange(ids, b * T, b * T + T));
                for (int i = 0; i < P; i++) {
                    int pos = positions[i];
                    for (int v = 0; v < vocab; v++) {
                        float ref = logits[(b * P + i) * vocab + v];
                        maxAbs = Math.max(maxAbs, Math.abs(ref));
                        maxDiff = Math.max(maxDiff, Math.abs(ref - mine[pos * vocab + v]));
                    }
                    assertEquals(argmax(logits, (b * P + i) * vocab, vocab), argmax(mine, pos * vocab, vocab),
                            fixture + ": top token at prompt " + b + " position " + pos);
                }
            }
            assertTrue(maxDiff <= GOLDEN_REL_TOL * maxAbs,
                    fixture + ": max |Δlogit| = " + maxDiff + " > " + GOLDEN_REL_TOL + " × max|logit| " + maxAbs);

            // residual stream after each layer, prompt 0, last position
            int h = m.config().hiddenSize();
            float[] x = m.embed(Arrays.copyOf(ids, T));
            Qwen2Model.KVCache cache = m.newCache(T);
            for (int l = 0; l <= m.config().numLayers(); l++) {
                if (l > 0) m.block(l - 1, x, T, cache, null);
                double scale = 0, diff = 0;
                for (int j = 0; j < h; j++) {
                    float ref = hidden[l * h + j];
                    scale = Math.max(scale, Math.abs(ref));
                    diff = Math.max(diff, Math.abs(ref - x[(T - 1) * h + j]));
                }
                assertTrue(diff <= GOLDEN_REL_TOL * scale, fixture + ": hidden state after layer " + l + " differs by " + diff);
            }
        }
    }

    private static int argmax(float[] a, int off, int n) {
        return Sampler.argmax(a, off, n);
    }
}
