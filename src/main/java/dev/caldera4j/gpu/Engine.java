package dev.caldera4j.gpu;

import dev.caldera4j.gpu.Gpu.Buffer;
import dev.caldera4j.gpu.GpuLayout.GpuFactor;
import dev.caldera4j.gpu.GpuLayout.GpuLayer;
import dev.caldera4j.gpu.QlrKernels.DecodeConfig;
import dev.caldera4j.gpu.QlrKernels.DeviceLayer;
import dev.caldera4j.gpu.QlrKernels.Workspace;
import dev.caldera4j.model.Linear;
import dev.caldera4j.model.Qwen2Config;
import dev.caldera4j.model.Qwen2Weights;
import dev.caldera4j.plan.Footprint;
import dev.caldera4j.quant.CompressedLinear;
import dev.caldera4j.quant.LowRank;
import dev.caldera4j.quant.QuantizedLinear;
import dev.caldera4j.quant.QuantizedMatrix;
import dev.caldera4j.quant.Rtn;
import dev.caldera4j.quant.QuantConfig;
import java.io.PrintStream;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.SplittableRandom;
import jcuda.driver.CUdeviceptr;
import jcuda.driver.CUevent;
import jcuda.driver.CUgraphExec;

/**
 * The whole Qwen2 forward pass on the GPU: embedding (on the device, or in host memory and
 * gathered per token), RMSNorm, q/k/v with bias and RoPE, attention over an fp16 KV cache with
 * grouped-query heads read in place, SwiGLU, the linears as fused Q + L·R kernels (qlr.cu) or
 * fp16, lm_head (fp16 or 4-bit) with fp32 logits, and greedy sampling on the device.
 *
 * <p>Where the weights live: one device allocation (an arena) for all weights, one for the KV
 * cache, one for activations and the linears' shared scratch — so the device memory in use is
 * the CUDA context plus three numbers the footprint planner predicts ({@link #bytes()}).
 *
 * <p>Which linears run fused: 2-bit Q (any rank, 4- or 16-bit factors, group 32/64/128, rank a
 * multiple of 8, no Hadamard transform). Every other linear (dense, 3/4/8-bit, Hadamard) is
 * dequantised on the host and runs as fp16 — listed in {@link #fp16Fallbacks}.
 *
 * <p>Decode reads the position and the input token from device memory (state), so one decode
 * step is captured once as a CUDA graph and replayed for every token.
 */
public final class Engine implements AutoCloseable {

    /** Every engine.cu kernel the Java side launches; a test checks each is an .entry of both engine PTX files. */
    public static final List<String> KERNELS = List.of("eng_embed", "eng_add_rmsnorm", "eng_qkv_rope", "eng_attn_partial",
            "eng_attn_combine", "eng_silu_mul", "eng_gemv_f16_f32", "eng_gemv_q4_f32", "eng_argmax", "eng_advance", "eng_fill_bits",
            "eng_fill_pairs", "eng_fill_half");

    /** Positions per attention split at least (ATT_MIN_CHUNK in engine.cu). */
    static final int ATT_MIN_CHUNK = 32;
    /** Threads of eng_add_rmsnorm's one block per row (profiled: 256 threads made the norms 18 % of a 72B decode step). */
    static final int NORM_THREADS = 1024;

    /** How a Q + L·R linear runs: fused (one kernel family), Q fused + separate L·R, or fully unfused (dequantise to fp16 first). */
    public enum Mode { FUSED, UNFUSED_LR, UNFUSED }

    /**
     * @param maxContext        KV-cache positions
     * @param maxTokens         tokens per prefill step (longer prompts go in chunks)
     * @param embeddingOnDevice false: the embedding stays in host memory, rows are copied per step
     * @param headBits          16: lm_head in fp16; 4: quantised to 4 bits g128 (RTN) when it is not already
     * @param logitRows         rows of logits kept per step (1 for generation; maxTokens to score every position)
     */
    public record Options(int maxContext, int maxTokens, Mode mode, boolean embeddingOnDevice, int headBits, int logitRows) {
        public Options {
            if (maxContext < 1 || maxTokens < 1) throw new IllegalArgumentException("maxContext and maxTokens must be positive");
            if (headBits != 16 && headBits != 4) throw new IllegalArgumentException("headBits must be 16 or 4, got " + headBits);
            if (logitRows < 1 || logitRows > maxTokens) throw new IllegalArgumentException("logitRows must be in [1, maxTokens]");
        }

        public static Options defaults(int maxContext) {
            return new Options(maxContext, 128, Mode.FUSED, true, 16, 1);
        }

        public Options withMode(Mode m) { return new Options(maxContext, maxTokens, m, embeddingOnDevice, headBits, logitRows); }

        public Options withEmbeddingOnDevice(boolean e) { return new Options(maxContext, maxTokens, mode, e, headBits, logitRows); }

        public Options withHeadBits(int b) { return new Options(maxContext, maxTokens, mode, embeddingOnDevice, b, logitRows); }

        public Options withLogitRows(int r) { return new Options(maxContext, maxTokens, mode, embeddingOnDevice, headBits, r); }
    }

    /** A linear on the device: Q + L·R in the GPU layout, or an fp16 matrix. */
    sealed interface GLinear permits QLinear, HLinear {
        int dOut();

        int dIn();
    }

    record QLinear(DeviceLayer l, DecodeConfig cfg, Workspace w) implements GLinear {
        public int dOut() { return l.dOut(); }

        public int dIn() { return l.dIn(); }
    }

    record HLinear(Buffer W, int dOut, int dIn, Workspace w) implements GLinear {} // W (dOut, dIn) fp16

    /** lm_head: fp16 W (vocab, H), or 4-bit format v1 (qweight (vocab, H/8), scales/zeros (vocab, H/group)). */
    record Head(int bits, int group, Buffer W, Buffer qweight, Buffer scales, Buffer zeros) {}

    record Block(Buffer inNorm, Buffer postNorm, Buffer bq, Buffer bk, Buffer bv,   // (H) fp16, biases (qDim|kvDim) fp16 or null
                 GLinear q, GLinear k, GLinear v, GLinear o, GLinear gate, GLinear up, GLinear down,
                 Buffer kc, Buffer vc) {}                                          // (nKV, maxContext, hd) fp16 each

