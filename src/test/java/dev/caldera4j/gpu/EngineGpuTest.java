package dev.caldera4j.gpu;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.caldera4j.model.Generator;
import dev.caldera4j.model.Models;
import dev.caldera4j.model.Qwen2Model;
import dev.caldera4j.model.Sampler;
import java.nio.file.Path;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.Test;

/**
 * The GPU engine against the CPU reference on the project's tiny model: teacher-forced logits
 * within EngineBench.LOGIT_REL_TOL and greedy generation (CUDA graph) identical for 32 tokens.
 * Skips, saying why, where no CUDA device is present (CI); tools/e2e-gpu.sh runs the full checks
 * (compressed checkpoints too) on the GPU host.
 */
class EngineGpuTest {
    @Test
    void tinyModelMatchesTheCpuReference() {
        Gpu.Availability a = Gpu.available();
        Assumptions.assumeTrue(a.available(), "GPU engine parity skipped: " + a.reason());
        Qwen2Model m = Models.load(Path.of("data/models/tiny"));
        int[] prompt = {1, 289, 165, 40, 7, 1000, 33, 2};
        int[] cpuGen = Generator.generate(m, prompt, 32, Sampler.greedy(), -1, null).tokens();
        int[] seq = java.util.Arrays.copyOf(prompt, prompt.length + 31);
        System.arraycopy(cpuGen, 0, seq, prompt.length, 31);
        float[] cpu = m.logits(seq);
        try (Gpu gpu = Gpu.open(); Engine e = Engine.load(gpu, m.weights(), Engine.Options.defaults(128).withLogitRows(128), null)) {
            e.reset();
            double[] r = EngineBench.compare(cpu, e.forward(seq, true), 0, seq.length, m.vocabSize());
            assertTrue(r[0] <= EngineBench.LOGIT_REL_TOL, "max|Δ|/max|logit| = " + r[0]);
            assertArrayEquals(cpuGen, e.generate(prompt, 32, true));
        }
    }

    /**
     * The evaluator calls EngineModel from its worker threads, which never made the context current:
     * the first eval --gpu on the host crashed the JVM there. Same logits from another thread.
     */
    @Test
    void engineModelScoresFromAnotherThread() throws Exception {
        Gpu.Availability a = Gpu.available();
        Assumptions.assumeTrue(a.available(), "GPU EngineModel threading check skipped: " + a.reason());
        Qwen2Model m = Models.load(Path.of("data/models/tiny"));
        int[] seq = {1, 289, 165, 40, 7, 1000, 33, 2, 17, 99};
        try (Gpu gpu = Gpu.open(); Engine e = Engine.load(gpu, m.weights(), Engine.Options.defaults(128).withLogitRows(128), null)) {
            EngineModel em = new EngineModel(e);
            float[] here = em.logits(seq);
            java.util.concurrent.ExecutorService pool = java.util.concurrent.Executors.newSingleThreadExecutor();
            try {
                float[] there = pool.submit(() -> em.logits(seq)).get();
                assertArrayEquals(here, there, "the same engine from a worker thread");
            } finally {
                pool.shutdown();
            }
            double[] r = EngineBench.compare(m.logits(seq), here, 0, seq.length, m.vocabSize());
            assertTrue(r[0] <= EngineBench.LOGIT_REL_TOL, "max|Δ|/max|logit| = " + r[0]);
        }
    }
}
