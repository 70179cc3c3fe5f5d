package dev.caldera4j.experiment;

import dev.caldera4j.eval.ResultsFile;
import dev.caldera4j.linalg.Gemm;
import dev.caldera4j.quant.Caldera;
import dev.caldera4j.quant.CalderaConfig;
import dev.caldera4j.quant.HessianAccumulator;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.SplittableRandom;

/**
 * Scale check for Qwen2-72B (a command, not a test): times ONE CALDERA outer iteration, step by
 * step, on synthetic matrices shaped like a fraction f of down_proj (8192 × 29568: d_out =
 * 128·round(64·f), d_in = 128·round(231·f), so group 128 divides d_in), with peak RSS (VmHWM), and
 * projects time, memory and disk for all 560 linear matrices of Qwen2-72B (80 layers × q, k, v, o,
 * gate, up, down) on this machine and on a 64-core server.
 *
 * <p>Synthetic inputs: W = 0.02·Gaussian + a rank-64 part; H = XᵀX/N from N = d_in
 * activation-like rows (log-normal channel scales, 4 outlier channels ×20, 8 latent factors,
 * Student-t tokens): full rank, like a real calibration Hessian (N ≫ d_in).
 *
 * <p>Usage: {@code ScaleCheck [--fractions 1/7,2/7] [--rank 256] [--bl 4] [--br 4] [--als 5]
 * [--iters 15] [--out results/caldera-scale-check.json]}. Writes the results file and prints a table.
 */
public final class ScaleCheck {
    private ScaleCheck() {}

    static final int FULL_M = 8192, FULL_N = 29568, LAYERS = 80;
    /** Qwen2-72B's linear matrices per layer: name, d_out, d_in, and which Hessian they share (q/k/v, gate/up). */
    static final Object[][] LAYER_MATRICES = {
            {"q_proj", 8192, 8192, "qkv"}, {"k_proj", 1024, 8192, "qkv"}, {"v_proj", 1024, 8192, "qkv"},
            {"o_proj", 8192, 8192, "o"}, {"gate_proj", 29568, 8192, "gateup"}, {"up_proj", 29568, 8192, "gateup"},
            {"down_proj", 8192, 29568, "down"}};
    static final String[] STEPS = {"sqrt", "init", "svd", "als", "ldlq", "bookkeeping", "final"};

