package dev.caldera4j.model;

import com.google.gson.JsonObject;
import com.google.gson.JsonParser;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Files;
import java.nio.file.Path;

import static org.junit.jupiter.api.Assertions.*;

class Qwen2ConfigTest {

    /** Qwen2-72B's own config.json (transformers 4.x dialect: rope_theta and torch_dtype at the top). */
    static final String QWEN2_72B = """
            {"architectures": ["Qwen2ForCausalLM"], "attention_dropout": 0.0, "bos_token_id": 151643,
             "eos_token_id": 151643, "hidden_act": "silu", "hidden_size": 8192, "initializer_range": 0.02,
             "intermediate_size": 29568, "max_position_embeddings": 131072, "max_window_layers": 80,
             "model_type": "qwen2", "num_attention_heads": 64, "num_hidden_layers": 80, "num_key_value_heads": 8,
             "rms_norm_eps": 1e-06, "rope_theta": 1000000.0, "sliding_window": 131072, "tie_word_embeddings": false,
             "torch_dtype": "bfloat16", "transformers_version": "4.40.1", "use_cache": true,
             "use_sliding_window": false, "vocab_size": 152064}
            """;

    @Test
    void readsTransformers4Dialect(@TempDir Path tmp) throws Exception {
        Path p = tmp.resolve("config.json");
        Files.writeString(p, QWEN2_72B);
        Qwen2Config c = Qwen2Config.load(p);
        assertEquals(Qwen2Config.qwen2_72b(), c);
        assertEquals(1e6, c.ropeTheta());
        assertEquals("bfloat16", c.dtype());
        assertTrue(c.attentionBias());
        // 72.71 B parameters in all (DESIGN), 70.21 B of them in the linear layers
        assertEquals(72.71e9, c.parameterCount(), 0.01e9);
    }

    @Test
    void readsTransformers5Dialect(@TempDir Path tmp) throws Exception {
        Path p = tmp.resolve("config.json");
        Files.writeString(p, """
                {"model_type": "qwen2", "hidden_size": 512, "intermediate_size": 1536, "num_hidden_layers": 8,
                 "num_attention_heads": 8, "num_key_value_heads": 2, "vocab_size": 8192, "rms_norm_eps": 1e-6,
                 "rope_parameters": {"rope_theta": 1000000.0, "rope_type": "default"}, "dtype": "bfloat16",
                 "tie_word_embeddings": true, "max_position_embeddings": 2048}
                """);
        Qwen2Config c = Qwen2Config.load(p);
        assertEquals(1e6, c.ropeTheta());
        assertEquals(64, c.headDim());
        assertEquals(128, c.kvDim());
        assertTrue(c.tieWordEmbeddings());
        assertEquals("bfloat16", c.dtype());
    }

    @Test
    void llamaHasNoBiasUnlessSaid() {
        JsonObject o = JsonParser.parseString("""
                {"model_type": "llama", "hidden_size": 64, "intermediate_size": 172, "num_hidden_layers": 5,
                 "num_attention_heads": 8, "num_key_value_heads": 4, "vocab_size": 512}""").getAsJsonObject();
        Qwen2Config c = Qwen2Config.fromJson(o);
        assertFalse(c.attentionBias());
        assertEquals(10000.0, c.ropeTheta());
        assertEquals(c, Qwen2Config.fromJson(c.toJson()));
    }

    @Test
    void errorsNameTheProblem(@TempDir Path tmp) throws Exception {
        Path p = tmp.resolve("config.json");
        Files.writeString(p, "{\"model_type\": \"gpt2\", \"n_embd\": 768}");
        var e = assertThrows(IllegalArgumentException.class, () -> Qwen2Config.load(p));
        assertTrue(e.getMessage().contains("gpt2") && e.getMessage().contains("config.json"), e.getMessage());
        Files.writeString(p, "{\"model_type\": \"qwen2\", \"hidden_size\": 512}");
        e = assertThrows(IllegalArgumentException.class, () -> Qwen2Config.load(p));
        assertTrue(e.getMessage().contains("lacks 'num_attention_heads'"), e.getMessage());
        Files.writeString(p, "{\"model_type\": \"qwen2\", \"hidden_size\": 512, \"intermediate_size\": 8,"
                + "\"num_hidden_layers\": 1, \"num_attention_heads\": 8, \"num_key_value_heads\": 3, \"vocab_size\": 9}");
        e = assertThrows(IllegalArgumentException.class, () -> Qwen2Config.load(p));
        assertTrue(e.getMessage().contains("multiple of num_key_value_heads"), e.getMessage());
        var io = assertThrows(java.io.UncheckedIOException.class, () -> Qwen2Config.load(tmp.resolve("missing.json")));
        assertTrue(io.getMessage().contains("missing.json"), io.getMessage());
    }
}
