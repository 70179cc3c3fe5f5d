package dev.caldera4j.gpu;

import com.google.gson.GsonBuilder;
import com.google.gson.JsonArray;
import com.google.gson.JsonElement;
import com.google.gson.JsonObject;
import com.google.gson.JsonParser;
import dev.caldera4j.gpu.Gpu.Buffer;
import dev.caldera4j.gpu.GpuLayout.GpuLayer;
import dev.caldera4j.gpu.QlrKernels.DecodeConfig;
import dev.caldera4j.gpu.QlrKernels.DeviceLayer;
import dev.caldera4j.gpu.QlrKernels.Workspace;
import java.io.IOException;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.function.IntConsumer;
import jcuda.driver.CUevent;

/**
 * Parity of every GPU kernel, then timings of fused / unfused Q + L·R and fp16 baselines (ours and
 * cuBLAS through PyTorch) in Qwen2-72B's linear shapes, written as a DESIGN results file.
 *
 * <pre>
 * java -cp '.device/lib/*' dev.caldera4j.gpu.KernelBench --out $OUT/kernels-h200.json \
 *     [--log FILE] [--set full|quick|profile|none] [--parity full|quick|none] [--cublas tools/cublas_bench.py]
 *     [--git-commit SHA] [--seed N]
 * </pre>
 *
 * Timing: CUDA events around each call, the calls queued behind a spin kernel (so the host's
 * launch rate cannot stretch the intervals), warm-up first, the median of 20–100 calls, and the
 * weights rotated over enough device copies that their total is ≥ 3× the L2. Copy bandwidth is a
 * 1 GiB device-to-device copy in the same run (bytes read + written over time). Exits 1 if any
 * parity check fails (after writing everything), 2 if there is no GPU.
 */
public final class KernelBench {

    record Shape(String name, int dOut, int dIn) {}

    static final List<Shape> SHAPES = List.of(new Shape("q/o", 8192, 8192), new Shape("k/v", 1024, 8192),
            new Shape("gate/up", 29568, 8192), new Shape("down", 8192, 29568));

    private final Gpu gpu;
    private final QlrKernels k;
    private final PrintStream log;
    private final CUevent[] events;
    private double copyGbps;
    private final List<Map<String, Object>> rows = new ArrayList<>();

    KernelBench(Gpu gpu, PrintStream log) {
        this.gpu = gpu;
        this.k = new QlrKernels(gpu);
        this.log = log;
        this.events = new CUevent[101];
        for (int i = 0; i < events.length; i++) events[i] = gpu.event();
    }

