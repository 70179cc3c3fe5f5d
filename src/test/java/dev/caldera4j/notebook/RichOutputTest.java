package dev.caldera4j.notebook;

import org.dflib.jjava.jupyter.kernel.display.DisplayData;
import org.dflib.jjava.jupyter.kernel.display.Renderer;
import org.dflib.jjava.jupyter.kernel.display.mime.MIMEType;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import tech.tablesaw.api.DoubleColumn;
import tech.tablesaw.api.IntColumn;
import tech.tablesaw.api.StringColumn;
import tech.tablesaw.api.Table;
import tech.tablesaw.plotly.api.LinePlot;
import tech.tablesaw.plotly.components.Figure;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

class RichOutputTest {

    static {
        // Tablesaw logs through slf4j, which has no provider in tests: keep its notice out of the output
        System.setProperty("slf4j.internal.verbosity", "ERROR");
    }

    /** Stands in for plotly.min.js: unique text whose occurrences can be counted. */
    static final String FAKE_PLOTLY = "/* plotly.js v" + PlotlyEmbed.VERSION + " (test stand-in) */ window.Plotly = {newPlot: function () {}};";

    static Table results() {
        return Table.create("quick <results>",
                StringColumn.create("method", "rtn", "gptq", "caldera & co"),
                IntColumn.create("bq", 2, 2, 2),
                DoubleColumn.create("ppl_wikitext2", 41.25, 23.5, 19.75));
    }

    static Figure line(String title) {
        return LinePlot.create(title, "step", new double[]{1, 2, 3}, "loss", new double[]{3.0, 2.5, 2.25});
    }

    static int count(String text, String part) {
        int n = 0;
        for (int i = text.indexOf(part); i >= 0; i = text.indexOf(part, i + part.length())) {
            n++;
        }
        return n;
    }

    @Test
    void tableHtmlHasEscapedNamesValuesAndShape() {
        String html = RichOutput.tableHtml(results(), 60);
        for (String header : new String[]{"<th style=\"text-align:left\">method</th>", "<th style=\"text-align:right\">bq</th>",
                "<th style=\"text-align:right\">ppl_wikitext2</th>"}) {
            assertTrue(html.contains(header), header + " missing in:\n" + html);
        }
        assertTrue(html.contains(">gptq</td>"), html);
        assertTrue(html.contains(">caldera &amp; co</td>"), "& must be escaped:\n" + html);
        assertTrue(html.contains(">23.5</td>"), html);
        assertTrue(html.contains("<b>quick &lt;results&gt;</b> 3 rows × 3 columns"), html);
        assertFalse(html.contains("<results>"), "table name must be escaped");
        assertEquals(3, count(html, "<tr><td"), "one body row per table row");
    }

    @Test
    void tableHtmlCutsLongTablesAndSaysSo() {
        Table t = Table.create("long", IntColumn.create("i", java.util.stream.IntStream.range(0, 101).toArray()));
        String html = RichOutput.tableHtml(t, 7);
        assertEquals(7, count(html, "<tr><td"));
        assertTrue(html.contains("101 rows × 1 column (first 7 shown)"), html);
        assertTrue(html.contains(">6</td>") && !html.contains(">7</td>"), html);
        assertThrows(IllegalArgumentException.class, () -> RichOutput.tableHtml(t, 0));
    }

    @Test
    void rendererShowsTableAsHtmlWithTextFallback() {
        Renderer renderer = new Renderer();
        RichOutput.register(renderer, new PlotlyEmbed(() -> FAKE_PLOTLY));
        DisplayData out = renderer.render(results());
        String html = (String) out.getData(MIMEType.TEXT_HTML);
        assertTrue(html.contains("ppl_wikitext2") && html.contains("caldera &amp; co"), html);
        String text = (String) out.getData(MIMEType.TEXT_PLAIN);
        assertTrue(text.contains("ppl_wikitext2") && text.contains("gptq"), text);
    }

    @Test
    void plotlyIsInlinedOnceAcrossFiguresAndEachFigureDrawsIntoItsOwnDiv() {
        AtomicInteger reads = new AtomicInteger();
        Renderer renderer = new Renderer();
        RichOutput.register(renderer, new PlotlyEmbed(() -> {
            reads.incrementAndGet();
            return FAKE_PLOTLY;
        }));
        String first = (String) renderer.render(line("first")).getData(MIMEType.TEXT_HTML);
        String second = (String) renderer.render(line("second")).getData(MIMEType.TEXT_HTML);

        assertEquals(1, count(first + second, FAKE_PLOTLY), "library text once across both figures");
        assertEquals(1, count(first, PlotlyEmbed.LIBRARY_MARKER));
        assertEquals(0, count(second, PlotlyEmbed.LIBRARY_MARKER));
        assertEquals(1, reads.get(), "library read once");

        String firstDiv = divId(first);
        String secondDiv = divId(second);
        assertNotEquals(firstDiv, secondDiv);
        assertTrue(first.contains("document.getElementById('" + firstDiv + "')"), first.substring(0, 300));
        assertTrue(second.contains("document.getElementById('" + secondDiv + "')"), second);
        assertTrue(second.contains("Plotly.newPlot"), second);
        assertTrue(second.contains("title: 'second'") && !second.contains("title: 'first'"), "each figure carries its own title");
        // the library is inlined before the first drawing script runs
        assertTrue(first.indexOf(FAKE_PLOTLY) < first.indexOf("Plotly.newPlot"));
    }

    @Test
    void figureTextCannotCloseTheScriptEarly() {
        PlotlyEmbed plotly = new PlotlyEmbed(() -> FAKE_PLOTLY);
        plotly.figureHtml(line("warm-up"));
        String html = plotly.figureHtml(line("a </script><b>title"));
        assertEquals(1, count(html, "</script>"), "only the drawing script's own end tag:\n" + html);
    }

    @Test
    void libraryFileIsCheckedForPresenceAndVersion(@TempDir Path dir) throws Exception {
        Path missing = dir.resolve("nothing.js");
        IllegalStateException e = assertThrows(IllegalStateException.class, () -> PlotlyEmbed.readLibrary(missing));
        assertTrue(e.getMessage().contains(missing.toString()) && e.getMessage().contains("tools/setup.sh"), e.getMessage());

        Path v3 = Files.writeString(dir.resolve("v3.js"), "/**\n* plotly.js v3.0.1\n*/\nwindow.Plotly={};");
        e = assertThrows(IllegalStateException.class, () -> PlotlyEmbed.readLibrary(v3));
        assertTrue(e.getMessage().contains("not plotly.js " + PlotlyEmbed.VERSION), e.getMessage());

        Path good = Files.writeString(dir.resolve("good.js"), FAKE_PLOTLY);
        assertEquals(FAKE_PLOTLY, PlotlyEmbed.readLibrary(good));

        // a figure whose library cannot be read fails the cell instead of drawing nothing
        PlotlyEmbed broken = PlotlyEmbed.fromFile(missing);
        assertThrows(IllegalStateException.class, () -> broken.figureHtml(line("x")));
    }

    private static String divId(String html) {
        Matcher m = Pattern.compile("<div id=\"([^\"]+)\"").matcher(html);
        assertTrue(m.find(), "no div in:\n" + html);
        return m.group(1);
    }
}
