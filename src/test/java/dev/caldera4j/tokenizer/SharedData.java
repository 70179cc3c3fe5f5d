package dev.caldera4j.tokenizer;

import static org.junit.jupiter.api.Assumptions.assumeTrue;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;

/** Paths into ../shared (surefire's -Dcaldera4j.shared); tests that need a missing file are skipped. */
final class SharedData {

    private SharedData() {}

    static Path require(String relative) {
        Path root = Path.of(System.getProperty("caldera4j.shared", "../shared"));
        Path p = root.resolve(relative);
        assumeTrue(Files.exists(p), "shared data missing: " + p + " (set -Dcaldera4j.shared to the shared/ folder)");
        return p;
    }

    /**
     * The evaluation text of WikiText-2 test (DESIGN.md): lines of wiki.test.raw, each with its "\n",
     * joined by "\n\n".
     */
    static String wikitextTestText() {
        Path raw = require("data/eval/wikitext-2/wiki.test.raw");
        try {
            return String.join("\n\n", Files.readString(raw).split("(?<=\n)"));
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }
}
