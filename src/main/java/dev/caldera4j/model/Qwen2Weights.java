package dev.caldera4j.model;

/**
 * All weights of a Qwen2 / Llama-family decoder, float32 on the heap (plain data).
 *
 * @param config     architecture numbers
 * @param embed      token embedding (vocabSize, hiddenSize) row-major
 * @param layers     decoder blocks, numLayers of them
 * @param finalNorm  RMSNorm weight (hiddenSize)
 * @param lmHead     (vocabSize, hiddenSize); for tied embeddings a DenseLinear over {@code embed}
 */
public record Qwen2Weights(Qwen2Config config, float[] embed, Block[] layers, float[] finalNorm, Linear lmHead) {

    /**
     * One decoder block.
     *
     * @param inputNorm RMSNorm before attention (hidden)
     * @param q         (numHeads·headDim, hidden), with bias for Qwen2
     * @param k         (numKvHeads·headDim, hidden)
     * @param v         (numKvHeads·headDim, hidden)
     * @param o         (hidden, numHeads·headDim), no bias
     * @param postNorm  RMSNorm before the MLP (hidden)
     * @param gate      (intermediate, hidden)
     * @param up        (intermediate, hidden)
     * @param down      (hidden, intermediate)
     */
    public record Block(float[] inputNorm, Linear q, Linear k, Linear v, Linear o,
                        float[] postNorm, Linear gate, Linear up, Linear down) {

        /** The seven projections in HF order, with their names relative to the block prefix. */
        public Linear[] linears() {
            return new Linear[] {q, k, v, o, gate, up, down};
        }

        public static final String[] LINEAR_NAMES = {
            "self_attn.q_proj", "self_attn.k_proj", "self_attn.v_proj", "self_attn.o_proj",
            "mlp.gate_proj", "mlp.up_proj", "mlp.down_proj"};

        public Block withLinears(Linear[] l) {
            return new Block(inputNorm, l[0], l[1], l[2], l[3], postNorm, l[4], l[5], l[6]);
        }
    }

    public Qwen2Weights {
        if (layers.length != config.numLayers()) {
            throw new IllegalArgumentException("weights have " + layers.length + " layers, config says " + config.numLayers());
        }
        if (embed.length != (long) config.vocabSize() * config.hiddenSize()) {
            throw new IllegalArgumentException("embedding has " + embed.length + " values, expected vocab·hidden = "
                    + config.vocabSize() + "·" + config.hiddenSize());
        }
    }

    /** A copy with one block replaced (for layer-by-layer compression). */
    public Qwen2Weights withBlock(int layer, Block b) {
        Block[] copy = layers.clone();
        copy[layer] = b;
        return new Qwen2Weights(config, embed, copy, finalNorm, lmHead);
    }
}
