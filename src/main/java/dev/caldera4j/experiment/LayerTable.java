package dev.caldera4j.experiment;

import dev.caldera4j.calib.CalibrationData;
import dev.caldera4j.calib.Corpus;
import dev.caldera4j.calib.SequentialCompressor;
import dev.caldera4j.eval.ResultsFile;
import dev.caldera4j.model.Linear;
import dev.caldera4j.model.Models;
import dev.caldera4j.model.Qwen2Config;
import dev.caldera4j.model.Qwen2Model;
import dev.caldera4j.model.Qwen2Weights;
import dev.caldera4j.quant.CalderaConfig;
import dev.caldera4j.quant.CalderaVsGptq;
import dev.caldera4j.quant.ProxyError;
import dev.caldera4j.quant.QuantConfig;
import dev.caldera4j.quant.QuantizedMatrix;
import dev.caldera4j.quant.Rtn;
import dev.caldera4j.tokenizer.Tokenizer;
import dev.caldera4j.tokenizer.Tokenizers;

import java.io.PrintStream;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;

/**
 * CALDERA against GPTQ on every linear matrix of a real model (issue 5's check "on the linear
 * layers of standin-small, CALDERA at BQ = 2, group 128, rank r, BL = BR = 4 has a lower proxy
 * error than GPTQ at 2 bits with a group that spends at least as many bits, matrix by matrix").
 *
 * <p>The DENSE model runs block by block on calibration windows; each block's four input sites give
 * the Hessians H = XᵀX/n of its seven linears, and every matrix goes through
 * {@link CalderaVsGptq#compare} (CALDERA; GPTQ at bq bits and groups 128/64/32/16) and RTN at
 * (bq, group 128), all with the same W and H. Hessians come from the dense model, not from a
 * sequentially compressed one, so every method sees exactly the same inputs: this is a per-matrix
 * comparison of the methods, not of two compressed models.
 *
 * <p>Rows (one per matrix per method): {@code layer} (tensor prefix), {@code d_out}, {@code d_in},
 * method, bq, group, [rank, bl, br, outer_iters, best_iteration], {@code bits_per_param} (the
 * matrix's exact stored bits, no bias), {@code proxy_error} tr(ΔHΔᵀ)/tr(WHWᵀ), {@code seconds} (this
 * method on this matrix); GPTQ's matched row (fewest bits ≥ CALDERA's) carries {@code matched}
 * true. CALDERA rows carry {@code iter_errors}: the best proxy error reachable when the run stops
 * after 1, 2, … outer iterations (the tracked errors; the measurement behind the sweep's default).
 */
public final class LayerTable {
    private LayerTable() {}

    /**
     * @param model     dense HF model directory
     * @param modelName "model" in the rows (default: the directory name)
     * @param corpus    calibration corpus ({@link Corpus#load})
     * @param cfg       the CALDERA configuration (its bq, group, act-order and damping also set GPTQ's and RTN's)
     * @param results   the results file
     * @param command   the command line recorded in it
     */
    public record Options(Path model, String modelName, Path corpus, int calibSeqs, int calibSeqlen, long seed,
                          CalderaConfig cfg, Path results, String command) {
        public Options {
            if (modelName == null) modelName = model.toAbsolutePath().normalize().getFileName().toString();
        }
    }

    /** Runs the comparison on every matrix, writes the results file, returns its rows. */
    public static List<Map<String, Object>> run(Options o, PrintStream log) {
        Qwen2Model dense = Models.load(o.model());
        Qwen2Weights w = dense.weights();
        Qwen2Config c = dense.config();
        CalibrationData cd;
        Tokenizer tok = Tokenizers.load(o.model());
        try {
            cd = CalibrationData.sample(Corpus.load(o.corpus()), tok, o.calibSeqs(), o.calibSeqlen(), o.seed());
        } finally {
            if (tok instanceof AutoCloseable a) {
                try {
                    a.close();
                } catch (Exception e) {
                    log.println("warning: could not close the tokenizer: " + e);
                }
            }
        }
        Qwen2Model runner = Qwen2Model.blockRunner(c);
        float[][] X = SequentialCompressor.embed(c, w.embed(), cd.tokens());
        boolean[] all = new boolean[SequentialCompressor.SITES.size()];
        Arrays.fill(all, true);
        List<Map<String, Object>> rows = new ArrayList<>();
        for (int l = 0; l < c.numLayers(); l++) {
            Qwen2Weights.Block b = w.layers()[l];
            double[][] H = SequentialCompressor.hessians(runner, b, l, X, cd.seqlen(), all);
            Linear[] lin = b.linears();
            for (int i = 0; i < lin.length; i++) {
                String name = SequentialCompressor.linearName(l, i);
                rows.addAll(compareOne(o, name, lin[i], H[siteOf(i)]));
                log.println(line(rows.subList(rows.size() - rowsPerMatrix(lin[i].dIn()), rows.size())));
            }
            if (l + 1 < c.numLayers()) SequentialCompressor.forward(runner, b, l, X, cd.seqlen());
        }
        ResultsFile.write(o.results(), ResultsFile.envelope(o.command(), rows, null));
        return rows;
    }

