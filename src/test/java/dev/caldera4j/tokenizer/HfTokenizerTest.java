package dev.caldera4j.tokenizer;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.stream.Stream;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class HfTokenizerTest {

    /** standin-small's MODEL_CARD.md: transformers counts 381,159 tokens in the WikiText-2 test text. */
    private static final int WIKITEXT_TEST_TOKENS = 381_159;
    /** Generous bound on encoding the whole WikiText-2 test text: it takes ~2 s here; 30 s means something is wrong. */
    private static final long WHOLE_ENCODE_LIMIT_MS = 30_000;

    private static Path standin() { return SharedData.require("data/models/standin-small"); }

    @Test
    void standinSmallIdsAndSpecialTokens() {
        try (HfTokenizer dir = HfTokenizer.load(standin());
             HfTokenizer file = HfTokenizer.load(standin().resolve("tokenizer.json"))) {
            assertEquals(8192, dir.vocabSize());
            // config.json / generation_config.json: bos_token_id = eos_token_id = 0 (<|endoftext|>)
            assertEquals(0, dir.bosId());
            assertEquals(0, dir.eosId());
            assertEquals(0, file.bosId());
            int[] ids = dir.encode("Hello world");
            assertArrayEquals(ids, file.encode("Hello world"));
            assertTrue(ids.length > 0 && Arrays.stream(ids).noneMatch(i -> i == 0), "no special token added: " + Arrays.toString(ids));
            assertEquals(0, dir.encode("").length);
            // As HF: a special token's text inside the input is matched as that token; decode drops it.
            assertArrayEquals(new int[] {0}, dir.encode("<|endoftext|>"));
            int[] wrapped = new int[ids.length + 2];
            System.arraycopy(ids, 0, wrapped, 1, ids.length);
            assertEquals("Hello world", dir.decode(wrapped));
            IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> dir.decode(new int[] {5, 8192}));
            assertTrue(e.getMessage().contains("8192") && e.getMessage().contains("position 1"), e.getMessage());
        }
    }

    @Test
    void wholeWikitextTestEncodesLikeTransformersAndRoundTrips() {
        String text = SharedData.wikitextTestText();
        try (HfTokenizer tok = HfTokenizer.load(standin())) {
            long t0 = System.nanoTime();
            int[] ids = tok.encode(text);
            long ms = (System.nanoTime() - t0) / 1_000_000;
            assertEquals(WIKITEXT_TEST_TOKENS, ids.length, "no truncation, same count as transformers");
            assertTrue(ms < WHOLE_ENCODE_LIMIT_MS, "encoding took " + ms + " ms");
            // Exact: WikiText's " , " and " @-@ " would not survive clean_up_tokenization_spaces.
            assertEquals(text, tok.decode(ids));
        }
    }

    @Test
    void missingTokenizerIsNamed(@TempDir Path dir) {
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> HfTokenizer.load(dir.resolve("nothing.json")).close());
        assertTrue(e.getMessage().contains("nothing.json"), e.getMessage());
    }

    @Test
    void nativeLibraryIsCopiedIntoTheProject(@TempDir Path dir) throws IOException {
        assumeTrue(System.getenv("ENGINE_CACHE_DIR") == null && System.getenv("DJL_CACHE_DIR") == null,
                "DJL cache dir set from outside; the project-local default does not apply");
        assumeTrue(Files.isRegularFile(Path.of("pom.xml")), "not run from the project directory");
        try (HfTokenizer tok = HfTokenizer.load(writeTinyTokenizer(dir))) {
            assertEquals(2, tok.encode("ab ab").length);
        }
        Path cache = Path.of(System.getProperty("ENGINE_CACHE_DIR"));
        assertEquals(Path.of("target", "djl-cache").toAbsolutePath(), cache);
        try (Stream<Path> s = Files.walk(cache)) {
            assertTrue(s.anyMatch(p -> p.getFileName().toString().equals("libtokenizers.so")), "no libtokenizers.so under " + cache);
        }
    }

    /** A 5-token BPE tokenizer.json: a, b, ab and two added special tokens. */
    static Path writeTinyTokenizer(Path dir) throws IOException {
        Path json = dir.resolve("tokenizer.json");
        Files.writeString(json, """
                {"version":"1.0","truncation":null,"padding":null,
                 "added_tokens":[
                  {"id":3,"content":"<s>","single_word":false,"lstrip":false,"rstrip":false,"normalized":false,"special":true},
                  {"id":4,"content":"</s>","single_word":false,"lstrip":false,"rstrip":false,"normalized":false,"special":true}],
                 "normalizer":null,
                 "pre_tokenizer":{"type":"WhitespaceSplit"},
                 "post_processor":null,"decoder":null,
                 "model":{"type":"BPE","dropout":null,"unk_token":null,"continuing_subword_prefix":null,
                  "end_of_word_suffix":null,"fuse_unk":false,"byte_fallback":false,
                  "vocab":{"a":0,"b":1,"ab":2},"merges":["a b"]}}
                """);
        return json;
    }

    @Test
    void bosEosComeFromTheConfigFilesInOrder(@TempDir Path dir) throws IOException {
        Path json = writeTinyTokenizer(dir);
        try (HfTokenizer t = HfTokenizer.load(dir)) {
            assertEquals(5, t.vocabSize());
            assertEquals(-1, t.bosId());
            assertEquals(-1, t.eosId());
            assertArrayEquals(new int[] {2, 0}, t.encode("ab a"));
        }
        Files.writeString(dir.resolve("tokenizer_config.json"),
                "{\"bos_token\": \"<s>\", \"eos_token\": {\"content\": \"</s>\", \"special\": true}}");
        try (HfTokenizer t = HfTokenizer.load(json)) {
            assertEquals(3, t.bosId());
            assertEquals(4, t.eosId());
        }
        Files.writeString(dir.resolve("config.json"), "{\"bos_token_id\": null, \"eos_token_id\": [3, 4]}");
        try (HfTokenizer t = HfTokenizer.load(dir)) {
            assertEquals(3, t.bosId(), "config.json's null bos falls through to tokenizer_config.json");
            assertEquals(3, t.eosId(), "first id of the list");
        }
        Files.writeString(dir.resolve("generation_config.json"), "{\"bos_token_id\": 4, \"eos_token_id\": 4}");
        try (HfTokenizer t = HfTokenizer.load(dir)) {
            assertEquals(4, t.bosId());
            assertEquals(4, t.eosId());
        }
        try (HfTokenizer t = HfTokenizer.load(json, 3, -1)) {
            assertEquals(3, t.bosId());
            assertEquals(-1, t.eosId());
        }
        Files.writeString(dir.resolve("generation_config.json"), "{\"eos_token_id\": 7}");
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> HfTokenizer.load(dir).close());
        assertTrue(e.getMessage().contains("generation_config.json") && e.getMessage().contains("7"), e.getMessage());
        Files.delete(dir.resolve("generation_config.json"));
        Files.delete(dir.resolve("config.json"));
        Files.writeString(dir.resolve("tokenizer_config.json"), "{\"eos_token\": \"<|im_end|>\"}");
        e = assertThrows(IllegalArgumentException.class, () -> HfTokenizer.load(dir).close());
        assertTrue(e.getMessage().contains("tokenizer_config.json") && e.getMessage().contains("<|im_end|>"), e.getMessage());
    }
}
