package dev.caldera4j.linalg;

import static org.junit.jupiter.api.Assertions.*;

import java.util.Random;
import org.junit.jupiter.api.Test;

class LapackTest {
    /**
     * LAPACK (blocked, multithreaded) and the naive twins sum in different orders. Cholesky is
     * backward stable: on these matrices (condition number below ~100) the factors agree to a few
     * hundred ulps of the largest entry.
     */
    static final double FACTOR_TOL = 1e-12;
    /** A·A⁻¹ − I and Rᵀ·R − A: residuals of backward-stable algorithms, ~ n·eps·cond ≈ 130·2e-16·100. */
    static final double RESIDUAL_TOL = 1e-11;
    /** Jacobi vs divide-and-conquer eigenvalues: both backward stable, eigenvalues well conditioned (symmetric). */
    static final double EIGEN_TOL = 1e-10;

    static final int[] SIZES = {1, 2, 7, 33, 130};

    /** A random SPD matrix B·Bᵀ/n + I/2, (n, n) row-major: eigenvalues in about [0.5, 5]. */
    static double[] spd(int n, long seed) {
        Random rnd = new Random(seed);
        double[] B = new double[n * n], A = new double[n * n];
        for (int i = 0; i < B.length; i++) B[i] = rnd.nextGaussian();
        for (int i = 0; i < n; i++)
            for (int j = 0; j < n; j++) {
                double s = 0;
                for (int k = 0; k < n; k++) s += B[i * n + k] * B[j * n + k];
                A[i * n + j] = s / n + (i == j ? 0.5 : 0);
            }
        return A;
    }

    static double maxAbs(double[] A) {
        double m = 0;
        for (double v : A) m = Math.max(m, Math.abs(v));
        return m;
    }

    @Test
    void choleskyMatchesTwinAndLeavesUpperTriangle() {
        for (int n : SIZES) {
            double[] A = spd(n, n), fast = A.clone(), slow = A.clone();
            assertEquals(0, Lapack.cholesky(fast, n), "n=" + n);
            assertEquals(0, Lapack.choleskyNaive(slow, n), "n=" + n);
            for (int i = 0; i < n; i++)
                for (int j = 0; j < n; j++) {
                    if (j <= i) assertEquals(slow[i * n + j], fast[i * n + j], FACTOR_TOL * maxAbs(A), "L[" + i + "," + j + "] n=" + n);
                    else assertEquals(A[i * n + j], fast[i * n + j], "strict upper must be untouched, n=" + n);
                }
            // L·Lᵀ = A
            for (int i = 0; i < n; i++)
                for (int j = 0; j <= i; j++) {
                    double s = 0;
                    for (int k = 0; k <= j; k++) s += fast[i * n + k] * fast[j * n + k];
                    assertEquals(A[i * n + j], s, RESIDUAL_TOL * maxAbs(A), "n=" + n);
                }
            try (DMatrix M = DMatrix.of(A, n, n)) {
                assertEquals(0, Lapack.cholesky(M));
                assertArrayEquals(fast, M.toArray(), 0.0, "native and heap calls run the same LAPACK routine");
            }
        }
    }

