package dev.caldera4j.tokenizer;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.Random;

import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class Llama2cTokenizerTest {

    private static final String LILY = "Once upon a time, there was a little girl named Lily.";
    private static Llama2cTokenizer tok;

    @BeforeAll
    static void load() {
        tok = Llama2cTokenizer.load(SharedData.require("data/models/stories260K/tok512.bin"));
    }

    private static int id(String piece) {
        int id = tok.id(piece.getBytes(StandardCharsets.UTF_8));
        assertTrue(id >= 0, "tok512 lacks the piece \"" + piece + "\"");
        return id;
    }

    @Test
    void fileLayout() {
        assertEquals(512, tok.vocabSize());
        assertEquals(7, tok.maxTokenLength);
        assertEquals(1, tok.bosId());
        assertEquals(2, tok.eosId());
        assertEquals("\n<s>\n", new String(tok.piece(1), StandardCharsets.UTF_8));
        assertEquals("<0x41>", new String(tok.piece(3 + 0x41), StandardCharsets.UTF_8));
    }

    @Test
    void decodeKnownSequence() {
        // BOS, " " (leading space dropped after BOS), "H", "i", bytes E4 BD A0 (= 你), " " kept mid-text, "!", EOS.
        int[] ids = {1, id(" "), id("H"), id("i"), 3 + 0xE4, 3 + 0xBD, 3 + 0xA0, id(" "), id("!"), 2};
        assertEquals("Hi你 !", tok.decode(ids));
        // Without BOS the sequence start drops the space too (it is encode's dummy prefix).
        assertEquals("t", tok.decode(new int[] {id(" t")}));
        assertEquals("tt", tok.decode(new int[] {id(" t"), id("t")}));
        assertEquals("t t", tok.decode(new int[] {id(" t"), id(" t")}));
        assertThrows(IllegalArgumentException.class, () -> tok.decode(new int[] {512}));
    }

    @Test
    void encodeLilyRoundTrips() {
        int[] ids = tok.encode(LILY);
        assertEquals(LILY, tok.decode(ids));
        assertArrayEquals(tok.encodeNaive(LILY), ids);
        assertTrue(ids.length < LILY.length() / 2, "merges ran: " + ids.length + " tokens for " + LILY.length() + " chars");
        // The dummy space merged into the first word: the first piece starts with " O".
        assertTrue(new String(tok.piece(ids[0]), StandardCharsets.UTF_8).startsWith(" O"));
        assertNoMergeLeft(ids);
        assertEquals(0, tok.encode("").length);
    }

    /** run.c's loop stops only when no adjacent pair concatenates to a piece with score above -1e10. */
    private static void assertNoMergeLeft(int[] ids) {
        for (int i = 0; i + 1 < ids.length; i++) {
            byte[] a = tok.piece(ids[i]), b = tok.piece(ids[i + 1]);
            byte[] ab = Arrays.copyOf(a, a.length + b.length);
            System.arraycopy(b, 0, ab, a.length, b.length);
            int merged = tok.id(ab);
            assertFalse(merged >= 0 && tok.score(merged) > -1e10f, "pair at " + i + " is still mergeable into " + merged);
        }
    }

    @Test
    void byteFallbackRoundTrips() {
        String s = "Tom said: 你好 🙂 ok";
        int[] ids = tok.encode(s);
        assertEquals(s, tok.decode(ids));
        assertArrayEquals(tok.encodeNaive(s), ids);
        // 🙂 is F0 9F 99 82, none of tok512's pieces: four byte tokens.
        int at = indexOf(ids, 3 + 0xF0);
        assertTrue(at >= 0, Arrays.toString(ids));
        assertArrayEquals(new int[] {3 + 0xF0, 3 + 0x9F, 3 + 0x99, 3 + 0x82}, Arrays.copyOfRange(ids, at, at + 4));
    }

    private static int indexOf(int[] a, int v) {
        for (int i = 0; i < a.length; i++) if (a[i] == v) return i;
        return -1;
    }

    @Test
    void priorityQueueEncodeMatchesRunCLoop() {
        Random rnd = new Random(42);
        String alphabet = "abcdefghijklmnopqrstuvwxyz ABCLOST.,!?'\"\n\t-0123456789éü你好🙂";
        int[] cps = alphabet.codePoints().toArray();
        for (int len : new int[] {0, 1, 2, 3, 7, 31, 64, 257, 1000}) {
            for (int rep = 0; rep < 4; rep++) {
                StringBuilder sb = new StringBuilder();
                for (int i = 0; i < len; i++) sb.appendCodePoint(cps[rnd.nextInt(cps.length)]);
                String s = sb.toString();
                int[] fast = tok.encode(s);
                assertArrayEquals(tok.encodeNaive(s), fast, "len " + len + " rep " + rep);
                assertEquals(s, tok.decode(fast));
            }
        }
        String story = SharedData.wikitextTestText().substring(0, 3000);
        int[] ids = tok.encode(story);
        assertArrayEquals(tok.encodeNaive(story), ids);
        assertEquals(story, tok.decode(ids));
        assertNoMergeLeft(ids);
    }

    @Test
    void badFilesAreNamed(@TempDir Path dir) throws IOException {
        byte[] good = Files.readAllBytes(SharedData.require("data/models/stories260K/tok512.bin"));
        Path cut = dir.resolve("cut.bin");
        Files.write(cut, Arrays.copyOf(good, good.length - 3));
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> Llama2cTokenizer.load(cut));
        assertTrue(e.getMessage().contains("cut.bin") && e.getMessage().contains("id 511"), e.getMessage());
        Path tiny = dir.resolve("tiny.bin");
        Files.write(tiny, new byte[] {1, 0});
        e = assertThrows(IllegalArgumentException.class, () -> Llama2cTokenizer.load(tiny));
        assertTrue(e.getMessage().contains("tiny.bin"), e.getMessage());
    }
}
