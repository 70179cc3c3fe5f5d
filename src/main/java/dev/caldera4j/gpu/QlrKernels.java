package dev.caldera4j.gpu;

import dev.caldera4j.gpu.Gpu.Buffer;
import dev.caldera4j.gpu.GpuLayout.GpuFactor;
import dev.caldera4j.gpu.GpuLayout.GpuLayer;
import java.util.List;

/**
 * The kernels of qlr.cu as Java calls: fused Q + L·R decode (two-stage or one kernel) and
 * prefill, the unfused paths they are compared with, and fp16 baselines. All buffers are owned by
 * the caller: layers ({@link #upload}), workspaces ({@link #workspace}), activations and outputs.
 * Activations are fp16, row-major: x (tokens, dIn), y (tokens, dOut). Calls are asynchronous on
 * the Gpu's stream; {@link Gpu#sync} waits.
 */
public final class QlrKernels {

    /** Every kernel name the Java side launches; a test checks each is an .entry of every PTX file. */
    public static final List<String> KERNELS = List.of("lr_rx_partial", "lr_lt_decode", "qlr_decode3_rb1", "qlr_decode3_rb2",
            "qlr_decode3m_fold_rb1", "qlr_decode3m_fold_rb2", "qlr_decode5", "qlr_decode5_fold", "qlr_prefill", "qlr_prefill_wg",
            "reduce_splitk", "gemm_f16", "gemv_f16",
            "dequant_q_f16", "dequant_f4_f16", "add_f16", "spin_wait");

    /** L rows of a v4 decode block are staged in shared memory up to this many bytes (DEC_LSTAGE in qlr.cu). */
    static final int DEC_LSTAGE = 16 * 1024;

    static final int PF_BN = 64, PF_ROWS = 256, PF_SMEM = 3 * (64 * 256 + 16 * 512 + 16 * 4 * 64);
    /** qlr_prefill_wg: 128 rows × 128 tokens per block, two stages of 40960 bytes + alignment slack (PW_SMEM). */
    static final int PW_BM = 128, PW_BN = 128, PW_SMEM = 2 * 40960 + 1024;
    static final int G_BM = 256, G_BN = 64, G_STAGE = 256 * 128 + 64 * 128;

    private final Gpu gpu;
    /** Whether prefill runs on wgmma (qlr_prefill_wg): the sm_90a PTX is loaded, i.e. a compute capability 9.0 device. */
    public final boolean wgmma;

    public QlrKernels(Gpu gpu) {
        this.gpu = gpu;
        this.wgmma = gpu.ptxResource.equals(Gpu.PTX_SM90A);
    }

    /** A layer resident on the device (GPU layout). Buffers are null where absent (rank 0, fp16 factors). */
    public record DeviceLayer(
            int dOut, int dIn, int group, int rank, int bl, int br,
            int MT, int KT, int GT,
            int gL, int gR,           // factor groups when 4-bit (else 0)
            Buffer qtiles,            // (MT, KT, 32, 4) int32
            Buffer sz,                // (MT, KT, GT, 8, 2) half2 (s, −z·s)
            Buffer L, Buffer Lsz,     // (dOut, rank) fp16 | (dOut, rank/8) int32 + (dOut, rank/gL) half2
            Buffer R, Buffer Rsz) {   // (rank, dIn) fp16 | (rank, dIn/8) int32 + (rank, dIn/gR) half2

        String shapes() {
            return "d_out=" + dOut + " d_in=" + dIn + " group=" + group + " rank=" + rank + " bl=" + bl + " br=" + br;
        }
    }

