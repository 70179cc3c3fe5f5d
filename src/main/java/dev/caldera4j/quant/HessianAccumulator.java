package dev.caldera4j.quant;

import dev.caldera4j.linalg.Blas;
import dev.caldera4j.linalg.DMatrix;

/**
 * Accumulates the layer Hessian H = XᵀX / n over calibration batches, in float64.
 *
 * <p>The running sum XᵀX lives in native memory (dIn², 7 GB at dIn = 29568) and is updated by
 * dsyrk on a float64 copy of each batch, a chunk of rows at a time; only its lower triangle is
 * maintained. Close the accumulator to free that memory at once.
 */
public final class HessianAccumulator implements AutoCloseable {
    /** Batch rows converted to float64 per dsyrk call (chunk ≤ 16 MB at dIn = 8192, ≥ 64 rows). */
    private static final int CHUNK_DOUBLES = 1 << 21;

    /** Input features: H is (dIn, dIn). */
    public final int dIn;
    private final DMatrix S;      // (dIn, dIn) Σ XᵀX, lower triangle
    private final DMatrix Xd;     // (chunk, dIn) float64 staging for one dsyrk
    private final double[] row;   // (dIn)
    private final int chunk;
    private long n;               // rows added

    public HessianAccumulator(int dIn) {
        this(dIn, Math.max(64, CHUNK_DOUBLES / Math.max(1, dIn)));
    }

    /** With chunk rows per dsyrk call (tests use a small chunk to cover the chunking). */
    HessianAccumulator(int dIn, int chunk) {
        if (dIn < 1) throw new IllegalArgumentException("HessianAccumulator: dIn=" + dIn + " must be positive");
        if (chunk < 1) throw new IllegalArgumentException("HessianAccumulator: chunk=" + chunk + " must be positive");
        this.dIn = dIn;
        this.chunk = chunk;
        this.S = DMatrix.zeros(dIn, dIn);
        this.Xd = DMatrix.zeros(chunk, dIn);
        this.row = new double[dIn];
    }

    /** Adds the rows of X (rows, dIn) row-major float32: S += XᵀX, n += rows. */
    public void add(float[] X, int rows) {
        if (rows < 0 || X.length < (long) rows * dIn)
            throw new IllegalArgumentException("HessianAccumulator.add: X has " + X.length + " elements, fewer than (rows, dIn) = ("
                    + rows + ", " + dIn + ")");
        for (int r0 = 0; r0 < rows; r0 += chunk) {
            int k = Math.min(chunk, rows - r0);
            for (int i = 0; i < k; i++) {
                int o = (r0 + i) * dIn;
                for (int j = 0; j < dIn; j++) {
                    float v = X[o + j];
                    if (!Float.isFinite(v))
                        throw new IllegalArgumentException("HessianAccumulator.add: X[" + (r0 + i) + ", " + j + "] = " + v
                                + "; the calibration activations contain NaN/Inf (check the layer feeding this one)");
                    row[j] = v;
                }
                Xd.setRow(i, 0, row, 0, dIn);
            }
            Blas.dsyrkLowerTrans(dIn, k, 1, Xd, 0, dIn, 1, S, 0, dIn);
        }
        n += rows;
    }

    /** Rows added so far. */
    public long count() {
        return n;
    }

    /** H = XᵀX / n, (dIn, dIn) row-major, both triangles. */
    public double[] H() {
        if (n == 0)
            throw new IllegalStateException("HessianAccumulator.H: no rows were added; feed calibration activations with add() first");
        double[] H = new double[dIn * dIn];
        double[] r = new double[dIn];
        for (int i = 0; i < dIn; i++) {
            S.getRow(i, 0, r, 0, i + 1);
            for (int j = 0; j <= i; j++) {
                double v = r[j] / n;
                H[i * dIn + j] = v;
                H[j * dIn + i] = v;
            }
        }
        return H;
    }

    /** Plain-Java twin: XᵀX / rows for one batch X (rows, dIn), float64 accumulation. */
    public static double[] naive(float[] X, int rows, int dIn) {
        double[] H = new double[dIn * dIn];
        for (int i = 0; i < dIn; i++)
            for (int j = 0; j <= i; j++) {
                double s = 0;
                for (int r = 0; r < rows; r++) s += (double) X[r * dIn + i] * X[r * dIn + j];
                H[i * dIn + j] = H[j * dIn + i] = s / rows;
            }
        return H;
    }

    @Override
    public void close() {
        S.close();
        Xd.close();
    }
}
