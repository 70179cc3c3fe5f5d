package dev.caldera4j.eval;

import dev.caldera4j.model.Qwen2Loader;
import dev.caldera4j.model.Qwen2Model;
import dev.caldera4j.tokenizer.Tokenizer;
import dev.caldera4j.tokenizer.Tokenizers;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.EnumSet;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.Set;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** Evaluating from tokenize-eval's file gives what evaluating from the texts gives; a bad file is refused. */
class TokenizedEvalTest {
    private static final Fakes.CharTokenizer TOK = new Fakes.CharTokenizer();

    private static Evaluator.Inputs inputs() {
        Random rnd = new Random(5);
        int[] wiki = new int[2048 + 512 * 3 + 7];
        int[] c4 = new int[2048 + 100];
        for (int i = 0; i < wiki.length; i++) wiki[i] = 'a' + rnd.nextInt(26);
        for (int i = 0; i < c4.length; i++) c4[i] = 'a' + rnd.nextInt(26);
        List<Lambada.Item> lambada = List.of(Lambada.parse("a bc"), Lambada.parse("xy z"), Lambada.parse("xyz ab"),
                Lambada.parse("q rs"));
        List<HellaSwag.Task> hs = List.of(new HellaSwag.Task("Ctx: ab", 0, List.of("bc", "zz", "qq", "b")),
                new HellaSwag.Task("Ctx: k", 2, List.of("a", "bb", "lmn", "dddd")),
                new HellaSwag.Task("Other", 1, List.of("x", "pq", "ccc", "dd")));
        return new Evaluator.Inputs(Map.of(EvalSet.WIKITEXT2, wiki, EvalSet.C4, c4), lambada, hs, Set.of(EvalSet.values()));
    }

    /** Rows without the wall-clock fields. */
    private static List<Map<String, Object>> timeless(EvalReport r) {
        return r.rows(Map.of("model", "m")).stream().map(row -> {
            Map<String, Object> m = new HashMap<>(row);
            m.remove("seconds");
            m.remove("tokens_per_s");
            return m;
        }).toList();
    }

    @Test
    void writtenAndReadBackItEvaluatesExactlyAsTheTexts(@TempDir Path dir) {
        // follows the alphabet, 'z' → ' ' → 'a': LAMBADA's "xyz ab" is its greedy choice, the other items are not
        Fakes.Follower model = new Fakes.Follower(128, t -> t == 'z' ? ' ' : t == ' ' ? 'a' : t + 1 < 128 ? t + 1 : 0, 0.6);
        Evaluator.Inputs in = inputs();
        TokenizedEval t = TokenizedEval.of(TOK, "abc123", in, "test");
        Path f = dir.resolve("sub/eval.tok");
        t.write(f);
        TokenizedEval back = TokenizedEval.read(f);
        assertEquals("abc123", back.tokenizerId());
        assertEquals(128, back.vocabSize());
        assertEquals(EnumSet.allOf(EvalSet.class), EnumSet.copyOf(back.sets()));
        assertArrayEquals(in.tokens().get(EvalSet.C4), back.tokens().get(EvalSet.C4));
        assertEquals(4, back.lambada().size());
        assertArrayEquals(new int[] {' ', 'b', 'c'}, back.lambada().get(0).continuation(), "LAMBADA target \" bc\"");
        assertEquals(3, back.hellaSwag().size());
        assertArrayEquals(new int[] {1, 2, 3, 4}, back.hellaSwag().get(1).endingChars());
        for (EvalMode mode : EvalMode.values()) {
            EvalReport fromText = Evaluator.run(model, TOK, in, mode, List.of(), false);
            EvalReport fromIds = Evaluator.run(model, back, mode, List.of(), false);
            assertEquals(timeless(fromText), timeless(fromIds), mode + " evaluation");
            assertEquals(1, fromIds.lambada().correct(), "the check sees a right item and wrong ones");
        }
        assertTrue(Files.exists(f) && !Files.exists(dir.resolve("sub/eval.tok.tmp")), "no temporary file left");
    }

