package dev.caldera4j.plan;

import org.junit.jupiter.api.Test;

import java.util.ArrayList;
import java.util.List;
import java.util.SplittableRandom;

import static org.junit.jupiter.api.Assertions.*;

/** Greedy allocation against the exact dynamic programme on seeded synthetic instances. */
class AllocatorTest {

    /** Loss sums are of at most ~40 terms of order 1: float64 rounding stays far below this. */
    private static final double SUM_TOL = 1e-9;

    private static Overrides.Setting rank(int r) {
        return Overrides.Setting.q(2, 128).withLowRank(r, 4, 4);
    }

    /**
     * Items whose loss falls with bytes like a rate-distortion curve (convex) or, when
     * {@code convex} is false, with random bumps (not convex, some candidates dominated).
     */
    private static List<Allocator.Item> instance(long seed, int n, int k, boolean convex) {
        SplittableRandom r = new SplittableRandom(seed);
        List<Allocator.Item> items = new ArrayList<>();
        for (int i = 0; i < n; i++) {
            double scale = 0.1 + 2 * r.nextDouble(), rate = 0.05 + 0.3 * r.nextDouble();
            long base = 5 + r.nextInt(20);
            List<Allocator.Candidate> cs = new ArrayList<>();
            long bytes = base;
            for (int j = 0; j < k; j++) {
                double loss = scale * Math.exp(-rate * (bytes - base));
                if (!convex) loss *= 0.6 + 0.8 * r.nextDouble();
                cs.add(new Allocator.Candidate(rank(8 * j), bytes, loss));
                bytes += 1 + r.nextInt(8);
            }
            items.add(new Allocator.Item(i + ".q", 100, cs));
        }
        return items;
    }

    private static double maxStepGain(List<Allocator.Item> items) {
        double g = 0;
        for (Allocator.Item it : items) {
            double hi = it.candidates().stream().mapToDouble(Allocator.Candidate::loss).max().orElseThrow();
            double lo = it.candidates().stream().mapToDouble(Allocator.Candidate::loss).min().orElseThrow();
            g = Math.max(g, hi - lo);
        }
        return g;
    }

    @Test
    void greedyFitsAndIsWithinOneUpgradeOfTheOptimum() {
        for (boolean convex : new boolean[] {true, false})
            for (long seed = 1; seed <= 12; seed++) {
                List<Allocator.Item> items = instance(seed, 1 + (int) (seed % 7) * 3, 1 + (int) (seed % 5), convex);
                long min = Allocator.minimumBytes(items);
                for (long extra : new long[] {0, 3, 17, 60, 400}) {
                    long budget = min + extra;
                    Allocator.Allocation g = Allocator.greedy(items, budget), x = Allocator.exact(items, budget, 1);
                    String what = "seed " + seed + " convex " + convex + " budget +" + extra;
                    assertTrue(g.bytes() <= budget && x.bytes() <= budget, what);
                    assertTrue(x.loss() <= g.loss() + SUM_TOL, what + ": the exact DP lost to greedy (" + x.loss() + " > " + g.loss() + ")");
                    // greedy = LP optimum minus at most one item's chain: bounded by the largest single-matrix loss range
                    assertTrue(g.loss() - x.loss() <= maxStepGain(items) + SUM_TOL, what + ": greedy " + g.loss() + " vs exact " + x.loss());
                }
            }
    }

    /** Sanity of the DP itself: brute force over every combination on tiny instances. */
    @Test
    void exactEqualsBruteForce() {
        for (long seed = 20; seed < 30; seed++) {
            List<Allocator.Item> items = instance(seed, 4, 3, false);
            long budget = Allocator.minimumBytes(items) + seed % 9 * 2;
            double brute = Double.POSITIVE_INFINITY;
            int[] c = new int[items.size()];
            for (int code = 0; code < 81; code++) {
                int v = code;
                long b = 0;
                double l = 0;
                for (int i = 0; i < 4; i++) {
                    c[i] = v % 3;
                    v /= 3;
                    b += items.get(i).candidates().get(c[i]).bytes();
                    l += items.get(i).candidates().get(c[i]).loss();
                }
                if (b <= budget) brute = Math.min(brute, l);
            }
            assertEquals(brute, Allocator.exact(items, budget, 1).loss(), SUM_TOL, "seed " + seed);
        }
    }

    /** On convex curves with one byte per step greedy's fill pass closes the LP gap: it is optimal. */
    @Test
    void greedyIsOptimalOnUnitStepConvexCurves() {
        SplittableRandom r = new SplittableRandom(5);
        List<Allocator.Item> items = new ArrayList<>();
        for (int i = 0; i < 9; i++) {
            List<Allocator.Candidate> cs = new ArrayList<>();
            double s = 0.5 + r.nextDouble();
            for (int j = 0; j < 6; j++) cs.add(new Allocator.Candidate(rank(8 * j), 10 + j, s / (1 + j)));
            items.add(new Allocator.Item(i + ".down", 50, cs));
        }
        for (int extra = 0; extra <= 45; extra += 5) {
            long budget = 90 + extra;
            assertEquals(Allocator.exact(items, budget, 1).loss(), Allocator.greedy(items, budget).loss(), SUM_TOL, "budget " + budget);
        }
    }

    @Test
    void lossNeverRisesWithTheBudgetAndTheMapNamesEveryMatrix() {
        List<Allocator.Item> items = instance(40, 10, 4, true);
        double prev = Double.POSITIVE_INFINITY;
        for (long b = Allocator.minimumBytes(items); b < Allocator.minimumBytes(items) + 200; b += 7) {
            Allocator.Allocation a = Allocator.greedy(items, b);
            assertTrue(a.loss() <= prev + SUM_TOL, "budget " + b);
            prev = a.loss();
            assertEquals(items.size(), a.overrides(items).map().size());
        }
    }

    @Test
    void hullDropsDominatedAndConcavePoints() {
        List<Allocator.Candidate> cs = List.of(
                new Allocator.Candidate(rank(0), 10, 5.0),
                new Allocator.Candidate(rank(8), 12, 4.9),   // above the segment 10→14: not on the hull
                new Allocator.Candidate(rank(16), 14, 3.0),
                new Allocator.Candidate(rank(24), 15, 3.5),  // dominated
                new Allocator.Candidate(rank(32), 20, 2.0));
        assertArrayEquals(new int[] {0, 2, 4}, Allocator.hull(cs));
    }

    @Test
    void aBudgetBelowTheCheapestChoiceIsRefusedWithTheNumbers() {
        List<Allocator.Item> items = instance(3, 3, 2, true);
        long min = Allocator.minimumBytes(items);
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> Allocator.greedy(items, min - 1));
        assertTrue(e.getMessage().contains(Long.toString(min)), e.getMessage());
    }
}
