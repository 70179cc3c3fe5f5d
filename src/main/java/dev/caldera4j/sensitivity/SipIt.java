package dev.caldera4j.sensitivity;

import dev.caldera4j.model.Qwen2Config;
import dev.caldera4j.model.Qwen2Model;

import java.util.Arrays;
import java.util.stream.IntStream;

/**
 * A SipIt-like invertibility probe (after Nikolaou et al., "Language Models are Injective and
 * Hence Invertible", arXiv 2510.15511): how well a COMPRESSED model can recover the input tokens
 * from the ORIGINAL model's hidden states, layer by layer.
 *
 * <p>What is computed, exactly. Inputs: the original model M, the compressed model M′ (same
 * architecture), token windows x. For each window, M runs once and its residual stream after
 * each block ℓ = 0 … L−1, h_ℓ(t) (hidden, float32), is the target. M′ runs once on the true
 * tokens to fill its KV cache. For each probed position t and each layer ℓ:
 * <ol>
 *   <li>the candidates C_ℓ(t): the whole vocabulary ({@code topK} ≥ vocab: exhaustive, as SipIt's
 *       guarantee needs), or a shortlist of impostors plus the true token x_t: the topK tokens the
 *       original model itself finds most likely at t (its next-token distribution after x_{&lt;t}:
 *       the plausible impostors) and the topK tokens whose input embedding e_v has the largest
 *       cosine with the target h_ℓ(t). The shortlist replaces SipIt's gradient step (a gradient of
 *       ‖h′_ℓ − h_ℓ‖ with respect to a continuous input embedding, then nearest embeddings), which
 *       would need a backward pass; it is cheaper and weaker. Including x_t makes the decision
 *       "does the truth beat every shortlisted impostor", an upper bound on the exhaustive rate
 *       (more impostors can only lower it) and equal to it when the search is exhaustive;</li>
 *   <li>every v in C_ℓ(t) runs through M′'s blocks 0 … ℓ as the next token after the TRUE prefix
 *       x_{&lt;t} ({@link Qwen2Model#candidateBlock}: all candidates at once, attending to the
 *       cached prefix and to themselves);</li>
 *   <li>the decision is SipIt's: the candidate whose state h′_ℓ(x_{&lt;t}, v) is nearest (L2) to
 *       h_ℓ(t) wins; recovered iff it is x_t;</li>
 *   <li>the margin is (d_imp − d_true)/‖h_ℓ(t)‖ with d_true = ‖h′_ℓ(x_{&lt;t}, x_t) − h_ℓ(t)‖ and
 *       d_imp the smallest distance over the impostors: positive = recovered with room to spare,
 *       negative = an impostor is nearer.</li>
 * </ol>
 * Per layer: the recovery rate and the mean margin over all probed positions, and the shortlist
 * recall (how often x_t was among the shortlisted impostor tokens anyway: how blind the shortlist
 * would be without the truth added; 1 when exhaustive).
 *
 * <p>Why SipIt-like and where it differs: SipIt decodes sequentially, each position given the
 * tokens it recovered before; here each position is given the TRUE prefix (teacher forcing), so
 * one KV cache serves every layer and an error does not propagate — for the dense model this is
 * what SipIt does while it has been right so far (SipIt proves it always is). The candidates are
 * the shortlist above, not gradient-ordered, except when the search is exhaustive.
 * With M′ = M every position is recovered with margin &gt; 0 (injectivity); compression moves
 * h′ away from h, and the layers where the margin shrinks are where the compressed model stops
 * computing what the original did.
 */
public final class SipIt {
    private SipIt() {}

    /**
     * Per-layer results.
     *
     * @param recovery        (L) fraction of probed positions recovered at the layer
     * @param margin          (L) mean normalised margin
     * @param shortlistRecall (L) fraction of positions whose true token was among the shortlisted impostor tokens (1 when exhaustive)
     * @param positions       positions probed
     * @param topK            shortlist size per layer (≥ vocab: exhaustive)
     */
    public record Profile(double[] recovery, double[] margin, double[] shortlistRecall, int positions, int topK) {
        public int layers() {
            return recovery.length;
        }
    }

