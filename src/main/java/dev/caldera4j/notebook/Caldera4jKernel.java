package dev.caldera4j.notebook;

import jdk.jshell.DeclarationSnippet;
import jdk.jshell.Diag;
import jdk.jshell.JShell;
import jdk.jshell.JShellException;
import jdk.jshell.Snippet;
import jdk.jshell.SnippetEvent;
import jdk.jshell.SourceCodeAnalysis;
import jdk.jshell.UnresolvedReferenceException;
import jdk.jshell.spi.ExecutionControl;
import jdk.jshell.spi.ExecutionControlProvider;
import jdk.jshell.spi.ExecutionEnv;
import org.dflib.jjava.jupyter.channels.JupyterConnection;
import org.dflib.jjava.jupyter.kernel.BaseKernel;
import org.dflib.jjava.jupyter.kernel.BaseKernelBuilder;
import org.dflib.jjava.jupyter.kernel.HelpLink;
import org.dflib.jjava.jupyter.kernel.JupyterIO;
import org.dflib.jjava.jupyter.kernel.KernelConnectionProperties;
import org.dflib.jjava.jupyter.kernel.LanguageInfo;
import org.dflib.jjava.jupyter.kernel.ReplacementOptions;
import org.dflib.jjava.jupyter.kernel.comm.CommManager;
import org.dflib.jjava.jupyter.kernel.display.DisplayData;
import org.dflib.jjava.jupyter.kernel.display.Renderer;
import org.dflib.jjava.jupyter.kernel.magic.MagicsRegistry;
import org.dflib.jjava.jupyter.kernel.util.StringStyler;

import java.io.File;
import java.io.IOException;
import java.net.URISyntaxException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashSet;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Set;
import java.util.stream.Collectors;
import java.util.stream.Stream;

/**
 * The caldera4j Jupyter kernel: jjava-jupyter's {@link BaseKernel} (Jupyter messaging over jeromq)
 * with cells evaluated by JShell inside this JVM ({@link InProcessExecution}), a class path of the
 * project jar and its runtime jars (lib/), and renderers for Tablesaw tables and figures.
 *
 * <p>Started by Jupyter through the kernel spec that tools/install-kernel.sh writes:
 * {@code java <project flags> -Dcaldera4j.lib=<project>/lib -cp '<project>/lib/*' dev.caldera4j.notebook.Caldera4jKernel <connection file>}.
 * A cell that does not compile or throws ends with an error reply, so {@code nbconvert --execute} fails.
 */
public final class Caldera4jKernel extends BaseKernel {

    /** Folder of the project jar and its runtime jars; default: the folder of the jar holding this class. */
    public static final String LIB_PROPERTY = "caldera4j.lib";
    /** plotly.min.js to inline; default: {@code <lib>/js/plotly-2.35.3.min.js}. */
    public static final String PLOTLY_PROPERTY = "caldera4j.plotly.js";

    /** Run before the first cell: JShell's usual imports plus the notebook helpers (display, quick). */
    static final List<String> STARTUP = List.of(
            "import java.io.*;",
            "import java.math.*;",
            "import java.nio.file.*;",
            "import java.util.*;",
            "import java.util.function.*;",
            "import java.util.stream.*;",
            "import static dev.caldera4j.notebook.Notebook.*;");

    private static volatile Caldera4jKernel running; // the kernel of this JVM, once started

    private final JShell shell;
    private final InProcessExecution execution;

    private Caldera4jKernel(JupyterIO io, CommManager comms, Renderer renderer, MagicsRegistry magics,
                            StringStyler errorStyler, List<Path> classPath, PlotlyEmbed plotly) {
        super("caldera4j", version(),
                new LanguageInfo("java", Runtime.version().toString(), "text/x-java-source", ".jshell",
                        "java", "java", "script"),
                List.<HelpLink>of(),
                null, io, comms, renderer, null, magics, false, errorStyler);
        this.execution = new InProcessExecution();
        this.shell = JShell.builder()
                .executionEngine(new Provider(execution), Map.of())
                .build();
        String cp = classPath.stream().map(Path::toString).collect(Collectors.joining(File.pathSeparator));
        if (!cp.isEmpty()) {
            shell.addToClasspath(cp);
        }
        for (String line : STARTUP) {
            evalRaw(line);
        }
        RichOutput.register(renderer, plotly);
    }

