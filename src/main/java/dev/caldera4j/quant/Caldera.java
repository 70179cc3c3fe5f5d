package dev.caldera4j.quant;

import dev.caldera4j.linalg.Blas;
import dev.caldera4j.linalg.DMatrix;
import dev.caldera4j.linalg.Lapack;
import java.util.ArrayList;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.SplittableRandom;
import java.util.function.Consumer;
import java.util.stream.IntStream;

/**
 * CALDERA (Saha et al. 2024, "Compressing Large Language Models using Low Rank and Low Precision
 * Decomposition"): W ≈ Q + L·R with Q (d_out, d_in) at bq bits (groupwise, LDLQ), L (d_out, r) and
 * R (r, d_in) at bl / br bits, minimising the layer's proxy loss tr(Δ·H·Δᵀ), Δ = W − Q − L·R, by
 * alternation from Q = 0:
 *
 * <ol>
 *   <li><b>L·R step</b> on A = W − Q. The minimiser of tr((A − M)·H·(A − M)ᵀ) over rank-r M is
 *       M = U_r·U_rᵀ·A with U_r the top-r left singular vectors of A·H^½ (Eckart–Young in the H^½
 *       metric: M·H^½ must be the rank-r truncation U_r·Σ_r·V_rᵀ of A·H^½, so M = U_r·Σ_r·V_rᵀ·H^-½
 *       = U_r·U_rᵀ·A); its error is Σ_{i&gt;r} σ_i². The left singular vectors and values of A·H^½
 *       are those of A·S for any S·Sᵀ = H, so S is the Cholesky factor of H + δ·I, δ =
 *       sqrtDamping·mean(diag H) (tiny: it only makes a singular H factorable). Split: L = U_r·Σ_r^½,
 *       R = Σ_r^-½·U_rᵀ·A, balanced in the H metric (LᵀL = R·H·Rᵀ = Σ_r); no H^-½ is formed. U_r
 *       comes from dgesdd of the formed Y = A·S (exact) or from a randomised range finder with power
 *       iterations on the implicit Y (GEMMs with A and S only: O((mn + n²)·k) per pass instead of
 *       forming Y, O(mn²)).
 *       <br>When bl or br &lt; 16, {@code lrAlsIters} rounds of alternating least squares follow,
 *       starting from that R; the pair with the smallest weighted error is kept:
 *       <ul>
 *         <li>L given R: L = A·H·Rᵀ·(R·H·Rᵀ)⁻¹, then quantised by LDLQ with the Hessian R·H·Rᵀ
 *             (r × r): since L is the least-squares optimum, the error of a perturbed L̂ is exactly
 *             const + tr((L − L̂)·R·H·Rᵀ·(L − L̂)ᵀ), the GPTQ objective; groups of min(r, 128) along r.</li>
 *         <li>R given L̂: R = (L̂ᵀL̂)⁻¹·L̂ᵀ·A. The H-weighted normal equations are L̂ᵀL̂·R·H = L̂ᵀ·A·H,
 *             so for H positive definite the weighted optimum IS the unweighted one (for a singular H,
 *             it is one of the optima). Quantised by RTN groupwise along d_in with Q's group
 *             (default; the error tr(L̂ᵀL̂·ΔR·H·ΔRᵀ) couples rows, and LDLQ on R would need a d_in³
 *             factorisation per round) or by LDLQ with H ({@code rLdlq}).</li>
 *       </ul>
 *       (Pseudo-)inverses of the r × r matrices come from their eigen-decomposition, with
 *       eigenvalues below 1e-12 of the largest dropped (logged).</li>
 *   <li><b>Q step</b> on W − L̂·R̂: LDLQ = {@link Gptq#quantize} at bq bits, groupwise (act-order,
 *       static groups by default), with GPTQ's damping and escalation. Optional <b>Hessian
 *       downdate</b> (the reference implementation's {@code Q_hessian_downdate}): the Q step uses
 *       H_Q = H − H·R̂ᵀ·(R̂·H·R̂ᵀ)⁻¹·R̂·H. Why: min over L′ of tr((Δ − L′R̂)·H·(Δ − L′R̂)ᵀ) =
 *       tr(Δ·H_Q·Δᵀ), so LDLQ then minimises the error that remains once L is refitted to R̂, instead
 *       of spending bits on what the next L·R step will absorb. (The reference forms it with a
 *       Cholesky factor and the right singular vectors of L·R·chol(H); for a full-rank L that is this
 *       projector.) H_Q is singular (rank d_in − r); GPTQ's damping makes it definite.</li>
 * </ol>
 * Every iterate is tracked by its exact proxy error, computed WITHOUT a d_out·d_in² product:
 * GPTQ reports tr(Δ·H_Q·Δᵀ)/tr(A′·H_Q·A′ᵀ) for its input A′ = W − L̂R̂, and every other term is
 * low-rank algebra with P = H·R̂ᵀ (d_in, r): ‖A′‖²_H = ‖W‖²_H − 2·tr(L̂ᵀ·W·P) + tr(L̂ᵀL̂·R̂·P), and
 * ‖W − Q̂‖²_H = e + 2·tr(L̂ᵀ·(W − Q̂)·P) − tr(L̂ᵀL̂·R̂·P). The best iterate (after a Q step) is kept;
 * its proxy error is then recomputed directly in the original basis ({@link ProxyError#relative}).
 * Candidates are the states after every Q step and after every L·R step but the first (Q̂_{k−1}
 * with L̂_k·R̂_k): with the downdate, or with quantised factors, the best state is often the one
 * after an L·R step. Measured on synthetic layers (CalderaTest's report): the kept iterate comes
 * at iteration 1–4 and the errors then drift up slowly, because LDLQ re-quantises W − L̂R̂ from
 * scratch (it is not a descent step), so the alternation has no pull back.
 *
 * <p><b>Incoherence</b> (option): W̃ = U·W·Vᵀ, H̃ = V·H·Vᵀ with U = H_out·diag(sv)/√d_out′,
 * V = H_in·diag(su)/√d_in′ ({@link Incoherence}'s convention), dims zero-padded to
 * {@link Hadamard#paddedSize}; the signs come from a SplittableRandom seeded by the config's seed
 * mixed with the layer name (same seed ⇒ same checkpoint; different layers get different signs).
 * With padding, the tracked error also counts the padded output rows (that are cropped away at
 * inference), so it bounds the true error from above; the reported proxyError is the true one.
 *
 * <p><b>Memory</b> at d_in = n, d_out = m: the caller's H (n² doubles) plus S (n², native) plus
 * what {@link Gptq} takes (n² native), W and the residual as float64 (2·m·n, native), a few m·n
 * floats, and with Hadamard H̃ (n²) and with the downdate H_Q (n²). Qwen2-72B down_proj
 * (8192 × 29568): n² doubles = 7 GB, so about 30 GB without Hadamard.
 */
