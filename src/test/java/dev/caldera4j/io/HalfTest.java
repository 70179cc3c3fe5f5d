package dev.caldera4j.io;

import org.junit.jupiter.api.Test;

import java.util.SplittableRandom;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** bf16 / f16 conversions against naive bit-manipulation twins, exhaustively where the domain is 16 bits. */
class HalfTest {

    /** Naive f16 decode: sign · (implicit 1 + mantissa/1024) · 2^(exp − 15), subnormals and inf/NaN by cases. */
    static float naiveF16ToFloat(short h) {
        int bits = h & 0xFFFF;
        int sign = bits >>> 15, exp = (bits >>> 10) & 0x1F, mant = bits & 0x3FF;
        double s = sign == 1 ? -1 : 1;
        if (exp == 31) return mant == 0 ? (float) (s * Double.POSITIVE_INFINITY) : Float.NaN;
        if (exp == 0) return (float) Math.scalb(s * mant, -24);
        return (float) Math.scalb(s * (1024 + mant), exp - 25);
    }

    /** Naive bf16 decode: same layout as float32 with 7 mantissa bits and bias 127. */
    static float naiveBf16ToFloat(short h) {
        int bits = h & 0xFFFF;
        int sign = bits >>> 15, exp = (bits >>> 7) & 0xFF, mant = bits & 0x7F;
        double s = sign == 1 ? -1 : 1;
        if (exp == 255) return mant == 0 ? (float) (s * Double.POSITIVE_INFINITY) : Float.NaN;
        if (exp == 0) return (float) Math.scalb(s * mant, -133);
        return (float) Math.scalb(s * (128 + mant), exp - 134);
    }

    /**
     * Naive float → bf16, round to nearest even: take the truncated bf16 and its successor (in
     * magnitude) and keep the one nearer to x, measured exactly in double; on a tie keep the even
     * one. The successor of the largest finite bf16 is infinity, which IEEE rounding treats as the
     * value 2^128 for this comparison.
     */
    static short naiveFloatToBf16(float x) {
        int bits = Float.floatToRawIntBits(x);
        if (Float.isNaN(x)) return (short) ((bits >>> 16) | 0x40);
        if (Float.isInfinite(x)) return (short) (bits >>> 16);
        int lo = bits >>> 16, hi = lo + 1;
        double ax = Math.abs((double) x);
        double vLo = Math.abs((double) naiveBf16ToFloat((short) lo));
        double vHi = ((hi & 0x7FFF) == 0x7F80) ? Math.pow(2, 128) : Math.abs((double) naiveBf16ToFloat((short) hi));
        double dLo = ax - vLo, dHi = vHi - ax;
        if (dLo < dHi) return (short) lo;
        if (dHi < dLo) return (short) hi;
        return (short) ((lo & 1) == 0 ? lo : hi);
    }

    @Test
    void f16DecodeMatchesJavaAndNaiveTwinForAll65536Patterns() {
        for (int b = 0; b < 65536; b++) {
            short h = (short) b;
            float fast = Half.f16ToFloat(h), java = Float.float16ToFloat(h), naive = naiveF16ToFloat(h);
            if (Float.isNaN(naive)) {
                assertTrue(Float.isNaN(fast) && Float.isNaN(java), "f16 0x" + Integer.toHexString(b) + " must be NaN");
            } else {
                // Exact: every f16 is representable in float32, so any difference is a bug, not rounding.
                assertEquals(Float.floatToRawIntBits(naive), Float.floatToRawIntBits(fast), "f16 0x" + Integer.toHexString(b));
                assertEquals(Float.floatToRawIntBits(java), Float.floatToRawIntBits(fast), "f16 0x" + Integer.toHexString(b));
            }
        }
    }

