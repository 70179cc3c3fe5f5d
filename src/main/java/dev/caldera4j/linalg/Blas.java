package dev.caldera4j.linalg;

import org.bytedeco.openblas.global.openblas;

/**
 * Float64 BLAS-3 on {@link DMatrix} operands through OpenBLAS (no copies: see DMatrix), with
 * plain-Java twins. Row-major throughout; operands are addressed as (matrix, element offset,
 * leading dimension) so that sub-blocks can be used in place, exactly as in BLAS.
 */
public final class Blas {
    private Blas() {}

    /**
     * C = alpha·op(A)·op(B) + beta·C with op(A) (m, k), op(B) (k, n), C (m, n); A starts at element
     * offA of matrix A with row stride lda, etc.
     */
    public static void dgemm(boolean transA, boolean transB, int m, int n, int k, double alpha,
                             DMatrix A, long offA, int lda, DMatrix B, long offB, int ldb,
                             double beta, DMatrix C, long offC, int ldc) {
        checkBlock("dgemm A", A, offA, transA ? k : m, transA ? m : k, lda);
        checkBlock("dgemm B", B, offB, transB ? n : k, transB ? k : n, ldb);
        checkBlock("dgemm C", C, offC, m, n, ldc);
        if (m == 0 || n == 0) return;
        openblas.cblas_dgemm(openblas.CblasRowMajor, transA ? openblas.CblasTrans : openblas.CblasNoTrans,
                transB ? openblas.CblasTrans : openblas.CblasNoTrans, m, n, k, alpha,
                A.pointer(offA), lda, B.pointer(offB), ldb, beta, C.pointer(offC), ldc);
    }

    /** Plain-Java twin of {@link #dgemm}: double accumulation in k order. */
    public static void dgemmNaive(boolean transA, boolean transB, int m, int n, int k, double alpha,
                                  DMatrix A, long offA, int lda, DMatrix B, long offB, int ldb,
                                  double beta, DMatrix C, long offC, int ldc) {
        for (int i = 0; i < m; i++) {
            for (int j = 0; j < n; j++) {
                double s = 0;
                for (int p = 0; p < k; p++) {
                    double a = transA ? A.at(offA + (long) p * lda + i) : A.at(offA + (long) i * lda + p);
                    double b = transB ? B.at(offB + (long) j * ldb + p) : B.at(offB + (long) p * ldb + j);
                    s += a * b;
                }
                long c = offC + (long) i * ldc + j;
                C.setAt(c, alpha * s + (beta == 0 ? 0 : beta * C.at(c)));
            }
        }
    }

    /**
     * Lower triangle of C (n, n) = alpha·Aᵀ·A + beta·C, with A (k, n) at offA, row stride lda.
     * The strict upper triangle of C is not touched.
     */
    public static void dsyrkLowerTrans(int n, int k, double alpha, DMatrix A, long offA, int lda,
                                       double beta, DMatrix C, long offC, int ldc) {
        checkBlock("dsyrk A", A, offA, k, n, lda);
        checkBlock("dsyrk C", C, offC, n, n, ldc);
        if (n == 0) return;
        openblas.cblas_dsyrk(openblas.CblasRowMajor, openblas.CblasLower, openblas.CblasTrans, n, k, alpha,
                A.pointer(offA), lda, beta, C.pointer(offC), ldc);
    }

    /** Plain-Java twin of {@link #dsyrkLowerTrans}. */
    public static void dsyrkLowerTransNaive(int n, int k, double alpha, DMatrix A, long offA, int lda,
                                            double beta, DMatrix C, long offC, int ldc) {
        for (int i = 0; i < n; i++) {
            for (int j = 0; j <= i; j++) {
                double s = 0;
                for (int p = 0; p < k; p++) s += A.at(offA + (long) p * lda + i) * A.at(offA + (long) p * lda + j);
                long c = offC + (long) i * ldc + j;
                C.setAt(c, alpha * s + (beta == 0 ? 0 : beta * C.at(c)));
            }
        }
    }

    /** Checks that a (rows, cols) block at offset off with row stride ld lies inside M. */
    private static void checkBlock(String what, DMatrix M, long off, int rows, int cols, int ld) {
        if (rows < 0 || cols < 0 || off < 0 || (cols > 0 && ld < cols) || ld < 1)
            throw new IllegalArgumentException(what + ": bad block (" + rows + ", " + cols + ") at offset " + off
                    + " with leading dimension " + ld);
        long size = (long) M.rows * M.cols;
        long last = rows == 0 || cols == 0 ? off : off + (long) (rows - 1) * ld + cols;
        if (last > size)
            throw new IllegalArgumentException(what + ": block (" + rows + ", " + cols + ") at offset " + off
                    + " with leading dimension " + ld + " ends at element " + last + " beyond the matrix ("
                    + M.rows + ", " + M.cols + ") = " + size + " elements");
    }
}