public final class Caldera {
    private Caldera() {}

    private static final System.Logger LOG = System.getLogger(Caldera.class.getName());

    /** Eigenvalues of the r × r Gram matrices below this fraction of the largest are treated as 0 in their pseudo-inverse. */
    static final double GRAM_RCOND = 1e-12;
    /** Rows of W per dgemm when computing ‖W‖²_H: the chunk product stays around 32 MB. */
    private static final long CHUNK_DOUBLES = 1L << 22;

    /**
     * @param layer             the compressed layer, bias null (the caller attaches the bias)
     * @param proxyError        tr(ΔHΔᵀ)/tr(WHWᵀ) of the kept iterate, computed directly in the
     *                          original basis with the caller's W and H
     * @param errorPerIteration relative proxy error after each outer iteration's Q step (L̂_k·R̂_k
     *                          with Q̂_k), as tracked (in the decomposition basis; see the class
     *                          comment on padding)
     * @param errorAfterLowRank relative proxy error after each outer iteration's L·R step (L̂_k·R̂_k
     *                          with Q̂_{k−1}; Q̂_{−1} = 0, so entry 0 is the low-rank part alone)
     * @param bestIteration     the outer iteration k of the kept iterate
     * @param bestAfterLowRank  true when the kept iterate is the one after iteration k's L·R step
     *                          (with Q̂_{k−1}), false when after its Q step
     * @param log               what happened, one line per event, no timings (deterministic)
     * @param seconds           wall seconds per step, for run logs only (never for the checkpoint):
     *                          once per matrix "hadamard" (rotating W, H), "sqrt" (Cholesky of H), "init"
     *                          (‖W‖²_H), "final" (dense weight and direct proxy error); summed over
     *                          iterations "svd" (top-r subspace), "als" (factor fits and their
     *                          quantisation), "ldlq" (the Q step, GPTQ's own proxy error included),
     *                          "bookkeeping" (residuals and low-rank error terms)
     */
    public record Result(CompressedLinear layer, double proxyError, double[] errorPerIteration, double[] errorAfterLowRank,
                         int bestIteration, boolean bestAfterLowRank, List<String> log, Map<String, Double> seconds) {}

    /**
     * One iterate, as an observer (tests) sees it: after the L·R step (afterQ false; Q is the
     * previous Q̂, null for Q = 0) or after the Q step. relError is the tracked tr(ΔHΔᵀ)/tr(WHWᵀ)
     * in the decomposition basis.
     */
    record Iterate(int iteration, boolean afterQ, QuantizedMatrix Q, LowRank lr, Incoherence inc, double relError) {}

    /**
     * Decomposes W (dOut, dIn) float32 row-major against H (dIn, dIn) float64 row-major symmetric
     * (H = XᵀX/n of the layer's inputs). layerName labels log lines and errors and seeds the signs.
     * W and H are not modified.
     */
    public static Result decompose(float[] W, int dOut, int dIn, double[] H, CalderaConfig cfg, String layerName) {
        return decompose(W, dOut, dIn, H, cfg, layerName, null);
    }

