// caldera4j — the decode engine's kernels around the linears (dev.caldera4j.gpu.Engine):
// embedding, RMSNorm with the residual add, bias + RoPE + KV-cache write, attention over the
// fp16 KV cache (grouped-query heads read in place: query head h reads KV head h / (nH / nKV),
// nothing is expanded), SwiGLU, the fp32-output lm_head GEMVs (fp16 and 4-bit format v1) and
// greedy argmax. The linears themselves are qlr.cu's fused Q + L·R kernels (or its fp16 ones).
//
// Numerics: the residual stream is fp32 (T, H); every linear reads fp16 activations and writes
// fp16; norms, softmax and RoPE compute in fp32; logits are fp32. Each kernel has a plain-Java
// twin in dev.caldera4j.gpu.EngineTwins, and the engine as a whole is checked against the CPU
// reference (Qwen2Model) by EngineParity.
//
// Positions come from device memory: state[0] = position of the first token of this step
// (= tokens already in the KV cache), state[1] = the next input token (decode), state[2] = tokens
// generated so far. So one captured CUDA graph of a decode step is replayed for every token:
// eng_argmax writes the next token and advances the position at the end of the step.
//
// KV cache of one layer: K and V each (nKV, maxCtx, hd) fp16, a head's positions contiguous.

#include <cuda_fp16.h>
#include <stdint.h>

#define FULL 0xffffffffu
#define ATT_MIN_CHUNK 32

__device__ __forceinline__ float warp_sum(float v) {
    for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(FULL, v, o);
    return v;
}

__device__ __forceinline__ float warp_max(float v) {
    for (int o = 16; o > 0; o >>= 1) v = fmaxf(v, __shfl_xor_sync(FULL, v, o));
    return v;
}

// Sum (or max) over a block of up to 1024 threads; red holds 32 floats. Every thread gets the result.
template <bool MAX>
__device__ float block_reduce(float v, float* red) {
    int lane = threadIdx.x & 31, w = threadIdx.x >> 5, nw = (blockDim.x + 31) >> 5;
    v = MAX ? warp_max(v) : warp_sum(v);
    __syncthreads();
    if (lane == 0) red[w] = v;
    __syncthreads();
    float s = lane < nw ? red[lane] : (MAX ? -INFINITY : 0.f);
    return MAX ? warp_max(s) : warp_sum(s);
}

__device__ float block_sum(float v, float* red) { return block_reduce<false>(v, red); }

__device__ float block_max(float v, float* red) { return block_reduce<true>(v, red); }

// h (T, H) fp32 = emb[tok[t]] (fp16 rows). grid (T); the host-embedding mode passes its gathered
// rows as emb and tok = 0, 1, …, T−1.
extern "C" __global__ void eng_embed(float* __restrict__ h, const __half* __restrict__ emb,
                                     const int* __restrict__ tok, int H, int vocab) {
    int t = blockIdx.x;
    int id = tok[t];
    if (id < 0 || id >= vocab) id = 0;  // never read outside the table (the host checks ids it stages)
    const __half* row = emb + (size_t)id * H;
    for (int i = threadIdx.x; i < H; i += blockDim.x) h[(size_t)t * H + i] = __half2float(row[i]);
}

// h (T, H) += delta (T, H) fp16 when delta != null; xn (T, H) fp16 = h·rsqrt(mean(h²)+eps)·w.
// grid (T), 1024 threads (one row per block: at decode the whole step waits on this one block, so
// it must be latency-short: many threads, each with a few independent loads). w (H) fp16.
extern "C" __global__ void eng_add_rmsnorm(float* __restrict__ h, const __half* __restrict__ delta,
                                           const __half* __restrict__ w, __half* __restrict__ xn,
                                           int H, float eps) {
    __shared__ float red[32];
    size_t o = (size_t)blockIdx.x * H;
    float ss = 0.f;
#pragma unroll 4
    for (int i = threadIdx.x; i < H; i += blockDim.x) {
        float v = h[o + i];
        if (delta) { v += __half2float(delta[o + i]); h[o + i] = v; }
        ss += v * v;
    }
    ss = block_sum(ss, red);
    float inv = rsqrtf(ss / H + eps);
    for (int i = threadIdx.x; i < H; i += blockDim.x) xn[o + i] = __float2half(__half2float(w[i]) * (h[o + i] * inv));
}

