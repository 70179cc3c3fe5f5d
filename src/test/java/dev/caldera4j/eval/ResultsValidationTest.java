package dev.caldera4j.eval;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestReporter;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.stream.Stream;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * DESIGN "Results files": a CI test validates every file under results/ (envelope present, rows
 * non-empty, known fields, right types) and writes the count and list to
 * target/results-validation.txt. Also checks that the validator accepts a crafted good file and
 * rejects crafted bad ones, so an empty results/ still tests something.
 */
class ResultsValidationTest {

    static boolean isSupporting(Path p) {
        String n = p.getFileName().toString();
        return n.endsWith(".log") || n.endsWith(".txt") || n.endsWith(".md");
    }

    /** kernels-h200.log and kernels-h200-ncu.txt support kernels-h200.json. */
    static boolean hasResultsSibling(Path p) throws IOException {
        String n = p.getFileName().toString();
        try (Stream<Path> s = Files.list(p.getParent())) {
            return s.map(q -> q.getFileName().toString()).filter(q -> q.endsWith(".json"))
                    .anyMatch(q -> n.startsWith(q.substring(0, q.length() - ".json".length())));
        }
    }

    @Test
    void everyFileUnderResultsIsValid(TestReporter reporter) throws IOException {
        Path results = Path.of("results");
        List<String> problems = new ArrayList<>();
        List<Path> files = List.of();
        if (Files.isDirectory(results)) {
            try (Stream<Path> walk = Files.walk(results)) {
                // hidden files (.gitkeep) are not results; *.log / *.txt / *.md are a run's supporting
                // material (logs, profiler summaries) and must sit beside the results file they support
                List<Path> all = walk.filter(Files::isRegularFile)
                        .filter(p -> !p.getFileName().toString().startsWith(".")).sorted().toList();
                files = all.stream().filter(p -> !isSupporting(p)).toList();
                for (Path p : all) {
                    if (isSupporting(p) && !hasResultsSibling(p)) {
                        problems.add(p + ": supporting file without a results file (results/<prefix>.json) beside it");
                    }
                }
            }
        }
        for (Path f : files) {
            problems.addAll(ResultsFile.validate(f));
        }
        // tests stay silent: the count goes to the JUnit report and to target/, where CI can show it
        reporter.publishEntry("validated_results_files", Integer.toString(files.size()));
        StringBuilder report = new StringBuilder("validated " + files.size() + " files under "
                + results.toAbsolutePath() + ", " + problems.size() + " problems\n");
        files.forEach(f -> report.append(f).append('\n'));
        problems.forEach(p -> report.append("PROBLEM ").append(p).append('\n'));
        ResultsFile.writeAtomically(Path.of("target", "results-validation.txt"), report.toString());
        assertEquals(List.of(), problems, files.size() + " files under " + results.toAbsolutePath());
    }

    @Test
    void aCraftedGoodFileValidates(@TempDir Path dir) throws IOException {
        Path good = dir.resolve("good.json");
        Files.writeString(good, """
                {"command": "java -jar lib/caldera4j.jar bench kernels",
                 "git_commit": "0123456789abcdef0123456789abcdef01234567-dirty",
                 "machine": "gpu-host, AMD EPYC, 16 cores, NVIDIA H200",
                 "versions": {"java": "25", "jcuda": "12.6.0"},
                 "rows": [{"shape": "8192x29568", "d_out": 8192, "d_in": 29568, "tokens": 1, "variant": "fused",
                           "us": 41.5, "gbps": 3120.0, "pct_of_copy_bw": 81.2, "copy_gbps": 3842, "bq": 2,
                           "act_order": false, "method": "caldera", "eval": "full", "seqlen": 2048.0}]}
                """);
        assertEquals(List.of(), ResultsFile.validate(good));
    }

    @Test
    void craftedBadFilesAreRejectedWithTheReason(@TempDir Path dir) throws IOException {
        String env = "\"command\": \"c\", \"git_commit\": \"abcdef1\", \"machine\": \"m\", \"versions\": {\"java\": \"25\"}";
        bad(dir, "{" + env + "}", "missing envelope key \"rows\"");
        bad(dir, "{" + env + ", \"rows\": []}", "\"rows\" is empty");
        bad(dir, "{\"git_commit\": \"abcdef1\", \"machine\": \"m\", \"versions\": {}, \"rows\": [{\"bq\": 2}]}",
                "missing envelope key \"command\"");
        bad(dir, "{" + env + ", \"rows\": [{\"bq\": 2, \"ppl\": 3.5}]}", "unknown field \"ppl\"");
        bad(dir, "{" + env + ", \"rows\": [{\"seqlen\": 512.5}]}", "field \"seqlen\" must be INTEGER");
        bad(dir, "{" + env + ", \"rows\": [{\"ppl_c4\": \"96.2\"}]}", "field \"ppl_c4\" must be NUMBER");
        bad(dir, "{" + env + ", \"rows\": [{\"act_order\": \"true\"}]}", "field \"act_order\" must be BOOLEAN");
        bad(dir, "{" + env + ", \"rows\": [{\"method\": \"awq\"}]}", "field \"method\" is \"awq\", not one of");
        bad(dir, "{" + env + ", \"rows\": [{\"eval\": \"medium\"}]}", "field \"eval\"");
        bad(dir, "{" + env + ", \"rows\": [{\"ppl_c4\": NaN}]}", "not a strict JSON document");
        bad(dir, "{" + env + ", \"rows\": [{\"bq\": 2}]} trailing", "not a strict JSON document");
        bad(dir, "{" + env + ", \"rows\": [{\"bq\": 2}], \"date\": \"today\"}", "unknown envelope key \"date\"");
        bad(dir, "{" + env + ", \"rows\": [3]}", "row 0 is not a JSON object");
        bad(dir, "{" + env + ", \"rows\": [{}]}", "row 0 is empty");
        bad(dir, "{" + env.replace("abcdef1", "HEAD") + ", \"rows\": [{\"bq\": 2}]}", "not a hex commit id");
        bad(dir, "{" + env.replace("{\"java\": \"25\"}", "{\"java\": [25]}") + ", \"rows\": [{\"bq\": 2}]}",
                "versions.java must be a string or a number");
        bad(dir, "[1, 2]", "top level is not a JSON object");
    }

    private static void bad(Path dir, String json, String expectedProblem) throws IOException {
        Path f = Files.createTempFile(dir, "bad", ".json");
        Files.writeString(f, json);
        List<String> problems = ResultsFile.validate(f);
        assertTrue(problems.stream().anyMatch(p -> p.contains(expectedProblem)),
                "expected a problem containing [" + expectedProblem + "] for " + json + ", got " + problems);
    }
}