    static Result decompose(float[] W, int dOut, int dIn, double[] H, CalderaConfig cfg, String layer, Consumer<Iterate> observer) {
        checkInputs(W, dOut, dIn, H, layer);
        cfg.checkShape(dOut, dIn, layer);
        List<String> log = new ArrayList<>();
        Map<String, Double> seconds = new LinkedHashMap<>();
        for (String k : List.of("hadamard", "sqrt", "init", "svd", "als", "ldlq", "bookkeeping", "final")) seconds.put(k, 0.0);
        long t0 = System.nanoTime();

        // ---- basis: original, or randomised Hadamard --------------------------------------------
        Incoherence inc = null;
        int m = dOut, n = dIn;
        float[] Wt = W;
        double[] Ht = H;
        if (cfg.hadamard()) {
            int mP = Hadamard.paddedSize(dOut), nP = Hadamard.paddedSize(dIn);
            SplittableRandom rnd = new SplittableRandom(cfg.seed() * 0x9E3779B97F4A7C15L + layer.hashCode());
            inc = new Incoherence(dIn, dOut, nP, mP, signs(rnd, nP), signs(rnd, mP));
            Wt = toFloat(rotateWeight(W, inc));
            Ht = rotateHessian(H, inc);
            m = mP;
            n = nP;
            log.add(String.format("%s: randomised Hadamard basis (%d, %d) -> (%d, %d)", layer, dOut, dIn, m, n));
        }
        int r = cfg.rank();
        seconds.merge("hadamard", secondsSince(t0), Double::sum);

        Metric S = null;
        DMatrix Wd = null, A = null;
        try {
            // ---- H + δ·I = S·Sᵀ (Cholesky) --------------------------------------------------------
            long t = System.nanoTime();
            S = Metric.of(Ht, n, cfg.sqrtDamping(), layer, log);
            seconds.merge("sqrt", secondsSince(t), Double::sum);

            t = System.nanoTime();
            Wd = toD(Wt, m, n);
            A = DMatrix.zeros(m, n);
            double tW = S.hNorm2(Wd);
            seconds.merge("init", secondsSince(t), Double::sum);

            double[] errors = new double[cfg.outerIters()], errorsLR = new double[cfg.outerIters()];
            QuantizedMatrix bestQ = null, prevQ = null;
            LowRank bestLr = null;
            int bestIter = -1;
            boolean bestAfterLR = false;
            double bestE = Double.POSITIVE_INFINITY;
            double normA = tW; // ‖W − Q̂‖²_H for the current Q̂ (Q̂ = 0 at first)
            copy(Wd, A); // A = W − Q̂ with Q̂ = 0
            for (int k = 0; k < cfg.outerIters(); k++) {
                // ---- L·R step on A = W − Q̂ ------------------------------------------------------
                try (LowRankFit fit = lowRankStep(A, S, cfg, Ht, layer, k, log, seconds, null)) {
                    double eLR = Math.max(0, normA - 2 * fit.crossA + fit.lrNorm);
                    errorsLR[k] = rel(eLR, tW);
                    if (observer != null) observer.accept(new Iterate(k, false, prevQ, fit.lr, inc, errorsLR[k]));
                    if (prevQ != null && eLR < bestE) { // a complete decomposition (Q̂_{k−1}, L̂_k·R̂_k)
                        bestE = eLR;
                        bestQ = prevQ;
                        bestLr = fit.lr;
                        bestIter = k;
                        bestAfterLR = true;
                    }

                    // ---- Q step on A′ = W − L̂·R̂ ---------------------------------------------------
                    t = System.nanoTime();
                    Blas.dgemm(false, false, m, n, r, 1, fit.L, 0, r, fit.R, 0, n, 0, A, 0, n); // A = L̂·R̂
                    float[] Ap = new float[m * n];
                    final DMatrix fA = A, fW = Wd;
                    final int fn = n;
                    rowBlocks(m, (i0, i1) -> {
                        double[] a = new double[fn], w = new double[fn];
                        for (int i = i0; i < i1; i++) {
                            fA.getRow(i, 0, a, 0, fn);
                            fW.getRow(i, 0, w, 0, fn);
                            for (int j = 0; j < fn; j++) Ap[i * fn + j] = (float) (w[j] - a[j]);
                        }
                    });
                    double[] Kinv = pinvSym(fit.K, r, layer + " R·H·Rᵀ (Q step)", log);
                    double[] LK = matmul(fit.Lh, fit.K, m, r, r);                 // L̂·(R̂HR̂ᵀ) (m, r)
                    double[] WP = mulToArray(false, Wd, fit.P, m, r, n);          // W·P (m, r)
                    double normAp = Math.max(0, tW - 2 * dot(fit.Lh, WP) + fit.lrNorm); // ‖A′‖²_H
                    double normApQ = normAp;
                    double[] HQ = Ht;
                    if (cfg.hessianDowndate()) {
                        double[] ApP = WP.clone();
                        for (int i = 0; i < ApP.length; i++) ApP[i] -= LK[i];
                        normApQ = Math.max(0, normAp - quadForm(ApP, Kinv, m, r));
                        HQ = downdate(Ht, n, fit.P, Kinv, r);
                    }
                    seconds.merge("bookkeeping", secondsSince(t), Double::sum);

                    t = System.nanoTime();
                    Gptq.Result g = Gptq.quantize(Ap, m, n, HQ, cfg.qConfig(), layer + " Q#" + k);
                    float[] Qf = g.Q().dequantize();
                    seconds.merge("ldlq", secondsSince(t), Double::sum);
                    for (String line : g.log()) if (g.dampEscalations() > 0 || line.contains("dead")) log.add(line);

                    t = System.nanoTime();
                    rowBlocks(m, (i0, i1) -> { // A = W − Q̂ (the next L·R target)
                        double[] a = new double[fn];
                        for (int i = i0; i < i1; i++) {
                            fW.getRow(i, 0, a, 0, fn);
                            for (int j = 0; j < fn; j++) a[j] -= Qf[i * fn + j];
                            fA.setRow(i, 0, a, 0, fn);
                        }
                    });
                    double[] AP = mulToArray(false, A, fit.P, m, r, n); // (W − Q̂)·P
                    double eQ = g.proxyError() * normApQ;
                    if (!Double.isFinite(eQ)) {
                        eQ = directError(Wd, Qf, fit, S);
                        log.add(String.format("%s: iteration %d: GPTQ ratio %s, error recomputed directly", layer, k, g.proxyError()));
                    } else if (cfg.hessianDowndate()) { // add back the part of Δ = A′ − Q̂ inside R̂'s row space
                        double[] dP = AP.clone();
                        for (int i = 0; i < dP.length; i++) dP[i] -= LK[i];
                        eQ += quadForm(dP, Kinv, m, r);
                    }
                    eQ = Math.max(0, eQ);
                    normA = Math.max(0, eQ + 2 * dot(fit.Lh, AP) - fit.lrNorm);
                    errors[k] = rel(eQ, tW);
                    log.add(String.format("%s: iteration %d: proxy error after L·R %.6g, after Q %.6g", layer, k, errorsLR[k], errors[k]));
                    if (observer != null) observer.accept(new Iterate(k, true, g.Q(), fit.lr, inc, errors[k]));
                    if (eQ < bestE || bestQ == null) {
                        bestE = eQ;
                        bestQ = g.Q();
                        bestLr = fit.lr;
                        bestIter = k;
                        bestAfterLR = false;
                    }
                    prevQ = g.Q();
                    seconds.merge("bookkeeping", secondsSince(t), Double::sum);
                }
            }
            S.close();
            S = null;

            // ---- the kept iterate, checked directly in the original basis --------------------------
            long tf = System.nanoTime();
            CompressedLinear layerOut = new CompressedLinear(bestQ, bestLr, inc, null);
            float[] What = denseWeight(bestQ, bestLr, inc);
            double proxy = ProxyError.relative(W, What, dOut, dIn, H);
            String summary = String.format("%s: CALDERA (%d, %d) bq=%d group=%d rank=%d bl=%d br=%d hadamard=%b downdate=%b: "
                            + "kept iteration %d (after its %s step) of %d, tracked %.6g, proxy error %.6g, %.4f bits/param", layer, dOut, dIn,
                    cfg.bq(), cfg.group(), r, cfg.bl(), cfg.br(), cfg.hadamard(), cfg.hessianDowndate(), bestIter,
                    bestAfterLR ? "L·R" : "Q", cfg.outerIters(), rel(bestE, tW), proxy, layerOut.bitsPerParam());
            log.add(summary);
            LOG.log(System.Logger.Level.DEBUG, summary);
            seconds.merge("final", secondsSince(tf), Double::sum);
            return new Result(layerOut, proxy, errors, errorsLR, bestIter, bestAfterLR, Collections.unmodifiableList(log),
                    Collections.unmodifiableMap(seconds));
        } finally {
            if (S != null) S.close();
            if (Wd != null) Wd.close();
            if (A != null) A.close();
        }
    }

    // ---- the L·R step ------------------------------------------------------------------------------

    /**
     * The fitted factors of one L·R step and the low-rank quantities the error bookkeeping needs.
     * Lh (m, r) and R (r, n) are the stored (dequantised / fp16) values.
     */
    private static final class LowRankFit implements AutoCloseable {
        LowRank lr;
        double[] Lh;      // (m, r) L̂
        DMatrix L, R;     // (m, r), (r, n) native copies of L̂, R̂
        DMatrix P;        // (n, r) H·R̂ᵀ
        double[] K;       // (r, r) R̂·H·R̂ᵀ
        double[] AP;      // (m, r) A·P for the step's target A
        double crossA;    // tr(L̂ᵀ·A·P) for the step's target A
        double lrNorm;    // tr(L̂ᵀL̂·R̂·H·R̂ᵀ) = ‖L̂R̂‖²_H