    /** The input site of linear i of a block (q, k, v → qkv; o; gate, up → gate_up; down). */
    private static int siteOf(int linear) {
        return switch (linear) {
            case 0, 1, 2 -> 0;
            case 3 -> 1;
            case 4, 5 -> 2;
            case 6 -> 3;
            default -> throw new IllegalArgumentException("linear index " + linear + " (a block has 7)");
        };
    }

    private static int rowsPerMatrix(int dIn) {
        int n = 2; // caldera + rtn
        for (int g : new int[] {128, 64, 32, 16}) if (dIn % g == 0) n++;
        return n;
    }

    /** The rows of one matrix: CALDERA, GPTQ per group, RTN. */
    static List<Map<String, Object>> compareOne(Options o, String name, Linear lin, double[] H) {
        CalderaConfig cfg = o.cfg();
        float[] W = lin.denseWeight();
        int dOut = lin.dOut(), dIn = lin.dIn();
        long t0 = System.nanoTime();
        CalderaVsGptq.Comparison cmp = CalderaVsGptq.compare(W, dOut, dIn, H, cfg);
        double seconds = (System.nanoTime() - t0) * 1e-9;
        double calderaSeconds = cmp.calderaResult().seconds().values().stream().mapToDouble(Double::doubleValue).sum();
        List<Map<String, Object>> rows = new ArrayList<>();

        Map<String, Object> cr = base(o, name, dOut, dIn, "caldera", cfg.group());
        cr.put("rank", cfg.rank());
        cr.put("bl", cfg.bl());
        cr.put("br", cfg.br());
        cr.put("outer_iters", cfg.outerIters());
        cr.put("best_iteration", cmp.calderaResult().bestIteration());
        cr.put("bits_per_param", cmp.caldera().bitsPerParam());
        cr.put("proxy_error", cmp.caldera().proxyError());
        cr.put("seconds", calderaSeconds);
        cr.put("iter_errors", iterErrors(cmp.calderaResult().errorPerIteration(), cmp.calderaResult().errorAfterLowRank()));
        if (cmp.matched() != null) cr.put("caldera_wins", cmp.calderaWins());
        rows.add(cr);
        // GPTQ's time: the comparison's wall time less CALDERA's own steps, shared equally by the groups
        double gptqSeconds = Math.max(0, seconds - calderaSeconds) / Math.max(1, cmp.gptq().size());
        for (CalderaVsGptq.Row g : cmp.gptq()) {
            Map<String, Object> gr = base(o, name, dOut, dIn, "gptq", g.group());
            gr.put("bits_per_param", g.bitsPerParam());
            gr.put("proxy_error", g.proxyError());
            gr.put("seconds", gptqSeconds);
            gr.put("matched", g.equals(cmp.matched()));
            rows.add(gr);
        }
        long t1 = System.nanoTime();
        QuantizedMatrix q = Rtn.quantize(W, dOut, dIn, QuantConfig.of(cfg.bq(), cfg.group()));
        double rtnError = ProxyError.relative(W, q.dequantize(), dOut, dIn, H);
        Map<String, Object> rr = base(o, name, dOut, dIn, "rtn", cfg.group());
        rr.put("bits_per_param", q.bitsPerParam());
        rr.put("proxy_error", rtnError);
        rr.put("seconds", (System.nanoTime() - t1) * 1e-9);
        rows.add(rr);
        return rows;
    }

    private static Map<String, Object> base(Options o, String name, int dOut, int dIn, String method, int group) {
        Map<String, Object> r = new LinkedHashMap<>();
        r.put("model", o.modelName());
        r.put("layer", name);
        r.put("d_out", dOut);
        r.put("d_in", dIn);
        r.put("method", method);
        r.put("bq", o.cfg().bq());
        r.put("group", group);
        r.put("act_order", !method.equals("rtn") && o.cfg().actOrder());
        r.put("calib_seqs", o.calibSeqs());
        r.put("calib_seqlen", o.calibSeqlen());
        return r;
    }

    /**
     * The best tracked proxy error of a run stopped after k = 1 … n outer iterations, comma-separated:
     * candidates are the states after the Q steps 0 … k−1 and after the L·R steps 1 … k−1 (the L·R
     * step of iteration 0 has Q = 0 and is not a complete decomposition; see {@link dev.caldera4j.quant.Caldera}).
     */
    static String iterErrors(double[] afterQ, double[] afterLowRank) {
        StringBuilder sb = new StringBuilder();
        double best = Double.POSITIVE_INFINITY;
        for (int k = 0; k < afterQ.length; k++) {
            if (k > 0) best = Math.min(best, afterLowRank[k]);
            best = Math.min(best, afterQ[k]);
            sb.append(k > 0 ? "," : "").append(String.format(Locale.ROOT, "%.6g", best));
        }
        return sb.toString();
    }

