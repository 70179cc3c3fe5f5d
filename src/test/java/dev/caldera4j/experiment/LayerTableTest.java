package dev.caldera4j.experiment;

import dev.caldera4j.calib.Fixtures;
import dev.caldera4j.calib.SingleThreadBlas;
import dev.caldera4j.eval.ResultsFile;
import dev.caldera4j.quant.CalderaConfig;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;
import org.junit.jupiter.api.io.TempDir;

import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.List;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.*;

/**
 * The per-matrix CALDERA/GPTQ/RTN table on the tiny model (the same code the committed
 * standin-small table comes from). It does not assert who wins: it checks what must hold whatever
 * the winner — exact bits, finite errors, CALDERA and GPTQ below RTN, the matched row's rule, and
 * that the tracked per-iteration errors end at the directly computed one.
 */
@ExtendWith(SingleThreadBlas.class)
class LayerTableTest {

    /** Tracked errors (float64 low-rank algebra over GPTQ's own error, printed to 6 digits) against the direct float32 recompute. */
    static final double TRACKED_VS_DIRECT_REL = 1e-4;

    @Test
    void everyMatrixOfTinyHasExactBitsAndConsistentErrors(@TempDir Path tmp) throws Exception {
        Path corpus = Fixtures.syntheticCorpus(tmp.resolve("corpus"), 5, 30);
        int rank = 4;
        CalderaConfig cfg = CalderaConfig.of(rank, 4, 4).withIters(3, 2);
        Path results = tmp.resolve("table.json");
        ByteArrayOutputStream log = new ByteArrayOutputStream();
        List<Map<String, Object>> rows = LayerTable.run(new LayerTable.Options(Fixtures.TINY, "tiny", corpus, 4, 64, 0, cfg, results, "test"),
                new PrintStream(log, true, StandardCharsets.UTF_8));
        assertEquals(List.of(), ResultsFile.validate(results));
        List<Map<String, Object>> caldera = rows.stream().filter(r -> r.get("method").equals("caldera")).toList();
        assertEquals(28, caldera.size(), "4 blocks × 7 linears");
        for (Map<String, Object> c : caldera) {
            String layer = (String) c.get("layer");
            int dOut = (Integer) c.get("d_out"), dIn = (Integer) c.get("d_in");
            List<Map<String, Object>> mine = rows.stream().filter(r -> r.get("layer").equals(layer)).toList();
            // Q: 2-bit codes + fp16 scale and zero per 128 columns; L (dOut, 4): one 32-bit word of four 4-bit codes and one
            // (scale, zero) per row (group = rank); R (4, dIn): dIn/8 words and dIn/128 (scale, zero) per row
            double bits = 2 + 32.0 / 128 + (dOut * (32.0 + 32) + rank * (dIn / 8 * 32.0 + dIn / 128 * 32.0)) / ((double) dOut * dIn);
            assertEquals(bits, num(c, "bits_per_param"), 1e-12, layer);
            Map<String, Object> rtn = mine.stream().filter(r -> r.get("method").equals("rtn")).findFirst().orElseThrow();
            assertEquals(2.25, num(rtn, "bits_per_param"), 1e-12);
            double e = num(c, "proxy_error"), eRtn = num(rtn, "proxy_error");
            assertTrue(e > 0 && e < eRtn, layer + ": CALDERA " + e + " must beat RTN at its own Q grid " + eRtn);
            List<Map<String, Object>> gptq = mine.stream().filter(r -> r.get("method").equals("gptq")).toList();
            assertEquals(List.of(128L, 64L, 32L, 16L), gptq.stream().map(r -> ((Number) r.get("group")).longValue()).toList(), layer);
            for (Map<String, Object> g : gptq) {
                int group = ((Number) g.get("group")).intValue();
                assertEquals(2 + 32.0 / group, num(g, "bits_per_param"), 1e-12);
                assertTrue(num(g, "proxy_error") > 0 && num(g, "proxy_error") < eRtn, layer + ": GPTQ g" + group + " must beat RTN g128");
            }
            // the matched row: the fewest bits among the groups that spend at least CALDERA's
            List<Map<String, Object>> matched = gptq.stream().filter(g -> Boolean.TRUE.equals(g.get("matched"))).toList();
            assertEquals(1, matched.size(), layer);
            Map<String, Object> m = matched.getFirst();
            assertTrue(num(m, "bits_per_param") >= num(c, "bits_per_param"));
            for (Map<String, Object> g : gptq)
                if (g != m) assertTrue(num(g, "bits_per_param") < num(c, "bits_per_param") || num(g, "bits_per_param") > num(m, "bits_per_param"));
            assertEquals(e < num(m, "proxy_error"), c.get("caldera_wins"), layer);
            // best error reachable after 1, 2, 3 iterations: non-increasing, ending at the kept iterate's
            double[] it = Arrays.stream(((String) c.get("iter_errors")).split(",")).mapToDouble(Double::parseDouble).toArray();
            assertEquals(3, it.length);
            for (int k = 1; k < it.length; k++) assertTrue(it[k] <= it[k - 1], layer + " iteration " + k);
            assertEquals(e, it[it.length - 1], TRACKED_VS_DIRECT_REL * e, layer);
        }
        String summary = LayerTable.summary(rows);
        assertTrue(summary.contains("CALDERA wins ") && summary.contains(" of 28 matrices"), summary);
    }

    @Test
    void iterErrorsAreTheBestCompleteIterateSoFar() {
        // after-L·R of iteration 0 (Q = 0) is not a candidate; later after-L·R states are
        String s = LayerTable.iterErrors(new double[] {0.5, 0.4, 0.35, 0.2}, new double[] {0.01, 0.3, 0.6, 0.1});
        assertArrayEquals(new double[] {0.5, 0.3, 0.3, 0.1}, Arrays.stream(s.split(",")).mapToDouble(Double::parseDouble).toArray());
    }

    private static double num(Map<String, Object> r, String k) {
        return ((Number) r.get(k)).doubleValue();
    }
}