    public static void main(String[] args) throws Exception {
        Map<String, String> opt = options(args);
        Path out = Path.of(opt.getOrDefault("out", "kernels.json"));
        Path logPath = Path.of(opt.getOrDefault("log", out.toString().replaceAll("\\.json$", "") + ".log"));
        Gpu.Availability a = Gpu.available();
        if (!a.available()) {
            System.err.println("KernelBench: no GPU here: " + a.reason());
            System.exit(2);
        }
        String command = "java -cp '" + System.getProperty("java.class.path") + "' dev.caldera4j.gpu.KernelBench " + String.join(" ", args);
        long seed = Long.parseLong(opt.getOrDefault("seed", Long.toString(System.nanoTime())));
        boolean parityOk;
        try (Gpu gpu = Gpu.open(); PrintStream log = new PrintStream(Files.newOutputStream(logPath), true, StandardCharsets.UTF_8)) {
            PrintStream tee = new PrintStream(new TeeStream(System.out, log), true, StandardCharsets.UTF_8);
            KernelBench b = new KernelBench(gpu, tee);
            tee.printf("device %s: cc %d.%d, %d SMs, L2 %d MB, %.1f GiB, driver %d, %s; seed %d%n", gpu.deviceName, gpu.ccMajor,
                    gpu.ccMinor, gpu.smCount, gpu.l2Bytes >> 20, gpu.totalBytes / (double) (1L << 30), gpu.driverVersion,
                    gpu.ptxResource, seed);
            parityOk = true;
            String parity = opt.getOrDefault("parity", "full");
            if (!parity.equals("none")) {
                long t0 = System.nanoTime();
                List<Parity.Check> checks = Parity.run(gpu, b.k, seed, parity.equals("quick"), tee);
                long failed = checks.stream().filter(c -> !c.pass()).count();
                parityOk = failed == 0;
                tee.printf("parity: %d checks, %d failed (%.1f s)%n", checks.size(), failed, (System.nanoTime() - t0) / 1e9);
            }
            b.copyGbps = b.measureCopy();
            tee.printf("copy bandwidth (device to device, read + write): %.0f GB/s%n", b.copyGbps);
            String set = opt.getOrDefault("set", "full");
            if (set.equals("profile")) {
                b.profile();
                System.exit(0);
            }
            if (!set.equals("none")) b.benchmark(set.equals("quick"));
            Map<String, Object> versions = new LinkedHashMap<>();
            versions.put("java", Runtime.version().toString());
            versions.put("jcuda", "12.6.0");
            versions.put("cuda_driver", gpu.driverVersion);
            versions.put("ptx", gpu.ptxResource + " (" + ptxCompiler(gpu.ptxResource) + ")");
            if (opt.containsKey("cublas") && !set.equals("none")) b.cublas(opt.get("cublas"), opt.getOrDefault("python", "python3"), set.equals("quick"), versions);
            Map<String, Object> env = new LinkedHashMap<>();
            env.put("command", command);
            env.put("git_commit", opt.getOrDefault("git-commit", "unknown"));
            env.put("machine", gpu.deviceName + ", " + gpu.smCount + " SMs, " + (gpu.totalBytes >> 30) + " GiB, L2 "
                    + (gpu.l2Bytes >> 20) + " MB, driver " + gpu.driverVersion);
            env.put("versions", versions);
            env.put("rows", b.rows);
            writeAtomically(out, new GsonBuilder().setPrettyPrinting().disableHtmlEscaping().create().toJson(env) + "\n");
            b.summary();
            tee.println(parityOk ? "parity: all passed" : "parity: FAILED (see the FAIL lines above)");
        }
        System.exit(parityOk ? 0 : 1);
    }

    /** --name value pairs of a benchmark's command line. */
    static Map<String, String> options(String[] args) {
        Map<String, String> opt = new LinkedHashMap<>();
        for (int i = 0; i < args.length; i++) {
            if (!args[i].startsWith("--") || i + 1 >= args.length)
                throw new IllegalArgumentException("expected --name value pairs, got '" + args[i] + "'; see the class comment for usage");
            opt.put(args[i].substring(2), args[++i]);
        }
        return opt;
    }

    static String ptxCompiler(String resource) {
        String head = new String(Gpu.readPtx(resource), 0, 2000, StandardCharsets.UTF_8);
        for (String line : head.split("\n"))
            if (line.startsWith("// Cuda compilation tools")) return line.substring(3).trim();
        return "unknown compiler";
    }

    static void writeAtomically(Path file, String text) throws IOException {
        Path dir = file.toAbsolutePath().getParent();
        Files.createDirectories(dir);
        Path tmp = Files.createTempFile(dir, file.getFileName().toString(), ".tmp");
        Files.writeString(tmp, text, StandardCharsets.UTF_8);
        Files.move(tmp, file, StandardCopyOption.REPLACE_EXISTING, StandardCopyOption.ATOMIC_MOVE);
    }

    // ---------------------------------------------------------------- timing

    /**
     * Median microseconds of call(i) over rotating buffer sets i = 0..nbuf−1. The calls are queued
     * behind a spin kernel long enough for the host to enqueue them all; if the host needed longer
     * than that, the line in the log says so (the GPU may then have idled between calls).
     */
    double medianUs(int nbuf, IntConsumer call) {
        int warm = Math.max(3, nbuf);
        gpu.record(events[0]);
        for (int i = 0; i < warm; i++) call.accept(i % nbuf);
        gpu.record(events[1]);
        gpu.sync();
        double estMs = Gpu.elapsedMs(events[0], events[1]) / warm;
        int reps = (int) Math.max(20, Math.min(events.length - 1, 25.0 / Math.max(estMs, 1e-3)));
        long spinNs = 2_000_000L + reps * 150_000L;
        k.spin(spinNs);
        long h0 = System.nanoTime();
        gpu.record(events[0]);
        for (int i = 0; i < reps; i++) {
            call.accept((i + 1) % nbuf);
            gpu.record(events[i + 1]);
        }
        long hostNs = System.nanoTime() - h0;
        gpu.sync();
        double[] us = new double[reps];
        for (int i = 0; i < reps; i++) us[i] = 1000.0 * Gpu.elapsedMs(events[i], events[i + 1]);
        Arrays.sort(us);
        if (hostNs > spinNs) log.printf("  (host enqueue %.1f ms outlasted the %.1f ms spin: intervals may include host gaps)%n", hostNs / 1e6, spinNs / 1e6);
        return us[reps / 2];
    }

