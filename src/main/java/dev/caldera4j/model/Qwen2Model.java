package dev.caldera4j.model;

import dev.caldera4j.linalg.Gemm;

import java.util.Arrays;
import java.util.stream.IntStream;

/**
 * The reference Qwen2 forward pass on the CPU in float32:
 * embed → N × [RMSNorm → attention (q/k/v with bias, RoPE, GQA, KV cache) → RMSNorm → SwiGLU MLP]
 * → RMSNorm → lm_head.
 *
 * <p>A window of T tokens is processed as matrix products (every linear is one GEMM over T rows;
 * attention is one GEMM per KV head over all the query heads that share it), so evaluation runs at
 * GEMM speed rather than token by token. Single-token decode is the same code with T = 1.
 *
 * <p>Numerics follow transformers' Qwen2 in fp32: RMSNorm x·rsqrt(mean(x²)+ε)·w, RoPE in the
 * rotate-half layout with inv_freq and angles rounded to float32 as transformers computes them,
 * softmax with max subtraction.
 */
public final class Qwen2Model implements LanguageModel {

    private final Qwen2Weights weights;
    private final Qwen2Config c;
    private final float[] invFreq; // (headDim/2): θ^(−2i/headDim), float32 as transformers computes it

    public Qwen2Model(Qwen2Weights weights) {
        this(weights, weights.config());
    }

    private Qwen2Model(Qwen2Weights weights, Qwen2Config c) {
        this.weights = weights;
        this.c = c;
        int half = c.headDim() / 2;
        invFreq = new float[half];
        for (int i = 0; i < half; i++) {
            float exponent = (float) (2 * i) / (float) c.headDim();
            invFreq[i] = (float) (1.0 / (float) Math.pow(c.ropeTheta(), exponent));
        }
    }

    /**
     * A model without weights that runs blocks handed to it: only {@link #block(Qwen2Weights.Block, int,
     * float[], int, KVCache, LinearInputHook)}, {@link #newCache} and {@link #newBlockCache} work.
     * Layer-by-layer calibration uses it so that a 72B model never has to be in memory whole.
     */
    public static Qwen2Model blockRunner(Qwen2Config c) {
        return new Qwen2Model(null, c);
    }

    /** The weights, or null for a {@link #blockRunner}. */
    public Qwen2Weights weights() { return weights; }

    public Qwen2Config config() { return c; }

    @Override
    public int vocabSize() { return c.vocabSize(); }

    /** Called with the input of each linear layer during a forward pass (calibration hooks). */
    @FunctionalInterface
    public interface LinearInputHook {
        /**
         * @param layer  block index
         * @param site   "qkv" (input of q/k/v), "o", "gate_up" (input of gate/up), "down"
         * @param x      (rows, d_in) the activations about to be multiplied; do not keep the array
         * @param rows   number of rows in x
         */
        void accept(int layer, String site, float[] x, int rows);
    }

    /** Key/value cache for one sequence: per layer and KV head, (capacity, headDim) contiguous. */
    public static final class KVCache {
        final float[][][] k; // [layer][kvHead] (capacity, headDim)
        final float[][][] v; // [layer][kvHead] (capacity, headDim)
        final int capacity;
        int length;           // tokens already in the cache

        KVCache(Qwen2Config c, int layers, int capacity) {
            this.capacity = capacity;
            k = new float[layers][c.numKvHeads()][(long) capacity * c.headDim() > Integer.MAX_VALUE
                    ? fail(capacity) : capacity * c.headDim()];
            v = new float[layers][c.numKvHeads()][capacity * c.headDim()];
        }

        private static int fail(int capacity) {
            throw new IllegalArgumentException("KV cache capacity " + capacity + " is too large for one Java array per head");
        }

        public int length() { return length; }

        public int capacity() { return capacity; }

        /** Forget everything (reuse the buffers for a new sequence). */
        public void reset() { length = 0; }

        /** Keep only the first {@code n} positions (e.g. to score several continuations of one context). */
        public void truncate(int n) {
            if (n < 0 || n > length) throw new IllegalArgumentException("truncate(" + n + ") outside [0, " + length + "]");
            length = n;
        }
    }

