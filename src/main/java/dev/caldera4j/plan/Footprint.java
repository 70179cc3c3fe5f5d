package dev.caldera4j.plan;

import dev.caldera4j.model.Qwen2Config;
import dev.caldera4j.quant.LowRank;
import dev.caldera4j.quant.Packing;

import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * Exact device bytes of a compressed Qwen2 model during decode, for any architecture and compression
 * settings, against DESIGN's definition of "fits in 22 GB": peak device memory ≤ 22 GiB with a
 * 4,096-token fp16 KV cache, CUDA context, workspaces and lm_head included, the token embedding
 * allowed to stay in host memory.
 *
 * <p>Every compressed matrix is counted as format v1 stores it (the GPU layout holds the same bytes for
 * the shapes Qwen2 uses: rows are multiples of 16 and inputs multiples of 128): packed codes in 32-bit
 * words per row, an fp16 scale and zero per group, L and R at 16 bits or quantised with their own
 * scales (L grouped along the rank with group min(r, 128), R along d_in), I8 Hadamard signs, fp16
 * biases. The unit tests check these counts against the storedBytes of real compressed layers.
 */
public final class Footprint {
    private Footprint() {}

    /**
     * How each part is stored.
     *
     * @param bq           bits of Q (2, 3, 4, 8)
     * @param group        group size of Q along d_in
     * @param rank         rank of L·R (0: no low-rank term)
     * @param bl           bits of L (16 = fp16)
     * @param br           bits of R (16 = fp16)
     * @param factorGroup  group of R along d_in when br &lt; 16 (L uses min(rank, 128) along the rank)
     * @param hadamard     randomised Hadamard signs stored per matrix
     * @param headBits     lm_head: 16 (fp16) or 2…8 (quantised groupwise at headGroup)
     * @param headGroup    group of a quantised lm_head
     * @param embeddingOnDevice  false: the embedding stays in host memory and is gathered per token
     */
    public record Settings(int bq, int group, int rank, int bl, int br, int factorGroup, boolean hadamard,
                           int headBits, int headGroup, boolean embeddingOnDevice) {
        public Settings {
            if (rank < 0) throw new IllegalArgumentException("rank must be ≥ 0, got " + rank);
            for (int b : new int[] {bq, bl, br, headBits})
                if (b != 16 && (b < 2 || b > 8)) throw new IllegalArgumentException("bit widths are 2…8 or 16, got " + b);
        }

        public static Settings caldera(int bq, int group, int rank, int bits) {
            return new Settings(bq, group, rank, bits, bits, 128, false, 16, 128, false);
        }

        public Settings withHead(int bits, int headGroup) {
            return new Settings(bq, group, rank, bl, br, factorGroup, hadamard, bits, headGroup, embeddingOnDevice);
        }

        public Settings withRank(int r) {
            return new Settings(bq, group, r, bl, br, factorGroup, hadamard, headBits, headGroup, embeddingOnDevice);
        }

        /** These settings with one matrix's override applied (Q grid, low-rank term, R's group = Q's; Hadamard kept). */
        public Settings with(Overrides.Setting o) {
            // CALDERA groups R along d_in with Q's group, so an override's group is R's too
            return new Settings(o.bq(), o.group(), o.rank(), o.bl(), o.br(), o.group(), hadamard, headBits, headGroup, embeddingOnDevice);
        }

        /** This setting as an override entry (the base of a map). */
        public Overrides.Setting asOverride() {
            return rank == 0 ? Overrides.Setting.q(bq, group) : new Overrides.Setting(bq, group, rank, bl, br);
        }
    }

    /**
     * What the runtime needs beside the weights.
     *
     * @param context        KV-cache positions (DESIGN: 4,096)
     * @param batch          sequences decoded together
     * @param kvBytes        bytes per cached value (2: fp16)
     * @param contextBytes   CUDA context and module images (measured on the GPU host by the engine)
     * @param prefillTokens  tokens of the largest prefill step (workspace scales with it)
     */
    public record Runtime(int context, int batch, int kvBytes, long contextBytes, int prefillTokens) {
        /**
         * CUDA context + stream + kernel module as measured on the H200 by {@code gpu.ContextProbe}
         * (results/gpu-context-h200.json: 552,402,944 bytes = 526.8 MiB). A card with fewer SMs (an RTX 3090
         * has 82 to the H200's 132) reserves less per-SM local memory, so this is a conservative allowance there.
         */
        public static final long CONTEXT_BYTES_H200 = 552_402_944L;