    /**
     * The probe.
     *
     * @param original   M: targets come from it
     * @param compressed M′: candidates run through it
     * @param windows    token windows (each at least {@code firstPosition + perWindow} long)
     * @param firstPosition the first probed position of each window (later positions have more context)
     * @param perWindow  positions probed per window, consecutive from firstPosition
     * @param topK       shortlist: topK most likely next tokens + topK by embedding cosine per layer; ≥ vocab = exhaustive
     */
    public static Profile probe(Qwen2Model original, Qwen2Model compressed, int[][] windows, int firstPosition, int perWindow, int topK) {
        Qwen2Config c = original.config();
        int L = c.numLayers(), h = c.hiddenSize(), vocab = c.vocabSize();
        boolean exhaustive = topK >= vocab;
        double[] rec = new double[L], marg = new double[L], recall = new double[L];
        float[] E = original.weights().embed();           // (vocab, hidden) the original embedding (shortlists)
        double[] eNorm = exhaustive ? null : rowNorms(E, vocab, h);
        int n = 0;
        for (int[] w : windows) {
            int T = firstPosition + perWindow;
            if (w.length < T)
                throw new IllegalArgumentException("window of " + w.length + " tokens is shorter than firstPosition + perWindow = " + T);
            int[] tokens = Arrays.copyOf(w, T);
            float[][] target = states(original, tokens);     // [ℓ] (T, hidden)
            // (T, vocab) the original's next-token logits: row t−1 ranks the plausible impostors of position t
            float[] logits = exhaustive ? null : original.head(target[L - 1].clone(), T, true);
            Qwen2Model.KVCache cache = compressed.newCache(T);
            compressed.forward(tokens, cache, false);
            for (int t = firstPosition; t < T; t++) {
                int truth = tokens[t];
                int[][] shortlist = new int[L][];
                int[] likely = exhaustive || t == 0 ? new int[0] : topRow(logits, t - 1, vocab, topK);
                for (int l = 0; l < L; l++)
                    shortlist[l] = exhaustive ? null : union(likely, topCosine(E, eNorm, vocab, h, target[l], t * h, topK));
                // rows: every token some layer's shortlist holds, plus the truth; lastLayer[v] = deepest layer that needs row v
                int[] lastLayer = new int[vocab];
                Arrays.fill(lastLayer, -1);
                for (int l = 0; l < L; l++) {
                    if (exhaustive) Arrays.fill(lastLayer, l);
                    else for (int v : shortlist[l]) lastLayer[v] = l;
                }
                lastLayer[truth] = L - 1;
                int[] rows = IntStream.range(0, vocab).filter(v -> lastLayer[v] >= 0).toArray();
                float[] x = new float[rows.length * h];
                for (int j = 0; j < rows.length; j++) System.arraycopy(compressed.weights().embed(), rows[j] * h, x, j * h, h);
                for (int l = 0; l < L; l++) {
                    compressed.candidateBlock(compressed.weights().layers()[l], l, x, rows.length, cache, t);
                    double tn = 0;
                    for (int i = 0; i < h; i++) tn += (double) target[l][t * h + i] * target[l][t * h + i];
                    boolean[] inList = new boolean[vocab];
                    if (exhaustive) Arrays.fill(inList, true);
                    else for (int v : shortlist[l]) inList[v] = true;
                    if (inList[truth]) recall[l]++;
                    inList[truth] = true;  // the truth competes with the shortlisted impostors
                    double dTrue = Double.NaN, dImp = Double.POSITIVE_INFINITY, dBest = Double.POSITIVE_INFINITY;
                    int best = -1;
                    for (int j = 0; j < rows.length; j++) {
                        int v = rows[j];
                        if (v != truth && !inList[v]) continue;
                        double d = 0;
                        for (int i = 0; i < h; i++) {
                            double e = x[j * h + i] - target[l][t * h + i];
                            d += e * e;
                        }
                        d = Math.sqrt(d);
                        if (v == truth) dTrue = d;
                        else dImp = Math.min(dImp, d);
                        if (inList[v] && d < dBest) {
                            dBest = d;
                            best = v;
                        }
                    }
                    if (best == truth) rec[l]++;
                    marg[l] += (dImp - dTrue) / Math.sqrt(tn);
                    // rows no deeper layer needs are dropped: the search gets cheaper with depth
                    if (l + 1 < L) {
                        int keep = 0;
                        for (int j = 0; j < rows.length; j++)
                            if (lastLayer[rows[j]] > l) {
                                if (keep != j) System.arraycopy(x, j * h, x, keep * h, h);
                                rows[keep++] = rows[j];
                            }
                        rows = Arrays.copyOf(rows, keep);
                    }
                }
                n++;
            }
        }
        for (int l = 0; l < L; l++) {
            rec[l] /= n;
            marg[l] /= n;
            recall[l] /= n;
        }
        return new Profile(rec, marg, recall, n, Math.min(topK, vocab));
    }

