package dev.caldera4j.linalg;

import org.junit.jupiter.api.Test;

import java.util.SplittableRandom;

import static org.junit.jupiter.api.Assertions.assertTrue;

class GemmTest {
    /** float32 sums of k ≤ 700 unit-size terms in different orders: a few ulps times √k. */
    private static final float F32_GEMM_ABS_TOL = 1e-5f;

    @Test
    void blasMatchesNaiveTwinOnAwkwardShapes() {
        SplittableRandom r = new SplittableRandom(7);
        int[][] shapes = {{1, 1, 1}, {1, 7, 3}, {3, 1, 5}, {17, 33, 65}, {64, 128, 96}, {5, 300, 701}};
        for (int[] s : shapes) {
            int m = s[0], n = s[1], k = s[2];
            float tol = (float) (F32_GEMM_ABS_TOL * k);
            float[] A = new float[m * k], B = new float[n * k];
            for (int i = 0; i < A.length; i++) A[i] = (float) r.nextGaussian();
            for (int i = 0; i < B.length; i++) B[i] = (float) r.nextGaussian();
            float[] C = new float[m * n], D = new float[m * n];
            Gemm.matmulTransB(A, B, C, m, n, k, false);
            Gemm.matmulTransBNaive(A, B, D, m, n, k, false);
            float max = 0;
            for (int i = 0; i < C.length; i++) max = Math.max(max, Math.abs(C[i] - D[i]));
            assertTrue(max < tol, "shape " + m + "x" + n + "x" + k + ": max diff " + max);
            Gemm.matmulTransB(A, B, C, m, n, k, true); // accumulate adds onto C
            for (int i = 0; i < C.length; i++) assertTrue(Math.abs(C[i] - 2 * D[i]) < 2 * tol);
            float[] Bt = new float[k * n]; // matmul (no transpose) against the same twin on Bᵀ
            for (int i = 0; i < n; i++) for (int p = 0; p < k; p++) Bt[p * n + i] = B[i * k + p];
            float[] E = new float[m * n];
            Gemm.matmul(A, Bt, E, m, n, k, false);
            for (int i = 0; i < E.length; i++) assertTrue(Math.abs(E[i] - D[i]) < tol, "matmul " + m + "x" + n + "x" + k);
            float[] F = new float[m * n]; // the plain-Java matmul (caldera4j.blas=java) against the same twin
            Gemm.matmulNaive(A, Bt, F, m, n, k, false);
            for (int i = 0; i < F.length; i++) assertTrue(Math.abs(F[i] - D[i]) < tol, "matmulNaive " + m + "x" + n + "x" + k);
            Gemm.matmulNaive(A, Bt, F, m, n, k, true);
            for (int i = 0; i < F.length; i++) assertTrue(Math.abs(F[i] - 2 * D[i]) < 2 * tol, "matmulNaive accumulate");
        }
    }
}