    /** Device bytes by part (weights, KV cache, activations + scratch), as allocated. */
    public record Bytes(long weights, long kvCache, long workspace) {
        public long total() { return weights + kvCache + workspace; }
    }

    /** One allocation handed out in 256-byte-aligned pieces; a measuring arena only counts. */
    static final class Arena {
        final Gpu gpu;
        final Buffer base;   // null when measuring
        long used;

        Arena(Gpu gpu, long bytes, String what) {
            this.gpu = gpu;
            this.base = bytes < 0 ? null : gpu.alloc(bytes, what);
            if (base != null) gpu.zero(base); // KV cache and weights start defined (no NaN bit patterns)
        }

        static Arena measuring() { return new Arena(null, -1, null); }

        boolean real() { return base != null; }

        Buffer take(long bytes, String what) {
            long off = (used + 255) & ~255L;
            used = off + Math.max(bytes, 1);
            if (base == null) return new Buffer(new CUdeviceptr(), bytes, what);
            return Gpu.slice(base, off, bytes, what);
        }
    }

    // ---------------------------------------------------------------- host-side model (before upload)

    /** A linear prepared on the host: GPU-layout Q + factors, or fp16 data; data arrays are null for synthetic weights. */
    record HostLinear(String name, int dOut, int dIn, GpuLayer g, short[] w16, int group, int rank, int bl, int br, int gL, int gR,
                      boolean fused) {}

    record HostBlock(short[] inNorm, short[] postNorm, short[] bq, short[] bk, short[] bv, HostLinear[] linears) {}

    /** lm_head on the host: fp16 (vocab, H) or a 4-bit quantised matrix. */
    record HostHead(short[] w16, QuantizedMatrix q4) {}

    private final Gpu gpu;

    /** The GPU this engine runs on. */
    public Gpu gpu() {
        return gpu;
    }
    private final QlrKernels k;
    public final Qwen2Config c;
    public final Options o;
    private final Arena weights, kv, work;
    private final Block[] blocks;
    private final Head head;
    private final Buffer finalNorm, emb;           // (H) fp16; (vocab, H) fp16 or null (host embedding)
    private final short[] hostEmb;                 // (vocab, H) fp16 in host memory, or null
    private final Buffer h, xn, qb, kb, vb, att, delta, g, u, part, logits, state, hist, toks, iota, embRows, invFreq;
    private final int decodeSplits;
    /** Linears that run as fp16 because the fused kernels cannot read them, with the reason. */
    public final List<String> fp16Fallbacks;
    private CUgraphExec decodeGraph;

    private Engine(Gpu gpu, Qwen2Config c, Options o, HostBlock[] hb, short[] finalNormH, short[] embH, HostHead hh,
                   List<String> fallbacks, long seed) {
        this.gpu = gpu;
        this.k = new QlrKernels(gpu);
        this.c = c;
        this.o = o;
        this.fp16Fallbacks = List.copyOf(fallbacks);
        this.hostEmb = o.embeddingOnDevice() ? null : embH;
        boolean synthetic = seed != 0;
        // pass 1 counts, pass 2 allocates and uploads
        Arena wm = Arena.measuring();
        placeWeights(wm, hb, finalNormH, embH, hh, false, 0);
        this.weights = new Arena(gpu, wm.used, "weights");
        Object[] placed = placeWeights(weights, hb, finalNormH, embH, hh, synthetic, seed);
        long kvPerLayer = 2L * c.numKvHeads() * o.maxContext() * c.headDim();
        this.kv = new Arena(gpu, c.numLayers() * 2 * ((kvPerLayer + 255) & ~255L), "KV cache");
        this.decodeSplits = decodeSplits(c, o, gpu.smCount);
        Arena wsm = Arena.measuring();
        Object[] scratch = placeWorkspace(wsm, hb);
        this.work = new Arena(gpu, wsm.used, "activations and scratch");
        scratch = placeWorkspace(work, hb);
        Buffer[] s = (Buffer[]) scratch[0];
        h = s[0]; xn = s[1]; qb = s[2]; kb = s[3]; vb = s[4]; att = s[5]; delta = s[6]; g = s[7]; u = s[8]; part = s[9];
        logits = s[10]; state = s[11]; hist = s[12]; toks = s[13]; iota = s[14]; embRows = s[15]; invFreq = s[16];
        Workspace[] shared = (Workspace[]) scratch[1];
        this.finalNorm = (Buffer) placed[0];
        this.emb = (Buffer) placed[1];
        this.head = (Head) placed[2];
        DeviceLayer[][] dl = (DeviceLayer[][]) placed[3];
        Buffer[][] hw = (Buffer[][]) placed[4];
        Buffer[][] norms = (Buffer[][]) placed[5];
        blocks = new Block[c.numLayers()];
        int wi = 0;
        for (int l = 0; l < c.numLayers(); l++) {
            GLinear[] lin = new GLinear[7];
            for (int j = 0; j < 7; j++) {
                HostLinear hl = hb[l].linears()[j];
                Workspace w = workspaceFor(shared[wi++], hl);
                lin[j] = hl.fused() ? new QLinear(dl[l][j], k.decodeConfig(dl[l][j]), w) : new HLinear(hw[l][j], hl.dOut(), hl.dIn(), w);
            }
            Buffer kc = kv.take(kvPerLayer, "K cache " + l), vc = kv.take(kvPerLayer, "V cache " + l);
            blocks[l] = new Block(norms[l][0], norms[l][1], norms[l][2], norms[l][3], norms[l][4],
                    lin[0], lin[1], lin[2], lin[3], lin[4], lin[5], lin[6], kc, vc);
        }
        float[] inv = new float[c.headDim() / 2];
        for (int i = 0; i < inv.length; i++) {
            float exponent = (float) (2 * i) / (float) c.headDim();  // as Qwen2Model (transformers' float32 inv_freq)
            inv[i] = (float) (1.0 / (float) Math.pow(c.ropeTheta(), exponent));
        }
        gpu.write(invFreq, inv);
        int[] ids = new int[o.maxTokens()];
        for (int i = 0; i < ids.length; i++) ids[i] = i;
        gpu.write(iota, ids);
        gpu.sync();
    }

