package dev.caldera4j.experiment;

import dev.caldera4j.calib.CheckpointCompressor;
import dev.caldera4j.calib.CompressSpec;
import dev.caldera4j.eval.EvalMode;
import dev.caldera4j.model.Qwen2Config;
import dev.caldera4j.plan.Footprint;
import dev.caldera4j.quant.CalderaConfig;
import dev.caldera4j.quant.QuantConfig;
import tech.tablesaw.plotly.components.Axis;
import tech.tablesaw.plotly.components.Figure;
import tech.tablesaw.plotly.components.Layout;
import tech.tablesaw.plotly.traces.ScatterTrace;
import tech.tablesaw.plotly.traces.Trace;

import java.io.PrintStream;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.TreeMap;

/**
 * Stage 1 (issue 5): CALDERA's configuration matrix scaled to the small model. Q at 2 bits, group
 * 128 (act-order, static groups); L and R at 4 or 16 bits; three ranks whose fp16-factor overhead on
 * the small model matches what ranks 64/128/256 cost on Qwen2-72B ({@link #matchedRank}); the
 * calibration size varied at one (rank, bits) only. Every row gets the quick evaluation, its exact
 * bits per parameter, its compression wall time, and what the same configuration (at the 72B rank)
 * costs on Qwen2-72B's shapes against DESIGN's 22 GiB ({@link Footprint}). Optionally the full
 * evaluation of the Pareto-optimal rows (quick WikiText-2 perplexity against bits).
 *
 * <p>Resumable as {@link Phase1} (both run on {@link Sweep}): rerun the same command after a crash.
 */
public final class Stage1 {
    private Stage1() {}

    /** Q's grid in every Stage-1 row: 2 bits, group 128 (act-order, static groups). */
    public static final int BQ = 2, GROUP = 128;
    /** The seed's ranks on Qwen2-72B; the small model's ranks are matched to their overhead. */
    public static final int[] RANKS_72B = {64, 128, 256};

    /**
     * Bits per parameter the L·R factors add to the decoder's linears of {@code c} at this rank and
     * factor width (16 = fp16), exactly as format v1 stores them ({@link Footprint#linearBytes}: codes,
     * scales and zeros of L and R, R grouped along d_in with group 128, L along the rank with min(r, 128)).
     */
    public static double overheadBits(Qwen2Config c, int rank, int bits) {
        Footprint.Settings with = new Footprint.Settings(BQ, GROUP, rank, bits, bits, GROUP, false, 16, 128, false);
        Footprint.Settings without = with.withRank(0);
        return (linearBytes(c, with) - linearBytes(c, without)) * 8.0 / Footprint.linearParams(c);
    }

    private static long linearBytes(Qwen2Config c, Footprint.Settings s) {
        int h = c.hiddenSize(), q = c.qDim(), kv = c.kvDim(), im = c.intermediateSize();
        long perLayer = Footprint.linearBytes(q, h, s) + 2 * Footprint.linearBytes(kv, h, s) + Footprint.linearBytes(h, q, s)
                + 2 * Footprint.linearBytes(im, h, s) + Footprint.linearBytes(h, im, s);
        return c.numLayers() * perLayer;
    }

    /**
     * The rank of {@code small} whose overhead at {@code matchBits}-bit factors is closest to what
     * {@code bigRank} costs on {@code big} at the same width (ties: the smaller rank). Ranks run from 1
     * to the smallest linear dimension of the small model; with quantised factors a rank above 128
     * must be a multiple of 128 (format v1).
     *
     * <p>Stage 1 matches at 16 bits ({@link #MATCH_BITS}) and uses the same ranks for 4-bit factors.
     * Why not match the 4-bit overhead itself: format v1 groups L along the rank with group min(r, 128),
     * so every row of L pays a 32-bit scale + zero and a whole 32-bit word of codes however small r
     * is. On Qwen2-72B (rows of 8192…29568 columns) that costs little; on standin-small it dominates:
     * 4-bit rank 1 already costs more than 72B's 4-bit rank 128, so an exact 4-bit match gives ranks
     * {1, 1, ~9}, degenerate for a sweep. Matching the fp16 overhead (no scales: r·16·(d_out + d_in)
     * per matrix) gives the ratio the seed's ranks have to the model's width; each row then records
     * its exact overhead on both models.
     */
    public static int matchedRank(Qwen2Config small, Qwen2Config big, int bigRank, int matchBits) {
        double target = overheadBits(big, bigRank, matchBits);
        int maxRank = Math.min(Math.min(small.hiddenSize(), small.kvDim()), Math.min(small.qDim(), small.intermediateSize()));
        int best = 1;
        double bestDiff = Double.POSITIVE_INFINITY;
        for (int r = 1; r <= maxRank; r++) {
            if (matchBits < 16 && r > 128 && r % 128 != 0) continue;
            double d = Math.abs(overheadBits(small, r, matchBits) - target);
            if (d < bestDiff) {
                bestDiff = d;
                best = r;
            }
        }
        return best;
    }