// q (T, nH·hd), k/v (T, nKV·hd) fp16 linear outputs without bias. Adds the biases (fp16, may be
// null), rotates q and k (rotate-half RoPE at position state[0] + t with invFreq (hd/2) fp32),
// writes q back in place and k, v into the layer's cache at that position.
// grid (T, nH + nKV), hd/2 threads.
extern "C" __global__ void eng_qkv_rope(__half* __restrict__ q, const __half* __restrict__ k,
                                        const __half* __restrict__ v, const __half* __restrict__ bq,
                                        const __half* __restrict__ bk, const __half* __restrict__ bv,
                                        __half* __restrict__ kc, __half* __restrict__ vc,
                                        const float* __restrict__ invFreq, const int* __restrict__ state,
                                        int nH, int nKV, int hd, int maxCtx) {
    int t = blockIdx.x, head = blockIdx.y, i = threadIdx.x, half = hd >> 1;
    int pos = state[0] + t;
    float angle = (float)pos * invFreq[i];
    float c, s;
    sincosf(angle, &s, &c);
    if (head < nH) {
        __half* row = q + ((size_t)t * nH + head) * hd;
        const __half* b = bq ? bq + head * hd : nullptr;
        float x1 = __half2float(row[i]) + (b ? __half2float(b[i]) : 0.f);
        float x2 = __half2float(row[i + half]) + (b ? __half2float(b[i + half]) : 0.f);
        row[i] = __float2half(x1 * c - x2 * s);
        row[i + half] = __float2half(x2 * c + x1 * s);
    } else {
        int g = head - nH;
        const __half* krow = k + ((size_t)t * nKV + g) * hd;
        const __half* vrow = v + ((size_t)t * nKV + g) * hd;
        const __half* b = bk ? bk + g * hd : nullptr;
        const __half* b2 = bv ? bv + g * hd : nullptr;
        float x1 = __half2float(krow[i]) + (b ? __half2float(b[i]) : 0.f);
        float x2 = __half2float(krow[i + half]) + (b ? __half2float(b[i + half]) : 0.f);
        size_t at = ((size_t)g * maxCtx + pos) * hd;
        kc[at + i] = __float2half(x1 * c - x2 * s);
        kc[at + i + half] = __float2half(x2 * c + x1 * s);
        vc[at + i] = __float2half(__half2float(vrow[i]) + (b2 ? __half2float(b2[i]) : 0.f));
        vc[at + i + half] = __float2half(__half2float(vrow[i + half]) + (b2 ? __half2float(b2[i + half]) : 0.f));
    }
}

