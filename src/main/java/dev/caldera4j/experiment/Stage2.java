package dev.caldera4j.experiment;

import dev.caldera4j.calib.CalibrationData;
import dev.caldera4j.calib.CompressSpec;
import dev.caldera4j.calib.Corpus;
import dev.caldera4j.eval.EvalData;
import dev.caldera4j.eval.EvalMode;
import dev.caldera4j.eval.EvalReport;
import dev.caldera4j.eval.EvalSet;
import dev.caldera4j.eval.Evaluator;
import dev.caldera4j.eval.ResultsFile;
import dev.caldera4j.model.Models;
import dev.caldera4j.model.Qwen2Config;
import dev.caldera4j.model.Qwen2Model;
import dev.caldera4j.model.Qwen2Weights;
import dev.caldera4j.plan.Allocator;
import dev.caldera4j.plan.Footprint;
import dev.caldera4j.plan.Overrides;
import dev.caldera4j.quant.CalderaConfig;
import dev.caldera4j.quant.QuantConfig;
import dev.caldera4j.sensitivity.KlSignal;
import dev.caldera4j.sensitivity.ProxySignal;
import dev.caldera4j.sensitivity.SipIt;
import dev.caldera4j.tokenizer.Tokenizer;
import dev.caldera4j.tokenizer.Tokenizers;

import tech.tablesaw.api.IntColumn;
import tech.tablesaw.api.Table;
import tech.tablesaw.plotly.components.Axis;
import tech.tablesaw.plotly.components.Figure;
import tech.tablesaw.plotly.components.Layout;
import tech.tablesaw.plotly.traces.ScatterTrace;
import tech.tablesaw.plotly.traces.Trace;

import java.io.PrintStream;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.EnumSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;

/**
 * Stage 2 (issue 8): uniform CALDERA vs per-matrix overrides chosen by the {@link Allocator} from
 * each sensitivity signal, at the same average bits per parameter.
 *
 * <p>Every matrix of the model is compressed once per candidate setting — CALDERA bq = 2, group
 * 128, BL = BR = 4 with the rank as the knob (rank 0 = LDLQ alone) — on the DENSE model's
 * Hessians ({@link ProxySignal#pool}). Every row's model is assembled from that pool: the uniform
 * row takes one rank everywhere, a guided row takes what the allocator chose within the uniform
 * row's bytes. Assembling (instead of re-running the layer-sequential compressor per row) keeps
 * the comparison about the allocation alone and costs no extra compression; it is stated in
 * every row's note.
 *
 * <p>Signals → predicted loss of matrix m at candidate j (summed over matrices by the allocator):
 * <ul>
 *   <li>proxy: its relative proxy error tr(ΔHΔᵀ)/tr(WHWᵀ);</li>
 *   <li>kl: KL(dense ‖ only-m-compressed at candidate j), measured for every candidate;</li>
 *   <li>sipit: the per-layer damage of the SipIt probe (margin lost at a layer beyond what the
 *       layers before lost, uniform base model against dense) × the proxy error.</li>
 * </ul>
 * The same losses, mapped to Qwen2-72B by relative layer depth, give the 72B map within 22 GiB.
 */
public final class Stage2 {
    private Stage2() {}

    /**
     * @param ranks        candidate ranks (0 = Q only)
     * @param budgetRanks  the uniform ranks whose bytes are the two budgets
     * @param baseRank     the rank of SipIt's uniform model (and of the base spec)
     * @param klWindows    calibration windows (cut to klSeqlen) for the KL signal
     * @param sipWindows   windows for the SipIt probe (held-out part of the calibration sample)
     * @param sipPerWindow positions probed per window (from position sipFirst)
     * @param sipTopK      SipIt shortlist per layer (≥ vocab: exhaustive)
     * @param pplWindows   first N windows of 512 of WikiText-2 and C4 (quick protocol: 64)
     */
    public record Options(Path model, String modelName, Path corpus, int calibSeqs, int calibSeqlen, long seed, int iters,
                          List<Integer> ranks, List<Integer> budgetRanks, int baseRank, int klWindows, int klSeqlen,
                          int sipWindows, int sipFirst, int sipPerWindow, int sipTopK, Path evalDir, int pplWindows,
                          Path results, Path signalsResults, String command) {
        public Options {
            ranks = List.copyOf(ranks);
            budgetRanks = List.copyOf(budgetRanks);
            if (!ranks.contains(baseRank)) throw new IllegalArgumentException("base rank " + baseRank + " is not among the candidates " + ranks);
            for (int r : budgetRanks)
                if (!ranks.contains(r)) throw new IllegalArgumentException("budget rank " + r + " is not among the candidates " + ranks);
            if (modelName == null) modelName = model.toAbsolutePath().normalize().getFileName().toString();
        }
    }