    public static void main(String[] args) throws IOException {
        Map<String, String> opt = new LinkedHashMap<>(Map.of("--fractions", "1/7,2/7", "--rank", "256", "--bl", "4", "--br", "4",
                "--als", "5", "--iters", "15", "--out", "results/caldera-scale-check.json"));
        for (int i = 0; i < args.length; i += 2) {
            if (!opt.containsKey(args[i]) || i + 1 >= args.length)
                throw new IllegalArgumentException("ScaleCheck: unknown or incomplete option " + args[i] + "; options: " + opt.keySet());
            opt.put(args[i], args[i + 1]);
        }
        int rank = Integer.parseInt(opt.get("--rank")), bl = Integer.parseInt(opt.get("--bl")), br = Integer.parseInt(opt.get("--br"));
        int als = Integer.parseInt(opt.get("--als")), iters = Integer.parseInt(opt.get("--iters"));
        CalderaConfig cfg = CalderaConfig.of(rank, bl, br).withIters(1, als);
        String load = loadAverage();
        String threads = System.getenv().getOrDefault("OPENBLAS_NUM_THREADS", "default (" + Runtime.getRuntime().availableProcessors() + ")");
        int threadCount = parseThreads(threads);
        List<Map<String, Object>> rows = new ArrayList<>();
        Measured last = null;
        List<Measured> all = new ArrayList<>();
        for (String f : opt.get("--fractions").split(",")) {
            String[] pq = f.split("/");
            double frac = Double.parseDouble(pq[0]) / (pq.length > 1 ? Double.parseDouble(pq[1]) : 1);
            int m = 128 * (int) Math.round(64 * frac), n = 128 * (int) Math.round(231 * frac);
            last = measure(m, n, cfg);
            all.add(last);
            for (String step : STEPS) {
                Map<String, Object> row = base(cfg, m, n, "measured");
                row.put("phase", step);
                row.put("seconds", round(last.seconds.get(step)));
                row.put("note", String.format(Locale.ROOT, "one outer iteration; model %.3g flop, %.2f GFLOP/s; VmHWM %.2f GiB; OpenBLAS threads %s; load average %s",
                        flops(step, m, n, cfg), flops(step, m, n, cfg) / last.seconds.get(step) / 1e9, last.vmHwm / GIB, threads, last.load));
                rows.add(row);
            }
            Map<String, Object> row = base(cfg, m, n, "measured");
            row.put("phase", "hessian_build");
            row.put("seconds", round(last.hessianSeconds));
            row.put("note", "synthetic H = XᵀX/N, N = d_in rows (not part of CALDERA)");
            rows.add(row);
        }

        // ---- projections from the largest measured size: per-step rates (s per model flop) ----------
        Measured ref = last;
        Map<String, Double> rate = new LinkedHashMap<>();
        for (String step : STEPS) rate.put(step, ref.seconds.get(step) / flops(step, ref.m, ref.n, cfg));
        Map<String, Double> downFull = new LinkedHashMap<>();
        for (String step : STEPS) downFull.put(step, rate.get(step) * flops(step, FULL_M, FULL_N, cfg));
        for (String step : STEPS) {
            Map<String, Object> row = base(cfg, FULL_M, FULL_N, "projected-this-machine");
            row.put("phase", step);
            row.put("seconds", round(downFull.get(step)));
            row.put("note", "down_proj, one outer iteration; rate from " + ref.m + "x" + ref.n + ", law " + LAW.get(step));
            rows.add(row);
        }
        double perIter = downFull.get("svd") + downFull.get("als") + downFull.get("ldlq") + downFull.get("bookkeeping");
        double once = downFull.get("sqrt") + downFull.get("init") + downFull.get("final");
        double memDown = memoryModel(FULL_M, FULL_N);

        // all 560 matrices
        double[] total = new double[2];      // [this machine, 64 cores], Cholesky of H per matrix (as implemented)
        double[] totalShared = new double[2]; // Cholesky once per distinct Hessian (q/k/v and gate/up share)
        double bits = 0, params = 0;
        for (Object[] mat : LAYER_MATRICES) {
            int m = (int) mat[1], n = (int) mat[2];
            boolean firstOfShared = mat[0].equals("q_proj") || mat[0].equals("gate_proj") || mat[3].equals("o") || mat[3].equals("down");
            for (int machine = 0; machine < 2; machine++) {
                double t = 0, eig = 0;
                for (String step : STEPS) {
                    double s = rate.get(step) * flops(step, m, n, cfg) / (machine == 0 ? 1 : 64.0 / threadCount);
                    boolean perIteration = step.equals("svd") || step.equals("als") || step.equals("ldlq") || step.equals("bookkeeping");
                    if (step.equals("sqrt")) eig = s;
                    else t += perIteration ? iters * s : s;
                }
                total[machine] += LAYERS * (t + eig);
                totalShared[machine] += LAYERS * (t + (firstOfShared ? eig : 0));
            }
            bits += LAYERS * (double) m * n * bitsPerParam(m, n, cfg);
            params += LAYERS * (double) m * n;
        }
        double embedBytes = 2.0 * 152064 * 8192 * 2; // embed_tokens + untied lm_head, bf16, not compressed
        double ckptBytes = bits / 8 + embedBytes;
        double hessianLayerBytes = 8.0 * (3L * 8192 * 8192 + (long) FULL_N * FULL_N);
        String diskNote = String.format(Locale.ROOT, "checkpoint %.2f GiB (%.4f bits/param over the 560 matrices = %.2f GiB, + embed and lm_head bf16 %.2f GiB); "
                        + "Hessians float64 %.1f GiB per layer (q/k/v, o, gate/up share 8192², down 29568²), %.0f GiB if all 80 layers were kept",
                ckptBytes / GIB, bits / params, bits / 8 / GIB, embedBytes / GIB, hessianLayerBytes / GIB, LAYERS * hessianLayerBytes / GIB);
        for (int machine = 0; machine < 2; machine++) {
            Map<String, Object> row = base(cfg, FULL_M, FULL_N, machine == 0 ? "projected-this-machine" : "projected-64-core");
            row.remove("shape");
            row.remove("d_out");
            row.remove("d_in");
            row.put("model", "Qwen2-72B");
            row.put("phase", "all_560_matrices");
            row.put("seconds", round(total[machine]));
            row.put("note", String.format(Locale.ROOT, "%d outer iterations each; %.1f h with the Cholesky of H per matrix as implemented (%.1f h if shared by q/k/v and gate/up); "
                            + "peak RSS of down_proj ≈ %.1f GiB (model 24·n² + 40·m·n bytes); %s; %s", iters, total[machine] / 3600,
                    totalShared[machine] / 3600, memDown / GIB, diskNote,
                    machine == 0 ? "rates measured here (" + Runtime.getRuntime().availableProcessors() + " cores shared with other jobs, OpenBLAS threads "
                            + threads + ", load average at the largest size " + ref.load + ")"
                            : "64 cores: every step is BLAS-3 dominated (dgemm, dpotrf/dpotri, dsyrk); assumed linear in cores at the measured rate per BLAS thread (" + threads + ")"));
            rows.add(row);
        }

        Path out = Path.of(opt.get("--out"));
        String command = "java dev.caldera4j.experiment.ScaleCheck " + String.join(" ", args);
        ResultsFile.write(out, ResultsFile.envelope(command, rows, null));

        // ---- table ----------------------------------------------------------------------------------
        System.out.printf(Locale.ROOT, "CALDERA scale check: rank %d, bl=%d br=%d, %d ALS rounds, bq=2 group 128, no Hadamard; OpenBLAS threads %s; "
                + "load average at start %s, at the end %s%n", rank, bl, br, als, threads, load, loadAverage());
        System.out.printf(Locale.ROOT, "%-22s", "step (s)");
        for (Measured ms : all) System.out.printf(Locale.ROOT, "%14s", ms.m + "x" + ms.n);
        System.out.printf(Locale.ROOT, "%16s%12s%n", "8192x29568*", "law");
        for (String step : STEPS) {
            System.out.printf(Locale.ROOT, "%-22s", step);
            for (Measured ms : all) System.out.printf(Locale.ROOT, "%14.2f", ms.seconds.get(step));
            System.out.printf(Locale.ROOT, "%16.1f%12s%n", downFull.get(step), LAW.get(step));
        }
        System.out.printf(Locale.ROOT, "%-22s", "VmHWM (GiB)");
        for (Measured ms : all) System.out.printf(Locale.ROOT, "%14.2f", ms.vmHwm / GIB);
        System.out.printf(Locale.ROOT, "%16.1f%12s%n", memDown / GIB, "model");
        System.out.printf(Locale.ROOT, "%-22s", "model 24n²+40mn (GiB)");
        for (Measured ms : all) System.out.printf(Locale.ROOT, "%14.2f", memoryModel(ms.m, ms.n) / GIB);
        System.out.println();
        System.out.printf(Locale.ROOT, "* projected. down_proj: %.0f s once per matrix + %.0f s per outer iteration; dominant per-iteration step: %s%n",
                once, perIter, dominant(downFull));
        System.out.printf(Locale.ROOT, "All 560 matrices, %d iterations: this machine %.0f h (Cholesky shared: %.0f h); 64-core server %.1f h (shared: %.1f h)%n",
                iters, total[0] / 3600, totalShared[0] / 3600, total[1] / 3600, totalShared[1] / 3600);
        System.out.println("Disk: " + diskNote);
        System.out.println("Wrote " + out);
    }

