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
import dev.caldera4j.tokenizer.Tokenizer;
import dev.caldera4j.tokenizer.Tokenizers;
import dev.caldera4j.util.Progress;

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

/**
 * What the resumable sweeps ({@link Phase1}, {@link Stage1}) share: compressing a configuration
 * into a checkpoint (finished ones reused, a {@code .partial} one resumed by
 * {@link CheckpointCompressor}), evaluating a model unless its rows are already in
 * {@code <results>.partial} (or in the results file), saving the partial file after each
 * evaluation, and writing the results file at the end.
 *
 * <p>Rows are matched on (model, method, bq, group, act_order, rank, bl, br, hadamard, outer_iters,
 * calibration, eval mode, seqlen, eval scale), so changing a setting never reuses a row made with
 * another. {@code seconds} in a compressed row is the compression wall time on this machine (from
 * the checkpoint's run log); evaluation time goes into {@code note}.
 */
final class Sweep implements AutoCloseable {

    /**
     * Evaluation settings and the results file.
     *
     * @param model         dense HF model directory (its tokenizer is used for every row)
     * @param modelName     "model" in the rows
     * @param evalDir       evaluation data (see {@link EvalData#defaultDir()})
     * @param pplWindows    keep the first pplWindows × (longest seqlen) tokens of each perplexity set (quick: that many
     *                      windows of 512); 0 = the protocol's (quick: 64 windows, full: all)
     * @param zeroShotItems LAMBADA items and HellaSwag tasks; 0 = the protocol's (quick: 1,000, full: all)
     * @param fullSeqlens   seqlens of the full evaluation (DESIGN: 2048 and 512)
     * @param results       the results file
     * @param command       the command line recorded in it
     */
    record Eval(Path model, String modelName, Path evalDir, int pplWindows, int zeroShotItems, List<Integer> fullSeqlens,
                Path results, String command) {
        Eval {
            fullSeqlens = List.copyOf(fullSeqlens);
        }

        /** "" for the protocol's evaluation, else the note saying how it was scaled down (longest: the mode's longest seqlen). */
        String scaleNote(int longest) {
            if (pplWindows == 0 && zeroShotItems == 0) return "";
            return "scaled-down eval: " + (pplWindows > 0 ? "first " + (long) pplWindows * longest + " tokens" : "protocol windows")
                    + " of each perplexity set, " + (zeroShotItems > 0 ? "first " + zeroShotItems : "protocol")
                    + " LAMBADA items and HellaSwag tasks";
        }
    }

    final Eval e;
    final List<Map<String, Object>> rows = new ArrayList<>();
    private final Map<String, Map<String, Object>> done = new LinkedHashMap<>();
    /** Rows of the previous run: kept in the output even when this run's grid (e.g. --only) no longer asks for them. */
    private final List<Map<String, Object>> earlier = new ArrayList<>();
    private final Path partial;
    private final Tokenizer tok;
    private Evaluator.Inputs inputs; // loaded on the first evaluation that is not already done

    private Sweep(Eval e) {
        this.e = e;
        this.partial = e.results().resolveSibling(e.results().getFileName() + ".partial");
        Path previous = Files.isRegularFile(partial) ? partial : Files.isRegularFile(e.results()) ? e.results() : null;
        if (previous != null) for (Map<String, Object> r : ResultsFile.read(previous).rows()) {
            done.put(key(r), r);
            earlier.add(r);
        }
        this.tok = Tokenizers.load(e.model());
    }

    /** Starts (or resumes) a sweep: reads the rows of {@code <results>.partial}, else of the results file. */
    static Sweep open(Eval e) {
        return new Sweep(e);
    }

    /** The dense model's row base: model, method dense, bits per parameter of its block linears. */
    Map<String, Object> denseBase() {
        Map<String, Object> b = new LinkedHashMap<>();
        b.put("model", e.modelName());
        b.put("method", "dense");
        b.put("bits_per_param", linearBits(Models.load(e.model()).weights()));
        return b;
    }

