package dev.caldera4j.quant;

import java.util.BitSet;

/**
 * Format v1 code packing ({@code P.qweight}, I32 [d_out, ceil(d_in·bq/32)]).
 *
 * <p>The scheme, one rule for every bq ∈ {2, 3, 4, 8}: each row of codes is a little-endian bit
 * stream. Code c of the row (input column c) occupies stream bits [bq·c, bq·c + bq), its least
 * significant bit first; stream bit b lives in word b / 32 (of that row) at bit b % 32 (bit 0 =
 * the int's least significant bit). Hence:
 * <ul>
 *   <li>bq = 2, 4, 8: word w holds codes 32/bq·w … , code j of a word in bits [bq·j, bq·j + bq),
 *       exactly as the format table says; no code straddles a word.</li>
 *   <li>bq = 3: 32 codes fill exactly 3 words (96 bits). Codes 10 and 21 of each 32 straddle:
 *       code 10 has its low 2 bits in bits 30..31 of word 0 and its high bit in bit 0 of word 1;
 *       code 21 has its low bit in bit 31 of word 1 and its high 2 bits in bits 0..1 of word 2.
 *       (This is the same bit stream as IST-DASLab/gptq's Quant3Linear, laid along d_in.)
 *       Format v1 requires d_in to be a multiple of 32 at 3 bits (checked by {@link QuantizedMatrix}).</li>
 *   <li>When d_in·bq is not a multiple of 32, the row's last word is padded with zero bits.</li>
 * </ul>
 * Words are Java ints: a code in the top bits makes the int negative; readers shift with
 * {@code >>>}.
 */
public final class Packing {
    private Packing() {}

    /** Words per row: ceil(dIn·bits/32). */
    public static int wordsPerRow(int dIn, int bits) {
        return (int) (((long) dIn * bits + 31) / 32);
    }

    /** qweight (dOut, wordsPerRow) from codes (dOut, dIn) row-major; every code must be in [0, 2^bits). */
    public static int[] pack(int[] codes, int dOut, int dIn, int bits) {
        checkShape(codes.length, dOut, dIn, bits, "codes");
        int wpr = wordsPerRow(dIn, bits), maxq = (1 << bits) - 1;
        int[] qweight = new int[dOut * wpr];
        for (int r = 0; r < dOut; r++) {
            int base = r * wpr;
            for (int c = 0; c < dIn; c++) {
                int q = codes[r * dIn + c];
                if (q < 0 || q > maxq)
                    throw new IllegalArgumentException("Packing.pack: code " + q + " at (" + r + ", " + c + ") is outside [0, "
                            + maxq + "] for " + bits + " bits");
                int b = bits * c, w = base + (b >>> 5), s = b & 31;
                qweight[w] |= q << s;
                if (s + bits > 32) qweight[w + 1] |= q >>> (32 - s);
            }
        }
        return qweight;
    }

    /** codes (dOut, dIn) from qweight (dOut, wordsPerRow). */
    public static int[] unpack(int[] qweight, int dOut, int dIn, int bits) {
        checkPacked(qweight.length, dOut, dIn, bits);
        int[] codes = new int[dOut * dIn];
        for (int r = 0; r < dOut; r++) unpackRow(qweight, dIn, bits, r, codes, r * dIn);
        return codes;
    }

    /** out[off .. off+dIn) = the codes of row r. */
    public static void unpackRow(int[] qweight, int dIn, int bits, int r, int[] out, int off) {
        int wpr = wordsPerRow(dIn, bits), base = r * wpr, mask = (1 << bits) - 1;
        if (32 % bits == 0) { // 2, 4, 8: whole codes per word, no straddling
            int per = 32 / bits;
            for (int c0 = 0, w = base; c0 < dIn; c0 += per, w++) {
                int word = qweight[w], n = Math.min(per, dIn - c0);
                for (int j = 0; j < n; j++) out[off + c0 + j] = (word >>> (bits * j)) & mask;
            }
        } else {
            for (int c = 0; c < dIn; c++) out[off + c] = codeAt(qweight, base, bits, c, mask);
        }
    }