    /**
     * A kernel whose cells compile and run against {@code classPath} (the same classes must also be
     * on this JVM's class path, so a cell's Table is the renderer's Table); not connected to Jupyter.
     */
    public static Caldera4jKernel create(List<Path> classPath, PlotlyEmbed plotly) {
        return new Parts(classPath, plotly).build();
    }

    /** Entry point named in kernel.json: {@code Caldera4jKernel <connection file>}. */
    public static void main(String[] args) throws Exception {
        // jjava logs through slf4j and lib/ has no provider: keep slf4j's "no providers" notice out of the kernel log
        if (System.getProperty("slf4j.internal.verbosity") == null) {
            System.setProperty("slf4j.internal.verbosity", "ERROR");
        }
        if (args.length != 1) {
            throw new IllegalArgumentException("usage: Caldera4jKernel <connection-file>, got " + Arrays.toString(args)
                    + ": Jupyter passes {connection_file}; install the kernel spec with tools/install-kernel.sh");
        }
        Path connectionFile = Path.of(args[0]);
        if (!Files.isRegularFile(connectionFile)) {
            throw new IllegalArgumentException("connection file " + connectionFile
                    + " does not exist: the kernel is started by Jupyter, which writes it (see tools/install-kernel.sh)");
        }
        exitWithParent();
        Path lib = libDir();
        Path plotly = System.getProperty(PLOTLY_PROPERTY) != null
                ? Path.of(System.getProperty(PLOTLY_PROPERTY))
                : lib.resolve("js").resolve(PlotlyEmbed.FILE_NAME);
        Caldera4jKernel kernel = create(jars(lib), PlotlyEmbed.fromFile(plotly));
        JupyterConnection connection = new JupyterConnection(KernelConnectionProperties.parse(Files.readString(connectionFile)));
        kernel.becomeHandlerForConnection(connection);
        kernel.onStartup();
        connection.connect();
        connection.waitUntilClose();
        // a cell may have left non-daemon threads running; the kernel process must still end on shutdown
        System.exit(0);
    }

    /**
     * Ends this JVM when the Jupyter process that started it ends (it passes its pid as JPY_PARENT_PID):
     * a killed nbconvert, or a CI job cut off by its time limit, must not leave a 6 GiB kernel behind.
     */
    private static void exitWithParent() {
        String parent = System.getenv("JPY_PARENT_PID");
        if (parent == null || !parent.matches("\\d+")) {
            return;
        }
        ProcessHandle.of(Long.parseLong(parent)).ifPresentOrElse(
                p -> p.onExit().thenRun(() -> {
                    System.err.println("caldera4j kernel: Jupyter process " + parent + " has ended; exiting");
                    System.exit(1);
                }),
                () -> {
                    System.err.println("caldera4j kernel: Jupyter process " + parent + " is already gone; exiting");
                    System.exit(1);
                });
    }

    /** The kernel running in this JVM, or null outside a notebook. */
    static Caldera4jKernel running() {
        return running;
    }

    @Override
    public void onStartup() {
        super.onStartup();
        running = this;
    }

    @Override
    public void onShutdown(boolean isRestarting) {
        super.onShutdown(isRestarting);
        running = null;
        shell.close();
        execution.close();
    }

    @Override
    public void interrupt() {
        execution.interrupt();
    }