    private Workspace workspaceFor(Workspace shared, HostLinear hl) {
        return new Workspace(hl.dOut(), hl.dIn(), hl.rank(), o.maxTokens(), shared.tpart(), null, null, null, shared.ws(), shared.wsFloats(),
                shared.tm(), shared.r16(), shared.l16(), shared.w16(), shared.y1(), shared.y2());
    }

    /**
     * Splits of the context in decode attention: at least two blocks per SM, and at most 64
     * positions per split at a full cache (a block walks its positions serially, so long splits
     * made decode at context 2048 twice as slow as at 128 with 5 splits: 27 vs 53 tokens/s at 72B).
     */
    static int decodeSplits(Qwen2Config c, Options o, int sms) {
        int s = Math.max((2 * sms + c.numHeads() - 1) / c.numHeads(), o.maxContext() / 64);
        return Math.max(1, Math.min(s, 64));
    }

    /**
     * Places (and in a real arena uploads or, for synthetic weights, fills) every weight. Returns
     * {finalNorm, emb, head, DeviceLayer[L][7], fp16 W[L][7], norms/biases[L][5]}.
     */
    private Object[] placeWeights(Arena a, HostBlock[] hb, short[] finalNormH, short[] embH, HostHead hh, boolean synthetic,
                                  long seed) {
        SplittableRandom seeds = new SplittableRandom(seed);
        int H = hb.length == 0 ? 0 : hb[0].inNorm().length;
        Buffer fn = put(a, finalNormH, finalNormH.length, "final norm", seeds, 1f, 1f, synthetic);
        long VH = (long) c.vocabSize() * c.hiddenSize();
        Buffer e = o.embeddingOnDevice() ? put(a, embH, VH, "embedding", seeds, -0.05f, 0.05f, synthetic) : null;
        Head hd;
        if (hh.q4() != null) {
            QuantizedMatrix q = hh.q4();
            hd = new Head(4, q.group(), null, putInts(a, q.qweight(), q.qweight().length, "lm_head codes", seeds, synthetic),
                    put(a, q.scales(), q.scales().length, "lm_head scales", seeds, 1e-3f, 4e-3f, synthetic),
                    put(a, q.zeros(), q.zeros().length, "lm_head zeros", seeds, 6f, 9f, synthetic));
        } else if (hh.w16() == embH && e != null) {
            hd = new Head(16, 0, e, null, null, null); // tied: the embedding on the device serves as lm_head
        } else {
            hd = new Head(16, 0, put(a, hh.w16(), VH, "lm_head", seeds, -0.05f, 0.05f, synthetic), null, null, null);
        }
        int L = hb.length;
        DeviceLayer[][] dl = new DeviceLayer[L][7];
        Buffer[][] hw = new Buffer[L][7];
        Buffer[][] norms = new Buffer[L][5];
        for (int l = 0; l < L; l++) {
            HostBlock b = hb[l];
            norms[l][0] = put(a, b.inNorm(), H, "input norm " + l, seeds, 1f, 1f, synthetic);
            norms[l][1] = put(a, b.postNorm(), H, "post norm " + l, seeds, 1f, 1f, synthetic);
            norms[l][2] = b.bq() == null ? null : put(a, b.bq(), b.bq().length, "q bias " + l, seeds, -0.1f, 0.1f, synthetic);
            norms[l][3] = b.bk() == null ? null : put(a, b.bk(), b.bk().length, "k bias " + l, seeds, -0.1f, 0.1f, synthetic);
            norms[l][4] = b.bv() == null ? null : put(a, b.bv(), b.bv().length, "v bias " + l, seeds, -0.1f, 0.1f, synthetic);
            for (int j = 0; j < 7; j++) {
                HostLinear x = b.linears()[j];
                if (x.fused()) dl[l][j] = placeLayer(a, x, seeds, synthetic);
                else hw[l][j] = put(a, x.w16(), (long) x.dOut() * x.dIn(), x.name(), seeds, -0.02f, 0.02f, synthetic);
            }
        }
        return new Object[] {fn, e, hd, dl, hw, norms};
    }

    private DeviceLayer placeLayer(Arena a, HostLinear x, SplittableRandom seeds, boolean synthetic) {
        int MT = (x.dOut() + 15) / 16, KT = (x.dIn() + 127) / 128, GT = GpuLayout.groupsPerTile(x.name(), x.group(), x.dIn());
        GpuLayer g = x.g();
        long tiles = (long) MT * KT;
        Buffer qt = putInts(a, g == null ? null : g.qtiles(), tiles * 128, x.name() + " Q tiles", seeds, synthetic);
        Buffer sz = synthetic ? putSz(a, tiles * GT * 16, x.name() + " Q scales", seeds)
                : put(a, g == null ? null : g.sz(), tiles * GT * 32, x.name() + " Q scales", seeds, 0f, 0f, false);
        Buffer[] L = factor(a, g == null ? null : g.L(), x.dOut(), x.rank(), x.bl(), x.gL(), x.name() + " L", seeds, synthetic);
        Buffer[] R = factor(a, g == null ? null : g.R(), x.rank(), x.dIn(), x.br(), x.gR(), x.name() + " R", seeds, synthetic);
        return new DeviceLayer(x.dOut(), x.dIn(), x.group(), x.rank(), x.bl(), x.br(), MT, KT, GT, x.rank() == 0 ? 0 : x.gL(),
                x.rank() == 0 ? 0 : x.gR(), qt, sz, L[0], L[1], R[0], R[1]);
    }

    private Buffer[] factor(Arena a, GpuFactor f, int rows, int cols, int bits, int group, String what, SplittableRandom seeds,
                            boolean synthetic) {
        if (rows == 0 || cols == 0) return new Buffer[2];
        double sigma = 1.0 / Math.sqrt(Math.max(rows, cols));
        if (bits == 16)
            return new Buffer[] {put(a, f == null ? null : f.fp16(), (long) rows * cols, what, seeds, (float) -sigma, (float) sigma, synthetic), null};
        Buffer q = putInts(a, f == null ? null : f.qweight(), (long) rows * cols / 8, what + " codes", seeds, synthetic);
        long groups = (long) rows * (cols / group);
        Buffer sz;
        if (synthetic) {
            // (s, z) pairs: s small and positive, z in [6, 9] (around the middle of the 4-bit codes)
            // (s, z) pairs: s small and positive, z in [7, 8] (the middle of the 4-bit codes: mean-zero factors)
            sz = a.take(4L * groups, what + " scales");
            int seed = seeds.nextInt();
            if (a.real()) fillPairs(sz, groups, seed, (float) (sigma / 8), (float) (sigma / 4), 7f, 8f);
        } else {
            sz = put(a, f == null ? null : f.sz(), 2 * groups, what + " scales", seeds, 0f, 0f, false);
        }
        return new Buffer[] {q, sz};
    }