    public KVCache newCache(int capacity) {
        if (capacity <= 0) throw new IllegalArgumentException("KV cache capacity must be positive, got " + capacity);
        return new KVCache(c, c.numLayers(), capacity);
    }

    /**
     * A cache with room for ONE layer, which serves whichever block is run with it: for running
     * blocks one at a time on independent sequences (calibration), where the whole-model cache
     * would cost numLayers times more (1.3 GB at 72B and 2048 positions instead of 16 MB).
     */
    public KVCache newBlockCache(int capacity) {
        if (capacity <= 0) throw new IllegalArgumentException("KV cache capacity must be positive, got " + capacity);
        return new KVCache(c, 1, capacity);
    }

    @Override
    public float[] logits(int[] tokens) {
        KVCache cache = newCache(Math.max(1, tokens.length));
        return forward(tokens, cache, true);
    }

    /** The context runs once into a KV cache; each continuation continues from it (lm_head only on scored rows). */
    @Override
    public float[][] continuationLogits(int[] context, int[][] continuations) {
        int vocab = vocabSize(), longest = 0;
        for (int[] cont : continuations) longest = Math.max(longest, cont.length);
        KVCache cache = newCache(context.length + Math.max(longest - 1, 1));
        float[] last = forward(context, cache, false); // (vocab): scores each continuation's first token
        float[][] out = new float[continuations.length][];
        for (int i = 0; i < continuations.length; i++) {
            int[] cont = continuations[i];
            out[i] = new float[cont.length * vocab];
            System.arraycopy(last, 0, out[i], 0, vocab);
            if (cont.length > 1) {
                cache.truncate(context.length);
                float[] rest = forward(java.util.Arrays.copyOf(cont, cont.length - 1), cache, true);
                System.arraycopy(rest, 0, out[i], vocab, rest.length);
            }
        }
        return out;
    }

    /**
     * Runs {@code tokens} at positions cache.length … cache.length+T−1 and appends them to the cache.
     *
     * @param allLogits true: logits for every position (T, vocab); false: only the last position (vocab)
     */
    public float[] forward(int[] tokens, KVCache cache, boolean allLogits) {
        return forward(tokens, cache, allLogits, null);
    }

    public float[] forward(int[] tokens, KVCache cache, boolean allLogits, LinearInputHook hook) {
        float[] x = embed(tokens);
        int T = tokens.length;
        checkCache(cache, T);
        for (int l = 0; l < c.numLayers(); l++) {
            block(l, x, T, cache, hook);
        }
        cache.length += T;
        return head(x, T, allLogits);
    }

    private void checkCache(KVCache cache, int T) {
        if (T == 0) throw new IllegalArgumentException("forward needs at least one token");
        if (cache.length + T > cache.capacity) {
            throw new IllegalArgumentException("KV cache holds " + cache.length + " of " + cache.capacity
                    + " positions; " + T + " more do not fit (allocate a larger cache with newCache)");
        }
    }

    /** x (T, hidden): the embedding rows of {@code tokens}. */
    public float[] embed(int[] tokens) {
        int h = c.hiddenSize();
        float[] x = new float[tokens.length * h];
        for (int t = 0; t < tokens.length; t++) {
            int id = tokens[t];
            if (id < 0 || id >= c.vocabSize()) {
                throw new IllegalArgumentException("token id " + id + " at position " + t + " is outside the vocabulary [0, "
                        + c.vocabSize() + ") — was the text tokenized with this model's tokenizer?");
            }
            System.arraycopy(weights.embed(), id * h, x, t * h, h);
        }
        return x;
    }

    /** Final RMSNorm and lm_head: (T, vocab) or the last row only. */
    public float[] head(float[] x, int T, boolean allLogits) {
        int h = c.hiddenSize();
        int rows = allLogits ? T : 1;
        float[] xn = new float[rows * h];
        for (int r = 0; r < rows; r++) {
            int t = allLogits ? r : T - 1;
            rmsNorm(x, t * h, weights.finalNorm(), xn, r * h, h, c.rmsNormEps());
        }
        float[] logits = new float[rows * c.vocabSize()];
        weights.lmHead().forward(xn, rows, logits);
        return logits;
    }

