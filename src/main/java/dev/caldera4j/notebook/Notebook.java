package dev.caldera4j.notebook;

import java.util.Locale;

/**
 * Helpers for notebook cells; the caldera4j kernel imports them statically at startup, so a cell
 * can write {@code display(table)} or {@code if (quick()) ...}.
 */
public final class Notebook {

    /** Environment variable that selects the quick mode (CI sets it; tools/run-notebooks.sh defaults it to 1). */
    public static final String QUICK_ENV = "CALDERA4J_QUICK";

    private Notebook() {
    }

    /**
     * Shows a value now, as an output of the running cell, rendered like a cell's last expression
     * (a Table as HTML, a Figure as a chart, anything else as text).
     */
    public static void display(Object value) {
        Caldera4jKernel kernel = Caldera4jKernel.running();
        if (kernel == null) {
            throw new IllegalStateException("display(" + describe(value) + ") needs a running notebook kernel:"
                    + " it only works in a cell of the caldera4j kernel (tools/install-kernel.sh installs it)");
        }
        kernel.display(kernel.getRenderer().render(value));
    }

    /** True when {@value #QUICK_ENV} is set to anything but empty, "0" or "false": notebooks then run a small version. */
    public static boolean quick() {
        return quick(System.getenv(QUICK_ENV));
    }

    static boolean quick(String value) {
        if (value == null) {
            return false;
        }
        String v = value.strip().toLowerCase(Locale.ROOT);
        return !(v.isEmpty() || v.equals("0") || v.equals("false") || v.equals("no"));
    }

    private static String describe(Object value) {
        return value == null ? "null" : value.getClass().getSimpleName();
    }
}
