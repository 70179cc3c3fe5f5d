package dev.caldera4j.gpu;

import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.List;
import java.util.stream.Collectors;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.Test;

/**
 * Every GPU kernel against the float64 reference on fresh random inputs (Parity's quick cases
 * and tolerances). Skips, saying why, where no CUDA device is present (CI); the benchmark
 * command runs the full set on the GPU host.
 */
class GpuParityTest {
    @Test
    void kernelsMatchTheReference() {
        Gpu.Availability a = Gpu.available();
        Assumptions.assumeTrue(a.available(), "GPU parity skipped: " + a.reason());
        long seed = System.nanoTime();  // fresh inputs every run; the seed is in the failure message
        try (Gpu gpu = Gpu.open()) {
            List<Parity.Check> checks = Parity.run(gpu, new QlrKernels(gpu), seed, true, null);
            String failed = checks.stream().filter(c -> !c.pass()).map(Parity.Check::line).collect(Collectors.joining("\n"));
            assertTrue(failed.isEmpty(), "seed " + seed + ":\n" + failed);
        }
    }

    @Test
    void noGpuIsReportedNotThrown() {
        Gpu.Availability a = Gpu.available();
        assertTrue(a.available() || !a.reason().isBlank(), "an unavailable GPU must come with a reason");
    }
}