    /** A compressed checkpoint's row base: model and the checkpoint's own fields (method, grid, calibration, bits). */
    Map<String, Object> checkpointBase(Path dir) {
        Map<String, Object> b = new LinkedHashMap<>();
        b.put("model", e.modelName());
        b.putAll(CompressedCheckpoint.rowFields(dir));
        return b;
    }

    /** True when the rows of (base, mode) are done already. */
    boolean isDone(Map<String, Object> base, EvalMode mode) {
        return doneRows(base, mode).size() == seqlens(mode).size();
    }

    private List<Integer> seqlens(EvalMode mode) {
        return mode == EvalMode.FULL ? e.fullSeqlens() : mode.seqlens;
    }

    private List<Map<String, Object>> doneRows(Map<String, Object> base, EvalMode mode) {
        List<Integer> seqlens = seqlens(mode);
        String note = e.scaleNote(seqlens.stream().mapToInt(Integer::intValue).max().orElse(512));
        List<Map<String, Object>> have = new ArrayList<>();
        for (int seqlen : seqlens) {
            Map<String, Object> k = new LinkedHashMap<>(base);
            k.put("eval", mode.label);
            k.put("seqlen", seqlen);
            k.put("note", note);
            Map<String, Object> r = done.get(key(k));
            if (r != null) have.add(r);
        }
        return have;
    }

    /**
     * Evaluates one model in one mode unless its rows are already done; appends the rows (done or
     * new) and saves the partial file. A {@code note} in base is kept after the evaluation's own.
     */
    List<Map<String, Object>> evalRows(Path modelDir, Map<String, Object> base, EvalMode mode, double compressSeconds,
                                       PrintStream log, boolean progress) {
        List<Map<String, Object>> have = doneRows(base, mode);
        List<Integer> seqlens = seqlens(mode);
        if (have.size() == seqlens.size()) {
            rows.addAll(have);
            return have;
        }
        if (inputs == null) inputs = loadInputs(e, tok);
        String note = e.scaleNote(seqlens.stream().mapToInt(Integer::intValue).max().orElse(512));
        log.println("evaluating (" + mode.label + ") " + modelDir.getFileName());
        Qwen2Model m = Models.load(modelDir);
        EvalReport rep = Evaluator.run(m, tok, scaled(inputs, e, seqlens), mode, seqlens, progress);
        log.print(rep.summary());
        List<Map<String, Object>> added = new ArrayList<>();
        for (Map<String, Object> r : rep.rows(base)) {
            r.remove("tokens_per_s");
            String evalNote = String.format(Locale.ROOT, "eval %.1f s", ((Number) r.remove("seconds")).doubleValue());
            if (Double.isFinite(compressSeconds)) r.put("seconds", compressSeconds);
            String prior = (String) r.remove("note");
            r.put("note", String.join("; ", List.of(note, evalNote, prior == null ? "" : prior).stream().filter(s -> !s.isEmpty()).toList()));
            rows.add(r);
            added.add(r);
            done.put(key(r), r);
        }
        savePartial();
        return added;
    }

    /** Writes the rows so far to {@code <results>.partial}. */
    void savePartial() {
        ResultsFile.write(partial, ResultsFile.envelope(e.command() + "  (partial)", allRows(), null));
    }

    /** This run's rows, then the previous run's rows this run did not produce again (a narrower grid never drops results). */
    List<Map<String, Object>> allRows() {
        java.util.Set<String> mine = new java.util.HashSet<>();
        for (Map<String, Object> r : rows) mine.add(key(r));
        List<Map<String, Object>> all = new ArrayList<>(rows);
        for (Map<String, Object> r : earlier) if (!mine.contains(key(r))) all.add(r);
        return all;
    }

    /** Writes the results file and removes the partial one; returns the rows. */
    List<Map<String, Object>> finish() {
        ResultsFile.write(e.results(), ResultsFile.envelope(e.command(), allRows(), null));
        try {
            Files.deleteIfExists(partial);
        } catch (IOException ex) {
            throw new UncheckedIOException("cannot remove " + partial + ": " + ex.getMessage(), ex);
        }
        return rows;
    }