    /** Scratch space for one layer shape and up to maxTokens tokens; reusable across calls and layers of that shape. */
    public record Workspace(
            int dOut, int dIn, int rank, int maxTokens,
            Buffer tpart,     // (C ≤ dIn/256+1, rank) fp32 partial R·x (v4, unfused), t = R·x (v5)
            Buffer sync,      // 3 uint32 counters of qlr_decode5, zero between launches
            Buffer part,      // (MT, cmax, 16) fp32 partial row sums of qlr_decode5
            Buffer cnt,       // (MT) uint32 tiles-done counters of qlr_decode5, zero between launches
            Buffer ws,        // fp32 split-k partials (prefill, gemm)
            long wsFloats,
            Buffer tm,        // (maxTokens, rank) fp16 X·Rᵀ
            Buffer r16,       // (rank, dIn) fp16 dequantised R when br == 4
            Buffer l16,       // (dOut, rank) fp16 dequantised L when bl == 4
            Buffer w16,       // (dOut, dIn) fp16 dequantised Q (unfused only, else null)
            Buffer y1, Buffer y2) {  // (maxTokens, dOut) fp16 partial outputs (unfused)

        /** A workspace for the fp16 baselines only (gemv_f16, gemm_f16 with split-k partials). */
        public static Workspace fp16Only(int dOut, int dIn, int maxTokens, Buffer ws, long wsFloats) {
            return new Workspace(dOut, dIn, 0, maxTokens, null, null, null, null, ws, wsFloats, null, null, null, null, null, null);
        }
    }

    public DeviceLayer upload(GpuLayer g) {
        GpuFactor L = g.L(), R = g.R();
        int rank = g.rank();
        return new DeviceLayer(g.dOut(), g.dIn(), g.group(), rank, L == null ? 16 : L.bits(), R == null ? 16 : R.bits(),
                g.MT(), g.KT(), g.GT(), L == null ? 0 : L.group(), R == null ? 0 : R.group(),
                gpu.upload(g.qtiles(), "Q tiles"), gpu.upload(g.sz(), "Q scales"),
                factorData(L, "L"), L == null || L.bits() == 16 ? null : gpu.upload(L.sz(), "L scales"),
                factorData(R, "R"), R == null || R.bits() == 16 ? null : gpu.upload(R.sz(), "R scales"));
    }

    private Buffer factorData(GpuFactor f, String what) {
        if (f == null) return null;
        return f.bits() == 16 ? gpu.upload(f.fp16(), what) : gpu.upload(f.qweight(), what + " codes");
    }

    /** A second device copy of a layer (benchmarks rotate copies so that L2 cannot hold the weights). */
    public DeviceLayer duplicate(DeviceLayer l) {
        return new DeviceLayer(l.dOut, l.dIn, l.group, l.rank, l.bl, l.br, l.MT, l.KT, l.GT, l.gL, l.gR,
                gpu.duplicate(l.qtiles, "Q tiles"), gpu.duplicate(l.sz, "Q scales"), gpu.duplicate(l.L, "L"),
                gpu.duplicate(l.Lsz, "L scales"), gpu.duplicate(l.R, "R"), gpu.duplicate(l.Rsz, "R scales"));
    }

    /** A layer that shares q's Q buffers and owns new factor buffers uploaded from L and R. */
    public DeviceLayer withFactors(DeviceLayer q, GpuFactor L, GpuFactor R) {
        int rank = L == null ? 0 : L.cols();
        return new DeviceLayer(q.dOut, q.dIn, q.group, rank, L == null ? 16 : L.bits(), R == null ? 16 : R.bits(), q.MT, q.KT, q.GT,
                L == null ? 0 : L.group(), R == null ? 0 : R.group(), q.qtiles, q.sz,
                factorData(L, "L"), L == null || L.bits() == 16 ? null : gpu.upload(L.sz(), "L scales"),
                factorData(R, "R"), R == null || R.bits() == 16 ? null : gpu.upload(R.sz(), "R scales"));
    }

    /** A layer that shares q's Q buffers and owns device copies of f's factor buffers. */
    public DeviceLayer withFactorsOf(DeviceLayer q, DeviceLayer f) {
        return new DeviceLayer(q.dOut, q.dIn, q.group, f.rank, f.bl, f.br, q.MT, q.KT, q.GT, f.gL, f.gR, q.qtiles, q.sz,
                gpu.duplicate(f.L, "L"), gpu.duplicate(f.Lsz, "L scales"), gpu.duplicate(f.R, "R"), gpu.duplicate(f.Rsz, "R scales"));
    }

