package dev.caldera4j.notebook;

import tech.tablesaw.plotly.components.Figure;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Locale;
import java.util.concurrent.ThreadLocalRandom;
import java.util.function.Supplier;

/**
 * Turns Tablesaw figures into self-contained HTML that draws offline: the first figure of a kernel
 * session carries plotly.js itself (inlined, ~4.5 MB), later figures reuse {@code window.Plotly}.
 * A new kernel session (restart) inlines it again with its first figure.
 *
 * <p>The version is pinned to 2.35.3: plotly.js 3 and later no longer accept a plain string as a
 * title, which is what Tablesaw writes, so titles would silently vanish.
 */
public final class PlotlyEmbed {

    public static final String VERSION = "2.35.3";
    /** File name under the kernel's lib/js/ folder, where tools/fetch-plotly.sh puts it. */
    public static final String FILE_NAME = "plotly-" + VERSION + ".min.js";
    /** Marker in every HTML fragment that carries the library: tests and checks count it. */
    static final String LIBRARY_MARKER = "caldera4j: plotly.js " + VERSION + " inlined";

    private final Supplier<String> library;   // plotly.min.js text, read on first use
    private final String session;             // makes div ids unique across kernel sessions in one page
    private int figures;                      // figures rendered so far in this session
    private boolean libraryEmitted;

    /** {@code library} supplies the plotly.js source; it is called at most once, at the first figure. */
    public PlotlyEmbed(Supplier<String> library) {
        this.library = library;
        this.session = Long.toHexString(ThreadLocalRandom.current().nextLong() >>> 16);
    }

    /** Reads the library from a file, checking that it is plotly.js {@value #VERSION}. */
    public static PlotlyEmbed fromFile(Path js) {
        return new PlotlyEmbed(() -> readLibrary(js));
    }

    static String readLibrary(Path js) {
        if (!Files.isRegularFile(js)) {
            throw new IllegalStateException("plotly.js " + VERSION + " not found at " + js
                    + ": run tools/setup.sh (or tools/fetch-plotly.sh), which fetches it with npm into lib/js/,"
                    + " or point -D" + Caldera4jKernel.PLOTLY_PROPERTY + " at a plotly.min.js " + VERSION);
        }
        String text;
        try {
            text = Files.readString(js, StandardCharsets.UTF_8);
        } catch (IOException e) {
            throw new UncheckedIOException("cannot read plotly.js from " + js, e);
        }
        String head = text.substring(0, Math.min(text.length(), 400));
        if (!head.contains("plotly.js v" + VERSION)) {
            throw new IllegalStateException(js + " is not plotly.js " + VERSION + " (its header reads: "
                    + head.lines().limit(3).toList() + "): fetch the pinned version with tools/fetch-plotly.sh;"
                    + " plotly.js 3+ drops Tablesaw's string titles");
        }
        if (text.toLowerCase(Locale.ROOT).contains("</script")) {
            throw new IllegalStateException(js + " contains '</script', which would end the inline <script> early;"
                    + " this kernel only inlines the pinned plotly.js " + VERSION + " build, which has none");
        }
        return text;
    }

    /**
     * HTML for one figure: its div, then (first figure of the session only) plotly.js, then the
     * script that draws into the div. If plotly.js is missing from the page (the first chart's
     * output was cleared), the div says so instead of staying silently empty.
     */
    public synchronized String figureHtml(Figure figure) {
        // Tablesaw names a JavaScript variable after the div ("target_" + id): the id must be an identifier
        String div = "caldera4j_plot_" + session + "_" + (++figures);
        String drawing = scriptBody(figure.asJavascript(div), div);
        StringBuilder html = new StringBuilder(drawing.length() + 1024);
        html.append("<div id=\"").append(div).append("\" class=\"caldera4j-plot\"></div>\n");
        if (!libraryEmitted) {
            String js = library.get();
            // plotly's UMD wrapper registers itself with an AMD loader when one is present (nbconvert's
            // page template loads require.js) and then never sets window.Plotly: hide `define` while it runs.
            html.append("<script>/* ").append(LIBRARY_MARKER).append(" */\n")
                    .append("window.__caldera4jDefine = window.define; window.define = undefined;</script>\n")
                    .append("<script>").append(js).append("\n</script>\n")
                    .append("<script>window.define = window.__caldera4jDefine; delete window.__caldera4jDefine;</script>\n");
            libraryEmitted = true;
        }
        html.append("<script>(function () {\n")
                .append("if (!window.Plotly) { document.getElementById('").append(div)
                .append("').textContent = 'Chart not drawn: plotly.js is not loaded in this page."
                        + " It is inlined with the first chart of the kernel session; re-run that cell.'; return; }\n")
                .append(drawing)
                .append("\n})();</script>\n");
        return html.toString();
    }

    /** Tablesaw wraps the drawing code in a script element; keep its body to run inside a function. */
    private static String scriptBody(String script, String div) {
        int open = script.indexOf("<script>");
        int close = script.lastIndexOf("</script>");
        if (open < 0 || close < open) {
            throw new IllegalStateException("Tablesaw's Figure.asJavascript(\"" + div
                    + "\") did not return a <script> element; its template changed: adapt PlotlyEmbed.scriptBody");
        }
        // "</" inside the figure's strings (titles, labels) would end the enclosing element early
        return script.substring(open + "<script>".length(), close).replace("</", "<\\/");
    }
}
