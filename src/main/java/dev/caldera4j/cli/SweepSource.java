package dev.caldera4j.cli;

import dev.caldera4j.calib.Corpus;
import dev.caldera4j.eval.EvalData;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;

import java.nio.file.Path;

/**
 * The options every experiment command shares (a picocli mixin): which dense model, what to call it
 * in the rows, where calibration and evaluation data live, and the calibration seed.
 */
final class SweepSource {

    @Option(names = {"-m", "--model"}, description = "dense model (default ../shared/data/models/standin-small)")
    Path model;

    @Option(names = "--name", description = "model name in the rows (default: the directory name)")
    String name;

    @Option(names = "--corpus", description = "calibration corpus (default ../shared/data/train/corpus)")
    Path corpus;

    @Option(names = "--seed", defaultValue = "0", description = "calibration seed (default ${DEFAULT-VALUE})")
    long seed;

    @Option(names = "--eval-dir", description = "evaluation data (default ../shared/data/eval)")
    Path evalDir;

    Path model() {
        return model != null ? model : Path.of(System.getProperty("caldera4j.shared", "../shared"), "data/models/standin-small");
    }

    Path corpus() {
        return corpus != null ? corpus : Corpus.defaultDir();
    }

    Path evalDir() {
        return evalDir != null ? evalDir : EvalData.defaultDir();
    }

    /** The command line as typed (a subcommand's originalArgs include its own name), for the results file. */
    static String commandLine(CommandSpec spec) {
        return ("caldera4j " + String.join(" ", spec.commandLine().getParseResult().originalArgs())).strip();
    }
}
