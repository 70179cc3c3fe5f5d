package dev.caldera4j.eval;

import dev.caldera4j.util.Progress;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.Set;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

class EvaluatorTest {
    /** Uniform logits give ppl = V up to double rounding of ~10⁵ summed logs (see PerplexityTest). */
    private static final double EXACT_REL_TOL = 1e-9;
    private static final Fakes.CharTokenizer TOK = new Fakes.CharTokenizer();

    private static Evaluator.Inputs inputs() {
        Random rnd = new Random(3);
        int[] wiki = new int[512 * 70 + 5];   // 70 windows of 512, 17 of 2048
        int[] c4 = new int[512 * 40 + 511];   // 40 windows of 512, 10 of 2048
        for (int i = 0; i < wiki.length; i++) {
            wiki[i] = rnd.nextInt(128);
        }
        for (int i = 0; i < c4.length; i++) {
            c4[i] = rnd.nextInt(128);
        }
        List<Lambada.Item> lambada = List.of(Lambada.parse("a b"), Lambada.parse("c de"), Lambada.parse("fg h"));
        List<HellaSwag.Task> hs = List.of(new HellaSwag.Task("Ctx: x", 0, List.of("a", "bb", "ccc", "dddd")),
                new HellaSwag.Task("Ctx: y", 3, List.of("a", "bb", "ccc", "dddd")));
        return new Evaluator.Inputs(Map.of(EvalSet.WIKITEXT2, wiki, EvalSet.C4, c4), lambada, hs, Set.of(EvalSet.values()));
    }

    @Test
    void quickModeEvaluatesTheFixedSubset() {
        EvalReport r = Evaluator.run(new Fakes.Uniform(128), TOK, inputs(), EvalMode.QUICK, List.of(), false);
        assertEquals(2, r.perplexities().size());
        Perplexity.Result wiki = r.ppl(EvalSet.WIKITEXT2, 512);
        assertEquals(64, wiki.windows(), "quick: first 64 windows of 512");
        assertEquals(40, r.ppl(EvalSet.C4, 512).windows(), "fewer than 64 available: all of them");
        assertEquals(128, wiki.ppl(), 128 * EXACT_REL_TOL);
        assertNull(r.ppl(EvalSet.WIKITEXT2, 2048));
        assertEquals(3, r.lambada().items());
        assertEquals(0, r.lambada().correct(), "all-zero logits pick token 0, never a letter");
        assertEquals(2, r.hellaSwag().tasks());
        // uniform: acc picks the shortest ending (index 0), acc_norm the longest (index 3)
        assertEquals(1, r.hellaSwag().correct());
        assertEquals(1, r.hellaSwag().correctNorm());
    }

    @Test
    void fullModeRunsBothSeqlensOnEverything() {
        EvalReport r = Evaluator.run(new Fakes.Uniform(128), TOK, inputs(), EvalMode.FULL, List.of(), false);
        assertEquals(17, r.ppl(EvalSet.WIKITEXT2, 2048).windows());
        assertEquals(70, r.ppl(EvalSet.WIKITEXT2, 512).windows());
        assertEquals(10, r.ppl(EvalSet.C4, 2048).windows());
        assertEquals(40, r.ppl(EvalSet.C4, 512).windows());
        assertEquals(128, r.ppl(EvalSet.C4, 2048).ppl(), 128 * EXACT_REL_TOL);
        EvalReport only256 = Evaluator.run(new Fakes.Uniform(128), TOK, inputs(), EvalMode.FULL, List.of(256), false);
        assertEquals(140, only256.ppl(EvalSet.WIKITEXT2, 256).windows());
    }

    @Test
    void rowsAreValidResultsRows(@TempDir Path dir) {
        EvalReport r = Evaluator.run(new Fakes.Uniform(128), TOK, inputs(), EvalMode.FULL, List.of(), false);
        List<Map<String, Object>> rows = r.rows(Map.of("model", "fake", "method", "dense"));
        assertEquals(2, rows.size());
        Map<String, Object> first = rows.get(0);
        Map<String, Object> second = rows.get(1);
        assertEquals(2048, first.get("seqlen"));
        assertEquals("full", first.get("eval"));
        assertEquals(128.0, (double) first.get("ppl_wikitext2"), 128 * EXACT_REL_TOL);
        assertTrue(first.containsKey("lambada_acc") && first.containsKey("hellaswag_acc_norm"));
        assertEquals(512, second.get("seqlen"));
        assertFalse(second.containsKey("lambada_acc"), "zero-shot results only in the first row");
        assertTrue((double) first.get("tokens_per_s") > 0);
        Path file = dir.resolve("full.json");
        ResultsFile.write(file, ResultsFile.envelope("test", rows, null));
        assertEquals(List.of(), ResultsFile.validate(file));
    }

    @Test
    void nonFiniteMetricsAreLeftOutAndNamed() {
        Perplexity.Result nan = new Perplexity.Result(Double.NaN, Double.NaN, 511, 1, 512, 1.0);
        EvalReport r = new EvalReport(EvalMode.QUICK, List.of(new EvalReport.Ppl(EvalSet.C4, nan)), null, null);
        Map<String, Object> row = r.rows(Map.of()).get(0);
        assertFalse(row.containsKey("ppl_c4"));
        assertEquals("not finite, left out: ppl_c4=NaN", row.get("note"));
    }

    @Test
    void progressPrintsPlainLinesAtEveryTenth() {
        ByteArrayOutputStream bytes = new ByteArrayOutputStream();
        try (Progress p = Progress.plain("wikitext2 ppl@512", 20, new PrintStream(bytes, true, StandardCharsets.UTF_8))) {
            for (int i = 1; i <= 20; i++) {
                p.accept(i);
            }
        }
        List<String> lines = bytes.toString(StandardCharsets.UTF_8).lines().toList();
        assertEquals(10, lines.size(), String.join("\n", lines));
        assertTrue(lines.get(9).startsWith("wikitext2 ppl@512: 20/20 (100%), "), lines.get(9));
    }
}