        @Override
        public void close() {
            if (L != null) L.close();
            if (R != null) R.close();
            if (P != null) P.close();
        }
    }

    /**
     * L·R step on A (m, n): closed-form H-weighted rank-r fit, then ALS rounds with quantised
     * factors when bl/br &lt; 16. closedForm, when not null, receives {L0, R0} (tests).
     */
    private static LowRankFit lowRankStep(DMatrix A, Metric S, CalderaConfig cfg, double[] Ht,
                                          String layer, int iter, List<String> log, Map<String, Double> seconds,
                                          double[][] closedForm) {
        int m = A.rows, n = A.cols, r = cfg.rank();
        long t = System.nanoTime();
        double[] sigma = new double[r];
        double[] L0, R0; // (m, r), (r, n): L = U_r·Σ^½, R = Σ^-½·U_rᵀ·A
        try (DMatrix Ur = topLeftSingular(A, S.S, r, cfg, iter, layer, sigma)) {
            double[] UtA = mulToArray(true, Ur, A, r, n, m); // (r, n)
            double[] U = Ur.toArray();
            L0 = new double[m * r];
            R0 = new double[r * n];
            int dropped = 0;
            for (int c = 0; c < r; c++) {
                boolean keep = sigma[c] > GRAM_RCOND * sigma[0] && sigma[0] > 0;
                if (!keep) dropped++;
                double sq = keep ? Math.sqrt(sigma[c]) : 0, isq = keep ? 1 / sq : 0;
                for (int i = 0; i < m; i++) L0[i * r + c] = U[i * r + c] * sq;
                for (int j = 0; j < n; j++) R0[c * n + j] = UtA[c * n + j] * isq;
            }
            if (dropped > 0)
                log.add(String.format("%s: iteration %d: %d of %d singular values of (W − Q)·H^½ are ~0; those factor columns are 0", layer, iter, dropped, r));
        }
        seconds.merge("svd", secondsSince(t), Double::sum);
        if (closedForm != null) {
            closedForm[0] = L0;
            closedForm[1] = R0;
        }

        t = System.nanoTime();
        LowRankFit best;
        if (cfg.bl() == 16 && cfg.br() == 16) {
            float[] L16 = LowRank.toFp16(toFloat(L0)), R16 = LowRank.toFp16(toFloat(R0));
            best = finish(A, S, L16, R16, null, null, L16, R16, cfg);
        } else {
            best = null;
            double bestErr = Double.POSITIVE_INFINITY;
            double[] K, AP; // for the current R: R·H·Rᵀ (r, r) and A·H·Rᵀ (m, r); a round's R̂ is the next round's R
            try (DMatrix Rd = DMatrix.of(R0, r, n); DMatrix P = S.hTimesT(Rd)) {
                K = sym(mulToArray(false, Rd, P, r, r, n));
                AP = mulToArray(false, A, P, m, r, n);
            }
            for (int round = 0; round < cfg.lrAlsIters(); round++) {
                // L given R: L = A·H·Rᵀ·(R·H·Rᵀ)⁻¹
                double[] Lls = matmul(AP, pinvSym(K, r, layer + " R·H·Rᵀ", log), m, r, r);
                float[] Lf = toFloat(Lls), L16 = null;
                QuantizedMatrix Lq = null;
                if (cfg.bl() == 16) L16 = LowRank.toFp16(Lf);
                else Lq = quantizeLdlq(Lf, m, r, K, cfg.bl(), LowRank.lGroup(r), cfg, layer + " L", log);
                float[] Lhat = L16 != null ? L16 : Lq.dequantize();
                // R given L̂: R = (L̂ᵀL̂)⁻¹·L̂ᵀ·A (the H-weighted optimum too, see the class comment)
                double[] Rls;
                try (DMatrix Ld = toD(Lhat, m, r)) {
                    double[] G = sym(mulToArray(true, Ld, Ld, r, r, m));
                    double[] LtA = mulToArray(true, Ld, A, r, n, m);
                    Rls = matmul(pinvSym(G, r, layer + " LᵀL", log), LtA, r, r, n);
                }
                float[] Rf = toFloat(Rls), R16 = null;
                QuantizedMatrix Rq = null;
                if (cfg.br() == 16) R16 = LowRank.toFp16(Rf);
                else if (cfg.rLdlq()) Rq = quantizeLdlq(Rf, r, n, Ht, cfg.br(), cfg.group(), cfg, layer + " R", log);
                else Rq = Rtn.quantize(Rf, r, n, QuantConfig.of(cfg.br(), cfg.group()));
                float[] Rhat = R16 != null ? R16 : Rq.dequantize();
                LowRankFit fit = finish(A, S, Lhat, Rhat, Lq, Rq, L16, R16, cfg);
                K = fit.K;
                AP = fit.AP;
                double err = -2 * fit.crossA + fit.lrNorm; // ‖A − L̂R̂‖²_H − ‖A‖²_H
                if (err < bestErr) {
                    if (best != null) best.close();
                    best = fit;
                    bestErr = err;
                } else {
                    fit.close();
                }
            }
        }
        seconds.merge("als", secondsSince(t), Double::sum);
        return best;
    }

    /** The L·R step's result for tests: the stored factors and the closed-form L0 (m, r), R0 (r, n) before rounding and ALS. */
    record LowRankStep(LowRank stored, double[] L0, double[] R0) {}

    /**
     * The L·R step alone on A (m, n) against H (n, n), as in the first outer iteration (Q = 0):
     * for tests of the closed form and the ALS rounds.
     */
    static LowRankStep fitLowRank(float[] A, int m, int n, double[] H, CalderaConfig cfg) {
        List<String> log = new ArrayList<>();
        Map<String, Double> seconds = new LinkedHashMap<>();
        try (Metric S = Metric.of(H, n, cfg.sqrtDamping(), "fitLowRank", log); DMatrix Ad = toD(A, m, n)) {
            double[][] closedForm = new double[2][];
            try (LowRankFit f = lowRankStep(Ad, S, cfg, H, "fitLowRank", 0, log, seconds, closedForm)) {
                return new LowRankStep(f.lr, closedForm[0], closedForm[1]);
            }
        }
    }

