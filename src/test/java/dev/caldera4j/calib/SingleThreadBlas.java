package dev.caldera4j.calib;

import org.bytedeco.openblas.global.openblas;
import org.junit.jupiter.api.extension.AfterAllCallback;
import org.junit.jupiter.api.extension.BeforeAllCallback;
import org.junit.jupiter.api.extension.ExtensionContext;

/**
 * Runs a test class with one OpenBLAS thread, restoring the previous count afterwards. Why: the
 * calibration tests make thousands of small BLAS/LAPACK calls; on a shared, oversubscribed
 * machine OpenBLAS's spinning worker threads made them 5–15× slower (GPTQ on the tiny model:
 * 16 s with 2 threads under load, 1.2 s with 1), and the results are the same bits either way.
 */
public final class SingleThreadBlas implements BeforeAllCallback, AfterAllCallback {
    private int before;

    @Override
    public void beforeAll(ExtensionContext context) {
        before = openblas.blas_get_num_threads();
        openblas.blas_set_num_threads(1);
    }

    @Override
    public void afterAll(ExtensionContext context) {
        openblas.blas_set_num_threads(before);
    }
}