    /** One matrix's summary line: name, CALDERA's and the matched GPTQ's bits and errors, RTN's error. */
    private static String line(List<Map<String, Object>> rows) {
        Map<String, Object> c = rows.getFirst();
        Map<String, Object> m = rows.stream().filter(r -> Boolean.TRUE.equals(r.get("matched"))).findFirst().orElse(null);
        Map<String, Object> rtn = rows.getLast();
        return String.format(Locale.ROOT, "%-34s %5d×%-5d caldera %.3f b %.5f (it %s) | gptq %s | rtn %.5f | %s",
                c.get("layer"), c.get("d_out"), c.get("d_in"), num(c, "bits_per_param"), num(c, "proxy_error"), c.get("best_iteration"),
                m == null ? "none spends as many bits" : String.format(Locale.ROOT, "g%s %.3f b %.5f", m.get("group"),
                        num(m, "bits_per_param"), num(m, "proxy_error")),
                num(rtn, "proxy_error"), m == null ? "no match" : Boolean.TRUE.equals(c.get("caldera_wins")) ? "CALDERA wins" : "GPTQ wins");
    }

    private static double num(Map<String, Object> r, String k) {
        return ((Number) r.get(k)).doubleValue();
    }

    /**
     * The summary table of a results file's rows: per matrix, CALDERA's and the matched GPTQ's bits
     * and proxy errors, then the count of wins, the median error ratio, and at which iteration the
     * kept iterates came, with the error reachable after k iterations relative to the full run.
     */
    public static String summary(List<Map<String, Object>> rows) {
        StringBuilder sb = new StringBuilder();
        sb.append(String.format(Locale.ROOT, "%-34s %11s %9s %9s %7s %9s %9s %9s%n", "matrix", "d_out×d_in", "CALDERA b",
                "error", "GPTQ g", "b", "error", "ratio"));
        int wins = 0, matched = 0, total = 0;
        List<Double> ratios = new ArrayList<>();
        Map<Object, Integer> bestIter = new java.util.TreeMap<>();
        List<double[]> iterCurves = new ArrayList<>();
        for (Map<String, Object> c : rows) {
            if (!"caldera".equals(c.get("method"))) continue;
            total++;
            Object layer = c.get("layer");
            Map<String, Object> m = rows.stream().filter(r -> layer.equals(r.get("layer")) && Boolean.TRUE.equals(r.get("matched")))
                    .findFirst().orElse(null);
            bestIter.merge(((Number) c.get("best_iteration")).intValue(), 1, Integer::sum);
            if (c.get("iter_errors") instanceof String s)
                iterCurves.add(Arrays.stream(s.split(",")).mapToDouble(Double::parseDouble).toArray());
            String shape = c.get("d_out") + "×" + c.get("d_in");
            if (m == null) {
                sb.append(String.format(Locale.ROOT, "%-34s %11s %9.3f %9.5f %7s%n", layer, shape, num(c, "bits_per_param"),
                        num(c, "proxy_error"), "none"));
                continue;
            }
            matched++;
            double ratio = num(c, "proxy_error") / num(m, "proxy_error");
            ratios.add(ratio);
            if (Boolean.TRUE.equals(c.get("caldera_wins"))) wins++;
            sb.append(String.format(Locale.ROOT, "%-34s %11s %9.3f %9.5f %7s %9.3f %9.5f %9.3f%n", layer, shape,
                    num(c, "bits_per_param"), num(c, "proxy_error"), "g" + m.get("group"), num(m, "bits_per_param"),
                    num(m, "proxy_error"), ratio));
        }
        sb.append(String.format(Locale.ROOT, "CALDERA wins %d of %d matrices against the matched GPTQ (%d have a GPTQ group spending as many bits)%n",
                wins, total, matched));
        if (!ratios.isEmpty()) {
            double[] r = ratios.stream().mapToDouble(Double::doubleValue).sorted().toArray();
            sb.append(String.format(Locale.ROOT, "error ratio CALDERA / matched GPTQ: median %.3f, min %.3f, max %.3f%n",
                    r[r.length / 2], r[0], r[r.length - 1]));
        }
        sb.append("kept iterate at outer iteration (0-based): ").append(bestIter).append('\n');
        if (!iterCurves.isEmpty()) {
            int n = iterCurves.getFirst().length;
            sb.append("stopping after k iterations: mean (best error after k) / (best after ").append(n).append(") − 1:");
            for (int k = 0; k < n; k++) {
                double s = 0;
                for (double[] cur : iterCurves) s += cur[k] / cur[n - 1] - 1;
                sb.append(String.format(Locale.ROOT, " k=%d %.2f%%", k + 1, 100 * s / iterCurves.size()));
            }
            sb.append('\n');
        }
        return sb.toString();
    }
}
