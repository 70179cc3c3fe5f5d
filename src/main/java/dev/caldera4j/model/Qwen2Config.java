package dev.caldera4j.model;

import com.google.gson.JsonElement;
import com.google.gson.JsonObject;
import com.google.gson.JsonParser;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Locale;

/**
 * The architecture numbers of a Qwen2 (or Llama-family) decoder, read from an HF config.json.
 *
 * <p>Two dialects of config.json exist: transformers 4.x writes {@code rope_theta} and
 * {@code torch_dtype} at the top level (Qwen2-72B's own file), transformers 5 writes
 * {@code rope_parameters.rope_theta} and {@code dtype}. Both are read.
 *
 * @param modelType               "qwen2" or "llama" (Llama-family models carry no q/k/v bias)
 * @param hiddenSize              d_model
 * @param intermediateSize        SwiGLU hidden width
 * @param numLayers               decoder blocks
 * @param numHeads                query heads
 * @param numKvHeads              key/value heads (grouped-query attention: numHeads % numKvHeads == 0)
 * @param headDim                 per-head width (hiddenSize / numHeads unless given)
 * @param vocabSize               rows of the embedding and of lm_head
 * @param rmsNormEps              RMSNorm epsilon
 * @param ropeTheta               RoPE base θ
 * @param tieWordEmbeddings       lm_head shares the embedding matrix
 * @param maxPositionEmbeddings   longest context the model was trained for
 * @param attentionBias           q/k/v projections carry a bias (Qwen2: true)
 * @param dtype                   stored weight dtype as named in config.json ("bfloat16", ...)
 */
