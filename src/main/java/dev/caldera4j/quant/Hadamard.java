package dev.caldera4j.quant;

import dev.caldera4j.linalg.Blas;
import dev.caldera4j.linalg.DMatrix;
import java.util.concurrent.ConcurrentHashMap;
import java.util.stream.IntStream;

/**
 * Normalised Hadamard transforms v ← (H_n/√n)·v: orthogonal, symmetric, hence their own inverse.
 *
 * <p>Supported orders n:
 * <ul>
 *   <li>powers of two (Sylvester; fast Walsh–Hadamard transform, n·log₂n additions);</li>
 *   <li>n = m·2ᵏ with m = 2(q+1) ≤ {@link #MAX_PALEY_ORDER}, q a prime ≡ 1 (mod 4): the Paley II
 *       matrix H_m (built once per m and cached) Kronecker the Sylvester H_{2ᵏ},
 *       H_n = H_m ⊗ H_{2ᵏ}. Element i = a·2ᵏ + b of v: an FWHT over b inside each of the m
 *       contiguous chunks, then the dense m × m product over a for each b (m multiply-adds per
 *       element). Qwen2-72B's 29568 = 924·32 (q = 461) needs no padding this way; so do 3584
 *       (28·128, q = 13), 18944 (148·128, q = 73), 896, 4864, 1536.</li>
 * </ul>
 * Any n = 2ᵃ·o (o odd &gt; 1) is of the second kind exactly when a ≥ 2 and 2o − 1 is prime (then m =
 * 4o, and 2o − 1 ≡ 1 mod 4 holds automatically). Other sizes are zero-padded by the caller to
 * {@link #paddedSize}.
 *
 * <p>Paley II: with the quadratic character χ of GF(q) (χ(0) = 0), the conference matrix
 * C (q+1, q+1) has C[0][0] = 0, C[0][j] = C[j][0] = 1 and C[i][j] = χ(j − i) for i, j ≥ 1; it is
 * symmetric because χ(−1) = 1 when q ≡ 1 (mod 4), and C·Cᵀ = q·I. Replacing each 0 of C by
 * [[1, −1], [−1, −1]] and each ±1 by ±[[1, 1], [1, −1]] gives a symmetric Hadamard matrix of
 * order 2(q+1). Symmetry matters: {@link Incoherence} uses Hᵀ = H.
 */
public final class Hadamard {
    private Hadamard() {}

    /**
     * Largest Paley factor m transformed densely. The dense stage costs m multiply-adds per element
     * (vs log₂n for a power of two): 924 for Qwen2-72B's 29568 is ~10 % of that layer's 2-bit matvec
     * work; beyond ~1024 padding to a power of two is cheaper.
     */
    public static final int MAX_PALEY_ORDER = 1024;

    /** Rows per dense-stage dgemm in {@link #transformRows}: about 1 M doubles of staging. */
    private static final int STAGE_DOUBLES = 1 << 20;

    private static final ConcurrentHashMap<Integer, byte[]> PALEY = new ConcurrentHashMap<>();

    public static boolean isSupported(int n) {
        return paleyFactor(n) > 0;
    }

    /** The dense factor m of a supported n (1 for a power of two), or 0 when n is not supported. */
    static int paleyFactor(int n) {
        if (n <= 0) return 0;
        if (Integer.bitCount(n) == 1) return 1;
        int a = Integer.numberOfTrailingZeros(n), o = n >>> a;
        if (a < 2 || (long) 4 * o > MAX_PALEY_ORDER || !isPrime(2 * o - 1)) return 0;
        return 4 * o;
    }

    static void checkSupported(int n, String what) {
        if (!isSupported(n))
            throw new IllegalArgumentException("Hadamard: " + what + " = " + n + " is not a supported order (a power of two, or "
                    + "2(q+1)·2^k with q ≡ 1 mod 4 prime and 2(q+1) ≤ " + MAX_PALEY_ORDER + "): pad to " + paddedSize(n));
    }

    /** The smallest supported order ≥ n (n ≤ 2³⁰). */
    public static int paddedSize(int n) {
        if (n > 1 << 30) throw new IllegalArgumentException("Hadamard.paddedSize: n = " + n + " exceeds 2^30");
        for (int c = Math.max(1, n); ; c++) if (isSupported(c)) return c;
    }

    private static boolean isPrime(int q) {
        if (q < 2) return false;
        for (int d = 2; (long) d * d <= q; d++) if (q % d == 0) return false;
        return true;
    }

    /** The ±1 Paley II Hadamard matrix of order m = 2(q+1), (m, m) row-major, cached. */
    static byte[] paley(int m) {
        return PALEY.computeIfAbsent(m, Hadamard::buildPaley);
    }

    private static byte[] buildPaley(int m) {
        int q = m / 2 - 1;
        if (m % 4 != 0 || !isPrime(q) || q % 4 != 1)
            throw new IllegalArgumentException("Hadamard: no Paley II matrix of order " + m + " (needs m = 2(q+1), q ≡ 1 mod 4 prime)");
        boolean[] square = new boolean[q];
        for (long x = 1; x < q; x++) square[(int) (x * x % q)] = true;
        int c = q + 1;
        byte[] C = new byte[c * c]; // conference matrix, index 0 = the point at infinity
        for (int j = 1; j < c; j++) C[j] = C[j * c] = 1;
        for (int i = 1; i < c; i++)
            for (int j = 1; j < c; j++) {
                int d = Math.floorMod(j - i, q);
                C[i * c + j] = (byte) (d == 0 ? 0 : square[d] ? 1 : -1);
            }
        byte[] H = new byte[m * m];
        for (int i = 0; i < c; i++)
            for (int j = 0; j < c; j++)
                for (int x = 0; x < 2; x++)
                    for (int y = 0; y < 2; y++) {
                        int e = C[i * c + j];
                        // 0 → [[1, −1], [−1, −1]]; ±1 → ±[[1, 1], [1, −1]]
                        int v = e == 0 ? (x == 0 && y == 0 ? 1 : -1) : e * (x == 1 && y == 1 ? -1 : 1);
                        H[(2 * i + x) * m + 2 * j + y] = (byte) v;
                    }
        return H;
    }

