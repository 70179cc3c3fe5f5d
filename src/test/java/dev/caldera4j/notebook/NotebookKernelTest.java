package dev.caldera4j.notebook;

import org.dflib.jjava.jupyter.kernel.BaseKernel;
import org.dflib.jjava.jupyter.kernel.display.DisplayData;
import org.dflib.jjava.jupyter.kernel.display.mime.MIMEType;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

import java.io.File;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The kernel's evaluation without Jupyter around it: values, rendering, and that every kind of
 * failure surfaces as an exception (BaseKernel turns it into an "error" execute reply, which is
 * what makes nbconvert --execute fail). The full Jupyter round trip is tools/run-notebooks.sh's job.
 */
class NotebookKernelTest {

    static {
        // Tablesaw and jjava log through slf4j, which has no provider in tests: keep its notice out of the output
        System.setProperty("slf4j.internal.verbosity", "ERROR");
    }

    static Caldera4jKernel kernel;

    @BeforeAll
    static void start() {
        // Surefire runs tests from a manifest-only jar; the real class path is in this property
        String cp = System.getProperty("surefire.test.class.path", System.getProperty("java.class.path"));
        List<Path> classPath = Arrays.stream(cp.split(File.pathSeparator)).filter(s -> !s.isBlank()).map(Path::of).toList();
        kernel = Caldera4jKernel.create(classPath, new PlotlyEmbed(() -> RichOutputTest.FAKE_PLOTLY));
    }

    @AfterAll
    static void stop() {
        kernel.onShutdown(false);
    }

    static String text(DisplayData out) {
        return (String) out.getData(MIMEType.TEXT_PLAIN);
    }

    static String html(DisplayData out) {
        return (String) out.getData(MIMEType.TEXT_HTML);
    }

    @Test
    void lastExpressionOfACellIsItsValue() {
        assertEquals("3", text(kernel.eval("1 + 2")));
        assertEquals("20", text(kernel.eval("int a = 4;\nint b = 5;\na * b")));
        assertEquals("[1, 2]", text(kernel.eval("List.of(1, 2)")), "startup imports java.util");
    }

    @Test
    void declarationsAndStatementsShowNothing() {
        assertNull(kernel.eval("int c = 1;"));
        assertNull(kernel.eval("int d = 2; System.out.flush();"));
        assertNull(kernel.eval("void hello() { }"));
        assertNull(kernel.eval("// only a comment"));
    }

    @Test
    void cellObjectsAreTheKernelsClassesSoTablesRenderAsHtml() {
        DisplayData out = kernel.eval("""
                import tech.tablesaw.api.*;
                var t = Table.create("speeds", StringColumn.create("variant", "fused", "unfused"),
                        DoubleColumn.create("us", 12.5, 19.75));
                t
                """);
        String html = html(out);
        assertTrue(html != null && html.contains(">variant</th>") && html.contains(">unfused</td>") && html.contains(">19.75</td>"),
                "expected the Table renderer's HTML, got " + out);
        // and the helpers the startup imports are there
        assertEquals(Notebook.quick(), kernel.evalRaw("quick()"), "Notebook.quick() through the startup's static import");
    }

    @Test
    void figuresRenderThroughTheKernelWithPlotlyInlinedOnce() {
        String cell = """
                tech.tablesaw.plotly.api.LinePlot.create("loss", "step", new double[]{1, 2, 3}, "loss", new double[]{3, 2, 1})
                """;
        String first = html(kernel.eval(cell));
        String second = html(kernel.eval(cell));
        int inFirst = first.split(java.util.regex.Pattern.quote(RichOutputTest.FAKE_PLOTLY), -1).length - 1;
        int inSecond = second.split(java.util.regex.Pattern.quote(RichOutputTest.FAKE_PLOTLY), -1).length - 1;
        // the only test of this class that draws figures: its first is the session's first
        assertEquals(1, inFirst, "library in the session's first figure");
        assertEquals(0, inSecond, "library not repeated");
        assertTrue(second.contains("Plotly.newPlot"), second);
    }

