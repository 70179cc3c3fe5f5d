package dev.caldera4j.sensitivity;

import dev.caldera4j.calib.CompressSpec;
import dev.caldera4j.calib.LayerCompressor;
import dev.caldera4j.calib.SequentialCompressor;
import dev.caldera4j.model.Linear;
import dev.caldera4j.model.Qwen2Config;
import dev.caldera4j.model.Qwen2Model;
import dev.caldera4j.model.Qwen2Weights;
import dev.caldera4j.plan.Footprint;
import dev.caldera4j.plan.Overrides;
import dev.caldera4j.quant.CompressedLinear;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.function.IntConsumer;

/**
 * Signal 1, the proxy error: every matrix of the model compressed at every candidate setting, with
 * its tr(ΔHΔᵀ)/tr(WHWᵀ). The Hessians come from the DENSE model's activations on the calibration
 * windows (block by block, each block fed by the dense block before it), not from the
 * layer-sequential pipeline, so a matrix's candidates are all fitted to the same H and differ only
 * by setting. The compressed matrices are kept: the output-KL signal and the experiment's
 * assembled models reuse them (a model assembled from this pool is "each matrix compressed on
 * dense-model Hessians").
 */
public final class ProxySignal {
    private ProxySignal() {}

    /**
     * One matrix at one setting.
     *
     * @param layer      block index
     * @param kind       index into {@link Overrides#KINDS}
     * @param setting    how it is stored
     * @param layerOut   the compressed matrix
     * @param proxyError tr(ΔHΔᵀ)/tr(WHWᵀ) on the dense Hessian
     * @param bytes      stored bytes without bias ({@link Footprint#linearBytes})
     */
    public record Entry(int layer, int kind, Overrides.Setting setting, CompressedLinear layerOut, double proxyError, long bytes) {
        public String key() {
            return Overrides.key(layer, kind);
        }
    }

    /**
     * The pool: [layer·7 + kind][candidate], candidates in the order given.
     *
     * @param progress called with 1 after each (matrix, candidate)
     */
    public static Entry[][] pool(Qwen2Weights dense, int[][] calib, CompressSpec base, List<Overrides.Setting> candidates,
                                 IntConsumer progress) {
        Qwen2Config c = dense.config();
        Qwen2Model runner = Qwen2Model.blockRunner(c);
        int seqlen = calib[0].length, L = c.numLayers();
        float[][] X = SequentialCompressor.embed(c, dense.embed(), calib);
        Entry[][] out = new Entry[L * 7][candidates.size()];
        boolean[] all = new boolean[SequentialCompressor.SITES.size()];
        Arrays.fill(all, true);
        for (int l = 0; l < L; l++) {
            Qwen2Weights.Block b = dense.layers()[l];
            double[][] H = SequentialCompressor.hessians(runner, b, l, X, seqlen, all);
            Linear[] lin = b.linears();
            for (int k = 0; k < 7; k++) {
                double[] Hk = H[siteOf(k)];
                for (int j = 0; j < candidates.size(); j++) {
                    Overrides.Setting s = candidates.get(j);
                    LayerCompressor comp = base.withSetting(s).compressor();
                    LayerCompressor.Result r = comp.compress(SequentialCompressor.linearName(l, k), lin[k].denseWeight(),
                            lin[k].dOut(), lin[k].dIn(), Hk, lin[k].bias());
                    long bytes = Footprint.linearBytes(lin[k].dOut(), lin[k].dIn(),
                            Footprint.Settings.caldera(2, 128, 0, 16).with(s));
                    out[l * 7 + k][j] = new Entry(l, k, s, r.layer(), r.proxyError(), bytes);
                    if (progress != null) progress.accept(1);
                }
            }
            if (l + 1 < L) SequentialCompressor.forward(runner, b, l, X, seqlen);
        }
        return out;
    }

    /** Site (Hessian) of matrix kind k: q, k, v share the block input; gate, up share the MLP input. */
    static int siteOf(int kind) {
        return switch (kind) {
            case 0, 1, 2 -> 0;
            case 3 -> 1;
            case 4, 5 -> 2;
            case 6 -> 3;
            default -> throw new IllegalArgumentException("kind " + kind);
        };
    }

    /** The dense weights with every matrix replaced by its pool entry at candidate {@code choice[m]} (m = layer·7 + kind). */
    public static Qwen2Weights assemble(Qwen2Weights dense, Entry[][] pool, int[] choice) {
        Qwen2Weights w = dense;
        for (int l = 0; l < dense.config().numLayers(); l++) {
            Linear[] lin = new Linear[7];
            for (int k = 0; k < 7; k++) lin[k] = pool[l * 7 + k][choice[l * 7 + k]].layerOut();
            w = w.withBlock(l, dense.layers()[l].withLinears(lin));
        }
        return w;
    }

    /** Mean proxy error per layer at candidate j (a profile for plots). */
    public static double[] layerMean(Entry[][] pool, int layers, int j) {
        double[] m = new double[layers];
        for (int l = 0; l < layers; l++) {
            double s = 0;
            for (int k = 0; k < 7; k++) s += pool[l * 7 + k][j].proxyError();
            m[l] = s / 7;
        }
        return m;
    }

    /** Flat list of a pool's entries, matrix-major. */
    public static List<Entry> entries(Entry[][] pool) {
        List<Entry> e = new ArrayList<>();
        for (Entry[] row : pool) e.addAll(List.of(row));
        return e;
    }
}