    @Test
    void bf16DecodeMatchesNaiveTwinAndRoundTripsForAll65536Patterns() {
        for (int b = 0; b < 65536; b++) {
            short h = (short) b;
            float fast = Half.bf16ToFloat(h), naive = naiveBf16ToFloat(h);
            if (Float.isNaN(naive)) {
                assertTrue(Float.isNaN(fast), "bf16 0x" + Integer.toHexString(b) + " must be NaN");
                continue;
            }
            assertEquals(Float.floatToRawIntBits(naive), Float.floatToRawIntBits(fast), "bf16 0x" + Integer.toHexString(b));
            // A bf16 value is exact in float32, so encoding it back must give the same bits.
            assertEquals(h, Half.floatToBf16(fast), "bf16 0x" + Integer.toHexString(b) + " round trip");
        }
    }

    @Test
    void bf16EncodeMatchesNaiveRoundToNearestEven() {
        SplittableRandom rnd = new SplittableRandom(20240601);
        float[] special = {0f, -0f, 1f, -1f, Float.MIN_VALUE, -Float.MIN_VALUE, Float.MIN_NORMAL, Float.MAX_VALUE,
                -Float.MAX_VALUE, Float.POSITIVE_INFINITY, Float.NEGATIVE_INFINITY, 65504f, 1e-40f, 3.0e38f,
                // exact ties: mantissa low half = 0x8000, kept bit even (round down) and odd (round up)
                Float.intBitsToFloat(0x3F80_8000), Float.intBitsToFloat(0x3F81_8000), Float.intBitsToFloat(0xBF81_8000),
                // just past and just before a tie
                Float.intBitsToFloat(0x3F80_8001), Float.intBitsToFloat(0x3F80_7FFF),
                // the largest finite values, which round up to infinity
                Float.intBitsToFloat(0x7F7F_8000), Float.intBitsToFloat(0x7F7F_FFFF), Float.intBitsToFloat(0x7F7F_7FFF),
                // subnormal tie
                Float.intBitsToFloat(0x0000_8000), Float.intBitsToFloat(0x0001_8000)};
        for (float x : special) {
            assertEquals(naiveFloatToBf16(x), Half.floatToBf16(x), "x = " + x + " (0x" + Integer.toHexString(Float.floatToRawIntBits(x)) + ")");
        }
        for (int i = 0; i < 200_000; i++) {
            // random bit patterns sweep every exponent, including subnormals and NaN payloads
            float x = Float.intBitsToFloat(rnd.nextInt());
            short fast = Half.floatToBf16(x);
            if (Float.isNaN(x)) {
                assertTrue(Float.isNaN(Half.bf16ToFloat(fast)), "NaN must stay NaN: 0x" + Integer.toHexString(Float.floatToRawIntBits(x)));
                assertEquals(Float.floatToRawIntBits(x) >>> 31, (fast & 0xFFFF) >>> 15, "NaN keeps its sign");
            } else {
                assertEquals(naiveFloatToBf16(x), fast, "x = 0x" + Integer.toHexString(Float.floatToRawIntBits(x)));
            }
        }
    }

    @Test
    void f16EncodeIsNearestWithTiesToEven() {
        SplittableRandom rnd = new SplittableRandom(7);
        for (int i = 0; i < 100_000; i++) {
            // floats within the f16 range (|x| < 65520 rounds to a finite f16), many subnormal
            float x = (float) ((rnd.nextDouble() * 2 - 1) * Math.pow(2, rnd.nextInt(-26, 16)));
            short h = Half.floatToF16(x);
            double err = Math.abs(x - (double) naiveF16ToFloat(h));
            for (int step : new int[] {-1, 1}) {
                short nb = (short) (h + step);
                float v = naiveF16ToFloat(nb);
                if (Float.isNaN(v) || ((h ^ nb) & 0x8000) != 0) continue;  // neighbour across the sign bit or NaN
                double nerr = Math.abs(x - (double) v);
                assertTrue(err < nerr || (err == nerr && (h & 1) == 0),
                        "x = " + x + " → f16 0x" + Integer.toHexString(h & 0xFFFF) + " is not nearest-even (neighbour 0x"
                                + Integer.toHexString(nb & 0xFFFF) + ")");
            }
        }
    }
}