    /**
     * Evaluates a cell: every complete snippet in order, stopping at the first that does not compile
     * or throws. Returns the value of the last snippet when it is an expression, else null.
     */
    @Override
    public Object evalRaw(String code) {
        try {
            SourceCodeAnalysis analysis = shell.sourceCodeAnalysis();
            SourceCodeAnalysis.CompletionInfo info = analysis.analyzeCompletion(code);
            Object last = null;
            while (info.completeness().isComplete()) {
                last = evalSnippet(info.source());
                info = analysis.analyzeCompletion(info.remaining());
            }
            switch (info.completeness()) {
                case EMPTY -> {
                    return last;
                }
                // not Java JShell can classify: compile it anyway, so the error carries javac's diagnostics
                case UNKNOWN -> {
                    evalSnippet(info.remaining()); // throws CompilationError with javac's diagnostics
                    throw new CompilationError("JShell cannot split the rest of the cell into statements:\n"
                            + info.remaining().strip());
                }
                default -> throw new IncompleteInput("the cell ends inside an unfinished statement"
                        + " (missing ';', '}' or ')'?):\n" + info.remaining().strip());
            }
        } finally {
            execution.clearValues();
        }
    }

    private Object evalSnippet(String source) {
        List<SnippetEvent> events = shell.eval(source);
        Object value = null;
        for (SnippetEvent event : events) {
            if (event.causeSnippet() != null) {
                continue; // a dependent snippet updated by this one, not this one's own outcome
            }
            Snippet snippet = event.snippet();
            if (event.status() == Snippet.Status.REJECTED) {
                throw compilationError(snippet);
            }
            JShellException thrown = event.exception();
            if (thrown != null) {
                throw failure(thrown);
            }
            if (event.status() == Snippet.Status.RECOVERABLE_DEFINED
                    || event.status() == Snippet.Status.RECOVERABLE_NOT_DEFINED) {
                // legal in JShell (define it later), but worth a visible note in the notebook
                io.err.println("note: " + snippetName(snippet) + " refers to "
                        + shell.unresolvedDependencies((DeclarationSnippet) snippet).toList()
                        + ", not defined yet; it cannot be used until they are");
            }
            if (event.value() != null && isExpression(snippet.subKind())) {
                value = execution.takeValue(event.value());
            }
        }
        return value;
    }

    private static boolean isExpression(Snippet.SubKind kind) {
        return kind == Snippet.SubKind.TEMP_VAR_EXPRESSION_SUBKIND
                || kind == Snippet.SubKind.VAR_VALUE_SUBKIND
                || kind == Snippet.SubKind.OTHER_EXPRESSION_SUBKIND;
    }

    /**
     * The exception that reports a snippet's failure. Its stack is cut at the cell: jjava puts the
     * top exception's frames into the execute reply, which is what nbconvert prints on failure.
     */
    private RuntimeException failure(JShellException thrown) {
        Throwable real = execution.takeFailure();
        if (thrown instanceof UnresolvedReferenceException unresolved) {
            DeclarationSnippet s = unresolved.getSnippet();
            CellFailure failure = new CellFailure(snippetName(s) + " cannot run: it uses "
                    + shell.unresolvedDependencies(s).toList() + ", which are not defined; define them in an earlier cell", null);
            failure.setStackTrace(new StackTraceElement[0]); // the message says it all; kernel frames would not
            return failure;
        }
        if (real == null) {
            return new CellFailure(thrown.toString(), thrown);
        }
        cutAtCell(real);
        if (real instanceof RuntimeException runtime) {
            return runtime; // the user's own exception: its class names the error in the notebook
        }
        CellFailure wrapped = new CellFailure(real.toString(), real);
        wrapped.setStackTrace(real.getStackTrace());
        return wrapped;
    }

