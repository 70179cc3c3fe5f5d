package dev.caldera4j.io;

import com.google.gson.JsonObject;
import com.google.gson.JsonParser;
import dev.caldera4j.model.Qwen2Config;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

class CheckpointTest {

    @TempDir
    Path tmp;

    static Path standinSmall() {
        Path dir = Path.of(System.getProperty("caldera4j.shared", "../shared")).resolve("data/models/standin-small");
        assumeTrue(Files.isRegularFile(dir.resolve(Checkpoint.INDEX_FILE)),
                "shared model absent: " + dir + " (needs config.json, model.safetensors.index.json and 4 shards)");
        return dir;
    }

    /** Every tensor name → shape a Qwen2 checkpoint with this config must hold (HF naming). */
    static Map<String, long[]> expectedShapes(Qwen2Config c) {
        Map<String, long[]> m = new LinkedHashMap<>();
        long h = c.hiddenSize(), q = c.qDim(), kv = c.kvDim(), im = c.intermediateSize();
        m.put("model.embed_tokens.weight", new long[] {c.vocabSize(), h});
        m.put("model.norm.weight", new long[] {h});
        if (!c.tieWordEmbeddings()) m.put("lm_head.weight", new long[] {c.vocabSize(), h});
        for (int l = 0; l < c.numLayers(); l++) {
            String p = "model.layers." + l + ".";
            m.put(p + "input_layernorm.weight", new long[] {h});
            m.put(p + "post_attention_layernorm.weight", new long[] {h});
            m.put(p + "self_attn.q_proj.weight", new long[] {q, h});
            m.put(p + "self_attn.k_proj.weight", new long[] {kv, h});
            m.put(p + "self_attn.v_proj.weight", new long[] {kv, h});
            m.put(p + "self_attn.o_proj.weight", new long[] {h, q});
            if (c.attentionBias()) {
                m.put(p + "self_attn.q_proj.bias", new long[] {q});
                m.put(p + "self_attn.k_proj.bias", new long[] {kv});
                m.put(p + "self_attn.v_proj.bias", new long[] {kv});
            }
            m.put(p + "mlp.gate_proj.weight", new long[] {im, h});
            m.put(p + "mlp.up_proj.weight", new long[] {im, h});
            m.put(p + "mlp.down_proj.weight", new long[] {h, im});
        }
        return m;
    }

    @Test
    void standinSmallEveryIndexedTensorReadsWithTheShapesOfConfigJson() throws IOException {
        Path dir = standinSmall();
        Qwen2Config cfg = Qwen2Config.load(dir.resolve("config.json"));
        Map<String, long[]> want = expectedShapes(cfg);
        JsonObject weightMap = JsonParser.parseString(Files.readString(dir.resolve(Checkpoint.INDEX_FILE)))
                .getAsJsonObject().getAsJsonObject("weight_map");
        try (Checkpoint ck = Checkpoint.open(dir)) {
            assertEquals(dir, ck.dir());
            assertEquals(4, ck.files().size(), "4 shards");
            assertEquals(weightMap.keySet(), new HashSet<>(ck.names()), "names() are the index's");
            assertEquals(want.keySet(), new HashSet<>(ck.names()), "a Qwen2 checkpoint of this config holds exactly these tensors");
            assertArrayEquals(new long[] {8192, 512}, ck.info("model.embed_tokens.weight").shape());
            long params = 0;
            for (String n : ck.names()) {
                TensorInfo t = ck.info(n);
                assertArrayEquals(want.get(n), t.shape(), n);
                assertEquals(DType.BF16, t.dtype(), n);
                assertEquals(weightMap.get(n).getAsString(), ck.file(n).path().getFileName().toString(), n + " routed to its shard");
                float[] v = ck.floats(n);
                assertEquals(t.numel(), v.length, n);
                boolean nonZero = false, finite = true;
                for (float x : v) {
                    finite &= Float.isFinite(x);
                    nonZero |= x != 0;
                }
                assertTrue(finite, n + " holds a non-finite value");
                assertTrue(nonZero, n + " is all zeros: a trained model's tensor cannot be");
                params += v.length;
            }
            assertEquals(cfg.parameterCount(), params, "every parameter of the config is in the checkpoint");

            // the first tensor of each shard against a naive decoding of the shard's bytes
            for (SafetensorsFile shard : ck.files()) {
                byte[] file = Files.readAllBytes(shard.path());
                String n = shard.names().getFirst();
                byte[] raw = Craft.tensorBytes(file, n);
                float[] got = ck.floats(n);
                for (int i = 0; i < got.length; i++) {
                    float expect = HalfTest.naiveBf16ToFloat((short) Craft.le(raw, 2 * i, 2));
                    if (Float.floatToRawIntBits(expect) != Float.floatToRawIntBits(got[i])) {
                        fail(n + "[" + i + "]: expected " + expect + ", read " + got[i]);  // message built only on failure: 4 M elements
                    }
                }
            }
            // gathering embedding rows equals slicing the whole table
            float[] emb = ck.floats("model.embed_tokens.weight");
            float[] rows = ck.floatRows("model.embed_tokens.weight", 8190, 2);
            assertArrayEquals(java.util.Arrays.copyOfRange(emb, 8190 * 512, 8192 * 512), rows);
        }
    }