    /** Packs stored factors into a LowRankFit with P = H·R̂ᵀ, K, and the error terms for target A. */
    private static LowRankFit finish(DMatrix A, Metric S, float[] Lhat, float[] Rhat, QuantizedMatrix Lq,
                                     QuantizedMatrix Rq, float[] L16, float[] R16, CalderaConfig cfg) {
        int m = A.rows, n = A.cols, r = cfg.rank();
        LowRankFit f = new LowRankFit();
        f.lr = new LowRank(m, n, r, cfg.bl(), cfg.br(), L16, R16, Lq, Rq);
        f.Lh = toDouble(Lhat);
        f.L = DMatrix.of(f.Lh, m, r);
        f.R = toD(Rhat, r, n);
        f.P = S.hTimesT(f.R);
        f.K = sym(mulToArray(false, f.R, f.P, r, r, n));
        double[] G = sym(mulToArray(true, f.L, f.L, r, r, m));
        f.AP = mulToArray(false, A, f.P, m, r, n);
        f.crossA = dot(f.Lh, f.AP);
        f.lrNorm = 0;
        for (int i = 0; i < r * r; i++) f.lrNorm += G[i] * f.K[i]; // tr(G·K), both symmetric
        return f;
    }

    /** LDLQ (GPTQ) of X (rows, cols) against the Hessian Hx (cols, cols), bits/group as given. */
    private static QuantizedMatrix quantizeLdlq(float[] X, int rows, int cols, double[] Hx, int bits, int group, CalderaConfig cfg,
                                                String what, List<String> log) {
        QuantConfig qc = QuantConfig.of(bits, group).withDamping(cfg.percdamp(), cfg.maxDampEscalations());
        Gptq.Result g = Gptq.quantize(X, rows, cols, Hx, qc, what);
        if (g.dampEscalations() > 0) log.addAll(g.log());
        return g.Q();
    }

    /**
     * The top-r left singular vectors (m, r) of Y = A·S and their singular values (into sigma):
     * dgesdd of the formed Y, or a randomised range finder with power iterations on the implicit Y.
     * Any S with S·Sᵀ = H gives the same left singular vectors (those of A·H·Aᵀ) and values.
     */
    static DMatrix topLeftSingular(DMatrix A, DMatrix S, int r, CalderaConfig cfg, int iter, String layer, double[] sigma) {
        int m = A.rows, n = A.cols;
        boolean exact = cfg.svd() == CalderaConfig.SvdMode.EXACT
                || (cfg.svd() == CalderaConfig.SvdMode.AUTO && (long) m * n <= CalderaConfig.EXACT_SVD_MAX_ELEMENTS);
        if (exact) {
            Lapack.Svd s;
            try (DMatrix Y = DMatrix.zeros(m, n)) {
                Blas.dgemm(false, false, m, n, n, 1, A, 0, n, S, 0, n, 0, Y, 0, n);
                s = Lapack.svd(Y.toArray(), m, n);
            }
            int kk = Math.min(m, n);
            double[] U = new double[m * r];
            for (int i = 0; i < m; i++) System.arraycopy(s.U(), i * kk, U, i * r, r);
            System.arraycopy(s.s(), 0, sigma, 0, r);
            return DMatrix.of(U, m, r);
        }
        int k = Math.min(r + cfg.svdOversample(), Math.min(m, n));
        SplittableRandom rnd = new SplittableRandom(cfg.seed() * 0x9E3779B97F4A7C15L + layer.hashCode() * 31L + iter);
        double[] omega = new double[n * k];
        for (int i = 0; i < omega.length; i++) omega[i] = rnd.nextGaussian();
        try (DMatrix Om = DMatrix.of(omega, n, k); DMatrix T = DMatrix.zeros(n, k); DMatrix Z = DMatrix.zeros(n, k);
             DMatrix Qm = DMatrix.zeros(m, k)) {
            // Qm = orth(Y·Ω) = orth(A·(S·Ω))
            Blas.dgemm(false, false, n, k, n, 1, S, 0, n, Om, 0, k, 0, T, 0, k);
            Blas.dgemm(false, false, m, k, n, 1, A, 0, n, T, 0, k, 0, Qm, 0, k);
            Lapack.orthonormalizeColumns(Qm);
            for (int it = 0; it < cfg.svdPowerIters(); it++) {
                yT(A, S, Qm, Z, T);                    // T = Yᵀ·Qm (n, k)
                Lapack.orthonormalizeColumns(T);
                Blas.dgemm(false, false, n, k, n, 1, S, 0, n, T, 0, k, 0, Z, 0, k); // Qm = orth(Y·T) = orth(A·(S·T))
                Blas.dgemm(false, false, m, k, n, 1, A, 0, n, Z, 0, k, 0, Qm, 0, k);
                Lapack.orthonormalizeColumns(Qm);
            }
            yT(A, S, Qm, Z, T);                        // T = Bᵀ = Yᵀ·Qm, B = Qmᵀ·Y (k, n)
            double[] M = sym(mulToArray(true, T, T, k, k, n)); // B·Bᵀ (k, k)
            Lapack.Eigen e = Lapack.symmetricEigen(M, k);
            double[] Wr = new double[k * r];           // (k, r) top-r eigenvectors as columns
            for (int c = 0; c < r; c++) {
                int src = k - 1 - c;
                sigma[c] = Math.sqrt(Math.max(0, e.values()[src]));
                for (int i = 0; i < k; i++) Wr[i * r + c] = e.vectors()[src * k + i];
            }
            try (DMatrix Wd = DMatrix.of(Wr, k, r)) {
                DMatrix Ur = DMatrix.zeros(m, r);
                Blas.dgemm(false, false, m, r, k, 1, Qm, 0, k, Wd, 0, r, 0, Ur, 0, r);
                return Ur;
            }
        }
    }

    /** T = Yᵀ·Qm = Sᵀ·Aᵀ·Qm (n, k); Z is scratch (n, k). */
    private static void yT(DMatrix A, DMatrix S, DMatrix Qm, DMatrix Z, DMatrix T) {
        int m = A.rows, n = A.cols, k = Qm.cols;
        Blas.dgemm(true, false, n, k, m, 1, A, 0, n, Qm, 0, k, 0, Z, 0, k);
        Blas.dgemm(true, false, n, k, n, 1, S, 0, n, Z, 0, k, 0, T, 0, k);
    }

    // ---- the metric H through its Cholesky factor ------------------------------------------------------

    /**
     * H + δ·I = S·Sᵀ with S (n, n) lower triangular (strict upper triangle zero) in native memory,
     * δ = sqrtDamping·mean(diag H), escalated ×10 (logged) while Cholesky fails.
     *
     * <p>Why a Cholesky factor and not H^½ from an eigen-decomposition: the L·R step needs only the
     * left singular vectors of A·S, which are those of A·S·Sᵀ·Aᵀ = A·H·Aᵀ for ANY S with S·Sᵀ = H,
     * and dpotrf costs n³/3 flops of BLAS-3 against dsyevd's ~9n³, half of them memory-bound BLAS-2
     * (measured at 1152 × 4224: 51 s for dsyevd). δ only makes a singular H factorable; its effect
     * on the fit is δ·‖Δ‖²_F, and every product with H subtracts it back out (H·X = S·Sᵀ·X − δ·X).
     */
    static final class Metric implements AutoCloseable {
        /** Escalations of δ (×10 each) before giving up on the factorisation and using the identity metric. */
        static final int MAX_ESCALATIONS = 10;