    /** The residual stream after every block: [ℓ] (T, hidden). */
    public static float[][] states(Qwen2Model m, int[] tokens) {
        Qwen2Config c = m.config();
        int T = tokens.length;
        Qwen2Model.KVCache cache = m.newCache(T);
        float[] x = m.embed(tokens);
        float[][] out = new float[c.numLayers()][];
        for (int l = 0; l < c.numLayers(); l++) {
            m.block(l, x, T, cache, null);
            out[l] = x.clone();
        }
        return out;
    }

    private static double[] rowNorms(float[] E, int rows, int h) {
        double[] n = new double[rows];
        for (int v = 0; v < rows; v++) {
            double s = 0;
            for (int i = 0; i < h; i++) s += (double) E[v * h + i] * E[v * h + i];
            n[v] = Math.sqrt(s) + 1e-30;
        }
        return n;
    }

    /** The k largest entries of row r of a (rows, n) array, as indices. */
    private static int[] topRow(float[] a, int r, int n, int k) {
        return IntStream.range(0, n).boxed().sorted((x, y) -> Float.compare(a[r * n + y], a[r * n + x])).limit(k)
                .mapToInt(Integer::intValue).toArray();
    }

    private static int[] union(int[] a, int[] b) {
        return IntStream.concat(Arrays.stream(a), Arrays.stream(b)).distinct().toArray();
    }

    /** The k tokens whose embedding rows have the largest cosine with y[off … off+h). */
    private static int[] topCosine(float[] E, double[] eNorm, int vocab, int h, float[] y, int off, int k) {
        double[] score = new double[vocab];
        for (int v = 0; v < vocab; v++) {
            double s = 0;
            for (int i = 0; i < h; i++) s += (double) E[v * h + i] * y[off + i];
            score[v] = s / eNorm[v];
        }
        return IntStream.range(0, vocab).boxed().sorted((a, b) -> Double.compare(score[b], score[a])).limit(k)
                .mapToInt(Integer::intValue).toArray();
    }

    /**
     * The damage each block adds, from the probe of the original against itself ({@code dense})
     * and of the compressed model: the margin lost at layer ℓ, Δ_ℓ = margin_dense − margin_comp,
     * minus what was lost before it, floored at {@code floor}·mean: w_ℓ = max(Δ_ℓ − Δ_{ℓ−1}, floor·mean Δ).
     * These per-layer weights multiply a matrix's proxy error in the SipIt-guided allocation.
     */
    public static double[] layerDamage(Profile dense, Profile comp, double floor) {
        int L = dense.layers();
        double[] d = new double[L], w = new double[L];
        double mean = 0;
        for (int l = 0; l < L; l++) {
            d[l] = dense.margin()[l] - comp.margin()[l];
            double inc = d[l] - (l == 0 ? 0 : d[l - 1]);
            w[l] = inc;
            mean += Math.abs(inc) / L;
        }
        for (int l = 0; l < L; l++) w[l] = Math.max(w[l], floor * mean);
        return w;
    }
}
