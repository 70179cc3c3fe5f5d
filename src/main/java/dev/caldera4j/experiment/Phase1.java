package dev.caldera4j.experiment;

import dev.caldera4j.calib.CheckpointCompressor;
import dev.caldera4j.calib.CompressSpec;
import dev.caldera4j.eval.EvalData;
import dev.caldera4j.eval.EvalMode;
import dev.caldera4j.eval.ResultsFile;
import dev.caldera4j.format.CompressedCheckpoint;
import dev.caldera4j.model.Qwen2Weights;
import dev.caldera4j.quant.QuantConfig;
import tech.tablesaw.api.BooleanColumn;
import tech.tablesaw.api.DoubleColumn;
import tech.tablesaw.api.IntColumn;
import tech.tablesaw.api.StringColumn;
import tech.tablesaw.api.Table;
import tech.tablesaw.columns.Column;
import tech.tablesaw.plotly.components.Axis;
import tech.tablesaw.plotly.components.Figure;
import tech.tablesaw.plotly.components.Layout;
import tech.tablesaw.plotly.traces.ScatterTrace;
import tech.tablesaw.plotly.traces.Trace;

import java.io.PrintStream;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.TreeMap;

/**
 * Phase 1 (issue 4): the PTQ baselines CALDERA must beat. For one model: the dense row, and RTN
 * and GPTQ at 2/3/4 bits with group 128, group 64 and 32 at 2 and 3 bits, 4-bit per channel, and
 * GPTQ at 2 bits with and without act-order ({@link #grid()}); a quick evaluation of every row,
 * then a full evaluation of the dense model and of the best row (lowest quick WikiText-2
 * perplexity) of each bit width. Rows go to a results file in DESIGN's format.
 *
 * <p>Resumable at two levels: compressed checkpoints are written by {@link CheckpointCompressor}
 * (finished ones are reused, a {@code .partial} one is resumed), and evaluated rows are kept in
 * {@code <results>.partial} after each row, so a rerun of the same command evaluates only what
 * is missing. Rows are matched on (model, method, bq, group, act_order, calibration, eval mode,
 * seqlen, eval scale), so changing a setting never reuses a row made with another.
 *
 * <p>{@code seconds} in a compressed row is the compression wall time on this machine (from the
 * checkpoint's run log); evaluation time goes into {@code note}.
 */
public final class Phase1 {
    private Phase1() {}

    /**
     * One compressed configuration.
     *
     * @param group −1 = one group per output channel
     */
    public record Config(String method, int bq, int group, boolean actOrder) {
        public Config {
            if (!method.equals("rtn") && !method.equals("gptq"))
                throw new IllegalArgumentException("phase 1 compares rtn and gptq, not '" + method + "'");
        }

        /** The compression spec of this row (RTN ignores act-order: it is recorded as false). */
        public CompressSpec spec() {
            QuantConfig q = QuantConfig.of(bq, group).withActOrder(method.equals("gptq") && actOrder);
            return new CompressSpec(method, q, false);
        }

        /** Checkpoint directory name under the work directory. */
        public String dirName(String model, int seqs, int seqlen, long seed) {
            String g = group <= 0 ? "pc" : "g" + group;
            return model + "-" + method + "-b" + bq + "-" + g + (method.equals("gptq") && actOrder ? "-ao" : "")
                    + (method.equals("gptq") ? "-c" + seqs + "x" + seqlen + "-s" + seed : "");
        }
    }

    /** The grid: 17 compressed rows; GPTQ act-order on at 2 bits (the default) plus one 2-bit row without it. */
    public static List<Config> grid() {
        List<Config> g = new ArrayList<>();
        for (String m : List.of("rtn", "gptq")) {
            for (int bq : new int[] {2, 3, 4}) g.add(new Config(m, bq, 128, bq == 2));
            for (int bq : new int[] {2, 3}) for (int group : new int[] {64, 32}) g.add(new Config(m, bq, group, bq == 2));
            g.add(new Config(m, 4, -1, false));
        }
        g.add(new Config("gptq", 2, 128, false));
        return g;
    }

