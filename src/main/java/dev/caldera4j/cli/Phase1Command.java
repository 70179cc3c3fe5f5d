package dev.caldera4j.cli;

import dev.caldera4j.experiment.Phase1;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Spec;

import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.Callable;

@Command(name = "sweep-phase1", mixinStandardHelpOptions = true,
        description = {"Phase 1 baselines: dense, RTN and GPTQ over the issue-4 grid, quick eval of every row, full eval of",
                "the best row per bit width -> a results file. Resumable: rerun the same command after a crash."})
final class Phase1Command implements Callable<Integer> {

    @Spec
    CommandSpec spec;

    @Mixin
    SweepSource src;

    @Option(names = "--calib-seqs", defaultValue = "128", description = "GPTQ calibration windows (default ${DEFAULT-VALUE})")
    int calibSeqs;

    @Option(names = "--calib-seqlen", defaultValue = "2048", description = "tokens per window (default ${DEFAULT-VALUE})")
    int calibSeqlen;

    @Option(names = "--work", defaultValue = "target/phase1", description = "compressed checkpoints go here (default ${DEFAULT-VALUE})")
    Path work;

    @Option(names = "--out", defaultValue = "results/phase1.json", description = "results file (default ${DEFAULT-VALUE})")
    Path out;

    @Option(names = "--ppl-windows", defaultValue = "0", description = "scale down: first N windows (of the longest seqlen) per perplexity set; 0 = protocol")
    int pplWindows;

    @Option(names = "--items", defaultValue = "0", description = "scale down: first N LAMBADA items and HellaSwag tasks; 0 = protocol")
    int items;

    @Option(names = "--no-full", description = "skip the full evaluation of dense and the best row per bit width")
    boolean noFull;

    @Option(names = "--full-seqlens", split = ",", defaultValue = "2048,512", description = "full-eval perplexity seqlens (default ${DEFAULT-VALUE})")
    List<Integer> fullSeqlens;

    @Option(names = "--only", split = ",", description = "only these grid rows, by checkpoint name prefix, e.g. rtn-b4-g128,gptq-b2-g128-ao")
    List<String> only;

    @Override
    public Integer call() {
        Path m = src.model();
        List<Phase1.Config> grid = Phase1.grid();
        if (only != null) {
            grid = grid.stream().filter(c -> only.stream().anyMatch(p -> c.dirName("", 0, 0, 0).substring(1).startsWith(p))).toList();
            if (grid.isEmpty()) throw new IllegalArgumentException("--only " + only + " matches no grid row; names look like "
                    + Phase1.grid().getFirst().dirName("", 0, 0, 0).substring(1) + " or gptq-b2-g128-ao");
        }
        // originalArgs of a subcommand are the whole command line, the subcommand's name included
        String command = SweepSource.commandLine(spec);
        Phase1.Options o = new Phase1.Options(m, src.name, src.corpus(), calibSeqs, calibSeqlen, src.seed,
                work, out, src.evalDir(), pplWindows, items, !noFull, fullSeqlens, grid, command);
        List<?> rows = Phase1.run(o, System.out, true);
        System.out.println("wrote " + rows.size() + " rows to " + out);
        return 0;
    }
}
