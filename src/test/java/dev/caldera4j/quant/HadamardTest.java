package dev.caldera4j.quant;

import static org.junit.jupiter.api.Assertions.*;

import java.util.Random;
import org.junit.jupiter.api.Test;

class HadamardTest {
    /** float32 transform vs a float64 explicit product: m + log₂p additions of O(1) terms, relative rounding ~1e-6 of |v|. */
    static final double FLOAT_TOL = 1e-5;
    /** float64 paths (FWHT + dgemm vs FWHT + Java loops, or vs the explicit matrix): ~1e-14 of |v|. */
    static final double DOUBLE_TOL = 1e-12;

    /** Sylvester H_p (p a power of two), ±1, built by the doubling recursion (independent of the FWHT code). */
    static double[] sylvester(int p) {
        double[] H = {1};
        for (int s = 1; s < p; s *= 2) {
            double[] G = new double[4 * s * s];
            for (int i = 0; i < s; i++)
                for (int j = 0; j < s; j++) {
                    double v = H[i * s + j];
                    G[i * 2 * s + j] = v;
                    G[i * 2 * s + j + s] = v;
                    G[(i + s) * 2 * s + j] = v;
                    G[(i + s) * 2 * s + j + s] = -v;
                }
            H = G;
        }
        return H;
    }

    static double[] kron(double[] A, int a, double[] B, int b) {
        int n = a * b;
        double[] K = new double[n * n];
        for (int i = 0; i < a; i++)
            for (int j = 0; j < a; j++)
                for (int k = 0; k < b; k++)
                    for (int l = 0; l < b; l++) K[(i * b + k) * n + j * b + l] = A[i * a + j] * B[k * b + l];
        return K;
    }

    static double[] paley(int m) {
        byte[] P = Hadamard.paley(m);
        double[] D = new double[m * m];
        for (int i = 0; i < D.length; i++) D[i] = P[i];
        return D;
    }

    @Test
    void paleyMatricesAreSymmetricHadamard() {
        for (int m : new int[] {12, 28, 36, 924}) {
            byte[] P = Hadamard.paley(m);
            for (int i = 0; i < m; i++)
                for (int j = 0; j < m; j++) {
                    assertTrue(P[i * m + j] == 1 || P[i * m + j] == -1, "entries ±1");
                    assertEquals(P[i * m + j], P[j * m + i], "symmetric, m=" + m);
                    int dot = 0;
                    for (int k = 0; k < m; k++) dot += P[i * m + k] * P[j * m + k];
                    assertEquals(i == j ? m : 0, dot, "H·Hᵀ = m·I at (" + i + ", " + j + "), m=" + m);
                }
        }
        assertThrows(IllegalArgumentException.class, () -> Hadamard.paley(20), "q = 9 is not prime");
    }

    @Test
    void supportedOrdersAndPaddingAreConsistent() {
        for (int n : new int[] {1, 2, 1024, 8192, 12, 24, 48, 28, 3584, 18944, 896, 4864, 1536, 924, 29568})
            assertTrue(Hadamard.isSupported(n), n + " must be supported");
        for (int n : new int[] {0, -4, 3, 6, 10, 20, 40, 8960, 4 * 1031})
            assertFalse(Hadamard.isSupported(n), n + " must not be supported");
        assertEquals(29568, Hadamard.paddedSize(29568), "Qwen2-72B's intermediate size needs no padding (924·32)");
        assertEquals(12, Hadamard.paddedSize(10));
        assertEquals(24, Hadamard.paddedSize(17));
        assertEquals(9024, Hadamard.paddedSize(8960), "Qwen2-1.5B's 8960 = 2⁸·35 (69 not prime) pads to 9024 = 564·16 (q = 281)");
        for (int n = 1; n <= 3000; n++) {
            int p = Hadamard.paddedSize(n);
            assertTrue(p >= n && Hadamard.isSupported(p), "n=" + n);
            for (int c = n; c < p; c++) assertFalse(Hadamard.isSupported(c), "paddedSize(" + n + ") = " + p + " skips " + c);
        }
        var e = assertThrows(IllegalArgumentException.class, () -> Hadamard.transformNormalized(new float[10], 0, 10));
        assertTrue(e.getMessage().contains("pad to 12"), e.getMessage());
    }

    /** The Kronecker transform equals the explicit (H_m ⊗ H_p)/√n on small analogues of 29568 = 924·32. */
    @Test
    void kroneckerTransformMatchesExplicitMatrix() {
        Random rnd = new Random(3);
        int[][] cases = {{12, 1}, {12, 4}, {12, 8}, {28, 2}, {1, 16}};
        for (int[] c : cases) {
            int m = c[0], p = c[1], n = m * p;
            double[] K = m == 1 ? sylvester(p) : kron(paley(m), m, sylvester(p), p);
            for (int t = 0; t < 3; t++) {
                double[] v = new double[n + 5];
                float[] f = new float[n + 5];
                for (int i = 0; i < v.length; i++) f[i] = (float) (v[i] = rnd.nextGaussian());
                double[] expected = new double[n];
                for (int i = 0; i < n; i++) {
                    double s = 0;
                    for (int j = 0; j < n; j++) s += K[i * n + j] * v[3 + j];
                    expected[i] = s / Math.sqrt(n);
                }
                Hadamard.transformNormalized(v, 3, n); // at an offset: elements outside [3, 3+n) untouched
                Hadamard.transformNormalized(f, 3, n);
                for (int i = 0; i < n; i++) {
                    assertEquals(expected[i], v[3 + i], DOUBLE_TOL * 10, "double, n=" + n + " i=" + i);
                    assertEquals(expected[i], f[3 + i], FLOAT_TOL * 10, "float, n=" + n + " i=" + i);
                }
            }
        }
    }