        final DMatrix S;          // (n, n) lower triangular: H + δ·I = S·Sᵀ (the identity in fallback mode)
        final double delta;
        private final double[] H; // (n, n) the caller's H, kept only in fallback mode (S = I), else null

        private Metric(DMatrix S, double delta, double[] H) {
            this.S = S;
            this.delta = delta;
            this.H = H;
        }

        static Metric of(double[] H, int n, double damping, String layer, List<String> log) {
            double mean = 0;
            for (int i = 0; i < n; i++) mean += H[i * n + i];
            mean /= n;
            DMatrix S = DMatrix.of(H, n, n);
            if (mean > 0) {
                double delta = damping * mean;
                for (int e = 0; e <= MAX_ESCALATIONS; e++) {
                    for (int i = 0; i < n; i++) S.set(i, i, H[i * n + i] + delta);
                    int info = Lapack.cholesky(S);
                    if (info == 0) {
                        zeroStrictUpper(S);
                        if (e > 0) log.add(String.format("%s: Cholesky of H + δ·I needed δ = %.3g·mean(diag H)", layer, delta / mean));
                        return new Metric(S, delta, null);
                    }
                    reload(S, H, n);
                    delta = delta > 0 ? delta * 10 : 1e-12 * mean;
                }
            }
            log.add(layer + ": H is zero or cannot be factored even with damping: the L·R fit uses the identity metric");
            for (int i = 0; i < n; i++) {
                double[] row = new double[n];
                row[i] = 1;
                S.setRow(i, 0, row, 0, n);
            }
            return new Metric(S, 0, H);
        }

        /** H·Xᵀ (n, c) for X (c, n): S·(Sᵀ·Xᵀ) − δ·Xᵀ, i.e. H itself. */
        DMatrix hTimesT(DMatrix X) {
            int n = S.rows, c = X.rows;
            DMatrix P = DMatrix.zeros(n, c);
            if (H != null) { // fallback: the true H (the identity was only the fit's metric)
                try (DMatrix Hd = DMatrix.of(H, n, n)) {
                    Blas.dgemm(false, true, n, c, n, 1, Hd, 0, n, X, 0, n, 0, P, 0, c);
                }
                return P;
            }
            try (DMatrix T = DMatrix.zeros(n, c)) {
                Blas.dgemm(true, true, n, c, n, 1, S, 0, n, X, 0, n, 0, T, 0, c);
                Blas.dgemm(false, false, n, c, n, 1, S, 0, n, T, 0, c, 0, P, 0, c);
            }
            if (delta != 0) {
                double[] p = new double[c], x = new double[n];
                for (int i = 0; i < c; i++) { // P[:, i] −= δ·X[i, :]ᵀ
                    X.getRow(i, 0, x, 0, n);
                    for (int j = 0; j < n; j++) P.set(j, i, P.get(j, i) - delta * x[j]);
                }
            }
            return P;
        }

        /** ‖A‖²_H = tr(A·H·Aᵀ) = ‖A·S‖²_F − δ·‖A‖²_F, in row chunks. O(m·n²). */
        double hNorm2(DMatrix A) {
            int m = A.rows, n = A.cols, c = (int) Math.max(1, Math.min(m, CHUNK_DOUBLES / Math.max(1, n)));
            double sum = 0;
            double[] row = new double[n];
            if (H != null) {
                double[] hx = new double[n];
                for (int i = 0; i < m; i++) {
                    A.getRow(i, 0, row, 0, n);
                    for (int p = 0; p < n; p++) {
                        double v = 0;
                        for (int q = 0; q < n; q++) v += H[p * n + q] * row[q];
                        hx[p] = v;
                    }
                    for (int p = 0; p < n; p++) sum += row[p] * hx[p];
                }
                return sum;
            }
            try (DMatrix T = DMatrix.zeros(c, n)) {
                for (int r0 = 0; r0 < m; r0 += c) {
                    int rr = Math.min(c, m - r0);
                    Blas.dgemm(false, false, rr, n, n, 1, A, (long) r0 * n, n, S, 0, n, 0, T, 0, n);
                    for (int i = 0; i < rr; i++) {
                        T.getRow(i, 0, row, 0, n);
                        for (int j = 0; j < n; j++) sum += row[j] * row[j];
                        A.getRow(r0 + i, 0, row, 0, n);
                        for (int j = 0; j < n; j++) sum -= delta * row[j] * row[j];
                    }
                }
            }
            return sum;
        }

        private static void zeroStrictUpper(DMatrix S) {
            int n = S.rows;
            IntStream.range(0, n).parallel().forEach(i -> {
                if (i + 1 < n) S.setRow(i, i + 1, new double[n - i - 1], 0, n - i - 1);
            });
        }

        private static void reload(DMatrix S, double[] H, int n) {
            for (int i = 0; i < n; i++) S.setRow(i, 0, H, i * n, n);
        }

        @Override
        public void close() {
            S.close();
        }
    }

    /** ‖W − Q̂ − L̂R̂‖²_H directly (fallback when GPTQ's ratio is not usable). */
    private static double directError(DMatrix Wd, float[] Qf, LowRankFit fit, Metric S) {
        int m = Wd.rows, n = Wd.cols, r = fit.lr.rank();
        try (DMatrix D = DMatrix.zeros(m, n)) {
            Blas.dgemm(false, false, m, n, r, -1, fit.L, 0, r, fit.R, 0, n, 0, D, 0, n);
            double[] d = new double[n], w = new double[n];
            for (int i = 0; i < m; i++) {
                D.getRow(i, 0, d, 0, n);
                Wd.getRow(i, 0, w, 0, n);
                for (int j = 0; j < n; j++) d[j] += w[j] - Qf[i * n + j];
                D.setRow(i, 0, d, 0, n);
            }
            return S.hNorm2(D);
        }
    }

