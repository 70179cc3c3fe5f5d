package dev.caldera4j.linalg;

import static org.junit.jupiter.api.Assertions.*;

import java.util.Random;
import org.junit.jupiter.api.Test;

class LapackSvdTest {
    /** dgesdd vs the Jacobi-on-Gram twin: singular values of these well-conditioned matrices agree to ~1e-13 of σ_max (the twin squares the condition number). */
    static final double SIGMA_TOL = 1e-10;
    /** Reconstruction U·S·Vt − A and orthonormality residuals of a backward-stable SVD: ~n·eps. */
    static final double RESIDUAL_TOL = 1e-12;

    static double[] gaussian(int n, long seed) {
        Random rnd = new Random(seed);
        double[] a = new double[n];
        for (int i = 0; i < n; i++) a[i] = rnd.nextGaussian();
        return a;
    }

    static void checkSvd(Lapack.Svd s, double[] A, int m, int n, String where) {
        int k = Math.min(m, n);
        double amax = 0;
        for (double v : A) amax = Math.max(amax, Math.abs(v));
        for (int i = 0; i < m; i++)
            for (int j = 0; j < n; j++) {
                double sum = 0;
                for (int c = 0; c < k; c++) sum += s.U()[i * k + c] * s.s()[c] * s.Vt()[c * n + j];
                assertEquals(A[i * n + j], sum, RESIDUAL_TOL * Math.max(1, amax) * k, where + " reconstruction");
            }
        for (int c = 0; c < k; c++) {
            if (c > 0) assertTrue(s.s()[c] <= s.s()[c - 1], where + " descending");
            assertTrue(s.s()[c] >= 0, where);
            for (int d = 0; d <= c; d++) {
                double uu = 0, vv = 0;
                for (int i = 0; i < m; i++) uu += s.U()[i * k + c] * s.U()[i * k + d];
                for (int j = 0; j < n; j++) vv += s.Vt()[c * n + j] * s.Vt()[d * n + j];
                assertEquals(c == d ? 1 : 0, uu, RESIDUAL_TOL * m, where + " UᵀU");
                assertEquals(c == d ? 1 : 0, vv, RESIDUAL_TOL * n, where + " VᵀV");
            }
        }
    }

    @Test
    void svdMatchesTwinOnAwkwardShapes() {
        int[][] shapes = {{1, 1}, {1, 5}, {5, 1}, {7, 3}, {3, 7}, {33, 20}, {20, 33}, {64, 64}};
        for (int[] sh : shapes) {
            int m = sh[0], n = sh[1], k = Math.min(m, n);
            double[] A = gaussian(m * n, 31L * m + n), copy = A.clone();
            Lapack.Svd fast = Lapack.svd(A, m, n), twin = Lapack.svdNaive(A, m, n);
            assertArrayEquals(copy, A, "input untouched");
            String where = m + "x" + n;
            checkSvd(fast, A, m, n, where);
            checkSvd(twin, A, m, n, where + " twin");
            for (int c = 0; c < k; c++) {
                assertEquals(twin.s()[c], fast.s()[c], SIGMA_TOL * fast.s()[0], where + " σ" + c);
                double dot = 0; // same left vector up to sign (distinct σ for Gaussian matrices)
                for (int i = 0; i < m; i++) dot += fast.U()[i * k + c] * twin.U()[i * k + c];
                assertEquals(1, Math.abs(dot), 1e-8, where + " |⟨u, u_twin⟩| for σ" + c);
            }
        }
    }

    @Test
    void rankDeficientAndZero() {
        int m = 12, n = 9;
        double[] u = gaussian(m, 1), v = gaussian(n, 2), A = new double[m * n];
        for (int i = 0; i < m; i++) for (int j = 0; j < n; j++) A[i * n + j] = u[i] * v[j];
        Lapack.Svd s = Lapack.svd(A, m, n);
        checkSvd(s, A, m, n, "rank 1");
        for (int c = 1; c < n; c++) assertEquals(0, s.s()[c], 1e-12 * s.s()[0], "rank 1: σ" + c);
        Lapack.Svd z = Lapack.svd(new double[m * n], m, n);
        for (double sv : z.s()) assertEquals(0, sv, 0.0);
    }

    @Test
    void orthonormalizeColumnsMatchesGramSchmidtTwin() {
        int[][] shapes = {{1, 1}, {5, 1}, {7, 3}, {40, 17}, {64, 64}};
        for (int[] sh : shapes) {
            int m = sh[0], k = sh[1];
            double[] A = gaussian(m * k, 7L * m + k), twin = A.clone(), fast;
            try (DMatrix Q = DMatrix.of(A, m, k)) {
                Lapack.orthonormalizeColumns(Q);
                fast = Q.toArray();
            }
            Lapack.orthonormalizeColumnsNaive(twin, m, k);
            String where = m + "x" + k;
            for (int c = 0; c < k; c++) {
                double dot = 0;
                for (int i = 0; i < m; i++) dot += fast[i * k + c] * twin[i * k + c];
                // Householder and Gram–Schmidt give the same Q up to column signs
                assertEquals(1, Math.abs(dot), 1e-10 * k, where + " column " + c);
                for (int d = 0; d < k; d++) {
                    double qq = 0;
                    for (int i = 0; i < m; i++) qq += fast[i * k + c] * fast[i * k + d];
                    assertEquals(c == d ? 1 : 0, qq, RESIDUAL_TOL * m, where + " QᵀQ");
                }
            }
            // span: Q·Qᵀ·A = A
            for (int j = 0; j < k; j++)
                for (int i = 0; i < m; i++) {
                    double s = 0;
                    for (int c = 0; c < k; c++) {
                        double qa = 0;
                        for (int p = 0; p < m; p++) qa += fast[p * k + c] * A[p * k + j];
                        s += fast[i * k + c] * qa;
                    }
                    assertEquals(A[i * k + j], s, 1e-10, where + " span");
                }
        }
        var e = assertThrows(IllegalArgumentException.class, () -> {
            try (DMatrix W = DMatrix.zeros(3, 5)) {
                Lapack.orthonormalizeColumns(W);
            }
        });
        assertTrue(e.getMessage().contains("more columns than rows"), e.getMessage());
    }
}