    @Test
    void compileErrorIsAnExceptionNamingTheProblem() {
        Caldera4jKernel.CompilationError e = assertThrows(Caldera4jKernel.CompilationError.class,
                () -> kernel.eval("int y = undefinedName + 1;"));
        assertTrue(e.getMessage().contains("cannot find symbol") && e.getMessage().contains("undefinedName"), e.getMessage());
        assertTrue(e.getMessage().contains("^^^^^^^^^^^^^"), "marks the symbol:\n" + e.getMessage());
        assertEquals(e.getMessage().lines().toList(), kernel.formatError(e));
        assertEquals(0, e.getStackTrace().length, "no kernel frames in the execute reply");
    }

    @Test
    void userExceptionKeepsItsClassAndAStackCutAtTheCell() {
        kernel.eval("int boom(int x) { if (x > 2) throw new IllegalStateException(\"too big: \" + x); return x; }");
        IllegalStateException e = assertThrows(IllegalStateException.class, () -> kernel.eval("boom(1) + boom(3)"));
        assertEquals("too big: 3", e.getMessage());
        List<String> lines = kernel.formatError(e);
        assertEquals("java.lang.IllegalStateException: too big: 3", lines.get(0));
        assertTrue(lines.stream().anyMatch(l -> l.contains("boom")), String.join("\n", lines));
        assertTrue(lines.stream().noneMatch(l -> l.contains("InProcessExecution") || l.contains("reflect")),
                "kernel frames are cut:\n" + String.join("\n", lines));
        StackTraceElement[] frames = e.getStackTrace();
        assertTrue(frames.length >= 2 && frames[frames.length - 1].getClassName().startsWith("REPL."),
                "the execute reply's traceback (top frames) ends at the cell: " + Arrays.toString(frames));
    }

    @Test
    void checkedExceptionsAndErrorsAreWrappedWithTheirCause() {
        Caldera4jKernel.CellFailure e = assertThrows(Caldera4jKernel.CellFailure.class,
                () -> kernel.eval("throw new java.io.IOException(\"disk full\");"));
        assertInstanceOf(java.io.IOException.class, e.getCause());
        assertTrue(e.getMessage().contains("disk full"), e.getMessage());
        assertTrue(Arrays.stream(e.getStackTrace()).allMatch(f -> f.getClassName().startsWith("REPL.")),
                "reply traceback is the cell's: " + Arrays.toString(e.getStackTrace()));

        Caldera4jKernel.CellFailure so = assertThrows(Caldera4jKernel.CellFailure.class,
                () -> kernel.eval("int down(int n) { return down(n + 1) + 1; }\ndown(0)"));
        assertInstanceOf(StackOverflowError.class, so.getCause());
        assertEquals("7", text(kernel.eval("3 + 4")), "the kernel still works after an Error");
    }

    @Test
    void aFailingSnippetStopsTheRestOfTheCell() {
        assertThrows(RuntimeException.class, () -> kernel.eval("int k = 1;\nif (k == 1) throw new RuntimeException(\"stop\");\nk = 2;"));
        assertEquals("1", text(kernel.eval("k")));
    }

    @Test
    void unfinishedCodeIsAnError() {
        Caldera4jKernel.IncompleteInput e = assertThrows(Caldera4jKernel.IncompleteInput.class,
                () -> kernel.eval("for (int i = 0; i < 3; i++) {"));
        assertTrue(e.getMessage().contains("for (int i = 0"), e.getMessage());
        assertEquals(BaseKernel.IS_COMPLETE_YES, kernel.isComplete("int q = 1;"));
        assertEquals("    ", kernel.isComplete("for (int i = 0; i < 3; i++) {"));
    }

    @Test
    void usingAnUndefinedMethodFailsWhenCalled() {
        kernel.eval("int later() { return notYetDefined(); }");
        Caldera4jKernel.CellFailure e = assertThrows(Caldera4jKernel.CellFailure.class, () -> kernel.eval("later()"));
        assertTrue(e.getMessage().contains("notYetDefined"), e.getMessage());
    }

    @Test
    void displayOutsideAKernelSaysWhy() {
        IllegalStateException e = assertThrows(IllegalStateException.class, () -> Notebook.display("x"));
        assertTrue(e.getMessage().contains("caldera4j kernel"), e.getMessage());
    }

    @Test
    void quickModeReadsTheEnvironmentValue() {
        assertTrue(Notebook.quick("1"));
        assertTrue(Notebook.quick("yes"));
        assertFalse(Notebook.quick(null));
        assertFalse(Notebook.quick(" 0 "));
        assertFalse(Notebook.quick("false"));
        assertFalse(Notebook.quick(""));
    }
}