    public static final List<String> SIGNALS = List.of("proxy", "kl", "sipit");

    /** The candidate setting of a rank: CALDERA 2-bit g128 with 4-bit factors, or Q alone. */
    public static Overrides.Setting candidate(int rank) {
        return Overrides.Setting.q(2, 128).withLowRank(rank, 4, 4);
    }

    /** What the signals measured (for results, notebooks and the 72B map). */
    public record Signals(Qwen2Config config, List<Integer> ranks, ProxySignal.Entry[][] pool, double[][] kl,
                          SipIt.Profile sipDense, SipIt.Profile sipUniform, double[] sipDamage, int baseIndex) {

        /** Predicted loss [matrix][candidate] of one signal. */
        public double[][] loss(String signal) {
            int M = pool.length, J = ranks.size();
            double[][] out = new double[M][J];
            for (int m = 0; m < M; m++)
                for (int j = 0; j < J; j++) {
                    double p = pool[m][j].proxyError();
                    out[m][j] = switch (signal) {
                        case "proxy" -> p;
                        case "kl" -> kl[m][j];
                        case "sipit" -> sipDamage[pool[m][j].layer()] * p;
                        default -> throw new IllegalArgumentException("signal '" + signal + "' is not one of " + SIGNALS);
                    };
                }
            return out;
        }
    }

    /** Measures the three signals. */
    public static Signals measure(Options o, Qwen2Weights dense, int[][] calib, int[][] held, PrintStream log) {
        Qwen2Config c = dense.config();
        List<Overrides.Setting> cands = o.ranks().stream().map(Stage2::candidate).toList();
        int total = c.numLayers() * 7 * cands.size();
        int[] done = {0};
        long t0 = System.nanoTime();
        ProxySignal.Entry[][] pool = ProxySignal.pool(dense, calib, baseSpec(o), cands, n -> {
            done[0] += n;
            if (done[0] % 28 == 0) log.printf(Locale.ROOT, "  pool %d/%d (%.0f s)%n", done[0], total, (System.nanoTime() - t0) * 1e-9);
        });
        int base = o.ranks().indexOf(o.baseRank());
        Qwen2Model denseModel = new Qwen2Model(dense);
        int[][] klWin = new int[Math.min(o.klWindows(), calib.length)][];
        for (int w = 0; w < klWin.length; w++) klWin[w] = Arrays.copyOf(calib[w], Math.min(o.klSeqlen(), calib[w].length));
        long t1 = System.nanoTime();
        KlSignal.Reference ref = KlSignal.reference(denseModel, klWin);
        double[][] kl = new double[pool.length][cands.size()];
        for (int j = 0; j < cands.size(); j++) {
            double[] col = KlSignal.perMatrix(ref, pool, j, null);
            for (int m = 0; m < pool.length; m++) kl[m][j] = col[m];
        }
        log.printf(Locale.ROOT, "  KL of %d matrices x %d ranks: %.0f s%n", pool.length, cands.size(), (System.nanoTime() - t1) * 1e-9);
        long t2 = System.nanoTime();
        int[] uniform = new int[pool.length];
        Arrays.fill(uniform, base);
        Qwen2Model uni = new Qwen2Model(ProxySignal.assemble(dense, pool, uniform));
        SipIt.Profile sd = SipIt.probe(denseModel, denseModel, held, o.sipFirst(), o.sipPerWindow(), o.sipTopK());
        SipIt.Profile su = SipIt.probe(denseModel, uni, held, o.sipFirst(), o.sipPerWindow(), o.sipTopK());
        log.printf(Locale.ROOT, "  SipIt probes (%d positions, top-%d): %.0f s%n  recovery dense %s%n  recovery uniform r%d %s%n  margin dense %s%n  margin uniform %s%n",
                sd.positions(), sd.topK(), (System.nanoTime() - t2) * 1e-9, fmt(sd.recovery()), o.baseRank(), fmt(su.recovery()),
                fmt(sd.margin()), fmt(su.margin()));
        double[] damage = SipIt.layerDamage(sd, su, 0.05);
        return new Signals(c, o.ranks(), pool, kl, sd, su, damage, base);
    }

