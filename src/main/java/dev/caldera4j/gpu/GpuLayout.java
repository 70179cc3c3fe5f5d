package dev.caldera4j.gpu;

import java.util.stream.IntStream;

/**
 * Converts format-v1 layers into the GPU layout that the kernels in src/main/cuda/qlr.cu read
 * (the design note at the top of that file explains why it looks like this):
 *
 * <ul>
 *   <li>Q (bq = 2) in tiles of 16 rows × 128 inputs, 512 bytes each, one uint4 per lane of a
 *       warp; inside a tile, lane L = 4g + t holds rows g and g+8 at inputs 32t..32t+31 as the
 *       A fragments of eight mma.m16n8k16 steps ({@link #slotRow}, {@link #slotK}).</li>
 *   <li>Per tile and row one fp16 pair (s, fp16(−z·s)) for each of GT = 128/group groups.</li>
 *   <li>L and R unchanged (fp16 row-major, or 4-bit words) with (s, z) interleaved per group.</li>
 * </ul>
 */
public final class GpuLayout {
    private GpuLayout() {}

    /** Largest rank the decode kernels keep in shared memory (MAX_RANK in qlr.cu). */
    public static final int MAX_RANK = 1024;

    /** Q of one layer in tile layout, plus its factors; host arrays ready to upload. */
    public record GpuLayer(
            int dOut, int dIn, int group,
            int MT,            // row tiles: ceil(dOut/16)
            int KT,            // input tiles: ceil(dIn/128)
            int GT,            // scale groups per tile: 128/group for group ≤ 128, else 1
            int[] qtiles,      // (MT, KT, 32 lanes, 4 words) codes
            short[] sz,        // (MT, KT, GT, 8 g, 2 rows {g, g+8}, 2 {s, fp16(−z·s)}) fp16 bits
            GpuFactor L,       // (dOut, rank) or null
            GpuFactor R) {     // (rank, dIn) or null

        public int rank() {
            return L == null ? 0 : L.cols();
        }
    }

    /** A factor as the kernels read it: fp16 row-major, or 4-bit words with (s, z) pairs per group. */
    public record GpuFactor(
            int rows, int cols, int bits, int group,
            short[] fp16,      // (rows, cols) when bits == 16
            int[] qweight,     // (rows, cols/8) when bits == 4, format v1 word order
            short[] sz) {      // (rows, cols/group, 2 {s, z}) fp16 bits when bits == 4
    }

    // ---- the index map of a tile (the same formulas as the design note in qlr.cu)

    /** Row inside the tile (0..15) of code slot {@code slot} (0..15) of word {@code word} (0..3) of lane {@code lane}. */
    public static int slotRow(int lane, int word, int slot) {
        int p = slot & 7, reg = p & 3;
        return (lane >> 2) + 8 * (reg & 1);
    }

    /** Input inside the tile (0..127) of that slot: 32t + 4j + 2·(reg >> 1) + hi with j = 2·word + (p >> 2). */
    public static int slotK(int lane, int word, int slot) {
        int p = slot & 7, hi = slot >> 3, j = 2 * word + (p >> 2), reg = p & 3;
        return 32 * (lane & 3) + 4 * j + 2 * (reg >> 1) + hi;
    }

    /**
     * For one lane: WORD_OF[rs][kk] and SLOT_OF[rs][kk] give where the code of row g + 8·rs and
     * input 32t + kk (kk = 0..31) goes. Built by enumerating the forward map, so the two agree.
     */
    private static final int[][] WORD_OF = new int[2][32], SLOT_OF = new int[2][32];

    static {
        for (int[] a : WORD_OF) java.util.Arrays.fill(a, -1);
        for (int w = 0; w < 4; w++)
            for (int s = 0; s < 16; s++) {
                int rs = slotRow(0, w, s) >> 3, kk = slotK(0, w, s);  // lane 0: g = 0, t = 0; rs: row g or g+8
                if (WORD_OF[rs][kk] != -1) throw new IllegalStateException("tile map is not one-to-one at row " + rs + " k " + kk);
                WORD_OF[rs][kk] = w;
                SLOT_OF[rs][kk] = s;
            }
    }

    /** Scale groups per 128-input tile for a group size; throws when the kernels cannot read it. */
    public static int groupsPerTile(String name, int group, int dIn) {
        if (group == 32 || group == 64 || group == 128) return 128 / group;
        if (group % 128 == 0 || group == dIn) return 1;  // every tile lies inside one group
        throw new IllegalArgumentException(name + ": group " + group + " is not supported by the GPU kernels"
                + " (use 32, 64, 128, a multiple of 128, or one group per row)");
    }

