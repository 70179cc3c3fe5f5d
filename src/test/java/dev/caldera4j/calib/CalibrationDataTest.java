package dev.caldera4j.calib;

import dev.caldera4j.tokenizer.Tokenizer;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.List;

import static org.junit.jupiter.api.Assertions.*;

class CalibrationDataTest {

    /** One token per byte: windows are then plain substrings, so where they come from can be checked exactly. */
    static final Tokenizer BYTES = new Tokenizer() {
        public int[] encode(String text) {
            byte[] b = text.getBytes(StandardCharsets.UTF_8);
            int[] ids = new int[b.length];
            for (int i = 0; i < b.length; i++) ids[i] = b[i] & 0xFF;
            return ids;
        }

        public String decode(int[] ids) {
            byte[] b = new byte[ids.length];
            for (int i = 0; i < ids.length; i++) b[i] = (byte) ids[i];
            return new String(b, StandardCharsets.UTF_8);
        }

        public int vocabSize() { return 256; }
        public int bosId() { return -1; }
        public int eosId() { return -1; }
    };

    @Test
    void sameSeedSameWindowsOtherSeedOthers() {
        Corpus c = Corpus.of("syn", Fixtures.synthetic(1, 40));
        CalibrationData a = CalibrationData.sample(c, BYTES, 12, 100, 7);
        CalibrationData b = CalibrationData.sample(c, BYTES, 12, 100, 7);
        CalibrationData d = CalibrationData.sample(c, BYTES, 12, 100, 8);
        assertTrue(Arrays.deepEquals(a.tokens(), b.tokens()), "same seed, same windows");
        assertEquals(a.sha256(), b.sha256());
        assertFalse(Arrays.deepEquals(a.tokens(), d.tokens()), "another seed draws other windows");
        assertNotEquals(a.sha256(), d.sha256());
        assertEquals(List.of("syn"), a.source());
        assertEquals(7, a.describe().get("seed").getAsLong());
    }

    @Test
    void windowsStartAtLineStartsAndStayInsideOneDocument() {
        String text = Fixtures.synthetic(2, 60);
        Corpus c = Corpus.of("syn", text);
        CalibrationData cd = CalibrationData.sample(c, BYTES, 50, 120, 3);
        for (int[] w : cd.tokens()) {
            String s = BYTES.decode(w);
            int at = text.indexOf(s);
            assertTrue(at >= 0, "a window is a piece of the corpus text: " + s);
            assertTrue(at == 0 || text.charAt(at - 1) == '\n', "a window starts at a line start: " + s);
            assertFalse(s.contains("\n\n"), "a window never crosses a document boundary: " + s);
        }
    }

    @Test
    void realTokenizerWindowsDecodeToCorpusText() {
        String text = Fixtures.synthetic(3, 30);
        Tokenizer tok = Fixtures.tinyTokenizer();
        CalibrationData cd = CalibrationData.sample(Corpus.of("syn", text), tok, 6, 64, 0);
        for (int[] w : cd.tokens()) {
            assertEquals(64, w.length);
            String s = tok.decode(w);
            int at = text.indexOf(s);
            assertTrue(at >= 0 && (at == 0 || text.charAt(at - 1) == '\n'), "decoded window is corpus text from a line start: " + s);
        }
    }

    @Test
    void documentsAreRunsOfNonBlankLines() {
        Corpus c = Corpus.of("t", "title\nbody one\n\n\n  \nsecond\n \t\nthird\nend");
        List<Corpus.Document> d = c.documents();
        assertEquals(3, d.size());
        String t = "title\nbody one\n\n\n  \nsecond\n \t\nthird\nend";
        assertEquals("title\nbody one", t.substring(d.get(0).start(), d.get(0).end()));
        assertEquals("second", t.substring(d.get(1).start(), d.get(1).end()));
        assertEquals("third\nend", t.substring(d.get(2).start(), d.get(2).end()));
        assertEquals(14 + 6 + 9, c.documentBytes());
    }

    @Test
    void xzFileReadsAsItsText(@TempDir Path tmp) throws Exception {
        Path dir = Fixtures.syntheticCorpus(tmp.resolve("corpus"), 4, 20);
        Files.writeString(dir.resolve("ignored.md"), "not a corpus file");
        Corpus fromXz = Corpus.load(dir);
        Corpus plain = Corpus.of("synthetic.txt.xz", Fixtures.synthetic(4, 20));
        assertEquals(List.of("synthetic.txt.xz"), fromXz.names());
        assertEquals(plain.documents(), fromXz.documents());
        assertTrue(Arrays.deepEquals(CalibrationData.sample(plain, BYTES, 5, 50, 1).tokens(),
                CalibrationData.sample(fromXz, BYTES, 5, 50, 1).tokens()));
    }

    @Test
    void badInputsNameTheProblem(@TempDir Path tmp) throws Exception {
        Corpus shortDocs = Corpus.of("short", "one line\n\nanother line\n");
        var e = assertThrows(IllegalArgumentException.class, () -> CalibrationData.sample(shortDocs, BYTES, 2, 500, 0));
        assertTrue(e.getMessage().contains("too short") && e.getMessage().contains("--calib-seqlen"), e.getMessage());
        var missing = assertThrows(IllegalArgumentException.class, () -> Corpus.load(tmp.resolve("nope")));
        assertTrue(missing.getMessage().contains("nope"), missing.getMessage());
        Files.createDirectories(tmp.resolve("empty"));
        var empty = assertThrows(IllegalArgumentException.class, () -> Corpus.load(tmp.resolve("empty")));
        assertTrue(empty.getMessage().contains("no *.txt.xz"), empty.getMessage());
        assertThrows(IllegalArgumentException.class, () -> CalibrationData.sample(shortDocs, BYTES, 0, 10, 0));
    }
}