    static String fmt(double[] a) {
        StringBuilder sb = new StringBuilder("[");
        for (int i = 0; i < a.length; i++) sb.append(i == 0 ? "" : ", ").append(String.format(Locale.ROOT, "%.3f", a[i]));
        return sb.append(']').toString();
    }

    static CompressSpec baseSpec(Options o) {
        return baseSpec(o.baseRank(), o.iters());
    }

    /** CALDERA bq = 2, group 128 (act-order), BL = BR = 4 at {@code rank}, {@code iters} outer iterations. */
    public static CompressSpec baseSpec(int rank, int iters) {
        QuantConfig q = QuantConfig.of(2, 128);
        CalderaConfig cc = CalderaConfig.of(rank, 4, 4).withQ(2, 128).withActOrder(q.actOrder())
                .withIters(iters, CalderaConfig.DEFAULT_ALS_ITERS);
        return new CompressSpec("caldera", q, false, cc);
    }

    // ------------------------------------------------------------------ charts (notebooks)

    /** A per-matrix array [layer·7 + kind] split into one per-layer array per matrix kind. */
    public static Map<String, double[]> byKind(double[] perMatrix) {
        int L = perMatrix.length / 7;
        Map<String, double[]> m = new LinkedHashMap<>();
        for (int k = 0; k < 7; k++) {
            double[] a = new double[L];
            for (int l = 0; l < L; l++) a[l] = perMatrix[l * 7 + k];
            m.put(Overrides.KINDS.get(k), a);
        }
        return m;
    }

    /** Lines over the layer index, one per named series. */
    public static Figure layerChart(String title, String yTitle, boolean logY, Map<String, double[]> series) {
        List<Trace> traces = new ArrayList<>();
        for (var e : series.entrySet()) {
            double[] y = e.getValue(), x = new double[y.length];
            for (int i = 0; i < x.length; i++) x[i] = i;
            traces.add(ScatterTrace.builder(x, y).mode(ScatterTrace.Mode.LINE_AND_MARKERS).name(e.getKey()).build());
        }
        Layout layout = Layout.builder(title).xAxis(Axis.builder().title("layer").build())
                .yAxis(Axis.builder().title(yTitle).type(logY ? Axis.Type.LOG : Axis.Type.LINEAR).build()).build();
        return new Figure(layout, traces.toArray(Trace[]::new));
    }

    /** The rank of every matrix under a map (rows: layers; columns: q k v o gate up down) as a table. */
    public static Table rankTable(String title, Overrides map, int layers, Overrides.Setting base) {
        Table t = Table.create(title);
        t.addColumns(IntColumn.create("layer", java.util.stream.IntStream.range(0, layers).toArray()));
        for (int k = 0; k < 7; k++) {
            int[] r = new int[layers];
            for (int l = 0; l < layers; l++) r[l] = map.resolve(l, k, base).rank();
            t.addColumns(IntColumn.create(Overrides.KINDS.get(k), r));
        }
        return t;
    }

    /** Allocator items of the small model: one per matrix, its pool candidates with a signal's losses. */
    public static List<Allocator.Item> items(Signals s, double[][] loss) {
        List<Allocator.Item> items = new ArrayList<>();
        for (int m = 0; m < s.pool().length; m++) {
            List<Allocator.Candidate> cs = new ArrayList<>();
            for (int j = 0; j < s.ranks().size(); j++) {
                ProxySignal.Entry e = s.pool()[m][j];
                cs.add(new Allocator.Candidate(e.setting(), e.bytes(), loss[m][j]));
            }
            ProxySignal.Entry e0 = s.pool()[m][0];
            items.add(new Allocator.Item(e0.key(), (long) e0.layerOut().dOut() * e0.layerOut().dIn(), cs));
        }
        return items;
    }

