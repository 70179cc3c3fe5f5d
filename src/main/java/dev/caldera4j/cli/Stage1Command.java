package dev.caldera4j.cli;

import dev.caldera4j.experiment.Stage1;
import dev.caldera4j.model.Qwen2Config;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Spec;

import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.concurrent.Callable;

@Command(name = "sweep-stage1", mixinStandardHelpOptions = true,
        description = {"Stage 1: CALDERA with Q 2-bit g128, L and R at 4 or 16 bits, three ranks matched to Qwen2-72B's 64/128/256,",
                "calibration size varied at one config; quick eval of every row, exact bits, compression time, and the fit of",
                "each config on Qwen2-72B in 22 GiB -> a results file. Resumable: rerun the same command after a crash."})
final class Stage1Command implements Callable<Integer> {

    @Spec
    CommandSpec spec;

    @Mixin
    SweepSource src;

    @Option(names = "--calib-seqs", defaultValue = "64", description = "calibration windows of every row (default ${DEFAULT-VALUE}, as sweep-phase1 here)")
    int calibSeqs;

    @Option(names = "--calib-variants", split = ",", defaultValue = "16,128",
            description = "other calibration sizes, run at 4-bit factors and the rank matching 72B's 128 (default ${DEFAULT-VALUE}); 'none' for none")
    List<String> calibVariants;

    @Option(names = "--calib-seqlen", defaultValue = "512", description = "tokens per window (default ${DEFAULT-VALUE})")
    int calibSeqlen;

    @Option(names = "--iters", defaultValue = "" + Stage1.DEFAULT_OUTER_ITERS, description = "CALDERA outer iterations (default ${DEFAULT-VALUE})")
    int iters;

    @Option(names = "--work", defaultValue = "target/stage1", description = "compressed checkpoints go here (default ${DEFAULT-VALUE})")
    Path work;

    @Option(names = "--out", defaultValue = "results/stage1.json", description = "results file (default ${DEFAULT-VALUE})")
    Path out;

    @Option(names = "--ppl-windows", defaultValue = "0", description = "scale down: first N windows (of the longest seqlen) per perplexity set; 0 = protocol")
    int pplWindows;

    @Option(names = "--items", defaultValue = "0", description = "scale down: first N LAMBADA items and HellaSwag tasks; 0 = protocol")
    int items;

    @Option(names = "--full", description = "also run the full evaluation of the Pareto-optimal rows (~30+ min a row on 2 cores; off by default)")
    boolean full;

    @Option(names = "--full-seqlens", split = ",", defaultValue = "2048,512", description = "full-eval perplexity seqlens (default ${DEFAULT-VALUE})")
    List<Integer> fullSeqlens;

    @Option(names = "--only", split = ",", description = "only these grid rows, by checkpoint name suffix after the model, e.g. caldera-b2-g128-r8-f4")
    List<String> only;

    @Override
    public Integer call() {
        Path m = src.model();
        Qwen2Config small = Qwen2Config.load(m.resolve("config.json"));
        List<Integer> variants = calibVariants.equals(List.of("none")) ? List.of() : calibVariants.stream().map(Integer::parseInt).toList();
        List<Stage1.Config> grid = Stage1.grid(small, calibSeqs, variants, iters);
        if (only != null) {
            grid = grid.stream().filter(c -> only.stream().anyMatch(p -> c.dirName("", calibSeqlen, src.seed).substring(1).startsWith(p))).toList();
            if (grid.isEmpty()) throw new IllegalArgumentException("--only " + only + " matches no grid row; names look like "
                    + Stage1.grid(small, calibSeqs, variants, iters).getFirst().dirName("", calibSeqlen, src.seed).substring(1));
        }
        java.util.TreeSet<Integer> sizes = new java.util.TreeSet<>(variants);
        sizes.add(calibSeqs);
        String calibNote = "calibration scaled from the seed's 1k/4k/8k sequences of 2048 tokens (72B) to "
                + String.join("/", sizes.stream().map(String::valueOf).toList()) + " windows of " + calibSeqlen
                + " tokens here (calib_seqs); ranks matched to 72B's 64/128/256 at the fp16 factor overhead";
        System.out.println("Stage 1 grid (ranks matched to Qwen2-72B's 64/128/256 by the fp16 factor overhead; overheads exact at each row's bits):");
        System.out.print(Stage1.rankTable(small, grid));
        String command = SweepSource.commandLine(spec);
        Stage1.Options o = new Stage1.Options(m, src.name, src.corpus(), calibSeqlen, src.seed, work, out,
                src.evalDir(), pplWindows, items, full, fullSeqlens, grid, calibNote, command);
        List<Map<String, Object>> rows = Stage1.run(o, System.out, true);
        System.out.print(Stage1.table(rows));
        System.out.println("wrote " + rows.size() + " rows to " + out);
        return 0;
    }
}
