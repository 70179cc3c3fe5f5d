package dev.caldera4j.experiment;

import dev.caldera4j.TestData;
import dev.caldera4j.calib.Fixtures;
import dev.caldera4j.calib.SingleThreadBlas;
import dev.caldera4j.eval.ResultsFile;
import dev.caldera4j.model.Qwen2Config;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;
import org.junit.jupiter.api.io.TempDir;
import tech.tablesaw.plotly.components.Figure;

import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.*;

/** Stage 1: rank matching and 72B accounting, the Pareto rule, and the sweep on the tiny model (rows, resume, plot). */
@ExtendWith(SingleThreadBlas.class)
class Stage1Test {

    /** Sums of exact integers divided once: only the final division rounds. */
    static final double EXACT = 1e-12;

    @Test
    void overheadIsTheFactorsBitsOverTheLinearParameters() {
        Qwen2Config big = Qwen2Config.qwen2_72b();
        // fp16 factors: r·16·(d_out + d_in) bits per matrix; per 72B layer Σ(d_out + d_in) = 2·(8192+8192) + 2·(1024+8192) + 3·(29568+8192)
        long sumDims = 2L * (8192 + 8192) + 2L * (1024 + 8192) + 3L * (29568 + 8192);
        double expected = 80.0 * 128 * 16 * sumDims / 70_212_648_960.0;
        assertEquals(70_212_648_960L, dev.caldera4j.plan.Footprint.linearParams(big), "70.21 B parameters in the linears");
        assertEquals(expected, Stage1.overheadBits(big, 128, 16), EXACT);
        // the 72B accounting of a row: linears' bits = Q's 2.25 + the factors' overhead (two code paths agree)
        Stage1.Config c = new Stage1.Config(8, 128, 4, 64, 5);
        Map<String, Object> f = Stage1.footprintFields(big, c);
        assertEquals(2.25 + (Double) f.get("overhead_bits_72b"), (Double) f.get("bits_per_param_72b"), EXACT);
        assertTrue((Long) f.get("bytes_72b_head4") < (Long) f.get("bytes_72b"), "a 4-bit lm_head is smaller");
        assertEquals((Long) f.get("bytes_72b") <= 22L << 30, f.get("fits_72b_22gib"));
    }

    @Test
    void matchedRanksOfStandinSmall() {
        Qwen2Config small = Qwen2Config.load(TestData.sharedData("models/standin-small/config.json"));
        Qwen2Config big = Qwen2Config.qwen2_72b();
        List<Integer> ranks = new ArrayList<>();
        for (int r72 : Stage1.RANKS_72B) {
            int r = Stage1.matchedRank(small, big, r72, Stage1.MATCH_BITS);
            ranks.add(r);
            double target = Stage1.overheadBits(big, r72, 16);
            // the match is the closest rank: both neighbours are further from the 72B overhead
            assertTrue(Math.abs(Stage1.overheadBits(small, r, 16) - target) <= Math.abs(Stage1.overheadBits(small, r + 1, 16) - target));
            assertTrue(r == 1 || Math.abs(Stage1.overheadBits(small, r, 16) - target) <= Math.abs(Stage1.overheadBits(small, r - 1, 16) - target));
        }
        // 72B's rank r costs r·16·164,480/877.7 M ≈ 0.0030·r bits; standin-small's 0.0503·r: a factor 16.8 fewer ranks
        assertEquals(List.of(4, 8, 15), ranks);
        List<Stage1.Config> g = Stage1.grid(small, 64, List.of(16, 128), 5);
        assertEquals(8, g.size());
        assertEquals(new Stage1.Config(8, 128, 4, 16, 5), g.get(6));
        assertEquals("standin-small-caldera-b2-g128-r8-f4-it5-c64x512-s0", g.get(1).dirName("standin-small", 512, 0));
    }

    @Test
    void paretoKeepsRowsNoOtherBeats() {
        List<Map<String, Object>> rows = List.of(row(2.3, 50), row(2.5, 40), row(2.5, 45), row(3.0, 41), row(3.2, 30), row(2.2, 60));
        List<Map<String, Object>> front = Stage1.pareto(rows, "ppl_wikitext2");
        assertEquals(List.of(2.2, 2.3, 2.5, 3.2), front.stream().map(r -> (Double) r.get("bits_per_param")).toList());
        assertEquals(40.0, front.get(2).get("ppl_wikitext2"));
    }

    private static Map<String, Object> row(double bits, double ppl) {
        Map<String, Object> r = new LinkedHashMap<>();
        r.put("bits_per_param", bits);
        r.put("ppl_wikitext2", ppl);
        return r;
    }

