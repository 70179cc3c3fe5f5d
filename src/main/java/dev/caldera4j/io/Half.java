package dev.caldera4j.io;

/**
 * 16-bit float conversions. bf16 is the top half of an IEEE float32 (same 8-bit exponent, 7-bit
 * mantissa); f16 is IEEE binary16 (5-bit exponent, 10-bit mantissa), for which Java 25's
 * {@link Float#float16ToFloat} / {@link Float#floatToFloat16} are exact and round to nearest even.
 * Values are carried as the raw bits in a {@code short}.
 */
public final class Half {
    private Half() {}

    /** Exact: every bf16 is a float32 with 16 zero low bits. */
    public static float bf16ToFloat(short bits) {
        return Float.intBitsToFloat((bits & 0xFFFF) << 16);
    }

    /**
     * float32 → bf16 rounding to nearest, ties to even (what torch's {@code .to(torch.bfloat16)}
     * does). Adding 0x7FFF plus the lowest kept bit and truncating rounds ties toward the even
     * mantissa; a carry out of the mantissa correctly bumps the exponent (and overflows the largest
     * finite values to ±inf, as IEEE rounding must). NaN is handled apart because the addition could
     * carry a NaN payload into an infinity: it keeps its sign and top payload bits and is made quiet.
     */
    public static short floatToBf16(float f) {
        int bits = Float.floatToRawIntBits(f);
        if ((bits & 0x7FFF_FFFF) > 0x7F80_0000) {
            return (short) ((bits >>> 16) | 0x0040);
        }
        int lsb = (bits >>> 16) & 1;
        return (short) ((bits + 0x7FFF + lsb) >>> 16);
    }

    /** IEEE binary16 bits → float32 (exact). */
    public static float f16ToFloat(short bits) {
        return Float.float16ToFloat(bits);
    }

    /** float32 → IEEE binary16 bits, round to nearest even; overflow gives ±inf. */
    public static short floatToF16(float f) {
        return Float.floatToFloat16(f);
    }
}