    /** Runs the experiment; returns the rows written to {@code o.results()}. */
    public static List<Map<String, Object>> run(Options o, PrintStream log) {
        Qwen2Weights dense = Models.load(o.model()).weights();
        Qwen2Config c = dense.config();
        Tokenizer tok = Tokenizers.load(o.model());
        List<Map<String, Object>> rows = new ArrayList<>();
        List<Map<String, Object>> signalRows = new ArrayList<>();
        try {
            int need = o.calibSeqs() + o.sipWindows();
            int[][] all = CalibrationData.sample(Corpus.load(o.corpus()), tok, need, o.calibSeqlen(), o.seed()).tokens();
            int[][] calib = Arrays.copyOf(all, o.calibSeqs());
            int[][] held = Arrays.copyOfRange(all, o.calibSeqs(), need);
            log.printf(Locale.ROOT, "calibration: %d windows x %d tokens (seed %d); SipIt on %d held-out windows%n",
                    o.calibSeqs(), o.calibSeqlen(), o.seed(), held.length);
            Signals s = measure(o, dense, calib, held, log);
            signalRows(o, s, signalRows);
            ResultsFile.write(o.signalsResults(), ResultsFile.envelope(o.command(), signalRows, null));

            Evaluator.Inputs inputs = pplInputs(tok, o.evalDir(), o.pplWindows());
            String scale = String.format(Locale.ROOT, "first %d windows of 512 of WikiText-2 and C4 (perplexity only)", o.pplWindows());
            String how = String.format(Locale.ROOT, "each matrix compressed on dense-model Hessians (%d x %d calibration, %d outer iterations) and assembled",
                    o.calibSeqs(), o.calibSeqlen(), o.iters());
            Map<String, Object> denseRow = new LinkedHashMap<>();
            denseRow.put("model", o.modelName());
            denseRow.put("method", "dense");
            denseRow.put("bits_per_param", Phase1.linearBits(dense));
            rows.addAll(eval(dense, tok, inputs, denseRow, scale, log));
            for (int br : o.budgetRanks()) {
                int bj = o.ranks().indexOf(br);
                int[] uniform = new int[s.pool().length];
                Arrays.fill(uniform, bj);
                List<Allocator.Item> baseItems = items(s, s.loss("proxy"));
                long budget = 0;
                for (Allocator.Item it : baseItems) budget += it.candidates().get(bj).bytes();
                Qwen2Weights uw = ProxySignal.assemble(dense, s.pool(), uniform);
                double budgetBits = Phase1.linearBits(uw);
                rows.addAll(eval(uw, tok, inputs, row(o, br, "uniform", budgetBits, "", uw), scale + "; " + how, log));
                for (String sig : SIGNALS) {
                    List<Allocator.Item> items = items(s, s.loss(sig));
                    Allocator.Allocation a = Allocator.greedy(items, budget);
                    Qwen2Weights gw = ProxySignal.assemble(dense, s.pool(), a.choice());
                    String map = a.overrides(items).compact(candidate(br));
                    log.printf(Locale.ROOT, "budget r%d (%.4f bits), signal %s: %.4f bits, map %s%n", br, budgetBits, sig,
                            Phase1.linearBits(gw), map);
                    rows.addAll(eval(gw, tok, inputs, row(o, br, sig, budgetBits, map, gw), scale + "; " + how, log));
                }
            }
            rows.addAll(plan72b(o, s, log));
        } finally {
            dev.caldera4j.tokenizer.Tokenizers.close(tok);
        }
        ResultsFile.write(o.results(), ResultsFile.envelope(o.command(), rows, null));
        return rows;
    }

    private static Map<String, Object> row(Options o, int rank, String signal, double budgetBits, String map, Qwen2Weights w) {
        Map<String, Object> r = new LinkedHashMap<>();
        r.put("model", o.modelName());
        r.put("method", "caldera");
        r.put("bq", 2);
        r.put("group", 128);
        r.put("act_order", true);
        r.put("bl", 4);
        r.put("br", 4);
        r.put("rank", rank);
        r.put("hadamard", false);
        r.put("calib_seqs", o.calibSeqs());
        r.put("calib_seqlen", o.calibSeqlen());
        r.put("signal", signal);
        r.put("budget_bits", budgetBits);
        r.put("overrides", map);
        r.put("bits_per_param", Phase1.linearBits(w));
        return r;
    }

    /** Perplexity-only inputs: the first {@code windows} windows of 512 tokens of WikiText-2 and C4 (the quick protocol's first windows). */
    public static Evaluator.Inputs pplInputs(Tokenizer tok, Path evalDir, int windows) {
        long needed = (long) windows * 512 + Sweep.PREFIX_MARGIN;
        Map<EvalSet, int[]> tokens = new java.util.EnumMap<>(EvalSet.class);
        tokens.put(EvalSet.WIKITEXT2, Arrays.copyOf(Sweep.prefixTokens(tok, EvalData.wikitext2(evalDir), needed), windows * 512));
        tokens.put(EvalSet.C4, Arrays.copyOf(Sweep.prefixTokens(tok, EvalData.c4(evalDir), needed), windows * 512));
        return new Evaluator.Inputs(tokens, List.of(), List.of(), EnumSet.of(EvalSet.WIKITEXT2, EvalSet.C4));
    }