        /** DESIGN's definition: 4,096-token fp16 KV cache, batch 1, the measured context. */
        public static Runtime design() {
            return new Runtime(4096, 1, 2, CONTEXT_BYTES_H200, 128);
        }
    }

    /** Bytes of a groupwise-quantised (rows, cols) matrix at {@code bits}, group along cols. */
    public static long quantizedBytes(long rows, int cols, int bits, int group) {
        int g = group <= 0 || group > cols ? cols : group;
        return rows * (4L * Packing.wordsPerRow(cols, bits) + 4L * ((cols + g - 1) / g));
    }

    /** Bytes of one compressed linear (dOut, dIn) as format v1 stores it, bias excluded. */
    public static long linearBytes(int dOut, int dIn, Settings s) {
        if (s.bq() == 16) return 2L * dOut * dIn; // an fp16 linear (the dense baseline)
        long b = quantizedBytes(dOut, dIn, s.bq(), s.group());
        if (s.rank() > 0) {
            b += s.bl() == 16 ? 2L * dOut * s.rank() : quantizedBytes(dOut, s.rank(), s.bl(), LowRank.lGroup(s.rank()));
            b += s.br() == 16 ? 2L * s.rank() * dIn : quantizedBytes(s.rank(), dIn, s.br(), s.factorGroup());
        }
        if (s.hadamard()) b += dOut + dIn;
        return b;
    }

    /** One line of the footprint: a named part and its bytes. */
    public record Part(String name, long bytes, boolean onDevice) {}

    /** The whole footprint: parts, device total and the parameters of the linears. */
    public record Plan(Qwen2Config config, Settings settings, Runtime runtime, List<Part> parts) {
        public long deviceBytes() {
            return parts.stream().filter(Part::onDevice).mapToLong(Part::bytes).sum();
        }

        public long hostBytes() {
            return parts.stream().filter(p -> !p.onDevice()).mapToLong(Part::bytes).sum();
        }

        public double deviceGiB() {
            return deviceBytes() / (double) (1L << 30);
        }

        public boolean fits(double budgetGiB) {
            return deviceBytes() <= (long) (budgetGiB * (1L << 30));
        }

        /** Bits per parameter of the decoder's linear layers (the 70.21 B of Qwen2-72B), everything they store included. */
        public double linearBitsPerParam() {
            long bytes = parts.stream().filter(p -> p.name().startsWith("linears")).mapToLong(Part::bytes).sum();
            return bytes * 8.0 / linearParams(config);
        }

        public Map<String, Long> byName() {
            Map<String, Long> m = new LinkedHashMap<>();
            for (Part p : parts) m.merge(p.name(), p.bytes(), Long::sum);
            return m;
        }
    }

    /** Parameters in the decoder's linear layers (no embedding, no lm_head). */
    public static long linearParams(Qwen2Config c) {
        long h = c.hiddenSize(), q = c.qDim(), kv = c.kvDim(), im = c.intermediateSize();
        return c.numLayers() * (h * q + 2 * h * kv + q * h + 3 * h * im);
    }

    public static Plan plan(Qwen2Config c, Settings s, Runtime rt) {
        return plan(c, s, rt, Overrides.NONE);
    }

    /** (d_out, d_in) of matrix kind k ({@link Overrides#KINDS} order: q, k, v, o, gate, up, down). */
    public static int[] shape(Qwen2Config c, int kind) {
        int h = c.hiddenSize(), q = c.qDim(), kv = c.kvDim(), im = c.intermediateSize();
        return switch (kind) {
            case 0 -> new int[] {q, h};
            case 1, 2 -> new int[] {kv, h};
            case 3 -> new int[] {h, q};
            case 4, 5 -> new int[] {im, h};
            case 6 -> new int[] {h, im};
            default -> throw new IllegalArgumentException("matrix kind " + kind + " is not one of " + Overrides.KINDS);
        };
    }

