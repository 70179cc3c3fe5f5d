package dev.caldera4j.tokenizer;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.google.gson.JsonObject;
import com.google.gson.JsonParser;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.stream.Stream;

import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class Qwen2TokenizerBuilderTest {

    /** Round trips use the first 200,000 chars of the WikiText-2 test text: enough variety, a fraction of a second. */
    private static final int ROUND_TRIP_CHARS = 200_000;

    @TempDir
    static Path out;
    private static Path json;
    private static HfTokenizer qwen2;

    /** Qwen2's tokenizer built from the shared vocab.json + merges.txt, once for the class (~3 s). */
    private static HfTokenizer qwen2() {
        if (qwen2 == null) {
            Path dir = SharedData.require("data/tokenizers/qwen2");
            json = out.resolve("qwen2").resolve("tokenizer.json");
            Qwen2TokenizerBuilder.write(dir.resolve("vocab.json"), dir.resolve("merges.txt"), json);
            qwen2 = HfTokenizer.load(json, -1, Qwen2TokenizerBuilder.ENDOFTEXT);
        }
        return qwen2;
    }

    @AfterAll
    static void close() {
        if (qwen2 != null) qwen2.close();
    }

    @Test
    void knownQwen2Ids() {
        // Ids of Qwen2's released tokenizer (shared/data/tokenizers/qwen2/SOURCE.txt spot checks).
        assertArrayEquals(new int[] {9707}, qwen2().encode("Hello"));
        assertArrayEquals(new int[] {1879}, qwen2().encode(" world"));
        assertArrayEquals(new int[] {14615}, qwen2().encode("world"));
        assertArrayEquals(new int[] {279}, qwen2().encode(" the"));
        assertArrayEquals(new int[] {108386}, qwen2().encode("你好"));
        assertArrayEquals(new int[] {9707, 1879}, qwen2().encode("Hello world"));
        // Qwen2's pattern splits numbers into single digits ("0" = 15 … "9" = 24 in vocab.json).
        assertArrayEquals(new int[] {17, 15, 17, 19}, qwen2().encode("2024"));
        // NFC: a decomposed é encodes as the composed one.
        assertArrayEquals(qwen2().encode("caf\u00e9"), qwen2().encode("cafe\u0301"));
    }

    @Test
    void specialTokens() {
        assertEquals(151646, qwen2().vocabSize());
        assertEquals(151643, qwen2().eosId());
        assertArrayEquals(new int[] {151644, 9707, 151645, 151643}, qwen2().encode("<|im_start|>Hello<|im_end|><|endoftext|>"));
        assertEquals("Hello world", qwen2().decode(new int[] {151644, 9707, 1879, 151645}));
    }

    @Test
    void wikitextRoundTripsWithQwen2AndStandin() {
        String text = SharedData.wikitextTestText().substring(0, ROUND_TRIP_CHARS);
        int[] ids = qwen2().encode(text);
        assertTrue(ids.length > ROUND_TRIP_CHARS / 8, "implausibly few tokens: " + ids.length);
        assertEquals(text, qwen2().decode(ids));
        try (HfTokenizer standin = HfTokenizer.load(SharedData.require("data/models/standin-small/tokenizer.json"))) {
            assertEquals(text, standin.decode(standin.encode(text)));
        }
    }

    @Test
    void pipelineIsQwen2s() throws IOException {
        qwen2();
        JsonObject t = JsonParser.parseString(Files.readString(json)).getAsJsonObject();
        JsonObject split = t.getAsJsonObject("pre_tokenizer").getAsJsonArray("pretokenizers").get(0).getAsJsonObject();
        // standin-small's tokenizer.json was written by HF tokenizers with Qwen2's pattern: an outside copy of it.
        JsonObject standin = JsonParser.parseString(Files.readString(
                SharedData.require("data/models/standin-small/tokenizer.json"))).getAsJsonObject();
        assertEquals(standin.getAsJsonObject("pre_tokenizer").getAsJsonArray("pretokenizers").get(0)
                .getAsJsonObject().getAsJsonObject("pattern").get("Regex").getAsString(),
                split.getAsJsonObject("pattern").get("Regex").getAsString());
        assertEquals("Isolated", split.get("behavior").getAsString());
        assertEquals("NFC", t.getAsJsonObject("normalizer").get("type").getAsString());
        assertEquals(151_387, t.getAsJsonObject("model").getAsJsonArray("merges").size());
        assertEquals(151_643, t.getAsJsonObject("model").getAsJsonObject("vocab").size());
    }

    /** A synthetic vocab.json of Qwen2's size: a, b, ab, then filler tokens t3 … t151642. */
    private static void writeVocab(Path vocab) throws IOException {
        StringBuilder sb = new StringBuilder("{\"a\":0,\"b\":1,\"ab\":2");
        for (int id = 3; id < Qwen2TokenizerBuilder.ENDOFTEXT; id++) sb.append(",\"t").append(id).append("\":").append(id);
        Files.writeString(vocab, sb.append('}'));
    }

    @Test
    void writeIsAtomicAndReplaces(@TempDir Path dir) throws IOException {
        Path vocab = dir.resolve("vocab.json"), merges = dir.resolve("merges.txt"), target = dir.resolve("tokenizer.json");
        writeVocab(vocab);
        Files.writeString(merges, "#version: 0.2\na b\n");
        Files.writeString(target, "old");
        Qwen2TokenizerBuilder.write(vocab, merges, target);
        try (Stream<Path> s = Files.list(dir)) {
            assertEquals(3, s.count(), "no temp file left beside the output");
        }
        try (HfTokenizer t = HfTokenizer.load(target, -1, -1)) {
            assertEquals(151646, t.vocabSize());
            assertArrayEquals(new int[] {2}, t.encode("ab"));
            assertArrayEquals(new int[] {151644, 2, 1}, t.encode("<|im_start|>abb"));
        }
    }

    @Test
    void badInputIsNamed(@TempDir Path dir) throws IOException {
        Path vocab = dir.resolve("vocab.json"), merges = dir.resolve("merges.txt"), target = dir.resolve("tokenizer.json");
        writeVocab(vocab);
        Files.writeString(merges, "#version: 0.2\na b\nab c\n");
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> Qwen2TokenizerBuilder.write(vocab, merges, target));
        assertTrue(e.getMessage().contains("line 3") && e.getMessage().contains("ab c"), e.getMessage());
        Files.writeString(merges, "a  b\n");
        e = assertThrows(IllegalArgumentException.class, () -> Qwen2TokenizerBuilder.write(vocab, merges, target));
        assertTrue(e.getMessage().contains("line 1"), e.getMessage());
        Files.writeString(merges, "a b\n");
        Files.writeString(vocab, "{\"a\":0,\"b\":1,\"ab\":2}");
        e = assertThrows(IllegalArgumentException.class, () -> Qwen2TokenizerBuilder.write(vocab, merges, target));
        assertTrue(e.getMessage().contains("has 3 tokens"), e.getMessage());
        Files.writeString(vocab, "{\"a\":0,\"b\":5}");
        e = assertThrows(IllegalArgumentException.class, () -> Qwen2TokenizerBuilder.write(vocab, merges, target));
        assertTrue(e.getMessage().contains("\"b\" has id 5"), e.getMessage());
        assertTrue(Files.notExists(target), "nothing written on bad input");
    }
}
