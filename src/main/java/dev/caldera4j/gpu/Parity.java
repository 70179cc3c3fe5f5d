package dev.caldera4j.gpu;

import dev.caldera4j.gpu.Gpu.Buffer;
import dev.caldera4j.gpu.GpuLayout.GpuLayer;
import dev.caldera4j.gpu.QlrKernels.DecodeConfig;
import dev.caldera4j.gpu.QlrKernels.DeviceLayer;
import dev.caldera4j.gpu.QlrKernels.Workspace;
import java.io.PrintStream;
import java.util.ArrayList;
import java.util.List;
import java.util.SplittableRandom;
import java.util.function.Consumer;

/**
 * GPU kernels against the float64 reference ({@link CpuTwins#exact}) on fresh random layers and
 * activations, over awkward shapes (1 row, odd sizes, inputs not a multiple of the 128 tile,
 * tokens not a multiple of 64, every group kind, 4- and 16-bit factors, rank 0). Outputs are
 * poisoned with fp16 NaN before each run, so an element no kernel wrote fails the check.
 *
 * <p>Errors are measured against the rms, over the compared outputs, of each output's natural
 * size sqrt(Σ_k (w_k·x_k)² + Σ_j (L_j·t_j)²) ({@link CpuTwins#exactScale}): max|e|/rms,
 * mean|e|/rms and ‖e‖/rms/√n. For random layers this equals the rms of y; unlike |y| it stays
 * meaningful when an output cancels (a first version normalised by |y| and failed a 1-output
 * case whose y was small against its terms: every fused path gave the same 1.4e-3). Tolerances
 * (and why):
 * <ul>
 *   <li>{@link #FUSED}: each weight is rounded once to fp16 (relative 2^-12 rms), products and sums
 *       are fp32, y is rounded once to fp16 (at most 2^-11 of |y|, and |y| reaches ~5 rms in
 *       these draws): expected ‖e‖/‖ref‖ ≈ 3e-4, max ≈ 2.5e-3 rms. Limits 1e-3 / 1e-3 / 1e-2
 *       leave 3–4× margin and still catch any wrong weight or missing term (≥ 1e-2 relative).</li>
 *   <li>{@link #UNFUSED}: two more fp16 roundings (the partial outputs y1 and y2, and Tm in
 *       prefill) before the add: twice the fused limits.</li>
 *   <li>{@link #FP16}: fp16 baselines on fp16 weights: only fp32 sums and the final rounding.</li>
 *   <li>The dequantiser is bit-exact against its twin ({@link CpuTwins#dequantTiles}).</li>
 * </ul>
 */
public final class Parity {
    private Parity() {}

    public record Tolerance(double maxRel, double meanRel, double l2Rel) {}

    public static final Tolerance FUSED = new Tolerance(1e-2, 1e-3, 1e-3);
    public static final Tolerance UNFUSED = new Tolerance(2e-2, 2e-3, 2e-3);
    public static final Tolerance FP16 = new Tolerance(5e-3, 5e-4, 5e-4);

    /** One comparison. */
    public record Check(String variant, int dOut, int dIn, int group, int rank, int bl, int br, int tokens,
                        int compared, double maxRel, double meanRel, double l2Rel, int unwritten, Tolerance tol, boolean pass) {
        public String line() {
            return String.format("%-7s %-15s %6d x %-6d g%-4d r%-4d bl%-2d br%-2d T%-4d n=%-8d max %.2e mean %.2e l2 %.2e%s",
                    pass ? "ok" : "FAIL", variant, dOut, dIn, group, rank, bl, br, tokens, compared, maxRel, meanRel, l2Rel,
                    unwritten > 0 ? " unwritten " + unwritten : "");
        }
    }

    /** A parity case: layer shape and tokens. */
    public record Case(int dOut, int dIn, int group, int rank, int bl, int br, int tokens) {}

    /** Awkward small shapes plus two of Qwen2-72B's (compared on a sample of rows). */
    public static List<Case> cases(boolean quick) {
        List<Case> c = new ArrayList<>(List.of(
                new Case(1, 64, 64, 8, 16, 16, 1),
                new Case(37, 192, 64, 8, 4, 4, 1),
                new Case(37, 192, 64, 8, 4, 4, 3),
                new Case(100, 320, 32, 24, 4, 16, 5),
                new Case(259, 1152, 128, 64, 16, 4, 67),
                new Case(333, 640, 128, 0, 4, 4, 1),
                new Case(333, 640, 128, 0, 4, 4, 130),
                new Case(3001, 4224, 64, 128, 4, 4, 1),
                new Case(3001, 4224, 64, 128, 4, 4, 128),
                new Case(520, 2048, 256, 256, 16, 16, 1),
                new Case(520, 2048, 256, 256, 16, 16, 64)));
        if (!quick) {
            c.add(new Case(1024, 8192, 128, 128, 4, 4, 1));
            c.add(new Case(1024, 8192, 128, 128, 4, 4, 128));
            c.add(new Case(29568, 8192, 128, 128, 4, 4, 1));
            c.add(new Case(8192, 29568, 64, 256, 16, 16, 128));
        }
        return c;
    }

