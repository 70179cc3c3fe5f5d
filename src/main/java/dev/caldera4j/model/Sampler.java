package dev.caldera4j.model;

import java.util.Arrays;
import java.util.SplittableRandom;

/**
 * Next-token choice from logits: greedy when temperature is 0, else temperature + nucleus (top-p)
 * sampling from a seeded generator (same seed ⇒ same text).
 *
 * @param temperature 0 for greedy; otherwise logits are divided by it
 * @param topP        nucleus mass in (0, 1]; 1 disables the cut
 * @param seed        seed of the sampler's generator
 */
public record Sampler(double temperature, double topP, long seed) {

    public Sampler {
        if (!(temperature >= 0)) throw new IllegalArgumentException("temperature must be ≥ 0, got " + temperature);
        if (!(topP > 0 && topP <= 1)) throw new IllegalArgumentException("top-p must be in (0, 1], got " + topP);
    }

    public static Sampler greedy() { return new Sampler(0, 1, 0); }

    /** A stateful draw sequence for one generation. */
    public Draw start() { return new Draw(this, new SplittableRandom(seed)); }

    public static final class Draw {
        private final Sampler s;
        private final SplittableRandom rng;

        Draw(Sampler s, SplittableRandom rng) { this.s = s; this.rng = rng; }

        /** Picks a token from logits[off … off+vocab). */
        public int next(float[] logits, int off, int vocab) {
            if (s.temperature == 0) return argmax(logits, off, vocab);
            double max = Double.NEGATIVE_INFINITY;
            for (int i = 0; i < vocab; i++) max = Math.max(max, logits[off + i]);
            double[] p = new double[vocab];
            double sum = 0;
            for (int i = 0; i < vocab; i++) { p[i] = Math.exp((logits[off + i] - max) / s.temperature); sum += p[i]; }
            for (int i = 0; i < vocab; i++) p[i] /= sum;
            Integer[] order = new Integer[vocab];
            for (int i = 0; i < vocab; i++) order[i] = i;
            Arrays.sort(order, (a, b) -> Double.compare(p[b], p[a]));
            int keep = vocab;
            if (s.topP < 1) {
                double cum = 0;
                for (int i = 0; i < vocab; i++) { cum += p[order[i]]; if (cum >= s.topP) { keep = i + 1; break; } }
            }
            double mass = 0;
            for (int i = 0; i < keep; i++) mass += p[order[i]];
            double u = rng.nextDouble() * mass, cum = 0;
            for (int i = 0; i < keep; i++) { cum += p[order[i]]; if (u < cum) return order[i]; }
            return order[keep - 1];
        }
    }

    public static int argmax(float[] a, int off, int n) {
        int best = 0;
        for (int i = 1; i < n; i++) if (a[off + i] > a[off + best]) best = i;
        return best;
    }
}