    /**
     * Sweep settings.
     *
     * @param model        dense HF model directory
     * @param modelName    "model" in the rows (default: the directory name)
     * @param corpus       calibration corpus
     * @param work         where the compressed checkpoints go
     * @param results      the results file
     * @param evalDir      evaluation data (see {@link EvalData#defaultDir()})
     * @param pplWindows   keep the first pplWindows × (longest seqlen) tokens of each perplexity set (quick: that many
     *                     windows of 512); 0 = the protocol's (quick: 64 windows, full: all)
     * @param zeroShotItems LAMBADA items and HellaSwag tasks; 0 = the protocol's (quick: 1,000, full: all)
     * @param full         also run the full evaluation of dense and of the best row per bit width
     * @param fullSeqlens  seqlens of the full evaluation (DESIGN: 2048 and 512)
     * @param grid         the configurations
     * @param command      the command line recorded in the results file
     */
    public record Options(Path model, String modelName, Path corpus, int calibSeqs, int calibSeqlen, long seed, Path work,
                          Path results, Path evalDir, int pplWindows, int zeroShotItems, boolean full, List<Integer> fullSeqlens,
                          List<Config> grid, String command) {
        public Options {
            grid = List.copyOf(grid);
            fullSeqlens = List.copyOf(fullSeqlens);
            if (modelName == null) modelName = model.toAbsolutePath().normalize().getFileName().toString();
        }

        /** The evaluation settings and results file, as {@link Sweep} takes them. */
        Sweep.Eval eval() {
            return new Sweep.Eval(model, modelName, evalDir, pplWindows, zeroShotItems, fullSeqlens, results, command);
        }
    }

    /**
     * Runs (or resumes) the sweep; returns the rows written to {@code o.results()}.
     *
     * @param log      one line per step (compressing, reusing, evaluating) and the evaluation summaries
     * @param progress progress bars / lines on stderr
     */
    public static List<Map<String, Object>> run(Options o, PrintStream log, boolean progress) {
        try (Sweep s = Sweep.open(o.eval())) {
            Map<String, Object> denseBase = s.denseBase();
            s.evalRows(o.model(), denseBase, EvalMode.QUICK, Double.NaN, log, progress);
            Map<Config, Path> dirs = new LinkedHashMap<>();
            for (Config c : o.grid()) {
                Path dir = compress(o, c, log, progress);
                dirs.put(c, dir);
                s.evalRows(dir, s.checkpointBase(dir), EvalMode.QUICK, CheckpointCompressor.compressSeconds(dir), log, progress);
            }
            if (o.full()) {
                s.evalRows(o.model(), denseBase, EvalMode.FULL, Double.NaN, log, progress);
                for (Config c : best(s.rows, dirs)) {
                    Path dir = dirs.get(c);
                    s.evalRows(dir, s.checkpointBase(dir), EvalMode.FULL, CheckpointCompressor.compressSeconds(dir), log, progress);
                }
            }
            return s.finish();
        }
    }

    /** The checkpoint of one configuration: reused when finished, else compressed (resuming a .partial). */
    static Path compress(Options o, Config c, PrintStream log, boolean progress) {
        Path dir = o.work().resolve(c.dirName(o.modelName(), o.calibSeqs(), o.calibSeqlen(), o.seed()));
        // RTN is data-free: no calibration, so its rows take no Hessian passes (and have no proxy errors)
        CheckpointCompressor.Calibration cal = c.spec().needsHessian()
                ? new CheckpointCompressor.Calibration(o.corpus(), o.calibSeqs(), o.calibSeqlen(), o.seed()) : null;
        return Sweep.compress(o.model(), dir, c.spec(), cal, log, progress);
    }

    /** The best configuration (lowest quick WikiText-2 perplexity) per bit width. */
    static List<Config> best(List<Map<String, Object>> rows, Map<Config, Path> dirs) {
        Map<Integer, Config> best = new TreeMap<>();
        Map<Integer, Double> bestPpl = new TreeMap<>();
        for (var e : dirs.entrySet()) {
            Map<String, Object> fields = CompressedCheckpoint.rowFields(e.getValue());
            for (Map<String, Object> r : rows) {
                if (!"quick".equals(r.get("eval")) || !(r.get("ppl_wikitext2") instanceof Number p)) continue;
                if (!sameConfig(r, fields)) continue;
                int bq = e.getKey().bq();
                if (!bestPpl.containsKey(bq) || p.doubleValue() < bestPpl.get(bq)) {
                    bestPpl.put(bq, p.doubleValue());
                    best.put(bq, e.getKey());
                }
            }
        }
        return List.copyOf(best.values());
    }