    /** v[off … off+n) ← (H_n/√n)·v in place, float32. */
    public static void transformNormalized(float[] v, int off, int n) {
        checkSupported(n, "n");
        int m = paleyFactor(n), p = n / m;
        for (int a = 0; a < m; a++) fwht(v, off + a * p, p);
        if (m > 1) {
            byte[] P = paley(m);
            float[] x = new float[m];
            for (int b = 0; b < p; b++) {
                for (int a = 0; a < m; a++) x[a] = v[off + a * p + b];
                for (int i = 0; i < m; i++) {
                    float s = 0;
                    for (int a = 0; a < m; a++) s += P[i * m + a] * x[a];
                    v[off + i * p + b] = s;
                }
            }
        }
        float s = (float) (1.0 / Math.sqrt(n));
        for (int i = 0; i < n; i++) v[off + i] *= s;
    }

    /** v[off … off+n) ← (H_n/√n)·v in place, float64. */
    public static void transformNormalized(double[] v, int off, int n) {
        checkSupported(n, "n");
        int m = paleyFactor(n), p = n / m;
        for (int a = 0; a < m; a++) fwht(v, off + a * p, p);
        if (m > 1) {
            byte[] P = paley(m);
            double[] x = new double[m];
            for (int b = 0; b < p; b++) {
                for (int a = 0; a < m; a++) x[a] = v[off + a * p + b];
                for (int i = 0; i < m; i++) {
                    double s = 0;
                    for (int a = 0; a < m; a++) s += P[i * m + a] * x[a];
                    v[off + i * p + b] = s;
                }
            }
        }
        double s = 1.0 / Math.sqrt(n);
        for (int i = 0; i < n; i++) v[off + i] *= s;
    }

    /**
     * Every row of A (rows, n) row-major ← (H_n/√n)·row, float64. Same result as
     * {@link #transformNormalized(double[], int, int)} per row (its plain twin) up to summation
     * order; the dense Paley stage of a block of rows runs as one dgemm P·Z with Z (m, rowsInBlock·2ᵏ)
     * gathering the rows' (m, 2ᵏ) views side by side. Rows are transformed in parallel.
     */
    public static void transformRows(double[] A, int rows, int n) {
        checkSupported(n, "n");
        if (A.length < (long) rows * n)
            throw new IllegalArgumentException("Hadamard.transformRows: array of " + A.length + " elements is smaller than (rows, n) = ("
                    + rows + ", " + n + ")");
        int m = paleyFactor(n), p = n / m;
        double s = 1.0 / Math.sqrt(n);
        IntStream.range(0, rows).parallel().forEach(r -> {
            for (int a = 0; a < m; a++) fwht(A, r * n + a * p, p);
        });
        if (m > 1) {
            int block = Math.max(1, Math.min(rows, STAGE_DOUBLES / n));
            byte[] Pb = paley(m);
            try (DMatrix P = DMatrix.zeros(m, m); DMatrix Z = DMatrix.zeros(m, block * p); DMatrix Y = DMatrix.zeros(m, block * p)) {
                double[] row = new double[m];
                for (int i = 0; i < m; i++) {
                    for (int j = 0; j < m; j++) row[j] = Pb[i * m + j];
                    P.setRow(i, 0, row, 0, m);
                }
                for (int r0 = 0; r0 < rows; r0 += block) {
                    int rb = Math.min(block, rows - r0);
                    for (int r = 0; r < rb; r++)
                        for (int a = 0; a < m; a++) Z.setRow(a, r * p, A, (r0 + r) * n + a * p, p);
                    Blas.dgemm(false, false, m, rb * p, m, 1, P, 0, m, Z, 0, block * p, 0, Y, 0, block * p);
                    for (int r = 0; r < rb; r++)
                        for (int a = 0; a < m; a++) Y.getRow(a, r * p, A, (r0 + r) * n + a * p, p);
                }
            }
        }
        IntStream.range(0, rows).parallel().forEach(r -> {
            for (int i = r * n; i < (r + 1) * n; i++) A[i] *= s;
        });
    }

    /** Unnormalised in-place Walsh–Hadamard transform of v[off … off+p), p a power of two. */
    private static void fwht(float[] v, int off, int p) {
        for (int h = 1; h < p; h <<= 1)
            for (int i = 0; i < p; i += h << 1)
                for (int j = off + i; j < off + i + h; j++) {
                    float a = v[j], b = v[j + h];
                    v[j] = a + b;
                    v[j + h] = a - b;
                }
    }

    private static void fwht(double[] v, int off, int p) {
        for (int h = 1; h < p; h <<= 1)
            for (int i = 0; i < p; i += h << 1)
                for (int j = off + i; j < off + i + h; j++) {
                    double a = v[j], b = v[j + h];
                    v[j] = a + b;
                    v[j + h] = a - b;
                }
    }
}