    double measureCopy() {
        long bytes = 1L << 30;
        Buffer a = gpu.alloc(bytes, "copy source"), b = gpu.alloc(bytes, "copy target");
        gpu.zero(a);
        double us = medianUs(1, i -> gpu.copy(b, a, bytes));
        gpu.free(a);
        gpu.free(b);
        return 2.0 * bytes / (us * 1e3);
    }

    /** Weight copies so that their total is at least 3× the L2 (at least 2, at most 64). */
    int copiesFor(long bytes) {
        return (int) Math.max(2, Math.min(64, (3 * gpu.l2Bytes + bytes - 1) / bytes));
    }

    // ---------------------------------------------------------------- the grid

    /** The MLP shapes (gate/up and down): the targets, and the quick set. */
    static boolean mlp(Shape s) {
        return s.name.equals("gate/up") || s.name.equals("down");
    }

    void benchmark(boolean quick) {
        for (Shape s : SHAPES) {
            if (quick && !mlp(s)) continue;
            fp16(s, quick);
            for (int group : quick ? new int[] {128} : new int[] {128, 64}) {
                long seed = s.dOut * 7919L + s.dIn * 31L + group;
                FormatV1Layer q = RandomLayers.layer(seed, s.dOut, s.dIn, group, 0, 4, 4);
                GpuLayer gq = GpuLayout.convert(q);
                int nbuf = copiesFor(q.bytes());
                DeviceLayer q0 = k.upload(gq);
                DeviceLayer[] qs = new DeviceLayer[nbuf];
                qs[0] = q0;
                for (int i = 1; i < nbuf; i++) qs[i] = k.duplicate(q0);
                for (int rank : quick ? new int[] {128} : new int[] {64, 128, 256})
                    for (int bits : quick ? new int[] {4} : new int[] {4, 16}) {
                        if (group == 64 && !quick && rank == 256 && s.name.equals("k/v")) continue;
                        caldera(s, group, rank, bits, q, gq, qs, quick);
                    }
                for (DeviceLayer d : qs) gpu.free(d.qtiles()); // factors are freed per config
                for (DeviceLayer d : qs) gpu.free(d.sz());
            }
        }
    }

    /** One call of each main kernel on gate/up (group 128, rank 128, 4-bit factors), for a profiler; no timing. */
    void profile() {
        Shape s = SHAPES.get(2);
        int T = 128;
        FormatV1Layer w = RandomLayers.layer(11, s.dOut, s.dIn, 128, 128, 4, 4);
        DeviceLayer l = k.upload(GpuLayout.convert(w));
        Workspace ws = k.workspace(l, T, false);
        Buffer x = gpu.upload(RandomLayers.activations(12, T, s.dIn), "x"), y = gpu.alloc(2L * T * s.dOut, "y");
        Buffer W = gpu.upload(RandomLayers.fp16Matrix(13, s.dOut, s.dIn, 0.01), "W16");
        for (int rep = 0; rep < 2; rep++) {
            k.decodeFused(l, x, y, ws, k.decodeConfig(l));
            k.prefillFused(l, x, T, y, ws, 0);
            k.gemvF16(y, W, x, s.dOut, s.dIn);
            k.gemmF16(y, W, x, s.dOut, T, s.dIn, ws);
        }
        gpu.sync();
        log.println("profile calls done");
    }