    /** A sharded checkpoint written by SafetensorsWriter: a, b in shard 1; c in shard 2 (which also holds an unindexed x). */
    Path sharded(String index) throws IOException {
        Path dir = Files.createDirectories(tmp.resolve("sharded"));
        new SafetensorsWriter().add("a", DType.F32, new long[] {2}, new float[] {1, 2})
                .add("b", DType.I32, new long[] {1}, new int[] {5}).write(dir.resolve("s1.safetensors"));
        new SafetensorsWriter().add("c", DType.BF16, new long[] {2, 1}, new float[] {3, 4})
                .add("x", DType.U8, new long[] {1}, new byte[] {9}).write(dir.resolve("s2.safetensors"));
        Files.writeString(dir.resolve(Checkpoint.INDEX_FILE), index);
        return dir;
    }

    static final String INDEX = "{\"metadata\":{\"total_size\":20},\"weight_map\":{\"a\":\"s1.safetensors\","
            + "\"b\":\"s1.safetensors\",\"c\":\"s2.safetensors\"}}";

    @Test
    void shardedReadsAreRoutedToTheRightShard() throws IOException {
        Path dir = sharded(INDEX);
        try (Checkpoint ck = Checkpoint.open(dir)) {
            assertEquals(List.of("a", "b", "c"), ck.names(), "index order; the unindexed x is ignored");
            assertFalse(ck.has("x"));
            assertEquals(List.of(dir.resolve("s1.safetensors"), dir.resolve("s2.safetensors")),
                    ck.files().stream().map(SafetensorsFile::path).toList());
            assertArrayEquals(new float[] {1, 2}, ck.floats("a"));
            assertArrayEquals(new int[] {5}, ck.ints("b"));
            assertArrayEquals(new float[] {4}, ck.floatRows("c", 1, 1));
            assertArrayEquals(new short[] {0x4040, 0x4080}, ck.shorts("c"));
            assertEquals(dir.resolve("s2.safetensors"), ck.file("c").path());
            SafetensorsException e = assertThrows(SafetensorsException.class, () -> ck.floats("d"));
            assertTrue(e.getMessage().startsWith(dir + ": tensor 'd': no such tensor"), e.getMessage());
        }
    }