    /**
     * One decoder block on x (T, hidden) in place, at positions cache.length … +T−1, writing its keys and
     * values into the cache (the caller advances cache.length after the last block).
     */
    public void block(int layer, float[] x, int T, KVCache cache, LinearInputHook hook) {
        block(weights.layers()[layer], layer, x, T, cache, hook);
    }

    /**
     * {@link #block(int, float[], int, KVCache, LinearInputHook)} with the block's weights given
     * explicitly (layer labels the hook calls and picks the cache slot; a {@link #newBlockCache}
     * has one slot for every layer).
     */
    public void block(Qwen2Weights.Block b, int layer, float[] x, int T, KVCache cache, LinearInputHook hook) {
        int h = c.hiddenSize(), qDim = c.qDim(), kvDim = c.kvDim(), hd = c.headDim();
        int pos0 = cache.length;
        float eps = (float) c.rmsNormEps();

        // ---- attention
        float[] xn = new float[T * h];
        for (int t = 0; t < T; t++) rmsNorm(x, t * h, b.inputNorm(), xn, t * h, h, eps);
        if (hook != null) hook.accept(layer, "qkv", xn, T);
        float[][] qkv = qkv(b, xn, T, pos0, 1);
        float[] Q = qkv[0], K = qkv[1], V = qkv[2];
        int slot = cache.k.length == 1 ? 0 : layer;
        float[][] kc = cache.k[slot], vc = cache.v[slot];
        for (int t = 0; t < T; t++) {
            for (int g = 0; g < c.numKvHeads(); g++) {
                System.arraycopy(K, t * kvDim + g * hd, kc[g], (pos0 + t) * hd, hd);
                System.arraycopy(V, t * kvDim + g * hd, vc[g], (pos0 + t) * hd, hd);
            }
        }
        float[] A = attention(Q, T, pos0, kc, vc);
        if (hook != null) hook.accept(layer, "o", A, T);
        float[] tmp = new float[T * h];
        b.o().forward(A, T, tmp);
        for (int i = 0; i < T * h; i++) x[i] += tmp[i];

        mlp(b, layer, x, T, xn, tmp, hook);
    }

    /** {Q (T, qDim), K (T, kvDim), V (T, kvDim)} of normed rows xn, RoPE applied at positions pos0 + step·t. */
    private float[][] qkv(Qwen2Weights.Block b, float[] xn, int T, int pos0, int step) {
        float[] Q = new float[T * c.qDim()], K = new float[T * c.kvDim()], V = new float[T * c.kvDim()];
        b.q().forward(xn, T, Q);
        b.k().forward(xn, T, K);
        b.v().forward(xn, T, V);
        rope(Q, T, c.numHeads(), pos0, step);
        rope(K, T, c.numKvHeads(), pos0, step);
        return new float[][] {Q, K, V};
    }

    /** The SwiGLU half of a block on x (T, hidden) in place; xn and tmp are (T, hidden) scratch. */
    private void mlp(Qwen2Weights.Block b, int layer, float[] x, int T, float[] xn, float[] tmp, LinearInputHook hook) {
        int h = c.hiddenSize();
        for (int t = 0; t < T; t++) rmsNorm(x, t * h, b.postNorm(), xn, t * h, h, (float) c.rmsNormEps());
        if (hook != null) hook.accept(layer, "gate_up", xn, T);
        int im = c.intermediateSize();
        float[] G = new float[T * im];
        float[] U = new float[T * im];
        b.gate().forward(xn, T, G);
        b.up().forward(xn, T, U);
        for (int i = 0; i < T * im; i++) {
            float g = G[i];
            G[i] = g / (1f + (float) Math.exp(-g)) * U[i];
        }
        if (hook != null) hook.accept(layer, "down", G, T);
        b.down().forward(G, T, tmp);
        for (int i = 0; i < T * h; i++) x[i] += tmp[i];
    }

