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
        int h = c.hiddenSize(), q = c.qDim(), kv = c.kvDim(), im = c.intermediateSize(), L = c.numLayers();
        List<Part> parts = new ArrayList<>();
        long attn = linearBytes(q, h, s) + 2 * linearBytes(kv, h, s) + linearBytes(h, q, s);
        long mlp = 2 * linearBytes(im, h, s) + linearBytes(h, im, s);
        parts.add(new Part("linears: attention (q, k, v, o)", L * attn, true));
        parts.add(new Part("linears: MLP (gate, up, down)", L * mlp, true));
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
        parts.add(new Part("workspace", workspaceBytes(c, s, rt), true));
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