    /** Runs every case and variant; prints one line per check to log (if not null). */
    public static List<Check> run(Gpu gpu, QlrKernels k, long seed, boolean quick, PrintStream log) {
        List<Check> out = new ArrayList<>();
        SplittableRandom seeds = new SplittableRandom(seed);
        for (Case c : cases(quick)) {
            FormatV1Layer w = RandomLayers.layer(seeds.nextLong(), c.dOut, c.dIn, c.group, c.rank, c.bl, c.br);
            short[] x = RandomLayers.activations(seeds.nextLong(), c.tokens, c.dIn);
            int[] rows = sampleRows(c, seeds.nextLong());
            double[] ref = CpuTwins.exact(w, x, c.tokens, rows);
            double[] scale = CpuTwins.exactScale(w, x, c.tokens, rows);
            GpuLayer gl = GpuLayout.convert(w);
            DeviceLayer dl = k.upload(gl);
            Workspace ws = k.workspace(dl, c.tokens, true);
            Buffer xb = gpu.upload(x, "x"), yb = gpu.alloc(2L * c.tokens * c.dOut, "y");
            Consumer<String> note = s -> { if (log != null) log.println(s); };
            if (c.tokens == 1) {
                DecodeConfig auto = k.decodeConfig(dl), v3 = k.decodeConfig(dl, 3), v5 = k.decodeConfig(dl, 5), v5two = k.decodeConfig(dl, 5, 4, 0);
                check(out, note, gpu, c, "fused", FUSED, ref, scale, rows, yb, () -> k.decodeFused(dl, xb, yb, ws, auto));
                if (auto.version() != 3)
                    check(out, note, gpu, c, "fused_v3", FUSED, ref, scale, rows, yb, () -> k.decodeFused(dl, xb, yb, ws, v3));
                check(out, note, gpu, c, "fused_v5", FUSED, ref, scale, rows, yb, () -> k.decodeFused(dl, xb, yb, ws, v5));
                // twice more, with as many blocks as fit: the counters qlr_decode5 leaves behind must be zero again
                check(out, note, gpu, c, "fused_v5_again", FUSED, ref, scale, rows, yb, () -> {
                    k.decodeFused(dl, xb, yb, ws, v5two);
                    k.decodeFused(dl, xb, yb, ws, v5two);
                });
                check(out, note, gpu, c, "unfused", UNFUSED, ref, scale, rows, yb, () -> k.decodeUnfused(dl, xb, yb, ws));
                check(out, note, gpu, c, "unfused_lr", UNFUSED, ref, scale, rows, yb, () -> k.decodeUnfusedLr(dl, xb, yb, ws, auto));
            }
            check(out, note, gpu, c, "prefill", FUSED, ref, scale, rows, yb, () -> k.prefillFused(dl, xb, c.tokens, yb, ws, 0));
            if (k.wgmma)  // the mma.sync prefill serves the other devices: keep it checked
                check(out, note, gpu, c, "prefill_mma", FUSED, ref, scale, rows, yb, () -> k.prefillFused(dl, xb, c.tokens, yb, ws, 0, false));
            if (c.tokens > 1) {
                check(out, note, gpu, c, "prefill_s1", FUSED, ref, scale, rows, yb, () -> k.prefillFused(dl, xb, c.tokens, yb, ws, 1));
                if (dl.KT() >= 3 && 3L * c.tokens * c.dOut <= ws.wsFloats())
                    check(out, note, gpu, c, "prefill_s3", FUSED, ref, scale, rows, yb, () -> k.prefillFused(dl, xb, c.tokens, yb, ws, 3));
                check(out, note, gpu, c, "prefill_unfused", UNFUSED, ref, scale, rows, yb, () -> k.prefillUnfused(dl, xb, c.tokens, yb, ws));
                check(out, note, gpu, c, "prefill_unf_lr", UNFUSED, ref, scale, rows, yb, () -> k.prefillUnfusedLr(dl, xb, c.tokens, yb, ws));
            }
            if ((long) c.dOut * c.dIn <= 16L << 20) out.add(dequantExact(gpu, k, c, gl, dl, ws, note));
            gpu.free(xb);
            gpu.free(yb);
            k.free(ws);
            k.free(dl);
        }
        out.addAll(fp16Baselines(gpu, k, seeds.nextLong(), quick, log));
        return out;
    }

    /** All rows for small layers; for large ones the first, last and a random sample. */
    static int[] sampleRows(Case c, long seed) {
        long work = (long) c.dOut * c.dIn * c.tokens;
        if (work <= 64L << 20) return null;
        int n = Math.min(c.dOut, c.tokens == 1 ? 1024 : 96);
        int[] r = new SplittableRandom(seed).ints(n, 0, c.dOut).sorted().distinct().toArray();
        r[0] = 0;
        r[r.length - 1] = c.dOut - 1;
        return r;
    }

