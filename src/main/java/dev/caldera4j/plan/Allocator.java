package dev.caldera4j.plan;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.Comparator;
import java.util.List;

/**
 * Chooses one setting per matrix under a global byte budget so that the summed predicted loss is
 * smallest (a multiple-choice knapsack): {@link #greedy} by marginal gain, and {@link #exact}, a
 * dynamic programme over the budget in byte units, as its twin on small instances.
 *
 * <p>Greedy: every matrix starts at its cheapest candidate. The candidates of one matrix that lie
 * on the lower convex hull of (bytes, loss) form a chain of upgrades whose gains per byte
 * (Δloss/Δbytes) fall along the chain; all upgrades of all matrices are taken in order of gain
 * per byte while they fit (an upgrade that does not fit closes its matrix's chain). This is the
 * optimum of the LP relaxation up to the one upgrade that did not fit, so greedy's loss is within
 * the largest single upgrade gain of the optimum. A last pass spends what is left on the single
 * change (hull or not) with the largest loss decrease that fits, repeated while one exists.
 *
 * <p>The loss is whatever a signal predicts (proxy error, KL, SipIt-weighted proxy error); the
 * allocator only assumes that it is additive over matrices.
 */
public final class Allocator {
    private Allocator() {}

    /**
     * One candidate of one matrix.
     *
     * @param setting how the matrix would be stored
     * @param bytes   its stored bytes (as {@link Footprint#linearBytes} counts them)
     * @param loss    the predicted loss of the model when this matrix is stored so (additive over matrices)
     */
    public record Candidate(Overrides.Setting setting, long bytes, double loss) {
        public Candidate {
            if (bytes < 0) throw new IllegalArgumentException("candidate " + setting + ": bytes " + bytes + " must be ≥ 0");
            if (!Double.isFinite(loss)) throw new IllegalArgumentException("candidate " + setting + ": loss " + loss + " must be finite");
        }
    }

    /**
     * One matrix.
     *
     * @param key        the override key, e.g. "3.down"
     * @param params     d_out·d_in (for bits per parameter)
     * @param candidates at least one
     */
    public record Item(String key, long params, List<Candidate> candidates) {
        public Item {
            candidates = List.copyOf(candidates);
            if (candidates.isEmpty()) throw new IllegalArgumentException("matrix " + key + " has no candidate settings");
        }
    }

    /**
     * The chosen settings.
     *
     * @param choice index into each item's candidates
     * @param bytes  Σ bytes of the chosen candidates (≤ the budget)
     * @param loss   Σ loss of the chosen candidates
     */
    public record Allocation(int[] choice, long bytes, double loss) {
        /** The overrides map of this allocation (every matrix listed), drop entries equal to the base with {@link Overrides#without}. */
        public Overrides overrides(List<Item> items) {
            java.util.Map<String, Overrides.Setting> m = new java.util.LinkedHashMap<>();
            for (int i = 0; i < items.size(); i++) m.put(items.get(i).key(), items.get(i).candidates().get(choice[i]).setting());
            return new Overrides(m);
        }

        public double bitsPerParam(List<Item> items) {
            long p = items.stream().mapToLong(Item::params).sum();
            return bytes * 8.0 / p;
        }
    }

    /** Σ of each item's cheapest candidate: the smallest budget any allocation needs. */
    public static long minimumBytes(List<Item> items) {
        long b = 0;
        for (Item it : items) b += it.candidates().stream().mapToLong(Candidate::bytes).min().orElseThrow();
        return b;
    }

    /** A budget of {@code bits} per parameter over the items' parameters, in bytes (rounded down). */
    public static long budgetBytes(List<Item> items, double bits) {
        long p = items.stream().mapToLong(Item::params).sum();
        return (long) Math.floor(bits * p / 8.0);
    }

    private static void checkBudget(List<Item> items, long budget) {
        long min = minimumBytes(items);
        if (budget < min)
            throw new IllegalArgumentException("budget " + budget + " bytes is below the " + min + " bytes the cheapest candidate of"
                    + " every matrix needs (" + String.format(java.util.Locale.ROOT, "%.4f", min * 8.0 / items.stream().mapToLong(Item::params).sum())
                    + " bits/param): raise the budget or add cheaper candidates");
    }

    /** One step of a matrix's hull chain: from candidate {@code from} to {@code to}. */
    private record Upgrade(int item, int from, int to, long dBytes, double dLoss) {
        double gain() {
            return dBytes == 0 ? Double.POSITIVE_INFINITY : -dLoss / dBytes;
        }
    }