    private void caldera(Shape s, int group, int rank, int bits, FormatV1Layer q, GpuLayer gq, DeviceLayer[] qs, boolean quick) {
        long seed = s.dOut * 31L + s.dIn + rank * 7L + bits;
        Factor L = RandomLayers.factor(seed, "L", s.dOut, rank, bits, Math.min(rank, 128), 0.5 / Math.sqrt(rank));
        Factor R = RandomLayers.factor(seed + 1, "R", rank, s.dIn, bits, RandomLayers.factorGroup(s.dIn), 1.0 / Math.sqrt(s.dIn));
        FormatV1Layer w = new FormatV1Layer("bench", s.dOut, s.dIn, 2, group, q.qweight(), q.scales(), q.zeros(), L, R);
        GpuLayer g = new GpuLayer(gq.dOut(), gq.dIn(), group, gq.MT(), gq.KT(), gq.GT(), gq.qtiles(), gq.sz(),
                GpuLayout.factor(L), GpuLayout.factor(R));
        DeviceLayer[] ls = new DeviceLayer[qs.length];
        ls[0] = k.withFactors(qs[0], g.L(), g.R());
        for (int i = 1; i < ls.length; i++) ls[i] = k.withFactorsOf(qs[i], ls[0]);
        int T = 128;
        Workspace ws = k.workspace(ls[0], T, true);
        Buffer x = gpu.upload(RandomLayers.activations(seed + 2, T, s.dIn), "x"), y = gpu.alloc(2L * T * s.dOut, "y");
        long bytes1 = w.bytes() + 2L * s.dIn + 2L * s.dOut, bytesT = w.bytes() + 2L * T * (s.dIn + s.dOut);
        String cfg = String.format("%-7s g%-3d r%-3d b%-2d", s.name, group, rank, bits);

        // the fused decode: the default (v4 = v3m where one scale group covers a tile, else v3) and v5 (one launch);
        // the faster is reported as "fused", both are logged
        DecodeConfig def = k.decodeConfig(ls[0]), v5 = k.decodeConfig(ls[0], 5);
        double usDef = medianUs(ls.length, i -> k.decodeFused(ls[i], x, y, ws, def));
        double usV5 = medianUs(ls.length, i -> k.decodeFused(ls[i], x, y, ws, v5));
        DecodeConfig best = usV5 < usDef ? v5 : def;
        double fused1 = Math.min(usDef, usV5);
        double unf1 = medianUs(ls.length, i -> k.decodeUnfused(ls[i], x, y, ws));
        double unfLr1 = medianUs(ls.length, i -> k.decodeUnfusedLr(ls[i], x, y, ws, best));
        log.printf("T=1   %s fused %8.2f us [%s]; v%d %8.2f, v5 %8.2f; unfused %8.2f, unfused_lr %8.2f  [%d copies]%n",
                cfg, fused1, best, def.version(), usDef, usV5, unf1, unfLr1, ls.length);
        log.printf("      %s Q only (rank 0)    v%d %8.2f us, v5 %8.2f us%n", cfg, def.version(),
                medianUs(ls.length, i -> k.decodeQ(ls[i], x, y, ws, def)), medianUs(ls.length, i -> k.decodeQ(ls[i], x, y, ws, v5)));
        row(s, "caldera", group, bits, rank, 1, "fused", fused1, bytes1);
        row(s, "caldera", group, bits, rank, 1, "unfused", unf1, bytes1);

        double fusedT = medianUs(ls.length, i -> k.prefillFused(ls[i], x, T, y, ws, 0));
        double unfT = medianUs(ls.length, i -> k.prefillUnfused(ls[i], x, T, y, ws));
        double unfLrT = medianUs(ls.length, i -> k.prefillUnfusedLr(ls[i], x, T, y, ws));
        double flops = 2.0 * T * s.dOut * s.dIn + 2.0 * T * rank * (s.dIn + s.dOut);
        log.printf("T=128 %s fused %8.2f us (%s S=%d), unfused %8.2f, unfused_lr %8.2f, %.0f TFLOP/s fused%n", cfg, fusedT,
                k.wgmma ? "wgmma" : "mma.sync", k.prefillSplit(ls[0], T), unfT, unfLrT, flops / (fusedT * 1e6));
        if (quick && k.wgmma) {
            log.printf("      %s prefill mma.sync (S=%d) %8.2f us%n", cfg, k.prefillSplit(ls[0], T, false),
                    medianUs(ls.length, i -> k.prefillFused(ls[i], x, T, y, ws, 0, false)));
            if (rank > 0)
                log.printf("      %s parts: Q alone (rank 0) %8.2f us, Tm = X·Rᵀ %8.2f us, main kernel with the L·Tm steps %8.2f us%n", cfg,
                        medianUs(ls.length, i -> k.prefillUnfusedLrQOnly(ls[i], x, T, y, ws)), medianUs(ls.length, i -> k.lowRankInput(ls[i], x, T, ws)),
                        medianUs(ls.length, i -> k.prefillKernelOnly(ls[i], x, T, y, ws)));
        }
        if (quick)
            for (int S : new int[] {1, 2, 4})
                if ((long) S * T * s.dOut <= ws.wsFloats())
                    log.printf("      %s prefill S=%d %8.2f us%n", cfg, S, medianUs(ls.length, i -> k.prefillFused(ls[i], x, T, y, ws, S)));
        row(s, "caldera", group, bits, rank, T, "fused", fusedT, bytesT);
        row(s, "caldera", group, bits, rank, T, "unfused", unfT, bytesT);

        gpu.free(x);
        gpu.free(y);
        k.free(ws);
        for (DeviceLayer l : ls) k.freeFactors(l);
    }