    /** Frees only the factor buffers (the Q buffers may be shared). */
    public void freeFactors(DeviceLayer l) {
        for (Buffer b : new Buffer[] {l.L, l.Lsz, l.R, l.Rsz}) gpu.free(b);
    }

    public void free(DeviceLayer l) {
        for (Buffer b : new Buffer[] {l.qtiles, l.sz, l.L, l.Lsz, l.R, l.Rsz}) gpu.free(b);
    }

    public void free(Workspace w) {
        for (Buffer b : new Buffer[] {w.tpart, w.sync, w.part, w.cnt, w.ws, w.tm, w.r16, w.l16, w.w16, w.y1, w.y2}) gpu.free(b);
    }

    /** Scratch for a layer shape; unfused = also the fp16 copy of Q and the partial outputs. */
    public Workspace workspace(DeviceLayer l, int maxTokens, boolean unfused) {
        int rank = l.rank;
        long ws = splitFloats(l, maxTokens);
        int cMax = l.dIn / 256 + 1;
        Buffer sync = gpu.alloc(16, "decode counters");
        gpu.zero(sync);
        long partFloats = (long) l.MT * decodeConfig(l, 5, D5_P, 0).cmax() * 16;
        Buffer cnt = gpu.alloc(4L * l.MT, "decode row-tile counters");
        gpu.zero(cnt);
        return new Workspace(l.dOut, l.dIn, rank, maxTokens,
                rank > 0 ? gpu.alloc(4L * cMax * rank, "tpart") : null, sync,
                gpu.alloc(4L * partFloats, "decode partial sums"), cnt,
                gpu.alloc(4L * ws, "split-k partials"), ws,
                rank > 0 ? gpu.alloc(2L * maxTokens * rank, "Tm") : null,
                rank > 0 && l.br == 4 ? gpu.alloc(2L * rank * l.dIn, "R fp16") : null,
                rank > 0 && l.bl == 4 ? gpu.alloc(2L * l.dOut * rank, "L fp16") : null,
                unfused ? gpu.alloc(2L * l.dOut * l.dIn, "Q fp16") : null,
                unfused ? gpu.alloc(2L * maxTokens * l.dOut, "y1") : null,
                unfused ? gpu.alloc(2L * maxTokens * l.dOut, "y2") : null);
    }

    /** Split-k partial sums (floats) the prefill, gemm and low-rank paths of layer l need for up to maxTokens tokens. */
    public long splitFloats(DeviceLayer l, int maxTokens) {
        long ws = 1;
        for (int T = 1; T <= maxTokens; T++) {
            ws = Math.max(ws, (long) Math.max(prefillSplit(l, T, false), wgmma ? prefillSplit(l, T, true) : 1) * T * l.dOut);
            ws = Math.max(ws, gemmSplitFloats(l.dOut, l.dIn, T));
            if (l.rank > 0) ws = Math.max(ws, gemmSplitFloats(l.rank, l.dIn, T));
        }
        return ws;
    }

    /** Split-k partial floats of gemm_f16 for an (M, K) weight and N tokens. */
    public long gemmSplitFloats(int M, int K, int N) {
        return (long) gemmSplit(M, N, K) * N * M;
    }

    private void checkWorkspace(DeviceLayer l, Workspace w, int T) {
        if (w.dOut != l.dOut || w.dIn != l.dIn || w.rank != l.rank || T > w.maxTokens)
            throw new IllegalArgumentException("workspace for d_out=" + w.dOut + " d_in=" + w.dIn + " rank=" + w.rank + " T≤"
                    + w.maxTokens + " does not fit layer " + l.shapes() + " at T=" + T + "; make one with workspace(layer, T, …)");
    }

