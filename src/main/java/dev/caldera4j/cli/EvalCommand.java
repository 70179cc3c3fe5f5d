package dev.caldera4j.cli;

import dev.caldera4j.eval.EvalMode;
import dev.caldera4j.eval.EvalReport;
import dev.caldera4j.eval.EvalSet;
import dev.caldera4j.eval.Evaluator;
import dev.caldera4j.eval.ResultsFile;
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

    @Option(names = "--mode", defaultValue = "quick", description = "quick (64 windows of 512, 1000 items) or full (default ${DEFAULT-VALUE})")
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

    @Override
    public Integer call() {
        EvalMode m = EvalMode.parse(mode);
        Set<EvalSet> which = EnumSet.noneOf(EvalSet.class);
        if (sets == null || sets.isEmpty()) which = EnumSet.allOf(EvalSet.class);
        else for (String s : sets) which.add(EvalSet.parse(s.trim()));
        Path data = evalDir != null ? evalDir : dev.caldera4j.eval.EvalData.defaultDir();
        if (!Files.isDirectory(data)) {
            throw new IllegalArgumentException("evaluation data not found at " + data.toAbsolutePath()
                    + ": run from the project root with ../shared beside it, or pass --eval-dir");
        }
        List<Map<String, Object>> rows = new ArrayList<>();
        for (int i = 0; i < models.size(); i++) {
            Path model = models.get(i);
            Qwen2Model lm = Models.load(model);
            Tokenizer tok = Tokenizers.load(Files.isDirectory(model) ? model : model.toAbsolutePath().getParent());
            Evaluator.Inputs in = Evaluator.load(tok, data, which);
            List<Integer> wanted = seqlens == null || seqlens.isEmpty() ? m.seqlens : seqlens;
            int maxPos = lm.config().maxPositionEmbeddings();
            List<Integer> usable = wanted.stream().filter(sl -> sl <= maxPos).toList();
            if (usable.size() < wanted.size()) {
                // a window longer than the trained context measures RoPE extrapolation, not the model
                System.out.println("note: " + model + " was trained for " + maxPos + " positions: seqlen "
                        + wanted.stream().filter(sl -> sl > maxPos).toList() + " skipped");
            }
            if (usable.isEmpty()) {
                throw new IllegalArgumentException("every requested seqlen " + wanted + " exceeds " + model
                        + "'s max_position_embeddings " + maxPos + ": pass --seqlen ≤ " + maxPos);
            }
            EvalReport r;
            if (gpu) {
                int ctx = usable.stream().mapToInt(Integer::intValue).max().orElse(512);
                try (dev.caldera4j.gpu.Gpu g = dev.caldera4j.gpu.Gpu.open();
                     dev.caldera4j.gpu.Engine e = dev.caldera4j.gpu.Engine.load(g, lm.weights(),
                             dev.caldera4j.gpu.Engine.Options.defaults(Math.max(ctx, 2048)).withLogitRows(128), System.out)) {
                    r = Evaluator.run(new dev.caldera4j.gpu.EngineModel(e), tok, in, m, usable, true);
                }
            } else {
                r = Evaluator.run(lm, tok, in, m, usable, true);
            }
            String modelName = names != null && i < names.size() ? names.get(i)
                    : model.toAbsolutePath().normalize().getFileName().toString();
            System.out.println("== " + modelName);
            System.out.print(r.summary());
            Map<String, Object> base = new LinkedHashMap<>();
            base.put("model", modelName);
            if (CompressedCheckpoint.isCompressed(model)) base.putAll(CompressedCheckpoint.rowFields(model));
            else base.put("method", "dense");
            rows.addAll(r.rows(base));
        }
        if (out != null) {
            ResultsFile.write(out, ResultsFile.envelope(commandLine(), rows, null));
            System.out.println("wrote " + out);
        }
        return 0;
    }

    private String commandLine() {
        return "caldera4j eval" + models.stream().map(p -> " --model " + p).reduce("", String::concat) + " --mode " + mode
                + (sets != null ? " --sets " + String.join(",", sets) : "")
                + (seqlens != null ? " --seqlen " + seqlens.stream().map(String::valueOf).reduce((a, b) -> a + "," + b).orElse("") : "")
                + (names != null ? " --name " + String.join(",", names) : "") + (out != null ? " --out " + out : "");
    }
}