    private static void check(List<Check> out, Consumer<String> note, Gpu gpu, Case c, String variant, Tolerance tol,
                              double[] ref, double[] scale, int[] rows, Buffer yb, Runnable run) {
        gpu.fill16(yb, (short) 0x7E00, (long) c.tokens * c.dOut);  // fp16 NaN
        run.run();
        short[] y = gpu.readShorts(yb, c.tokens * c.dOut);
        int nr = rows == null ? c.dOut : rows.length;
        int unwritten = 0;
        for (short v : y) if (Float.isNaN(Float.float16ToFloat(v))) unwritten++;
        double e2 = 0, emax = 0, esum = 0, s2 = 0;
        boolean finite = true;
        for (int n = 0; n < c.tokens; n++)
            for (int i = 0; i < nr; i++) {
                int o = rows == null ? i : rows[i];
                double got = Float.float16ToFloat(y[n * c.dOut + o]), want = ref[n * nr + i];
                double e = Math.abs(got - want);
                if (!Double.isFinite(e)) finite = false;
                e2 += e * e;
                s2 += scale[n * nr + i] * scale[n * nr + i];
                esum += e;
                emax = Math.max(emax, e);
            }
        int m = c.tokens * nr;
        double rms = Math.sqrt(s2 / m);
        double maxRel = emax / rms, meanRel = esum / m / rms, l2 = Math.sqrt(e2 / m) / rms;
        boolean pass = finite && unwritten == 0 && maxRel <= tol.maxRel() && meanRel <= tol.meanRel() && l2 <= tol.l2Rel();
        Check ch = new Check(variant, c.dOut, c.dIn, c.group, c.rank, c.bl, c.br, c.tokens, m, maxRel, meanRel, l2, unwritten, tol, pass);
        out.add(ch);
        note.accept(ch.line());
    }

    /** dequant_q_f16 against its bit-exact twin. */
    private static Check dequantExact(Gpu gpu, QlrKernels k, Case c, GpuLayer gl, DeviceLayer dl, Workspace ws, Consumer<String> note) {
        gpu.fill16(ws.w16(), (short) 0x7E00, (long) c.dOut * c.dIn);
        k.dequantQ(dl, ws.w16());
        short[] got = gpu.readShorts(ws.w16(), c.dOut * c.dIn), want = CpuTwins.dequantTiles(gl);
        int diff = 0;
        for (int i = 0; i < want.length; i++) if (got[i] != want[i]) diff++;
        Check ch = new Check("dequant_exact", c.dOut, c.dIn, c.group, c.rank, c.bl, c.br, 0, want.length,
                diff, 0, 0, 0, new Tolerance(0, 0, 0), diff == 0);
        note.accept(ch.line() + " (max = count of differing fp16 values)");
        return ch;
    }

    /** gemv_f16 and gemm_f16 on random fp16 weights against float64. */
    private static List<Check> fp16Baselines(Gpu gpu, QlrKernels k, long seed, boolean quick, PrintStream log) {
        List<Check> out = new ArrayList<>();
        int[][] shapes = quick ? new int[][] {{1, 64, 1}, {37, 200, 1}, {301, 1032, 3}, {520, 2048, 130}}
                : new int[][] {{1, 64, 1}, {37, 200, 1}, {301, 1032, 3}, {520, 2048, 130}, {1024, 8192, 1}, {1024, 8192, 128}};
        SplittableRandom seeds = new SplittableRandom(seed);
        for (int[] s : shapes) {
            int dOut = s[0], dIn = s[1], T = s[2];
            Case c = new Case(dOut, dIn, 0, 0, 16, 16, T);
            short[] W = RandomLayers.fp16Matrix(seeds.nextLong(), dOut, dIn, 1.0 / Math.sqrt(dIn));
            short[] x = RandomLayers.activations(seeds.nextLong(), T, dIn);
            double[] ref = CpuTwins.gemmF16(W, x, dOut, T, dIn, null), scale = CpuTwins.gemmF16Scale(W, x, dOut, T, dIn, null);
            Buffer wb = gpu.upload(W, "W16"), xb = gpu.upload(x, "x"), yb = gpu.alloc(2L * T * dOut, "y");
            long wsf = Math.max(1, (long) k.gemmSplit(dOut, T, dIn) * T * dOut);
            Buffer wsb = gpu.alloc(4 * wsf, "split-k partials");
            Workspace ws = Workspace.fp16Only(dOut, dIn, T, wsb, wsf);
            Consumer<String> note = l -> { if (log != null) log.println(l); };
            if (T == 1) check(out, note, gpu, c, "fp16_gemv", FP16, ref, scale, null, yb, () -> k.gemvF16(yb, wb, xb, dOut, dIn));
            check(out, note, gpu, c, "fp16_gemm", FP16, ref, scale, null, yb, () -> k.gemmF16(yb, wb, xb, dOut, T, dIn, ws));
            for (Buffer b : new Buffer[] {wb, xb, yb, wsb}) gpu.free(b);
        }
        return out;
    }
}
