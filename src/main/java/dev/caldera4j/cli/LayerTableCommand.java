package dev.caldera4j.cli;

import dev.caldera4j.experiment.LayerTable;
import dev.caldera4j.experiment.Stage1;
import dev.caldera4j.model.Qwen2Config;
import dev.caldera4j.quant.CalderaConfig;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Spec;

import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.concurrent.Callable;

@Command(name = "caldera-vs-gptq", mixinStandardHelpOptions = true,
        description = {"CALDERA against GPTQ (and RTN) on every linear matrix of a model, with the Hessians of the dense model's",
                "calibration activations: bits/param and proxy error per matrix per method -> a results file and a table."})
final class LayerTableCommand implements Callable<Integer> {

    @Spec
    CommandSpec spec;

    @Mixin
    SweepSource src;

    @Option(names = "--calib-seqs", defaultValue = "64", description = "calibration windows (default ${DEFAULT-VALUE})")
    int calibSeqs;

    @Option(names = "--calib-seqlen", defaultValue = "512", description = "tokens per window (default ${DEFAULT-VALUE})")
    int calibSeqlen;

    @Option(names = "--rank", description = "CALDERA rank (default: the rank whose fp16-factor overhead on this model matches rank 128 on Qwen2-72B, as in sweep-stage1)")
    Integer rank;

    @Option(names = "--factor-bits", defaultValue = "4", description = "bits of L and R (default ${DEFAULT-VALUE})")
    int factorBits;

    @Option(names = "--group", defaultValue = "128", description = "group of CALDERA's Q (default ${DEFAULT-VALUE})")
    int group;

    @Option(names = "--iters", defaultValue = "15", description = "CALDERA outer iterations (default ${DEFAULT-VALUE})")
    int iters;

    @Option(names = "--out", defaultValue = "results/caldera-vs-gptq-standin-small.json", description = "results file (default ${DEFAULT-VALUE})")
    Path out;

    @Override
    public Integer call() {
        Path m = src.model();
        int r = rank != null ? rank
                : Stage1.matchedRank(Qwen2Config.load(m.resolve("config.json")), Qwen2Config.qwen2_72b(), 128, Stage1.MATCH_BITS);
        CalderaConfig cfg = CalderaConfig.of(r, factorBits, factorBits).withQ(2, group)
                .withIters(iters, CalderaConfig.DEFAULT_ALS_ITERS);
        String command = SweepSource.commandLine(spec);
        System.out.println("CALDERA rank " + r + ", L and R at " + factorBits + " bits, Q 2-bit g" + group + ", " + iters
                + " outer iterations; calibration " + calibSeqs + " × " + calibSeqlen + " tokens");
        List<Map<String, Object>> rows = LayerTable.run(new LayerTable.Options(m, src.name, src.corpus(),
                calibSeqs, calibSeqlen, src.seed, cfg, out, command), System.out);
        System.out.print(LayerTable.summary(rows));
        System.out.println("wrote " + rows.size() + " rows to " + out);
        return 0;
    }
}
