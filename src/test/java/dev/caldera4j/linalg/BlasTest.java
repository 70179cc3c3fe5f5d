package dev.caldera4j.linalg;

import static org.junit.jupiter.api.Assertions.*;

import java.util.Random;
import org.junit.jupiter.api.Test;

class BlasTest {
    /** Float64 sums of at most ~70 products of O(1) values in different orders: ~70·2⁻⁵² ≈ 1.6e-14. */
    static final double SUM_TOL = 1e-12;

    static DMatrix random(int rows, int cols, Random rnd) {
        DMatrix M = DMatrix.zeros(rows, cols);
        for (int i = 0; i < rows; i++)
            for (int j = 0; j < cols; j++) M.set(i, j, rnd.nextGaussian());
        return M;
    }

    @Test
    void dgemmOnSubBlocksMatchesTwin() {
        Random rnd = new Random(1);
        int[][] shapes = {{1, 1, 1}, {3, 5, 7}, {17, 1, 33}, {64, 65, 63}, {2, 70, 1}};
        for (int[] s : shapes) {
            int m = s[0], n = s[1], k = s[2];
            for (boolean tA : new boolean[] {false, true})
                for (boolean tB : new boolean[] {false, true}) {
                    // operands embedded at an offset inside larger matrices, with padded leading dimensions
                    int lda = (tA ? m : k) + 3, ldb = (tB ? k : n) + 2, ldc = n + 5;
                    try (DMatrix A = random((tA ? k : m) + 2, lda, rnd); DMatrix B = random((tB ? n : k) + 1, ldb, rnd);
                         DMatrix C1 = random(m + 1, ldc, rnd)) {
                        DMatrix C2 = DMatrix.of(C1.toArray(), C1.rows, C1.cols);
                        long offA = lda + 2, offB = 1, offC = ldc + 4;
                        Blas.dgemm(tA, tB, m, n, k, -0.5, A, offA, lda, B, offB, ldb, 2, C1, offC, ldc);
                        Blas.dgemmNaive(tA, tB, m, n, k, -0.5, A, offA, lda, B, offB, ldb, 2, C2, offC, ldc);
                        assertArrayEquals(C2.toArray(), C1.toArray(), SUM_TOL, "m,n,k=" + m + "," + n + "," + k + " tA=" + tA + " tB=" + tB);
                        C2.close();
                    }
                }
        }
    }

    @Test
    void dsyrkMatchesTwinAndLeavesUpperTriangle() {
        Random rnd = new Random(2);
        for (int[] s : new int[][] {{1, 1}, {5, 3}, {33, 70}, {64, 1}}) {
            int n = s[0], k = s[1];
            try (DMatrix A = random(k, n, rnd); DMatrix C1 = random(n, n, rnd)) {
                DMatrix C2 = DMatrix.of(C1.toArray(), n, n);
                double[] before = C1.toArray();
                Blas.dsyrkLowerTrans(n, k, 1, A, 0, n, 1, C1, 0, n);
                Blas.dsyrkLowerTransNaive(n, k, 1, A, 0, n, 1, C2, 0, n);
                assertArrayEquals(C2.toArray(), C1.toArray(), SUM_TOL, "n=" + n + " k=" + k);
                for (int i = 0; i < n; i++)
                    for (int j = i + 1; j < n; j++) assertEquals(before[i * n + j], C1.get(i, j), "upper untouched");
                C2.close();
            }
        }
    }

    @Test
    void blockOutsideMatrixIsRejected() {
        try (DMatrix A = DMatrix.zeros(4, 4); DMatrix C = DMatrix.zeros(4, 4)) {
            var e = assertThrows(IllegalArgumentException.class,
                    () -> Blas.dgemm(false, false, 4, 4, 4, 1, A, 1, 4, A, 0, 4, 0, C, 0, 4));
            assertTrue(e.getMessage().contains("dgemm A"), e.getMessage());
        }
    }
}
