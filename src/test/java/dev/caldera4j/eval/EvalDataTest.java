package dev.caldera4j.eval;

import dev.caldera4j.tokenizer.Tokenizer;
import org.junit.jupiter.api.Test;

import java.nio.file.Path;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** Loader counts against standin-small's MODEL_CARD.md and the data's SOURCE.txt files. */
class EvalDataTest {

    @Test
    void wikitext2TokenCountMatchesModelCard() {
        Path dir = SharedData.evalDir(EvalData.WIKITEXT2);
        String text = EvalData.wikitext2(dir);
        assertTrue(text.startsWith(" \n\n\n = Robert Boulter = \n\n\n"), "rows keep their \\n and join with \\n\\n");
        int[] tokens = SharedData.standinTokenizer().encode(text);
        // MODEL_CARD.md: 381,159 tokens; 744 windows of 512, 186 of 2048 (no BOS, floor)
        assertEquals(381_159, tokens.length);
        assertEquals(744, Perplexity.windowCount(tokens.length, 512, 0));
        assertEquals(186, Perplexity.windowCount(tokens.length, 2048, 0));
    }

    @Test
    void c4TokenCountMatchesModelCard() {
        Path dir = SharedData.evalDir(EvalData.C4);
        int[] tokens = SharedData.standinTokenizer().encode(EvalData.c4(dir));
        // MODEL_CARD.md: 270,822 tokens; 528 windows of 512, 132 of 2048
        assertEquals(270_822, tokens.length);
        assertEquals(528, Perplexity.windowCount(tokens.length, 512, 0));
        assertEquals(132, Perplexity.windowCount(tokens.length, 2048, 0));
    }

    @Test
    void lambadaHas5153ItemsWithSpaceLedTargets() {
        List<Lambada.Item> items = EvalData.lambada(SharedData.evalDir(EvalData.LAMBADA));
        assertEquals(5153, items.size());
        for (Lambada.Item item : items) {
            assertTrue(item.target().startsWith(" ") && item.target().indexOf(' ', 1) < 0, item.target());
            assertTrue(!item.context().isEmpty());
        }
    }

    @Test
    void hellaSwagHas10042Tasks() {
        List<HellaSwag.Task> tasks = EvalData.hellaSwag(SharedData.evalDir(EvalData.HELLASWAG));
        assertEquals(10_042, tasks.size());
        HellaSwag.Task first = tasks.get(0);
        assertEquals("Roof shingle removal: A man is sitting on a roof. he", first.context());
        assertEquals(3, first.gold());
        assertEquals("starts pulling up roofing on a roof.", first.endings().get(3));
        for (HellaSwag.Task t : tasks) {
            for (String e : t.endings()) {
                assertTrue(!e.isEmpty(), "empty ending would divide acc_norm by 0: " + t.context());
            }
        }
    }

    /**
     * lm-eval's whole-minus-context split and tokenizing " " + word on its own give the same
     * target tokens for every LAMBADA item with this tokenizer (its split pattern cuts before a
     * space-led word), so the choice between the two cannot move the accuracy.
     */
    @Test
    void lambadaPairSplitEqualsSeparateTokenization() {
        List<Lambada.Item> items = EvalData.lambada(SharedData.evalDir(EvalData.LAMBADA));
        Tokenizer tok = SharedData.standinTokenizer();
        for (Lambada.Item item : items) {
            Loglikelihood.Pair pair = Loglikelihood.encode(tok, item.context(), item.target());
            assertEquals(List.of(box(tok.encode(item.context()))), List.of(box(pair.context())), item.context());
            assertEquals(List.of(box(tok.encode(item.target()))), List.of(box(pair.continuation())), item.target());
        }
    }

    /**
     * The same for HellaSwag endings, and the context's tokens are a prefix of context + " " +
     * ending (llama.cpp checks this too and prints "Oops" when not). First 500 tasks, to keep
     * the test short; the whole set was checked once (0 of 40,168 endings differ).
     */
    @Test
    void hellaSwagPairSplitEqualsSeparateTokenization() {
        List<HellaSwag.Task> tasks = EvalData.hellaSwag(SharedData.evalDir(EvalData.HELLASWAG));
        Tokenizer tok = SharedData.standinTokenizer();
        for (HellaSwag.Task t : tasks.subList(0, 500)) {
            int[] ctx = tok.encode(t.context());
            for (String e : t.endings()) {
                Loglikelihood.Pair pair = Loglikelihood.encode(tok, t.context(), " " + e);
                assertEquals(List.of(box(ctx)), List.of(box(pair.context())), t.context());
                assertEquals(List.of(box(tok.encode(" " + e))), List.of(box(pair.continuation())), e);
            }
        }
    }

    private static Integer[] box(int[] a) {
        Integer[] b = new Integer[a.length];
        for (int i = 0; i < a.length; i++) {
            b[i] = a[i];
        }
        return b;
    }
}