    // ---------------------------------------------------------------- decode (1 token)

    /** Threads per block and dynamic shared memory plan of qlr_decode5 (D5_THREADS, d5_smem in qlr.cu). */
    static final int D5_THREADS = 512, D5_WARPS = 16, D5_P = 4;

    static int d5Smem(DeviceLayer l, int P) {
        return l.KT * 256 + l.KT * 16 + D5_WARPS * P * (512 + 64 * l.GT);
    }

    /**
     * Launch configuration of the fused decode. version 3 (any group) and 4 (v3m: one scale group
     * per tile): R·x in C chunks of {@code chunk} inputs by lr_rx_partial, then the persistent
     * qlr_decode3_rb{rb} / qlr_decode3m_fold_rb{rb} over strips of rb row tiles, L rows staged in
     * shared memory when they fit; version 5: one launch (qlr_decode5[_fold]), {@code grid}
     * persistent blocks of 512 threads, P ring slots per warp, cmax partial-sum slots per row tile.
     */
    public record DecodeConfig(int version, int rb, int C, int chunk, boolean fold, boolean lstaged, int smem, int grid, int cmax, int P) {
        String kernel() {
            return version == 5 ? "qlr_decode5" + (fold ? "_fold" : "") : version == 4 ? "qlr_decode3m_fold_rb" + rb : "qlr_decode3_rb" + rb;
        }

        @Override
        public String toString() {
            return "v" + version + (version == 5 ? " P" + P : " rb" + rb + " C" + C) + (fold ? " fold" : "") + (lstaged ? " L-staged" : "")
                    + " grid " + grid + " smem " + smem;
        }
    }

    /**
     * The fused decode's configuration: version 4 (v3m) where one scale group covers a tile, else
     * version 3 — the fastest measured on the H200 (results/kernels-h200.log; version 5 is timed
     * beside them by KernelBench).
     */
    public DecodeConfig decodeConfig(DeviceLayer l) {
        return decodeConfig(l, l.GT == 1 ? 4 : 3);
    }

    /** version 3, 4 (falls back to 3 without one scale group per tile) or 5 (one block per SM: measured faster than two). */
    public DecodeConfig decodeConfig(DeviceLayer l, int version) {
        return decodeConfig(l, version, D5_P, 1);
    }

    /** As above; for version 5 with ring depth P = 4 and at most maxPerSm blocks per SM (0: as many as fit). */
    public DecodeConfig decodeConfig(DeviceLayer l, int version, int P, int maxPerSm) {
        if (version == 4 && l.GT != 1) version = 3;
        if (version == 5) {
            boolean fold = l.GT == 1;
            int smem = d5Smem(l, P);
            if (smem > gpu.maxSmemOptin)
                throw new IllegalArgumentException("decode of " + l.shapes() + " needs " + smem + " bytes of shared memory (x and the tile"
                        + " rings), the device allows " + gpu.maxSmemOptin + "; d_in is too large for qlr_decode5");
            long N = (long) l.MT * l.KT;
            int perSm = gpu.blocksPerSm("qlr_decode5" + (fold ? "_fold" : ""), smem, D5_THREADS);
            if (maxPerSm > 0) perSm = Math.min(perSm, maxPerSm);
            int grid = (int) Math.max(1, Math.min((long) perSm * gpu.smCount, (N + D5_WARPS - 1) / D5_WARPS));
            long W = (long) grid * D5_WARPS;
            int cmax = (int) ((l.KT * W + N - 1) / N + 2);
            return new DecodeConfig(5, 1, 1, l.dIn, fold, false, smem, grid, cmax, P);
        }
        int rb = l.MT / 2 >= gpu.smCount ? 2 : 1, rank = l.rank;
        int strips = (l.MT + rb - 1) / rb;
        int C = 1, chunk = l.dIn;
        if (rank > 0) {
            int rowBlocks = (rank + 7) / 8;
            C = Math.max(1, Math.min((2 * gpu.smCount + rowBlocks - 1) / rowBlocks, l.dIn / 256));
            chunk = ((l.dIn + C - 1) / C + 255) / 256 * 256;
            C = (l.dIn + chunk - 1) / chunk;
        }
        boolean lstaged = rank > 0 && 16 * rb * lRowBytes(l) + (l.bl == 4 ? 16 * rb * (rank / l.gL) * 4 : 0) <= DEC_LSTAGE;
        int smem = v3Smem(l, rb, C, lstaged, version == 4);
        String kernel = version == 4 ? "qlr_decode3m_fold_rb" + rb : "qlr_decode3_rb" + rb;
        int slots = gpu.blocksPerSm(kernel, smem, Gpu.THREADS) * gpu.smCount;
        return new DecodeConfig(version, rb, C, chunk, version == 4, lstaged, smem, Math.max(1, Math.min(strips, slots)), 0, 0);
    }