    private Buffer put(Arena a, short[] data, long n, String what, SplittableRandom seeds, float lo, float hi, boolean synthetic) {
        Buffer b = a.take(2 * n, what);
        int seed = seeds.nextInt();
        if (!a.real()) return b;
        if (data != null && !synthetic) gpu.write(b, data);
        else if (synthetic) fillHalf(b, n, seed, lo, hi);
        return b;
    }

    private Buffer putInts(Arena a, int[] data, long n, String what, SplittableRandom seeds, boolean synthetic) {
        Buffer b = a.take(4 * n, what);
        int seed = seeds.nextInt();
        if (!a.real()) return b;
        if (data != null && !synthetic) gpu.write(b, data);
        else if (synthetic) gpu.launch("eng_fill_bits", what, fillGrid(n), 1, 1, 0, b, n, seed);
        return b;
    }

    /** Q's (s, −z·s) half2 pairs for synthetic weights: s in [1e-3, 4e-3], −z·s in [−6e-3, −1.5e-3] (mean-zero weights for codes 0…3). */
    private Buffer putSz(Arena a, long pairs, String what, SplittableRandom seeds) {
        Buffer b = a.take(4 * pairs, what);
        int seed = seeds.nextInt();
        if (a.real()) fillPairs(b, pairs, seed, 1e-3f, 4e-3f, -6e-3f, -1.5e-3f);
        return b;
    }

    private void fillPairs(Buffer b, long pairs, int seed, float lo0, float hi0, float lo1, float hi1) {
        gpu.launch("eng_fill_pairs", b.what(), fillGrid(pairs), 1, 1, 0, b, pairs, seed, lo0, hi0, lo1, hi1);
    }

    private void fillHalf(Buffer b, long n, int seed, float lo, float hi) {
        gpu.launch("eng_fill_half", b.what(), fillGrid(n), 1, 1, 0, b, n, seed, lo, hi);
    }

    private int fillGrid(long n) {
        return (int) Math.max(1, Math.min((n + 255) / 256, 8L * gpu.smCount * 8));
    }

    /** Activation buffers and the linears' shared scratch. Returns {Buffer[17], Workspace[L·7]} (per linear, sharing buffers). */
    private Object[] placeWorkspace(Arena a, HostBlock[] hb) {
        int T = o.maxTokens(), H = c.hiddenSize(), I = c.intermediateSize(), nH = c.numHeads(), hd = c.headDim();
        // prefill runs attention unsplit (S = 1): T partial rows; decode: decodeSplits of one row
        long partFloats = (long) nH * Math.max(T, decodeSplits(c, o, gpu.smCount)) * (hd + 2);
        Buffer[] s = new Buffer[17];
        s[0] = a.take(4L * T * H, "residual h");
        s[1] = a.take(2L * T * H, "normed x");
        s[2] = a.take(2L * T * c.qDim(), "q");
        s[3] = a.take(2L * T * c.kvDim(), "k");
        s[4] = a.take(2L * T * c.kvDim(), "v");
        s[5] = a.take(2L * T * c.qDim(), "attention out");
        s[6] = a.take(2L * T * H, "o / down out");
        s[7] = a.take(2L * T * I, "gate");
        s[8] = a.take(2L * T * I, "up");
        s[9] = a.take(4L * partFloats, "attention partials");
        s[10] = a.take(4L * o.logitRows() * c.vocabSize(), "logits");
        s[11] = a.take(16, "state");
        s[12] = a.take(4L * (o.maxContext() + 1), "generated tokens");
        s[13] = a.take(4L * T, "input tokens");
        s[14] = a.take(4L * T, "0…T−1");
        s[15] = o.embeddingOnDevice() ? null : a.take(2L * T * H, "embedding rows (host mode)");
        s[16] = a.take(2L * hd, "inv_freq");
        // one scratch set for every linear, sized for the largest
        long tpart = 0, ws = 1, tm = 0, r16 = 0, l16 = 0, w16 = 0, y = 0;
        boolean unfused = o.mode() != Mode.FUSED;
        for (HostBlock b : hb)
            for (HostLinear x : b.linears()) {
                if (x.fused()) {
                    DeviceLayer l = shapeOnly(x);
                    ws = Math.max(ws, k.splitFloats(l, T));
                    if (x.rank() > 0) {
                        tpart = Math.max(tpart, 4L * (x.dIn() / 256 + 1) * x.rank());
                        tm = Math.max(tm, 2L * T * x.rank());
                        if (x.br() == 4) r16 = Math.max(r16, 2L * x.rank() * x.dIn());
                        if (x.bl() == 4 && unfused) l16 = Math.max(l16, 2L * x.dOut() * x.rank());
                    }
                    if (unfused) {
                        if (o.mode() == Mode.UNFUSED) w16 = Math.max(w16, 2L * x.dOut() * x.dIn());
                        y = Math.max(y, 2L * T * x.dOut());
                    }
                } else {
                    for (int t = 1; t <= T; t++) ws = Math.max(ws, k.gemmSplitFloats(x.dOut(), x.dIn(), t));
                }
            }
        Buffer bTpart = tpart == 0 ? null : a.take(tpart, "t = R·x partials");
        Buffer bWs = a.take(4L * ws, "split-k partials");
        Buffer bTm = tm == 0 ? null : a.take(tm, "X·Rᵀ");
        Buffer bR16 = r16 == 0 ? null : a.take(r16, "R fp16");
        Buffer bL16 = l16 == 0 ? null : a.take(l16, "L fp16");
        Buffer bW16 = w16 == 0 ? null : a.take(w16, "Q fp16 (unfused)");
        Buffer bY1 = y == 0 ? null : a.take(y, "y1 (unfused)"), bY2 = y == 0 ? null : a.take(y, "y2 (unfused)");
        Workspace[] w = new Workspace[hb.length * 7];
        Workspace one = new Workspace(0, 0, 0, T, bTpart, null, null, null, bWs, ws, bTm, bR16, bL16, bW16, bY1, bY2);
        Arrays.fill(w, one);
        return new Object[] {s, w};
    }

