package dev.caldera4j.linalg;

import java.util.Arrays;
import java.util.Comparator;
import java.util.stream.IntStream;
import org.bytedeco.openblas.global.openblas;

/**
 * Float64 LAPACK through OpenBLAS's LAPACKE (nd4j's cholesky/SVD wrappers are broken, see
 * DESIGN), with plain-Java twins ({@code *Naive}) that tests compare against. All matrices are
 * (n, n) row-major. Return values are LAPACK's {@code info}: 0 = success, k &gt; 0 = failure at
 * (1-based) index k (e.g. leading minor k not positive definite), k &lt; 0 = bad argument.
 *
 * <p>Why every call uses LAPACK_COL_MAJOR: LAPACKE's row-major entry points transpose into a
 * temporary n² copy (7 GB at n = 29568). A row-major symmetric matrix is the same array as its
 * column-major self, and the row-major lower triangle is the column-major upper one, so we call
 * the column-major routine with the opposite {@code uplo} and never copy.
 *
 * <p>Two storage forms: {@code double[]} overloads (JavaCPP copies the array in and out per call:
 * fine up to a few thousand) and {@link DMatrix} overloads (native memory, no copy: use these at
 * d_in = 29568).
 */
public final class Lapack {
    private Lapack() {}

    private static final byte U = (byte) 'U', L = (byte) 'L', V = (byte) 'V';

    /** Eigen-decomposition A = Vᵀ·diag(values)·V: values (n) ascending; vectors (n, n) row-major, ROW k is the unit eigenvector of values[k]. */
    public record Eigen(double[] values, double[] vectors) {}

    // ---- Cholesky A = L·Lᵀ ------------------------------------------------------------------

    /** In place: the lower Cholesky factor L (A = L·Lᵀ) replaces the lower triangle of A; the strict upper triangle is left as it was. Reads only the lower triangle. */
    public static int cholesky(double[] A, int n) {
        checkSquare(A.length, n, "cholesky");
        return n == 0 ? 0 : openblas.LAPACKE_dpotrf(openblas.LAPACK_COL_MAJOR, U, n, A, n);
    }

    /** {@link #cholesky(double[], int)} on native memory. */
    public static int cholesky(DMatrix A) {
        int n = checkSquare(A, "cholesky");
        return n == 0 ? 0 : openblas.LAPACKE_dpotrf(openblas.LAPACK_COL_MAJOR, U, n, A.pointer(0), n);
    }

    /** Plain-Java twin of {@link #cholesky(double[], int)} (same in-place contract and info). */
    public static int choleskyNaive(double[] A, int n) {
        checkSquare(A.length, n, "choleskyNaive");
        for (int j = 0; j < n; j++) {
            double d = A[j * n + j];
            for (int k = 0; k < j; k++) d -= A[j * n + k] * A[j * n + k];
            if (!(d > 0)) return j + 1;
            double ljj = Math.sqrt(d);
            A[j * n + j] = ljj;
            for (int i = j + 1; i < n; i++) {
                double s = A[i * n + j];
                for (int k = 0; k < j; k++) s -= A[i * n + k] * A[j * n + k];
                A[i * n + j] = s / ljj;
            }
        }
        return 0;
    }

    // ---- inverse from the Cholesky factor -----------------------------------------------------

    /** In place: from L in the lower triangle (as {@link #cholesky} leaves it), A⁻¹ in full (both triangles, symmetric). */
    public static int choleskyInverse(double[] A, int n) {
        checkSquare(A.length, n, "choleskyInverse");
        if (n == 0) return 0;
        int info = openblas.LAPACKE_dpotri(openblas.LAPACK_COL_MAJOR, U, n, A, n);
        if (info == 0) mirrorLowerToUpper(A, n);
        return info;
    }

    /** {@link #choleskyInverse(double[], int)} on native memory. */
    public static int choleskyInverse(DMatrix A) {
        int n = checkSquare(A, "choleskyInverse");
        if (n == 0) return 0;
        int info = openblas.LAPACKE_dpotri(openblas.LAPACK_COL_MAJOR, U, n, A.pointer(0), n);
        if (info == 0) mirrorLowerToUpper(A);
        return info;
    }

