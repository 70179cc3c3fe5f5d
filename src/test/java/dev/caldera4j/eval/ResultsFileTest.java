package dev.caldera4j.eval;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

class ResultsFileTest {

    static Map<String, Object> row() {
        Map<String, Object> r = new LinkedHashMap<>();
        r.put("model", "standin-small");
        r.put("method", "caldera");
        r.put("bq", 2);
        r.put("group", 64);
        r.put("act_order", true);
        r.put("rank", 64);
        r.put("bits_per_param", 2.4375);
        r.put("eval", "quick");
        r.put("seqlen", 512);
        r.put("ppl_wikitext2", 101.25);
        r.put("device_bytes_peak", 23_000_000_000L);
        r.put("seconds", 12.5);
        return r;
    }

    static ResultsFile.Envelope envelope(List<Map<String, Object>> rows) {
        return new ResultsFile.Envelope("java -jar lib/caldera4j.jar eval --quick", "0123456789abcdef0123456789abcdef01234567",
                "host, Some CPU, 2 cores", Map.of("java", "25", "caldera4j", "0.1.0-SNAPSHOT", "os", "Linux"), rows);
    }

    @Test
    void writeThenReadRoundTrips(@TempDir Path dir) throws IOException {
        Path file = dir.resolve("sub/quick.json");
        ResultsFile.write(file, envelope(List.of(row(), row())));
        assertEquals(List.of(), ResultsFile.validate(file));
        ResultsFile.Envelope back = ResultsFile.read(file);
        assertEquals("java -jar lib/caldera4j.jar eval --quick", back.command());
        assertEquals(2, back.rows().size());
        Map<String, Object> r = back.rows().get(0);
        assertEquals(2L, r.get("bq"));
        assertEquals(23_000_000_000L, r.get("device_bytes_peak"));
        assertEquals(101.25, r.get("ppl_wikitext2"));
        assertEquals(true, r.get("act_order"));
        assertEquals(List.copyOf(row().keySet()), List.copyOf(r.keySet()), "field order kept");
        try (var files = Files.list(file.getParent())) {
            assertEquals(List.of(file), files.toList(), "no temporary file left behind");
        }
        String text = Files.readString(file);
        assertTrue(text.startsWith("{\n  \"command\": "), text);
        assertEquals(2, text.lines().filter(l -> l.startsWith("    {\"model\"")).count(), "one line per row");
    }

    @Test
    void writeRefusesInvalidRows(@TempDir Path dir) {
        Map<String, Object> unknown = row();
        unknown.put("perplexity", 3.0);
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> ResultsFile.write(dir.resolve("a.json"), envelope(List.of(unknown))));
        assertTrue(e.getMessage().contains("unknown field \"perplexity\""), e.getMessage());
        Map<String, Object> nan = row();
        nan.put("ppl_c4", Double.NaN);
        e = assertThrows(IllegalArgumentException.class, () -> ResultsFile.write(dir.resolve("b.json"), envelope(List.of(nan))));
        assertTrue(e.getMessage().contains("ppl_c4") && e.getMessage().contains("NaN"), e.getMessage());
        e = assertThrows(IllegalArgumentException.class, () -> ResultsFile.write(dir.resolve("c.json"), envelope(List.of())));
        assertTrue(e.getMessage().contains("\"rows\" is empty"), e.getMessage());
        assertTrue(!Files.exists(dir.resolve("a.json")) && !Files.exists(dir.resolve("c.json")));
    }

    @Test
    void provenanceIsFilledIn() {
        String commit = ResultsFile.gitCommit(Path.of(""));
        assertTrue(commit.matches("[0-9a-f]{40}(-dirty)?|unknown"), commit);
        String machine = ResultsFile.machine("NVIDIA H200");
        assertTrue(machine.contains(" cores, NVIDIA H200"), machine);
        Map<String, String> v = ResultsFile.versions();
        assertEquals(List.of("java", "caldera4j", "os"), List.copyOf(v.keySet()));
        assertTrue(v.get("java").startsWith(System.getProperty("java.version")));
        ResultsFile.Envelope e = ResultsFile.envelope("cmd", List.of(row()), null);
        assertEquals(commit, e.gitCommit());
    }

    @Test
    void vocabularyHoldsDesignsFieldsAndTheDocumentedExtras() {
        for (String f : List.of("model", "method", "bq", "group", "act_order", "bl", "br", "rank", "hadamard",
                "calib_seqs", "calib_seqlen", "bits_per_param", "eval", "seqlen", "ppl_wikitext2", "ppl_c4",
                "lambada_acc", "hellaswag_acc", "hellaswag_acc_norm", "seconds", "shape", "d_out", "d_in", "tokens",
                "variant", "us", "gbps", "pct_of_copy_bw", "copy_gbps", "phase", "context", "tokens_per_s",
                "device_bytes_peak", "planner_bytes", "signal", "budget_bits", "note", "metric", "reference_value",
                "rel_diff", "overrides", "layer_index", "matrix", "sensitivity", "recovery", "margin", "positions",
                "layer", "proxy_error", "outer_iters", "best_iteration", "iter_errors", "matched", "caldera_wins", "rank_72b",
                "overhead_bits", "overhead_bits_72b", "bits_per_param_72b", "bytes_72b", "fits_72b_22gib", "bytes_72b_head4",
                "fits_72b_22gib_head4", "pareto", "backend")) {
            assertTrue(ResultsFile.KNOWN_FIELDS.contains(f), f);
        }
        assertEquals(64, ResultsFile.KNOWN_FIELDS.size(), "DESIGN's 36 fields + note, metric, reference_value, rel_diff"
                + " + stage 2's overrides map and profile fields (layer_index, matrix, sensitivity, recovery, margin, positions)"
                + " + the 16 per-matrix and Stage-1 fields + backend (where an evaluation ran)");
    }
}