public record Qwen2Config(
        String modelType,
        int hiddenSize,
        int intermediateSize,
        int numLayers,
        int numHeads,
        int numKvHeads,
        int headDim,
        int vocabSize,
        double rmsNormEps,
        double ropeTheta,
        boolean tieWordEmbeddings,
        int maxPositionEmbeddings,
        boolean attentionBias,
        String dtype) {

    public Qwen2Config {
        positive("hidden_size", hiddenSize);
        positive("intermediate_size", intermediateSize);
        positive("num_hidden_layers", numLayers);
        positive("num_attention_heads", numHeads);
        positive("num_key_value_heads", numKvHeads);
        positive("head_dim", headDim);
        positive("vocab_size", vocabSize);
        positive("max_position_embeddings", maxPositionEmbeddings);
        if (numHeads % numKvHeads != 0) {
            throw new IllegalArgumentException("num_attention_heads (" + numHeads
                    + ") must be a multiple of num_key_value_heads (" + numKvHeads + ") for grouped-query attention");
        }
        if (!(rmsNormEps > 0) || !(ropeTheta > 0)) {
            throw new IllegalArgumentException("rms_norm_eps (" + rmsNormEps + ") and rope_theta (" + ropeTheta
                    + ") must be positive");
        }
    }

    private static void positive(String name, int v) {
        if (v <= 0) throw new IllegalArgumentException(name + " must be positive, got " + v);
    }

    /** Query width numHeads·headDim (equals hiddenSize for every Qwen2 release). */
    public int qDim() { return numHeads * headDim; }

    /** Key/value width numKvHeads·headDim. */
    public int kvDim() { return numKvHeads * headDim; }

    /** Qwen2-72B's own numbers (config.json of Qwen/Qwen2-72B): the shapes every footprint and speed figure uses. */
    public static Qwen2Config qwen2_72b() {
        return new Qwen2Config("qwen2", 8192, 29568, 80, 64, 8, 128, 152064, 1e-6, 1_000_000.0,
                false, 131072, true, "bfloat16");
    }

    /** Parameters in the model: embeddings, every linear (with biases), norms, and lm_head if untied. */
    public long parameterCount() {
        long h = hiddenSize, kv = kvDim(), q = qDim(), im = intermediateSize;
        long attn = h * q + h * kv * 2 + q * h + (attentionBias ? q + 2 * kv : 0);
        long mlp = 3 * h * im;
        long perLayer = attn + mlp + 2 * h;
        long emb = (long) vocabSize * h;
        return emb + numLayers * perLayer + h + (tieWordEmbeddings ? 0 : emb);
    }

    /** Reads config.json (either dialect). Errors name the file and the missing or bad key. */
    public static Qwen2Config load(Path configJson) {
        String text;
        try {
            text = Files.readString(configJson);
        } catch (IOException e) {
            throw new UncheckedIOException("cannot read " + configJson + ": " + e.getMessage()
                    + " (pass the model directory that holds config.json)", e);
        }
        JsonObject o;
        try {
            o = JsonParser.parseString(text).getAsJsonObject();
        } catch (RuntimeException e) {
            throw new IllegalArgumentException(configJson + " is not a JSON object: " + e.getMessage(), e);
        }
        try {
            return fromJson(o);
        } catch (IllegalArgumentException e) {
            throw new IllegalArgumentException(configJson + ": " + e.getMessage(), e);
        }
    }

    public static Qwen2Config fromJson(JsonObject o) {
        String type = o.has("model_type") ? o.get("model_type").getAsString().toLowerCase(Locale.ROOT) : "";
        if (!type.equals("qwen2") && !type.equals("llama") && !type.equals("mistral")) {
            throw new IllegalArgumentException("model_type '" + type + "' is not supported: caldera4j reads Qwen2"
                    + " and Llama-family decoders (model_type qwen2 or llama)");
        }
        int hidden = req(o, "hidden_size");
        int heads = req(o, "num_attention_heads");
        int kvHeads = o.has("num_key_value_heads") && !o.get("num_key_value_heads").isJsonNull()
                ? o.get("num_key_value_heads").getAsInt() : heads;
        int headDim = o.has("head_dim") && !o.get("head_dim").isJsonNull() ? o.get("head_dim").getAsInt() : hidden / heads;
        double theta;
        if (o.has("rope_theta")) {
            theta = o.get("rope_theta").getAsDouble();
        } else if (o.has("rope_parameters") && o.get("rope_parameters").isJsonObject()
                && o.getAsJsonObject("rope_parameters").has("rope_theta")) {
            theta = o.getAsJsonObject("rope_parameters").get("rope_theta").getAsDouble();
        } else {
            theta = 10000.0; // transformers' default for both families when the key is absent
        }
        boolean bias = type.equals("qwen2")
                || (o.has("attention_bias") && o.get("attention_bias").getAsBoolean());
        String dtype = o.has("torch_dtype") ? str(o.get("torch_dtype"))
                : o.has("dtype") ? str(o.get("dtype")) : "float32";
        return new Qwen2Config(type, hidden, req(o, "intermediate_size"), req(o, "num_hidden_layers"), heads,
                kvHeads, headDim, req(o, "vocab_size"),
                o.has("rms_norm_eps") ? o.get("rms_norm_eps").getAsDouble() : 1e-6, theta,
                o.has("tie_word_embeddings") && o.get("tie_word_embeddings").getAsBoolean(),
                o.has("max_position_embeddings") ? o.get("max_position_embeddings").getAsInt() : 2048,
                bias, dtype);
    }

    private static String str(JsonElement e) {
        return e.isJsonNull() ? "float32" : e.getAsString();
    }

    private static int req(JsonObject o, String key) {
        if (!o.has(key) || o.get(key).isJsonNull()) {
            throw new IllegalArgumentException("config.json lacks '" + key + "' (is this an HF Qwen2/Llama config?)");
        }
        return o.get(key).getAsInt();
    }

    /** The config.json text (transformers 4.x dialect) for this architecture. */
    public JsonObject toJson() {
        JsonObject o = new JsonObject();
        o.addProperty("model_type", modelType);
        o.add("architectures", new com.google.gson.JsonArray());
        o.getAsJsonArray("architectures").add(modelType.equals("qwen2") ? "Qwen2ForCausalLM" : "LlamaForCausalLM");
        o.addProperty("hidden_size", hiddenSize);
        o.addProperty("intermediate_size", intermediateSize);
        o.addProperty("num_hidden_layers", numLayers);
        o.addProperty("num_attention_heads", numHeads);
        o.addProperty("num_key_value_heads", numKvHeads);
        o.addProperty("head_dim", headDim);
        o.addProperty("vocab_size", vocabSize);
        o.addProperty("rms_norm_eps", rmsNormEps);
        o.addProperty("rope_theta", ropeTheta);
        o.addProperty("tie_word_embeddings", tieWordEmbeddings);
        o.addProperty("max_position_embeddings", maxPositionEmbeddings);
        o.addProperty("attention_bias", attentionBias);
        o.addProperty("hidden_act", "silu");
        o.addProperty("torch_dtype", dtype);
        return o;
    }
}
