package dev.caldera4j.cli;

import dev.caldera4j.eval.EvalMode;
import dev.caldera4j.eval.EvalReport;
import dev.caldera4j.eval.EvalSet;
import dev.caldera4j.eval.Evaluator;
import dev.caldera4j.eval.ResultsFile;
import dev.caldera4j.eval.TokenizedEval;
import dev.caldera4j.format.CompressedCheckpoint;
import dev.caldera4j.model.Models;
import dev.caldera4j.model.Qwen2Model;
import dev.caldera4j.tokenizer.Tokenizer;
import dev.caldera4j.tokenizer.Tokenizers;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.EnumSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.Callable;

@Command(name = "eval", mixinStandardHelpOptions = true,
        description = "Evaluate a model: WikiText-2 and C4 perplexity, LAMBADA, HellaSwag (DESIGN's protocol).")
final class EvalCommand implements Callable<Integer> {

    @Option(names = {"-m", "--model"}, required = true, description = "HF model directory (dense or compressed) or llama2.c .bin; repeat for several models in one results file")
    List<Path> models;

    @Option(names = "--mode", defaultValue = "quick", description = "quick (64 windows of 512, 1000 items) or full, or"
            + " quick,full for both from one model load (default ${DEFAULT-VALUE})")
    String mode;

    @Option(names = "--sets", split = ",", description = "wikitext2,c4,lambada,hellaswag (default: all)")
    List<String> sets;

    @Option(names = "--seqlen", split = ",", description = "perplexity window lengths (default: the mode's)")
    List<Integer> seqlens;

    @Option(names = "--name", split = ",", description = "model name in the results rows, one per --model (default: the directory name)")
    List<String> names;

    @Option(names = "--gpu", description = "run the model on the GPU engine (fused Q + L·R kernels; needs an NVIDIA GPU, R580+ driver)")
    boolean gpu;

    @Option(names = "--out", description = "write a results file (DESIGN's format) here")
    Path out;

    @Option(names = "--eval-dir", description = "evaluation data (default: ../shared/data/eval)")
    Path evalDir;

    @Option(names = "--tokens", description = "evaluate from ids made by tokenize-eval instead of the texts in --eval-dir"
            + " (for a machine without the tokenizer's natives or the data, e.g. the GPU host); the model's tokenizer must match")
    Path tokens;

    @Override
    public Integer call() {
        List<EvalMode> modes = java.util.Arrays.stream(mode.split(",")).map(String::trim).map(EvalMode::parse).distinct().toList();
        Set<EvalSet> which = EnumSet.noneOf(EvalSet.class);
        if (sets == null || sets.isEmpty()) which = EnumSet.allOf(EvalSet.class);
        else for (String s : sets) which.add(EvalSet.parse(s.trim()));
        TokenizedEval tokenized = null;
        // EvalData (and its bzip2 reader) stays unloaded with --tokens: the GPU host's slim classpath lacks commons-compress
        Path data = evalDir != null || tokens != null ? evalDir : dev.caldera4j.eval.EvalData.defaultDir();
        if (tokens != null) {
            tokenized = TokenizedEval.read(tokens).restrictTo(which);
        } else if (!Files.isDirectory(data)) {
            throw new IllegalArgumentException("evaluation data not found at " + data.toAbsolutePath()
                    + ": run from the project root with ../shared beside it, pass --eval-dir, or evaluate from --tokens");
        }
        String gpuName = null;
        List<Map<String, Object>> rows = new ArrayList<>();
        for (int i = 0; i < models.size(); i++) {
            Path model = models.get(i);
            Qwen2Model lm = Models.load(model);
            Path modelDir = Files.isDirectory(model) ? model : model.toAbsolutePath().getParent();
            Tokenizer tok = null;
            Evaluator.Inputs in = null;
            if (tokenized != null) {
                tokenized.requireTokenizer(modelDir);
            } else {
                tok = Tokenizers.load(modelDir);
                in = Evaluator.load(tok, data, which);
            }
            int maxPos = lm.config().maxPositionEmbeddings();
            Map<EvalMode, List<Integer>> usable = new LinkedHashMap<>();
            for (EvalMode m : modes) {
                List<Integer> wanted = seqlens == null || seqlens.isEmpty() ? m.seqlens : seqlens;
                List<Integer> fit = wanted.stream().filter(sl -> sl <= maxPos).toList();
                if (fit.size() < wanted.size()) {
                    // a window longer than the trained context measures RoPE extrapolation, not the model
                    System.out.println("note: " + model + " was trained for " + maxPos + " positions: seqlen "
                            + wanted.stream().filter(sl -> sl > maxPos).toList() + " skipped");
                }
                if (fit.isEmpty()) {
                    throw new IllegalArgumentException("every requested seqlen " + wanted + " exceeds " + model
                            + "'s max_position_embeddings " + maxPos + ": pass --seqlen ≤ " + maxPos);
                }
                usable.put(m, fit);
            }
            List<EvalReport> reports = new ArrayList<>();
            if (gpu) {
                int ctx = usable.values().stream().flatMap(List::stream).mapToInt(Integer::intValue).max().orElse(512);
                try (dev.caldera4j.gpu.Gpu g = dev.caldera4j.gpu.Gpu.open();
                     dev.caldera4j.gpu.Engine e = dev.caldera4j.gpu.Engine.load(g, lm.weights(),
                             dev.caldera4j.gpu.Engine.Options.defaults(Math.max(ctx, 2048)).withLogitRows(128), System.out)) {
                    gpuName = g.deviceName;
                    dev.caldera4j.gpu.EngineModel em = new dev.caldera4j.gpu.EngineModel(e);
                    for (var u : usable.entrySet()) {
                        reports.add(tokenized != null ? Evaluator.run(em, tokenized, u.getKey(), u.getValue(), true)
                                : Evaluator.run(em, tok, in, u.getKey(), u.getValue(), true));
                    }
                }
            } else {
                for (var u : usable.entrySet()) {
                    reports.add(tokenized != null ? Evaluator.run(lm, tokenized, u.getKey(), u.getValue(), true)
                            : Evaluator.run(lm, tok, in, u.getKey(), u.getValue(), true));
                }
            }
            Tokenizers.close(tok);
            String modelName = names != null && i < names.size() ? names.get(i)
                    : model.toAbsolutePath().normalize().getFileName().toString();
            System.out.println("== " + modelName);
            for (EvalReport r : reports) System.out.print(r.summary());
            Map<String, Object> base = new LinkedHashMap<>();
            base.put("model", modelName);
            if (CompressedCheckpoint.isCompressed(model)) base.putAll(CompressedCheckpoint.rowFields(model));
            else base.put("method", "dense");
            base.put("backend", gpu ? "gpu-engine" : "cpu");
            for (EvalReport r : reports) rows.addAll(r.rows(base));
        }
        if (out != null) {
            ResultsFile.write(out, ResultsFile.envelope(commandLine(), rows, gpuName));
            System.out.println("wrote " + out);
        }
        return 0;
    }

    private String commandLine() {
        return "caldera4j eval" + models.stream().map(p -> " --model " + p).reduce("", String::concat) + " --mode " + mode
                + (sets != null ? " --sets " + String.join(",", sets) : "")
                + (seqlens != null ? " --seqlen " + seqlens.stream().map(String::valueOf).reduce((a, b) -> a + "," + b).orElse("") : "")
                + (names != null ? " --name " + String.join(",", names) : "") + (gpu ? " --gpu" : "")
                + (tokens != null ? " --tokens " + tokens : "") + (out != null ? " --out " + out : "");
    }
}