    /** H_Q = H − P·K⁺·Pᵀ (n, n) with P = H·R̂ᵀ: the Hessian downdate (see the class comment). */
    static double[] downdate(double[] H, int n, DMatrix P, double[] Kinv, int r) {
        double[] HQ = H.clone();
        int block = Math.max(1, Math.min(n, (int) (CHUNK_DOUBLES / n)));
        try (DMatrix Kd = DMatrix.of(Kinv, r, r); DMatrix PK = DMatrix.zeros(n, r); DMatrix D = DMatrix.zeros(block, n)) {
            Blas.dgemm(false, false, n, r, r, 1, P, 0, r, Kd, 0, r, 0, PK, 0, r);
            double[] row = new double[n];
            for (int i0 = 0; i0 < n; i0 += block) {
                int b = Math.min(block, n - i0);
                Blas.dgemm(false, true, b, n, r, 1, PK, (long) i0 * r, r, P, 0, r, 0, D, 0, n);
                for (int i = 0; i < b; i++) {
                    D.getRow(i, 0, row, 0, n);
                    int o = (i0 + i) * n;
                    for (int j = 0; j < n; j++) HQ[o + j] -= row[j];
                }
            }
        }
        // H_Q ⪰ 0 in exact arithmetic; keep rounding from turning a live input into a "dead" one
        // (GPTQ zeroes columns with H[i,i] = 0). Dead inputs (H[i,i] = 0) stay dead: their row of P is 0.
        for (int i = 0; i < n; i++) {
            double floor = 1e-12 * H[i * n + i];
            if (H[i * n + i] == 0) { // dead: exactly, whatever rounding S·Sᵀ·R̂ᵀ − δ·R̂ᵀ left in P
                for (int j = 0; j < n; j++) HQ[i * n + j] = HQ[j * n + i] = 0;
            } else if (!(HQ[i * n + i] > floor)) {
                HQ[i * n + i] = floor;
            }
        }
        return HQ;
    }

    // ---- incoherence ------------------------------------------------------------------------------

    private static byte[] signs(SplittableRandom rnd, int n) {
        byte[] s = new byte[n];
        for (int i = 0; i < n; i++) s[i] = (byte) (rnd.nextBoolean() ? 1 : -1);
        return s;
    }

    /** W̃ = U·W·Vᵀ (dOutPad, dInPad) in float64, W zero-padded. */
    static double[] rotateWeight(float[] W, Incoherence inc) {
        int dOut = inc.dOut(), dIn = inc.dIn(), mP = inc.dOutPad(), nP = inc.dInPad();
        double[] M = new double[mP * nP];
        for (int o = 0; o < dOut; o++)
            for (int i = 0; i < dIn; i++) M[o * nP + i] = W[o * dIn + i] * inc.su()[i];
        Hadamard.transformRows(M, mP, nP);           // row w ↦ V·w = Hn·(su ⊙ w): M = W·Vᵀ
        double[] T = transpose(M, mP, nP);            // (nP, mP): columns of W·Vᵀ
        for (int j = 0; j < nP; j++)
            for (int o = 0; o < mP; o++) T[j * mP + o] *= inc.sv()[o];
        Hadamard.transformRows(T, nP, mP);           // column c ↦ U·c = Hn·(sv ⊙ c)
        return transpose(T, nP, mP);
    }

    /** H̃ = V·H·Vᵀ (dInPad, dInPad), H zero-padded, symmetrised. */
    static double[] rotateHessian(double[] H, Incoherence inc) {
        int n = inc.dIn(), nP = inc.dInPad();
        byte[] su = inc.su();
        double[] M = new double[nP * nP];
        for (int i = 0; i < n; i++)
            for (int j = 0; j < n; j++) M[i * nP + j] = H[i * n + j] * su[j];
        Hadamard.transformRows(M, nP, nP);           // M = H·Vᵀ
        transposeInPlace(M, nP);                      // M = V·H
        for (int i = 0; i < nP; i++)
            for (int j = 0; j < nP; j++) M[i * nP + j] *= su[j];
        Hadamard.transformRows(M, nP, nP);           // M = V·H·Vᵀ
        for (int i = 0; i < nP; i++)
            for (int j = 0; j < i; j++) {
                double s = 0.5 * (M[i * nP + j] + M[j * nP + i]);
                M[i * nP + j] = s;
                M[j * nP + i] = s;
            }
        return M;
    }

    /** W = Uᵀ·X·V cropped to (dOut, dIn), for X (dOutPad, dInPad) in the rotated basis. */
    static float[] unrotate(double[] X, Incoherence inc) {
        int dOut = inc.dOut(), dIn = inc.dIn(), mP = inc.dOutPad(), nP = inc.dInPad();
        double[] M = X.clone();
        Hadamard.transformRows(M, mP, nP);           // row x ↦ Hn·x …
        for (int o = 0; o < mP; o++)
            for (int i = 0; i < nP; i++) M[o * nP + i] *= inc.su()[i]; // … ⊙ su = Vᵀ·x: M = X·V
        double[] T = transpose(M, mP, nP);
        Hadamard.transformRows(T, nP, mP);           // column c ↦ sv ⊙ (Hn·c) = Uᵀ·c
        float[] W = new float[dOut * dIn];
        for (int o = 0; o < dOut; o++)
            for (int i = 0; i < dIn; i++) W[o * dIn + i] = (float) (T[i * mP + o] * inc.sv()[o]);
        return W;
    }

    /** Q̂ + L̂·R̂ in the original basis, (dOut, dIn): the weight the compressed layer represents. */
    static float[] denseWeight(QuantizedMatrix Q, LowRank lr, Incoherence inc) {
        int m = Q.dOut(), n = Q.dIn();
        float[] Qf = Q.dequantize();
        if (inc == null) {
            float[] LR = lr.product();
            for (int i = 0; i < Qf.length; i++) Qf[i] += LR[i];
            return Qf;
        }
        double[] X = new double[m * n];
        try (DMatrix L = toD(lr.L(), m, lr.rank()); DMatrix R = toD(lr.R(), lr.rank(), n); DMatrix LR = DMatrix.zeros(m, n)) {
            Blas.dgemm(false, false, m, n, lr.rank(), 1, L, 0, lr.rank(), R, 0, n, 0, LR, 0, n);
            double[] row = new double[n];
            for (int i = 0; i < m; i++) {
                LR.getRow(i, 0, row, 0, n);
                for (int j = 0; j < n; j++) X[i * n + j] = row[j] + Qf[i * n + j];
            }
        }
        return unrotate(X, inc);
    }

    // ---- small dense helpers -----------------------------------------------------------------------

