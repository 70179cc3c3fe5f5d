package dev.caldera4j.util;

import org.bytedeco.openblas.global.openblas;

import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.function.IntConsumer;
import java.util.function.IntFunction;

/**
 * Independent work items (evaluation windows, LAMBADA items, HellaSwag tasks) on all cores, each
 * worker with single-threaded OpenBLAS. Why not one item at a time with multi-threaded BLAS: the
 * items' GEMMs are small, and OpenBLAS's worker threads spin while they wait — on 2 cores one item per
 * core was measured faster, and under load several times faster. Results come back in index order, so
 * sums over them are the same as a sequential loop's.
 */
public final class Parallel {
    private Parallel() {}

    /** Workers: CALDERA4J_THREADS if set, else the available processors. */
    public static int threads() {
        String env = System.getenv("CALDERA4J_THREADS");
        if (env != null && !env.isBlank()) {
            int t = Integer.parseInt(env.trim());
            if (t < 1) throw new IllegalArgumentException("CALDERA4J_THREADS must be ≥ 1, got " + t);
            return t;
        }
        return Runtime.getRuntime().availableProcessors();
    }

    /**
     * f(0) … f(n−1) in parallel; progress (may be null) gets the number of items done, in increasing order.
     * The first exception thrown by an item is rethrown (unchecked ones as they are).
     */
    public static <T> List<T> map(int n, IntFunction<T> f, IntConsumer progress) {
        int workers = Math.min(threads(), Math.max(n, 1));
        if (workers == 1) {
            List<T> out = new ArrayList<>(n);
            for (int i = 0; i < n; i++) {
                out.add(f.apply(i));
                if (progress != null) progress.accept(i + 1);
            }
            return out;
        }
        Object[] results = new Object[n];
        AtomicInteger next = new AtomicInteger(), done = new AtomicInteger();
        // each worker runs its own products: OpenBLAS single-threaded meanwhile (not touched in plain-Java mode,
        // where the OpenBLAS classes may be absent, e.g. on the GPU host's slim classpath)
        int blasBefore = dev.caldera4j.linalg.Gemm.javaOnly() ? -1 : openblas.blas_get_num_threads();
        if (blasBefore >= 0) openblas.blas_set_num_threads(1);
        ExecutorService pool = Executors.newFixedThreadPool(workers, r -> {
            Thread t = new Thread(r, "caldera4j-worker");
            t.setDaemon(true);
            return t;
        });
        try {
            List<Future<?>> futures = new ArrayList<>();
            for (int w = 0; w < workers; w++) {
                futures.add(pool.submit(() -> {
                    for (int i = next.getAndIncrement(); i < n; i = next.getAndIncrement()) {
                        results[i] = f.apply(i);
                        if (progress != null) {
                            synchronized (progress) { // counts reach the consumer in increasing order
                                progress.accept(done.incrementAndGet());
                            }
                        }
                    }
                    return null;
                }));
            }
            for (Future<?> fu : futures) fu.get();
        } catch (ExecutionException e) {
            if (e.getCause() instanceof RuntimeException re) throw re;
            if (e.getCause() instanceof Error err) throw err;
            throw new IllegalStateException(e.getCause());
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IllegalStateException("interrupted", e);
        } finally {
            pool.shutdownNow();
            if (blasBefore >= 0) openblas.blas_set_num_threads(blasBefore);
        }
        @SuppressWarnings("unchecked")
        List<T> out = (List<T>) java.util.Arrays.asList(results);
        return out;
    }
}