    /** Dynamic shared memory of qlr_decode3 / qlr_decode3m (dec_smem in qlr.cu: fold 0, or 2 for v3m; two stages). */
    static int v3Smem(DeviceLayer l, int rb, int C, boolean lstaged, boolean magic) {
        int xsum = l.KT * 256;
        int tpart = xsum + (magic ? (l.KT * 4 * 3 + 15) / 16 * 16 : 0);
        int L = tpart + (l.rank > 0 ? C * l.rank * 4 : 0);
        int Lsz = L + (lstaged ? 16 * rb * lRowBytes(l) : 0);
        return Lsz + (lstaged && l.bl == 4 ? 16 * rb * (l.rank / l.gL) * 4 : 0);
    }

    static int lRowBytes(DeviceLayer l) {
        return l.bl == 16 ? 2 * l.rank : l.rank / 2;
    }

    /** y (dOut) = dequant(Q)·x + L·(R·x), fused (per cfg). */
    public void decodeFused(DeviceLayer l, Buffer x, Buffer y, Workspace w, DecodeConfig cfg) {
        checkWorkspace(l, w, 1);
        decodeKernel(l, x, y, w, cfg, l.rank);
    }

    /** y = dequant(Q)·x only (the L·R term left out): the Q part of the unfused_lr path. */
    public void decodeQ(DeviceLayer l, Buffer x, Buffer y, Workspace w, DecodeConfig cfg) {
        checkWorkspace(l, w, 1);
        decodeKernel(l, x, y, w, cfg, 0);
    }

    private void decodeKernel(DeviceLayer l, Buffer x, Buffer y, Workspace w, DecodeConfig cfg, int rank) {
        if (cfg.version == 5) {
            if ((long) l.MT * cfg.cmax * 16 * 4 > w.part.bytes())
                throw new IllegalArgumentException("decode config " + cfg + " needs " + (long) l.MT * cfg.cmax * 64
                        + " bytes of partial sums, the workspace has " + w.part.bytes() + "; make the workspace with this QlrKernels");
            gpu.launchWith(cfg.kernel(), l.shapes() + " " + cfg, cfg.grid, 1, 1, D5_THREADS, cfg.smem,
                    y, x, l.qtiles, l.sz, l.L, l.Lsz, l.R, l.Rsz, w.tpart, w.part, w.cnt, w.sync,
                    l.dOut, l.dIn, l.MT, l.KT, l.GT, rank, l.bl, l.gL, l.br, l.gR, cfg.cmax);
            return;
        }
        if (rank > 0) rx(l, x, w, cfg.C, cfg.chunk);
        gpu.launch(cfg.kernel(), l.shapes() + " " + cfg, cfg.grid, 1, 1, cfg.smem,
                y, x, l.qtiles, l.sz, l.L, l.Lsz, w.tpart, l.dOut, l.dIn, l.MT, l.KT, l.GT, rank, l.bl, l.gL, cfg.C,
                cfg.lstaged ? 1 : 0);
    }