    /**
     * The footprint with per-matrix overrides: each block linear counted at its own setting
     * ({@link Settings#with}), lm_head at its override's bq/group when the map has one (rank 0 only).
     */
    public static Plan plan(Qwen2Config c, Settings s, Runtime rt, Overrides o) {
        int h = c.hiddenSize(), q = c.qDim(), kv = c.kvDim(), im = c.intermediateSize(), L = c.numLayers();
        o.checkLayers(L, "footprint");
        Overrides.Setting headOverride = o.map().get(Overrides.LM_HEAD);
        if (headOverride != null) {
            if (headOverride.rank() != 0)
                throw new IllegalArgumentException("lm_head override has rank " + headOverride.rank() + ": the planner stores lm_head as Q only; use rank 0");
            s = s.withHead(headOverride.bq(), headOverride.group());
        }
        List<Part> parts = new ArrayList<>();
        long attn = 0, mlp = 0;
        for (int l = 0; l < L; l++)
            for (int k = 0; k < 7; k++) {
                Overrides.Setting m = o.get(l, k);
                int[] sh = shape(c, k);
                long b = linearBytes(sh[0], sh[1], m == null ? s : s.with(m));
                if (k < 4) attn += b;
                else mlp += b;
            }
        parts.add(new Part("linears: attention (q, k, v, o)", attn, true));
        parts.add(new Part("linears: MLP (gate, up, down)", mlp, true));
        long bias = c.attentionBias() ? 2L * (q + 2L * kv) : 0;
        parts.add(new Part("biases and norms (fp16)", L * (bias + 2L * 2 * h) + 2L * h, true));
        long emb = 2L * c.vocabSize() * h;
        parts.add(new Part("token embedding (bf16)", emb, s.embeddingOnDevice()));
        if (!c.tieWordEmbeddings() || s.headBits() != 16 || !s.embeddingOnDevice()) {
            long head = s.headBits() == 16 ? emb : quantizedBytes(c.vocabSize(), h, s.headBits(), s.headGroup());
            parts.add(new Part("lm_head (" + (s.headBits() == 16 ? "fp16" : s.headBits() + "-bit g" + s.headGroup()) + ")", head, true));
        }
        long kvCache = 2L * L * kv * (long) rt.context() * rt.batch() * rt.kvBytes();
        parts.add(new Part("KV cache (" + rt.context() + " positions, batch " + rt.batch() + ")", kvCache, true));
        int maxRank = s.rank();
        for (Overrides.Setting m : o.map().values()) maxRank = Math.max(maxRank, m.rank());  // t = R·x is sized by the largest rank
        parts.add(new Part("workspace", workspaceBytes(c, s.withRank(maxRank), rt), true));
        parts.add(new Part("CUDA context", rt.contextBytes(), true));
        return new Plan(c, s, rt, parts);
    }

    /**
     * Activation buffers and scratch of the GPU engine (gpu.Engine), sized for the larger of decode
     * and a prefill of rt.prefillTokens: residual stream (fp32), normed copy, q/k/v, attention and
     * MLP activations (fp16), split-context attention partials (fp32, heads × tokens × (head_dim+2)),
     * the linears' shared scratch — X·Rᵀ (fp16), R dequantised for prefill (fp16, when 4-bit),
     * split-k partials (fp32; the k/v projections split d_in into at most 32 parts) — and one
     * row of fp32 logits.
     */
    public static long workspaceBytes(Qwen2Config c, Settings s, Runtime rt) {
        long T = (long) rt.prefillTokens() * rt.batch();
        long h = c.hiddenSize(), im = c.intermediateSize(), r = s.rank();
        long act = T * (4 * h + 2 * h + 2 * (2L * c.qDim() + 2L * c.kvDim() + h) + 2 * 2 * im);
        long partials = 4L * c.numHeads() * T * (c.headDim() + 2);
        long lowRank = r == 0 || s.bq() == 16 ? 0 : 2 * T * r + (s.br() == 4 ? 2 * r * Math.max(im, h) : 0) + 4 * (im / 256 + 1) * r;
        long splitK = 4 * T * c.kvDim() * 32;
        long tokens = 4L * (rt.context() + 1) + 8 * T + (s.embeddingOnDevice() ? 0 : 2 * T * h);
        long logits = 4L * rt.batch() * c.vocabSize();
        return act + partials + lowRank + splitK + tokens + logits;
    }
}