    private void fp16(Shape s, boolean quick) {
        int T = 128;
        long bytesW = 2L * s.dOut * s.dIn;
        int nbuf = copiesFor(bytesW);
        Buffer w0 = gpu.upload(RandomLayers.fp16Matrix(s.dOut, s.dOut, s.dIn, 1.0 / Math.sqrt(s.dIn)), "W16");
        Buffer[] ws = new Buffer[nbuf];
        ws[0] = w0;
        for (int i = 1; i < nbuf; i++) ws[i] = gpu.duplicate(w0, "W16 copy");
        Buffer x = gpu.upload(RandomLayers.activations(5, T, s.dIn), "x"), y = gpu.alloc(2L * T * s.dOut, "y");
        long wsf = Math.max(1, (long) k.gemmSplit(s.dOut, T, s.dIn) * T * s.dOut);
        Buffer part = gpu.alloc(4 * wsf, "split-k partials");
        Workspace w = Workspace.fp16Only(s.dOut, s.dIn, T, part, wsf);
        double us1 = medianUs(nbuf, i -> k.gemvF16(y, ws[i], x, s.dOut, s.dIn));
        double usT = medianUs(nbuf, i -> k.gemmF16(y, ws[i], x, s.dOut, T, s.dIn, w));
        log.printf("fp16 ours %-7s T=1 %8.2f us   T=128 %8.2f us (%.0f TFLOP/s)  [%d copies]%n", s.name, us1, usT,
                2.0 * T * s.dOut * s.dIn / (usT * 1e6), nbuf);
        row(s, "dense", 0, 16, 0, 1, "fp16_ours", us1, bytesW + 2L * (s.dIn + s.dOut));
        row(s, "dense", 0, 16, 0, T, "fp16_ours", usT, bytesW + 2L * T * (s.dIn + s.dOut));
        for (Buffer b : ws) gpu.free(b);
        gpu.free(x);
        gpu.free(y);
        gpu.free(part);
    }

    private void row(Shape s, String method, int group, int bits, int rank, int tokens, String variant, double us, long bytes) {
        Map<String, Object> r = new LinkedHashMap<>();
        r.put("model", "qwen2-72b");
        r.put("method", method);
        if (method.equals("caldera")) {
            r.put("bq", 2);
            r.put("group", group);
            r.put("bl", bits);
            r.put("br", bits);
            r.put("rank", rank);
        }
        r.put("shape", s.name);
        r.put("d_out", s.dOut);
        r.put("d_in", s.dIn);
        r.put("tokens", tokens);
        r.put("variant", variant);
        double gbps = bytes / (us * 1e3);
        r.put("us", round(us, 2));
        r.put("gbps", round(gbps, 1));
        r.put("pct_of_copy_bw", round(100 * gbps / copyGbps, 1));
        r.put("copy_gbps", round(copyGbps, 1));
        rows.add(r);
    }

