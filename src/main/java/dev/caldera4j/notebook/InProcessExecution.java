package dev.caldera4j.notebook;

import jdk.jshell.execution.DirectExecutionControl;

import java.lang.reflect.InvocationTargetException;
import java.lang.reflect.Method;
import java.util.HashMap;
import java.util.Map;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;

/**
 * Runs JShell snippets inside the kernel's own JVM and keeps the real object each snippet returns,
 * so the renderers see a {@code Table} or a {@code Figure} rather than JShell's string of it.
 *
 * <p>Why not JShell's default remote VM: its agent sends values back as strings cut at about
 * 21,800 characters and offers no channel for rich display output. The kernel JVM itself is
 * started by kernel.json with the project's flags (heap, native access, JavaCPP cache, headless),
 * so cells run under exactly those flags.
 *
 * <p>Cells run on one worker thread, never on the Jupyter shell thread: interrupting a thread that
 * is inside NIO (jeromq) closes its channel, so {@link #interrupt()} must only ever reach user code.
 */
final class InProcessExecution extends DirectExecutionControl {

    private final Map<String, Object> values = new HashMap<>(); // key handed to JShell → snippet result (may be null)
    private long nextKey;
    private final ExecutorService worker;
    private volatile Thread workerThread;
    private volatile Throwable lastFailure;

    InProcessExecution() {
        super(); // JShell's default loader delegate: snippet classes load in a child of the app class loader
        // The default delegate makes its loader the creating thread's context loader; the worker gets the same,
        // so ServiceLoader lookups from a cell also see snippet classes.
        ClassLoader snippetLoader = Thread.currentThread().getContextClassLoader();
        this.worker = Executors.newSingleThreadExecutor(task -> {
            // 8 MiB stack like the main thread: deep recursion in a cell should behave as in a plain program
            Thread t = new Thread(null, task, "caldera4j-cell", 8L << 20);
            t.setDaemon(true);
            t.setContextClassLoader(snippetLoader);
            workerThread = t;
            return t;
        });
    }

    /** Runs the snippet's "do it" method and returns a key under which its real result is kept. */
    @Override
    protected String invoke(Method doit) throws Exception {
        Object value = runOnWorker(doit);
        synchronized (values) {
            String key = "caldera4j-value-" + (++nextKey);
            values.put(key, value);
            return key;
        }
    }

    private Object runOnWorker(Method doit) throws Exception {
        lastFailure = null;
        if (Thread.currentThread() == workerThread) {
            return doit.invoke(null); // a cell that evaluates code itself: already on the worker
        }
        Future<Object> done = worker.submit(() -> {
            Thread.interrupted(); // an interrupt the previous cell ignored must not hit this one
            return doit.invoke(null);
        });
        try {
            return done.get();
        } catch (ExecutionException e) {
            Throwable cause = e.getCause();
            if (cause instanceof InvocationTargetException thrown) {
                lastFailure = thrown.getCause(); // the user's own exception, with its real class and stack
            }
            if (cause instanceof Exception ex) {
                throw ex;
            }
            if (cause instanceof Error err) {
                throw err;
            }
            throw e;
        }
    }

    /** The real object behind a key JShell reported as a snippet's value; removes it. */
    Object takeValue(String key) {
        synchronized (values) {
            if (!values.containsKey(key)) {
                throw new IllegalStateException("no kept result for JShell value '" + key
                        + "': the snippet was not executed by this kernel's execution control");
            }
            return values.remove(key);
        }
    }

    /** Drops results nobody asked for (declarations, statements) so they can be collected. */
    void clearValues() {
        synchronized (values) {
            values.clear();
        }
    }

    /** The exception the last failing snippet threw, or null; clears it. */
    Throwable takeFailure() {
        Throwable t = lastFailure;
        lastFailure = null;
        return t;
    }

    /** Interrupts the running cell. Cooperative: code that never checks its interrupt flag runs on. */
    void interrupt() {
        Thread t = workerThread;
        if (t != null) {
            t.interrupt();
        }
    }

    @Override
    public void close() {
        worker.shutdownNow();
        super.close();
    }
}
