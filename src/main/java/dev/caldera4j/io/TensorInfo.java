package dev.caldera4j.io;

import java.util.Arrays;

/**
 * One tensor's header entry: where its bytes lie in the data buffer of its file.
 *
 * @param name  tensor name, e.g. "model.layers.0.mlp.down_proj.weight"
 * @param dtype element type
 * @param shape dimensions, row-major (C order); {@code []} is a scalar (one element), a 0 anywhere
 *              makes it empty (the accessor returns a copy)
 * @param begin first byte, relative to the start of the data buffer (not of the file)
 * @param end   one past the last byte, relative to the data buffer; end − begin = byteSize()
 */
public record TensorInfo(String name, DType dtype, long[] shape, long begin, long end) {

    public TensorInfo {
        shape = shape.clone();
    }

    /** A copy of the dims (the record keeps its own array). */
    @Override
    public long[] shape() {
        return shape.clone();
    }

    /** Size of dimension i. */
    public long dim(int i) {
        return shape[i];
    }

    /** Product of the dims (1 for a scalar); throws ArithmeticException when it overflows a long. */
    public long numel() {
        long n = 1;
        for (long d : shape) n = Math.multiplyExact(n, d);
        return n;
    }

    /** numel × element size, the byte count the shape implies. */
    public long byteSize() {
        return Math.multiplyExact(numel(), (long) dtype.bytes);
    }

    /** Number of dimensions (0 for a scalar). */
    public int rank() {
        return shape.length;
    }

    /** A copy of the shape, as ints (throws when a dim exceeds Integer.MAX_VALUE). */
    public int[] shapeInts() {
        int[] s = new int[shape.length];
        for (int i = 0; i < s.length; i++) s[i] = Math.toIntExact(shape[i]);
        return s;
    }

    @Override
    public boolean equals(Object o) {
        return o instanceof TensorInfo t && name.equals(t.name) && dtype == t.dtype
                && Arrays.equals(shape, t.shape) && begin == t.begin && end == t.end;
    }

    @Override
    public int hashCode() {
        return (name.hashCode() * 31 + dtype.hashCode()) * 31 + Arrays.hashCode(shape) + Long.hashCode(begin);
    }

    @Override
    public String toString() {
        return name + " " + dtype + " " + Arrays.toString(shape) + " @[" + begin + ", " + end + ")";
    }
}
