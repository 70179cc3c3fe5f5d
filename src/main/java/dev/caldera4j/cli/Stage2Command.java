package dev.caldera4j.cli;

import dev.caldera4j.experiment.Stage2;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Spec;

import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.Callable;

@Command(name = "sweep-stage2", mixinStandardHelpOptions = true,
        description = {"Stage 2: sensitivity signals (proxy error, output KL, SipIt probe), the allocator's per-matrix rank maps",
                "at the bytes of uniform CALDERA ranks, quick perplexity of uniform vs guided, and the 72B map within 22 GiB."})
final class Stage2Command implements Callable<Integer> {

    @Spec
    CommandSpec spec;

    @Mixin
    SweepSource src;

    @Option(names = "--calib-seqs", defaultValue = "16", description = "calibration windows (default ${DEFAULT-VALUE})")
    int calibSeqs;

    @Option(names = "--calib-seqlen", defaultValue = "512", description = "tokens per window (default ${DEFAULT-VALUE})")
    int calibSeqlen;

    @Option(names = "--iters", defaultValue = "3", description = "CALDERA outer iterations (default ${DEFAULT-VALUE})")
    int iters;

    @Option(names = "--ranks", split = ",", defaultValue = "0,16,32,64", description = "candidate ranks (default ${DEFAULT-VALUE})")
    List<Integer> ranks;

    @Option(names = "--budget-ranks", split = ",", defaultValue = "16,32", description = "uniform ranks whose bytes are the budgets (default ${DEFAULT-VALUE})")
    List<Integer> budgetRanks;

    @Option(names = "--base-rank", defaultValue = "16", description = "rank of SipIt's uniform model (default ${DEFAULT-VALUE})")
    int baseRank;

    @Option(names = "--kl-windows", defaultValue = "4", description = "calibration windows for KL (default ${DEFAULT-VALUE})")
    int klWindows;

    @Option(names = "--kl-seqlen", defaultValue = "128", description = "tokens per KL window (default ${DEFAULT-VALUE})")
    int klSeqlen;

    @Option(names = "--sipit-windows", defaultValue = "4", description = "held-out windows for SipIt (default ${DEFAULT-VALUE})")
    int sipWindows;

    @Option(names = "--sipit-first", defaultValue = "16", description = "first probed position per window (default ${DEFAULT-VALUE})")
    int sipFirst;

    @Option(names = "--sipit-positions", defaultValue = "64", description = "positions probed per window (default ${DEFAULT-VALUE})")
    int sipPositions;

    @Option(names = "--sipit-topk", defaultValue = "64", description = "SipIt shortlist: k likeliest next tokens + k per layer by embedding cosine; >= vocab = exhaustive (default ${DEFAULT-VALUE})")
    int sipTopK;

    @Option(names = "--ppl-windows", defaultValue = "32", description = "first N windows of 512 of WikiText-2 and C4 (default ${DEFAULT-VALUE})")
    int pplWindows;

    @Option(names = "--out", defaultValue = "results/stage2.json", description = "results file (default ${DEFAULT-VALUE})")
    Path out;

    @Option(names = "--signals-out", defaultValue = "results/stage2-signals.json", description = "signal profiles (default ${DEFAULT-VALUE})")
    Path signalsOut;

    @Override
    public Integer call() {
        Path m = src.model();
        String command = SweepSource.commandLine(spec);
        Stage2.Options o = new Stage2.Options(m, src.name, src.corpus(), calibSeqs, calibSeqlen, src.seed, iters,
                ranks, budgetRanks, baseRank, klWindows, klSeqlen, sipWindows, sipFirst, sipPositions, sipTopK,
                src.evalDir(), pplWindows, out, signalsOut, command);
        List<?> rows = Stage2.run(o, System.out);
        System.out.println("wrote " + rows.size() + " rows to " + out + " and the signal profiles to " + signalsOut);
        return 0;
    }
}
