package dev.caldera4j.experiment;

import dev.caldera4j.calib.CheckpointCompressor;
import dev.caldera4j.calib.CompressSpec;
import dev.caldera4j.eval.EvalData;
import dev.caldera4j.eval.EvalMode;
import dev.caldera4j.eval.EvalReport;
import dev.caldera4j.eval.EvalSet;
import dev.caldera4j.eval.Evaluator;
import dev.caldera4j.eval.ResultsFile;
import dev.caldera4j.format.CompressedCheckpoint;
import dev.caldera4j.model.Linear;
import dev.caldera4j.model.Models;
import dev.caldera4j.model.Qwen2Model;
import dev.caldera4j.model.Qwen2Weights;
import dev.caldera4j.quant.QuantConfig;
import dev.caldera4j.tokenizer.Tokenizer;
import dev.caldera4j.tokenizer.Tokenizers;
import dev.caldera4j.util.Progress;
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

import java.io.IOException;
import java.io.PrintStream;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.EnumMap;
import java.util.EnumSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
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

        /** "" for the protocol's evaluation, else the note saying how it was scaled down (longest: the mode's longest seqlen). */
        String scaleNote(int longest) {
            if (pplWindows == 0 && zeroShotItems == 0) return "";
            return "scaled-down eval: " + (pplWindows > 0 ? "first " + (long) pplWindows * longest + " tokens" : "protocol windows")
                    + " of each perplexity set, " + (zeroShotItems > 0 ? "first " + zeroShotItems : "protocol")
                    + " LAMBADA items and HellaSwag tasks";
        }
    }

    /**
     * Runs (or resumes) the sweep; returns the rows written to {@code o.results()}.
     *
     * @param log      one line per step (compressing, reusing, evaluating) and the evaluation summaries
     * @param progress progress bars / lines on stderr
     */
    public static List<Map<String, Object>> run(Options o, PrintStream log, boolean progress) {
        Path partial = o.results().resolveSibling(o.results().getFileName() + ".partial");
        Map<String, Map<String, Object>> done = new LinkedHashMap<>();
        Path previous = Files.isRegularFile(partial) ? partial : Files.isRegularFile(o.results()) ? o.results() : null;
        if (previous != null) for (Map<String, Object> r : ResultsFile.read(previous).rows()) done.put(key(r), r);
        List<Map<String, Object>> rows = new ArrayList<>();

        Tokenizer tok = Tokenizers.load(o.model());
        try {
            Evaluator.Inputs inputs = loadInputs(o, tok);
            // dense
            Map<String, Object> denseBase = new LinkedHashMap<>();
            denseBase.put("model", o.modelName());
            denseBase.put("method", "dense");
            denseBase.put("bits_per_param", linearBits(Models.load(o.model()).weights()));
            evalRows(o, log, progress, tok, inputs, o.model(), denseBase, EvalMode.QUICK, Double.NaN, done, rows, partial);
            // compressed
            Map<Config, Path> dirs = new LinkedHashMap<>();
            for (Config c : o.grid()) {
                Path dir = compress(o, c, log, progress);
                dirs.put(c, dir);
                Map<String, Object> base = new LinkedHashMap<>();
                base.put("model", o.modelName());
                base.putAll(CompressedCheckpoint.rowFields(dir));
                evalRows(o, log, progress, tok, inputs, dir, base, EvalMode.QUICK, CheckpointCompressor.compressSeconds(dir), done, rows, partial);
            }
            if (o.full()) {
                evalRows(o, log, progress, tok, inputs, o.model(), denseBase, EvalMode.FULL, Double.NaN, done, rows, partial);
                for (Config c : best(o, rows, dirs)) {
                    Path dir = dirs.get(c);
                    Map<String, Object> base = new LinkedHashMap<>();
                    base.put("model", o.modelName());
                    base.putAll(CompressedCheckpoint.rowFields(dir));
                    evalRows(o, log, progress, tok, inputs, dir, base, EvalMode.FULL, CheckpointCompressor.compressSeconds(dir), done, rows, partial);
                }
            }
        } finally {
            close(tok, log);
        }
        ResultsFile.write(o.results(), ResultsFile.envelope(o.command(), rows, null));
        try {
            Files.deleteIfExists(partial);
        } catch (IOException e) {
            throw new UncheckedIOException("cannot remove " + partial + ": " + e.getMessage(), e);
        }
        return rows;
    }

    /** Closes a tokenizer that holds native memory; a failure is only worth a warning at the end of a run. */
    static void close(Tokenizer tok, PrintStream log) {
        if (tok instanceof AutoCloseable a) {
            try {
                a.close();
            } catch (Exception e) {
                log.println("warning: could not close the tokenizer: " + e);
            }
        }
    }

    /** The checkpoint of one configuration: reused when finished, else compressed (resuming a .partial). */
    static Path compress(Options o, Config c, PrintStream log, boolean progress) {
        Path dir = o.work().resolve(c.dirName(o.modelName(), o.calibSeqs(), o.calibSeqlen(), o.seed()));
        if (CompressedCheckpoint.isCompressed(dir)) {
            log.println("reusing " + dir);
            return dir;
        }
        // RTN is data-free: no calibration, so its rows take no Hessian passes (and have no proxy errors)
        CheckpointCompressor.Calibration cal = c.spec().needsHessian()
                ? new CheckpointCompressor.Calibration(o.corpus(), o.calibSeqs(), o.calibSeqlen(), o.seed()) : null;
        log.println("compressing " + dir.getFileName());
        int layers = Models.load(o.model()).config().numLayers();
        try (Progress p = progress ? Progress.start("compress " + dir.getFileName(), 7 * layers) : Progress.none()) {
            CheckpointCompressor.run(new CheckpointCompressor.Job(o.model(), dir, c.spec(), cal), p);
        }
        return dir;
    }

    /** Evaluates one model in one mode unless its rows are already done; appends the rows and saves the partial file. */
    static void evalRows(Options o, PrintStream log, boolean progress, Tokenizer tok, Evaluator.Inputs all, Path modelDir,
                                 Map<String, Object> base, EvalMode mode, double compressSeconds,
                                 Map<String, Map<String, Object>> done, List<Map<String, Object>> rows, Path partial) {
        List<Integer> seqlens = mode == EvalMode.FULL ? o.fullSeqlens() : mode.seqlens;
        Map<String, Object> probe = new LinkedHashMap<>(base);
        probe.put("eval", mode.label);
        String note = o.scaleNote(seqlens.stream().mapToInt(Integer::intValue).max().orElse(512));
        List<Map<String, Object>> have = new ArrayList<>();
        for (int seqlen : seqlens) {
            Map<String, Object> k = new LinkedHashMap<>(probe);
            k.put("seqlen", seqlen);
            if (!note.isEmpty()) k.put("note", note);
            Map<String, Object> r = done.get(key(k));
            if (r != null) have.add(r);
        }
        if (have.size() == seqlens.size()) {
            rows.addAll(have);
            return;
        }
        log.println("evaluating (" + mode.label + ") " + modelDir.getFileName());
        Qwen2Model m = Models.load(modelDir);
        EvalReport rep = Evaluator.run(m, tok, scaled(all, o, mode, seqlens), mode, seqlens, progress);
        log.print(rep.summary());
        for (Map<String, Object> r : rep.rows(base)) {
            r.remove("tokens_per_s");
            String evalNote = String.format(Locale.ROOT, "eval %.1f s", ((Number) r.remove("seconds")).doubleValue());
            if (Double.isFinite(compressSeconds)) r.put("seconds", compressSeconds);
            String prior = (String) r.remove("note");
            r.put("note", String.join("; ", List.of(note, evalNote, prior == null ? "" : prior).stream().filter(s -> !s.isEmpty()).toList()));
            rows.add(r);
            done.put(key(r), r);
        }
        ResultsFile.write(partial, ResultsFile.envelope(o.command() + "  (partial)", rows, null));
    }

    /**
     * The evaluation inputs. Scaled down, only a prefix of each perplexity text is tokenized
     * (tokenizing WikiText-2 and C4 whole takes ~15 s per run here): enough characters for the
     * tokens kept plus a margin of {@link #PREFIX_MARGIN} tokens, so the cut, where a prefix can
     * tokenize differently from the whole text, lies beyond every token used.
     */
    static Evaluator.Inputs loadInputs(Options o, Tokenizer tok) {
        if (o.pplWindows() == 0) return Evaluator.load(tok, o.evalDir(), EnumSet.allOf(EvalSet.class));
        int longest = Math.max(512, o.fullSeqlens().stream().mapToInt(Integer::intValue).max().orElse(512));
        long needed = (long) o.pplWindows() * longest + PREFIX_MARGIN;
        Map<EvalSet, int[]> tokens = new EnumMap<>(EvalSet.class);
        tokens.put(EvalSet.WIKITEXT2, prefixTokens(tok, EvalData.wikitext2(o.evalDir()), needed));
        tokens.put(EvalSet.C4, prefixTokens(tok, EvalData.c4(o.evalDir()), needed));
        return new Evaluator.Inputs(tokens, EvalData.lambada(o.evalDir()), EvalData.hellaSwag(o.evalDir()), EnumSet.allOf(EvalSet.class));
    }

    static final int PREFIX_MARGIN = 64;

    /** Tokens of the shortest prefix of {@code text} (doubling from 8 characters a token) that yields ≥ needed tokens, or of all of it. */
    static int[] prefixTokens(Tokenizer tok, String text, long needed) {
        for (long chars = 8 * needed; ; chars *= 2) {
            if (chars >= text.length()) return tok.encode(text);
            int[] ids = tok.encode(text.substring(0, (int) chars));
            if (ids.length >= needed) return ids;
        }
    }

    /** The inputs cut to the scaled-down sizes (the first windows and items: the same subset for every row). */
    private static Evaluator.Inputs scaled(Evaluator.Inputs in, Options o, EvalMode mode, List<Integer> seqlens) {
        if (o.pplWindows() == 0 && o.zeroShotItems() == 0) return in;
        Map<EvalSet, int[]> tokens = new EnumMap<>(EvalSet.class);
        int longest = seqlens.stream().mapToInt(Integer::intValue).max().orElse(512);
        for (var e : in.tokens().entrySet()) {
            int keep = o.pplWindows() > 0 ? Math.min(e.getValue().length, o.pplWindows() * longest) : e.getValue().length;
            tokens.put(e.getKey(), Arrays.copyOf(e.getValue(), keep));
        }
        int n = o.zeroShotItems();
        return new Evaluator.Inputs(tokens, n > 0 ? in.lambada().subList(0, Math.min(n, in.lambada().size())) : in.lambada(),
                n > 0 ? in.hellaSwag().subList(0, Math.min(n, in.hellaSwag().size())) : in.hellaSwag(), in.sets());
    }

    /** The best configuration (lowest quick WikiText-2 perplexity) per bit width. */
    static List<Config> best(Options o, List<Map<String, Object>> rows, Map<Config, Path> dirs) {
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
            if (!Objects.equals(norm(row.get(k)), norm(fields.get(k)))) return false;
        return true;
    }

    /** Row identity: every identifying field (stage 2's too), with numbers normalised (a file read back gives Long where we wrote Integer). */
    static String key(Map<String, Object> r) {
        StringBuilder sb = new StringBuilder();
        for (String k : List.of("model", "method", "bq", "group", "act_order", "rank", "bl", "br", "hadamard", "overrides",
                "signal", "budget_bits", "calib_seqs", "calib_seqlen", "eval", "seqlen"))
            sb.append(k).append('=').append(norm(r.get(k))).append(';');
        String note = r.get("note") instanceof String s && s.startsWith("scaled-down eval") ? s.split(";")[0] : "";
        return sb.append("scale=").append(note).toString();
    }

    private static Object norm(Object v) {
        return v instanceof Number n && n.doubleValue() == Math.rint(n.doubleValue()) ? (Object) n.longValue() : v;
    }

    /** Exact bits per parameter of the block linears (stored bytes × 8 / Σ d_out·d_in, biases included). */
    public static double linearBits(Qwen2Weights w) {
        long bytes = 0, params = 0;
        for (Qwen2Weights.Block b : w.layers())
            for (Linear l : b.linears()) {
                bytes += l.storedBytes();
                params += (long) l.dOut() * l.dIn();
            }
        return bytes * 8.0 / params;
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
