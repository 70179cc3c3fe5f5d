package dev.caldera4j.gpu;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.HexFormat;
import java.util.List;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;

/**
 * The committed PTX must come from the committed .cu: its first line records the sha256 of the
 * source it was built from (tools/build-ptx.sh writes it). Fails when a .cu changed and the PTX
 * was not regenerated, and when a kernel the Java side launches is missing from a PTX.
 */
class PtxFreshnessTest {
    private static final Path CUDA = Path.of("src/main/cuda");
    private static final List<String> TARGETS = List.of("sm90a", "sm80");

    static String sha256(Path p) throws IOException, NoSuchAlgorithmException {
        return HexFormat.of().formatHex(MessageDigest.getInstance("SHA-256").digest(Files.readAllBytes(p)));
    }

    @Test
    void everyPtxMatchesItsSource() throws Exception {
        List<Path> sources;
        try (Stream<Path> s = Files.list(CUDA)) {
            sources = s.filter(p -> p.toString().endsWith(".cu")).sorted().toList();
        }
        assertTrue(!sources.isEmpty(), "no .cu sources under " + CUDA.toAbsolutePath());
        for (Path cu : sources) {
            String base = cu.getFileName().toString().replaceAll("\\.cu$", "");
            String want = "// caldera4j-source: src/main/cuda/" + base + ".cu sha256 " + sha256(cu);
            for (String t : TARGETS) {
                String resource = base + "_" + t + ".ptx";
                String ptx = new String(Gpu.readPtx(resource), StandardCharsets.UTF_8);
                String first = ptx.substring(0, ptx.indexOf('\n'));
                assertEquals(want, first, resource + " is stale against " + cu + ": run tools/build-ptx.sh and commit the PTX");
            }
        }
    }

    @Test
    void everyLaunchedKernelIsInBothPtxFiles() {
        for (String t : TARGETS) {
            String ptx = new String(Gpu.readPtx("qlr_" + t + ".ptx"), StandardCharsets.UTF_8);
            assertTrue(ptx.contains(".target " + (t.equals("sm90a") ? "sm_90a" : "sm_80")), "qlr_" + t + ".ptx has the wrong .target");
            for (String k : QlrKernels.KERNELS)
                assertTrue(ptx.contains(".entry " + k + "("), "kernel " + k + " is not an entry of qlr_" + t + ".ptx");
            String eng = new String(Gpu.readPtx("engine_" + t + ".ptx"), StandardCharsets.UTF_8);
            for (String k : Engine.KERNELS)
                assertTrue(eng.contains(".entry " + k + "("), "kernel " + k + " is not an entry of engine_" + t + ".ptx");
        }
    }
}