    static final double GIB = 1L << 30;

    static final Map<String, String> LAW = Map.of("sqrt", "n³", "init", "mn²", "svd", "(mn+n²)k", "als", "n²r+mnr",
            "ldlq", "n³+mn²", "bookkeeping", "mnr", "final", "mn²");

    /** Model flop counts (2 per multiply-add) of each step as implemented; only their ratios across shapes matter for the projection. */
    static double flops(String step, double m, double n, CalderaConfig c) {
        double r = c.rank(), k = Math.min(r + c.svdOversample(), Math.min(m, n)), q = c.svdPowerIters(), rounds = c.lrAlsIters();
        return switch (step) {
            case "sqrt" -> n * n * n / 3;                                    // dpotrf of H + δ·I
            case "init" -> 2 * m * n * n;                                    // ‖W‖²_H
            case "svd" -> 2 * (2 * q + 2) * (m * n + n * n) * k + 2 * m * n * r;
            case "als" -> rounds * (8 * n * n * r + 6 * m * n * r);
            case "ldlq" -> 4.0 / 3 * n * n * n + 5 * m * n * n;              // Cholesky, inverse, Cholesky; lazy updates; GPTQ's proxy error
            case "bookkeeping" -> 8 * m * n * r;
            case "final" -> 4 * m * n * n + 2 * m * n * r;                   // direct proxy error
            default -> throw new IllegalArgumentException(step);
        };
    }

