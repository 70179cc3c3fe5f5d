package dev.caldera4j.model;

import dev.caldera4j.io.Checkpoint;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.LinkedHashMap;

/**
 * Loads an HF Qwen2/Llama checkpoint directory (config.json + model.safetensors or shards + index)
 * into float32 {@link Qwen2Weights}. bf16/f16/f32 tensors are widened on load.
 */
public final class Qwen2Loader {
    private Qwen2Loader() {}

    public static Qwen2Weights load(Path dir) {
        Path cfgPath = dir.resolve("config.json");
        if (!Files.isRegularFile(cfgPath)) {
            throw new IllegalArgumentException(dir + " has no config.json: pass an HF model directory"
                    + " (config.json, *.safetensors, tokenizer.json)");
        }
        Qwen2Config c = Qwen2Config.load(cfgPath);
        try (Checkpoint ck = Checkpoint.open(dir)) {
            return load(c, ck);
        }
    }

    public static Qwen2Weights load(Qwen2Config c, Checkpoint ck) {
        int h = c.hiddenSize(), q = c.qDim(), kv = c.kvDim(), im = c.intermediateSize();
        int bpp = bytesPerParam(c.dtype());
        float[] embed = tensor(ck, "model.embed_tokens.weight", c.vocabSize(), h);
        Qwen2Weights.Block[] blocks = new Qwen2Weights.Block[c.numLayers()];
        for (int l = 0; l < c.numLayers(); l++) blocks[l] = loadBlock(c, ck, l);
        float[] norm = tensor(ck, "model.norm.weight", h);
        Linear head = c.tieWordEmbeddings() || !ck.has("lm_head.weight")
                ? new DenseLinear(embed, null, c.vocabSize(), h, bpp)
                : new DenseLinear(tensor(ck, "lm_head.weight", c.vocabSize(), h), null, c.vocabSize(), h, bpp);
        if (!c.tieWordEmbeddings() && !ck.has("lm_head.weight")) {
            System.getLogger(Qwen2Loader.class.getName()).log(System.Logger.Level.WARNING,
                    "config says tie_word_embeddings=false but there is no lm_head.weight: using the embedding");
        }
        return new Qwen2Weights(c, embed, blocks, norm, head);
    }

    /**
     * One decoder block, read on demand (layer-by-layer work on models too large to load whole:
     * only this block's weights are on the heap). Same checks as {@link #load}.
     */
    public static Qwen2Weights.Block loadBlock(Qwen2Config c, Checkpoint ck, int layer) {
        if (layer < 0 || layer >= c.numLayers())
            throw new IllegalArgumentException("layer " + layer + " is outside [0, " + c.numLayers() + ")");
        int h = c.hiddenSize(), q = c.qDim(), kv = c.kvDim(), im = c.intermediateSize();
        int bpp = bytesPerParam(c.dtype());
        String p = "model.layers." + layer + ".";
        return new Qwen2Weights.Block(
                tensor(ck, p + "input_layernorm.weight", h),
                linear(ck, p + "self_attn.q_proj", q, h, c.attentionBias(), bpp),
                linear(ck, p + "self_attn.k_proj", kv, h, c.attentionBias(), bpp),
                linear(ck, p + "self_attn.v_proj", kv, h, c.attentionBias(), bpp),
                linear(ck, p + "self_attn.o_proj", h, q, false, bpp),
                tensor(ck, p + "post_attention_layernorm.weight", h),
                linear(ck, p + "mlp.gate_proj", im, h, false, bpp),
                linear(ck, p + "mlp.up_proj", im, h, false, bpp),
                linear(ck, p + "mlp.down_proj", h, im, false, bpp));
    }