    /** Factor width whose exact overhead the ranks are matched at (see {@link #matchedRank}). */
    public static final int MATCH_BITS = 16;

    /**
     * Outer iterations of the sweep's rows. Measured on all 56 matrices of standin-small at 15
     * iterations (rank 8, 4-bit factors; results/caldera-vs-gptq-standin-small.json, {@code iter_errors}):
     * the kept iterate came at iteration 0–6 (0-based; 55 of 56 at ≤ 5), and the best error reachable
     * when stopping after k iterations exceeds the 15-iteration one by 4.5 % (k = 1), 1.9 % (2),
     * 0.6 % (3), 0.15 % (4), 0.02 % (5) and 0 from k = 6 on, on average. Five iterations keep
     * the result within 0.02 % at a third of the time of the default 15.
     */
    public static final int DEFAULT_OUTER_ITERS = 5;

    /**
     * One configuration.
     *
     * @param rank       r on the small model
     * @param rank72b    the Qwen2-72B rank whose overhead r matches
     * @param bits       bits of L and R (4, or 16 = fp16)
     * @param calibSeqs  calibration windows
     * @param outerIters CALDERA outer iterations
     */
    public record Config(int rank, int rank72b, int bits, int calibSeqs, int outerIters) {
        public Config {
            if (bits != 4 && bits != 16) throw new IllegalArgumentException("Stage 1 factors are 4 or 16 bits, not " + bits);
            if (calibSeqs < 1 || outerIters < 1)
                throw new IllegalArgumentException("calibSeqs=" + calibSeqs + " and outerIters=" + outerIters + " must be at least 1");
        }

        /** The compression spec: CALDERA with Q 2-bit g128 act-order, L and R at bits, the default ALS rounds. */
        public CompressSpec spec() {
            QuantConfig q = QuantConfig.of(BQ, GROUP);
            CalderaConfig cc = CalderaConfig.of(rank, bits, bits).withQ(BQ, GROUP).withActOrder(q.actOrder())
                    .withIters(outerIters, CalderaConfig.DEFAULT_ALS_ITERS);
            return new CompressSpec("caldera", q, false, cc);
        }

        /** Checkpoint directory name under the work directory. */
        public String dirName(String model, int seqlen, long seed) {
            return model + "-caldera-b" + BQ + "-g" + GROUP + "-r" + rank + "-f" + bits + "-it" + outerIters + "-c" + calibSeqs + "x" + seqlen
                    + "-s" + seed;
        }
    }

    /**
     * The grid: BL = BR ∈ {4, 16} × the three matched ranks at {@code calibSeqs} windows, then the
     * 4-bit row at the rank matching 72B's 128 with each of {@code otherCalibSeqs} windows. The 4-bit
     * rows come first (the configurations that can fit 72B), so a sweep cut short has the ones that matter.
     */
    public static List<Config> grid(Qwen2Config small, int calibSeqs, List<Integer> otherCalibSeqs, int outerIters) {
        Qwen2Config big = Qwen2Config.qwen2_72b();
        List<Config> g = new ArrayList<>();
        for (int bits : new int[] {4, 16})
            for (int r72 : RANKS_72B) g.add(new Config(matchedRank(small, big, r72, MATCH_BITS), r72, bits, calibSeqs, outerIters));
        for (int seqs : otherCalibSeqs)
            if (seqs != calibSeqs) g.add(new Config(matchedRank(small, big, 128, MATCH_BITS), 128, 4, seqs, outerIters));
        return g;
    }