    /** Converts a format-v1 layer (bq = 2) to the GPU layout. */
    public static GpuLayer convert(FormatV1Layer w) {
        if (w.bq() != 2)
            throw new IllegalArgumentException(w.name() + ": the GPU kernels read 2-bit Q only, got bq=" + w.bq()
                    + " (run this layer on the CPU path)");
        if (w.dIn() % 16 != 0)
            throw new IllegalArgumentException(w.name() + ": dIn=" + w.dIn() + " must be a multiple of 16");
        int rank = w.rank();
        if (rank % 8 != 0 || rank > MAX_RANK)
            throw new IllegalArgumentException(w.name() + ": rank " + rank + " must be a multiple of 8 and at most "
                    + MAX_RANK + " for the GPU kernels");
        int dOut = w.dOut(), dIn = w.dIn(), group = w.group();
        int GT = groupsPerTile(w.name(), group, dIn);
        int MT = (dOut + 15) / 16, KT = (dIn + 127) / 128;
        int[] qt = new int[MT * KT * 128];
        short[] sz = new short[MT * KT * GT * 32];
        int wordsPerRow = dIn / 16, groupsPerRow = dIn / group;
        IntStream.range(0, MT).parallel().forEach(mt -> {
            int[] c0 = new int[32], c1 = new int[32];
            for (int kt = 0; kt < KT; kt++) {
                int tile = mt * KT + kt;
                for (int lane = 0; lane < 32; lane++) {
                    int g = lane >> 2, t = lane & 3;
                    int o0 = mt * 16 + g, o1 = o0 + 8, k0 = kt * 128 + 32 * t;
                    rowCodes(w.qweight(), wordsPerRow, o0 < dOut ? o0 : -1, k0, dIn, c0);
                    rowCodes(w.qweight(), wordsPerRow, o1 < dOut ? o1 : -1, k0, dIn, c1);
                    int base = (tile * 32 + lane) * 4;
                    for (int kk = 0; kk < 32; kk++) {
                        qt[base + WORD_OF[0][kk]] |= c0[kk] << (2 * SLOT_OF[0][kk]);
                        qt[base + WORD_OF[1][kk]] |= c1[kk] << (2 * SLOT_OF[1][kk]);
                    }
                }
                for (int grp = 0; grp < GT; grp++) {
                    int k = kt * 128 + 32 * (grp * 4 / GT);  // first input of the lanes of this group
                    for (int g = 0; g < 8; g++)
                        for (int rs = 0; rs < 2; rs++) {
                            int o = mt * 16 + g + 8 * rs;
                            int at = (((tile * GT + grp) * 8 + g) * 2 + rs) * 2;
                            if (o < dOut && k < dIn) {
                                int gi = o * groupsPerRow + k / group;
                                sz[at] = w.scales()[gi];
                                sz[at + 1] = negZeroTimesScale(w.scales()[gi], w.zeros()[gi]);
                            }
                        }
                }
            }
        });
        return new GpuLayer(dOut, dIn, group, MT, KT, GT, qt, sz, factor(w.L()), factor(w.R()));
    }

    /** fp16(−z·s): the product of two fp16 values is exact in float, so this rounds once, like hmul. */
    public static short negZeroTimesScale(short s, short z) {
        return Float.floatToFloat16(-(Float.float16ToFloat(z) * Float.float16ToFloat(s)));
    }

    /** The 32 codes of row o at inputs k0..k0+31 (0 beyond dIn or for o = −1). */
    private static void rowCodes(int[] qweight, int wordsPerRow, int o, int k0, int dIn, int[] out) {
        for (int kk = 0; kk < 32; kk++) {
            int k = k0 + kk;
            out[kk] = o < 0 || k >= dIn ? 0 : (qweight[o * wordsPerRow + k / 16] >>> (2 * (k % 16))) & 3;
        }
    }

    static GpuFactor factor(Factor f) {
        if (f == null) return null;
        if (f.bits() == 16) return new GpuFactor(f.rows(), f.cols(), 16, 0, f.fp16(), null, null);
        short[] sz = new short[f.scales().length * 2];
        for (int i = 0; i < f.scales().length; i++) {
            sz[2 * i] = f.scales()[i];
            sz[2 * i + 1] = f.zeros()[i];
        }
        return new GpuFactor(f.rows(), f.cols(), 4, f.group(), null, f.qweight(), sz);
    }
}