    @Override
    public void close() {
        Tokenizers.close(tok);
    }

    /**
     * The checkpoint {@code dir} of one configuration: reused when finished, else compressed from
     * {@code model} (resuming a .partial). cal null: data-free (RTN).
     */
    static Path compress(Path model, Path dir, CompressSpec spec, CheckpointCompressor.Calibration cal, PrintStream log, boolean progress) {
        if (CompressedCheckpoint.isCompressed(dir)) {
            log.println("reusing " + dir);
            return dir;
        }
        log.println("compressing " + dir.getFileName());
        int layers = Models.load(model).config().numLayers();
        try (Progress p = progress ? Progress.start("compress " + dir.getFileName(), 7 * layers) : Progress.none()) {
            CheckpointCompressor.run(new CheckpointCompressor.Job(model, dir, spec, cal), p);
        }
        return dir;
    }

    /**
     * The evaluation inputs. Scaled down, only a prefix of each perplexity text is tokenized
     * (tokenizing WikiText-2 and C4 whole takes ~15 s per run here): enough characters for the
     * tokens kept plus a margin of {@link #PREFIX_MARGIN} tokens, so the cut, where a prefix can
     * tokenize differently from the whole text, lies beyond every token used.
     */
    static Evaluator.Inputs loadInputs(Eval o, Tokenizer tok) {
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
    private static Evaluator.Inputs scaled(Evaluator.Inputs in, Eval o, List<Integer> seqlens) {
        if (o.pplWindows() == 0 && o.zeroShotItems() == 0) return in;
        Map<EvalSet, int[]> tokens = new EnumMap<>(EvalSet.class);
        int longest = seqlens.stream().mapToInt(Integer::intValue).max().orElse(512);
        for (var en : in.tokens().entrySet()) {
            int keep = o.pplWindows() > 0 ? Math.min(en.getValue().length, o.pplWindows() * longest) : en.getValue().length;
            tokens.put(en.getKey(), Arrays.copyOf(en.getValue(), keep));
        }
        int n = o.zeroShotItems();
        return new Evaluator.Inputs(tokens, n > 0 ? in.lambada().subList(0, Math.min(n, in.lambada().size())) : in.lambada(),
                n > 0 ? in.hellaSwag().subList(0, Math.min(n, in.hellaSwag().size())) : in.hellaSwag(), in.sets());
    }

    /** Fields that identify a configuration (rows with equal values of all of them, and equal eval, are the same row). */
    static final List<String> CONFIG_FIELDS = List.of("model", "method", "bq", "group", "act_order", "rank", "bl", "br", "hadamard",
            "outer_iters", "calib_seqs", "calib_seqlen", "overrides", "signal", "budget_bits");

    /** Row identity: every identifying field, with numbers normalised (a file read back gives Long where we wrote Integer). */
    static String key(Map<String, Object> r) {
        StringBuilder sb = new StringBuilder();
        for (String k : CONFIG_FIELDS) sb.append(k).append('=').append(norm(r.get(k))).append(';');
        for (String k : List.of("eval", "seqlen")) sb.append(k).append('=').append(norm(r.get(k))).append(';');
        String note = r.get("note") instanceof String s && s.startsWith("scaled-down eval") ? s.split(";")[0] : "";
        return sb.append("scale=").append(note).toString();
    }

    static Object norm(Object v) {
        return v instanceof Number n && n.doubleValue() == Math.rint(n.doubleValue()) ? (Object) n.longValue() : v;
    }

    /** Exact bits per parameter of the block linears (stored bytes × 8 / Σ d_out·d_in, biases included). */
    static double linearBits(Qwen2Weights w) {
        long bytes = 0, params = 0;
        for (Qwen2Weights.Block b : w.layers())
            for (Linear l : b.linears()) {
                bytes += l.storedBytes();
                params += (long) l.dOut() * l.dIn();
            }
        return bytes * 8.0 / params;
    }
}