    /** Plain-Java twin of {@link #choleskyInverse(double[], int)}: A⁻¹ = L⁻ᵀ·L⁻¹ by forward substitution. */
    public static int choleskyInverseNaive(double[] A, int n) {
        checkSquare(A.length, n, "choleskyInverseNaive");
        double[] Linv = new double[n * n]; // (n, n) lower
        for (int j = 0; j < n; j++) {
            if (A[j * n + j] == 0) return j + 1;
            Linv[j * n + j] = 1 / A[j * n + j];
            for (int i = j + 1; i < n; i++) {
                double s = 0;
                for (int k = j; k < i; k++) s -= A[i * n + k] * Linv[k * n + j];
                Linv[i * n + j] = s / A[i * n + i];
            }
        }
        for (int i = 0; i < n; i++) {
            for (int j = 0; j <= i; j++) {
                double s = 0; // (L⁻ᵀ·L⁻¹)[i, j] = Σ_k≥i Linv[k, i]·Linv[k, j]
                for (int k = i; k < n; k++) s += Linv[k * n + i] * Linv[k * n + j];
                A[i * n + j] = s;
                A[j * n + i] = s;
            }
        }
        return 0;
    }

    // ---- upper Cholesky A = Rᵀ·R (GPTQ's Hinv) ------------------------------------------------

    /** In place: the upper Cholesky factor R (A = Rᵀ·R) replaces the upper triangle of A; the strict lower triangle is left as it was. Reads only the upper triangle. */
    public static int choleskyUpper(double[] A, int n) {
        checkSquare(A.length, n, "choleskyUpper");
        return n == 0 ? 0 : openblas.LAPACKE_dpotrf(openblas.LAPACK_COL_MAJOR, L, n, A, n);
    }

    /** {@link #choleskyUpper(double[], int)} on native memory. */
    public static int choleskyUpper(DMatrix A) {
        int n = checkSquare(A, "choleskyUpper");
        return n == 0 ? 0 : openblas.LAPACKE_dpotrf(openblas.LAPACK_COL_MAJOR, L, n, A.pointer(0), n);
    }

    /** Plain-Java twin of {@link #choleskyUpper(double[], int)}. */
    public static int choleskyUpperNaive(double[] A, int n) {
        checkSquare(A.length, n, "choleskyUpperNaive");
        for (int i = 0; i < n; i++) {
            double d = A[i * n + i];
            for (int k = 0; k < i; k++) d -= A[k * n + i] * A[k * n + i];
            if (!(d > 0)) return i + 1;
            double rii = Math.sqrt(d);
            A[i * n + i] = rii;
            for (int j = i + 1; j < n; j++) {
                double s = A[i * n + j];
                for (int k = 0; k < i; k++) s -= A[k * n + i] * A[k * n + j];
                A[i * n + j] = s / rii;
            }
        }
        return 0;
    }

    // ---- symmetric eigen-decomposition -------------------------------------------------------

    /** Eigen-decomposition of symmetric A (n, n) by LAPACKE_dsyevd (divide and conquer); A is not modified. Throws if LAPACK fails to converge. */
    public static Eigen symmetricEigen(double[] A, int n) {
        checkSquare(A.length, n, "symmetricEigen");
        double[] vectors = Arrays.copyOf(A, n * n), values = new double[n];
        if (n == 0) return new Eigen(values, vectors);
        // Column-major upper = row-major lower; column-major eigenvector columns = row-major rows.
        int info = openblas.LAPACKE_dsyevd(openblas.LAPACK_COL_MAJOR, V, U, n, vectors, n, values);
        if (info != 0)
            throw new ArithmeticException("symmetricEigen: LAPACKE_dsyevd info=" + info + " for n=" + n
                    + " (no convergence, or a NaN/Inf in the input)");
        return new Eigen(values, vectors);
    }

