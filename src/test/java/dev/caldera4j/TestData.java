package dev.caldera4j;

import org.junit.jupiter.api.Assumptions;

import java.nio.file.Files;
import java.nio.file.Path;

/** Where the shared data lives for tests: -Dcaldera4j.shared (set by surefire), else ../shared. */
public final class TestData {
    private TestData() {}

    public static Path shared() {
        return Path.of(System.getProperty("caldera4j.shared", "../shared")).toAbsolutePath().normalize();
    }

    /** A path under ../shared/data; the test is skipped (with the reason) when it is absent. */
    public static Path sharedData(String relative) {
        Path p = shared().resolve("data").resolve(relative);
        Assumptions.assumeTrue(Files.exists(p), "skipped: shared data " + p + " is absent (expected ../shared beside the project)");
        return p;
    }
}