// Split-context attention, part 1. Query t of head h sees positions 0 … ctx−1 with
// ctx = state[0] + t + 1 (causal); split s of S takes positions [s·chunk, min(ctx, (s+1)·chunk))
// with chunk = max(ATT_MIN_CHUNK, ⌈ctx/S⌉) (computed here, so a captured decode graph serves every
// position; the minimum keeps short contexts in a few splits — the rest are empty and cheap).
// part (T, nH, S, hd + 2) fp32: the unnormalised Σ p·v, then the max m and Σ p of the split.
// grid (nH, T, S), 128 threads; dynamic smem: (hd + chunkMax) floats, chunkMax = max(ATT_MIN_CHUNK, ⌈maxCtx/S⌉).
extern "C" __global__ void eng_attn_partial(const __half* __restrict__ q, const __half* __restrict__ kc,
                                            const __half* __restrict__ vc, float* __restrict__ part,
                                            const int* __restrict__ state, int nH, int nKV, int hd,
                                            int maxCtx, float scale) {
    extern __shared__ float sm[];
    __shared__ float red[32];
    int h = blockIdx.x, t = blockIdx.y, s = blockIdx.z, S = gridDim.z;
    int g = h / (nH / nKV);
    int ctx = state[0] + t + 1;
    int chunk = max(ATT_MIN_CHUNK, (ctx + S - 1) / S);
    int j0 = s * chunk, j1 = min(ctx, j0 + chunk);
    float* out = part + (((size_t)t * nH + h) * S + s) * (hd + 2);
    if (j0 >= j1) {  // an empty split (short context): mark it so and leave
        if (threadIdx.x == 0) { out[hd] = -INFINITY; out[hd + 1] = 0.f; }
        return;
    }
    float* qs = sm;           // (hd)
    float* p = sm + hd;       // (chunk)
    const __half* qrow = q + ((size_t)t * nH + h) * hd;
    for (int d = threadIdx.x; d < hd; d += blockDim.x) qs[d] = __half2float(qrow[d]) * scale;
    __syncthreads();
    const __half* K = kc + (size_t)g * maxCtx * hd;
    const __half* V = vc + (size_t)g * maxCtx * hd;
    int lane = threadIdx.x & 31, warp = threadIdx.x >> 5, nw = blockDim.x >> 5;
    float mloc = -INFINITY;
    for (int j = j0 + warp; j < j1; j += nw) {
        const __half2* kr = reinterpret_cast<const __half2*>(K + (size_t)j * hd);
        float a = 0.f;
        for (int d2 = lane; d2 < hd / 2; d2 += 32) {
            float2 kv = __half22float2(kr[d2]);
            a += qs[2 * d2] * kv.x + qs[2 * d2 + 1] * kv.y;
        }
        a = warp_sum(a);
        if (lane == 0) p[j - j0] = a;
        mloc = fmaxf(mloc, a);
    }
    float m = block_max(mloc, red);  // syncs: p is complete
    float lsum = 0.f;
    for (int j = threadIdx.x; j < j1 - j0; j += blockDim.x) {
        float e = __expf(p[j] - m);
        p[j] = e;
        lsum += e;
    }
    float l = block_sum(lsum, red);  // syncs: p holds the weights
    for (int d = threadIdx.x; d < hd; d += blockDim.x) {
        float acc = 0.f;
        for (int j = j0; j < j1; j++) acc += p[j - j0] * __half2float(V[(size_t)j * hd + d]);
        out[d] = acc;
    }
    if (threadIdx.x == 0) { out[hd] = m; out[hd + 1] = l; }
}

// Split-context attention, part 2: merges the S splits of each (t, h) into out (T, nH·hd) fp16.
// The weight e^(m_s − M) of every split is computed once into shared memory (lanes in parallel),
// then each thread sums its dimension over the non-empty splits only.
// grid (nH, T), hd threads (≤ 1024); dynamic smem: S floats.
extern "C" __global__ void eng_attn_combine(const float* __restrict__ part, __half* __restrict__ out,
                                            int nH, int hd, int S) {
    extern __shared__ float f[];
    __shared__ float red[32];
    int h = blockIdx.x, t = blockIdx.y, d = threadIdx.x;
    const float* base = part + ((size_t)t * nH + h) * S * (hd + 2);
    float mloc = -INFINITY;
    for (int s = threadIdx.x; s < S; s += blockDim.x) mloc = fmaxf(mloc, base[s * (hd + 2) + hd]);
    float M = block_max(mloc, red);
    float dloc = 0.f;
    for (int s = threadIdx.x; s < S; s += blockDim.x) {
        const float* b = base + s * (hd + 2);
        float w = b[hd + 1] == 0.f ? 0.f : __expf(b[hd] - M);  // an empty split (its m is −inf) weighs nothing
        f[s] = w;
        dloc += w * b[hd + 1];
    }
    float den = block_sum(dloc, red);  // syncs: f is complete
    float num = 0.f;
    for (int s = 0; s < S; s++)
        if (f[s] != 0.f) num += f[s] * base[s * (hd + 2) + d];
    out[((size_t)t * nH + h) * hd + d] = __float2half(num / den);
}

// out (n) fp16 = silu(g)·u, computed in fp32. grid-stride.
extern "C" __global__ void eng_silu_mul(const __half* __restrict__ g, const __half* __restrict__ u,
                                        __half* __restrict__ out, long n) {
    for (long i = (long)blockIdx.x * blockDim.x + threadIdx.x; i < n; i += (long)gridDim.x * blockDim.x) {
        float a = __half2float(g[i]);
        out[i] = __float2half(a / (1.f + __expf(-a)) * __half2float(u[i]));
    }
}