    /**
     * {@link #symmetricEigen(double[], int)} on native memory, in place: returns the eigenvalues
     * (ascending) and leaves ROW k of A = the eigenvector of value k. dsyevd itself allocates a
     * workspace of about 2n² doubles.
     */
    public static double[] symmetricEigenInPlace(DMatrix A) {
        int n = checkSquare(A, "symmetricEigenInPlace");
        double[] values = new double[n];
        if (n == 0) return values;
        try (DMatrix w = DMatrix.zeros(1, n)) {
            int info = openblas.LAPACKE_dsyevd(openblas.LAPACK_COL_MAJOR, V, U, n, A.pointer(0), n, w.pointer(0));
            if (info != 0)
                throw new ArithmeticException("symmetricEigenInPlace: LAPACKE_dsyevd info=" + info + " for n=" + n
                        + " (no convergence, or a NaN/Inf in the input)");
            w.getRow(0, 0, values, 0, n);
        }
        return values;
    }

    /** Plain-Java twin of {@link #symmetricEigen}: cyclic Jacobi rotations (O(n³) per sweep; small n only). Reads the lower triangle. */
    public static Eigen symmetricEigenNaive(double[] A, int n) {
        checkSquare(A.length, n, "symmetricEigenNaive");
        double[] a = new double[n * n], v = new double[n * n]; // a: working copy; v: rotations, COLUMN k = vector k
        for (int i = 0; i < n; i++) {
            v[i * n + i] = 1;
            for (int j = 0; j <= i; j++) a[i * n + j] = a[j * n + i] = A[i * n + j];
        }
        for (int sweep = 0; sweep < 100; sweep++) {
            double off = 0, total = 0;
            for (int i = 0; i < n; i++)
                for (int j = 0; j < n; j++) {
                    total += a[i * n + j] * a[i * n + j];
                    if (i != j) off += a[i * n + j] * a[i * n + j];
                }
            if (off <= 1e-30 * total) break;
            for (int p = 0; p < n; p++) {
                for (int q = p + 1; q < n; q++) {
                    double apq = a[p * n + q];
                    if (apq == 0) continue;
                    double theta = (a[q * n + q] - a[p * n + p]) / (2 * apq);
                    double t = Math.signum(theta) / (Math.abs(theta) + Math.sqrt(theta * theta + 1));
                    if (theta == 0) t = 1;
                    double c = 1 / Math.sqrt(t * t + 1), s = t * c;
                    for (int k = 0; k < n; k++) { // columns p, q of a·J
                        double akp = a[k * n + p], akq = a[k * n + q];
                        a[k * n + p] = c * akp - s * akq;
                        a[k * n + q] = s * akp + c * akq;
                    }
                    for (int k = 0; k < n; k++) { // rows p, q of Jᵀ·a
                        double apk = a[p * n + k], aqk = a[q * n + k];
                        a[p * n + k] = c * apk - s * aqk;
                        a[q * n + k] = s * apk + c * aqk;
                    }
                    for (int k = 0; k < n; k++) {
                        double vkp = v[k * n + p], vkq = v[k * n + q];
                        v[k * n + p] = c * vkp - s * vkq;
                        v[k * n + q] = s * vkp + c * vkq;
                    }
                }
            }
        }
        double[] diag = new double[n];
        for (int i = 0; i < n; i++) diag[i] = a[i * n + i];
        Integer[] order = IntStream.range(0, n).boxed().sorted(Comparator.comparingDouble(i -> diag[i])).toArray(Integer[]::new);
        double[] values = new double[n], vectors = new double[n * n];
        for (int k = 0; k < n; k++) {
            values[k] = diag[order[k]];
            for (int i = 0; i < n; i++) vectors[k * n + i] = v[i * n + order[k]];
        }
        return new Eigen(values, vectors);
    }

    // ---- singular value decomposition ---------------------------------------------------------

    /**
     * Thin SVD A = U·diag(s)·Vt of an (m, n) matrix, k = min(m, n).
     *
     * @param U  (m, k) row-major, orthonormal columns
     * @param s  (k) singular values, descending, ≥ 0
     * @param Vt (k, n) row-major, orthonormal rows
     */
    public record Svd(int m, int n, double[] U, double[] s, double[] Vt) {}