    /** Moore–Penrose pseudo-inverse of a symmetric PSD (r, r) matrix via its eigen-decomposition; eigenvalues ≤ GRAM_RCOND·max are dropped (logged). */
    static double[] pinvSym(double[] K, int r, String what, List<String> log) {
        Lapack.Eigen e = Lapack.symmetricEigen(K, r);
        double mu = r == 0 ? 0 : Math.max(Math.abs(e.values()[r - 1]), Math.abs(e.values()[0]));
        double[] inv = new double[r * r];
        int dropped = 0;
        for (int k = 0; k < r; k++) {
            double v = e.values()[k];
            if (!(v > GRAM_RCOND * mu)) {
                dropped++;
                continue;
            }
            double iv = 1 / v;
            for (int i = 0; i < r; i++) {
                double a = e.vectors()[k * r + i] * iv;
                if (a == 0) continue;
                for (int j = 0; j < r; j++) inv[i * r + j] += a * e.vectors()[k * r + j];
            }
        }
        if (dropped > 0) log.add(String.format("%s: %d of %d eigenvalues ≤ %.0e·max, pseudo-inverse", what, dropped, r, GRAM_RCOND));
        return inv;
    }

    /** Symmetrises a square matrix in place (rounding of products that are symmetric in exact arithmetic). */
    private static double[] sym(double[] c) {
        int r = (int) Math.round(Math.sqrt(c.length));
        for (int i = 0; i < r; i++)
            for (int j = 0; j < i; j++) c[i * r + j] = c[j * r + i] = 0.5 * (c[i * r + j] + c[j * r + i]);
        return c;
    }

    /** op(X)·Y as a heap array (m, n): X (m, k) or, transposed, X (k, m); Y (k, n). */
    private static double[] mulToArray(boolean transX, DMatrix X, DMatrix Y, int m, int n, int k) {
        try (DMatrix C = DMatrix.zeros(m, n)) {
            Blas.dgemm(transX, false, m, n, k, 1, X, 0, X.cols, Y, 0, Y.cols, 0, C, 0, n);
            return C.toArray();
        }
    }

    /** A (m, k) · B (k, n) on heap arrays through dgemm. */
    private static double[] matmul(double[] A, double[] B, int m, int k, int n) {
        try (DMatrix a = DMatrix.of(A, m, k); DMatrix b = DMatrix.of(B, k, n)) {
            return mulToArray(false, a, b, m, n, k);
        }
    }

    /** Σ X_ij·Y_ij = tr(Xᵀ·Y). */
    private static double dot(double[] X, double[] Y) {
        double s = 0;
        for (int i = 0; i < X.length; i++) s += X[i] * Y[i];
        return s;
    }

    /** tr(X·K·Xᵀ) for X (m, r), K (r, r). */
    private static double quadForm(double[] X, double[] K, int m, int r) {
        return dot(X, matmul(X, K, m, r, r));
    }

    private static void copy(DMatrix from, DMatrix to) {
        double[] row = new double[from.cols];
        for (int i = 0; i < from.rows; i++) {
            from.getRow(i, 0, row, 0, from.cols);
            to.setRow(i, 0, row, 0, from.cols);
        }
    }

    static DMatrix toD(float[] a, int rows, int cols) {
        DMatrix M = DMatrix.zeros(rows, cols);
        double[] row = new double[cols];
        for (int i = 0; i < rows; i++) {
            for (int j = 0; j < cols; j++) row[j] = a[i * cols + j];
            M.setRow(i, 0, row, 0, cols);
        }
        return M;
    }

    private static float[] toFloat(double[] a) {
        float[] f = new float[a.length];
        for (int i = 0; i < a.length; i++) f[i] = (float) a[i];
        return f;
    }

    private static double[] toDouble(float[] a) {
        double[] d = new double[a.length];
        for (int i = 0; i < a.length; i++) d[i] = a[i];
        return d;
    }

    static double[] transpose(double[] A, int rows, int cols) {
        double[] T = new double[rows * cols];
        final int B = 64;
        IntStream.range(0, (rows + B - 1) / B).parallel().forEach(bi -> {
            for (int j0 = 0; j0 < cols; j0 += B)
                for (int i = bi * B; i < Math.min(rows, bi * B + B); i++)
                    for (int j = j0; j < Math.min(cols, j0 + B); j++) T[j * rows + i] = A[i * cols + j];
        });
        return T;
    }

    private static void transposeInPlace(double[] A, int n) {
        final int B = 64;
        IntStream.range(0, (n + B - 1) / B).parallel().forEach(bi -> {
            for (int j0 = 0; j0 <= bi * B; j0 += B)
                for (int i = bi * B; i < Math.min(n, bi * B + B); i++)
                    for (int j = j0; j < Math.min(i, j0 + B); j++) {
                        double t = A[i * n + j];
                        A[i * n + j] = A[j * n + i];
                        A[j * n + i] = t;
                    }
        });
    }

    /** Runs body(i0, i1) over blocks of 64 rows of [0, rows) in parallel (one scratch row per block, not per row). */
    private static void rowBlocks(int rows, java.util.function.BiConsumer<Integer, Integer> body) {
        final int B = 64;
        IntStream.range(0, (rows + B - 1) / B).parallel().forEach(b -> body.accept(b * B, Math.min(rows, (b + 1) * B)));
    }

    private static double rel(double e, double tW) {
        return tW > 0 ? e / tW : e == 0 ? 0 : Double.POSITIVE_INFINITY;
    }

    private static double secondsSince(long t0) {
        return (System.nanoTime() - t0) * 1e-9;
    }

    private static void checkInputs(float[] W, int dOut, int dIn, double[] H, String layer) {
        if (dOut < 1 || dIn < 1 || W.length != (long) dOut * dIn)
            throw new IllegalArgumentException("Caldera " + layer + ": W has " + W.length + " elements, expected (dOut, dIn) = ("
                    + dOut + ", " + dIn + ")");
        if (H.length != (long) dIn * dIn)
            throw new IllegalArgumentException("Caldera " + layer + ": H has " + H.length + " elements, expected (dIn, dIn) = ("
                    + dIn + ", " + dIn + ")");
        for (int i = 0; i < W.length; i++)
            if (!Float.isFinite(W[i]))
                throw new IllegalArgumentException("Caldera " + layer + ": W[" + i / dIn + ", " + i % dIn + "] = " + W[i]
                        + "; the weights must be finite");
        for (int i = 0; i < H.length; i++)
            if (!Double.isFinite(H[i]))
                throw new IllegalArgumentException("Caldera " + layer + ": H[" + i / dIn + ", " + i % dIn + "] = " + H[i]
                        + "; the Hessian must be finite (check the calibration activations)");
        for (int i = 0; i < dIn; i++)
            if (H[i * dIn + i] < 0)
                throw new IllegalArgumentException("Caldera " + layer + ": H[" + i + ", " + i + "] = " + H[i * dIn + i]
                        + " < 0; a Hessian XᵀX/n has a non-negative diagonal (check its accumulation)");
    }
}