// y (dOut) fp32 = W (dOut, dIn) fp16 · x (dIn) fp16: one warp per row, 16-byte loads; dIn % 8 == 0.
// grid ⌈dOut/8⌉, 256 threads.
extern "C" __global__ void eng_gemv_f16_f32(float* __restrict__ y, const __half* __restrict__ W,
                                            const __half* __restrict__ x, int dOut, int dIn) {
    int row = blockIdx.x * 8 + (threadIdx.x >> 5), lane = threadIdx.x & 31;
    if (row >= dOut) return;
    const uint4* w = reinterpret_cast<const uint4*>(W + (size_t)row * dIn);
    const uint4* xv = reinterpret_cast<const uint4*>(x);
    float a = 0.f;
    for (int c = lane; c < dIn / 8; c += 32) {
        uint4 wv = w[c], xx = xv[c];
        const __half2* wp = reinterpret_cast<const __half2*>(&wv);
        const __half2* xp = reinterpret_cast<const __half2*>(&xx);
#pragma unroll
        for (int e = 0; e < 4; e++) {
            float2 a2 = __half22float2(wp[e]), b2 = __half22float2(xp[e]);
            a += a2.x * b2.x + a2.y * b2.y;
        }
    }
    a = warp_sum(a);
    if (lane == 0) y[row] = a;
}

// y (dOut) fp32 = dequant(Q)·x for a 4-bit format-v1 matrix: qweight (dOut, dIn/8) int32 with
// code e of a word in bits 4e…4e+3, scales/zeros (dOut, dIn/group) fp16, w = (q − z)·s.
// One warp per row, a lane reads 4 words (32 codes) at a time; dIn % 32 == 0, group % 32 == 0.
// grid ⌈dOut/8⌉, 256 threads.
extern "C" __global__ void eng_gemv_q4_f32(float* __restrict__ y, const int* __restrict__ qweight,
                                           const __half* __restrict__ scales, const __half* __restrict__ zeros,
                                           const __half* __restrict__ x, int dOut, int dIn, int group) {
    int row = blockIdx.x * 8 + (threadIdx.x >> 5), lane = threadIdx.x & 31;
    if (row >= dOut) return;
    const int4* q = reinterpret_cast<const int4*>(qweight + (size_t)row * (dIn / 8));
    const __half* sr = scales + (size_t)row * (dIn / group);
    const __half* zr = zeros + (size_t)row * (dIn / group);
    float a = 0.f;
    for (int c = lane; c < dIn / 32; c += 32) {
        int4 wv = q[c];
        int k0 = c * 32, grp = k0 / group;
        float s = __half2float(sr[grp]), z = __half2float(zr[grp]);
        const uint4* xv = reinterpret_cast<const uint4*>(x + k0);
        int words[4] = {wv.x, wv.y, wv.z, wv.w};
        float acc = 0.f, xs = 0.f;
#pragma unroll
        for (int wi = 0; wi < 4; wi++) {
            uint4 xx = xv[wi];
            const __half* xp = reinterpret_cast<const __half*>(&xx);
#pragma unroll
            for (int e = 0; e < 8; e++) {
                float xe = __half2float(xp[e]);
                acc += (float)((words[wi] >> (4 * e)) & 15) * xe;
                xs += xe;
            }
        }
        a += s * (acc - z * xs);
    }
    a = warp_sum(a);
    if (lane == 0) y[row] = a;
}