    /**
     * Thin SVD of A (m, n) row-major by LAPACKE_dgesdd (divide and conquer); A is not modified.
     *
     * <p>Row-major A is column-major Aᵀ, so we decompose Aᵀ = U'·S·V'ᵀ in column-major and read
     * A = V'·S·U'ᵀ: dgesdd's u' (n, k) column-major is our Vt (k, n) row-major, and its vt'
     * (k, m) column-major is our U (m, k) row-major. No transposed copy is made.
     */
    public static Svd svd(double[] A, int m, int n) {
        checkRect(A.length, m, n, "svd");
        int k = Math.min(m, n);
        double[] a = Arrays.copyOf(A, m * n), s = new double[k], U = new double[m * k], Vt = new double[k * n];
        if (k == 0) return new Svd(m, n, U, s, Vt);
        int info = openblas.LAPACKE_dgesdd(openblas.LAPACK_COL_MAJOR, (byte) 'S', n, m, a, n, s, Vt, n, U, k);
        if (info != 0)
            throw new ArithmeticException("svd: LAPACKE_dgesdd info=" + info + " for (" + m + ", " + n
                    + ") (no convergence, or a NaN/Inf in the input)");
        return new Svd(m, n, U, s, Vt);
    }

    /**
     * Plain-Java twin of {@link #svd}: the Jacobi eigen-decomposition of the smaller Gram matrix
     * (AᵀA or A·Aᵀ), singular values = √max(eigenvalue, 0), the other factor by A·v/σ. Squaring
     * loses the small singular values' relative accuracy (fine for the tests' well-conditioned
     * matrices); for σ = 0 the other factor's column or row is left zero.
     */
    public static Svd svdNaive(double[] A, int m, int n) {
        checkRect(A.length, m, n, "svdNaive");
        int k = Math.min(m, n);
        double[] s = new double[k], U = new double[m * k], Vt = new double[k * n];
        boolean tall = m >= n;
        double[] G = new double[k * k]; // AᵀA (tall) or A·Aᵀ (wide)
        for (int i = 0; i < k; i++)
            for (int j = 0; j <= i; j++) {
                double sum = 0;
                if (tall) for (int p = 0; p < m; p++) sum += A[p * n + i] * A[p * n + j];
                else for (int p = 0; p < n; p++) sum += A[i * n + p] * A[j * n + p];
                G[i * k + j] = G[j * k + i] = sum;
            }
        Eigen e = symmetricEigenNaive(G, k);
        for (int c = 0; c < k; c++) {
            int src = k - 1 - c; // descending
            double sigma = Math.sqrt(Math.max(0, e.values()[src]));
            s[c] = sigma;
            if (tall) {
                for (int j = 0; j < n; j++) Vt[c * n + j] = e.vectors()[src * k + j];
                if (sigma > 0)
                    for (int i = 0; i < m; i++) {
                        double sum = 0;
                        for (int j = 0; j < n; j++) sum += A[i * n + j] * Vt[c * n + j];
                        U[i * k + c] = sum / sigma;
                    }
            } else {
                for (int i = 0; i < m; i++) U[i * k + c] = e.vectors()[src * k + i];
                if (sigma > 0)
                    for (int j = 0; j < n; j++) {
                        double sum = 0;
                        for (int i = 0; i < m; i++) sum += A[i * n + j] * U[i * k + c];
                        Vt[c * n + j] = sum / sigma;
                    }
            }
        }
        return new Svd(m, n, U, s, Vt);
    }

    // ---- orthonormal basis of the columns (QR) -------------------------------------------------