    private static DeviceLayer shapeOnly(HostLinear x) {
        int MT = (x.dOut() + 15) / 16, KT = (x.dIn() + 127) / 128;
        return new DeviceLayer(x.dOut(), x.dIn(), x.group(), x.rank(), x.bl(), x.br(), MT, KT,
                GpuLayout.groupsPerTile(x.name(), x.group(), x.dIn()), x.gL(), x.gR(), null, null, null, null, null, null);
    }

    // ---------------------------------------------------------------- building from weights

    /** An engine for a loaded model (dense or compressed checkpoint). Linears the fused kernels cannot read run as fp16. */
    public static Engine load(Gpu gpu, Qwen2Weights w, Options o, PrintStream log) {
        Qwen2Config c = w.config();
        checkShapes(c, o);
        List<String> fallbacks = new ArrayList<>();
        HostBlock[] hb = new HostBlock[c.numLayers()];
        for (int l = 0; l < c.numLayers(); l++) {
            Qwen2Weights.Block b = w.layers()[l];
            Linear[] lin = b.linears();
            HostLinear[] hl = new HostLinear[7];
            for (int j = 0; j < 7; j++) {
                String name = "model.layers." + l + "." + Qwen2Weights.Block.LINEAR_NAMES[j];
                if (j > 2 && lin[j].bias() != null)
                    throw new IllegalArgumentException(name + " has a bias; the engine adds biases to q/k/v only (Qwen2). "
                            + "Run this model on the CPU path");
                hl[j] = hostLinear(name, lin[j], fallbacks);
            }
            hb[l] = new HostBlock(half(b.inputNorm()), half(b.postNorm()), bias(lin[0]), bias(lin[1]), bias(lin[2]), hl);
        }
        short[] embH = half(w.embed());
        HostHead hh;
        if (w.lmHead() instanceof QuantizedLinear ql && ql.Q.bits() == 4 && ql.Q.dIn() % 32 == 0 && ql.Q.group() % 32 == 0) {
            hh = new HostHead(null, ql.Q);
        } else {
            float[] W = w.lmHead().denseWeight();
            if (o.headBits() == 4) {
                hh = new HostHead(null, Rtn.quantize(W, c.vocabSize(), c.hiddenSize(), QuantConfig.of(4, headGroup(c.hiddenSize()))));
            } else {
                boolean tied = c.tieWordEmbeddings() && Arrays.equals(W, w.embed());
                hh = new HostHead(tied ? embH : half(W), null);
            }
        }
        if (!fallbacks.isEmpty() && log != null)
            log.println("engine: " + fallbacks.size() + " linear(s) run as fp16: " + fallbacks.get(0) + (fallbacks.size() > 1 ? " …" : ""));
        return new Engine(gpu, c, o, hb, half(w.finalNorm()), embH, hh, fallbacks, 0);
    }

    static int headGroup(int H) {
        return H % 128 == 0 ? 128 : H % 64 == 0 ? 64 : 32;
    }

    private static void checkShapes(Qwen2Config c, Options o) {
        if (c.headDim() % 2 != 0 || c.headDim() > 1024)
            throw new IllegalArgumentException("head_dim " + c.headDim() + " must be even and ≤ 1024 for the attention kernels");
        if (c.numHeads() % c.numKvHeads() != 0)
            throw new IllegalArgumentException("num_attention_heads " + c.numHeads() + " is not a multiple of num_key_value_heads " + c.numKvHeads());
        if (c.hiddenSize() % 8 != 0 || c.intermediateSize() % 8 != 0)
            throw new IllegalArgumentException("hidden_size and intermediate_size must be multiples of 8 (16-byte rows)");
        if (o.maxContext() > 1 << 20)
            throw new IllegalArgumentException("maxContext " + o.maxContext() + " is unreasonably large");
    }

    private static HostLinear hostLinear(String name, Linear lin, List<String> fallbacks) {
        QuantizedMatrix Q = null;
        LowRank lr = null;
        String why = null;
        if (lin instanceof QuantizedLinear ql) Q = ql.Q;
        else if (lin instanceof CompressedLinear cl) {
            Q = cl.Q();
            lr = cl.lr();
            if (cl.inc() != null) why = "Hadamard incoherence (the GPU path does not undo the transform yet)";
        } else why = "dense";
        if (why == null && Q.bits() != 2) why = Q.bits() + "-bit Q (the fused kernels read 2-bit codes)";
        if (why == null && lr != null && (lr.rank() % 8 != 0 || lr.rank() > GpuLayout.MAX_RANK))
            why = "rank " + lr.rank() + " (the kernels need a multiple of 8, ≤ " + GpuLayout.MAX_RANK + ")";
        if (why == null && lr != null && ((lr.bl() != 4 && lr.bl() != 16) || (lr.br() != 4 && lr.br() != 16)))
            why = "factor bits " + lr.bl() + "/" + lr.br();
        if (why == null) {
            try {
                GpuLayout.groupsPerTile(name, Q.group(), Q.dIn());
                if (Q.dIn() % 16 != 0) why = "d_in " + Q.dIn() + " is not a multiple of 16";
            } catch (IllegalArgumentException e) {
                why = e.getMessage();
            }
        }
        if (why != null) {
            if (!why.equals("dense")) fallbacks.add(name + ": " + why);
            return new HostLinear(name, lin.dOut(), lin.dIn(), null, half(lin.denseWeight()), 0, 0, 16, 16, 0, 0, false);
        }
        Factor L = null, R = null;
        if (lr != null) {
            L = lr.bl() == 16 ? Factor.fp16(name + ".L", lr.dOut(), lr.rank(), lr.L16()) : Factor.of(name + ".L", lr.Lq());
            R = lr.br() == 16 ? Factor.fp16(name + ".R", lr.rank(), lr.dIn(), lr.R16()) : Factor.of(name + ".R", lr.Rq());
        }
        FormatV1Layer f = new FormatV1Layer(name, Q.dOut(), Q.dIn(), 2, Q.group(), Q.qweight(), Q.scales(), Q.zeros(), L, R);
        GpuLayer g = GpuLayout.convert(f);
        int rank = f.rank();
        return new HostLinear(name, Q.dOut(), Q.dIn(), g, null, Q.group(), rank, L == null ? 16 : L.bits(), R == null ? 16 : R.bits(),
                L == null || L.bits() == 16 ? 0 : L.group(), R == null || R.bits() == 16 ? 0 : R.group(), true);
    }