    /** tpart (C, rank) = partial sums of R·x over C chunks of {@code chunk} inputs. */
    private void rx(DeviceLayer l, Buffer x, Workspace w, int C, int chunk) {
        gpu.launch("lr_rx_partial", l.shapes() + " C=" + C, (l.rank + 7) / 8, C, 1, 0,
                w.tpart, x, l.R, l.Rsz, l.rank, l.dIn, l.br, l.gR, C, chunk);
    }

    /** Unfused decode: Q → fp16 W (every call), fp16 GEMV, R·x, L·t, add. */
    public void decodeUnfused(DeviceLayer l, Buffer x, Buffer y, Workspace w) {
        checkWorkspace(l, w, 1);
        dequantQ(l, w.w16);
        gemvF16(w.y1, w.w16, x, l.dOut, l.dIn);
        lowRankDecode(l, x, w);
        add(y, w.y1, w.y2, l.dOut);
    }

    /** Decode with the fused-dequant Q kernel but the L·R term in separate kernels and an add. */
    public void decodeUnfusedLr(DeviceLayer l, Buffer x, Buffer y, Workspace w, DecodeConfig cfg) {
        checkWorkspace(l, w, 1);
        decodeQ(l, x, w.y1, w, cfg);
        lowRankDecode(l, x, w);
        add(y, w.y1, w.y2, l.dOut);
    }

    private void lowRankDecode(DeviceLayer l, Buffer x, Workspace w) {
        if (l.rank == 0) {
            gpu.zero(w.y2);
            return;
        }
        int rowBlocks = (l.rank + 7) / 8;
        int C = Math.max(1, Math.min((2 * gpu.smCount + rowBlocks - 1) / rowBlocks, l.dIn / 256));
        int chunk = ((l.dIn + C - 1) / C + 255) / 256 * 256;
        C = (l.dIn + chunk - 1) / chunk;
        rx(l, x, w, C, chunk);
        gpu.launch("lr_lt_decode", l.shapes(), (l.dOut + 63) / 64, 1, 1, 0, w.y2, w.tpart, l.L, l.Lsz, l.dOut, l.rank, l.bl, l.gL, C);
    }

    // ---------------------------------------------------------------- prefill (T tokens)

    /**
     * Split over k for the fused prefill: about two blocks per SM in total, at least 2 k tiles per
     * split; wg = qlr_prefill_wg (128 × 128 blocks) else qlr_prefill (256 rows × 64 tokens).
     */
    public int prefillSplit(DeviceLayer l, int T, boolean wg) {
        int base = wg ? ((T + PW_BN - 1) / PW_BN) * ((l.MT + 7) / 8) : ((T + PF_BN - 1) / PF_BN) * ((l.MT + 15) / 16);
        return Math.max(1, Math.min(2 * gpu.smCount / base, l.KT / 2));
    }

    public int prefillSplit(DeviceLayer l, int T) {
        return prefillSplit(l, T, wgmma);
    }

    /** Split over k for gemm_f16 (one block per SM): about one block per SM, at least 2 k tiles of 64 per split. */
    public int gemmSplit(int M, int N, int K) {
        int base = ((N + G_BN - 1) / G_BN) * ((M + G_BM - 1) / G_BM);
        return Math.max(1, Math.min(gpu.smCount / base, ((K + 63) / 64) / 2));
    }

    /**
     * Y (T, dOut) = X·dequant(Q)ᵀ + (X·Rᵀ)·Lᵀ with the low-rank term inside the Q kernel; split = 0
     * picks it. On wgmma devices qlr_prefill_wg, else qlr_prefill.
     */
    public void prefillFused(DeviceLayer l, Buffer X, int T, Buffer Y, Workspace w, int split) {
        prefillFused(l, X, T, Y, w, split, wgmma);
    }

