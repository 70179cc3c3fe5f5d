package dev.caldera4j.sensitivity;

import dev.caldera4j.calib.CompressSpec;
import dev.caldera4j.calib.Fixtures;
import dev.caldera4j.calib.SingleThreadBlas;
import dev.caldera4j.model.Linear;
import dev.caldera4j.model.Qwen2Model;
import dev.caldera4j.model.Qwen2Weights;
import dev.caldera4j.plan.Overrides;
import dev.caldera4j.quant.CalderaConfig;
import dev.caldera4j.quant.HessianAccumulator;
import dev.caldera4j.quant.ProxyError;
import dev.caldera4j.quant.QuantConfig;
import dev.caldera4j.quant.QuantizedLinear;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;

import java.util.List;
import java.util.SplittableRandom;

import static org.junit.jupiter.api.Assertions.*;

/** The proxy-error pool and the KL signal on the tiny model, each against a plain recomputation. */
@ExtendWith(SingleThreadBlas.class)
class SignalsTest {

    /** KL computed two ways in float32 logits with float64 sums: different block-input bits are impossible, so only summation order differs. */
    private static final double KL_TOL = 1e-6;
    /** The proxy error recomputed from an independently accumulated H (same data, float64): relative 1e-9. */
    private static final double PROXY_TOL = 1e-9;

    static int[][] calib;
    static ProxySignal.Entry[][] pool;
    static final List<Overrides.Setting> CANDS = List.of(Overrides.Setting.q(2, 128), new Overrides.Setting(2, 128, 16, 4, 4));

    @BeforeAll
    static void build() {
        SplittableRandom r = new SplittableRandom(9);
        calib = new int[2][48];
        for (int[] w : calib) for (int i = 0; i < w.length; i++) w[i] = 1 + r.nextInt(4095);
        QuantConfig q = QuantConfig.of(2, 128);
        CompressSpec base = new CompressSpec("caldera", q, false, CalderaConfig.of(16, 4, 4).withActOrder(q.actOrder()).withIters(1, 1));
        pool = ProxySignal.pool(Fixtures.tiny(), calib, base, CANDS, null);
    }

    @Test
    void poolEntriesCarryTheirSettingBytesAndTheProxyErrorOfTheDenseHessian() {
        Qwen2Weights w = Fixtures.tiny();
        Qwen2Model m = new Qwen2Model(w);
        int layer = 2, kind = 6;  // down_proj of block 2: its H is the SwiGLU activation of the dense model
        HessianAccumulator acc = new HessianAccumulator(w.config().intermediateSize());
        for (int[] win : calib)
            m.forward(win, m.newCache(win.length), false, (l, site, x, rows) -> { if (l == layer && site.equals("down")) acc.add(x, rows); });
        double[] H = acc.H();
        acc.close();
        Linear dense = w.layers()[layer].linears()[kind];
        for (int j = 0; j < CANDS.size(); j++) {
            ProxySignal.Entry e = pool[layer * 7 + kind][j];
            assertEquals(CANDS.get(j), e.setting());
            assertEquals(CANDS.get(j).rank(), e.layerOut().lr() == null ? 0 : e.layerOut().lr().rank());
            long bias = e.layerOut().bias() == null ? 0 : (long) QuantizedLinear.BIAS_BYTES * e.layerOut().bias().length;
            assertEquals(e.layerOut().storedBytes() - bias, e.bytes());
            double p = ProxyError.relative(dense.denseWeight(), e.layerOut().denseWeight(), dense.dOut(), dense.dIn(), H);
            assertEquals(p, e.proxyError(), PROXY_TOL * p);
        }
        // the low-rank term lowers the error on every matrix (same Q grid, same H)
        for (ProxySignal.Entry[] row : pool) assertTrue(row[1].proxyError() < row[0].proxyError(), row[0].key());
    }

    @Test
    void klFromCachedBlockInputsEqualsAFullForwardOfTheChangedModel() {
        Qwen2Model dense = new Qwen2Model(Fixtures.tiny());
        int[][] win = {java.util.Arrays.copyOf(calib[0], 32)};
        KlSignal.Reference ref = KlSignal.reference(dense, win);
        assertEquals(0.0, KlSignal.kl(ref, 1, 0, dense.weights().layers()[1].q()), 0.0, "the dense matrix changes nothing");
        int layer = 1, kind = 4;
        ProxySignal.Entry e = pool[layer * 7 + kind][0];
        double fast = KlSignal.kl(ref, layer, kind, e.layerOut());
        Linear[] lin = dense.weights().layers()[layer].linears();
        lin[kind] = e.layerOut();
        Qwen2Model changed = new Qwen2Model(dense.weights().withBlock(layer, dense.weights().layers()[layer].withLinears(lin)));
        int V = dense.vocabSize(), T = win[0].length;
        float[] p = KlSignal.logSoftmax(dense.logits(win[0]), T, V), q = KlSignal.logSoftmax(changed.logits(win[0]), T, V);
        double slow = 0;
        for (int t = 0; t < T; t++)
            for (int v = 0; v < V; v++) slow += Math.exp(p[t * V + v]) * (p[t * V + v] - q[t * V + v]) / T;
        assertTrue(fast > 0, "2-bit gate_proj moves the output distribution");
        assertEquals(slow, fast, KL_TOL + 1e-6 * slow);
    }
}