    /**
     * Drops, from {@code t} and its causes, the frames below the last frame of cell code (JShell's
     * {@code REPL.$JShell$N} classes): reflection, the worker thread and the kernel are noise to a reader.
     */
    static void cutAtCell(Throwable t) {
        Set<Throwable> seen = new HashSet<>();
        for (Throwable c = t; c != null && seen.add(c); c = c.getCause()) {
            StackTraceElement[] frames = c.getStackTrace();
            for (int i = frames.length - 1; i >= 0; i--) {
                if (frames[i].getClassName().startsWith("REPL.")) {
                    c.setStackTrace(Arrays.copyOf(frames, i + 1));
                    break;
                }
            }
        }
    }

    private CompilationError compilationError(Snippet snippet) {
        String source = snippet.source();
        StringBuilder msg = new StringBuilder("the cell does not compile:\n");
        List<Diag> diags = shell.diagnostics(snippet).toList();
        for (Diag d : diags) {
            // javac's "location:" line names JShell's wrapper class, which means nothing to the reader
            String text = d.getMessage(Locale.ROOT).lines().filter(l -> !l.strip().startsWith("location:"))
                    .collect(Collectors.joining("\n")).strip();
            msg.append(d.isError() ? "error: " : "warning: ").append(text).append('\n');
            int start = (int) d.getStartPosition();
            if (start >= 0 && start <= source.length()) {
                int lineStart = source.lastIndexOf('\n', start - 1) + 1;
                int lineEnd = source.indexOf('\n', start);
                if (lineEnd < 0) {
                    lineEnd = source.length();
                }
                int end = (int) Math.min(Math.max(d.getEndPosition(), start + 1), lineEnd);
                msg.append("    ").append(source, lineStart, lineEnd).append('\n')
                        .append("    ").append(" ".repeat(start - lineStart)).append("^".repeat(Math.max(1, end - start))).append('\n');
            }
        }
        if (diags.isEmpty()) {
            msg.append("(JShell gave no diagnostics)\n    ").append(source.strip()).append('\n');
        }
        return new CompilationError(msg.toString().stripTrailing());
    }

    private static String snippetName(Snippet snippet) {
        return snippet instanceof DeclarationSnippet d ? d.kind().name().toLowerCase(Locale.ROOT) + " " + d.name()
                : "snippet '" + snippet.source().strip() + "'";
    }

    /** Compile errors and incomplete input read best as their message; exceptions as their stack trace. */
    @Override
    public List<String> formatError(Throwable e) {
        if (e instanceof CompilationError || e instanceof IncompleteInput) {
            return e.getMessage().lines().toList();
        }
        return stackLines(e);
    }

    /** The stack trace of {@code t} and its causes, one line per frame as Jupyter wants it. */
    static List<String> stackLines(Throwable t) {
        List<String> lines = new ArrayList<>();
        Set<Throwable> seen = new HashSet<>();
        String prefix = "";
        for (Throwable c = t; c != null && seen.add(c); c = c.getCause()) {
            lines.add(prefix + c);
            for (StackTraceElement frame : c.getStackTrace()) {
                lines.add("\tat " + frame);
            }
            prefix = "Caused by: ";
        }
        return lines;
    }

    @Override
    public DisplayData inspect(String code, int at, boolean extraDetail) {
        List<SourceCodeAnalysis.Documentation> docs = shell.sourceCodeAnalysis().documentation(code, at, true);
        if (docs == null || docs.isEmpty()) {
            return null;
        }
        return new DisplayData(docs.stream()
                .map(d -> d.javadoc() == null ? d.signature() : d.signature() + "\n" + d.javadoc())
                .collect(Collectors.joining("\n\n")));
    }

    @Override
    public ReplacementOptions complete(String code, int at) {
        int[] anchor = new int[1];
        List<String> options = shell.sourceCodeAnalysis().completionSuggestions(code, at, anchor).stream()
                .map(SourceCodeAnalysis.Suggestion::continuation)
                .distinct()
                .toList();
        return options.isEmpty() ? null : new ReplacementOptions(options, anchor[0], at);
    }