    /** As above with the kernel chosen: wg = qlr_prefill_wg (needs the sm_90a PTX), else qlr_prefill (mma.sync). */
    public void prefillFused(DeviceLayer l, Buffer X, int T, Buffer Y, Workspace w, int split, boolean wg) {
        checkWorkspace(l, w, T);
        if (wg && !wgmma)
            throw new IllegalArgumentException("qlr_prefill_wg needs wgmma (compute capability 9.0, " + Gpu.PTX_SM90A + "); this device runs "
                    + gpu.ptxResource);
        if (l.rank > 0) lowRankInput(l, X, T, w);
        prefillKernel(l, X, T, Y, w, split, l.rank, wg);
    }

    /** The fused prefill's main kernel alone (Tm must be in the workspace already), for timing its share. */
    void prefillKernelOnly(DeviceLayer l, Buffer X, int T, Buffer Y, Workspace w) {
        prefillKernel(l, X, T, Y, w, 0, l.rank, wgmma);
    }

    private void prefillKernel(DeviceLayer l, Buffer X, int T, Buffer Y, Workspace w, int split, int rank, boolean wg) {
        int S = split > 0 ? Math.min(split, l.KT) : prefillSplit(l, T, wg);
        if ((long) S * T * l.dOut > w.wsFloats && S > 1)
            throw new IllegalArgumentException("split " + S + " needs " + (long) S * T * l.dOut + " floats of workspace, have " + w.wsFloats);
        if (wg) {
            gpu.launch("qlr_prefill_wg", l.shapes() + " T=" + T + " S=" + S, (T + PW_BN - 1) / PW_BN, (l.MT + 7) / 8, S, PW_SMEM,
                    Y, w.ws, X, l.qtiles, l.sz, rank == 0 ? null : w.tm, rank == 0 ? null : l.L, rank == 0 ? null : l.Lsz,
                    T, l.dOut, l.dIn, l.MT, l.KT, l.GT, rank, l.bl, l.gL, S);
        } else {
            gpu.launch("qlr_prefill", l.shapes() + " T=" + T + " S=" + S, (T + PF_BN - 1) / PF_BN, (l.MT + 15) / 16, S, PF_SMEM,
                    Y, w.ws, X, l.qtiles, l.sz, w.tm, l.L, l.Lsz, T, l.dOut, l.dIn, l.MT, l.KT, l.GT, rank, l.bl, l.gL, S);
        }
        if (S > 1) reduce(Y, w.ws, S, (long) T * l.dOut);
    }

    /** Tm (T, rank) = X·Rᵀ in fp16, through gemm_f16 split over d_in (R dequantised first when 4-bit). */
    void lowRankInput(DeviceLayer l, Buffer X, int T, Workspace w) {
        Buffer R16 = l.br == 16 ? l.R : w.r16;
        if (l.br == 4) dequantFactor(R16, l.R, l.Rsz, l.rank, l.dIn, l.gR);
        gemmF16(w.tm, R16, X, l.rank, T, l.dIn, w);
    }

    /** Unfused prefill: Q → fp16 W, fp16 GEMM, Tm = X·Rᵀ, L → fp16, Tm·Lᵀ by fp16 GEMM, add. */
    public void prefillUnfused(DeviceLayer l, Buffer X, int T, Buffer Y, Workspace w) {
        checkWorkspace(l, w, T);
        dequantQ(l, w.w16);
        gemmF16(w.y1, w.w16, X, l.dOut, T, l.dIn, w);
        lowRankPrefill(l, X, T, w);
        add(Y, w.y1, w.y2, (long) T * l.dOut);
    }

    /** Prefill with the fused-dequant Q kernel, the L·R term by separate fp16 GEMMs and an add. */
    public void prefillUnfusedLr(DeviceLayer l, Buffer X, int T, Buffer Y, Workspace w) {
        checkWorkspace(l, w, T);
        prefillKernel(l, X, T, w.y1, w, 0, 0, wgmma);
        lowRankPrefill(l, X, T, w);
        add(Y, w.y1, w.y2, (long) T * l.dOut);
    }