    /** The code at (row, col) of a packed matrix with dIn columns. */
    public static int code(int[] qweight, int dIn, int bits, int row, int col) {
        return codeAt(qweight, row * wordsPerRow(dIn, bits), bits, col, (1 << bits) - 1);
    }

    private static int codeAt(int[] qweight, int base, int bits, int c, int mask) {
        int b = bits * c, w = base + (b >>> 5), s = b & 31;
        int v = qweight[w] >>> s;
        if (s + bits > 32) v |= qweight[w + 1] << (32 - s);
        return v & mask;
    }

    // ---- plain-Java twin: the bit stream spelled out with a BitSet ---------------------------

    /** Twin of {@link #pack}: sets stream bit bq·c + i for every set bit i of code c, then reads the words off the BitSet. */
    public static int[] packBitSet(int[] codes, int dOut, int dIn, int bits) {
        checkShape(codes.length, dOut, dIn, bits, "codes");
        int wpr = wordsPerRow(dIn, bits);
        int[] qweight = new int[dOut * wpr];
        for (int r = 0; r < dOut; r++) {
            BitSet stream = new BitSet(wpr * 32);
            for (int c = 0; c < dIn; c++) {
                int q = codes[r * dIn + c];
                if (q < 0 || q >= (1 << bits))
                    throw new IllegalArgumentException("Packing.packBitSet: code " + q + " at (" + r + ", " + c + ") out of range");
                for (int i = 0; i < bits; i++) if (((q >> i) & 1) != 0) stream.set(bits * c + i);
            }
            for (int w = 0; w < wpr; w++) {
                int word = 0;
                for (int i = 0; i < 32; i++) if (stream.get(32 * w + i)) word |= 1 << i;
                qweight[r * wpr + w] = word;
            }
        }
        return qweight;
    }

    /** Twin of {@link #unpack}. */
    public static int[] unpackBitSet(int[] qweight, int dOut, int dIn, int bits) {
        checkPacked(qweight.length, dOut, dIn, bits);
        int wpr = wordsPerRow(dIn, bits);
        int[] codes = new int[dOut * dIn];
        for (int r = 0; r < dOut; r++) {
            long[] longs = new long[(wpr + 1) / 2];
            for (int w = 0; w < wpr; w++) longs[w / 2] |= (qweight[r * wpr + w] & 0xFFFFFFFFL) << (32 * (w % 2));
            BitSet stream = BitSet.valueOf(longs);
            for (int c = 0; c < dIn; c++) {
                int q = 0;
                for (int i = 0; i < bits; i++) if (stream.get(bits * c + i)) q |= 1 << i;
                codes[r * dIn + c] = q;
            }
        }
        return codes;
    }

    private static void checkShape(int length, int dOut, int dIn, int bits, String what) {
        if (bits != 2 && bits != 3 && bits != 4 && bits != 8)
            throw new IllegalArgumentException("Packing: bits=" + bits + " is not one of 2, 3, 4, 8");
        if (dOut < 0 || dIn < 0 || length != (long) dOut * dIn)
            throw new IllegalArgumentException("Packing: " + what + " has " + length + " elements, expected (dOut, dIn) = ("
                    + dOut + ", " + dIn + ")");
    }

    private static void checkPacked(int length, int dOut, int dIn, int bits) {
        checkShape(dOut * dIn, dOut, dIn, bits, "codes");
        if (length != (long) dOut * wordsPerRow(dIn, bits))
            throw new IllegalArgumentException("Packing: qweight has " + length + " words, expected (dOut, ceil(dIn·bits/32)) = ("
                    + dOut + ", " + wordsPerRow(dIn, bits) + ") for dIn=" + dIn + ", bits=" + bits);
    }
}