    /**
     * Block {@code layer} on V alternative tokens for ONE position: row j of x (V, hidden, in place)
     * is the residual stream of candidate j at position {@code prefix}; every row attends to the
     * cache's first {@code prefix} positions of this layer (the shared true prefix) and to its own
     * key/value, and nothing is written to the cache. Equivalent to running each candidate as the
     * next token after the prefix, V at once (the SipIt probe's candidate search).
     */
    public void candidateBlock(Qwen2Weights.Block b, int layer, float[] x, int V, KVCache cache, int prefix) {
        int h = c.hiddenSize(), qDim = c.qDim(), kvDim = c.kvDim(), hd = c.headDim(), gs = c.numHeads() / c.numKvHeads();
        if (prefix > cache.capacity) throw new IllegalArgumentException("prefix " + prefix + " exceeds the cache capacity " + cache.capacity);
        float eps = (float) c.rmsNormEps();
        float[] xn = new float[V * h];
        for (int t = 0; t < V; t++) rmsNorm(x, t * h, b.inputNorm(), xn, t * h, h, eps);
        float[][] qkv = qkv(b, xn, V, prefix, 0);
        float[] Q = qkv[0], K = qkv[1], Vv = qkv[2];
        int slot = cache.k.length == 1 ? 0 : layer;
        float scale = (float) (1.0 / Math.sqrt(hd));
        float[] A = new float[V * qDim];
        for (int head = 0; head < c.numHeads(); head++) {
            int g = head / gs;
            float[] Qh = new float[V * hd];
            for (int t = 0; t < V; t++) System.arraycopy(Q, t * qDim + head * hd, Qh, t * hd, hd);
            float[] S = new float[V * Math.max(prefix, 1)];
            if (prefix > 0) Gemm.matmulTransB(Qh, cache.k[slot][g], S, V, prefix, hd, false);
            float[] Oh = new float[V * hd];
            if (prefix > 0) {
                for (int t = 0; t < V; t++) for (int p = 0; p < prefix; p++) S[t * prefix + p] *= scale;
            }
            for (int t = 0; t < V; t++) {
                float self = 0;
                for (int d = 0; d < hd; d++) self += Qh[t * hd + d] * K[t * kvDim + g * hd + d];
                self *= scale;
                float max = self;
                for (int p = 0; p < prefix; p++) max = Math.max(max, S[t * prefix + p]);
                double sum = 0;
                for (int p = 0; p < prefix; p++) {
                    float e = (float) Math.exp(S[t * prefix + p] - max);
                    S[t * prefix + p] = e;
                    sum += e;
                }
                float eSelf = (float) Math.exp(self - max);
                sum += eSelf;
                float inv = (float) (1.0 / sum);
                for (int p = 0; p < prefix; p++) S[t * prefix + p] *= inv;
                for (int d = 0; d < hd; d++) Oh[t * hd + d] = eSelf * inv * Vv[t * kvDim + g * hd + d];
            }
            if (prefix > 0) {
                float[] O = new float[V * hd];
                float[] Vc = prefix * hd == cache.v[slot][g].length ? cache.v[slot][g] : Arrays.copyOf(cache.v[slot][g], prefix * hd);
                Gemm.matmul(S, Vc, O, V, hd, prefix, false);
                for (int i = 0; i < O.length; i++) Oh[i] += O[i];
            }
            for (int t = 0; t < V; t++) System.arraycopy(Oh, t * hd, A, t * qDim + head * hd, hd);
        }
        float[] tmp = new float[V * h];
        b.o().forward(A, V, tmp);
        for (int i = 0; i < V * h; i++) x[i] += tmp[i];
        mlp(b, layer, x, V, xn, tmp, null);
    }

    /** Query rows per attention tile: a (tile, L) score block stays in L2 for L ≤ 2048. */
    private static final int QUERY_TILE = 128;

