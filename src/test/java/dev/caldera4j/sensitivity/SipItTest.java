package dev.caldera4j.sensitivity;

import dev.caldera4j.calib.Fixtures;
import dev.caldera4j.calib.SingleThreadBlas;
import dev.caldera4j.model.DenseLinear;
import dev.caldera4j.model.Linear;
import dev.caldera4j.model.Qwen2Model;
import dev.caldera4j.model.Qwen2Weights;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;

import java.util.SplittableRandom;

import static org.junit.jupiter.api.Assertions.*;

/** The SipIt probe on the tiny model: its candidate pass against full forwards, and the destroyed-block check. */
@ExtendWith(SingleThreadBlas.class)
class SipItTest {

    /**
     * candidateBlock vs running prefix + candidate as a sequence: same math, different summation
     * order (one softmax over prefix + self instead of a causal row, GEMM vs dot products), float32
     * throughout: relative 1e-5 of the state's norm per layer is ~100 ulps of slack at hidden 128.
     */
    private static final double CANDIDATE_TOL = 1e-5;

    private static int[] window(long seed, int n, int vocab) {
        SplittableRandom r = new SplittableRandom(seed);
        int[] w = new int[n];
        for (int i = 0; i < n; i++) w[i] = 1 + r.nextInt(vocab - 1);
        return w;
    }

    @Test
    void candidatePassEqualsRunningEachCandidateAsTheNextToken() {
        Qwen2Model m = new Qwen2Model(Fixtures.tiny());
        int h = m.config().hiddenSize(), L = m.config().numLayers();
        for (int t : new int[] {0, 1, 7}) {
            int[] prefix = window(t + 3, t, m.vocabSize());
            int[] cand = {5, 300, 4095};
            Qwen2Model.KVCache cache = m.newCache(Math.max(t, 1));
            if (t > 0) m.forward(prefix, cache, false);
            float[] x = new float[cand.length * h];
            for (int j = 0; j < cand.length; j++) System.arraycopy(m.weights().embed(), cand[j] * h, x, j * h, h);
            float[][] perLayer = new float[L][];
            for (int l = 0; l < L; l++) {
                m.candidateBlock(m.weights().layers()[l], l, x, cand.length, cache, t);
                perLayer[l] = x.clone();
            }
            for (int j = 0; j < cand.length; j++) {
                int[] seq = java.util.Arrays.copyOf(prefix, t + 1);
                seq[t] = cand[j];
                float[][] ref = SipIt.states(m, seq);
                for (int l = 0; l < L; l++) {
                    double e = 0, n = 0;
                    for (int i = 0; i < h; i++) {
                        double d = perLayer[l][j * h + i] - ref[l][t * h + i];
                        e += d * d;
                        n += (double) ref[l][t * h + i] * ref[l][t * h + i];
                    }
                    assertTrue(Math.sqrt(e / n) < CANDIDATE_TOL, "t " + t + " cand " + cand[j] + " layer " + l + ": rel " + Math.sqrt(e / n));
                }
            }
        }
    }

    /** 1-bit RTN of W (per row, min-max grid with two levels): a destroyed matrix. */
    static Linear oneBit(Linear lin) {
        float[] W = lin.denseWeight().clone();
        int dOut = lin.dOut(), dIn = lin.dIn();
        for (int o = 0; o < dOut; o++) {
            float lo = Float.POSITIVE_INFINITY, hi = Float.NEGATIVE_INFINITY;
            for (int i = 0; i < dIn; i++) {
                lo = Math.min(lo, W[o * dIn + i]);
                hi = Math.max(hi, W[o * dIn + i]);
            }
            for (int i = 0; i < dIn; i++) W[o * dIn + i] = W[o * dIn + i] - lo < hi - W[o * dIn + i] ? lo : hi;
        }
        return new DenseLinear(W, lin.bias(), dOut, dIn, 4);
    }

    /**
     * The probe's check (issue 8): with block d destroyed (1-bit RTN of its seven linears),
     * recovery and margins are exactly the dense model's before d, and recovery falls from d on.
     * Exhaustive search over all 4,096 tokens of the tiny vocabulary. The dense model's 100 % is the
     * sanity check (injectivity).
     */
    @Test
    void destroyingOneBlockDropsRecoveryFromThatLayerOnAndNotBefore() {
        Qwen2Weights w = Fixtures.tiny();
        int d = 2, L = w.config().numLayers(), V = w.config().vocabSize();
        Linear[] lin = w.layers()[d].linears();
        Linear[] broken = new Linear[lin.length];
        for (int i = 0; i < lin.length; i++) broken[i] = oneBit(lin[i]);
        Qwen2Model dense = new Qwen2Model(w), destroyed = new Qwen2Model(w.withBlock(d, w.layers()[d].withLinears(broken)));
        String text = "The river runs through the old city and the north station of the village school.";
        int[] win = Fixtures.tinyTokenizer().encode(text);
        int[][] windows = {win};
        int first = 2, per = Math.min(10, win.length - 2);
        SipIt.Profile ref = SipIt.probe(dense, dense, windows, first, per, V);
        SipIt.Profile hit = SipIt.probe(dense, destroyed, windows, first, per, V);
        for (int l = 0; l < L; l++) {
            assertEquals(1.0, ref.recovery()[l], "dense model, layer " + l + ": every token recovered (injectivity)");
            assertTrue(ref.margin()[l] > 0, "dense margin at layer " + l);
        }
        for (int l = 0; l < d; l++) {
            assertEquals(ref.recovery()[l], hit.recovery()[l], "layer " + l + " lies before the destroyed block");
            assertEquals(ref.margin()[l], hit.margin()[l], "layer " + l + " lies before the destroyed block: identical states");
        }
        for (int l = d; l < L; l++) {
            assertTrue(hit.recovery()[l] < 0.5, "layer " + l + " (destroyed block " + d + "): recovery " + hit.recovery()[l]);
            assertTrue(hit.margin()[l] < ref.margin()[l], "layer " + l + ": margin " + hit.margin()[l] + " vs dense " + ref.margin()[l]);
        }
        // a shortlist (16 likeliest next tokens + 16 per layer by embedding cosine, truth added) sees fewer
        // impostors: its recovery can only be higher, and its margin no smaller, than the exhaustive search's
        SipIt.Profile shortDense = SipIt.probe(dense, dense, windows, first, per, 16);
        SipIt.Profile shortHit = SipIt.probe(dense, destroyed, windows, first, per, 16);
        for (int l = 0; l < L; l++) {
            assertEquals(1.0, shortDense.recovery()[l], "dense, shortlist, layer " + l);
            assertTrue(shortHit.recovery()[l] >= hit.recovery()[l], "layer " + l);
            assertTrue(shortHit.margin()[l] >= hit.margin()[l] - 1e-12, "layer " + l);
            assertTrue(shortHit.shortlistRecall()[l] <= 1.0 && ref.shortlistRecall()[l] == 1.0, "layer " + l);
        }
    }
}