    private static List<Map<String, Object>> eval(Qwen2Weights w, Tokenizer tok, Evaluator.Inputs in, Map<String, Object> base,
                                                  String note, PrintStream log) {
        EvalReport rep = Evaluator.run(new Qwen2Model(w), tok, in, EvalMode.QUICK, List.of(512), false);
        List<Map<String, Object>> out = new ArrayList<>();
        for (Map<String, Object> r : rep.rows(base)) {
            r.remove("tokens_per_s");
            double sec = ((Number) r.remove("seconds")).doubleValue();
            r.remove("note");
            r.put("note", note + String.format(Locale.ROOT, "; eval %.0f s", sec));
            log.printf(Locale.ROOT, "  %s %s: bits %.4f, ppl wikitext2 %.3f, c4 %.3f%n", base.getOrDefault("signal", "dense"),
                    base.getOrDefault("rank", ""), ((Number) base.get("bits_per_param")).doubleValue(),
                    ((Number) r.get("ppl_wikitext2")).doubleValue(), ((Number) r.get("ppl_c4")).doubleValue());
            out.add(r);
        }
        return out;
    }

    /** Per-matrix and per-layer signal values as results rows (results/stage2-signals.json). */
    static void signalRows(Options o, Signals s, List<Map<String, Object>> rows) {
        for (int m = 0; m < s.pool().length; m++)
            for (int j = 0; j < s.ranks().size(); j++) {
                ProxySignal.Entry e = s.pool()[m][j];
                Map<String, Object> r = new LinkedHashMap<>();
                r.put("model", o.modelName());
                r.put("signal", "proxy");
                r.put("layer_index", e.layer());
                r.put("matrix", Overrides.KINDS.get(e.kind()));
                r.put("rank", s.ranks().get(j));
                r.put("sensitivity", e.proxyError());
                rows.add(r);
            }
        for (int m = 0; m < s.pool().length; m++)
            for (int j = 0; j < s.ranks().size(); j++) {
                ProxySignal.Entry e = s.pool()[m][j];
                Map<String, Object> r = new LinkedHashMap<>();
                r.put("model", o.modelName());
                r.put("signal", "kl");
                r.put("layer_index", e.layer());
                r.put("matrix", Overrides.KINDS.get(e.kind()));
                r.put("rank", s.ranks().get(j));
                r.put("sensitivity", s.kl()[m][j]);
                r.put("note", "KL(dense || only this matrix compressed), nats/token, " + o.klWindows() + " windows x " + o.klSeqlen() + " tokens");
                rows.add(r);
            }
        for (int l = 0; l < s.config().numLayers(); l++) {
            for (String which : List.of("dense", "uniform")) {
                SipIt.Profile p = which.equals("dense") ? s.sipDense() : s.sipUniform();
                Map<String, Object> r = new LinkedHashMap<>();
                r.put("model", o.modelName());
                r.put("method", which.equals("dense") ? "dense" : "caldera");
                if (!which.equals("dense")) r.put("rank", o.baseRank());
                r.put("signal", "sipit");
                r.put("layer_index", l);
                r.put("recovery", p.recovery()[l]);
                r.put("margin", p.margin()[l]);
                r.put("positions", p.positions());
                if (!which.equals("dense")) r.put("sensitivity", s.sipDamage()[l]);
                r.put("note", String.format(Locale.ROOT, "shortlist top-%d by embedding cosine (recall %.3f), teacher-forced prefix",
                        p.topK(), p.shortlistRecall()[l]));
                rows.add(r);
            }
        }
    }