// Greedy sampling at the end of a step: state[1] = argmax(logits) (the lowest index among equal
// maxima, as the CPU sampler), hist[state[2]] = it, state[2] += 1, state[0] += advance.
// One block of 1024 threads.
extern "C" __global__ void eng_argmax(const float* __restrict__ logits, int n, int* __restrict__ state,
                                      int* __restrict__ hist, int advance) {
    __shared__ float bv[32];
    __shared__ int bi[32];
    float best = -INFINITY;
    int idx = 0x7fffffff;
    for (int i = threadIdx.x; i < n; i += blockDim.x) {
        float v = logits[i];
        if (v > best) { best = v; idx = i; }
    }
    for (int o = 16; o > 0; o >>= 1) {
        float ov = __shfl_xor_sync(FULL, best, o);
        int oi = __shfl_xor_sync(FULL, idx, o);
        if (ov > best || (ov == best && oi < idx)) { best = ov; idx = oi; }
    }
    int lane = threadIdx.x & 31, w = threadIdx.x >> 5;
    if (lane == 0) { bv[w] = best; bi[w] = idx; }
    __syncthreads();
    if (w == 0) {
        best = lane < (int)(blockDim.x >> 5) ? bv[lane] : -INFINITY;
        idx = lane < (int)(blockDim.x >> 5) ? bi[lane] : 0x7fffffff;
        for (int o = 16; o > 0; o >>= 1) {
            float ov = __shfl_xor_sync(FULL, best, o);
            int oi = __shfl_xor_sync(FULL, idx, o);
            if (ov > best || (ov == best && oi < idx)) { best = ov; idx = oi; }
        }
        if (lane == 0) {
            if (idx >= n) idx = 0;  // every logit NaN: no maximum (the host sees the NaN logits)
            state[1] = idx;
            if (hist) hist[state[2]] = idx;
            state[2] += 1;
            state[0] += advance;
        }
    }
}

// state[0] += advance (a step without sampling, e.g. a prefill whose logits the host reads).
extern "C" __global__ void eng_advance(int* state, int advance) {
    if (threadIdx.x == 0) state[0] += advance;
}

// Synthetic weights (speed does not depend on values, but NaN/Inf must not appear):
// a (n) uint32 = hash(seed, i) — any bits are valid codes.
extern "C" __global__ void eng_fill_bits(uint32_t* __restrict__ a, long n, uint32_t seed) {
    for (long i = (long)blockIdx.x * blockDim.x + threadIdx.x; i < n; i += (long)gridDim.x * blockDim.x) {
        uint32_t x = (uint32_t)i * 0x9E3779B1u ^ seed;
        x ^= x >> 16; x *= 0x7feb352du; x ^= x >> 15; x *= 0x846ca68bu; x ^= x >> 16;
        a[i] = x;
    }
}

// a (pairs, 2) fp16: element 0 of each pair in [lo0, hi0), element 1 in [lo1, hi1) (scale/zero pairs
// centred so that the weights they dequantise to have mean about zero).
extern "C" __global__ void eng_fill_pairs(__half2* __restrict__ a, long pairs, uint32_t seed, float lo0, float hi0,
                                          float lo1, float hi1) {
    for (long i = (long)blockIdx.x * blockDim.x + threadIdx.x; i < pairs; i += (long)gridDim.x * blockDim.x) {
        uint32_t x = (uint32_t)i * 0x9E3779B1u ^ seed;
        x ^= x >> 16; x *= 0x7feb352du; x ^= x >> 15; x *= 0x846ca68bu; x ^= x >> 16;
        float u0 = (float)(x & 0xffff) * (1.f / 65536.f), u1 = (float)(x >> 16) * (1.f / 65536.f);
        a[i] = __floats2half2_rn(lo0 + (hi0 - lo0) * u0, lo1 + (hi1 - lo1) * u1);
    }
}

// a (n) fp16 = lo + (hi − lo)·u with u uniform in [0, 1) from hash(seed, i).
extern "C" __global__ void eng_fill_half(__half* __restrict__ a, long n, uint32_t seed, float lo, float hi) {
    for (long i = (long)blockIdx.x * blockDim.x + threadIdx.x; i < n; i += (long)gridDim.x * blockDim.x) {
        uint32_t x = (uint32_t)i * 0x9E3779B1u ^ seed;
        x ^= x >> 16; x *= 0x7feb352du; x ^= x >> 15; x *= 0x846ca68bu; x ^= x >> 16;
        a[i] = __float2half(lo + (hi - lo) * (float)(x >> 8) * (1.f / 16777216.f));
    }
}