    private static short[] bias(Linear l) {
        return l.bias() == null ? null : half(l.bias());
    }

    static short[] half(float[] a) {
        short[] s = new short[a.length];
        for (int i = 0; i < a.length; i++) s[i] = Float.floatToFloat16(a[i]);
        return s;
    }

    // ---------------------------------------------------------------- synthetic weights (speed, footprint)

    /**
     * An engine with random weights in the shapes of config c, compressed per s (bq = 2 fused
     * linears; bq = 16 = fp16 linears), lm_head per s.headBits() (16 or 4), embedding per
     * o.embeddingOnDevice(). Values are random but finite; speed does not depend on them.
     */
    public static Engine synthetic(Gpu gpu, Qwen2Config c, Footprint.Settings s, Options o, long seed) {
        checkShapes(c, o);
        if (s.bq() != 2 && s.bq() != 16) throw new IllegalArgumentException("synthetic linears are 2-bit Q + L·R or fp16 (bq 16), got " + s.bq());
        if (s.hadamard()) throw new IllegalArgumentException("the GPU engine does not run Hadamard-transformed layers");
        int H = c.hiddenSize();
        int[][] shapes = {{c.qDim(), H}, {c.kvDim(), H}, {c.kvDim(), H}, {H, c.qDim()},
                {c.intermediateSize(), H}, {c.intermediateSize(), H}, {H, c.intermediateSize()}};
        HostBlock[] hb = new HostBlock[c.numLayers()];
        for (int l = 0; l < c.numLayers(); l++) {
            HostLinear[] hl = new HostLinear[7];
            for (int j = 0; j < 7; j++) {
                String name = "model.layers." + l + "." + Qwen2Weights.Block.LINEAR_NAMES[j];
                int dOut = shapes[j][0], dIn = shapes[j][1], r = s.rank();
                hl[j] = s.bq() == 16
                        ? new HostLinear(name, dOut, dIn, null, null, 0, 0, 16, 16, 0, 0, false)
                        : new HostLinear(name, dOut, dIn, null, null, s.group(), r, s.bl(), s.br(),
                                r == 0 || s.bl() == 16 ? 0 : LowRank.lGroup(r), r == 0 || s.br() == 16 ? 0 : RandomLayers.factorGroup(dIn), true);
            }
            short[] n = new short[H];
            hb[l] = new HostBlock(n, n, c.attentionBias() ? new short[c.qDim()] : null, c.attentionBias() ? new short[c.kvDim()] : null,
                    c.attentionBias() ? new short[c.kvDim()] : null, hl);
        }
        short[] embH = o.embeddingOnDevice() ? new short[0] : randomHalves(seed, (long) c.vocabSize() * H);
        HostHead hh;
        int hg = headGroup(H);
        if (s.headBits() == 4) {
            long words = (long) c.vocabSize() * H / 8, groups = (long) c.vocabSize() * (H / hg);
            hh = new HostHead(null, new QuantizedMatrix(c.vocabSize(), H, 4, hg, new int[(int) words], new short[(int) groups], new short[(int) groups]));
        } else if (s.headBits() == 16) {
            hh = new HostHead(new short[0], null);
        } else throw new IllegalArgumentException("synthetic lm_head is fp16 or 4-bit, got " + s.headBits());
        return new Engine(gpu, c, o, hb, new short[H], embH, hh, List.of(), seed == 0 ? 1 : seed);
    }

    private static short[] randomHalves(long seed, long n) {
        if (n > Integer.MAX_VALUE - 8) throw new IllegalArgumentException("embedding of " + n + " values does not fit one Java array");
        short[] a = new short[(int) n];
        SplittableRandom r = new SplittableRandom(seed);
        for (int i = 0; i < a.length; i++) a[i] = Float.floatToFloat16((float) (0.05 * (r.nextDouble() * 2 - 1)));
        return a;
    }

    // ---------------------------------------------------------------- running

    /** Bytes this engine allocated on the device, by part. */
    public Bytes bytes() {
        return new Bytes(weights.used, kv.used, work.used);
    }

    /** Empties the KV cache (positions restart at 0). */
    public void reset() {
        gpu.write(state, new int[] {0, 0, 0, 0});
    }

    /** Sets position, next token and generated count directly (benchmarks decode at a given context). */
    public void setState(int position, int token) {
        if (position < 0 || position >= o.maxContext()) throw new IllegalArgumentException("position " + position + " outside the KV cache");
        gpu.write(state, new int[] {position, token, 0, 0});
    }

    public int position() {
        return gpu.readInts(state, 1)[0];
    }

    /**
     * Runs tokens at the current position (chunks of maxTokens), appends them to the KV cache and
     * returns logits: every row (T, vocab) when all (needs logitRows ≥ the chunk), else the last (vocab).
     */
    public float[] forward(int[] tokens, boolean all) {
        int V = c.vocabSize();
        float[] out = new float[(all ? tokens.length : 1) * V];
        int pos = position();
        if (pos + tokens.length > o.maxContext())
            throw new IllegalArgumentException("KV cache holds " + pos + " of " + o.maxContext() + " positions; " + tokens.length
                    + " more do not fit (make the engine with a larger maxContext)");
        for (int t0 = 0; t0 < tokens.length; ) {
            int T = Math.min(all ? Math.min(o.maxTokens(), o.logitRows()) : o.maxTokens(), tokens.length - t0);
            int[] chunk = Arrays.copyOfRange(tokens, t0, t0 + T);
            stage(chunk);
            step(T, all ? T : 1, false, false);
            if (all) {
                float[] r = gpu.readFloats(logits, 0, T * V);
                System.arraycopy(r, 0, out, t0 * V, T * V);
            } else if (t0 + T == tokens.length) {
                System.arraycopy(gpu.readFloats(logits, 0, V), 0, out, 0, V);
            }
            t0 += T;
        }
        return out;
    }

