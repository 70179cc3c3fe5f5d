package dev.caldera4j.util;

import me.tongfei.progressbar.ProgressBar;
import me.tongfei.progressbar.ProgressBarBuilder;

import java.io.Console;
import java.io.PrintStream;
import java.util.Locale;
import java.util.function.IntConsumer;

/**
 * Progress of one task of {@code total} units, fed with the count done so far (the
 * {@link IntConsumer} the evaluation loops call). In a terminal it draws a me.tongfei progress bar
 * on stderr; without one (CI, notebooks, redirected output) it prints a plain line to stderr at
 * every 10 % and at least every 30 s, so logs stay readable. {@link #none()} prints nothing.
 */
public final class Progress implements IntConsumer, AutoCloseable {
    private static final long PLAIN_INTERVAL_NANOS = 30_000_000_000L;

    private final String task;
    private final int total;
    private final ProgressBar bar;    // null unless drawing in a terminal
    private final PrintStream plain;  // null unless printing plain lines
    private final long start = System.nanoTime();
    private long lastLine = start;
    private int lastDecile;

    private Progress(String task, int total, ProgressBar bar, PrintStream plain) {
        this.task = task;
        this.total = total;
        this.bar = bar;
        this.plain = plain;
    }

    /** A bar in a terminal, plain lines otherwise. */
    public static Progress start(String task, int total) {
        Console console = System.console();
        if (console != null && console.isTerminal()) {
            ProgressBar bar = new ProgressBarBuilder().setTaskName(task).setInitialMax(total)
                    .showSpeed().build();
            return new Progress(task, total, bar, null);
        }
        return new Progress(task, total, null, System.err);
    }

    /** Plain lines to {@code out} whatever the terminal (for logs and tests of the format). */
    public static Progress plain(String task, int total, PrintStream out) {
        return new Progress(task, total, null, out);
    }

    /** Reports nothing. */
    public static Progress none() {
        return new Progress("", 0, null, null);
    }

    @Override
    public void accept(int done) {
        if (bar != null) {
            bar.stepTo(done);
        } else if (plain != null && total > 0) {
            long now = System.nanoTime();
            int decile = (int) (10L * done / total);
            // done == total reaches decile 10, so the last line is always printed once
            if (decile > lastDecile || now - lastLine > PLAIN_INTERVAL_NANOS) {
                plain.printf(Locale.ROOT, "%s: %d/%d (%.0f%%), %.1f s%n", task, done, total,
                        100.0 * done / total, (now - start) * 1e-9);
                lastDecile = decile;
                lastLine = now;
            }
        }
    }

    @Override
    public void close() {
        if (bar != null) {
            bar.close();
        }
    }
}
