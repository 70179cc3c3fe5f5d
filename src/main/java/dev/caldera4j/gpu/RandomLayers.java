package dev.caldera4j.gpu;

import java.util.SplittableRandom;
import java.util.stream.IntStream;

/**
 * Seeded random format-v1 layers and activations for tests and benchmarks. Magnitudes are set so
 * that both terms matter: Q·x and L·(R·x) are each of order one for x ~ N(0, 1), and zeros mix
 * integer and fractional values (the kernels must not assume integer zeros).
 */
public final class RandomLayers {
    private RandomLayers() {}

    /** A random 2-bit layer (d_out, d_in) with rank-r factors at bl/br bits (4 or 16); rank 0 for none. */
    public static FormatV1Layer layer(long seed, int dOut, int dIn, int group, int rank, int bl, int br) {
        return new FormatV1Layer("random", dOut, dIn, 2, group, codes(seed, dOut * (dIn * 2 / 32)),
                scaleArray(seed + 1, dOut * (dIn / group), 1.0 / (1.1 * Math.sqrt(dIn))),
                zeroArray(seed + 2, dOut * (dIn / group), 3),
                rank == 0 ? null : factor(seed + 3, "L", dOut, rank, bl, rank <= 128 ? rank : factorGroup(rank), 0.5 / Math.sqrt(rank)),
                rank == 0 ? null : factor(seed + 4, "R", rank, dIn, br, factorGroup(dIn), 1.0 / Math.sqrt(dIn)));
    }

    /** The largest of 128, 64, 32, 16, 8 that divides n (R's group along d_in, L's along rank ≥ 128). */
    public static int factorGroup(int n) {
        for (int g = 128; g > 8; g /= 2)
            if (n % g == 0) return g;
        return 8;
    }

    /** A factor whose entries have standard deviation about sigma. */
    public static Factor factor(long seed, String name, int rows, int cols, int bits, int group, double sigma) {
        if (bits == 16) {
            short[] v = new short[rows * cols];
            SplittableRandom rnd = new SplittableRandom(seed);
            for (int i = 0; i < v.length; i++) v[i] = Float.floatToFloat16((float) (sigma * rnd.nextGaussian()));
            return new Factor(name, rows, cols, 16, 0, v, null, null, null);
        }
        // codes uniform on 0..15, zero near 7.5: (q − z) has standard deviation ≈ 4.6
        return new Factor(name, rows, cols, 4, group, null, codes4(seed, rows * cols / 8),
                scaleArray(seed + 1, rows * (cols / group), sigma / 4.6),
                zeroArray(seed + 2, rows * (cols / group), 15));
    }

    /** Uniform random 2-bit codes, 16 per word. */
    static int[] codes(long seed, int words) {
        int[] q = new int[words];
        int blocks = (words + 65535) / 65536;
        IntStream.range(0, blocks).parallel().forEach(b -> {
            SplittableRandom rnd = new SplittableRandom(seed * 1_000_003L + b);
            for (int i = b * 65536, end = Math.min(words, i + 65536); i < end; i++) q[i] = rnd.nextInt();
        });
        return q;
    }

    static int[] codes4(long seed, int words) {
        return codes(seed ^ 0x5DEECE66DL, words);
    }

    /** fp16 scales uniform in [0.5, 1.5)·mean. */
    static short[] scaleArray(long seed, int n, double mean) {
        short[] s = new short[n];
        SplittableRandom rnd = new SplittableRandom(seed);
        for (int i = 0; i < n; i++) s[i] = Float.floatToFloat16((float) (mean * (0.5 + rnd.nextDouble())));
        return s;
    }

    /** fp16 zeros around the middle of 0..qmax: half of them integers, half fractional. */
    static short[] zeroArray(long seed, int n, int qmax) {
        short[] z = new short[n];
        SplittableRandom rnd = new SplittableRandom(seed);
        double mid = qmax / 2.0;
        for (int i = 0; i < n; i++) {
            double v = rnd.nextBoolean() ? Math.floor(mid + rnd.nextInt(2)) : mid + (rnd.nextDouble() - 0.5);
            z[i] = Float.floatToFloat16((float) v);
        }
        return z;
    }

    /** Activations x (rows, cols) ~ N(0, 1) in fp16. */
    public static short[] activations(long seed, int rows, int cols) {
        short[] x = new short[rows * cols];
        SplittableRandom rnd = new SplittableRandom(seed);
        for (int i = 0; i < x.length; i++) x[i] = Float.floatToFloat16((float) rnd.nextGaussian());
        return x;
    }

    /** A random fp16 matrix (rows, cols) with entries of standard deviation sigma. */
    public static short[] fp16Matrix(long seed, int rows, int cols, double sigma) {
        short[] w = new short[rows * cols];
        int blocks = (w.length + 65535) / 65536;
        IntStream.range(0, blocks).parallel().forEach(b -> {
            SplittableRandom rnd = new SplittableRandom(seed * 1_000_003L + b);
            for (int i = b * 65536, end = Math.min(w.length, i + 65536); i < end; i++)
                w[i] = Float.floatToFloat16((float) (sigma * rnd.nextGaussian()));
        });
        return w;
    }
}