    /**
     * The tensors {@link #load} reads, name → expected shape, in load order (biases only where the
     * checkpoint has them; lm_head only when untied and present).
     */
    public static LinkedHashMap<String, long[]> expectedTensors(Qwen2Config c, Checkpoint ck) {
        long h = c.hiddenSize(), q = c.qDim(), kv = c.kvDim(), im = c.intermediateSize();
        var m = new LinkedHashMap<String, long[]>();
        m.put("model.embed_tokens.weight", new long[] {c.vocabSize(), h});
        for (int l = 0; l < c.numLayers(); l++) {
            String p = "model.layers." + l + ".";
            m.put(p + "input_layernorm.weight", new long[] {h});
            String[] names = Qwen2Weights.Block.LINEAR_NAMES;
            long[][] shapes = {{q, h}, {kv, h}, {kv, h}, {h, q}, {im, h}, {im, h}, {h, im}};
            for (int i = 0; i < names.length; i++) {
                m.put(p + names[i] + ".weight", shapes[i]);
                if (i < 3 && c.attentionBias() && ck.has(p + names[i] + ".bias")) m.put(p + names[i] + ".bias", new long[] {shapes[i][0]});
            }
            m.put(p + "post_attention_layernorm.weight", new long[] {h});
        }
        m.put("model.norm.weight", new long[] {h});
        if (!c.tieWordEmbeddings() && ck.has("lm_head.weight")) m.put("lm_head.weight", new long[] {c.vocabSize(), h});
        return m;
    }

    /** Rows decoded at a time by {@link #check}: ~4 MB of floats, whatever the tensor's size. */
    private static final int CHECK_CHUNK_FLOATS = 1 << 20;

    /**
     * Checks every tensor {@link #load} would read (present, shape as config.json implies, finite),
     * streaming each through a small buffer: validation of a model of any size (72B's 5 GB
     * embedding included) before a long run writes anything. Same messages as {@link #load}.
     */
    public static void check(Qwen2Config c, Checkpoint ck) {
        for (var e : expectedTensors(c, ck).entrySet()) {
            String name = e.getKey();
            long[] shape = e.getValue();
            if (!ck.has(name)) tensor(ck, name, shape); // throws the missing-tensor message
            long[] actual = ck.info(name).shape();
            if (!Arrays.equals(actual, shape)) tensor(ck, name, shape); // throws the shape message
            long rows = shape[0], cols = shape.length > 1 ? shape[1] : 1;
            int chunk = (int) Math.max(1, Math.min(rows, CHECK_CHUNK_FLOATS / cols));
            float[] buf = new float[(int) (chunk * cols)];
            for (long r0 = 0; r0 < rows; r0 += chunk) {
                int k = (int) Math.min(chunk, rows - r0);
                ck.floatRows(name, r0, k, buf, 0);
                for (int i = 0; i < k * cols; i++) {
                    if (!Float.isFinite(buf[i])) {
                        throw new IllegalArgumentException(ck.dir() + ": tensor '" + name + "' holds a non-finite value ("
                                + buf[i] + ") at flat index " + (r0 * cols + i) + " — the checkpoint is corrupt");
                    }
                }
            }
        }
    }

    static int bytesPerParam(String dtype) {
        return switch (dtype) {
            case "float32" -> 4;
            default -> 2;
        };
    }

    private static DenseLinear linear(Checkpoint ck, String prefix, int dOut, int dIn, boolean bias, int bpp) {
        float[] W = tensor(ck, prefix + ".weight", dOut, dIn);
        float[] b = bias && ck.has(prefix + ".bias") ? tensor(ck, prefix + ".bias", dOut) : null;
        return new DenseLinear(W, b, dOut, dIn, bpp);
    }

    /** A tensor whose shape must equal {@code shape}; a mismatch names the tensor, both shapes and the fix. */
    static float[] tensor(Checkpoint ck, String name, long... shape) {
        if (!ck.has(name)) {
            throw new IllegalArgumentException(ck.dir() + ": tensor '" + name + "' is missing — is this a Qwen2/Llama"
                    + " checkpoint in HF layout (model.layers.N.self_attn.q_proj.weight …)?");
        }
        long[] actual = ck.info(name).shape();
        if (!Arrays.equals(actual, shape)) {
            throw new IllegalArgumentException(ck.dir() + ": tensor '" + name + "' has shape " + Arrays.toString(actual)
                    + " but config.json implies " + Arrays.toString(shape) + " — config.json and the weights disagree");
        }
        float[] v = ck.floats(name);
        for (int i = 0; i < v.length; i++) {
            if (!Float.isFinite(v[i])) {
                throw new IllegalArgumentException(ck.dir() + ": tensor '" + name + "' holds a non-finite value ("
                        + v[i] + ") at flat index " + i + " — the checkpoint is corrupt");
            }
        }
        return v;
    }
}
