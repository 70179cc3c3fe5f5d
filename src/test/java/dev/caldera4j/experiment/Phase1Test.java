package dev.caldera4j.experiment;

import dev.caldera4j.TestData;
import dev.caldera4j.calib.Fixtures;
import dev.caldera4j.calib.SingleThreadBlas;
import dev.caldera4j.eval.ResultsFile;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;
import org.junit.jupiter.api.io.TempDir;
import tech.tablesaw.api.Table;
import tech.tablesaw.plotly.components.Figure;

import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.*;

/** The phase-1 sweep on the tiny model, scaled down: rows, resume after a crash, tables and plots. */
@ExtendWith(SingleThreadBlas.class)
class Phase1Test {

    @Test
    void sweepWritesValidRowsResumesAndPlots(@TempDir Path tmp) throws Exception {
        Path evalDir = TestData.sharedData("eval");
        Path corpus = Fixtures.syntheticCorpus(tmp.resolve("corpus"), 5, 30);
        List<Phase1.Config> grid = List.of(new Phase1.Config("rtn", 4, 128, false), new Phase1.Config("gptq", 2, 32, true));
        Path results = tmp.resolve("phase1.json");
        Phase1.Options o = new Phase1.Options(Fixtures.TINY, "tiny", corpus, 4, 64, 0, tmp.resolve("work"), results, evalDir,
                1, 5, true, List.of(256), grid, "test");

        ByteArrayOutputStream log = new ByteArrayOutputStream();
        List<Map<String, Object>> rows = Phase1.run(o, new PrintStream(log, true, StandardCharsets.UTF_8), false);
        // quick: dense + 2; full: dense + the best of each bit width (2 and 4 bits: one row each here)
        assertEquals(6, rows.size());
        assertEquals(List.of(), ResultsFile.validate(results));
        assertFalse(Files.exists(tmp.resolve("phase1.json.partial")), "the partial file goes once the sweep is complete");
        Map<String, Object> g = rows.get(2);
        assertEquals("gptq", g.get("method"));
        assertEquals(2, g.get("bq"));
        assertEquals(true, g.get("act_order"));
        assertEquals(4, g.get("calib_seqs"));
        // 2 bits + 32/32 for the fp16 scale and zero, + the 256 q/k/v biases (16 bits) per block of 196,608 weights
        assertEquals(3 + 256 * 16 / 196608.0, (Double) g.get("bits_per_param"), 1e-12);
        assertTrue(((Number) g.get("seconds")).doubleValue() > 0, "compression wall time");
        assertTrue(((String) g.get("note")).startsWith("scaled-down eval: first 512 tokens"), (String) g.get("note"));
        assertFalse(rows.get(1).containsKey("calib_seqs"), "RTN runs data-free");
        assertEquals(16.0, ((Number) rows.get(0).get("bits_per_param")).doubleValue(), 0.05, "dense bf16");
        for (Map<String, Object> r : rows) assertTrue(((Number) r.get("ppl_wikitext2")).doubleValue() > 1);

        // a crash after three rows: the partial file holds them, the checkpoints exist; the rerun does only the rest
        Files.delete(results);
        ResultsFile.write(tmp.resolve("phase1.json.partial"), ResultsFile.envelope("test  (partial)", rows.subList(0, 3), null));
        ByteArrayOutputStream log2 = new ByteArrayOutputStream();
        List<Map<String, Object>> again = Phase1.run(o, new PrintStream(log2, true, StandardCharsets.UTF_8), false);
        String l2 = log2.toString(StandardCharsets.UTF_8);
        assertFalse(l2.contains("compressing"), l2);
        assertEquals(3, l2.lines().filter(s -> s.startsWith("evaluating (full)")).count(), l2);
        assertFalse(l2.contains("evaluating (quick)"), l2);
        assertEquals(rows.size(), again.size());
        for (int i = 0; i < rows.size(); i++)
            assertEquals(rows.get(i).get("ppl_wikitext2"), again.get(i).get("ppl_wikitext2"), "row " + i + " is deterministic");

        Table t = Phase1.table("phase1", Phase1.readRows(results));
        assertEquals(6, t.rowCount());
        assertTrue(t.columnNames().containsAll(List.of("model", "method", "bq", "group", "bits_per_param", "ppl_wikitext2", "eval")));
        Figure f = Phase1.pplVsBits(Phase1.readRows(results), "quick", 512, "ppl_wikitext2");
        assertEquals(3, f.getTraces().length, "dense, gptq, rtn");
    }

    @Test
    void prefixTokenizationKeepsTheTokensOfTheWholeText() {
        String wiki = dev.caldera4j.eval.EvalData.wikitext2(TestData.sharedData("eval")).substring(0, 150_000);
        var tok = Fixtures.tinyTokenizer();
        int[] whole = tok.encode(wiki);
        int keep = 3000;
        int[] prefix = Sweep.prefixTokens(tok, wiki, keep + Sweep.PREFIX_MARGIN);
        assertTrue(prefix.length >= keep + Sweep.PREFIX_MARGIN && prefix.length < whole.length, "a prefix was cut: " + prefix.length);
        assertArrayEquals(java.util.Arrays.copyOf(whole, keep), java.util.Arrays.copyOf(prefix, keep));
    }

    @Test
    void gridIsTheIssuesGrid() {
        List<Phase1.Config> g = Phase1.grid();
        assertEquals(17, g.size());
        assertEquals(9, g.stream().filter(c -> c.method().equals("gptq")).count());
        assertTrue(g.contains(new Phase1.Config("gptq", 2, 128, true)) && g.contains(new Phase1.Config("gptq", 2, 128, false)));
        assertTrue(g.contains(new Phase1.Config("rtn", 4, -1, false)) && g.contains(new Phase1.Config("gptq", 3, 32, false)));
        assertEquals("standin-small-gptq-b2-g128-ao-c128x2048-s0", new Phase1.Config("gptq", 2, 128, true).dirName("standin-small", 128, 2048, 0));
        assertEquals("standin-small-rtn-b4-pc", new Phase1.Config("rtn", 4, -1, false).dirName("standin-small", 128, 2048, 0));
    }
}