    static double round(double v, int digits) {
        double p = Math.pow(10, digits);
        return Math.round(v * p) / p;
    }

    /** Runs tools/cublas_bench.py (PyTorch, cuBLAS fp16) for the same shapes and merges its rows. */
    void cublas(String script, String python, boolean quick, Map<String, Object> versions) throws Exception {
        StringBuilder shapes = new StringBuilder();
        for (Shape s : SHAPES) {
            if (quick && !mlp(s)) continue;
            if (!shapes.isEmpty()) shapes.append(',');
            shapes.append(s.name).append(':').append(s.dOut).append(':').append(s.dIn);
        }
        Path tmp = Files.createTempFile("cublas", ".json");
        ProcessBuilder pb = new ProcessBuilder(python, script, "--shapes", shapes.toString(), "--tokens", "1,128",
                "--l2-bytes", Long.toString(gpu.l2Bytes), "--out", tmp.toString()).redirectErrorStream(true);
        Process p = pb.start();
        String output = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        int rc = p.waitFor();
        log.print(output);
        if (rc != 0) {
            log.println("cublas_bench.py failed with exit code " + rc + ": no fp16_cublas rows");
            return;
        }
        JsonObject o = JsonParser.parseString(Files.readString(tmp)).getAsJsonObject();
        versions.put("torch", o.get("torch").getAsString());
        versions.put("torch_cuda", o.get("cuda").getAsString());
        log.printf("copy bandwidth through PyTorch: %.0f GB/s (rows use the JCuda measurement, %.0f GB/s)%n",
                o.get("copy_gbps").getAsDouble(), copyGbps);
        JsonArray rs = o.getAsJsonArray("rows");
        for (JsonElement e : rs) {
            JsonObject r = e.getAsJsonObject();
            Shape s = SHAPES.stream().filter(x -> x.name.equals(r.get("shape").getAsString())).findFirst().orElseThrow();
            int T = r.get("tokens").getAsInt();
            row(s, "dense", 0, 16, 0, T, "fp16_cublas", r.get("us").getAsDouble(), 2L * s.dOut * s.dIn + 2L * T * (s.dIn + s.dOut));
        }
    }

    /** The main comparison, printed last. */
    void summary() {
        log.println();
        log.println("shape    g   r   b  T    fused_us  unfused_us  cublas_us  ours16_us  x_cublas  x_unfused  %copy_bw(fused)");
        for (Map<String, Object> r : rows) {
            if (!"fused".equals(r.get("variant"))) continue;
            double cub = find(r, "fp16_cublas"), ours = find(r, "fp16_ours"), unf = find(r, "unfused");
            double us = (Double) r.get("us");
            log.printf("%-8s %-3s %-3s %-2s %-4s %9.2f %11.2f %10.2f %10.2f %9.2f %10.2f %8.1f%n", r.get("shape"), r.get("group"),
                    r.get("rank"), r.get("bl"), r.get("tokens"), us, unf, cub, ours, cub / us, unf / us, (Double) r.get("pct_of_copy_bw"));
        }
    }

    private double find(Map<String, Object> like, String variant) {
        for (Map<String, Object> r : rows) {
            if (!variant.equals(r.get("variant")) || !r.get("shape").equals(like.get("shape")) || !r.get("tokens").equals(like.get("tokens")))
                continue;
            if (variant.equals("unfused") && !(r.get("group").equals(like.get("group")) && r.get("rank").equals(like.get("rank"))
                    && r.get("bl").equals(like.get("bl"))))
                continue;
            return (Double) r.get("us");
        }
        return Double.NaN;
    }

    /** Writes to two streams (console and log file). */
    static final class TeeStream extends java.io.OutputStream {
        private final java.io.OutputStream a, b;

        TeeStream(java.io.OutputStream a, java.io.OutputStream b) {
            this.a = a;
            this.b = b;
        }

        @Override
        public void write(int c) throws IOException {
            a.write(c);
            b.write(c);
        }

        @Override
        public void write(byte[] buf, int off, int len) throws IOException {
            a.write(buf, off, len);
            b.write(buf, off, len);
        }

        @Override
        public void flush() throws IOException {
            a.flush();
            b.flush();
        }
    }

}
