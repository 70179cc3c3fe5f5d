package dev.caldera4j.quant;

import static org.junit.jupiter.api.Assertions.*;

import java.util.Random;
import org.junit.jupiter.api.Test;

class PackingTest {
    static int[] randomCodes(int dOut, int dIn, int bits, Random rnd) {
        int[] codes = new int[dOut * dIn];
        for (int i = 0; i < codes.length; i++) codes[i] = rnd.nextInt(1 << bits);
        return codes;
    }

    static void roundTrip(int dOut, int dIn, int bits, Random rnd) {
        String where = "dOut=" + dOut + " dIn=" + dIn + " bits=" + bits;
        int[] codes = randomCodes(dOut, dIn, bits, rnd);
        int[] q = Packing.pack(codes, dOut, dIn, bits);
        assertEquals(dOut * ((dIn * bits + 31) / 32), q.length, where);
        assertArrayEquals(Packing.packBitSet(codes, dOut, dIn, bits), q, "pack vs BitSet twin, " + where);
        assertArrayEquals(codes, Packing.unpack(q, dOut, dIn, bits), "unpack, " + where);
        assertArrayEquals(codes, Packing.unpackBitSet(q, dOut, dIn, bits), "BitSet unpack, " + where);
        for (int r = 0; r < dOut; r++)
            for (int c = 0; c < dIn; c += 1 + dIn / 50) assertEquals(codes[r * dIn + c], Packing.code(q, dIn, bits, r, c), where);
        int used = (dIn * bits) % 32; // padding bits of each row's last word must be zero
        if (used != 0) {
            int wpr = Packing.wordsPerRow(dIn, bits);
            for (int r = 0; r < dOut; r++) assertEquals(0, q[r * wpr + wpr - 1] >>> used, "padding, " + where);
        }
    }

    @Test
    void roundTripsAtFormatShapes() {
        Random rnd = new Random(3);
        for (int bits : new int[] {2, 3, 4, 8})
            for (int dIn : new int[] {32, 64, 96, 128, 4096})
                for (int dOut : new int[] {1, 3}) roundTrip(dOut, dIn, bits, rnd);
    }

    @Test
    void roundTripsAtAwkwardWidthsWithZeroPadding() {
        Random rnd = new Random(4);
        for (int bits : new int[] {2, 4, 8})
            for (int dIn : new int[] {1, 3, 5, 7, 17, 33, 100}) roundTrip(2, dIn, bits, rnd);
        // the bit stream itself works at any width for 3 bits too (format v1 then forbids it, see QuantizedMatrixTest)
        for (int dIn : new int[] {1, 10, 11, 21, 22, 33}) roundTrip(2, dIn, 3, rnd);
    }

    @Test
    void documentedBitLayout() {
        // 4 bits: codes 1..8 → nibbles little-endian
        int[] q4 = Packing.pack(new int[] {1, 2, 3, 4, 5, 6, 7, 8}, 1, 8, 4);
        assertEquals(0x87654321, q4[0]);
        // 2 bits: code j in bits [2j, 2j+2)
        int[] codes2 = new int[16];
        codes2[15] = 3;
        codes2[0] = 1;
        assertEquals(0xC0000001, Packing.pack(codes2, 1, 16, 2)[0]);
        // 3 bits: code 10 straddles words 0/1 (bits 30,31 | bit 0), code 21 straddles words 1/2 (bit 31 | bits 0,1)
        int[] codes3 = new int[32];
        codes3[10] = 0b101;
        codes3[21] = 0b110;
        codes3[31] = 0b111;
        int[] q3 = Packing.pack(codes3, 1, 32, 3);
        assertEquals(3, q3.length);
        assertEquals(0b01 << 30, q3[0]);            // low two bits of code 10 = 01
        assertEquals(1 | (0 << 31), q3[1]);          // high bit of code 10 = 1; low bit of code 21 = 0
        assertEquals(0b11 | (0b111 << 29), q3[2]);   // high bits of code 21 = 11; code 31 at bits 29..31
    }

    @Test
    void outOfRangeCodeIsRejected() {
        var e = assertThrows(IllegalArgumentException.class, () -> Packing.pack(new int[] {0, 4}, 1, 2, 2));
        assertTrue(e.getMessage().contains("code 4 at (0, 1)"), e.getMessage());
        assertThrows(IllegalArgumentException.class, () -> Packing.pack(new int[] {-1}, 1, 1, 8));
        assertThrows(IllegalArgumentException.class, () -> Packing.pack(new int[4], 1, 4, 5));
        var s = assertThrows(IllegalArgumentException.class, () -> Packing.unpack(new int[3], 1, 32, 2));
        assertTrue(s.getMessage().contains("qweight has 3 words"), s.getMessage());
    }
}