    @Test
    void orthogonalSelfInverseAndBatchedRowsMatchPerRowTwin() {
        Random rnd = new Random(4);
        for (int n : new int[] {1, 2, 12, 24, 96, 1024, 924, 1848}) {
            int rows = n > 1000 ? 3 : 5;
            double[] A = new double[rows * n];
            for (int i = 0; i < A.length; i++) A[i] = rnd.nextGaussian();
            double[] fast = A.clone(), twin = A.clone();
            Hadamard.transformRows(fast, rows, n);
            for (int r = 0; r < rows; r++) Hadamard.transformNormalized(twin, r * n, n);
            for (int i = 0; i < A.length; i++) assertEquals(twin[i], fast[i], DOUBLE_TOL * Math.sqrt(n), "batched vs per-row, n=" + n);
            for (int r = 0; r < rows; r++) {
                double na = 0, nf = 0;
                for (int i = r * n; i < (r + 1) * n; i++) {
                    na += A[i] * A[i];
                    nf += fast[i] * fast[i];
                }
                assertEquals(na, nf, 1e-12 * na, "norm kept, n=" + n);
            }
            Hadamard.transformRows(fast, rows, n);
            for (int i = 0; i < A.length; i++) assertEquals(A[i], fast[i], DOUBLE_TOL * Math.sqrt(n), "self-inverse, n=" + n);
        }
        // one row of Qwen2-72B's 29568 through both paths
        int n = 29568;
        double[] v = new double[n];
        for (int i = 0; i < n; i++) v[i] = rnd.nextGaussian();
        double[] fast = v.clone(), twin = v.clone();
        Hadamard.transformRows(fast, 1, n);
        Hadamard.transformNormalized(twin, 0, n);
        for (int i = 0; i < n; i++) assertEquals(twin[i], fast[i], 1e-10, "29568, i=" + i);
        Hadamard.transformRows(fast, 1, n);
        for (int i = 0; i < n; i++) assertEquals(v[i], fast[i], 1e-10, "29568 self-inverse, i=" + i);
    }

    /**
     * Incoherence round trip: W → W̃ = U·W·Vᵀ → Uᵀ·W̃·V = W to float tolerance, padded or not;
     * tr(W̃·H̃·W̃ᵀ) = tr(W·H·Wᵀ); and the lead's {@link Incoherence} transforms applied around W̃
     * give W·x (so Caldera's basis and the inference path agree).
     */
    @Test
    void incoherenceRoundTripAndAgreementWithInferenceTransforms() {
        Random rnd = new Random(5);
        int[][] shapes = {{24, 48}, {7, 40}, {12, 29}};
        for (int[] s : shapes) {
            int m = s[0], n = s[1], mP = Hadamard.paddedSize(m), nP = Hadamard.paddedSize(n);
            byte[] su = new byte[nP], sv = new byte[mP];
            for (int i = 0; i < nP; i++) su[i] = (byte) (rnd.nextBoolean() ? 1 : -1);
            for (int i = 0; i < mP; i++) sv[i] = (byte) (rnd.nextBoolean() ? 1 : -1);
            Incoherence inc = new Incoherence(n, m, nP, mP, su, sv);
            float[] W = new float[m * n];
            for (int i = 0; i < W.length; i++) W[i] = (float) rnd.nextGaussian();
            double[] Wt = Caldera.rotateWeight(W, inc);
            float[] back = Caldera.unrotate(Wt, inc);
            for (int i = 0; i < W.length; i++) assertEquals(W[i], back[i], FLOAT_TOL, m + "x" + n + " round trip " + i);
            double[] H = CalderaTest.activationHessian(n, 3 * n, 6 + n), Ht = Caldera.rotateHessian(H, inc);
            double[] Wd = new double[m * n];
            for (int i = 0; i < Wd.length; i++) Wd[i] = W[i];
            double tW = CalderaTest.hNorm(Wd, m, n, H), tWt = CalderaTest.hNorm(Wt, mP, nP, Ht);
            assertEquals(tW, tWt, 1e-10 * tW, m + "x" + n + ": the proxy loss is basis-independent");
            float[] x = new float[2 * n], y = new float[2 * m];
            for (int i = 0; i < x.length; i++) x[i] = (float) rnd.nextGaussian();
            float[] xin = inc.transformInput(x, 2), yPad = new float[2 * mP];
            for (int r = 0; r < 2; r++)
                for (int o = 0; o < mP; o++) {
                    double acc = 0;
                    for (int i = 0; i < nP; i++) acc += Wt[o * nP + i] * xin[r * nP + i];
                    yPad[r * mP + o] = (float) acc;
                }
            inc.transformOutput(yPad, 2, y);
            for (int r = 0; r < 2; r++)
                for (int o = 0; o < m; o++) {
                    double acc = 0;
                    for (int i = 0; i < n; i++) acc += W[o * n + i] * x[r * n + i];
                    assertEquals(acc, y[r * m + o], 1e-4 * (1 + Math.abs(acc)), m + "x" + n + ": Uᵀ·W̃·(V·x) = W·x");
                }
        }
    }
}