    /** The BLAS thread count from OPENBLAS_NUM_THREADS, else the core count. */
    static int parseThreads(String threads) {
        try {
            return Math.max(1, Integer.parseInt(threads.trim()));
        } catch (NumberFormatException e) {
            return Runtime.getRuntime().availableProcessors();
        }
    }

    /** Peak resident bytes: caller's H, its Cholesky factor and GPTQ's factor (3·n² doubles), W and residuals (~40 bytes per weight). */
    static double memoryModel(double m, double n) {
        return 24 * n * n + 40 * m * n;
    }

    static double bitsPerParam(int m, int n, CalderaConfig c) {
        double r = c.rank();
        double lBits = c.bl() == 16 ? 16 : c.bl() + 32.0 / Math.min(c.rank(), 128), rBits = c.br() == 16 ? 16 : c.br() + 32.0 / c.group();
        return c.bq() + 32.0 / c.group() + r * (m * lBits + n * rBits) / ((double) m * n);
    }

    static String dominant(Map<String, Double> s) {
        String best = null;
        for (String step : List.of("svd", "als", "ldlq", "bookkeeping")) if (best == null || s.get(step) > s.get(best)) best = step;
        return best;
    }

    record Measured(int m, int n, Map<String, Double> seconds, double hessianSeconds, double vmHwm, String load) {}

    static Measured measure(int m, int n, CalderaConfig cfg) {
        resetPeak();
        long t0 = System.nanoTime();
        double[] H = hessian(n, n, 7);
        double th = (System.nanoTime() - t0) * 1e-9;
        float[] W = weight(m, n, 8);
        Caldera.Result res = Caldera.decompose(W, m, n, H, cfg, "scale." + m + "x" + n);
        double hwm = vmHwm();
        System.out.printf(Locale.ROOT, "%dx%d: %s, proxy error %.4g, VmHWM %.2f GiB%n", m, n, res.seconds(), res.proxyError(), hwm / GIB);
        return new Measured(m, n, res.seconds(), th, hwm, loadAverage());
    }