    /**
     * The allocator on Qwen2-72B's shapes within DESIGN's 22 GiB: candidates rank ∈ 8 × the small
     * model's ranks (equal relative overhead: hidden 8192 vs 512 is 16×, rank 8× keeps it near;
     * stated), losses of the small model's matrix of the same kind at the same relative depth.
     */
    static List<Map<String, Object>> plan72b(Options o, Signals s, PrintStream log) {
        Qwen2Config big = Qwen2Config.qwen2_72b();
        int Ls = s.config().numLayers(), Lb = big.numLayers();
        Footprint.Runtime rt = Footprint.Runtime.design();
        List<Integer> bigRanks = s.ranks().stream().map(r -> 8 * r).toList();
        int maxRank = bigRanks.stream().mapToInt(Integer::intValue).max().orElse(0);
        // lm_head at 4 bits g128: with an fp16 head not even 2-bit Q alone fits (results/plan-qwen2-72b.json)
        Footprint.Settings base = Footprint.Settings.caldera(2, 128, 0, 4).withHead(4, 128);
        // what is not a linear, sized for the largest rank (workspace), against 22 GiB
        Footprint.Plan p0 = Footprint.plan(big, base.withRank(maxRank), rt);
        long other = p0.deviceBytes() - p0.parts().stream().filter(x -> x.name().startsWith("linears")).mapToLong(Footprint.Part::bytes).sum();
        long budget = 22L * (1L << 30) - other;
        List<Map<String, Object>> rows = new ArrayList<>();
        for (String sig : SIGNALS) {
            double[][] loss = s.loss(sig);
            List<Allocator.Item> items = new ArrayList<>();
            for (int l = 0; l < Lb; l++)
                for (int k = 0; k < 7; k++) {
                    int ls = Math.min(Ls - 1, (int) ((l + 0.5) * Ls / Lb));
                    int[] sh = Footprint.shape(big, k);
                    List<Allocator.Candidate> cs = new ArrayList<>();
                    for (int j = 0; j < bigRanks.size(); j++) {
                        Overrides.Setting st = candidate(bigRanks.get(j));
                        cs.add(new Allocator.Candidate(st, Footprint.linearBytes(sh[0], sh[1], base.with(st)), loss[ls * 7 + k][j]));
                    }
                    items.add(new Allocator.Item(Overrides.key(l, k), (long) sh[0] * sh[1], cs));
                }
            Allocator.Allocation a;
            try {
                a = Allocator.greedy(items, budget);
            } catch (IllegalArgumentException e) {
                log.println("Qwen2-72B, signal " + sig + ": no allocation fits 22 GiB: " + e.getMessage());
                continue;
            }
            Overrides map = a.overrides(items);
            Footprint.Plan p = Footprint.plan(big, base, rt, map);
            log.printf(Locale.ROOT, "Qwen2-72B, signal %s: %.4f bits/param in linears, device %.3f GiB (fits 22 GiB: %s)%n  ranks by layer (q k v o gate up down):%n%s",
                    sig, p.linearBitsPerParam(), p.deviceGiB(), p.fits(22), rankTable(map, Lb));
            Map<String, Object> r = new LinkedHashMap<>();
            // the map is written relative to its most common setting (the row's rank)
            Overrides.Setting modal = map.map().values().stream()
                    .collect(java.util.stream.Collectors.groupingBy(x -> x, LinkedHashMap::new, java.util.stream.Collectors.counting()))
                    .entrySet().stream().max(Map.Entry.comparingByValue()).orElseThrow().getKey();
            r.put("model", "qwen2-72b (shapes)");
            r.put("method", "caldera");
            r.put("bq", 2);
            r.put("group", 128);
            r.put("bl", 4);
            r.put("br", 4);
            r.put("rank", modal.rank());
            r.put("signal", sig);
            r.put("budget_bits", budget * 8.0 / Footprint.linearParams(big));
            r.put("bits_per_param", p.linearBitsPerParam());
            r.put("planner_bytes", p.deviceBytes());
            r.put("overrides", map.compact(modal));
            r.put("note", "plan only (no 72B weights): 22 GiB device budget (lm_head 4-bit g128, embedding in host memory, 4096-token KV cache), candidate ranks " + bigRanks
                    + ", losses from " + o.modelName() + " by relative layer depth and matrix kind");
            rows.add(r);
        }
        return rows;
    }

    /** One line per layer: the rank of q k v o gate up down. */
    static String rankTable(Overrides map, int layers) {
        StringBuilder sb = new StringBuilder();
        for (int l = 0; l < layers; l++) {
            sb.append(String.format(Locale.ROOT, "  %2d:", l));
            for (int k = 0; k < 7; k++) sb.append(String.format(Locale.ROOT, " %4d", map.get(l, k).rank()));
            sb.append('\n');
        }
        return sb.toString();
    }
}