    @Override
    public String isComplete(String code) {
        SourceCodeAnalysis analysis = shell.sourceCodeAnalysis();
        SourceCodeAnalysis.CompletionInfo info = analysis.analyzeCompletion(code);
        while (info.completeness().isComplete()) {
            info = analysis.analyzeCompletion(info.remaining());
        }
        return switch (info.completeness()) {
            case EMPTY, COMPLETE, COMPLETE_WITH_SEMI -> IS_COMPLETE_YES;
            case UNKNOWN -> IS_COMPLETE_BAD;
            case DEFINITELY_INCOMPLETE, CONSIDERED_INCOMPLETE -> "    ";
        };
    }

    /** lib/: the {@value #LIB_PROPERTY} property, else the folder of the jar this class was loaded from. */
    static Path libDir() {
        String configured = System.getProperty(LIB_PROPERTY);
        if (configured != null) {
            Path lib = Path.of(configured);
            if (!Files.isDirectory(lib)) {
                throw new IllegalStateException("-D" + LIB_PROPERTY + "=" + configured
                        + " is not a directory: run `mvn package` (it fills lib/) or fix the kernel spec with tools/install-kernel.sh");
            }
            return lib;
        }
        try {
            Path jar = Path.of(Caldera4jKernel.class.getProtectionDomain().getCodeSource().getLocation().toURI());
            return jar.getParent();
        } catch (URISyntaxException e) {
            throw new IllegalStateException("cannot locate lib/ from this class's code source; set -D" + LIB_PROPERTY, e);
        }
    }

    /** The jars of a lib/ folder, sorted so the class path is the same on every machine. */
    static List<Path> jars(Path lib) throws IOException {
        try (Stream<Path> files = Files.list(lib)) {
            List<Path> jars = files.filter(p -> p.getFileName().toString().endsWith(".jar")).sorted().toList();
            if (jars.stream().noneMatch(p -> p.getFileName().toString().equals("caldera4j.jar"))) {
                throw new IllegalStateException(lib + " has no caldera4j.jar: run `mvn -DskipTests package`, which copies"
                        + " the project jar and its runtime jars there");
            }
            return jars;
        }
    }

    private static String version() {
        String v = Caldera4jKernel.class.getPackage().getImplementationVersion();
        return v != null ? v : "dev";
    }

    /** A cell's code does not compile; the message holds javac's diagnostics with the offending line. */
    public static final class CompilationError extends RuntimeException {
        CompilationError(String message) {
            super(message, null, false, false); // no stack: the kernel's frames say nothing about the cell
        }
    }

    /** A cell ends in the middle of a statement. */
    public static final class IncompleteInput extends RuntimeException {
        IncompleteInput(String message) {
            super(message, null, false, false); // no stack: the kernel's frames say nothing about the cell
        }
    }

    /** A cell threw something that is not a RuntimeException (checked exception, Error, unresolved reference). */
    public static final class CellFailure extends RuntimeException {
        CellFailure(String message, Throwable cause) {
            super(message, cause);
        }
    }

    /** Hands JShell this kernel's in-process execution control. */
    private record Provider(InProcessExecution control) implements ExecutionControlProvider {
        @Override
        public String name() {
            return "caldera4j-in-process";
        }

        @Override
        public ExecutionControl generate(ExecutionEnv env, Map<String, String> parameters) {
            return control;
        }
    }

    /** jjava's defaults for the parts this kernel does not change (UTF-8 Jupyter streams, error styling). */
    private static final class Parts extends BaseKernelBuilder<Parts, Caldera4jKernel> {
        private final List<Path> classPath;
        private final PlotlyEmbed plotly;

        Parts(List<Path> classPath, PlotlyEmbed plotly) {
            this.classPath = classPath;
            this.plotly = plotly;
        }

        @Override
        public Caldera4jKernel build() {
            return new Caldera4jKernel(buildJupyterIO(buildJupyterIOEncoding()), buildCommManager(), buildRenderer(),
                    buildMagicsRegistry(), buildErrorStyler(), classPath, plotly);
        }
    }
}
