package dev.caldera4j.linalg;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import org.bytedeco.javacpp.DoublePointer;

/**
 * A row-major (rows, cols) float64 matrix in native memory, for BLAS/LAPACK calls on large
 * operands.
 *
 * <p>Why native memory: JavaCPP passes a {@code double[]} to native code by copying the WHOLE
 * array in and back out on every call (measured here: a 1-element ddot on an 800 MB array takes
 * seconds). That is harmless for one O(n³) call on a small matrix, but GPTQ's lazy block updates
 * touch a slice of a (dOut, dIn) matrix 231 times at dIn = 29568, and a Hessian accumulator adds
 * thousands of batches into an (n, n) sum. Native memory is handed to OpenBLAS by address, with
 * any element offset, and no copy.
 *
 * <p>The memory belongs to a shared arena: any thread may read and write it; {@link #close()}
 * frees it at once (a 29568² matrix is 7 GB, too large to leave to the garbage collector).
 * Not thread-safe against a concurrent close.
 */
public final class DMatrix implements AutoCloseable {
    private static final ValueLayout.OfDouble D = ValueLayout.JAVA_DOUBLE;

    /** Rows and columns; element (i, j) at index i·cols + j. */
    public final int rows, cols;
    private final Arena arena;
    private final MemorySegment seg; // (rows, cols) row-major float64

    private DMatrix(int rows, int cols) {
        if (rows < 0 || cols < 0)
            throw new IllegalArgumentException("DMatrix: negative shape (" + rows + ", " + cols + ")");
        this.rows = rows;
        this.cols = cols;
        this.arena = Arena.ofShared();
        // Arena.allocate zero-fills; at least one element so that address() is a real pointer.
        this.seg = arena.allocate(Math.max(1L, (long) rows * cols) * Double.BYTES, 64);
    }

    /** A zero-filled (rows, cols) matrix. */
    public static DMatrix zeros(int rows, int cols) {
        return new DMatrix(rows, cols);
    }

    /** A copy of A (rows, cols) row-major. */
    public static DMatrix of(double[] A, int rows, int cols) {
        if (A.length < (long) rows * cols)
            throw new IllegalArgumentException("DMatrix.of: array of " + A.length + " elements is smaller than ("
                    + rows + ", " + cols + ")");
        DMatrix M = new DMatrix(rows, cols);
        MemorySegment.copy(A, 0, M.seg, D, 0, rows * cols);
        return M;
    }

    public double get(int i, int j) {
        return seg.getAtIndex(D, (long) i * cols + j);
    }

    public void set(int i, int j, double v) {
        seg.setAtIndex(D, (long) i * cols + j, v);
    }

    /** Element at flat index (row-major). */
    public double at(long index) {
        return seg.getAtIndex(D, index);
    }

    /** Sets the element at flat index (row-major). */
    public void setAt(long index, double v) {
        seg.setAtIndex(D, index, v);
    }

    /** dst[dstOff .. dstOff+len) = this[row, col .. col+len). */
    public void getRow(int row, int col, double[] dst, int dstOff, int len) {
        MemorySegment.copy(seg, D, ((long) row * cols + col) * Double.BYTES, dst, dstOff, len);
    }

    /** this[row, col .. col+len) = src[srcOff .. srcOff+len). */
    public void setRow(int row, int col, double[] src, int srcOff, int len) {
        MemorySegment.copy(src, srcOff, seg, D, ((long) row * cols + col) * Double.BYTES, len);
    }

    /** A heap copy, (rows, cols) row-major. Needs rows·cols < 2³¹. */
    public double[] toArray() {
        long n = (long) rows * cols;
        if (n > Integer.MAX_VALUE - 8)
            throw new IllegalStateException("DMatrix.toArray: (" + rows + ", " + cols + ") exceeds a Java array");
        double[] A = new double[(int) n];
        MemorySegment.copy(seg, D, 0, A, 0, (int) n);
        return A;
    }

    /**
     * A JavaCPP pointer to element {@code offset} (flat, row-major) for the openblas bindings. It
     * does not own the memory; it is valid while this matrix is open.
     */
    DoublePointer pointer(long offset) {
        long segAddress = seg.address(), segDoubles = seg.byteSize() / Double.BYTES;
        if (offset < 0 || offset > segDoubles)
            throw new IndexOutOfBoundsException("DMatrix.pointer: offset " + offset + " outside 0.." + segDoubles);
        // Pointer's fields are protected: an anonymous subclass points JavaCPP at our segment.
        // (The locals must not be named like those fields: inside the subclass the fields win.)
        DoublePointer p = new DoublePointer() {
            {
                this.address = segAddress;
                this.limit = segDoubles;
                this.capacity = segDoubles;
            }
        };
        return p.position(offset);
    }

    @Override
    public void close() {
        arena.close();
    }
}
