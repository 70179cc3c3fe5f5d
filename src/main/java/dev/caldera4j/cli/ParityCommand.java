package dev.caldera4j.cli;

import dev.caldera4j.eval.EvalMode;
import dev.caldera4j.eval.EvalReport;
import dev.caldera4j.eval.EvalSet;
import dev.caldera4j.eval.Evaluator;
import dev.caldera4j.eval.ResultsFile;
import dev.caldera4j.model.Models;
import dev.caldera4j.model.Qwen2Model;
import dev.caldera4j.tokenizer.Tokenizer;
import dev.caldera4j.tokenizer.Tokenizers;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.EnumSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.concurrent.Callable;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * Reproduces a model card's reference numbers (transformers, fp32) with the Java forward pass,
 * tokenizer and harness: perplexity on WikiText-2 and C4 at seqlen 512 and 2048 (within 0.5 %) and
 * LAMBADA accuracy (within 0.5 points). The references are parsed from MODEL_CARD.md, not typed in.
 */
@Command(name = "parity", mixinStandardHelpOptions = true,
        description = "Check the Java harness against the reference numbers in a model's MODEL_CARD.md.")
final class ParityCommand implements Callable<Integer> {

    static final double PPL_REL_TOL = 0.005;      // the 0.5 %
    static final double LAMBADA_ABS_TOL = 0.005;  // 0.5 points of accuracy

    @Option(names = {"-m", "--model"}, required = true, description = "model directory holding MODEL_CARD.md")
    Path model;

    @Option(names = "--out", description = "results file to write")
    Path out;

    @Option(names = "--name", description = "model name in the rows (default: directory name)")
    String name;

    /** Reference values from the card's table: (metric, seqlen or 0) → value. */
    record Reference(String metric, int seqlen, double value) {}

    static List<Reference> parseCard(String card) {
        List<Reference> refs = new ArrayList<>();
        Matcher header = Pattern.compile("\\|\\s*metric\\s*\\|\\s*seqlen (\\d+)\\s*\\|\\s*seqlen (\\d+)\\s*\\|").matcher(card);
        if (!header.find()) throw new IllegalArgumentException("MODEL_CARD.md has no '| metric | seqlen A | seqlen B |' table");
        int s1 = Integer.parseInt(header.group(1)), s2 = Integer.parseInt(header.group(2));
        for (String line : card.split("\n")) {
            if (!line.startsWith("|")) continue;
            String[] cells = line.split("\\|");
            if (cells.length < 3) continue;
            String label = cells[1].trim();
            String metric = label.startsWith("WikiText-2") ? "ppl_wikitext2" : label.startsWith("C4") ? "ppl_c4"
                    : label.startsWith("LAMBADA") ? "lambada_acc" : null;
            if (metric == null) continue;
            for (int c = 2; c < cells.length && c < 4; c++) {
                Matcher num = Pattern.compile("^\\s*([0-9]+\\.[0-9]+)").matcher(cells[c]);
                if (num.find()) {
                    int seqlen = metric.startsWith("ppl") ? (c == 2 ? s1 : s2) : 0;
                    refs.add(new Reference(metric, seqlen, Double.parseDouble(num.group(1))));
                }
            }
        }
        if (refs.isEmpty()) throw new IllegalArgumentException("MODEL_CARD.md: no WikiText-2 / C4 / LAMBADA reference values found");
        return refs;
    }

    @Override
    public Integer call() throws IOException {
        Path cardPath = model.resolve("MODEL_CARD.md");
        if (!Files.isRegularFile(cardPath)) {
            throw new IllegalArgumentException(model + " has no MODEL_CARD.md with reference numbers to check against");
        }
        List<Reference> refs = parseCard(Files.readString(cardPath));
        Qwen2Model lm = Models.load(model);
        Tokenizer tok = Tokenizers.load(model);
        EnumSet<EvalSet> sets = EnumSet.of(EvalSet.WIKITEXT2, EvalSet.C4, EvalSet.LAMBADA);
        Evaluator.Inputs in = Evaluator.load(tok, dev.caldera4j.eval.EvalData.defaultDir(), sets);
        List<Integer> seqlens = refs.stream().filter(r -> r.seqlen() > 0).map(Reference::seqlen).distinct().sorted().toList();
        EvalReport r = Evaluator.run(lm, tok, in, EvalMode.FULL, seqlens, true);
        System.out.print(r.summary());

        String modelName = name != null ? name : model.toAbsolutePath().normalize().getFileName().toString();
        List<Map<String, Object>> rows = new ArrayList<>();
        boolean ok = true;
        System.out.printf(Locale.ROOT, "%-14s %6s %10s %10s %9s%n", "metric", "seqlen", "java", "reference", "diff");
        for (Reference ref : refs) {
            double mine = switch (ref.metric()) {
                case "ppl_wikitext2" -> r.ppl(EvalSet.WIKITEXT2, ref.seqlen()).ppl();
                case "ppl_c4" -> r.ppl(EvalSet.C4, ref.seqlen()).ppl();
                default -> r.lambada().acc();
            };
            boolean isPpl = ref.metric().startsWith("ppl");
            double diff = isPpl ? (mine - ref.value()) / ref.value() : mine - ref.value();
            boolean pass = Math.abs(diff) <= (isPpl ? PPL_REL_TOL : LAMBADA_ABS_TOL);
            ok &= pass;
            System.out.printf(Locale.ROOT, "%-14s %6s %10.4f %10.4f %+8.3f%s %s%n", ref.metric(),
                    ref.seqlen() > 0 ? ref.seqlen() : "-", mine, ref.value(), isPpl ? diff * 100 : diff * 100,
                    isPpl ? "%" : "pt", pass ? "ok" : "FAIL");
            Map<String, Object> row = new LinkedHashMap<>();
            row.put("model", modelName);
            row.put("method", "dense");
            row.put("eval", "full");
            if (ref.seqlen() > 0) row.put("seqlen", ref.seqlen());
            row.put("metric", ref.metric());
            row.put(ref.metric(), mine);
            row.put("reference_value", ref.value());
            row.put("rel_diff", diff);
            row.put("note", (isPpl ? "relative difference, tolerance 0.5 %" : "absolute difference in accuracy, tolerance 0.005")
                    + (pass ? "" : " — FAILED"));
            rows.add(row);
        }
        if (out != null) {
            ResultsFile.write(out, ResultsFile.envelope("caldera4j parity --model " + model + " --out " + out, rows, null));
            System.out.println("wrote " + out);
        }
        System.out.println(ok ? "parity: all within tolerance" : "parity: FAILED");
        return ok ? 0 : 1;
    }
}