    /**
     * What configuration c costs: on the small model, the exact factor overhead; on Qwen2-72B at
     * c.rank72b() (same bq, group, factor bits), bits per parameter of the linears, device bytes
     * during decode and whether they fit DESIGN's 22 GiB, with an fp16 lm_head and with a 4-bit g128 one.
     */
    public static Map<String, Object> footprintFields(Qwen2Config small, Config c) {
        Qwen2Config big = Qwen2Config.qwen2_72b();
        Footprint.Settings s = Footprint.Settings.caldera(BQ, GROUP, c.rank72b(), c.bits());
        Footprint.Plan head16 = Footprint.plan(big, s, Footprint.Runtime.design());
        Footprint.Plan head4 = Footprint.plan(big, s.withHead(4, 128), Footprint.Runtime.design());
        Map<String, Object> f = new LinkedHashMap<>();
        f.put("outer_iters", c.outerIters());
        f.put("rank_72b", c.rank72b());
        f.put("overhead_bits", overheadBits(small, c.rank(), c.bits()));
        f.put("overhead_bits_72b", overheadBits(big, c.rank72b(), c.bits()));
        f.put("bits_per_param_72b", head16.linearBitsPerParam());
        f.put("bytes_72b", head16.deviceBytes());
        f.put("fits_72b_22gib", head16.fits(BUDGET_GIB));
        f.put("bytes_72b_head4", head4.deviceBytes());
        f.put("fits_72b_22gib_head4", head4.fits(BUDGET_GIB));
        return f;
    }

    /** DESIGN's budget: 22 GiB of device memory. */
    public static final double BUDGET_GIB = 22.0;

    /**
     * Sweep settings.
     *
     * @param model         dense HF model directory
     * @param modelName     "model" in the rows (default: the directory name)
     * @param corpus        calibration corpus
     * @param calibSeqlen   tokens per calibration window
     * @param work          where the compressed checkpoints go
     * @param results       the results file
     * @param evalDir       evaluation data
     * @param pplWindows    scale-down of the evaluation as in {@link Phase1.Options} (0 = protocol)
     * @param zeroShotItems as pplWindows
     * @param full          also run the full evaluation of the Pareto-optimal rows (expensive: ~30 min a row here)
     * @param fullSeqlens   seqlens of the full evaluation
     * @param grid          the configurations, in run order
     * @param calibNote     how the calibration was scaled from the seed's (goes into every row's note)
     * @param command       the command line recorded in the results file
     */
    public record Options(Path model, String modelName, Path corpus, int calibSeqlen, long seed, Path work, Path results,
                          Path evalDir, int pplWindows, int zeroShotItems, boolean full, List<Integer> fullSeqlens,
                          List<Config> grid, String calibNote, String command) {
        public Options {
            grid = List.copyOf(grid);
            fullSeqlens = List.copyOf(fullSeqlens);
            if (modelName == null) modelName = model.toAbsolutePath().normalize().getFileName().toString();
        }

        Sweep.Eval eval() {
            return new Sweep.Eval(model, modelName, evalDir, pplWindows, zeroShotItems, fullSeqlens, results, command);
        }
    }