    @Test
    void inverseAndUpperFactorMatchTwins() {
        for (int n : SIZES) {
            double[] A = spd(n, 100 + n);
            double[] fast = A.clone(), slow = A.clone();
            assertEquals(0, Lapack.cholesky(fast, n));
            assertEquals(0, Lapack.choleskyInverse(fast, n));
            assertEquals(0, Lapack.choleskyNaive(slow, n));
            assertEquals(0, Lapack.choleskyInverseNaive(slow, n));
            assertArrayEquals(slow, fast, RESIDUAL_TOL * maxAbs(slow), "inverse n=" + n);
            for (int i = 0; i < n; i++)
                for (int j = 0; j < n; j++) {
                    double s = 0;
                    for (int k = 0; k < n; k++) s += A[i * n + k] * fast[k * n + j];
                    assertEquals(i == j ? 1 : 0, s, RESIDUAL_TOL, "A·A⁻¹ n=" + n);
                }
            double[] R = fast.clone(), Rslow = fast.clone();
            assertEquals(0, Lapack.choleskyUpper(R, n));
            assertEquals(0, Lapack.choleskyUpperNaive(Rslow, n));
            for (int i = 0; i < n; i++)
                for (int j = 0; j < n; j++) {
                    if (j >= i) assertEquals(Rslow[i * n + j], R[i * n + j], FACTOR_TOL * maxAbs(fast), "R n=" + n);
                    else assertEquals(fast[i * n + j], R[i * n + j], "strict lower must be untouched");
                }
            for (int i = 0; i < n; i++)
                for (int j = i; j < n; j++) {
                    double s = 0;
                    for (int k = 0; k <= i; k++) s += R[k * n + i] * R[k * n + j];
                    assertEquals(fast[i * n + j], s, RESIDUAL_TOL * maxAbs(fast), "RᵀR n=" + n);
                }
            try (DMatrix M = DMatrix.of(A, n, n)) {
                assertEquals(0, Lapack.cholesky(M));
                assertEquals(0, Lapack.choleskyInverse(M));
                assertEquals(0, Lapack.choleskyUpper(M));
                assertArrayEquals(R, M.toArray(), 0.0, "native path = heap path");
            }
        }
    }

    @Test
    void notPositiveDefiniteReportsTheFailingMinor() {
        int n = 9;
        double[] A = spd(n, 7);
        A[5 * n + 5] = -1; // leading minors 1..5 are PD, minor 6 is not
        double[] fast = A.clone(), slow = A.clone(), up = A.clone();
        assertEquals(6, Lapack.cholesky(fast, n));
        assertEquals(6, Lapack.choleskyNaive(slow, n));
        assertEquals(6, Lapack.choleskyUpper(up, n));
        assertEquals(6, Lapack.choleskyUpperNaive(A.clone(), n));
        double[] singular = new double[n * n]; // the zero matrix
        assertEquals(1, Lapack.cholesky(singular, n));
    }

    @Test
    void eigenMatchesJacobiTwin() {
        for (int n : new int[] {1, 2, 5, 33, 64}) {
            double[] A = spd(n, 200 + n);
            for (int i = 0; i < n; i++) A[i * n + i] -= 1.5; // make it indefinite too
            Lapack.Eigen fast = Lapack.symmetricEigen(A, n), slow = Lapack.symmetricEigenNaive(A, n);
            assertArrayEquals(slow.values(), fast.values(), EIGEN_TOL, "eigenvalues n=" + n);
            for (int k = 1; k < n; k++) assertTrue(fast.values()[k] >= fast.values()[k - 1], "ascending");
            // A = Vᵀ·diag·V, V orthonormal
            double[] V = fast.vectors();
            for (int i = 0; i < n; i++)
                for (int j = 0; j < n; j++) {
                    double a = 0, o = 0;
                    for (int k = 0; k < n; k++) {
                        a += V[k * n + i] * fast.values()[k] * V[k * n + j];
                        o += V[i * n + k] * V[j * n + k];
                    }
                    assertEquals(A[i * n + j], a, RESIDUAL_TOL * n, "reconstruction n=" + n);
                    assertEquals(i == j ? 1 : 0, o, RESIDUAL_TOL * n, "orthonormal rows n=" + n);
                }
            // each vector equals the twin's up to sign (eigenvalues of these random matrices are distinct)
            for (int k = 0; k < n; k++) {
                double dot = 0;
                for (int i = 0; i < n; i++) dot += V[k * n + i] * slow.vectors()[k * n + i];
                assertEquals(1, Math.abs(dot), 1e-8, "vector " + k + " n=" + n);
            }
            try (DMatrix M = DMatrix.of(A, n, n)) {
                double[] values = Lapack.symmetricEigenInPlace(M);
                assertArrayEquals(fast.values(), values, 0.0);
                assertArrayEquals(V, M.toArray(), 0.0);
            }
        }
    }

    @Test
    void badShapeMessageNamesTheDimension() {
        var e = assertThrows(IllegalArgumentException.class, () -> Lapack.cholesky(new double[10], 4));
        assertTrue(e.getMessage().contains("n=4"), e.getMessage());
    }
}
