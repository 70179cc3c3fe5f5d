package dev.caldera4j.util;

import me.tongfei.progressbar.ProgressBar;
import me.tongfei.progressbar.ProgressBarBuilder;
import me.tongfei.progressbar.ProgressBarStyle;

import java.io.PrintStream;

/**
 * Progress of a long job: a bar on a terminal, plain lines (every 10 % or 30 s) elsewhere — CI logs,
 * notebooks, redirected output. Writes to stderr so that stdout stays clean for results.
 */
public final class Progress implements AutoCloseable {
    private final String task;
    private final long total;
    private final ProgressBar bar;         // null in plain mode
    private final PrintStream plain;       // null in bar mode
    private final long t0 = System.nanoTime();
    private long done;
    private int lastDecile = -1;
    private long lastLineNanos = System.nanoTime();

    private Progress(String task, long total, boolean terminal, PrintStream plain) {
        this.task = task;
        this.total = Math.max(total, 1);
        if (terminal) {
            this.bar = new ProgressBarBuilder().setTaskName(task).setInitialMax(this.total)
                    .setStyle(ProgressBarStyle.ASCII).setUpdateIntervalMillis(250).build();
            this.plain = null;
        } else {
            this.bar = null;
            this.plain = plain;
        }
    }

    /** A bar when stderr is an interactive terminal, plain lines otherwise. CALDERA4J_PROGRESS=plain|bar|none overrides. */
    public static Progress start(String task, long total) {
        String mode = System.getenv().getOrDefault("CALDERA4J_PROGRESS", "");
        boolean terminal = switch (mode) {
            case "bar" -> true;
            case "plain", "none" -> false;
            default -> System.console() != null && System.console().isTerminal() && System.getenv("CI") == null;
        };
        return new Progress(task, total, terminal, mode.equals("none") ? null : System.err);
    }

    public void step() { stepBy(1); }

    public synchronized void stepBy(long n) {
        done += n;
        if (bar != null) {
            bar.stepBy(n);
            return;
        }
        if (plain == null) return;
        int decile = (int) Math.min(10, done * 10 / total);
        long now = System.nanoTime();
        if (decile > lastDecile || now - lastLineNanos > 30_000_000_000L) {
            lastDecile = decile;
            lastLineNanos = now;
            double s = (now - t0) / 1e9;
            plain.printf("%s: %d/%d (%d%%) %.1fs%n", task, done, total, done * 100 / total, s);
        }
    }

    public double seconds() { return (System.nanoTime() - t0) / 1e9; }

    @Override
    public void close() {
        if (bar != null) bar.close();
    }
}