    /** The Q part of the fused prefill alone (rank 0), for timing the low-rank term's share. */
    public void prefillUnfusedLrQOnly(DeviceLayer l, Buffer X, int T, Buffer Y, Workspace w) {
        checkWorkspace(l, w, T);
        prefillKernel(l, X, T, Y, w, 0, 0, wgmma);
    }

    private void lowRankPrefill(DeviceLayer l, Buffer X, int T, Workspace w) {
        if (l.rank == 0) {
            gpu.zero(w.y2);
            return;
        }
        lowRankInput(l, X, T, w);
        Buffer L16 = l.bl == 16 ? l.L : w.l16;
        if (l.bl == 4) dequantFactor(L16, l.L, l.Lsz, l.dOut, l.rank, l.gL);
        gemmF16(w.y2, L16, w.tm, l.dOut, T, l.rank, w);
    }

    // ---------------------------------------------------------------- building blocks

    /** out (N, M) = B·Aᵀ for fp16 A (M, K), B (N, K) (y = x·Wᵀ with A = W); K % 8 == 0. */
    public void gemmF16(Buffer out, Buffer A, Buffer B, int M, int N, int K, Workspace w) {
        if (K % 8 != 0) throw new IllegalArgumentException("gemm_f16 needs K % 8 == 0 (16-byte rows), got K=" + K);
        int S = gemmSplit(M, N, K);
        if (S > 1 && (w == null || (long) S * N * M > w.wsFloats)) S = 1;
        int stages = gpu.maxSmemOptin >= 3 * G_STAGE ? 3 : 2;
        gpu.launch("gemm_f16", "M=" + M + " N=" + N + " K=" + K + " S=" + S, (N + G_BN - 1) / G_BN, (M + G_BM - 1) / G_BM, S,
                stages * G_STAGE, out, S > 1 ? w.ws : null, A, B, M, N, K, S, stages);
        if (S > 1) reduce(out, w.ws, S, (long) N * M);
    }

    /** y (dOut) = W·x for fp16 W (dOut, dIn); dIn % 8 == 0. */
    public void gemvF16(Buffer y, Buffer W, Buffer x, int dOut, int dIn) {
        if (dIn % 8 != 0) throw new IllegalArgumentException("gemv_f16 needs d_in % 8 == 0, got " + dIn);
        gpu.launch("gemv_f16", "d_out=" + dOut + " d_in=" + dIn, (dOut + 15) / 16, 1, 1, 0, y, W, x, dOut, dIn);
    }

    /** W16 (dOut, dIn) = dequant(Q) in fp16. */
    public void dequantQ(DeviceLayer l, Buffer W16) {
        long threads = (long) l.MT * l.KT * 32;
        gpu.launch("dequant_q_f16", l.shapes(), (int) ((threads + 255) / 256), 1, 1, 0, W16, l.qtiles, l.sz, l.dOut, l.dIn, l.MT, l.KT, l.GT);
    }

    private void dequantFactor(Buffer out, Buffer q, Buffer sz, int rows, int cols, int group) {
        long words = (long) rows * cols / 8;
        gpu.launch("dequant_f4_f16", "rows=" + rows + " cols=" + cols + " group=" + group, (int) ((words + 255) / 256), 1, 1, 0,
                out, q, sz, rows, cols, group);
    }

    private void reduce(Buffer out, Buffer ws, int S, long n) {
        gpu.launch("reduce_splitk", "S=" + S + " n=" + n, (int) Math.min((n + 255) / 256, 4L * gpu.smCount * 8), 1, 1, 0, out, ws, S, n);
    }

    private void add(Buffer y, Buffer a, Buffer b, long n) {
        gpu.launch("add_f16", "n=" + n, (int) Math.min((n + 255) / 256, 4L * gpu.smCount * 8), 1, 1, 0, y, a, b, n);
    }

    /** Keeps the GPU busy for about ns nanoseconds (benchmarks queue their timed work behind it). */
    public void spin(long ns) {
        gpu.launch("spin_wait", "ns=" + ns, 1, 1, 1, 0, ns);
    }
}
