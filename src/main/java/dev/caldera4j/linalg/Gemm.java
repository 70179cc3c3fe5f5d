package dev.caldera4j.linalg;

import org.bytedeco.openblas.global.openblas;

/**
 * Single-precision matrix products through OpenBLAS (cblas_sgemm), with a plain-Java twin
 * ({@link #matmulTransBNaive}) that tests compare against. All matrices row-major.
 */
public final class Gemm {
    private Gemm() {}

    /** Products smaller than this (in multiply-adds) stay in Java: the JNI call costs more than it saves. */
    private static final long BLAS_MIN_FLOPS = 32L * 1024;

    /**
     * -Dcaldera4j.blas=java keeps every product in plain Java (no OpenBLAS natives on the classpath):
     * for the GPU host, where the 20 MB natives jar does not fit the 64 MiB a run may carry and the
     * CPU reference only scores a few short sequences.
     */
    static final boolean JAVA_ONLY = "java".equals(System.getProperty("caldera4j.blas"));

    /** True under -Dcaldera4j.blas=java: no product touches OpenBLAS (its classes need not be on the classpath). */
    public static boolean javaOnly() {
        return JAVA_ONLY;
    }

    /**
     * C[m, n] = A[m, k] · B[n, k]ᵀ (+ C if accumulate). This is y = x·Wᵀ for a weight W (dOut, dIn).
     */
    public static void matmulTransB(float[] A, float[] B, float[] C, int m, int n, int k, boolean accumulate) {
        check(A.length >= (long) m * k && B.length >= (long) n * k && C.length >= (long) m * n,
                "matmulTransB: buffers too small for m=" + m + " n=" + n + " k=" + k);
        if (m == 0 || n == 0) return;
        if (JAVA_ONLY || (long) m * n * k < BLAS_MIN_FLOPS) {
            matmulTransBNaive(A, B, C, m, n, k, accumulate);
            return;
        }
        openblas.cblas_sgemm(openblas.CblasRowMajor, openblas.CblasNoTrans, openblas.CblasTrans,
                m, n, k, 1f, A, k, B, k, accumulate ? 1f : 0f, C, n);
    }

    /** C[m, n] = A[m, k] · B[k, n] (+ C if accumulate). */
    public static void matmul(float[] A, float[] B, float[] C, int m, int n, int k, boolean accumulate) {
        check(A.length >= (long) m * k && B.length >= (long) k * n && C.length >= (long) m * n,
                "matmul: buffers too small for m=" + m + " n=" + n + " k=" + k);
        if (m == 0 || n == 0) return;
        if (JAVA_ONLY) {
            matmulNaive(A, B, C, m, n, k, accumulate);
            return;
        }
        openblas.cblas_sgemm(openblas.CblasRowMajor, openblas.CblasNoTrans, openblas.CblasNoTrans,
                m, n, k, 1f, A, k, B, n, accumulate ? 1f : 0f, C, n);
    }

    /** Plain-Java twin of {@link #matmul}: row i of C accumulates A[i, p]·B[p, :] in p order. */
    public static void matmulNaive(float[] A, float[] B, float[] C, int m, int n, int k, boolean accumulate) {
        for (int i = 0; i < m; i++) {
            float[] row = new float[n];
            for (int p = 0; p < k; p++) {
                float a = A[i * k + p];
                if (a == 0f) continue;
                for (int j = 0; j < n; j++) row[j] += a * B[p * n + j];
            }
            for (int j = 0; j < n; j++) C[i * n + j] = accumulate ? C[i * n + j] + row[j] : row[j];
        }
    }

    /** Plain-Java twin of {@link #matmulTransB}: float accumulation in k order. */
    public static void matmulTransBNaive(float[] A, float[] B, float[] C, int m, int n, int k, boolean accumulate) {
        for (int i = 0; i < m; i++) {
            for (int j = 0; j < n; j++) {
                float s = 0f;
                int ai = i * k, bj = j * k;
                for (int p = 0; p < k; p++) s += A[ai + p] * B[bj + p];
                C[i * n + j] = accumulate ? C[i * n + j] + s : s;
            }
        }
    }

    private static void check(boolean ok, String msg) {
        if (!ok) throw new IllegalArgumentException(msg);
    }
}
