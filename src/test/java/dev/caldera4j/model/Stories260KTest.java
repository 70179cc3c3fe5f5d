package dev.caldera4j.model;

import dev.caldera4j.TestData;
import org.junit.jupiter.api.Test;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * A real pretrained Llama-family model through the reference forward pass: karpathy's stories260K,
 * greedy from BOS, must tell its documented story. This pins RoPE (and the interleaved → rotate-half
 * permutation), GQA (8 query heads over 4 KV heads), SwiGLU and RMSNorm on real weights.
 */
class Stories260KTest {

    /** Incremental decode re-associates nothing but the attention GEMM sizes: float32 rounding only. */
    private static final float KV_CACHE_ABS_TOL = 1e-4f;

    static String[] vocab(Path tokBin) throws Exception {
        ByteBuffer bb = ByteBuffer.wrap(Files.readAllBytes(tokBin)).order(ByteOrder.LITTLE_ENDIAN);
        bb.getInt();
        String[] v = new String[512];
        for (int i = 0; i < 512; i++) {
            bb.getFloat();
            byte[] s = new byte[bb.getInt()];
            bb.get(s);
            v[i] = new String(s, StandardCharsets.UTF_8);
        }
        return v;
    }

    @Test
    void greedyFromBosTellsTheDocumentedStory() throws Exception {
        Path dir = TestData.sharedData("models/stories260K");
        Qwen2Model m = new Qwen2Model(Llama2c.load(dir.resolve("stories260K.bin")));
        assertEquals(5, m.config().numLayers());
        assertEquals(4, m.config().numKvHeads());
        String[] vocab = vocab(dir.resolve("tok512.bin"));
        int[] out = Generator.generate(m, new int[] {1}, 40, Sampler.greedy(), -1, null).tokens();
        StringBuilder sb = new StringBuilder();
        for (int t : out) sb.append(vocab[t]);
        assertTrue(sb.toString().startsWith(
                " Once upon a time, there was a little girl named Lily. She loved to play outside in the park"),
                "greedy text was: " + sb);
    }

    @Test
    void kvCachePathMatchesFullSequence() {
        Path dir = TestData.sharedData("models/stories260K");
        Qwen2Model m = new Qwen2Model(Llama2c.load(dir.resolve("stories260K.bin")));
        int[] toks = {1, 403, 407, 261, 378, 11, 336, 280, 261, 450, 355, 313, 29, 17, 9, 88, 301};
        float[] full = m.logits(toks);
        // prompt of 5 in one pass, then one token at a time
        Qwen2Model.KVCache cache = m.newCache(toks.length);
        float[] first = m.forward(java.util.Arrays.copyOf(toks, 5), cache, true);
        float maxDiff = 0;
        for (int i = 0; i < 5 * 512; i++) maxDiff = Math.max(maxDiff, Math.abs(first[i] - full[i]));
        for (int t = 5; t < toks.length; t++) {
            float[] l = m.forward(new int[] {toks[t]}, cache, false);
            for (int j = 0; j < 512; j++) maxDiff = Math.max(maxDiff, Math.abs(l[j] - full[t * 512 + j]));
        }
        assertTrue(maxDiff < KV_CACHE_ABS_TOL, "max |full − incremental| = " + maxDiff);
        assertEquals(toks.length, cache.length());
    }

    @Test
    void badLlama2cFileIsRejectedWithItsSizes(@org.junit.jupiter.api.io.TempDir Path tmp) throws Exception {
        Path bad = tmp.resolve("bad.bin");
        ByteBuffer bb = ByteBuffer.allocate(40).order(ByteOrder.LITTLE_ENDIAN);
        bb.putInt(64).putInt(172).putInt(5).putInt(8).putInt(4).putInt(512).putInt(512);
        Files.write(bad, bb.array());
        IllegalArgumentException e = org.junit.jupiter.api.Assertions.assertThrows(IllegalArgumentException.class,
                () -> Llama2c.load(bad));
        assertTrue(e.getMessage().contains("bad.bin") && e.getMessage().contains("implies"), e.getMessage());
    }
}