    /** Greedy marginal-gain allocation within {@code budgetBytes}. */
    public static Allocation greedy(List<Item> items, long budgetBytes) {
        checkBudget(items, budgetBytes);
        int n = items.size();
        int[] choice = new int[n];
        List<Upgrade> ups = new ArrayList<>();
        for (int i = 0; i < n; i++) {
            int[] hull = hull(items.get(i).candidates());
            choice[i] = hull[0];
            for (int j = 1; j < hull.length; j++) {
                Candidate a = items.get(i).candidates().get(hull[j - 1]), b = items.get(i).candidates().get(hull[j]);
                ups.add(new Upgrade(i, hull[j - 1], hull[j], b.bytes() - a.bytes(), b.loss() - a.loss()));
            }
        }
        // by gain per byte; within one matrix the chain order is kept (gains fall along a hull, ties by position)
        ups.sort(Comparator.comparingDouble(Upgrade::gain).reversed().thenComparingInt(Upgrade::item).thenComparingLong(Upgrade::dBytes));
        long bytes = total(items, choice);
        boolean[] closed = new boolean[n];
        for (Upgrade u : ups) {
            if (closed[u.item()] || choice[u.item()] != u.from()) continue;
            if (bytes + u.dBytes() <= budgetBytes) {
                choice[u.item()] = u.to();
                bytes += u.dBytes();
            } else {
                closed[u.item()] = true;
            }
        }
        // fill: the best single change that fits, while one lowers the loss
        while (true) {
            int bi = -1, bj = -1;
            double best = 0;
            for (int i = 0; i < n; i++) {
                Candidate cur = items.get(i).candidates().get(choice[i]);
                for (int j = 0; j < items.get(i).candidates().size(); j++) {
                    Candidate c = items.get(i).candidates().get(j);
                    double d = cur.loss() - c.loss();
                    if (d > best && bytes - cur.bytes() + c.bytes() <= budgetBytes) {
                        best = d;
                        bi = i;
                        bj = j;
                    }
                }
            }
            if (bi < 0) break;
            bytes += items.get(bi).candidates().get(bj).bytes() - items.get(bi).candidates().get(choice[bi]).bytes();
            choice[bi] = bj;
        }
        return new Allocation(choice, bytes, loss(items, choice));
    }

    /**
     * Indices of the candidates on the lower convex hull of (bytes, loss), by increasing bytes:
     * starts at the cheapest (lowest loss among equally cheap), and keeps only points with strictly
     * lower loss whose slopes become less steep.
     */
    static int[] hull(List<Candidate> cs) {
        Integer[] idx = new Integer[cs.size()];
        for (int i = 0; i < idx.length; i++) idx[i] = i;
        Arrays.sort(idx, Comparator.comparingLong((Integer i) -> cs.get(i).bytes()).thenComparingDouble(i -> cs.get(i).loss()));
        List<Integer> h = new ArrayList<>();
        for (int i : idx) {
            Candidate c = cs.get(i);
            if (!h.isEmpty() && c.loss() >= cs.get(h.getLast()).loss()) continue;  // dominated: costs more, loses no less
            while (h.size() >= 2) {
                Candidate a = cs.get(h.get(h.size() - 2)), b = cs.get(h.getLast());
                // b lies on or above the segment a → c: drop it (cross product in (bytes, loss))
                double cross = (double) (b.bytes() - a.bytes()) * (c.loss() - a.loss()) - (b.loss() - a.loss()) * (double) (c.bytes() - a.bytes());
                if (cross <= 0) h.removeLast();
                else break;
            }
            h.add(i);
        }
        return h.stream().mapToInt(Integer::intValue).toArray();
    }

    /**
     * Exact optimum by dynamic programming over the budget in units of {@code unit} bytes (every
     * candidate's bytes are rounded UP to whole units, so the result always fits; with unit 1 it is
     * the exact optimum). O(items × budget/unit × candidates): small instances only.
     */
    public static Allocation exact(List<Item> items, long budgetBytes, long unit) {
        checkBudget(items, budgetBytes);
        if (unit < 1) throw new IllegalArgumentException("unit " + unit + " must be ≥ 1 byte");
        int n = items.size();
        long cap = budgetBytes / unit;
        if (cap > 50_000_000L / Math.max(1, n))
            throw new IllegalArgumentException("exact allocation over " + n + " items and " + cap + " budget units is too large: raise unit");
        int B = (int) cap;
        double[] best = new double[B + 1];      // (B+1): least loss of the items so far within b units
        int[][] pick = new int[n][B + 1];        // (n, B+1): the candidate item i takes at budget b
        Arrays.fill(best, 0);
        for (int i = 0; i < n; i++) {
            double[] next = new double[B + 1];
            Arrays.fill(next, Double.POSITIVE_INFINITY);
            List<Candidate> cs = items.get(i).candidates();
            for (int b = 0; b <= B; b++) {
                for (int j = 0; j < cs.size(); j++) {
                    long u = (cs.get(j).bytes() + unit - 1) / unit;
                    if (u > b || best[(int) (b - u)] == Double.POSITIVE_INFINITY) continue;
                    double v = best[(int) (b - u)] + cs.get(j).loss();
                    if (v < next[b]) {
                        next[b] = v;
                        pick[i][b] = j;
                    }
                }
            }
            best = next;
        }
        if (best[B] == Double.POSITIVE_INFINITY)
            throw new IllegalArgumentException("no allocation fits " + budgetBytes + " bytes at a unit of " + unit + " bytes: use a smaller unit");
        int[] choice = new int[n];
        int b = B;
        for (int i = n - 1; i >= 0; i--) {
            choice[i] = pick[i][b];
            b -= (int) ((items.get(i).candidates().get(choice[i]).bytes() + unit - 1) / unit);
        }
        return new Allocation(choice, total(items, choice), loss(items, choice));
    }

    private static long total(List<Item> items, int[] choice) {
        long b = 0;
        for (int i = 0; i < items.size(); i++) b += items.get(i).candidates().get(choice[i]).bytes();
        return b;
    }

    private static double loss(List<Item> items, int[] choice) {
        double s = 0;
        for (int i = 0; i < items.size(); i++) s += items.get(i).candidates().get(choice[i]).loss();
        return s;
    }
}