    @Test
    void tinyModelWithItsRealTokenizerScoresTheSameFromIds(@TempDir Path dir) throws Exception {
        Path evalDir = SharedData.evalDir(EvalData.HELLASWAG);
        Path modelDir = Path.of("data/models/tiny");
        Qwen2Model m = new Qwen2Model(Qwen2Loader.load(modelDir));
        Tokenizer tok = Tokenizers.load(modelDir);
        try {
            Evaluator.Inputs all = Evaluator.load(tok, evalDir, EnumSet.allOf(EvalSet.class));
            // a slice keeps it fast on the CPU: 2 windows of 256 per set, 12 LAMBADA items, 6 HellaSwag tasks
            Evaluator.Inputs in = new Evaluator.Inputs(
                    Map.of(EvalSet.WIKITEXT2, java.util.Arrays.copyOf(all.tokens().get(EvalSet.WIKITEXT2), 512),
                            EvalSet.C4, java.util.Arrays.copyOf(all.tokens().get(EvalSet.C4), 512)),
                    all.lambada().subList(0, 12), all.hellaSwag().subList(0, 6), all.sets());
            TokenizedEval t = TokenizedEval.of(tok, TokenizedEval.tokenizerId(modelDir), in, "tiny slice");
            t.write(dir.resolve("tiny.tok"));
            TokenizedEval back = TokenizedEval.read(dir.resolve("tiny.tok"));
            back.requireTokenizer(modelDir);
            EvalReport fromText = Evaluator.run(m, tok, in, EvalMode.QUICK, List.of(256), false);
            EvalReport fromIds = Evaluator.run(m, back, EvalMode.QUICK, List.of(256), false);
            assertEquals(timeless(fromText), timeless(fromIds));
            assertEquals(12, fromIds.lambada().items());
            assertEquals(6, fromIds.hellaSwag().tasks());
        } finally {
            if (tok instanceof AutoCloseable c) c.close();
        }
    }

    @Test
    void aDamagedOrForeignFileIsRefusedWithTheReason(@TempDir Path dir) throws Exception {
        Path f = dir.resolve("eval.tok");
        TokenizedEval.of(TOK, "id", inputs(), "test").write(f);
        byte[] bytes = Files.readAllBytes(f);

        Path cut = dir.resolve("cut.tok");
        Files.write(cut, java.util.Arrays.copyOf(bytes, bytes.length / 2));
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> TokenizedEval.read(cut));
        assertTrue(e.getMessage().contains("cut") || e.getMessage().contains("damaged"), e.getMessage());

        Path flipped = dir.resolve("flipped.tok");
        byte[] b = bytes.clone();
        b[b.length - 6] ^= 0x5a; // inside gzip's CRC-32 / length trailer
        Files.write(flipped, b);
        e = assertThrows(IllegalArgumentException.class, () -> TokenizedEval.read(flipped));
        assertTrue(e.getMessage().contains("damaged"), e.getMessage());

        Path foreign = dir.resolve("foreign.tok");
        try (var out = new java.io.DataOutputStream(new java.util.zip.GZIPOutputStream(Files.newOutputStream(foreign)))) {
            out.writeUTF("something-else");
        }
        e = assertThrows(IllegalArgumentException.class, () -> TokenizedEval.read(foreign));
        assertTrue(e.getMessage().contains("not a caldera4j evaluation-tokens file"), e.getMessage());

        e = assertThrows(IllegalArgumentException.class, () -> TokenizedEval.read(dir.resolve("missing.tok")));
        assertTrue(e.getMessage().contains("tokenize-eval"), e.getMessage());
    }

    @Test
    void restrictingKeepsTheChosenSetsAndRefusesAbsentOnes() {
        TokenizedEval all = TokenizedEval.of(TOK, "id", inputs(), "test");
        TokenizedEval two = all.restrictTo(EnumSet.of(EvalSet.C4, EvalSet.LAMBADA));
        assertEquals(Set.of(EvalSet.C4), two.tokens().keySet());
        assertEquals(4, two.lambada().size());
        assertTrue(two.hellaSwag().isEmpty());
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> two.restrictTo(EnumSet.of(EvalSet.C4, EvalSet.HELLASWAG)));
        assertTrue(e.getMessage().contains("but not [HELLASWAG]"), e.getMessage());
    }

    @Test
    void aModelWithAnotherTokenizerIsRefused(@TempDir Path dir) throws Exception {
        Path a = Files.createDirectories(dir.resolve("a"));
        Path b = Files.createDirectories(dir.resolve("b"));
        Files.writeString(a.resolve("tokenizer.json"), "{\"model\": 1}");
        Files.writeString(b.resolve("tokenizer.json"), "{\"model\": 2}");
        TokenizedEval t = TokenizedEval.of(TOK, TokenizedEval.tokenizerId(a), inputs(), "test");
        t.requireTokenizer(a);
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> t.requireTokenizer(b));
        assertTrue(e.getMessage().contains("not the one"), e.getMessage());
        Path none = Files.createDirectories(dir.resolve("none"));
        e = assertThrows(IllegalArgumentException.class, () -> TokenizedEval.tokenizerId(none));
        assertTrue(e.getMessage().contains("no tokenizer file"), e.getMessage());
    }
}