    /** H = XᵀX/N from N activation-like rows, accumulated in chunks (X is never held whole). */
    static double[] hessian(int n, int rows, long seed) {
        SplittableRandom rnd = new SplittableRandom(seed);
        int F = 8;
        double[] scale = new double[n], A = new double[F * n];
        for (int j = 0; j < n; j++) scale[j] = Math.exp(0.8 * rnd.nextGaussian());
        for (int k = 0; k < 4; k++) scale[rnd.nextInt(n)] *= 20;
        for (int i = 0; i < A.length; i++) A[i] = 0.7 * rnd.nextGaussian();
        int chunk = Math.max(1, (1 << 22) / n);
        try (HessianAccumulator acc = new HessianAccumulator(n)) {
            float[] X = new float[chunk * n];
            double[] f = new double[F];
            for (int r0 = 0; r0 < rows; r0 += chunk) {
                int k = Math.min(chunk, rows - r0);
                for (int t = 0; t < k; t++) {
                    double chi = 0;
                    for (int d = 0; d < 4; d++) chi += Math.pow(rnd.nextGaussian(), 2);
                    double heavy = Math.sqrt(4 / chi);
                    for (int d = 0; d < F; d++) f[d] = rnd.nextGaussian();
                    for (int j = 0; j < n; j++) {
                        double v = rnd.nextGaussian();
                        for (int d = 0; d < F; d++) v += f[d] * A[d * n + j];
                        X[t * n + j] = (float) (scale[j] * heavy * v);
                    }
                }
                acc.add(X, k);
            }
            return acc.H();
        }
    }

    /** W (m, n) = 0.02·Gaussian + 0.01·(rank-64 Gaussian product)/8. */
    static float[] weight(int m, int n, long seed) {
        SplittableRandom rnd = new SplittableRandom(seed);
        int k = 64;
        float[] U = new float[m * k], V = new float[k * n], W = new float[m * n];
        for (int i = 0; i < U.length; i++) U[i] = (float) rnd.nextGaussian();
        for (int i = 0; i < V.length; i++) V[i] = (float) (0.01 / 8 * rnd.nextGaussian());
        Gemm.matmul(U, V, W, m, n, k, false);
        for (int i = 0; i < W.length; i++) W[i] += (float) (0.02 * rnd.nextGaussian());
        return W;
    }

    static Map<String, Object> base(CalderaConfig c, int m, int n, String variant) {
        Map<String, Object> row = new LinkedHashMap<>();
        row.put("model", "synthetic");
        row.put("method", "caldera");
        row.put("bq", c.bq());
        row.put("group", c.group());
        row.put("act_order", c.actOrder());
        row.put("bl", c.bl());
        row.put("br", c.br());
        row.put("rank", c.rank());
        row.put("hadamard", c.hadamard());
        row.put("shape", m + "x" + n);
        row.put("d_out", m);
        row.put("d_in", n);
        row.put("variant", variant);
        return row;
    }

    static double round(double s) {
        return Math.round(s * 1000) / 1000.0;
    }

    /** Resets this process's peak RSS (Linux: writing 5 to clear_refs); silently a no-op elsewhere. */
    static void resetPeak() {
        try {
            Files.writeString(Path.of("/proc/self/clear_refs"), "5");
        } catch (IOException | UnsupportedOperationException e) {
            // not Linux, or not permitted: VmHWM then covers the whole run so far
        }
    }

    static double vmHwm() {
        try {
            for (String line : Files.readAllLines(Path.of("/proc/self/status")))
                if (line.startsWith("VmHWM:")) return Double.parseDouble(line.replaceAll("[^0-9]", "")) * 1024;
        } catch (IOException e) {
            // not Linux
        }
        return Double.NaN;
    }

    static String loadAverage() {
        try {
            String[] f = Files.readString(Path.of("/proc/loadavg")).split(" ");
            return f[0] + " " + f[1] + " " + f[2];
        } catch (IOException e) {
            return "unknown";
        }
    }
}