    /**
     * Runs (or resumes) the sweep; returns the rows written to {@code o.results()}. Quick rows carry
     * {@code pareto}: no other quick row of the sweep has both fewer (or as many) bits and a lower
     * WikiText-2 perplexity.
     */
    public static List<Map<String, Object>> run(Options o, PrintStream log, boolean progress) {
        Qwen2Config small = Qwen2Config.load(o.model().resolve("config.json"));
        try (Sweep s = Sweep.open(o.eval())) {
            Map<Config, Path> dirs = new LinkedHashMap<>();
            Map<Config, Map<String, Object>> bases = new LinkedHashMap<>();
            List<Map<String, Object>> quick = new ArrayList<>();
            for (Config c : o.grid()) {
                Path dir = o.work().resolve(c.dirName(o.modelName(), o.calibSeqlen(), o.seed()));
                Sweep.compress(o.model(), dir, c.spec(), new CheckpointCompressor.Calibration(o.corpus(), c.calibSeqs(), o.calibSeqlen(), o.seed()),
                        log, progress);
                Map<String, Object> base = s.checkpointBase(dir);
                base.putAll(footprintFields(small, c));
                if (!o.calibNote().isEmpty()) base.put("note", o.calibNote());
                dirs.put(c, dir);
                bases.put(c, base);
                quick.addAll(s.evalRows(dir, base, EvalMode.QUICK, CheckpointCompressor.compressSeconds(dir), log, progress));
            }
            List<Map<String, Object>> front = pareto(quick, "ppl_wikitext2");
            for (Map<String, Object> r : quick) r.put("pareto", front.contains(r));
            s.savePartial();
            if (o.full()) {
                for (Config c : o.grid()) {
                    Map<String, Object> q = quick.stream().filter(r -> sameConfig(r, bases.get(c))).findFirst().orElseThrow();
                    if (Boolean.TRUE.equals(q.get("pareto")))
                        s.evalRows(dirs.get(c), bases.get(c), EvalMode.FULL, CheckpointCompressor.compressSeconds(dirs.get(c)), log, progress);
                }
            }
            return s.finish();
        }
    }

    private static boolean sameConfig(Map<String, Object> row, Map<String, Object> base) {
        for (String k : Sweep.CONFIG_FIELDS)
            if (!java.util.Objects.equals(Sweep.norm(row.get(k)), Sweep.norm(base.get(k)))) return false;
        return true;
    }

    /**
     * The Pareto frontier of rows with bits_per_param and metric (lower is better for both): a row is
     * on it when no other row has bits ≤ its bits and a metric &lt; its metric. Sorted by bits.
     */
    public static List<Map<String, Object>> pareto(List<Map<String, Object>> rows, String metric) {
        List<Map<String, Object>> with = rows.stream()
                .filter(r -> r.get("bits_per_param") instanceof Number && r.get(metric) instanceof Number).toList();
        List<Map<String, Object>> front = new ArrayList<>();
        for (Map<String, Object> r : with) {
            double b = num(r, "bits_per_param"), m = num(r, metric);
            boolean dominated = with.stream().anyMatch(o -> o != r && num(o, "bits_per_param") <= b && num(o, metric) < m);
            if (!dominated) front.add(r);
        }
        front.sort(Comparator.comparingDouble(r -> num(r, "bits_per_param")));
        return front;
    }

    private static double num(Map<String, Object> r, String k) {
        return ((Number) r.get(k)).doubleValue();
    }

    /** The ranks, their exact overheads on both models, and what each configuration costs on Qwen2-72B (printed by the command). */
    public static String rankTable(Qwen2Config small, List<Config> grid) {
        StringBuilder sb = new StringBuilder();
        sb.append(String.format(Locale.ROOT, "%-5s %4s %7s %8s %12s %12s %10s %9s %12s %9s%n", "bits", "r", "r(72B)", "calib",
                "overhead", "ovh (72B)", "72B b/p", "72B GiB", "fits 22 GiB", "head 4b"));
        for (Config c : grid) {
            Map<String, Object> f = footprintFields(small, c);
            sb.append(String.format(Locale.ROOT, "%-5d %4d %7d %8d %12.4f %12.4f %10.4f %9.2f %12s %9s%n", c.bits(), c.rank(), c.rank72b(),
                    c.calibSeqs(), num(f, "overhead_bits"), num(f, "overhead_bits_72b"), num(f, "bits_per_param_72b"),
                    num(f, "bytes_72b") / (double) (1L << 30), f.get("fits_72b_22gib"),
                    String.format(Locale.ROOT, "%.2f %s", num(f, "bytes_72b_head4") / (double) (1L << 30),
                            Boolean.TRUE.equals(f.get("fits_72b_22gib_head4")) ? "yes" : "no")));
        }
        return sb.toString();
    }