    /**
     * In place: the (m, k) row-major A, m ≥ k, is replaced by the Q of its thin QR factorisation
     * (orthonormal columns spanning A's columns when A has full column rank), by LAPACKE_dgelqf +
     * dorglq. Row-major A is column-major Aᵀ (k, m); the LQ factorisation Aᵀ = L·Q₁ gives
     * A = Q₁ᵀ·Lᵀ, and dorglq writes Q₁ (k, m) column-major, i.e. Q₁ᵀ (m, k) row-major, in place.
     * Column signs are LAPACK's (Householder), not necessarily those of Gram–Schmidt.
     */
    public static void orthonormalizeColumns(DMatrix A) {
        int m = A.rows, k = A.cols;
        if (m < k)
            throw new IllegalArgumentException("orthonormalizeColumns: (" + m + ", " + k + ") has more columns than rows; "
                    + "at most m orthonormal columns exist");
        if (k == 0) return;
        try (DMatrix tau = DMatrix.zeros(1, k)) {
            int info = openblas.LAPACKE_dgelqf(openblas.LAPACK_COL_MAJOR, k, m, A.pointer(0), k, tau.pointer(0));
            if (info == 0) info = openblas.LAPACKE_dorglq(openblas.LAPACK_COL_MAJOR, k, m, k, A.pointer(0), k, tau.pointer(0));
            if (info != 0)
                throw new ArithmeticException("orthonormalizeColumns: LAPACKE_dgelqf/dorglq info=" + info + " for (" + m + ", " + k
                        + ") (a NaN/Inf in the input?)");
        }
    }

    /**
     * Plain-Java twin of {@link #orthonormalizeColumns}: modified Gram–Schmidt, run twice
     * ("twice is enough" for orthogonality to working precision). A column that is (numerically)
     * dependent on the previous ones is left zero.
     */
    public static void orthonormalizeColumnsNaive(double[] A, int m, int k) {
        checkRect(A.length, m, k, "orthonormalizeColumnsNaive");
        double[] norm0 = new double[k];
        for (int c = 0; c < k; c++) {
            double s = 0;
            for (int i = 0; i < m; i++) s += A[i * k + c] * A[i * k + c];
            norm0[c] = Math.sqrt(s);
        }
        for (int pass = 0; pass < 2; pass++)
            for (int c = 0; c < k; c++) {
                for (int p = 0; p < c; p++) {
                    double dot = 0;
                    for (int i = 0; i < m; i++) dot += A[i * k + p] * A[i * k + c];
                    for (int i = 0; i < m; i++) A[i * k + c] -= dot * A[i * k + p];
                }
                double s = 0;
                for (int i = 0; i < m; i++) s += A[i * k + c] * A[i * k + c];
                double nrm = Math.sqrt(s);
                boolean dependent = !(nrm > 1e-13 * norm0[c]);
                for (int i = 0; i < m; i++) A[i * k + c] = dependent ? 0 : A[i * k + c] / nrm;
            }
    }

    // ---- helpers -------------------------------------------------------------------------------

    /** Copies the lower triangle onto the upper one, in tiles so that the column reads stay in cache. */
    static void mirrorLowerToUpper(double[] A, int n) {
        final int T = 64;
        for (int i0 = 0; i0 < n; i0 += T)
            for (int j0 = 0; j0 <= i0; j0 += T)
                for (int i = i0; i < Math.min(i0 + T, n); i++)
                    for (int j = j0; j < Math.min(Math.min(j0 + T, n), i); j++) A[j * n + i] = A[i * n + j];
    }

    static void mirrorLowerToUpper(DMatrix A) {
        final int T = 64;
        int n = A.rows;
        IntStream.range(0, (n + T - 1) / T).parallel().forEach(bi -> {
            int i0 = bi * T;
            for (int j0 = 0; j0 <= i0; j0 += T)
                for (int i = i0; i < Math.min(i0 + T, n); i++)
                    for (int j = j0; j < Math.min(Math.min(j0 + T, n), i); j++)
                        A.setAt((long) j * n + i, A.at((long) i * n + j));
        });
    }

    private static void checkSquare(int length, int n, String what) {
        if (n < 0 || length < (long) n * n)
            throw new IllegalArgumentException(what + ": array of " + length + " elements cannot hold an (n, n) matrix with n="
                    + n + "; pass the matrix dimension n, not its element count");
    }

    private static void checkRect(int length, int m, int n, String what) {
        if (m < 0 || n < 0 || length < (long) m * n)
            throw new IllegalArgumentException(what + ": array of " + length + " elements cannot hold an (m, n) = (" + m + ", " + n
                    + ") matrix");
    }

    private static int checkSquare(DMatrix A, String what) {
        if (A.rows != A.cols)
            throw new IllegalArgumentException(what + ": matrix is (" + A.rows + ", " + A.cols + "), not square");
        return A.rows;
    }
}