    private void stage(int[] chunk) {
        for (int t = 0; t < chunk.length; t++)
            if (chunk[t] < 0 || chunk[t] >= c.vocabSize())
                throw new IllegalArgumentException("token id " + chunk[t] + " at " + t + " is outside the vocabulary [0, " + c.vocabSize() + ")");
        if (o.embeddingOnDevice()) {
            gpu.write(toks, chunk);
        } else {
            int H = c.hiddenSize();
            short[] rows = new short[chunk.length * H];
            for (int t = 0; t < chunk.length; t++) System.arraycopy(hostEmb, chunk[t] * H, rows, t * H, H);
            gpu.writeAsync(embRows, rows, rows.length);
        }
    }

    /**
     * Greedy generation: the prompt as prefill (chunks of maxTokens), then maxNew − 1 decode steps
     * (CUDA graph when useGraph). Returns the generated tokens (the first comes from the prefill).
     */
    public int[] generate(int[] prompt, int maxNew, boolean useGraph) {
        if (prompt.length == 0 || maxNew < 1) throw new IllegalArgumentException("need a prompt and maxNew ≥ 1");
        if (prompt.length + maxNew > o.maxContext())
            throw new IllegalArgumentException("prompt (" + prompt.length + ") + " + maxNew + " new tokens exceed the KV cache (" + o.maxContext() + ")");
        reset();
        for (int t0 = 0; t0 < prompt.length; t0 += o.maxTokens()) {
            int[] chunk = Arrays.copyOfRange(prompt, t0, Math.min(prompt.length, t0 + o.maxTokens()));
            stage(chunk);
            step(chunk.length, 1, t0 + chunk.length == prompt.length, false);
        }
        for (int i = 1; i < maxNew; i++) decodeStep(useGraph);
        return gpu.readInts(hist, maxNew);
    }

    /** One decode step from the token in state[1] (device-resident loop: no host round trip with the device embedding). */
    public void decodeStep(boolean useGraph) {
        if (!o.embeddingOnDevice()) {
            int tok = gpu.readInts(Gpu.slice(state, 4, 4, "state token"), 1)[0];
            if (tok < 0 || tok >= c.vocabSize())
                throw new IllegalStateException("the device produced token id " + tok + " (outside the vocabulary): NaN logits?");
            int H = c.hiddenSize();
            short[] row = Arrays.copyOfRange(hostEmb, tok * H, tok * H + H);
            gpu.writeAsync(embRows, row, H);
        }
        if (!useGraph) {
            step(1, 1, true, true);
            return;
        }
        if (decodeGraph == null) {
            gpu.sync();
            gpu.beginCapture();
            try {
                step(1, 1, true, true);
            } finally {
                decodeGraph = gpu.endCapture();
            }
        }
        gpu.launchGraph(decodeGraph);
    }

    /**
     * One step of T tokens at position state[0]: tokens from toks (prefill), state[1] (decode, T = 1)
     * or the host-embedding rows; logits of the last rows rows; then argmax (sample) or advance.
     */
    private void step(int T, int rows, boolean sample, boolean fromState) {
        int H = c.hiddenSize(), nH = c.numHeads(), nKV = c.numKvHeads(), hd = c.headDim(), I = c.intermediateSize();
        float eps = (float) c.rmsNormEps();
        if (o.embeddingOnDevice()) {
            gpu.launch("eng_embed", "T=" + T, T, 1, 1, 0, h, emb, fromState ? Gpu.slice(state, 4, 4, "state token") : toks, H, c.vocabSize());
        } else {
            gpu.launch("eng_embed", "T=" + T + " (host rows)", T, 1, 1, 0, h, embRows, iota, H, T);
        }
        mark("embedding");
        Buffer pending = null;
        int S = T == 1 ? decodeSplits : 1;
        int chunkMax = Math.max(ATT_MIN_CHUNK, (o.maxContext() + S - 1) / S);
        int smem = 4 * (hd + chunkMax);
        for (Block b : blocks) {
            gpu.launchWith("eng_add_rmsnorm", "H=" + H, T, 1, 1, NORM_THREADS, 0, h, pending, b.inNorm(), xn, H, eps);
            mark("norms + residual");
            linear(b.q(), xn, T, qb);
            linear(b.k(), xn, T, kb);
            linear(b.v(), xn, T, vb);
            mark("q/k/v linears");
            gpu.launchWith("eng_qkv_rope", "T=" + T, T, nH + nKV, 1, hd / 2, 0, qb, kb, vb, b.bq(), b.bk(), b.bv(), b.kc(), b.vc(),
                    invFreq, state, nH, nKV, hd, o.maxContext());
            mark("bias + RoPE + KV write");
            gpu.launchWith("eng_attn_partial", "T=" + T + " S=" + S, nH, T, S, 128, smem, qb, b.kc(), b.vc(), part, state, nH, nKV, hd,
                    o.maxContext(), (float) (1.0 / Math.sqrt(hd)));
            gpu.launchWith("eng_attn_combine", "T=" + T, nH, T, 1, hd, 4 * S, part, att, nH, hd, S);
            mark("attention");
            linear(b.o(), att, T, delta);
            mark("o linear");
            gpu.launchWith("eng_add_rmsnorm", "H=" + H, T, 1, 1, NORM_THREADS, 0, h, delta, b.postNorm(), xn, H, eps);
            mark("norms + residual");
            linear(b.gate(), xn, T, g);
            linear(b.up(), xn, T, u);
            mark("gate/up linears");
            long n = (long) T * I;
            gpu.launch("eng_silu_mul", "n=" + n, fillGrid(n), 1, 1, 0, g, u, g, n);
            mark("SwiGLU");
            linear(b.down(), g, T, delta);
            mark("down linear");
            pending = delta;
        }
        gpu.launchWith("eng_add_rmsnorm", "H=" + H, T, 1, 1, NORM_THREADS, 0, h, pending, finalNorm, xn, H, eps);
        mark("norms + residual");
        int V = c.vocabSize();
        for (int r = 0; r < rows; r++) {
            int t = T - rows + r;
            Buffer x = Gpu.slice(xn, 2L * t * H, 2L * H, "final normed row");
            Buffer y = Gpu.slice(logits, 4L * r * V, 4L * V, "logits row");
            if (head.bits() == 16)
                gpu.launch("eng_gemv_f16_f32", "lm_head fp16", (V + 7) / 8, 1, 1, 0, y, head.W(), x, V, H);
            else
                gpu.launch("eng_gemv_q4_f32", "lm_head 4-bit", (V + 7) / 8, 1, 1, 0, y, head.qweight(), head.scales(), head.zeros(), x, V, H,
                        head.group());
        }
        mark("lm_head");
        if (sample) gpu.launchWith("eng_argmax", "vocab=" + V, 1, 1, 1, 1024, 0, Gpu.slice(logits, 4L * (rows - 1) * V, 4L * V, "logits"),
                V, state, hist, T);
        else gpu.launchWith("eng_advance", "T=" + T, 1, 1, 1, 32, 0, state, T);
        mark("argmax");
    }