    @Test
    void sweepOnTinyWritesValidRowsResumesAndPlots(@TempDir Path tmp) throws Exception {
        Path evalDir = TestData.sharedData("eval");
        Path corpus = Fixtures.syntheticCorpus(tmp.resolve("corpus"), 5, 30);
        Qwen2Config tiny = Qwen2Config.load(Fixtures.TINY.resolve("config.json"));
        List<Stage1.Config> grid = List.of(new Stage1.Config(4, 128, 4, 4, 2), new Stage1.Config(4, 128, 16, 4, 2));
        Path results = tmp.resolve("stage1.json");
        Stage1.Options o = new Stage1.Options(Fixtures.TINY, "tiny", corpus, 64, 0, tmp.resolve("work"), results, evalDir, 1, 5,
                false, List.of(256), grid, "calibration note", "test");
        List<Map<String, Object>> rows = Stage1.run(o, new PrintStream(new ByteArrayOutputStream(), true, StandardCharsets.UTF_8), false);
        assertEquals(2, rows.size(), "one quick row per configuration");
        assertEquals(List.of(), ResultsFile.validate(results));
        for (int i = 0; i < 2; i++) {
            Map<String, Object> r = rows.get(i);
            assertEquals("caldera", r.get("method"));
            assertEquals(4, r.get("rank"));
            assertEquals(grid.get(i).bits(), r.get("bl"));
            assertEquals(2, r.get("outer_iters"));
            assertEquals(128, r.get("rank_72b"));
            assertTrue(((Number) r.get("seconds")).doubleValue() > 0, "compression wall time");
            assertTrue(((String) r.get("note")).contains("calibration note"), (String) r.get("note"));
            assertTrue(((Number) r.get("ppl_wikitext2")).doubleValue() > 1);
            // the checkpoint's bits (biases included) against Q's 2.25 + the exact factor overhead: only the biases differ
            double bias = 4 * 256 * 16 / (4 * 196_608.0); // q/k/v biases (128 + 64 + 64) at fp16 per block of 196,608 weights
            assertEquals(2.25 + (Double) r.get("overhead_bits") + bias, (Double) r.get("bits_per_param"), EXACT);
            assertEquals(Stage1.footprintFields(tiny, grid.get(i)).get("bytes_72b"), r.get("bytes_72b"));
        }
        // fp16 factors cost more bits; whichever has the lower perplexity, the cheaper row is on the frontier
        assertTrue((Double) rows.get(1).get("bits_per_param") > (Double) rows.get(0).get("bits_per_param"));
        assertEquals(true, rows.get(0).get("pareto"));
        boolean fp16Better = (Double) rows.get(1).get("ppl_wikitext2") < (Double) rows.get(0).get("ppl_wikitext2");
        assertEquals(fp16Better, rows.get(1).get("pareto"));

        // a crash after the first row: the rerun compresses nothing and evaluates only the second
        Files.delete(results);
        ResultsFile.write(tmp.resolve("stage1.json.partial"), ResultsFile.envelope("test  (partial)", rows.subList(0, 1), null));
        ByteArrayOutputStream log2 = new ByteArrayOutputStream();
        List<Map<String, Object>> again = Stage1.run(o, new PrintStream(log2, true, StandardCharsets.UTF_8), false);
        String l2 = log2.toString(StandardCharsets.UTF_8);
        assertFalse(l2.contains("compressing"), l2);
        assertEquals(1, l2.lines().filter(s -> s.startsWith("evaluating (quick)")).count(), l2);
        assertEquals(rows.get(1).get("ppl_wikitext2"), again.get(1).get("ppl_wikitext2"), "deterministic");

        // a narrower rerun (--only one row) evaluates nothing and keeps the other row in the results file
        Stage1.Options narrow = new Stage1.Options(Fixtures.TINY, "tiny", corpus, 64, 0, tmp.resolve("work"), results, evalDir, 1, 5,
                false, List.of(256), grid.subList(1, 2), "calibration note", "test");
        ByteArrayOutputStream log3 = new ByteArrayOutputStream();
        Stage1.run(narrow, new PrintStream(log3, true, StandardCharsets.UTF_8), false);
        assertFalse(log3.toString(StandardCharsets.UTF_8).contains("evaluating"), log3.toString(StandardCharsets.UTF_8));
        assertEquals(2, ResultsFile.read(results).rows().size(), "rows outside the narrower grid survive");

        Figure f = Stage1.paretoFigure(again, "quick", 512, "ppl_wikitext2");
        assertEquals(2, f.getTraces().length, "caldera and the frontier");
        assertTrue(Stage1.table(again).lines().count() == 3);
    }
}
