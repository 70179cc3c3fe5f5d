package dev.caldera4j.quant;

/**
 * Fast Walsh–Hadamard transforms, normalised (H/√n, so the transform is orthogonal and its own
 * inverse). Supported orders: powers of two (Sylvester). Sizes like Qwen2-72B's 29568 are padded
 * by the caller to a supported order.
 */
public final class Hadamard {
    private Hadamard() {}

    public static boolean isSupported(int n) {
        return n > 0 && Integer.bitCount(n) == 1;
    }

    static void checkSupported(int n, String what) {
        if (!isSupported(n))
            throw new IllegalArgumentException("Hadamard: " + what + " = " + n + " is not a supported order (a power of two): pad to "
                    + paddedSize(n));
    }

    /** The smallest supported order ≥ n. */
    public static int paddedSize(int n) {
        return n <= 1 ? 1 : Integer.highestOneBit(n - 1) << 1;
    }

    /** v[off … off+n) ← (H_n/√n)·v in place; n a power of two. O(n log n). */
    public static void transformNormalized(float[] v, int off, int n) {
        checkSupported(n, "n");
        for (int h = 1; h < n; h <<= 1) {
            for (int i = 0; i < n; i += h << 1) {
                for (int j = i; j < i + h; j++) {
                    float a = v[off + j], b = v[off + j + h];
                    v[off + j] = a + b;
                    v[off + j + h] = a - b;
                }
            }
        }
        float s = (float) (1.0 / Math.sqrt(n));
        for (int i = 0; i < n; i++) v[off + i] *= s;
    }
}
