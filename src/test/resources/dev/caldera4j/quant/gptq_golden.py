"""Writes gptq_golden.bin: GPTQ codes from an independent numpy port of IST-DASLab/gptq's
fasterquant (float64), for GptqGoldenTest. Regenerate with `python3 gptq_golden.py` in this folder
(numpy only; seeded, so the file is reproducible).

Follows the reference's loop (dead columns, damping 0.01·mean(diag H), Hinv = upper Cholesky of
H⁻¹, lazy block updates of 128 columns, act-order with static groups) with caldera4j's grid:
scale and zero rounded to fp16 before codes are chosen, symmetric = absmax with zero 2^(bits−1).
Without act-order, group grids are fitted on the error-updated weights when quantisation reaches
the group (the reference reads block-start values there; caldera4j deliberately does not).

File layout, little-endian: int32 dOut, dIn, nConfigs; float32 W (dOut, dIn); float64 H (dIn, dIn);
then per config int32 bits, group (-1 = per channel), act_order (0/1), symmetric (0/1) and
uint8 codes (dOut, dIn) in original column order.
"""
import numpy as np

dOut, dIn, rows = 16, 128, 512
rng = np.random.default_rng(20261128)
W0 = (0.02 * rng.standard_normal((dOut, dIn))).astype(np.float32)
scale = np.exp(0.8 * rng.standard_normal(dIn)); scale[[3, 50]] *= 20
A = 0.7 * rng.standard_normal((4, dIn))
X = (rng.standard_normal((rows, dIn)) + rng.standard_normal((rows, 4)) @ A) * scale
X[:, 9] = 0  # a dead input
X = X.astype(np.float32).astype(np.float64)
H0 = X.T @ X / rows


def fit(x, bits, sym):
    maxq = 2 ** bits - 1
    xmin = np.minimum(x.min(1), 0); xmax = np.maximum(x.max(1), 0)
    if sym:
        amax = np.maximum(-xmin, xmax); amax[amax == 0] = 1
        s = 2 * amax / maxq
    else:
        both = (xmin == 0) & (xmax == 0); xmin[both] = -1; xmax[both] = 1
        s = (xmax - xmin) / maxq
    s = np.clip(s.astype(np.float32).astype(np.float16).astype(np.float32), np.float32(2.0 ** -24), np.float32(65504))
    z = np.full_like(s, (maxq + 1) / 2) if sym else np.clip(np.rint(-xmin / s.astype(np.float64)), 0, maxq).astype(np.float32)
    return s, z


def gptq(bits, group, act, sym, blocksize=128):
    W = W0.astype(np.float64); H = H0.copy(); n = dIn; maxq = 2 ** bits - 1
    dead = np.diag(H) == 0; H[dead, dead] = 1; W[:, dead] = 0
    g = n if group <= 0 else group
    static = act or g == n
    groups = [fit(W[:, i:i + g], bits, sym) for i in range(0, n, g)] if static else None
    perm = np.argsort(-np.diag(H), kind='stable') if act else np.arange(n)
    W = W[:, perm]; H = H[perm][:, perm]
    H[np.arange(n), np.arange(n)] += 0.01 * np.mean(np.diag(H))
    Linv = np.linalg.inv(np.linalg.cholesky(H))
    Hinv = np.linalg.cholesky(Linv.T @ Linv).T
    Q = np.zeros((dOut, n), dtype=np.uint8)
    for i1 in range(0, n, blocksize):
        i2 = min(i1 + blocksize, n)
        W1 = W[:, i1:i2].copy(); Err1 = np.zeros_like(W1); Hinv1 = Hinv[i1:i2, i1:i2]
        for i in range(i2 - i1):
            k = i1 + i
            if static:
                s, z = groups[perm[k] // g]
            elif k % g == 0:
                s, z = fit(np.concatenate([W1[:, i:], W[:, i2:]], axis=1)[:, :g], bits, sym)
            w = W1[:, i]
            q = np.clip(np.rint(w / s.astype(np.float64)) + z, 0, maxq)
            deq = ((q.astype(np.float32) - z) * s).astype(np.float64)
            Q[:, perm[k]] = q
            err = (w - deq) / Hinv1[i, i]
            W1[:, i:] -= np.outer(err, Hinv1[i, i:])
            Err1[:, i] = err
        W[:, i2:] -= Err1 @ Hinv[i1:i2, i2:]
    return Q


configs = [(b, g, a, s) for b in (2, 3, 4) for g in (-1, 32) for a in (0, 1) for s in (0, 1)]
with open('gptq_golden.bin', 'wb') as f:
    f.write(np.array([dOut, dIn, len(configs)], '<i4').tobytes())
    f.write(W0.astype('<f4').tobytes()); f.write(H0.astype('<f8').tobytes())
    for b, g, a, s in configs:
        f.write(np.array([b, g, a, s], '<i4').tobytes())
        f.write(gptq(b, g, bool(a), bool(s)).tobytes())
