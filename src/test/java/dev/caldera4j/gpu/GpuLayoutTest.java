package dev.caldera4j.gpu;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.caldera4j.gpu.GpuLayout.GpuLayer;
import java.util.HashSet;
import java.util.Set;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;
import org.junit.jupiter.api.Test;

/** The GPU layout converter and its decoding twins against direct decoding of format v1. */
class GpuLayoutTest {

    /**
     * How far a GPU-layout weight fp16(fma(q, s, fp16(−z·s))) may be from (q − z)·s: two fp16
     * roundings (of −z·s and of the result), each at most half an ulp of a value ≤ |z·s| + |w|,
     * so 2^-11·(|z·s| + |w|) + 2^-11·|w|, plus float slack.
     */
    private static double weightTolerance(double zs, double w) {
        return Math.scalb(1.0, -11) * (Math.abs(zs) + 2 * Math.abs(w)) * 1.001 + 1e-12;
    }

    @Test
    void tileMapIsABijectionOfEachLanesRowsAndInputs() {
        for (int lane = 0; lane < 32; lane++) {
            Set<Integer> seen = new HashSet<>();
            for (int w = 0; w < 4; w++)
                for (int s = 0; s < 16; s++) {
                    int row = GpuLayout.slotRow(lane, w, s), k = GpuLayout.slotK(lane, w, s);
                    assertTrue(row == (lane >> 2) || row == (lane >> 2) + 8, "row " + row + " of lane " + lane);
                    assertTrue(k >= 32 * (lane & 3) && k < 32 * (lane & 3) + 32, "k " + k + " of lane " + lane);
                    assertTrue(seen.add(row * 128 + k), "lane " + lane + " maps two slots to row " + row + " k " + k);
                    // a decoded pair is two consecutive inputs of one row (one half2 A register)
                    if (s < 8) {
                        assertEquals(row, GpuLayout.slotRow(lane, w, s + 8));
                        assertEquals(k + 1, GpuLayout.slotK(lane, w, s + 8));
                    }
                }
            assertEquals(64, seen.size());
        }
    }

    @Test
    void magicDecodeRecoversEverySlotOfEveryWordPattern() {
        java.util.SplittableRandom rnd = new java.util.SplittableRandom(7);
        for (int trial = 0; trial < 2000; trial++) {
            int word = trial < 4 ? new int[] {0, -1, 0x55555555, 0xAAAAAAAA}[trial] : rnd.nextInt();
            for (int p = 0; p < 8; p++) {
                for (int[] q : new int[][] {CpuTwins.magicPair(word, p), CpuTwins.magicPairPerPosition(word, p)}) {
                    assertEquals((word >>> (2 * p)) & 3, q[0], "low half of pair " + p + " of word " + Integer.toHexString(word));
                    assertEquals((word >>> (2 * (p + 8))) & 3, q[1], "high half of pair " + p + " of word " + Integer.toHexString(word));
                }
            }
        }
    }

    /**
     * The v3m decode keeps magic + q in every A slot and subtracts M = Σ_k magic(k)·x_k per tile
     * and row parity afterwards. Here: every slot's bit position (the magic the kernel ORs in)
     * must equal magicWeight(k, row parity), so that Σ_k A·x − M = Σ_k q·x exactly.
     */
    @Test
    void magicSumsRemoveExactlyWhatTheSlotsCarry() {
        FormatV1Layer w = RandomLayers.layer(21, 16, 128, 128, 0, 4, 4);
        GpuLayer g = GpuLayout.convert(w);
        short[] x = RandomLayers.activations(22, 1, 128);
        double[] M = CpuTwins.tileMagicSums(x);
        double[] withMagic = new double[16], plain = new double[16];
        for (int lane = 0; lane < 32; lane++)
            for (int word = 0; word < 4; word++)
                for (int slot = 0; slot < 16; slot++) {
                    int row = GpuLayout.slotRow(lane, word, slot), k = GpuLayout.slotK(lane, word, slot);
                    int p = slot & 7, sh = p < 5 ? p : p - 5, magic = 1024 >> (2 * sh);
                    assertEquals(magic, CpuTwins.magicWeight(k, row >> 3), "magic of slot " + slot + " (lane " + lane + ", row " + row + ")");
                    int q = (g.qtiles()[lane * 4 + word] >>> (2 * slot)) & 3;
                    double xv = Float.float16ToFloat(x[k]);
                    withMagic[row] += (magic + q) * xv;
                    plain[row] += q * xv;
                }
        for (int row = 0; row < 16; row++)
            assertEquals(plain[row], withMagic[row] - M[row >> 3], 1e-9 * (1 + Math.abs(M[row >> 3])), "row " + row);
    }

    @ParameterizedTest(name = "dOut={0} dIn={1} group={2}")
    @CsvSource({"1, 32, 16", "1, 16, 16", "1, 64, 64", "17, 192, 64", "37, 160, 32", "16, 128, 128", "33, 384, 128",
            "20, 512, 256", "9, 208, 208", "40, 320, 32"})
    void tilesDecodeToFormatV1(int dOut, int dIn, int group) {
        if (group == 16 && dIn != 16) {  // not a GPU group: the converter must say so
            FormatV1Layer w = RandomLayers.layer(1, dOut, dIn, group, 0, 4, 4);
            IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> GpuLayout.convert(w));
            assertTrue(e.getMessage().contains("group 16"), e.getMessage());
            return;
        }
        FormatV1Layer w = RandomLayers.layer(dOut * 31L + dIn, dOut, dIn, group, 0, 4, 4);
        GpuLayer g = GpuLayout.convert(w);
        int[] codes = CpuTwins.codesFromTiles(g);
        for (int o = 0; o < dOut; o++)
            for (int k = 0; k < dIn; k++)
                assertEquals(w.code(o, k), codes[o * dIn + k], "code at row " + o + " k " + k);

        short[] W = CpuTwins.dequantTiles(g);
        for (int o = 0; o < dOut; o++)
            for (int k = 0; k < dIn; k++) {
                int gi = o * (dIn / group) + k / group;
                double s = Float.float16ToFloat(w.scales()[gi]), z = Float.float16ToFloat(w.zeros()[gi]);
                double exact = w.q(o, k), got = Float.float16ToFloat(W[o * dIn + k]);
                assertEquals(exact, got, weightTolerance(z * s, exact), "weight at row " + o + " k " + k);
            }
    }

    @Test
    void factorsKeepTheirWordsAndInterleaveScalePairs() {
        Factor f = RandomLayers.factor(3, "L", 5, 24, 4, 8, 0.1);
        GpuLayout.GpuFactor g = GpuLayout.factor(f);
        assertArrayEquals(f.qweight(), g.qweight());
        for (int i = 0; i < f.scales().length; i++) {
            assertEquals(f.scales()[i], g.sz()[2 * i]);
            assertEquals(f.zeros()[i], g.sz()[2 * i + 1]);
        }
    }

    @Test
    void unsupportedInputsAreRejectedWithTheValue() {
        FormatV1Layer w = RandomLayers.layer(2, 4, 64, 64, 12, 16, 16);
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> GpuLayout.convert(w));
        assertTrue(e.getMessage().contains("rank 12"), e.getMessage());
        IllegalArgumentException e2 = assertThrows(IllegalArgumentException.class,
                () -> new FormatV1Layer("m.q", 4, 64, 2, 64, new int[7], new short[4], new short[4], null, null));
        assertTrue(e2.getMessage().contains("m.q.qweight has 7 words"), e2.getMessage());
    }
}