    @Test
    void singleFileCheckpoint() throws IOException {
        Path dir = Files.createDirectories(tmp.resolve("single"));
        new SafetensorsWriter().add("w", DType.F16, new long[] {3}, new float[] {1, -2, 0.5f})
                .add("s", DType.I8, new long[] {2}, new byte[] {-1, 1}).write(dir.resolve(Checkpoint.SINGLE_FILE));
        try (Checkpoint ck = Checkpoint.open(dir)) {
            assertEquals(List.of("s", "w"), ck.names());
            assertArrayEquals(new float[] {1, -2, 0.5f}, ck.floats("w"));
            assertArrayEquals(new byte[] {-1, 1}, ck.bytes("s"));
            assertEquals(1, ck.files().size());
        }
    }

    @Test
    void directoryWithNeitherFileListsWhatItHolds() throws IOException {
        Path dir = Files.createDirectories(tmp.resolve("empty-model"));
        Files.writeString(dir.resolve("config.json"), "{}");
        Files.write(dir.resolve("pytorch_model.bin"), new byte[4]);
        SafetensorsException e = assertThrows(SafetensorsException.class, () -> Checkpoint.open(dir));
        String m = e.getMessage();
        assertTrue(m.startsWith(dir.toString()) && m.contains("neither model.safetensors nor model.safetensors.index.json")
                && m.contains("found: config.json, pytorch_model.bin")
                && m.contains("pass the model directory that holds config.json and *.safetensors"), m);

        Path file = dir.resolve("config.json");
        m = assertThrows(SafetensorsException.class, () -> Checkpoint.open(file)).getMessage();
        assertTrue(m.contains("is not a directory") && m.contains("pass the model directory"), m);
        m = assertThrows(SafetensorsException.class, () -> Checkpoint.open(tmp.resolve("nope"))).getMessage();
        assertTrue(m.contains("does not exist"), m);
    }

    @Test
    void indexNamingAMissingShard() throws IOException {
        Path dir = sharded(INDEX.replace("\"c\":\"s2.safetensors\"", "\"c\":\"s3.safetensors\""));
        SafetensorsException e = assertThrows(SafetensorsException.class, () -> Checkpoint.open(dir));
        assertEquals("c", e.tensor());
        assertEquals(dir.resolve(Checkpoint.INDEX_FILE), e.file());
        assertTrue(e.getMessage().contains("'s3.safetensors'") && e.getMessage().contains("fetch s3.safetensors"), e.getMessage());
    }

    @Test
    void tensorInTheIndexAbsentFromItsShard() throws IOException {
        Path dir = sharded(INDEX.replace("\"c\":\"s2.safetensors\"", "\"c\":\"s1.safetensors\""));
        SafetensorsException e = assertThrows(SafetensorsException.class, () -> Checkpoint.open(dir));
        assertEquals("c", e.tensor());
        assertEquals(dir.resolve("s1.safetensors"), e.file());
        assertTrue(e.getMessage().contains("tensor 'c': is listed in model.safetensors.index.json but absent from this shard"),
                e.getMessage());
    }

    @Test
    void malformedIndex() throws IOException {
        Path dir = sharded("{\"metadata\":{}}");
        String m = assertThrows(SafetensorsException.class, () -> Checkpoint.open(dir)).getMessage();
        assertTrue(m.contains(Checkpoint.INDEX_FILE) && m.contains("no \"weight_map\""), m);
        Files.writeString(dir.resolve(Checkpoint.INDEX_FILE), "{\"weight_map\":{\"a\":");
        m = assertThrows(SafetensorsException.class, () -> Checkpoint.open(dir)).getMessage();
        assertTrue(m.contains(Checkpoint.INDEX_FILE) && m.contains("malformed JSON"), m);
        Files.writeString(dir.resolve(Checkpoint.INDEX_FILE), "{\"weight_map\":{\"a\":3}}");
        m = assertThrows(SafetensorsException.class, () -> Checkpoint.open(dir)).getMessage();
        assertTrue(m.contains("tensor 'a'") && m.contains("not a shard file name"), m);
        Set<String> left = new HashSet<>(SafetensorsRoundTripTest.listing(dir));
        assertEquals(Set.of("s1.safetensors", "s2.safetensors", Checkpoint.INDEX_FILE), left);
    }
}