    /**
     * Causal grouped-query attention of Q (T, qDim) over the cache's first pos0+T positions; K/V of the
     * shared KV head are read in place (never expanded to all heads). Queries go in tiles of
     * {@link #QUERY_TILE} rows: scores (tile, L′) with L′ = the last position the tile may see, so
     * the causal upper triangle beyond each tile is never computed, and the score block stays in cache.
     *
     * @return (T, qDim) attention output before o_proj
     */
    private float[] attention(float[] Q, int T, int pos0, float[][] kc, float[][] vc) {
        int hd = c.headDim(), qDim = c.qDim(), gs = c.numHeads() / c.numKvHeads();
        float scale = (float) (1.0 / Math.sqrt(hd));
        float[] A = new float[T * qDim];
        int tiles = (T + QUERY_TILE - 1) / QUERY_TILE;
        // sequential over tiles: each GEMM already uses every OpenBLAS thread, and calling OpenBLAS from
        // several Java threads at once oversubscribes the cores (measured 20× slower)
        IntStream.range(0, c.numHeads() * tiles).forEach(job -> {
            int head = job / tiles, t0 = (job % tiles) * QUERY_TILE, B = Math.min(QUERY_TILE, T - t0);
            int g = head / gs, L = pos0 + t0 + B; // the tile's last query sees positions 0 … L−1
            float[] Qt = new float[B * hd];
            for (int t = 0; t < B; t++) System.arraycopy(Q, (t0 + t) * qDim + head * hd, Qt, t * hd, hd);
            float[] S = new float[B * L];
            Gemm.matmulTransB(Qt, kc[g], S, B, L, hd, false);
            for (int t = 0; t < B; t++) {
                int last = pos0 + t0 + t, o = t * L;
                float max = Float.NEGATIVE_INFINITY;
                for (int p = 0; p <= last; p++) {
                    float v = S[o + p] * scale;
                    S[o + p] = v;
                    if (v > max) max = v;
                }
                double sum = 0;
                for (int p = 0; p <= last; p++) {
                    float e = (float) Math.exp(S[o + p] - max);
                    S[o + p] = e;
                    sum += e;
                }
                float inv = (float) (1.0 / sum);
                for (int p = 0; p <= last; p++) S[o + p] *= inv;
                Arrays.fill(S, o + last + 1, o + L, 0f);
            }
            float[] Ot = new float[B * hd];
            Gemm.matmul(S, vc[g], Ot, B, hd, L, false);
            for (int t = 0; t < B; t++) System.arraycopy(Ot, t * hd, A, (t0 + t) * qDim + head * hd, hd);
        });
        return A;
    }

    /**
     * Rotary embedding, rotate-half layout (pairs i and i+hd/2), on X (T, nHeads·hd): row t at
     * position pos0 + step·t (step 1: a sequence; step 0: candidates for one position).
     */
    private void rope(float[] X, int T, int nHeads, int pos0, int step) {
        int hd = c.headDim(), half = hd / 2, width = nHeads * hd;
        float[] cos = new float[half], sin = new float[half];
        for (int t = 0; t < T; t++) {
            float pos = pos0 + step * t;
            for (int i = 0; i < half; i++) {
                float angle = pos * invFreq[i];
                cos[i] = (float) Math.cos(angle);
                sin[i] = (float) Math.sin(angle);
            }
            for (int hh = 0; hh < nHeads; hh++) {
                int o = t * width + hh * hd;
                for (int i = 0; i < half; i++) {
                    float x1 = X[o + i], x2 = X[o + i + half];
                    X[o + i] = x1 * cos[i] - x2 * sin[i];
                    X[o + i + half] = x2 * cos[i] + x1 * sin[i];
                }
            }
        }
    }

    /** out[oo … oo+n) = x[xo … xo+n) · rsqrt(mean(x²) + ε) · w. */
    public static void rmsNorm(float[] x, int xo, float[] w, float[] out, int oo, int n, double eps) {
        double ss = 0;
        for (int i = 0; i < n; i++) ss += (double) x[xo + i] * x[xo + i];
        float inv = (float) (1.0 / Math.sqrt(ss / n + eps));
        for (int i = 0; i < n; i++) out[oo + i] = w[i] * (x[xo + i] * inv);
    }
}