    /** The rows as a text table: config, bits, quick perplexities and zero-shot, compression time, 72B fit, Pareto. */
    public static String table(List<Map<String, Object>> rows) {
        StringBuilder sb = new StringBuilder();
        sb.append(String.format(Locale.ROOT, "%-6s %4s %4s %6s %9s %9s %9s %8s %8s %9s %6s %6s %6s%n", "eval", "bits", "r", "calib",
                "bits/par", "wiki2", "c4", "lambada", "hswag", "compr s", "fit16", "fit4", "pareto"));
        for (Map<String, Object> r : rows) {
            sb.append(String.format(Locale.ROOT, "%-6s %4s %4s %6s %9.4f %9.2f %9.2f %8.4f %8.4f %9.0f %6s %6s %6s%n", r.get("eval") + "@" + r.get("seqlen"),
                    r.get("bl"), r.get("rank"), r.get("calib_seqs"), num(r, "bits_per_param"), opt(r, "ppl_wikitext2"), opt(r, "ppl_c4"),
                    opt(r, "lambada_acc"), opt(r, "hellaswag_acc"), opt(r, "seconds"), r.get("fits_72b_22gib"), r.get("fits_72b_22gib_head4"),
                    r.getOrDefault("pareto", "")));
        }
        return sb.toString();
    }

    private static double opt(Map<String, Object> r, String k) {
        return r.get(k) instanceof Number n ? n.doubleValue() : Double.NaN;
    }

    /**
     * Perplexity (log scale) against bits per parameter for rows of several sweeps (e.g. Phase 1's
     * and Stage 1's), one marker trace per method, and the Pareto frontier over all compressed rows
     * as a line; rows of one eval mode and seqlen. Points are labelled with their configuration.
     */
    public static Figure paretoFigure(List<Map<String, Object>> rows, String eval, int seqlen, String metric) {
        List<Map<String, Object>> sel = rows.stream().filter(r -> eval.equals(r.get("eval")) && r.get("seqlen") instanceof Number s
                && s.intValue() == seqlen && r.get(metric) instanceof Number && r.get("bits_per_param") instanceof Number).toList();
        Map<String, List<Map<String, Object>>> byMethod = new TreeMap<>();
        for (var r : sel) byMethod.computeIfAbsent((String) r.get("method"), k -> new ArrayList<>()).add(r);
        if (byMethod.isEmpty())
            throw new IllegalArgumentException("no rows with eval=" + eval + ", seqlen=" + seqlen + " and " + metric + " to plot");
        List<Trace> traces = new ArrayList<>();
        for (var e : byMethod.entrySet()) traces.add(trace(e.getValue(), metric, e.getKey(), ScatterTrace.Mode.MARKERS));
        List<Map<String, Object>> front = pareto(sel.stream().filter(r -> !"dense".equals(r.get("method"))).toList(), metric);
        if (!front.isEmpty()) traces.add(trace(front, metric, "Pareto frontier (compressed)", ScatterTrace.Mode.LINE));
        Layout layout = Layout.builder(metric + " (" + eval + ", seqlen " + seqlen + ") vs bits per parameter: CALDERA, GPTQ, RTN")
                .xAxis(Axis.builder().title("bits per parameter (block linears)").build())
                .yAxis(Axis.builder().title(metric).type(Axis.Type.LOG).build()).build();
        return new Figure(layout, traces.toArray(Trace[]::new));
    }

    private static Trace trace(List<Map<String, Object>> rs, String metric, String name, ScatterTrace.Mode mode) {
        double[] x = rs.stream().mapToDouble(r -> num(r, "bits_per_param")).toArray();
        double[] y = rs.stream().mapToDouble(r -> num(r, metric)).toArray();
        String[] text = rs.stream().map(Stage1::label).toArray(String[]::new);
        return ScatterTrace.builder(x, y).mode(mode).name(name).text(text).build();
    }

    /** A row's configuration in words, e.g. "caldera r8 4-bit factors, 64 windows" or "gptq 2-bit g64". */
    static String label(Map<String, Object> r) {
        if ("dense".equals(r.get("method"))) return "dense";
        Object g = r.get("group");
        String q = r.get("method") + " " + r.get("bq") + "-bit " + (g instanceof Number n && n.intValue() <= 0 ? "per-channel" : "g" + g);
        if (!"caldera".equals(r.get("method"))) return q;
        return q + " r" + r.get("rank") + " " + r.get("bl") + "-bit factors, " + r.get("calib_seqs") + " windows";
    }
}
