package dev.caldera4j.cli;

import dev.caldera4j.eval.EvalData;
import dev.caldera4j.eval.EvalSet;
import dev.caldera4j.eval.Evaluator;
import dev.caldera4j.eval.TokenizedEval;
import dev.caldera4j.tokenizer.Tokenizer;
import dev.caldera4j.tokenizer.Tokenizers;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.EnumSet;
import java.util.List;
import java.util.Locale;
import java.util.Set;
import java.util.concurrent.Callable;

@Command(name = "tokenize-eval", mixinStandardHelpOptions = true,
        description = "Tokenize the evaluation sets once with a model's tokenizer into one file, so that `eval --tokens` can"
                + " evaluate where the tokenizer or the texts are not available (the GPU host).")
final class TokenizeEvalCommand implements Callable<Integer> {

    @Option(names = {"-m", "--model"}, required = true, description = "model directory whose tokenizer to use")
    Path model;

    @Option(names = "--out", required = true, description = "file to write (gzip, a few MiB for all four sets)")
    Path out;

    @Option(names = "--sets", split = ",", description = "wikitext2,c4,lambada,hellaswag (default: all)")
    List<String> sets;

    @Option(names = "--eval-dir", description = "evaluation data (default: ../shared/data/eval)")
    Path evalDir;

    @Override
    public Integer call() {
        Set<EvalSet> which = EnumSet.noneOf(EvalSet.class);
        if (sets == null || sets.isEmpty()) which = EnumSet.allOf(EvalSet.class);
        else for (String s : sets) which.add(EvalSet.parse(s.trim()));
        Path data = evalDir != null ? evalDir : EvalData.defaultDir();
        if (!Files.isDirectory(model)) {
            throw new IllegalArgumentException(model + " is not a model directory: pass the directory that holds tokenizer.json");
        }
        long t0 = System.nanoTime();
        Tokenizer tok = Tokenizers.load(model);
        try {
            Evaluator.Inputs in = Evaluator.load(tok, data, which);
            TokenizedEval t = TokenizedEval.of(tok, TokenizedEval.tokenizerId(model), in,
                    "tokenized with " + model.toAbsolutePath().normalize().getFileName() + "'s tokenizer from "
                            + data.toAbsolutePath().normalize() + " (" + EvalData.WIKITEXT2 + ", " + EvalData.C4 + ", "
                            + EvalData.LAMBADA + ", " + EvalData.HELLASWAG + ")");
            t.write(out);
            System.out.printf(Locale.ROOT, "wrote %s (%.1f MiB, %.1f s): %s; lambada %d items, hellaswag %d tasks%n", out,
                    Files.size(out) / 1048576.0, (System.nanoTime() - t0) * 1e-9,
                    t.tokens().entrySet().stream().map(e -> e.getKey().label + " " + e.getValue().length + " tokens").toList(),
                    t.lambada().size(), t.hellaSwag().size());
        } catch (java.io.IOException e) {
            throw new java.io.UncheckedIOException(e);
        } finally {
            Tokenizers.close(tok);
        }
        return 0;
    }
}
