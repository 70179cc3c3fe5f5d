package dev.caldera4j.cli;

import picocli.CommandLine;
import picocli.CommandLine.Command;

/** The caldera4j command line: {@code java -jar lib/caldera4j.jar <command> …} (or tools/caldera4j). */
@Command(name = "caldera4j", mixinStandardHelpOptions = true, version = "caldera4j 0.1.0",
        description = "Compress Qwen2 models into Q + L·R, evaluate them, and run them on the GPU.",
        subcommands = {GenerateCommand.class, EvalCommand.class, ParityCommand.class, PlanCommand.class,
                ConvertLlama2cCommand.class, CompressCommand.class, Phase1Command.class, Stage1Command.class,
                LayerTableCommand.class, Stage2Command.class, TokenizeEvalCommand.class})
public final class Main implements Runnable {

    public static void main(String[] args) {
        System.exit(run(args));
    }

    /** Runs the CLI and returns its exit code (for tests and notebooks). */
    public static int run(String... args) {
        return new CommandLine(new Main())
                .setExecutionExceptionHandler((ex, cmd, parsed) -> {
                    // one clear line for the user's mistakes; the stack trace only for our own bugs
                    if (ex instanceof IllegalArgumentException || ex instanceof java.io.UncheckedIOException) {
                        cmd.getErr().println("error: " + ex.getMessage());
                        return 2;
                    }
                    throw ex;
                })
                .execute(args);
    }

    @Override
    public void run() {
        new CommandLine(this).usage(System.out);
    }
}