    private List<CUevent> marks;
    private List<String> markNames;

    /** Records an event after the work queued so far, charged to {@code what} (only while profiling). */
    private void mark(String what) {
        if (marks == null) return;
        CUevent e = gpu.event();
        gpu.record(e);
        marks.add(e);
        markNames.add(what);
    }

    /**
     * GPU time of one decode step at a context, by part (ms). The step's launches queue behind a
     * spin kernel first, so the GPU runs them back to back and the events between parts measure GPU
     * time, not the host's launch rate (the CUDA-graph step runs the same kernels).
     */
    public Map<String, Double> profileDecode(int context) {
        setState(context, 1);
        marks = new ArrayList<>();
        markNames = new ArrayList<>();
        try {
            k.spin(300_000_000L);
            mark("start");
            step(1, 1, true, true);
            gpu.sync();
            Map<String, Double> ms = new LinkedHashMap<>();
            for (int i = 1; i < marks.size(); i++)
                ms.merge(markNames.get(i), (double) Gpu.elapsedMs(marks.get(i - 1), marks.get(i)), Double::sum);
            return ms;
        } finally {
            for (CUevent e : marks) Gpu.destroy(e);
            marks = null;
        }
    }

    private void linear(GLinear lin, Buffer x, int T, Buffer y) {
        switch (lin) {
            case QLinear q -> {
                if (T == 1) {
                    switch (o.mode()) {
                        case FUSED -> k.decodeFused(q.l(), x, y, q.w(), q.cfg());
                        case UNFUSED_LR -> k.decodeUnfusedLr(q.l(), x, y, q.w(), q.cfg());
                        case UNFUSED -> k.decodeUnfused(q.l(), x, y, q.w());
                    }
                } else {
                    switch (o.mode()) {
                        case FUSED -> k.prefillFused(q.l(), x, T, y, q.w(), 0);
                        case UNFUSED_LR -> k.prefillUnfusedLr(q.l(), x, T, y, q.w());
                        case UNFUSED -> k.prefillUnfused(q.l(), x, T, y, q.w());
                    }
                }
            }
            case HLinear d -> {
                if (T == 1) k.gemvF16(y, d.W(), x, d.dOut(), d.dIn());
                else k.gemmF16(y, d.W(), x, d.dOut(), T, d.dIn(), d.w());
            }
        }
    }


    /** Decode: steps tokens at context (graph replay and plain launches); prefill: one step of T tokens from position 0. */
    public double[] timeDecode(int context, int steps, boolean useGraph) {
        setState(context, 1);
        decodeStep(useGraph); // warm-up (and capture)
        gpu.sync();
        setState(context, 1);
        CUevent a = gpu.event(), b = gpu.event();
        gpu.record(a);
        for (int i = 0; i < steps; i++) decodeStep(useGraph);
        gpu.record(b);
        gpu.sync();
        double ms = Gpu.elapsedMs(a, b) / steps;
        Gpu.destroy(a);
        Gpu.destroy(b);
        return new double[] {ms, 1000.0 / ms};
    }

    public double[] timePrefill(int T, int reps) {
        if (T > o.maxTokens()) throw new IllegalArgumentException("prefill of " + T + " tokens exceeds maxTokens " + o.maxTokens());
        int[] tok = new int[T];
        for (int i = 0; i < T; i++) tok[i] = (i * 7919) % c.vocabSize();
        setState(0, 0);
        stage(tok);
        step(T, 1, true, false);
        gpu.sync();
        CUevent a = gpu.event(), b = gpu.event();
        gpu.record(a);
        for (int i = 0; i < reps; i++) {
            setStateAsyncZero();
            step(T, 1, true, false);
        }
        gpu.record(b);
        gpu.sync();
        double ms = Gpu.elapsedMs(a, b) / reps;
        Gpu.destroy(a);
        Gpu.destroy(b);
        return new double[] {ms, T * 1000.0 / ms};
    }

    private void setStateAsyncZero() {
        gpu.zero(Gpu.slice(state, 0, 4, "position"));
    }

    /** Per-part summary for logs. */
    public Map<String, Object> describe() {
        Map<String, Object> m = new LinkedHashMap<>();
        m.put("weights_bytes", weights.used);
        m.put("kv_cache_bytes", kv.used);
        m.put("workspace_bytes", work.used);
        m.put("decode_splits", decodeSplits);
        m.put("fp16_fallbacks", fp16Fallbacks.size());
        m.put("lm_head", head.bits() == 16 ? "fp16" : "4-bit g" + head.group());
        m.put("embedding", o.embeddingOnDevice() ? "device" : "host");
        m.put("mode", o.mode().name().toLowerCase());
        return m;
    }

    @Override
    public void close() {
        if (decodeGraph != null) Gpu.destroy(decodeGraph);
        decodeGraph = null;
        for (Arena a : new Arena[] {weights, kv, work}) if (a != null && a.base != null) gpu.free(a.base);
    }
}