    private static boolean sameConfig(Map<String, Object> row, Map<String, Object> fields) {
        for (String k : List.of("method", "bq", "group", "act_order", "calib_seqs", "calib_seqlen"))
            if (!Objects.equals(Sweep.norm(row.get(k)), Sweep.norm(fields.get(k)))) return false;
        return true;
    }

    /** Exact bits per parameter of the block linears (stored bytes × 8 / Σ d_out·d_in, biases included). */
    public static double linearBits(Qwen2Weights w) {
        return Sweep.linearBits(w);
    }

    // ------------------------------------------------------------------ tables and plots (notebooks)

    /** Rows of a results file. */
    public static List<Map<String, Object>> readRows(Path resultsFile) {
        return ResultsFile.read(resultsFile).rows();
    }

    /** A Tablesaw table of results rows: one column per field that any row has, in the vocabulary's order. */
    public static Table table(String name, List<Map<String, Object>> rows) {
        Table t = Table.create(name);
        for (var f : ResultsFile.FIELDS.entrySet()) {
            String k = f.getKey();
            if (rows.stream().noneMatch(r -> r.containsKey(k))) continue;
            Column<?> col = switch (f.getValue()) {
                case STRING -> {
                    StringColumn c = StringColumn.create(k);
                    for (var r : rows) c.append(r.get(k) == null ? "" : r.get(k).toString());
                    yield c;
                }
                case INTEGER -> {
                    IntColumn c = IntColumn.create(k);
                    for (var r : rows) {
                        if (r.get(k) instanceof Number n) c.append(n.intValue());
                        else c.appendMissing();
                    }
                    yield c;
                }
                case NUMBER -> {
                    DoubleColumn c = DoubleColumn.create(k);
                    for (var r : rows) {
                        if (r.get(k) instanceof Number n) c.append(n.doubleValue());
                        else c.appendMissing();
                    }
                    yield c;
                }
                case BOOLEAN -> {
                    BooleanColumn c = BooleanColumn.create(k);
                    for (var r : rows) {
                        if (r.get(k) instanceof Boolean b) c.append(b);
                        else c.appendMissing();
                    }
                    yield c;
                }
            };
            t.addColumns(col);
        }
        return t;
    }

    /**
     * Perplexity (log scale) against bits per parameter, one trace per method, from the rows of
     * one evaluation mode and seqlen (e.g. "quick", 512); each point is labelled with its config.
     */
    public static Figure pplVsBits(List<Map<String, Object>> rows, String eval, int seqlen, String metric) {
        Map<String, List<Map<String, Object>>> byMethod = new TreeMap<>();
        for (var r : rows)
            if (eval.equals(r.get("eval")) && r.get("seqlen") instanceof Number s && s.intValue() == seqlen
                    && r.get(metric) instanceof Number && r.get("bits_per_param") instanceof Number)
                byMethod.computeIfAbsent((String) r.get("method"), k -> new ArrayList<>()).add(r);
        List<Trace> traces = new ArrayList<>();
        for (var e : byMethod.entrySet()) {
            List<Map<String, Object>> rs = e.getValue();
            double[] x = rs.stream().mapToDouble(r -> ((Number) r.get("bits_per_param")).doubleValue()).toArray();
            double[] y = rs.stream().mapToDouble(r -> ((Number) r.get(metric)).doubleValue()).toArray();
            String[] text = rs.stream().map(Phase1::label).toArray(String[]::new);
            traces.add(ScatterTrace.builder(x, y).mode(ScatterTrace.Mode.MARKERS).name(e.getKey()).text(text).build());
        }
        if (traces.isEmpty())
            throw new IllegalArgumentException("no rows with eval=" + eval + ", seqlen=" + seqlen + " and " + metric + " to plot");
        Layout layout = Layout.builder(metric + " (" + eval + ", seqlen " + seqlen + ") vs bits per parameter")
                .xAxis(Axis.builder().title("bits per parameter (block linears)").build())
                .yAxis(Axis.builder().title(metric).type(Axis.Type.LOG).build()).build();
        return new Figure(layout, traces.toArray(Trace[]::new));
    }

    private static String label(Map<String, Object> r) {
        if ("dense".equals(r.get("method"))) return "dense";
        Object g = r.get("group");
        return r.get("method") + " " + r.get("bq") + "-bit " + (g instanceof Number n && n.intValue() <= 0 ? "per-channel" : "g" + g)
                + (Boolean.TRUE.equals(r.get("act_order")) ? " act-order" : "");
    }
}
