// caldera4j — fused Q + L·R kernels (CALDERA: W ≈ Q + L·R, Q 2-bit groupwise, L/R fp16 or 4-bit).
//
// # Design note
//
// ## What the kernels compute
// y = dequant(Q)·x + L·(R·x) for one token (decode, a matrix-vector product) and
// Y = X·dequant(Q)ᵀ + (X·Rᵀ)·Lᵀ for T tokens (prefill, a skinny matrix product), with
// dequant(Q)[o][k] = (q[o][k] − zero[o][k/group]) · scale[o][k/group] (format v1, DESIGN.md).
// Every kernel has a plain-Java twin in dev.caldera4j.gpu.CpuTwins; GpuLayout.java writes the
// layouts below and CpuTwins.tileCode() is the Java statement of the same index map.
//
// ## Hardware reasons
// * Decode is memory-bound: at 2.25 bits a 29568×8192 matrix is 68 MB, 16 µs at the H200's
//   ~4.3 TB/s. So each lane issues 16-byte loads, a warp reads 512 contiguous bytes, and several
//   loads are in flight per lane before the first use (a ring of k tiles per warp).
// * But a 2-bit code carries little data per instruction: decoding costs ALU issue slots, and at
//   2 bits the ALU budget is tight (about 1.5 instructions per weight are affordable at full
//   bandwidth on 132 SMs). We therefore (a) decode two codes per instruction with the
//   "magic number" trick: lop3 places the 2 code bits into the mantissa of fp16 1024.0
//   (0x6400) for both halves of a register at once, and one hfma2 with a power-of-four scale
//   removes the bias exactly (no shift instruction for five of the eight pairs in a word);
//   (b) let the tensor cores do the multiply-adds (mma.sync m16n8k16): for decode 7 of the 8
//   token columns are zero, but the tensor pipe is otherwise idle and one mma covers 256
//   weights, so the dot product costs almost no issue slots. Per pair of weights the cost is
//   lop3 + 2 hfma2 (code → q, q → (q − z)·s).
// * Prefill (128 tokens) is compute-bound at 2 bits (62 GFLOP for 29568×8192), so the codes are
//   dequantised in registers straight into mma A fragments and reused across 32 tokens per warp;
//   X tiles go through a 3-stage cp.async pipeline in shared memory.
//
// ## GPU layout of Q (bq = 2), written by GpuLayout.java
// Tiles of 16 rows × 128 inputs: tile (mt, kt) is 512 bytes = one uint4 per lane of a warp, so a
// warp's load of a tile is one fully coalesced 512-byte transaction. Tiles are stored mt-major,
// kt-minor: index (mt·KT + kt)·32 + lane (uint4 units). Lane L = 4g + t (g = L/4, t = L%4) holds
// the A fragments of the 8 k16 steps j = 0..7 of mma.m16n8k16 for rows g and g+8, with the
// k order inside the tile PERMUTED so that lane t's inputs are the 32 contiguous k = 32t..32t+31
// (the mma does not care which k a column is, as long as A and B agree):
//   word w (0..3) of the uint4, slot s (0..15, bits 2s..2s+1): p = s & 7, hi = s >> 3,
//   j = 2w + (p >> 2), reg = p & 3, row = 16·mt + g + 8·(reg & 1),
//   k = 128·kt + 32·t + 4·j + 2·(reg >> 1) + hi.
// So each 32-bit word decodes to 8 fp16 pairs (slot p → low half, slot p+8 → high half) and
// each pair is one A-fragment register (reg 0: row g, reg 1: row g+8, reg 2/3 the upper k).
// Why the permutation: (1) decode loads its B operand (x) as 4 × 16-byte loads per lane instead
// of 16 × 4-byte loads; (2) with t fixed, a lane's 32 inputs lie in one group for group ≥ 32,
// so a lane needs one (scale, zero) pair per row per tile; (3) the unfused dequantiser writes
// each lane's 2 rows × 32 inputs as 16-byte stores.
// Rows ≥ d_out and inputs ≥ d_in are padded with code 0 and scale 0, zero 0 (dequantise to 0).
//
// Scales per tile: GT = 128/group groups per tile (group 32, 64, 128; a group that is a
// multiple of 128 stores its pair in each of its tiles, GT = 1). Per tile GT·8·2 half2
// (s, nzs) with nzs = fp16(−z·s) (rounded once, as an in-kernel hmul would; it saves the kernel
// two multiplies and registers): index ((mt·KT + kt)·GT + grp)·8 + g as uint2 = {pair of row g,
// pair of row g+8}; lane t belongs to grp = (t·GT) >> 2. 64·GT bytes per 2048 weights: 0.25
// bit per weight at group 128, as in format v1.
//
// ## L and R on the GPU
// fp16 row-major (L: d_out × r, R: r × d_in), or 4-bit: format v1's int32 words (8 codes per
// word, code e in bits 4e..4e+3, little-endian along the row) and (s, z) interleaved as half2 per
// (row, group). They are 1–3 % of the bytes, so a plain shift-and-mask decode is cheap enough.
//
// ## Decode: v3 / v4 (lr_rx_partial, then qlr_decode3[m]) and v5 (qlr_decode5, one launch)
// v3/v4: stage 1 tpart[c][j] = Σ_{k in chunk c} R[j][k]·x[k] (one warp per (j, c); no atomics,
// deterministic). Stage 2: persistent blocks loop over strips of RB row tiles; the 8 warps of a
// block split the k tiles (warp w takes kt = w, w+8, …) with a register ring of 4 tiles, reduce
// through shared memory, add L·t (t = Σ_c tpart[c], L rows staged by cp.async) and write y.
// v4 (qlr_decode3m, one scale group per tile) keeps magic + q in the A fragments and subtracts
// the magic part per tile in fp32 (fold); v3 (qlr_decode3) dequantises fully (any group).
// v5: one launch. The MT·KT tiles in memory order are cut into equal ranges, one per warp of a
// persistent grid; each warp streams its range through a 4-slot cp.async ring in shared memory;
// per row-tile segment it adds its slice of L·t and publishes 16 partial sums; the warp that
// completes a row tile (counter per row tile) sums the partials in range order and writes y.
// Blocks compute t = R·x (rows by ticket order) at start. Details at qlr_decode5_impl.
//
// ## Prefill: qlr_prefill_wg (wgmma, sm_90a) or qlr_prefill (mma.sync, other devices)
// Tm = X·Rᵀ by gemm_f16 (R dequantised to fp16 first when 4-bit) + reduce_splitk, then one kernel:
// qlr_prefill_wg: block 128 rows × 128 tokens, 2 warpgroups, wgmma.m64n128k16 with A = Q from
// registers (codes regathered to natural k order from shared memory, see its comment) and B = X
// from 128-byte-swizzled shared memory, two cp.async stages; the low-rank term first as extra k
// steps with A = L and B = Tm both from shared memory (4-bit L converted in shared memory).
// qlr_prefill (mma.sync): block tile 256 rows × 64 tokens, 8 warps as 4 (rows) × 2 (tokens), warp
// tile 64 × 32, 3-stage cp.async pipeline of X (swizzled), codes and scales; the low-rank term
// first: acc += Tm·Lᵀ with A from L (dequantised in registers) and B from Tm. Small d_out leave
// SMs idle, so the host splits k over gridDim.z blocks that write fp32 partials; reduce_splitk sums
// them in a fixed order (deterministic).
//
// ## Numerics
// Weights are rounded once to fp16 ((q − z)·s with −z·s rounded to fp16); products and sums are
// fp32 (mma accumulators, fp32 dot products for L and R); y is rounded once to fp16. Tm (prefill)
// is stored in fp16 between kernels.
//
// ## Measured on the H200 (KernelBench; results/kernels-h200.{json,log}, ncu in *-ncu.txt)
// Copy rate 4.23–4.26 TB/s (read + write). gate/up 29568×8192, 1 token, group 128, rank 128, 4-bit
// L/R (70.7 MB must move, 16.7 µs at the copy rate; ≥ 75 % of it means ≤ 22.3 µs):
//   v1  block per 16-row strip, loads → wait → compute per 2 k tiles, t summed at block start:
//       48.4 µs; SASS: 145 instructions per 2048-weight tile, half-constants rebuilt in the loop.
//   v2  register ring of 4 k tiles, x/tpart/L staged by cp.async, scale fold for group ≥ 128:
//       53.9 µs (no better): ncu 33 M instructions, 66 % issue busy, ALU pipe 58 %, DRAM 30 % —
//       fixed per-block work (1848 blocks) cost as much as the codes.
//   v3  persistent blocks, per-position magic (lop3 + hsub2), 16 threads per row in the epilogue:
//       44.4 µs (rb2), 22.9 M instructions.
//   v4  (v3m, qlr_decode3m) magic part subtracted per tile instead of per pair: 43.3 µs, 16.2 M
//       instructions (137 per tile), DRAM 39 %, issue 43 %, 46 % of cycles with no eligible warp
//       (4 warps per scheduler at 128 registers). Round 2: 42.4–43.6 µs; Q alone 36 µs, so the
//       low-rank term (separate R·x launch + L·t per strip) costs about 7 µs.
//   v5  (qlr_decode5) one launch, equal contiguous tile ranges per warp, cp.async ring (58
//       registers, 32 warps per SM): 46.4 µs with 2 blocks per SM, 42.5 µs with 1 (now the
//       default); Q alone 38.8 µs. ncu (2 blocks): 19.7 M instructions (166 per tile, 108 of them
//       in the tile loop), issue 51 %, DRAM 34 %, L1 65 %. Ring depth 8 instead of 4: no change,
//       so bytes in flight are not the limit; the per-segment fence/atomic/finalise round trips
//       and instruction issue are. Final grid: v5 is the fastest candidate on gate/up for rank ≤ 128
//       (40.1–43.5 µs at group 128, 46.4–49.0 at group 64); v4/v3 elsewhere (down 38.1–49.0 µs,
//       q/o 16.8–21.8 µs).
//   v6  (tried, removed) v5 with a 16th warp per block doing R·x, L·t and the row-tile sums so the
//       15 streaming warps never wait (release-add of their partials): 59–63 µs — ncu: 12 cycles
//       of barrier stall per instruction; row tiles complete only at the end of the stream, so
//       one warp per block finalising them in turn is a serial tail (and its loops waited for one
//       load round trip per iteration); Q alone 50–52 µs.
//   So the decode stays at 2.2–3.2× cuBLAS fp16 (cuBLAS 120–124 µs), 35–46 % of the copy rate on
//   the MLP shapes: the ≥ 75 % target is missed. What limits it (measured, not fixed): about 100
//   issued instructions per tile at ~50 % issue efficiency (LDS latency, mma chain, MIO), i.e.
//   ~25 µs of issue time for gate/up before any stop; reaching ~20 µs needs ~60 instructions per
//   tile (x shared by two row tiles, fewer address/loop instructions) with the stream never stopped.
// Prefill, 128 tokens (cuBLAS fp16 with wgmma: 130–141 µs on the MLP shapes):
//   mma.sync qlr_prefill: 222–267 TFLOP/s, tensor pipe 36 %, 128-register cap with spills, 0.88
//       waves: gate/up 249–342 µs (0.37–0.58× cuBLAS).
//   wgmma qlr_prefill_wg, first version (2 A buffers, loader addresses computed per chunk): kernel
//       150 µs on gate/up (ncu: tensor pipe 49 %, 547 instructions per warp and k tile, 3.4 warps
//       per scheduler); fused 168.6 µs with L dequantised by a separate pass.
//   lr_xr_partial (tried, removed): Tm = X·Rᵀ with R dequantised in registers, split over d_in —
//       24 µs (gate/up) / 44 µs (down), latency-bound; gemm_f16 path 16 / 27 µs is kept.
//   final: loader offsets precomputed, codes read 16 bytes per two k steps, 3 A buffers (about 1 %
//       better than 2), 4-bit L converted inside the kernel. gate/up r128 4-bit: Q alone 137 µs,
//       main kernel with the L·Tm steps 142.5 µs (ncu 149 µs, tensor pipe 51 %, 474 instructions
//       per warp and k tile), Tm 16 µs → fused 154–172 µs = 0.78–0.88× cuBLAS; down 155–170 µs =
//       0.83–0.91×. Target (≥ 1×) missed: the three small launches for Tm cost 16–27 µs and the
//       main kernel reaches half the tensor pipe (231 blocks on 264 slots; 2 stages).
//
// ## Requirements checked on the host (GpuLayout / QlrKernels)
// bq = 2; d_in % 16 == 0; group ∈ {32, 64, 128} or a multiple of 128; rank % 8 == 0 and
// rank ≤ 1024; factor groups divide their dims and are multiples of 8; x, y and all buffers
// 16-byte aligned (cuMemAlloc gives 256).

#include <cuda_fp16.h>
#include <stdint.h>

#define WARPS 8            // every kernel here runs 256 threads = 8 warps
#define MAX_RANK 1024      // t lives in shared memory in decode

// ------------------------------------------------------------------ small helpers

__device__ __forceinline__ uint32_t as_u32(__half2 h) { uint32_t u; memcpy(&u, &h, 4); return u; }
__device__ __forceinline__ __half2 as_h2(uint32_t u) { __half2 h; memcpy(&h, &u, 4); return h; }

// (a & b) | c in one instruction.
__device__ __forceinline__ uint32_t lop3_and_or(uint32_t a, uint32_t b, uint32_t c) {
    uint32_t d;
    asm("lop3.b32 %0, %1, %2, %3, 0xEA;" : "=r"(d) : "r"(a), "r"(b), "r"(c));
    return d;
}

// d = a·b + d, m16n8k16, fp16 inputs, fp32 accumulators.
__device__ __forceinline__ void mma16816(float (&d)[4], const uint32_t (&a)[4], uint32_t b0, uint32_t b1) {
    asm volatile(
        "mma.sync.aligned.m16n8k16.row.col.f32.f16.f16.f32 {%0,%1,%2,%3}, {%4,%5,%6,%7}, {%8,%9}, {%0,%1,%2,%3};\n"
        : "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3])
        : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b0), "r"(b1));
}

__device__ __forceinline__ uint32_t smem_u32(const void* p) {
    return static_cast<uint32_t>(__cvta_generic_to_shared(p));
}

// 16-byte global → shared copy that bypasses L1; src_bytes = 0 writes zeros (out-of-range tiles).
__device__ __forceinline__ void cp_async16(void* dst, const void* src, int src_bytes) {
    asm volatile("cp.async.cg.shared.global [%0], [%1], 16, %2;\n" :: "r"(smem_u32(dst)), "l"(src), "r"(src_bytes));
}
// 4-byte global → shared copy (cached in L1); src_bytes = 0 writes zeros.
__device__ __forceinline__ void cp_async4(void* dst, const void* src, int src_bytes) {
    asm volatile("cp.async.ca.shared.global [%0], [%1], 4, %2;\n" :: "r"(smem_u32(dst)), "l"(src), "r"(src_bytes));
}
__device__ __forceinline__ void cp_async_commit() { asm volatile("cp.async.commit_group;\n" ::); }
template <int N> __device__ __forceinline__ void cp_async_wait() { asm volatile("cp.async.wait_group %0;\n" :: "n"(N)); }

__device__ __forceinline__ void ldmatrix_x4(uint32_t (&r)[4], const void* p) {
    asm volatile("ldmatrix.sync.aligned.m8n8.x4.shared.b16 {%0,%1,%2,%3}, [%4];\n"
                 : "=r"(r[0]), "=r"(r[1]), "=r"(r[2]), "=r"(r[3]) : "r"(smem_u32(p)));
}

__device__ __forceinline__ float warp_sum(float v) {
#pragma unroll
    for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(0xffffffffu, v, o);
    return v;
}

// Σ of 8 fp16 products w·x in fp32.
__device__ __forceinline__ float dot8_f16(uint4 w, uint4 x) {
    const uint32_t wv[4] = {w.x, w.y, w.z, w.w}, xv[4] = {x.x, x.y, x.z, x.w};
    float s = 0.f;
#pragma unroll
    for (int i = 0; i < 4; i++) {
        float2 a = __half22float2(as_h2(wv[i])), b = __half22float2(as_h2(xv[i]));
        s = fmaf(a.x, b.x, s);
        s = fmaf(a.y, b.y, s);
    }
    return s;
}

// Σ of 8 products of 4-bit codes (one int32 word, code e in bits 4e..4e+3) dequantised with
// (s, z) as (q − z)·s, times 8 fp16 inputs, in fp32.
__device__ __forceinline__ float dot8_q4(uint32_t w, __half2 sz, uint4 x) {
    const float2 f = __half22float2(sz);  // f.x = scale, f.y = zero
    const uint32_t xv[4] = {x.x, x.y, x.z, x.w};
    float s = 0.f;
#pragma unroll
    for (int i = 0; i < 4; i++) {
        float2 b = __half22float2(as_h2(xv[i]));
        s = fmaf((float)((w >> (8 * i)) & 15u) - f.y, b.x, s);
        s = fmaf((float)((w >> (8 * i + 4)) & 15u) - f.y, b.y, s);
    }
    return s * f.x;
}

// ------------------------------------------------------------------ 2-bit A fragments

// fp16 bit patterns, duplicated in both halves: 4^-sh and −1024·4^-sh for sh = 0..4.
__device__ __forceinline__ uint32_t pow4_neg(int sh) {
    return sh == 0 ? 0x3C003C00u : sh == 1 ? 0x34003400u : sh == 2 ? 0x2C002C00u : sh == 3 ? 0x24002400u : 0x1C001C00u;
}
__device__ __forceinline__ uint32_t bias_neg(int sh) {
    return sh == 0 ? 0xE400E400u : sh == 1 ? 0xDC00DC00u : sh == 2 ? 0xD400D400u : sh == 3 ? 0xCC00CC00u : 0xC400C400u;
}

// The four A-fragment registers of k16 step J of a tile, from the lane's uint4 of codes.
// Pair p = 4·(J&1) + reg of word J/2; slots p (low half) and p+8 (high half). For p < 5 the code
// bits sit at 2p within each half: lop3 ORs them into 1024.0 giving 1024 + q·4^p, and
// hfma2(h, 4^-p, −1024·4^-p) = q exactly. Pairs 5..7 first shift the word right by 10.
// Then w = q·s + nzs in one hfma2 (S = (s, s), NZ = (nzs, nzs) of the register's row).
// sc = {(s, nzs) of row g, (s, nzs) of row g+8}; the half-broadcasts (.H0_H0 / .H1_H1) are
// operand modifiers of HFMA2, so keeping the raw pairs costs no instructions and fewer registers.
template <int J>
__device__ __forceinline__ void dequant_step(uint32_t (&a)[4], const uint4& code, const uint2& sc) {
    const uint32_t w = (J >> 1) == 0 ? code.x : (J >> 1) == 1 ? code.y : (J >> 1) == 2 ? code.z : code.w;
    const uint32_t w10 = w >> 10;
#pragma unroll
    for (int reg = 0; reg < 4; reg++) {
        const int p = 4 * (J & 1) + reg;
        const int sh = p < 5 ? p : p - 5;
        const uint32_t h = lop3_and_or(p < 5 ? w : w10, 0x00030003u << (2 * sh), 0x64006400u);
        const __half2 q = __hfma2(as_h2(h), as_h2(pow4_neg(sh)), as_h2(bias_neg(sh)));
        const __half2 pr = as_h2((reg & 1) ? sc.y : sc.x);
        a[reg] = as_u32(__hfma2(q, __low2half2(pr), __high2half2(pr)));
    }
}

// Magic fp16 constants per bit position: with the exponent of 1024/4^sh, mantissa bits 2sh and
// 2sh+1 weigh 1 and 2, so lop3 yields magic + q exactly and one hsub2 of the same constant (an
// immediate of HADD2) gives q — no per-position scale factor, hence no constant to rebuild.
__device__ __forceinline__ uint32_t magic_of(int sh) {
    return sh == 0 ? 0x64006400u : sh == 1 ? 0x5C005C00u : sh == 2 ? 0x54005400u : sh == 3 ? 0x4C004C00u : 0x44004400u;
}

template <int J>
__device__ __forceinline__ void dequant_q_magic(uint32_t (&a)[4], const uint4& code) {
    const uint32_t w = (J >> 1) == 0 ? code.x : (J >> 1) == 1 ? code.y : (J >> 1) == 2 ? code.z : code.w;
    const uint32_t w10 = w >> 10;
#pragma unroll
    for (int reg = 0; reg < 4; reg++) {
        const int p = 4 * (J & 1) + reg;
        const int sh = p < 5 ? p : p - 5;
        const uint32_t h = lop3_and_or(p < 5 ? w : w10, 0x00030003u << (2 * sh), magic_of(sh));
        a[reg] = as_u32(__hsub2(as_h2(h), as_h2(magic_of(sh))));
    }
}

// magic + q without the subtraction (v3m): the magic part is removed after the mma.
template <int J>
__device__ __forceinline__ void dequant_magic_raw(uint32_t (&a)[4], const uint4& code) {
    const uint32_t w = (J >> 1) == 0 ? code.x : (J >> 1) == 1 ? code.y : (J >> 1) == 2 ? code.z : code.w;
    const uint32_t w10 = w >> 10;
#pragma unroll
    for (int reg = 0; reg < 4; reg++) {
        const int p = 4 * (J & 1) + reg;
        const int sh = p < 5 ? p : p - 5;
        a[reg] = lop3_and_or(p < 5 ? w : w10, 0x00030003u << (2 * sh), magic_of(sh));
    }
}

// The magic constant that the A fragment of row g (rs = 0) or g+8 (rs = 1) carries at input
// kk of a lane's 32 (kk = 4j + 2·(reg >> 1) + hi, reg = rs + 2·((kk >> 1) & 1)).
__device__ __forceinline__ float magic_sum_weight(int kk, int rs) {
    const int j = (kk & 31) >> 2, reg = rs + 2 * ((kk >> 1) & 1), p = 4 * (j & 1) + reg;
    const int sh = p < 5 ? p : p - 5;
    return (float)(1024 >> (2 * sh));
}

// ------------------------------------------------------------------ low-rank pieces

// Warp computes Σ_{k0 ≤ k < k1} R[j][k]·x[k] in fp32 (all lanes get it). k0, k1 multiples of 8.
__device__ __forceinline__ float r_row_dot(const void* __restrict__ Rw, const __half2* __restrict__ Rsz,
                                           int br, int gR, int d_in, int j, int k0, int k1,
                                           const __half* __restrict__ x, int lane) {
    float s = 0.f;
    if (br == 16) {
        const __half* row = static_cast<const __half*>(Rw) + (size_t)j * d_in;
        for (int k = k0 + 8 * lane; k < k1; k += 256)
            s += dot8_f16(__ldg(reinterpret_cast<const uint4*>(row + k)), __ldg(reinterpret_cast<const uint4*>(x + k)));
    } else {
        const uint32_t* row = static_cast<const uint32_t*>(Rw) + (size_t)j * (d_in / 8);
        const __half2* rs = Rsz + (size_t)j * (d_in / gR);
        for (int k = k0 + 8 * lane; k < k1; k += 256)
            s += dot8_q4(__ldg(row + k / 8), rs[k / gR], __ldg(reinterpret_cast<const uint4*>(x + k)));
    }
    return warp_sum(s);
}

// Warp computes Σ_j L[o][j]·t[j] in fp32 for one row of L given by its data and scale rows
// (global or shared memory; t in shared memory). All lanes get the sum.
__device__ __forceinline__ float l_row_dot(const void* Lrow, const __half2* LszRow, int bl, int gL, int rank,
                                           const float* t_s, int lane) {
    float s = 0.f;
    if (bl == 16) {
        const __half* row = static_cast<const __half*>(Lrow);
        for (int j = lane; j < rank; j += 32) s = fmaf(__half2float(row[j]), t_s[j], s);
    } else {
        const uint32_t* row = static_cast<const uint32_t*>(Lrow);
        for (int jw = lane; jw < rank / 8; jw += 32) {
            const uint32_t w = row[jw];
            const float2 f = __half22float2(LszRow[(8 * jw) / gL]);
            float p = 0.f;
#pragma unroll
            for (int e = 0; e < 8; e++) p = fmaf((float)((w >> (4 * e)) & 15u) - f.y, t_s[8 * jw + e], p);
            s = fmaf(p, f.x, s);
        }
    }
    return warp_sum(s);
}

// Bytes of one row of L: fp16 or 4-bit.
__device__ __forceinline__ size_t l_row_bytes(int bl, int rank) { return bl == 16 ? (size_t)rank * 2 : (size_t)rank / 2; }

// Stage 1 of decode: tpart[c][j] = Σ_{k in chunk c} R[j][k]·x[k]. Grid (ceil(rank/8), C).
extern "C" __global__ void __launch_bounds__(256) lr_rx_partial(
    float* __restrict__ tpart,           // (C, rank) out
    const __half* __restrict__ x,        // (d_in)
    const void* __restrict__ Rw,         // (rank, d_in) fp16, or (rank, d_in/8) int32 codes
    const __half2* __restrict__ Rsz,     // (rank, d_in/gR) (s, z) when br == 4
    int rank, int d_in, int br, int gR, int C, int chunk) {
    const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
    const int j = blockIdx.x * WARPS + warp, c = blockIdx.y;
    if (j >= rank || c >= C) return;
    const int k0 = c * chunk, k1 = min(d_in, k0 + chunk);
    const float v = r_row_dot(Rw, Rsz, br, gR, d_in, j, k0, k1, x, lane);
    if (lane == 0) tpart[(size_t)c * rank + j] = v;
}

// Unfused decode: y2[o] = L[o]·t with t = Σ_c tpart[c]. 64 rows per block, 8 per warp.
extern "C" __global__ void __launch_bounds__(256) lr_lt_decode(
    __half* __restrict__ y2,             // (d_out) out
    const float* __restrict__ tpart,     // (C, rank)
    const void* __restrict__ Lw,         // (d_out, rank) fp16, or (d_out, rank/8) int32 codes
    const __half2* __restrict__ Lsz,     // (d_out, rank/gL) when bl == 4
    int d_out, int rank, int bl, int gL, int C) {
    __shared__ float t_s[MAX_RANK];
    const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
    for (int j = threadIdx.x; j < rank; j += blockDim.x) {
        float s = 0.f;
        for (int c = 0; c < C; c++) s += tpart[(size_t)c * rank + j];
        t_s[j] = s;
    }
    __syncthreads();
    for (int i = 0; i < 8; i++) {
        const int o = blockIdx.x * 64 + warp * 8 + i;
        if (o >= d_out) break;
        const float v = l_row_dot(static_cast<const unsigned char*>(Lw) + o * l_row_bytes(bl, rank),
                                  bl == 16 ? nullptr : Lsz + (size_t)o * (rank / gL), bl, gL, rank, t_s, lane);
        if (lane == 0) y2[o] = __float2half_rn(v);
    }
}

// ------------------------------------------------------------------ fused decode

#define DEC_P 4                 // k tiles per warp in flight (register ring)
#define DEC_LSTAGE (16 * 1024)  // L rows of a block are staged in shared memory up to this size

// Shared-memory plan of the decode kernels (dynamic part), computed the same way on the host:
// x_s (KT·128 fp16, zero-padded) | xsum_s (KT fp32, FOLD) | tpart_s (C·rank fp32, two-stage)
// | L_s, Lsz_s (the block's 16·RB rows of L, when staged).
struct DecSmem {
    int x, xsum, tpart, L, Lsz, end;
};
// fold: 0 none, 1 Σx per tile, 2 Σx and the two magic sums M0, M1 per tile (v3m).
__device__ __forceinline__ DecSmem dec_smem(int KT, int fold, bool single, int C, int rank, int RB, int bl, int gL, bool lstaged) {
    DecSmem m;
    m.x = 0;
    m.xsum = KT * 256;
    m.tpart = m.xsum + (fold ? (KT * 4 * (fold == 2 ? 3 : 1) + 15) / 16 * 16 : 0);
    m.L = m.tpart + (!single && rank > 0 ? C * rank * 4 : 0);
    const int lb = 16 * RB * (int)l_row_bytes(bl, rank);
    m.Lsz = m.L + (lstaged ? lb : 0);
    m.end = m.Lsz + (lstaged && bl == 4 ? 16 * RB * (rank / gL) * 4 : 0);
    return m;
}

// Copies bytes [0, n) from src (16-byte aligned) to shared dst with cp.async, zero-filling to
// padded (a multiple of 16) — the whole block takes part.
__device__ __forceinline__ void stage_bytes(unsigned char* dst, const unsigned char* src, int n, int padded) {
    for (int off = 16 * threadIdx.x; off < padded; off += 16 * blockDim.x) {
        const int rem = n - off;
        cp_async16(dst + off, rem > 0 ? (const void*)(src + off) : (const void*)src, rem >= 16 ? 16 : (rem > 0 ? rem : 0));
    }
}


// ------------------------------------------------------------------ fused decode, v3 (persistent)

// Version 3 of the two-stage decode (qlr_decode3_*). Measured on the H200, v2 was ALU-issue
// bound (ncu: 66 % issue slots, ALU pipe 58 %, DRAM 30 %) and 1848 blocks of 16 rows each spent
// as much on fixed per-block work (staging x, Σx per tile, tpart, a warp per row of L·t) as on
// the codes. So: a persistent grid (one wave of resident blocks, each loops over row strips)
// stages x, Σx and t once per block; the epilogue gives each row 256/(16·RB) threads instead of a
// warp; codes decode with magic_of (lop3 + hsub2, immediates); every lane reads x (the 8 token
// columns then hold copies, no predication); the block's L rows are prefetched by cp.async when
// a strip starts.
// MAGIC (with FOLD, v3m): A keeps magic + q (no hsub2); the magic part of each tile's mma sum,
// M = Σ_k magic(k)·x_k, differs between rows g and g+8 (their slots sit at different bit
// positions) and is precomputed per tile with Σx, then subtracted in fp32 (magic_sum_weight).
template <int RB, bool FOLD, bool MAGIC>
__device__ __forceinline__ void qlr_decode3_impl(
    __half* __restrict__ y,              // (d_out) out
    const __half* __restrict__ x,        // (d_in)
    const uint4* __restrict__ qt,        // (MT, KT, 32) codes, tile layout
    const uint2* __restrict__ sz,        // (MT, KT, GT, 8) (s, −z·s) of rows g, g+8
    const void* __restrict__ Lw,         // (d_out, rank) fp16 or (d_out, rank/8) int32
    const __half2* __restrict__ Lsz,     // (d_out, rank/gL)
    const float* __restrict__ tpart,     // (C, rank) partial R·x from lr_rx_partial
    int d_out, int d_in, int MT, int KT, int GT, int rank, int bl, int gL, int C, int lstaged) {
    extern __shared__ __align__(16) unsigned char dsm[];
    __shared__ float red[WARPS][16 * RB];
    __shared__ float t_s[MAX_RANK];
    constexpr int PARTS = 256 / (16 * RB);  // threads per output row in the epilogue
    const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5, g = lane >> 2, t = lane & 3;
    const DecSmem m = dec_smem(KT, MAGIC ? 2 : FOLD ? 1 : 0, false, C, rank, RB, bl, gL, lstaged != 0);
    const __half* x_s = reinterpret_cast<const __half*>(dsm + m.x);
    float* xsum_s = reinterpret_cast<float*>(dsm + m.xsum);
    const int nstrips = (MT + RB - 1) / RB;
    const size_t lrb = l_row_bytes(bl, rank);

    auto stage_L = [&](int strip) {
        if (!lstaged || rank == 0) return;
        const int o0 = strip * RB * 16, nrows = min(16 * RB, d_out - o0);
        stage_bytes(dsm + m.L, static_cast<const unsigned char*>(Lw) + (size_t)o0 * lrb, nrows * (int)lrb, 16 * RB * (int)lrb);
        if (bl == 4) {
            const int sb = (rank / gL) * 4;
            stage_bytes(dsm + m.Lsz, reinterpret_cast<const unsigned char*>(Lsz + (size_t)o0 * (rank / gL)), nrows * sb, 16 * RB * sb);
        }
    };

    stage_bytes(dsm + m.x, reinterpret_cast<const unsigned char*>(x), d_in * 2, KT * 256);
    if (rank > 0) stage_bytes(dsm + m.tpart, reinterpret_cast<const unsigned char*>(tpart), C * rank * 4, C * rank * 4);
    stage_L(blockIdx.x);
    cp_async_commit();

    const int nIt = warp < KT ? (KT - warp + WARPS - 1) / WARPS : 0;
    const int grp = (t * GT) >> 2;
    uint4 code[DEC_P][RB];
    uint2 szv[DEC_P][RB];
    int mt0 = blockIdx.x * RB;
    auto load_tile = [&](int s, int i) {
        const int kt = warp + WARPS * i;
        const bool ok = i < nIt;
#pragma unroll
        for (int rb = 0; rb < RB; rb++) {
            const bool okr = ok && mt0 + rb < MT;
            const size_t tile = (size_t)(mt0 + rb) * KT + kt;
            code[s][rb] = okr ? __ldcs(qt + tile * 32 + lane) : make_uint4(0, 0, 0, 0);
            szv[s][rb] = okr ? __ldg(sz + (tile * GT + grp) * 8 + g) : make_uint2(0, 0);
        }
    };
    if (blockIdx.x < nstrips) {
#pragma unroll
        for (int s = 0; s < DEC_P; s++) load_tile(s, s);
    }

    cp_async_wait<0>();
    __syncthreads();
    if (FOLD) {
        for (int kt = threadIdx.x; kt < KT; kt += blockDim.x) {
            float a = 0.f, m0 = 0.f, m1 = 0.f;
#pragma unroll
            for (int q = 0; q < 16; q++) {
                const uint4 v = *reinterpret_cast<const uint4*>(x_s + kt * 128 + 8 * q);
                const uint32_t w[4] = {v.x, v.y, v.z, v.w};
#pragma unroll
                for (int e = 0; e < 4; e++) {
                    const float2 f = __half22float2(as_h2(w[e]));
                    a += f.x + f.y;
                    if (MAGIC) {
                        const int kk = 8 * q + 2 * e;  // f.x at kk, f.y at kk + 1: same j, same register pair
                        m0 += magic_sum_weight(kk, 0) * (f.x + f.y);
                        m1 += magic_sum_weight(kk, 1) * (f.x + f.y);
                    }
                }
            }
            xsum_s[kt] = a;
            if (MAGIC) {
                xsum_s[KT + kt] = m0;
                xsum_s[2 * KT + kt] = m1;
            }
        }
    }
    if (rank > 0) {
        const float* tp = reinterpret_cast<const float*>(dsm + m.tpart);
        for (int j = threadIdx.x; j < rank; j += blockDim.x) {
            float a = 0.f;
            for (int c = 0; c < C; c++) a += tp[c * rank + j];
            t_s[j] = a;
        }
    }
    __syncthreads();

    for (int strip = blockIdx.x; strip < nstrips; strip += gridDim.x) {
        mt0 = strip * RB;
        const int o0 = mt0 * 16, nrows = min(16 * RB, d_out - o0);
        if (strip != blockIdx.x) {
            stage_L(strip);
            cp_async_commit();
#pragma unroll
            for (int s = 0; s < DEC_P; s++) load_tile(s, s);
        }
        float acc[RB][2][4];
#pragma unroll
        for (int rb = 0; rb < RB; rb++)
#pragma unroll
            for (int h = 0; h < 2; h++) acc[rb][h][0] = acc[rb][h][1] = acc[rb][h][2] = acc[rb][h][3] = 0.f;

        for (int i0 = 0; i0 < nIt; i0 += DEC_P) {
#pragma unroll
            for (int s = 0; s < DEC_P; s++) {
                const int i = i0 + s;
                if (i >= nIt) break;
                const int kt = warp + WARPS * i;
                uint4 xb[4];
#pragma unroll
                for (int q = 0; q < 4; q++) xb[q] = *reinterpret_cast<const uint4*>(x_s + kt * 128 + 32 * t + 8 * q);
#pragma unroll
                for (int rb = 0; rb < RB; rb++) {
                    uint32_t a[4];
                    if (FOLD) {
                        float tmp[2][4] = {{0.f, 0.f, 0.f, 0.f}, {0.f, 0.f, 0.f, 0.f}};
#define DEC3_STEP(J)                                                                                       \
    if (MAGIC) dequant_magic_raw<J>(a, code[s][rb]); else dequant_q_magic<J>(a, code[s][rb]);              \
    mma16816(tmp[J & 1], a, (J & 1) ? xb[J >> 1].z : xb[J >> 1].x, (J & 1) ? xb[J >> 1].w : xb[J >> 1].y);
                        DEC3_STEP(0) DEC3_STEP(1) DEC3_STEP(2) DEC3_STEP(3) DEC3_STEP(4) DEC3_STEP(5) DEC3_STEP(6) DEC3_STEP(7)
#undef DEC3_STEP
                        const float xs = xsum_s[kt];
                        const float m0 = MAGIC ? xsum_s[KT + kt] : 0.f, m1 = MAGIC ? xsum_s[2 * KT + kt] : 0.f;
                        const float2 p0 = __half22float2(as_h2(szv[s][rb].x)), p1 = __half22float2(as_h2(szv[s][rb].y));
                        acc[rb][0][0] += fmaf(p0.x, (tmp[0][0] + tmp[1][0]) - m0, p0.y * xs);
                        acc[rb][0][2] += fmaf(p1.x, (tmp[0][2] + tmp[1][2]) - m1, p1.y * xs);
                    } else {
                        const __half2 pr0 = as_h2(szv[s][rb].x), pr1 = as_h2(szv[s][rb].y);
#define DEC3_STEP_S(J)                                                                                     \
    dequant_q_magic<J>(a, code[s][rb]);                                                                    \
    _Pragma("unroll") for (int r = 0; r < 4; r++) {                                                        \
        const __half2 pr = (r & 1) ? pr1 : pr0;                                                            \
        a[r] = as_u32(__hfma2(as_h2(a[r]), __low2half2(pr), __high2half2(pr)));                             \
    }                                                                                                      \
    mma16816(acc[rb][J & 1], a, (J & 1) ? xb[J >> 1].z : xb[J >> 1].x, (J & 1) ? xb[J >> 1].w : xb[J >> 1].y);
                        DEC3_STEP_S(0) DEC3_STEP_S(1) DEC3_STEP_S(2) DEC3_STEP_S(3) DEC3_STEP_S(4) DEC3_STEP_S(5) DEC3_STEP_S(6) DEC3_STEP_S(7)
#undef DEC3_STEP_S
                    }
                }
                load_tile(s, i + DEC_P);
            }
        }
        if (t == 0) {
#pragma unroll
            for (int rb = 0; rb < RB; rb++) {
                red[warp][rb * 16 + g] = acc[rb][0][0] + acc[rb][1][0];
                red[warp][rb * 16 + g + 8] = acc[rb][0][2] + acc[rb][1][2];
            }
        }
        cp_async_wait<0>();
        __syncthreads();
        {
            const int row = threadIdx.x / PARTS, part = threadIdx.x % PARTS;
            float v = 0.f;
            for (int w = part; w < WARPS; w += PARTS) v += red[w][row];
            if (rank > 0 && row < nrows) {
                const int o = o0 + row;
                const unsigned char* Lrow = lstaged ? dsm + m.L + row * lrb : static_cast<const unsigned char*>(Lw) + o * lrb;
                if (bl == 16) {
                    const __half* L16 = reinterpret_cast<const __half*>(Lrow);
                    for (int j = part; j < rank; j += PARTS) v = fmaf(__half2float(L16[j]), t_s[j], v);
                } else {
                    const uint32_t* L4 = reinterpret_cast<const uint32_t*>(Lrow);
                    const __half2* Ls = lstaged ? reinterpret_cast<const __half2*>(dsm + m.Lsz) + row * (rank / gL)
                                                : Lsz + (size_t)o * (rank / gL);
                    for (int jw = part; jw < rank / 8; jw += PARTS) {
                        const uint32_t w = L4[jw];
                        const float2 f = __half22float2(Ls[(8 * jw) / gL]);
                        float p = 0.f;
#pragma unroll
                        for (int e = 0; e < 8; e++) p = fmaf((float)((w >> (4 * e)) & 15u) - f.y, t_s[8 * jw + e], p);
                        v = fmaf(p, f.x, v);
                    }
                }
            }
#pragma unroll
            for (int off = PARTS / 2; off > 0; off >>= 1) v += __shfl_xor_sync(0xffffffffu, v, off);
            if (part == 0 && row < nrows) y[o0 + row] = __float2half_rn(v);
        }
        __syncthreads();
    }
}

#define DECODE3_KERNEL(NAME, RB, FOLD, MAGIC)                                                                \
    extern "C" __global__ void __launch_bounds__(256) NAME(                                                  \
        __half* y, const __half* x, const uint4* qt, const uint2* sz, const void* Lw, const __half2* Lsz,    \
        const float* tpart, int d_out, int d_in, int MT, int KT, int GT, int rank, int bl, int gL, int C,    \
        int lstaged) {                                                                                       \
        qlr_decode3_impl<RB, FOLD, MAGIC>(y, x, qt, sz, Lw, Lsz, tpart, d_out, d_in, MT, KT, GT, rank, bl, gL, C, \
                                   lstaged);                                                                 \
    }
DECODE3_KERNEL(qlr_decode3_rb1, 1, false, false)
DECODE3_KERNEL(qlr_decode3_rb2, 2, false, false)
DECODE3_KERNEL(qlr_decode3m_fold_rb1, 1, true, true)
DECODE3_KERNEL(qlr_decode3m_fold_rb2, 2, true, true)

// ------------------------------------------------------------------ fused decode, v5 (one launch)

// Version 5 (qlr_decode5_*): one launch does R·x, Q·x and L·t. Measured on v3m (ncu): 137
// instructions per 2048-weight tile, 4 warps per scheduler, 46 % of cycles with no eligible warp,
// DRAM 39 %; the fixed per-strip work (drain and refill of the register ring, reduction, L·t by
// the block) and 3.5 strips per block (a 14 % tail) cost as much as the codes; the separate R·x
// launch and the L·t epilogue cost 7 µs of 43. So:
// * work split: the MT·KT tiles in (mt, kt) order (contiguous in memory) are cut into W equal
//   ranges, one per warp (W = all warps of a persistent grid): balanced to one tile, and a warp
//   streams one contiguous run of 512-byte tiles;
// * in flight: each warp keeps D5_P tiles (codes + scales) in a shared-memory ring filled by
//   cp.async, so bytes in flight cost no registers: 64 registers, 32 warps per SM;
// * per tile only fixed-offset loads (ring slot, x and Σx/magic sums of the tile from shared
//   memory), lop3 per pair, 8 mma and the fold (FOLD) — about 70 instructions per tile;
// * a range crosses row tiles: per segment (one row tile's part of a range) the warp adds its
//   slice of L·t (k tiles [kt0, kt1) take rank chunks [kt0·rank/KT, kt1·rank/KT)), then publishes
//   16 partial sums; the warp whose tiles complete the row tile (counter per row tile) sums the
//   partials in range order (deterministic) and writes y; a warp holding a whole row tile writes
//   y directly;
// * R·x: at block start each block (logical id from a ticket) computes rows j ≡ id of t = R·x from
//   x in shared memory and counts them in sync[1]; a warp waits for that count only before its
//   first L·t slice, long after (the ticket order makes every producer a running block, so no
//   deadlock). The last block to finish zeroes the counters for the next launch.
#define D5_THREADS 512
#define D5_WARPS 16
#define D5_P 4  // ring slots per warp

// Shared memory of qlr_decode5 (dynamic part), computed the same way on the host:
// x_s (KT·128 fp16, zero-padded) | xm_s (KT float4: Σx, M0, M1, 0) | ring (D5_WARPS·D5_P slots of 512 + 64·GT bytes).
__host__ __device__ __forceinline__ int d5_stage_bytes(int GT) { return 512 + 64 * GT; }
__host__ __device__ __forceinline__ int d5_smem(int KT, int GT, int P) { return KT * 256 + KT * 16 + D5_WARPS * P * d5_stage_bytes(GT); }

// First tile of warp w's range when N tiles are cut into W ranges; the warp whose range holds tile tau.
__device__ __forceinline__ int d5_begin(long long w, long long N, long long W) { return (int)(w * N / W); }
__device__ __forceinline__ int d5_warp_of(long long tau, long long N, long long W) { return (int)(((tau + 1) * W - 1) / N); }

// Row j of R times x (x in shared memory), summed over the block; the sum is valid in thread 0.
__device__ __forceinline__ float d5_rx_row(const void* __restrict__ Rw, const __half2* __restrict__ Rsz, int br, int gR, int d_in,
                                           int j, const __half* x_s, float* red) {
    const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
    float s = 0.f;
    if (br == 16) {
        const uint4* row = reinterpret_cast<const uint4*>(static_cast<const __half*>(Rw) + (size_t)j * d_in);
        for (int c = threadIdx.x; c < d_in / 8; c += D5_THREADS)
            s += dot8_f16(__ldg(row + c), *reinterpret_cast<const uint4*>(x_s + 8 * c));
    } else {
        const uint32_t* row = static_cast<const uint32_t*>(Rw) + (size_t)j * (d_in / 8);
        const __half2* rs = Rsz + (size_t)j * (d_in / gR);
        for (int c = threadIdx.x; c < d_in / 8; c += D5_THREADS)
            s += dot8_q4(__ldg(row + c), __ldg(rs + (8 * c) / gR), *reinterpret_cast<const uint4*>(x_s + 8 * c));
    }
    s = warp_sum(s);
    if (lane == 0) red[warp] = s;
    __syncthreads();
    float v = 0.f;
    if (warp == 0) v = warp_sum(lane < D5_WARPS ? red[lane] : 0.f);
    __syncthreads();
    return v;
}

template <bool FOLD, int P>
__device__ __forceinline__ void qlr_decode5_impl(
    __half* __restrict__ y,              // (d_out) out
    const __half* __restrict__ x,        // (d_in)
    const uint4* __restrict__ qt,        // (MT, KT, 32) codes, tile layout
    const uint2* __restrict__ sz,        // (MT, KT, GT, 8) (s, −z·s) of rows g, g+8
    const void* __restrict__ Lw,         // (d_out, rank) fp16 or (d_out, rank/8) int32
    const __half2* __restrict__ Lsz,     // (d_out, rank/gL)
    const void* __restrict__ Rw,         // (rank, d_in) fp16 or (rank, d_in/8) int32
    const __half2* __restrict__ Rsz,     // (rank, d_in/gR)
    float* __restrict__ tvec,            // (rank) t = R·x, written here
    float* __restrict__ part,            // (MT, cmax, 16) partial row sums of segments
    unsigned* __restrict__ cnt,          // (MT) tiles finished per row tile, zero between launches
    unsigned* __restrict__ sync,         // [ticket, rows of t ready, blocks done], zero between launches
    int d_out, int d_in, int MT, int KT, int GT, int rank, int bl, int gL, int br, int gR, int cmax) {
    extern __shared__ __align__(16) unsigned char dsm[];
    __shared__ float red[D5_WARPS];
    __shared__ unsigned s_lb;
    const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5, g = lane >> 2, t = lane & 3;
    __half* x_s = reinterpret_cast<__half*>(dsm);
    float4* xm_s = reinterpret_cast<float4*>(dsm + KT * 256);
    const int stageB = d5_stage_bytes(GT);
    unsigned char* ring = dsm + KT * 272 + warp * P * stageB;

    if (threadIdx.x == 0) s_lb = atomicAdd(&sync[0], 1u);
    stage_bytes(dsm, reinterpret_cast<const unsigned char*>(x), d_in * 2, KT * 256);
    cp_async_commit();
    __syncthreads();
    const int lb = (int)s_lb;
    const long long N = (long long)MT * KT, W = (long long)gridDim.x * D5_WARPS, w = (long long)lb * D5_WARPS + warp;
    int tau = d5_begin(w, N, W);
    const int tau_end = d5_begin(w + 1, N, W);

    // ring prologue: tiles tau .. tau+P−1 (one commit group per slot, empty past the range)
    const uint4* qsrc = qt + (size_t)tau * 32 + lane;
    const unsigned char* ssrc = reinterpret_cast<const unsigned char*>(sz) + (size_t)tau * GT * 64 + lane * 16;
    const bool scale_lane = lane < 4 * GT;
#pragma unroll
    for (int s = 0; s < P; s++) {
        if (tau + s < tau_end) {
            cp_async16(ring + s * stageB + lane * 16, qsrc, 16);
            if (scale_lane) cp_async16(ring + s * stageB + 512 + lane * 16, ssrc, 16);
        }
        qsrc += 32;
        ssrc += GT * 64;
        cp_async_commit();
    }
    cp_async_wait<P>();  // x has landed (this thread's part)
    __syncthreads();

    // t = R·x: rows j ≡ lb (mod gridDim.x)
    if (rank > 0) {
        int done = 0;
        for (int j = lb; j < rank; j += gridDim.x) {
            const float v = d5_rx_row(Rw, Rsz, br, gR, d_in, j, x_s, red);
            if (threadIdx.x == 0) tvec[j] = v;
            done++;
        }
        if (done > 0 && threadIdx.x == 0) {
            __threadfence();
            atomicAdd(&sync[1], (unsigned)done);
        }
    }
    if (FOLD) {  // per k tile: Σx and the magic sums of rows g (M0) and g+8 (M1)
        for (int kt = warp; kt < KT; kt += D5_WARPS) {
            const uint2 v = *reinterpret_cast<const uint2*>(x_s + kt * 128 + 4 * lane);
            const float2 f0 = __half22float2(as_h2(v.x)), f1 = __half22float2(as_h2(v.y));
            const int kk = (4 * lane) & 31;  // f0 at kk, kk+1 and f1 at kk+2, kk+3: one register pair each
            float a = (f0.x + f0.y) + (f1.x + f1.y);
            float m0 = magic_sum_weight(kk, 0) * (f0.x + f0.y) + magic_sum_weight(kk + 2, 0) * (f1.x + f1.y);
            float m1 = magic_sum_weight(kk, 1) * (f0.x + f0.y) + magic_sum_weight(kk + 2, 1) * (f1.x + f1.y);
            a = warp_sum(a);
            m0 = warp_sum(m0);
            m1 = warp_sum(m1);
            if (lane == 0) xm_s[kt] = make_float4(a, m0, m1, 0.f);
        }
    }
    __syncthreads();

    int s_rd = 0;
    int mt = tau_end > tau ? tau / KT : 0, kt = tau_end > tau ? tau % KT : 0;
    while (tau < tau_end) {
        const int seg_end = min(tau_end, (mt + 1) * KT), kt0 = kt;
        float acc0 = 0.f, acc1 = 0.f;      // FOLD: rows g, g+8 of this segment
        float c4[4] = {0.f, 0.f, 0.f, 0.f};  // !FOLD: the mma chain over the segment
        for (; tau < seg_end; tau++, kt++) {
            cp_async_wait<P - 1>();
            __syncwarp();
            const unsigned char* st = ring + s_rd * stageB;
            const uint4 code = *reinterpret_cast<const uint4*>(st + lane * 16);
            const uint4* xp = reinterpret_cast<const uint4*>(x_s + kt * 128 + 32 * t);
            uint32_t a[4];
            if (FOLD) {
                const uint2 sc = *reinterpret_cast<const uint2*>(st + 512 + g * 8);
                const float4 xm = xm_s[kt];
                float c[4] = {-xm.y, -xm.y, -xm.z, -xm.z};  // the mma chain starts at −M: it ends at Σ q·x
#define D5_STEP(J)                                                                                         \
    {                                                                                                      \
        dequant_magic_raw<J>(a, code);                                                                     \
        const uint4 xb = xp[J >> 1];                                                                       \
        mma16816(c, a, (J & 1) ? xb.z : xb.x, (J & 1) ? xb.w : xb.y);                                      \
    }
                D5_STEP(0) D5_STEP(1) D5_STEP(2) D5_STEP(3) D5_STEP(4) D5_STEP(5) D5_STEP(6) D5_STEP(7)
#undef D5_STEP
                const float2 p0 = __half22float2(as_h2(sc.x)), p1 = __half22float2(as_h2(sc.y));
                acc0 = fmaf(p0.x, c[0], fmaf(p0.y, xm.x, acc0));
                acc1 = fmaf(p1.x, c[2], fmaf(p1.y, xm.x, acc1));
            } else {
                const uint2 sc = *reinterpret_cast<const uint2*>(st + 512 + (((t * GT) >> 2) * 8 + g) * 8);
                const __half2 pr0 = as_h2(sc.x), pr1 = as_h2(sc.y);
#define D5_STEP_S(J)                                                                                       \
    {                                                                                                      \
        dequant_q_magic<J>(a, code);                                                                       \
        _Pragma("unroll") for (int r = 0; r < 4; r++) {                                                    \
            const __half2 pr = (r & 1) ? pr1 : pr0;                                                        \
            a[r] = as_u32(__hfma2(as_h2(a[r]), __low2half2(pr), __high2half2(pr)));                         \
        }                                                                                                  \
        const uint4 xb = xp[J >> 1];                                                                       \
        mma16816(c4, a, (J & 1) ? xb.z : xb.x, (J & 1) ? xb.w : xb.y);                                     \
    }
                D5_STEP_S(0) D5_STEP_S(1) D5_STEP_S(2) D5_STEP_S(3) D5_STEP_S(4) D5_STEP_S(5) D5_STEP_S(6) D5_STEP_S(7)
#undef D5_STEP_S
            }
            __syncwarp();
            if (tau + P < tau_end) {
                cp_async16(ring + s_rd * stageB + lane * 16, qsrc, 16);
                if (scale_lane) cp_async16(ring + s_rd * stageB + 512 + lane * 16, ssrc, 16);
            }
            qsrc += 32;
            ssrc += GT * 64;
            cp_async_commit();
            s_rd = s_rd + 1 == P ? 0 : s_rd + 1;
        }
        if (!FOLD) {
            acc0 = c4[0];
            acc1 = c4[2];
        }

        // ---- segment [kt0, kt) of row tile mt: partial row sums + this segment's slice of L·t
        const int r = lane & 15, h = lane >> 4, o = mt * 16 + r, kt1 = kt;
        const float q0 = __shfl_sync(0xffffffffu, acc0, 4 * (r & 7)), q1 = __shfl_sync(0xffffffffu, acc1, 4 * (r & 7));
        float v = r < 8 ? q0 : q1;
        if (rank > 0) {
            const int nch = rank / 8, c0 = (int)((long long)kt0 * nch / KT), c1 = (int)((long long)kt1 * nch / KT);
            float lr = 0.f;
            if (c1 > c0) {
                if (lane == 0) {
                    while (*reinterpret_cast<volatile unsigned*>(&sync[1]) < (unsigned)rank) __nanosleep(100);
                    __threadfence();
                }
                __syncwarp();
                if (o < d_out) {
                    for (int c = c0 + h; c < c1; c += 2) {
                        const float4 ta = __ldcg(reinterpret_cast<const float4*>(tvec + 8 * c));
                        const float4 tb = __ldcg(reinterpret_cast<const float4*>(tvec + 8 * c + 4));
                        const float tv[8] = {ta.x, ta.y, ta.z, ta.w, tb.x, tb.y, tb.z, tb.w};
                        if (bl == 16) {
                            const uint4 lw = __ldg(reinterpret_cast<const uint4*>(static_cast<const __half*>(Lw) + (size_t)o * rank + 8 * c));
                            const uint32_t lv[4] = {lw.x, lw.y, lw.z, lw.w};
#pragma unroll
                            for (int e = 0; e < 4; e++) {
                                const float2 f = __half22float2(as_h2(lv[e]));
                                lr = fmaf(f.x, tv[2 * e], lr);
                                lr = fmaf(f.y, tv[2 * e + 1], lr);
                            }
                        } else {
                            const uint32_t lw = __ldg(static_cast<const uint32_t*>(Lw) + (size_t)o * nch + c);
                            const float2 f = __half22float2(__ldg(Lsz + (size_t)o * (rank / gL) + (8 * c) / gL));
                            float p = 0.f;
#pragma unroll
                            for (int e = 0; e < 8; e++) p = fmaf((float)((lw >> (4 * e)) & 15u) - f.y, tv[e], p);
                            lr = fmaf(p, f.x, lr);
                        }
                    }
                }
            }
            v += lr + __shfl_xor_sync(0xffffffffu, lr, 16);
        }
        if (kt1 - kt0 == KT) {  // the whole row tile: no partials
            if (lane < 16 && o < d_out) y[o] = __float2half_rn(v);
        } else {
            const int w0 = d5_warp_of((long long)mt * KT, N, W);
            if (lane < 16) part[((size_t)mt * cmax + (w - w0)) * 16 + lane] = v;
            __threadfence();
            __syncwarp();
            unsigned old = 0;
            if (lane == 0) old = atomicAdd(&cnt[mt], (unsigned)(kt1 - kt0));
            old = __shfl_sync(0xffffffffu, old, 0);
            if (old + (unsigned)(kt1 - kt0) == (unsigned)KT) {  // the last segment of this row tile to finish
                __threadfence();
                float s = 0.f;
                for (long long tt = (long long)mt * KT; tt < (long long)(mt + 1) * KT;) {
                    const int wi = d5_warp_of(tt, N, W);
                    s += __ldcg(part + ((size_t)mt * cmax + (wi - w0)) * 16 + r);
                    tt = d5_begin(wi + 1, N, W);
                }
                if (lane == 0) cnt[mt] = 0u;
                if (lane < 16 && o < d_out) y[o] = __float2half_rn(s);
            }
        }
        mt++;
        kt = 0;
    }

    __syncthreads();
    if (threadIdx.x == 0) {
        __threadfence();
        const unsigned d = atomicAdd(&sync[2], 1u);
        if (d == gridDim.x - 1) {  // every block is done with the counters: reset them for the next launch
            sync[0] = 0u;
            sync[1] = 0u;
            sync[2] = 0u;
            __threadfence();
        }
    }
}

#define DECODE5_KERNEL(NAME, FOLD, P)                                                                         \
    extern "C" __global__ void __launch_bounds__(D5_THREADS, 2) NAME(                                         \
        __half* y, const __half* x, const uint4* qt, const uint2* sz, const void* Lw, const __half2* Lsz,     \
        const void* Rw, const __half2* Rsz, float* tvec, float* part, unsigned* cnt, unsigned* sync,          \
        int d_out, int d_in, int MT, int KT, int GT, int rank, int bl, int gL, int br, int gR, int cmax) {    \
        qlr_decode5_impl<FOLD, P>(y, x, qt, sz, Lw, Lsz, Rw, Rsz, tvec, part, cnt, sync, d_out, d_in, MT, KT, GT, \
                               rank, bl, gL, br, gR, cmax);                                                   \
    }
DECODE5_KERNEL(qlr_decode5, false, D5_P)
DECODE5_KERNEL(qlr_decode5_fold, true, D5_P)


// ------------------------------------------------------------------ fused prefill

#define PF_BN 64                               // tokens per block
#define PF_TILES 16                            // m16 tiles per block (256 rows)
#define PF_STAGES 3
#define PF_XS (PF_BN * 256)                    // X bytes per stage: 64 tokens × 128 fp16
#define PF_CS (PF_TILES * 512)                 // code bytes per stage
#define PF_SS (PF_TILES * 4 * 64)              // (s, −z·s) bytes per stage (GT ≤ 4)
#define PF_STAGE (PF_XS + PF_CS + PF_SS)       // 28672
#define PF_SMEM (PF_STAGES * PF_STAGE)         // 86016: needs the dynamic shared-memory opt-in

// Swizzled 16-byte chunk position of chunk c (0..15) of X row n: the 8 lanes of a quarter warp
// read chunks 4t + h of rows n, n+1 (t = 0..3); XOR with bit 3 of c (→ bit 1) and the row
// parity (→ bit 0) sends them to 8 different bank groups.
__device__ __forceinline__ int xswz(int n, int c) { return c ^ (((c >> 3) & 1) << 1) ^ (n & 1); }

__device__ __forceinline__ uint32_t ld_u32_or0(const void* p, bool ok) {
    return ok ? __ldg(static_cast<const uint32_t*>(p)) : 0u;
}

// A-fragment register of L (rows o, two consecutive k): fp16 or 4-bit, zero outside.
__device__ __forceinline__ uint32_t l_pair(const void* __restrict__ Lw, const __half2* __restrict__ Lsz,
                                           int bl, int gL, int rank, int d_out, int o, int k) {
    if (o >= d_out || k >= rank) return 0u;
    if (bl == 16) return __ldg(reinterpret_cast<const uint32_t*>(static_cast<const __half*>(Lw) + (size_t)o * rank + k));
    const uint32_t w = __ldg(static_cast<const uint32_t*>(Lw) + (size_t)o * (rank / 8) + k / 8);
    const float2 f = __half22float2(Lsz[(size_t)o * (rank / gL) + k / gL]);
    const int e = k & 7;
    const float w0 = ((float)((w >> (4 * e)) & 15u) - f.y) * f.x;
    const float w1 = ((float)((w >> (4 * e + 4)) & 15u) - f.y) * f.x;
    return as_u32(__floats2half2_rn(w0, w1));
}

extern "C" __global__ void __launch_bounds__(256, 2) qlr_prefill(
    __half* __restrict__ Y,              // (T, d_out) out when S == 1
    float* __restrict__ ws,              // (S, T, d_out) fp32 partials when S > 1
    const __half* __restrict__ X,        // (T, d_in)
    const uint4* __restrict__ qt,        // (MT, KT, 32) codes, tile layout
    const uint2* __restrict__ sz,        // (MT, KT, GT, 8) (s, −z·s) of rows g, g+8
    const __half* __restrict__ Tm,       // (T, rank) = X·Rᵀ in fp16
    const void* __restrict__ Lw,         // (d_out, rank) fp16 or (d_out, rank/8) int32
    const __half2* __restrict__ Lsz,     // (d_out, rank/gL)
    int T, int d_out, int d_in, int MT, int KT, int GT, int rank, int bl, int gL, int S) {
    extern __shared__ __align__(16) unsigned char smem[];
    const int tid = threadIdx.x, lane = tid & 31, warp = tid >> 5, g = lane >> 2, t = lane & 3;
    const int wm = warp & 3, wn = warp >> 2;
    const int nb = blockIdx.x, mb = blockIdx.y, z = blockIdx.z;
    const int per = (KT + S - 1) / S;
    const int ktb = z * per, nk = max(0, min(KT, ktb + per) - ktb);

    // Per-thread copy assignments, fixed over k tiles (kept as small offsets to save registers):
    // X: chunks (row xr + 16i, chunk xc) for i = 0..3; codes: tiles ct + 8i, lane cl, i = 0..1;
    // scales: chunk tid of the stage's 16·GT·4 chunks.
    const int xr = tid >> 4, xc = tid & 15, xdst = xr * 256 + xswz(xr, xc) * 16;
    const int ct = tid >> 5, cl = tid & 31;
    const int per_tile = GT * 4;  // 16-byte chunks of scale pairs per tile
    const int sti = tid / per_tile, spart = tid % per_tile;
    auto load_stage = [&](int st, int kt) {
        unsigned char* Xs = smem + st * PF_STAGE;
        unsigned char* Cs = Xs + PF_XS;
        unsigned char* Ss = Cs + PF_CS;
        const int k = kt * 128 + 8 * xc;
#pragma unroll
        for (int i = 0; i < 4; i++) {
            const int tok = nb * PF_BN + xr + 16 * i;
            const bool v = tok < T && k < d_in;
            cp_async16(Xs + xdst + i * 4096, v ? (const void*)(X + (size_t)tok * d_in + k) : (const void*)X, v ? 16 : 0);
        }
#pragma unroll
        for (int i = 0; i < 2; i++) {
            const int mt = mb * PF_TILES + ct + 8 * i;
            const bool v = mt < MT;
            cp_async16(Cs + (tid + 256 * i) * 16, v ? (const void*)(qt + ((size_t)mt * KT + kt) * 32 + cl) : (const void*)qt, v ? 16 : 0);
        }
        if (sti < PF_TILES) {
            const int mt = mb * PF_TILES + sti;
            const bool v = mt < MT;
            const unsigned char* src = reinterpret_cast<const unsigned char*>(sz) + (((size_t)mt * KT + kt) * GT * 64 + spart * 16);
            cp_async16(Ss + tid * 16, v ? (const void*)src : (const void*)sz, v ? 16 : 0);
        }
    };

#pragma unroll
    for (int s = 0; s < PF_STAGES - 1; s++) {
        if (s < nk) load_stage(s, ktb + s);
        cp_async_commit();
    }

    float acc[4][4][4];
#pragma unroll
    for (int i = 0; i < 4; i++)
#pragma unroll
        for (int nt = 0; nt < 4; nt++) acc[i][nt][0] = acc[i][nt][1] = acc[i][nt][2] = acc[i][nt][3] = 0.f;

    // Low-rank term (split 0 only): acc += Tm[n]·L[o] over k < rank, standard k order.
    if (rank > 0 && z == 0) {
        for (int k0 = 0; k0 < rank; k0 += 16) {
            const int kA = k0 + 2 * t, kB = kA + 8;
            uint32_t b[4][2];
#pragma unroll
            for (int nt = 0; nt < 4; nt++) {
                const int n = nb * PF_BN + wn * 32 + nt * 8 + g;
                b[nt][0] = ld_u32_or0(Tm + (size_t)n * rank + kA, n < T && kA < rank);
                b[nt][1] = ld_u32_or0(Tm + (size_t)n * rank + kB, n < T && kB < rank);
            }
#pragma unroll
            for (int i = 0; i < 4; i++) {
                const int o0 = (mb * PF_TILES + wm * 4 + i) * 16 + g, o1 = o0 + 8;
                uint32_t a[4];
                a[0] = l_pair(Lw, Lsz, bl, gL, rank, d_out, o0, kA);
                a[1] = l_pair(Lw, Lsz, bl, gL, rank, d_out, o1, kA);
                a[2] = l_pair(Lw, Lsz, bl, gL, rank, d_out, o0, kB);
                a[3] = l_pair(Lw, Lsz, bl, gL, rank, d_out, o1, kB);
#pragma unroll
                for (int nt = 0; nt < 4; nt++) mma16816(acc[i][nt], a, b[nt][0], b[nt][1]);
            }
        }
    }

    const int grp = (t * GT) >> 2;
    for (int it = 0; it < nk; it++) {
        cp_async_wait<PF_STAGES - 2>();
        __syncthreads();
        {
            const int nx = it + PF_STAGES - 1;
            if (nx < nk) load_stage(nx % PF_STAGES, ktb + nx);
            cp_async_commit();
        }
        const unsigned char* Xs = smem + (it % PF_STAGES) * PF_STAGE;
        const uint4* Cs = reinterpret_cast<const uint4*>(Xs + PF_XS);
        const unsigned char* Ss = Xs + PF_XS + PF_CS;
        const unsigned char* Xw = Xs + (wn * 32 + g) * 256;  // row of n8 tile nt: + nt·2048
        uint4 code[4];
        uint2 sc[4];
#pragma unroll
        for (int i = 0; i < 4; i++) {
            const int ti = wm * 4 + i;
            code[i] = Cs[ti * 32 + lane];
            sc[i] = *reinterpret_cast<const uint2*>(Ss + ti * GT * 64 + (grp * 8 + g) * 8);
        }
#pragma unroll
        for (int jj = 0; jj < 4; jj++) {
            uint4 bq[4];
#pragma unroll
            for (int nt = 0; nt < 4; nt++)  // row parity = g & 1 for every nt
                bq[nt] = *reinterpret_cast<const uint4*>(Xw + nt * 2048 + xswz(g, 4 * t + jj) * 16);
#define PF_STEP(J, JO)                                                                                 \
    _Pragma("unroll") for (int i = 0; i < 4; i++) {                                                    \
        uint32_t a[4];                                                                                 \
        dequant_step<J>(a, code[i], sc[i]);                                                            \
        _Pragma("unroll") for (int nt = 0; nt < 4; nt++)                                               \
            mma16816(acc[i][nt], a, JO ? bq[nt].z : bq[nt].x, JO ? bq[nt].w : bq[nt].y);                \
    }
            if (jj == 0) { PF_STEP(0, 0) PF_STEP(1, 1) }
            else if (jj == 1) { PF_STEP(2, 0) PF_STEP(3, 1) }
            else if (jj == 2) { PF_STEP(4, 0) PF_STEP(5, 1) }
            else { PF_STEP(6, 0) PF_STEP(7, 1) }
#undef PF_STEP
        }
    }
    cp_async_wait<0>();

#pragma unroll
    for (int i = 0; i < 4; i++) {
#pragma unroll
        for (int nt = 0; nt < 4; nt++) {
#pragma unroll
            for (int e = 0; e < 4; e++) {
                const int m = (mb * PF_TILES + wm * 4 + i) * 16 + g + 8 * (e >> 1);
                const int n = nb * PF_BN + wn * 32 + nt * 8 + 2 * t + (e & 1);
                if (m < d_out && n < T) {
                    if (S == 1) Y[(size_t)n * d_out + m] = __float2half_rn(acc[i][nt][e]);
                    else ws[((size_t)z * T + n) * d_out + m] = acc[i][nt][e];
                }
            }
        }
    }
}

// ------------------------------------------------------------------ fused prefill, wgmma (sm_90a)

// qlr_prefill_wg: the prefill on Hopper's warpgroup mma. qlr_prefill (mma.sync) reached 222–267
// TFLOP/s with its tensor pipe 36 % busy; cuBLAS fp16 (wgmma) is about 2× faster at 128 tokens.
// Block: 2 warpgroups, 128 rows (warpgroup wg rows 64·wg.., warp wi of it one m16 tile) × 128
// tokens; one wgmma.m64n128k16 per warpgroup and k16 step, 64 fp32 accumulators per thread.
// * B (X, and Tm for the low-rank term) from shared memory in the 128-byte-swizzled K-major layout
//   (rows of 64 inputs = 128 bytes, 16-byte chunk c of row n at c ^ (n & 7), 1024-byte atoms),
//   filled by cp.async in natural k order.
// * A (Q) from registers. The tile layout permutes k inside each lane (lane t holds inputs
//   32t..32t+31), so for natural-order k16 step σ lane (g, t) takes its codes from lane
//   (g, σ/2) of the tile: words 2(σ&1), 2(σ&1)+1 hold rows g, g+8 at inputs 16σ + 2t + {0, 1}
//   and + 8 at bits 4t + 2·(row g+8) (+16 for the upper half) — one 8-byte shared load (codes
//   are staged with the stage, lane L's 16 bytes at chunk L ^ ((L >> 3) & 3): no bank
//   conflicts), a shift by 4t, lop3 into a magic fp16 (1024 or 256), hsub2, hfma2 with (s, −z·s).
// * The low-rank term: ceil(rank/64) extra k steps of 64 first (split 0 only), A = L (fp16, the
//   block's 128 rows) and B = Tm = X·Rᵀ, both from shared memory in the same swizzled layout.
// * Two stages (2 × 38 KB, two blocks per SM); each stage's cp.async data is fenced to the async
//   proxy (fence.proxy.async) before the barrier that lets the wgmma read it.
#define PW_STAGE 40960                  // X 2 × 16384 | codes 8 × 512 | scales 8 × GT × 64; LR: Tm 16384 | L 16384 | 4-bit L words 4096 | (s, z) 4096
#define PW_SMEM (2 * PW_STAGE + 1024)   // + slack to align the stages to 1024 bytes

// Shared-memory matrix descriptor: 128-byte swizzle, 8-row groups 1024 bytes apart.
__device__ __forceinline__ uint64_t pw_desc(uint32_t saddr) {
    return (uint64_t)((saddr & 0x3FFFF) >> 4) | ((uint64_t)1 << 16) | ((uint64_t)(1024 >> 4) << 32) | ((uint64_t)1 << 62);
}

#if defined(__CUDA_ARCH_FEAT_SM90_ALL)
__device__ __forceinline__ void wg_fence() { asm volatile("wgmma.fence.sync.aligned;\n" ::: "memory"); }
__device__ __forceinline__ void wg_commit() { asm volatile("wgmma.commit_group.sync.aligned;\n" ::: "memory"); }
template <int N> __device__ __forceinline__ void wg_wait() { asm volatile("wgmma.wait_group.sync.aligned %0;\n" :: "n"(N) : "memory"); }

// d (64 × 128 per warpgroup) += A (registers) · B (shared memory, K-major).
__device__ __forceinline__ void wgmma_rs(float (&d)[64], const uint32_t (&a)[4], uint64_t db) {
    asm volatile(
        "{\n.reg .pred p;\nsetp.ne.b32 p, %69, 0;\n"
        "wgmma.mma_async.sync.aligned.m64n128k16.f32.f16.f16 {%0, %1, %2, %3, %4, %5, %6, %7, %8, %9, %10, %11, %12, %13, %14, %15, %16, %17, %18, %19, %20, %21, %22, %23, %24, %25, %26, %27, %28, %29, %30, %31, %32, %33, %34, %35, %36, %37, %38, %39, %40, %41, %42, %43, %44, %45, %46, %47, %48, %49, %50, %51, %52, %53, %54, %55, %56, %57, %58, %59, %60, %61, %62, %63}, {%64, %65, %66, %67}, %68, p, 1, 1, 0;\n}\n"
        : "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3]), "+f"(d[4]), "+f"(d[5]), "+f"(d[6]), "+f"(d[7]), "+f"(d[8]), "+f"(d[9]), "+f"(d[10]), "+f"(d[11]), "+f"(d[12]), "+f"(d[13]), "+f"(d[14]), "+f"(d[15]), "+f"(d[16]), "+f"(d[17]), "+f"(d[18]), "+f"(d[19]), "+f"(d[20]), "+f"(d[21]), "+f"(d[22]), "+f"(d[23]), "+f"(d[24]), "+f"(d[25]), "+f"(d[26]), "+f"(d[27]), "+f"(d[28]), "+f"(d[29]), "+f"(d[30]), "+f"(d[31]), "+f"(d[32]), "+f"(d[33]), "+f"(d[34]), "+f"(d[35]), "+f"(d[36]), "+f"(d[37]), "+f"(d[38]), "+f"(d[39]), "+f"(d[40]), "+f"(d[41]), "+f"(d[42]), "+f"(d[43]), "+f"(d[44]), "+f"(d[45]), "+f"(d[46]), "+f"(d[47]), "+f"(d[48]), "+f"(d[49]), "+f"(d[50]), "+f"(d[51]), "+f"(d[52]), "+f"(d[53]), "+f"(d[54]), "+f"(d[55]), "+f"(d[56]), "+f"(d[57]), "+f"(d[58]), "+f"(d[59]), "+f"(d[60]), "+f"(d[61]), "+f"(d[62]), "+f"(d[63])
        : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "l"(db), "r"(1));
}
// d += A (shared memory) · B (shared memory), both K-major.
__device__ __forceinline__ void wgmma_ss(float (&d)[64], uint64_t da, uint64_t db) {
    asm volatile(
        "{\n.reg .pred p;\nsetp.ne.b32 p, %66, 0;\n"
        "wgmma.mma_async.sync.aligned.m64n128k16.f32.f16.f16 {%0, %1, %2, %3, %4, %5, %6, %7, %8, %9, %10, %11, %12, %13, %14, %15, %16, %17, %18, %19, %20, %21, %22, %23, %24, %25, %26, %27, %28, %29, %30, %31, %32, %33, %34, %35, %36, %37, %38, %39, %40, %41, %42, %43, %44, %45, %46, %47, %48, %49, %50, %51, %52, %53, %54, %55, %56, %57, %58, %59, %60, %61, %62, %63}, %64, %65, p, 1, 1, 0, 0;\n}\n"
        : "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3]), "+f"(d[4]), "+f"(d[5]), "+f"(d[6]), "+f"(d[7]), "+f"(d[8]), "+f"(d[9]), "+f"(d[10]), "+f"(d[11]), "+f"(d[12]), "+f"(d[13]), "+f"(d[14]), "+f"(d[15]), "+f"(d[16]), "+f"(d[17]), "+f"(d[18]), "+f"(d[19]), "+f"(d[20]), "+f"(d[21]), "+f"(d[22]), "+f"(d[23]), "+f"(d[24]), "+f"(d[25]), "+f"(d[26]), "+f"(d[27]), "+f"(d[28]), "+f"(d[29]), "+f"(d[30]), "+f"(d[31]), "+f"(d[32]), "+f"(d[33]), "+f"(d[34]), "+f"(d[35]), "+f"(d[36]), "+f"(d[37]), "+f"(d[38]), "+f"(d[39]), "+f"(d[40]), "+f"(d[41]), "+f"(d[42]), "+f"(d[43]), "+f"(d[44]), "+f"(d[45]), "+f"(d[46]), "+f"(d[47]), "+f"(d[48]), "+f"(d[49]), "+f"(d[50]), "+f"(d[51]), "+f"(d[52]), "+f"(d[53]), "+f"(d[54]), "+f"(d[55]), "+f"(d[56]), "+f"(d[57]), "+f"(d[58]), "+f"(d[59]), "+f"(d[60]), "+f"(d[61]), "+f"(d[62]), "+f"(d[63])
        : "l"(da), "l"(db), "r"(1));
}
#endif

// NA = A-register buffers per warp: wgmma σ reads buffer σ % NA, so up to NA wgmmas of a warpgroup
// are in flight while the next A fragment is built (wait_group NA−1 after each commit).
template <int NA>
__device__ __forceinline__ void qlr_prefill_wg_impl(
    __half* __restrict__ Y,              // (T, d_out) out when S == 1
    float* __restrict__ ws,              // (S, T, d_out) fp32 partials when S > 1
    const __half* __restrict__ X,        // (T, d_in)
    const uint4* __restrict__ qt,        // (MT, KT, 32) codes, tile layout
    const uint2* __restrict__ sz,        // (MT, KT, GT, 8) (s, −z·s) of rows g, g+8
    const __half* __restrict__ Tm,       // (T, rank) = X·Rᵀ in fp16
    const void* __restrict__ Lw,         // (d_out, rank) fp16 or (d_out, rank/8) int32
    const __half2* __restrict__ Lsz,     // (d_out, rank/gL) (s, z) when bl == 4
    int T, int d_out, int d_in, int MT, int KT, int GT, int rank, int bl, int gL, int S) {
#if defined(__CUDA_ARCH_FEAT_SM90_ALL)
    extern __shared__ unsigned char pw_raw[];
    unsigned char* smem = pw_raw + ((1024 - (smem_u32(pw_raw) & 1023)) & 1023);
    const int tid = threadIdx.x, lane = tid & 31, warp = tid >> 5, wg = warp >> 2, g = lane >> 2, t = lane & 3;
    const int nb = blockIdx.x, mb = blockIdx.y, z = blockIdx.z;
    const int per = (KT + S - 1) / S, ktb = z * per, nk = max(0, min(KT, ktb + per) - ktb);
    const int nlr = (z == 0 && rank > 0) ? (rank + 63) / 64 : 0, total = nlr + nk;

    // per-thread copy assignments of a Q stage, fixed over k tiles (sources advance with kt):
    // X chunk xc of tokens xn0 + 16i; code lane ct_l of tile ct (stored at chunk L ^ ((L >> 3) & 3));
    // scale chunk of tile tid / (4·GT)
    const int xc = tid & 15, xn0 = tid >> 4;
    const int xdst = (xc >> 3) * 16384 + xn0 * 128 + (((xc & 7) ^ (xn0 & 7)) << 4);
    unsigned xmask = 0;
#pragma unroll
    for (int i = 0; i < 8; i++) xmask |= (nb * 128 + xn0 + 16 * i < T ? 1u : 0u) << i;
    const int ct = tid >> 5, ct_l = tid & 31;
    const bool cvalid = mb * 8 + ct < MT;
    const int cdst = ct * 512 + ((ct_l ^ ((ct_l >> 3) & 3)) << 4);
    const uint4* csrc = qt + ((size_t)(mb * 8 + ct) * KT) * 32 + ct_l;
    const bool svalid = tid < 32 * GT && mb * 8 + tid / (4 * GT) < MT;
    const int sdst = tid < 32 * GT ? (tid / (4 * GT)) * GT * 64 + (tid % (4 * GT)) * 16 : 0;
    const unsigned char* ssrc = reinterpret_cast<const unsigned char*>(sz) +
                                (tid < 32 * GT ? ((size_t)(mb * 8 + tid / (4 * GT)) * KT) * GT * 64 + (tid % (4 * GT)) * 16 : 0);

    auto load_stage = [&](int st, int it) {
        unsigned char* base = smem + st * PW_STAGE;
        if (it < nlr) {  // Tm (128 tokens) and L (128 rows) × 64 ranks from r0; 4-bit L raw (converted when consumed)
            const int r0 = it * 64;
#pragma unroll
            for (int i = 0; i < 8; i++) {
                const int q = tid + 256 * i, isL = q >> 10, row = (q >> 3) & 127, c = q & 7, k = r0 + 8 * c;
                if (isL && bl != 16) break;
                const int n = nb * 128 + row, o = mb * 128 + row;
                const bool v = k < rank && (isL ? o < d_out : n < T);
                const __half* src = isL ? static_cast<const __half*>(Lw) + (size_t)o * rank + k : Tm + (size_t)n * rank + k;
                cp_async16(base + isL * 16384 + row * 128 + ((c ^ (row & 7)) << 4), v ? (const void*)src : (const void*)Tm, v ? 16 : 0);
            }
            if (bl != 16) {
                const int nw = rank / 8, ng = rank / gL, g0 = r0 / gL;
#pragma unroll
                for (int i = 0; i < 4; i++) {  // words: 128 rows × 8, and (s, z): 128 rows × up to 8 groups
                    const int q = tid + 256 * i, row = q >> 3, c = q & 7, o = mb * 128 + row;
                    const bool vw = o < d_out && r0 / 8 + c < nw, vs = o < d_out && g0 + c < ng && g0 + c <= (r0 + 63) / gL;
                    cp_async4(base + 32768 + q * 4, vw ? (const void*)(static_cast<const uint32_t*>(Lw) + (size_t)o * nw + r0 / 8 + c) : Lw, vw ? 4 : 0);
                    cp_async4(base + 36864 + q * 4, vs ? (const void*)(Lsz + (size_t)o * ng + g0 + c) : (const void*)Lsz, vs ? 4 : 0);
                }
            }
        } else {
            const int kt = ktb + it - nlr, kx = kt * 128;
            // X: thread owns chunk xc of tokens xn0 + 16i (i = 0..7): fixed destinations, source stride 16 rows
            const __half* xs = X + (size_t)(nb * 128 + xn0) * d_in + kx + 8 * xc;
            const bool kv = kx + 8 * xc < d_in;
#pragma unroll
            for (int i = 0; i < 8; i++) {
                const bool v = kv && ((xmask >> i) & 1);
                cp_async16(base + xdst + 2048 * i, v ? (const void*)(xs + (size_t)16 * i * d_in) : (const void*)X, v ? 16 : 0);
            }
            cp_async16(base + 32768 + cdst, cvalid ? (const void*)(csrc + (size_t)kt * 32) : (const void*)qt, cvalid ? 16 : 0);
            if (tid < 32 * GT) cp_async16(base + 36864 + sdst, svalid ? (const void*)(ssrc + (size_t)kt * GT * 64) : (const void*)sz, svalid ? 16 : 0);
        }
    };
    float d[64];
#pragma unroll
    for (int i = 0; i < 64; i++) d[i] = 0.f;
    if (total > 0) load_stage(0, 0);
    cp_async_commit();
    const int mtl = wg * 4 + (warp & 3);  // this warp's m16 tile in the block
    for (int it = 0; it < total; it++) {
        cp_async_wait<0>();
        asm volatile("fence.proxy.async.shared::cta;\n" ::: "memory");
        __syncthreads();
        if (it + 1 < total) load_stage((it + 1) & 1, it + 1);
        cp_async_commit();
        const uint32_t sb = smem_u32(smem + (it & 1) * PW_STAGE);
        if (it < nlr) {
            if (bl != 16) {  // 4-bit L → fp16 panel: thread = row tid/2, words 4·(tid&1) .. +3, as dequant_f4_f16 rounds
                unsigned char* base = smem + (it & 1) * PW_STAGE;
                const int row = tid >> 1, r0 = it * 64, g0 = r0 / gL;
#pragma unroll
                for (int i = 0; i < 4; i++) {
                    const int c = 4 * (tid & 1) + i;
                    const uint32_t wv = *reinterpret_cast<const uint32_t*>(base + 32768 + (row * 8 + c) * 4);
                    const float2 f = __half22float2(*reinterpret_cast<const __half2*>(base + 36864 + (row * 8 + (r0 + 8 * c) / gL - g0) * 4));
                    uint32_t pk[4] = {0u, 0u, 0u, 0u};
                    if (r0 + 8 * c < rank) {
#pragma unroll
                        for (int e = 0; e < 4; e++)
                            pk[e] = as_u32(__floats2half2_rn(((float)((wv >> (8 * e)) & 15u) - f.y) * f.x,
                                                             ((float)((wv >> (8 * e + 4)) & 15u) - f.y) * f.x));
                    }
                    *reinterpret_cast<uint4*>(base + 16384 + row * 128 + ((c ^ (row & 7)) << 4)) = make_uint4(pk[0], pk[1], pk[2], pk[3]);
                }
                asm volatile("fence.proxy.async.shared::cta;\n" ::: "memory");
                __syncthreads();
            }
#pragma unroll
            for (int s = 0; s < 4; s++) {
                wg_fence();
                wgmma_ss(d, pw_desc(sb + 16384 + wg * 8192 + 32 * s), pw_desc(sb + 32 * s));
                wg_commit();
            }
            wg_wait<0>();
        } else {
            const unsigned char* Cs = smem + (it & 1) * PW_STAGE + 32768 + mtl * 512 + 64 * g;
            const unsigned char* Ss = smem + (it & 1) * PW_STAGE + 36864 + mtl * GT * 64 + 8 * g;
            uint32_t a[NA][4];
            uint4 cq;
#pragma unroll
            for (int s = 0; s < 8; s++) {
                if ((s & 1) == 0) cq = *reinterpret_cast<const uint4*>(Cs + (((s >> 1) ^ (g >> 1)) << 4));
                const uint2 sc = *reinterpret_cast<const uint2*>(Ss + ((s * GT) >> 3) * 64);
                const uint32_t w0 = ((s & 1) ? cq.z : cq.x) >> (4 * t), w1 = ((s & 1) ? cq.w : cq.y) >> (4 * t);
                uint32_t (&A)[4] = a[s % NA];
                // rows g (bits 0–1 of each half: magic 1024) and g+8 (bits 2–3: magic 256)
                A[0] = as_u32(__hsub2(as_h2(lop3_and_or(w0, 0x00030003u, 0x64006400u)), as_h2(0x64006400u)));
                A[1] = as_u32(__hsub2(as_h2(lop3_and_or(w0, 0x000C000Cu, 0x5C005C00u)), as_h2(0x5C005C00u)));
                A[2] = as_u32(__hsub2(as_h2(lop3_and_or(w1, 0x00030003u, 0x64006400u)), as_h2(0x64006400u)));
                A[3] = as_u32(__hsub2(as_h2(lop3_and_or(w1, 0x000C000Cu, 0x5C005C00u)), as_h2(0x5C005C00u)));
                const __half2 p0 = as_h2(sc.x), p1 = as_h2(sc.y);
                A[0] = as_u32(__hfma2(as_h2(A[0]), __low2half2(p0), __high2half2(p0)));
                A[1] = as_u32(__hfma2(as_h2(A[1]), __low2half2(p1), __high2half2(p1)));
                A[2] = as_u32(__hfma2(as_h2(A[2]), __low2half2(p0), __high2half2(p0)));
                A[3] = as_u32(__hfma2(as_h2(A[3]), __low2half2(p1), __high2half2(p1)));
                wg_fence();
                wgmma_rs(d, A, pw_desc(sb + (s >> 2) * 16384 + 32 * (s & 3)));
                wg_commit();
                wg_wait<NA - 1>();
            }
            wg_wait<0>();
        }
    }
    cp_async_wait<0>();
    // the accumulators are final only after the last wait: tie every read of them below to it
#pragma unroll
    for (int i = 0; i < 64; i++) asm volatile("" : "+f"(d[i])::"memory");

    const int m0 = mb * 128 + mtl * 16 + g;
#pragma unroll
    for (int c = 0; c < 16; c++)
#pragma unroll
        for (int e = 0; e < 4; e++) {
            const int m = m0 + 8 * (e >> 1), n = nb * 128 + 8 * c + 2 * t + (e & 1);
            if (m < d_out && n < T) {
                if (S == 1) Y[(size_t)n * d_out + m] = __float2half_rn(d[4 * c + e]);
                else ws[((size_t)z * T + n) * d_out + m] = d[4 * c + e];
            }
        }
#endif
}

#define PREFILL_WG_KERNEL(NAME, NA)                                                                           \
    extern "C" __global__ void __launch_bounds__(256, 2) NAME(                                                \
        __half* Y, float* ws, const __half* X, const uint4* qt, const uint2* sz, const __half* Tm,            \
        const void* Lw, const __half2* Lsz, int T, int d_out, int d_in, int MT, int KT, int GT, int rank,     \
        int bl, int gL, int S) {                                                                              \
        qlr_prefill_wg_impl<NA>(Y, ws, X, qt, sz, Tm, Lw, Lsz, T, d_out, d_in, MT, KT, GT, rank, bl, gL, S);  \
    }
PREFILL_WG_KERNEL(qlr_prefill_wg, 3)

// out[i] = fp16(Σ_z ws[z][i]) in z order: the split-k reduction (deterministic).
extern "C" __global__ void __launch_bounds__(256) reduce_splitk(
    __half* __restrict__ out,            // (n) out
    const float* __restrict__ ws,        // (S, n)
    int S, long long n) {
    for (long long i = (long long)blockIdx.x * blockDim.x + threadIdx.x; i < n; i += (long long)gridDim.x * blockDim.x) {
        float s = 0.f;
        for (int z = 0; z < S; z++) s += ws[(size_t)z * n + i];
        out[i] = __float2half_rn(s);
    }
}

// ------------------------------------------------------------------ fp16 baselines

// fp16 matrix product out[n][m] = Σ_k A[m][k]·B[n][k] (y = x·Wᵀ with A = W, B = X).
// Block tile 256 (m) × 64 (n) × 64 (k), nstages = 3 cp.async stages (120 KB; 2 where a block may
// not have that much shared memory, e.g. 99 KB on sm_86), ldmatrix on 128-byte rows with the
// 16-byte chunk index XOR (row & 7) (8 rows read at one chunk → 8 bank groups).
#define G_BM 256
#define G_BN 64
#define G_AS (G_BM * 128)
#define G_BS (G_BN * 128)
#define G_STAGE (G_AS + G_BS)         // 40960 bytes of shared memory per stage

extern "C" __global__ void __launch_bounds__(256, 1) gemm_f16(
    __half* __restrict__ out,            // (N, M) out when S == 1
    float* __restrict__ ws,              // (S, N, M) fp32 partials when S > 1
    const __half* __restrict__ A,        // (M, K)
    const __half* __restrict__ B,        // (N, K)
    int M, int N, int K, int S, int nstages) {
    extern __shared__ __align__(16) unsigned char smem[];
    const int tid = threadIdx.x, lane = tid & 31, warp = tid >> 5, g = lane >> 2, t = lane & 3;
    const int wm = warp & 3, wn = warp >> 2;
    const int nb = blockIdx.x, mb = blockIdx.y, z = blockIdx.z;
    const int KT = (K + 63) / 64, per = (KT + S - 1) / S;
    const int ktb = z * per, nk = max(0, min(KT, ktb + per) - ktb);

    auto load_stage = [&](int st, int kt) {
        unsigned char* As = smem + st * G_STAGE;
        unsigned char* Bs = As + G_AS;
        for (int q = tid; q < G_BM * 8; q += 256) {
            const int r = q >> 3, c = q & 7, m = mb * G_BM + r, k = kt * 64 + 8 * c;
            const bool v = m < M && k < K;
            cp_async16(As + r * 128 + ((c ^ (r & 7)) << 4), v ? (const void*)(A + (size_t)m * K + k) : (const void*)A, v ? 16 : 0);
        }
        for (int q = tid; q < G_BN * 8; q += 256) {
            const int r = q >> 3, c = q & 7, n = nb * G_BN + r, k = kt * 64 + 8 * c;
            const bool v = n < N && k < K;
            cp_async16(Bs + r * 128 + ((c ^ (r & 7)) << 4), v ? (const void*)(B + (size_t)n * K + k) : (const void*)B, v ? 16 : 0);
        }
    };
    for (int s = 0; s < nstages - 1; s++) {
        if (s < nk) load_stage(s, ktb + s);
        cp_async_commit();
    }
    float acc[4][4][4];
#pragma unroll
    for (int i = 0; i < 4; i++)
#pragma unroll
        for (int nt = 0; nt < 4; nt++) acc[i][nt][0] = acc[i][nt][1] = acc[i][nt][2] = acc[i][nt][3] = 0.f;

    for (int it = 0; it < nk; it++) {
        if (nstages == 3) cp_async_wait<1>();
        else cp_async_wait<0>();
        __syncthreads();
        {
            const int nx = it + nstages - 1;
            if (nx < nk) load_stage(nx % nstages, ktb + nx);
            cp_async_commit();
        }
        const unsigned char* As = smem + (it % nstages) * G_STAGE;
        const unsigned char* Bs = As + G_AS;
#pragma unroll
        for (int kk = 0; kk < 4; kk++) {
            uint32_t a[4][4], b[2][4];
#pragma unroll
            for (int i = 0; i < 4; i++) {
                const int r = (wm * 4 + i) * 16 + (lane & 7) + 8 * ((lane >> 3) & 1);
                const int c = 2 * kk + (lane >> 4);
                ldmatrix_x4(a[i], As + r * 128 + ((c ^ (r & 7)) << 4));
            }
#pragma unroll
            for (int np = 0; np < 2; np++) {
                const int r = wn * 32 + np * 16 + (lane & 7) + 8 * (lane >> 4);
                const int c = 2 * kk + ((lane >> 3) & 1);
                ldmatrix_x4(b[np], Bs + r * 128 + ((c ^ (r & 7)) << 4));
            }
#pragma unroll
            for (int i = 0; i < 4; i++)
#pragma unroll
                for (int nt = 0; nt < 4; nt++)
                    mma16816(acc[i][nt], a[i], b[nt >> 1][2 * (nt & 1)], b[nt >> 1][2 * (nt & 1) + 1]);
        }
    }
    cp_async_wait<0>();
#pragma unroll
    for (int i = 0; i < 4; i++)
#pragma unroll
        for (int nt = 0; nt < 4; nt++)
#pragma unroll
            for (int e = 0; e < 4; e++) {
                const int m = mb * G_BM + (wm * 4 + i) * 16 + g + 8 * (e >> 1);
                const int n = nb * G_BN + wn * 32 + nt * 8 + 2 * t + (e & 1);
                if (m < M && n < N) {
                    if (S == 1) out[(size_t)n * M + m] = __float2half_rn(acc[i][nt][e]);
                    else ws[((size_t)z * N + n) * M + m] = acc[i][nt][e];
                }
            }
}

// fp16 matrix-vector product y = W·x: a warp owns 2 rows, lanes stride k in 16-byte loads,
// 4 iterations unrolled (8 loads of W in flight per lane), fp32 accumulation.
extern "C" __global__ void __launch_bounds__(256) gemv_f16(
    __half* __restrict__ y,              // (d_out) out
    const __half* __restrict__ W,        // (d_out, d_in)
    const __half* __restrict__ x,        // (d_in)
    int d_out, int d_in) {
    const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
    const int o0 = (blockIdx.x * WARPS + warp) * 2, o1 = o0 + 1;
    if (o0 >= d_out) return;
    const bool has1 = o1 < d_out;
    const uint4* w0 = reinterpret_cast<const uint4*>(W + (size_t)o0 * d_in);
    const uint4* w1 = reinterpret_cast<const uint4*>(W + (size_t)(has1 ? o1 : o0) * d_in);
    const uint4* xv = reinterpret_cast<const uint4*>(x);
    const int n8 = d_in / 8;
    float s0 = 0.f, s1 = 0.f;
    for (int i0 = lane; i0 < n8; i0 += 32 * 4) {
        uint4 a[4], b[4], xx[4];
#pragma unroll
        for (int u = 0; u < 4; u++) {
            const int i = i0 + 32 * u;
            const bool ok = i < n8;
            a[u] = ok ? __ldcs(w0 + i) : make_uint4(0, 0, 0, 0);
            b[u] = ok ? __ldcs(w1 + i) : make_uint4(0, 0, 0, 0);
            xx[u] = ok ? __ldg(xv + i) : make_uint4(0, 0, 0, 0);
        }
#pragma unroll
        for (int u = 0; u < 4; u++) {
            s0 += dot8_f16(a[u], xx[u]);
            s1 += dot8_f16(b[u], xx[u]);
        }
    }
    s0 = warp_sum(s0);
    s1 = warp_sum(s1);
    if (lane == 0) {
        y[o0] = __float2half_rn(s0);
        if (has1) y[o1] = __float2half_rn(s1);
    }
}

// ------------------------------------------------------------------ unfused pieces

// W[o][k] = q·s + nzs (= (q − z)·s) in fp16 from the tile layout: thread = (tile, lane); its 64 codes are
// rows g, g+8 × k = 32t..32t+31 of the tile, written as 4 + 4 16-byte stores.
extern "C" __global__ void __launch_bounds__(256) dequant_q_f16(
    __half* __restrict__ W,              // (d_out, d_in) out
    const uint4* __restrict__ qt,        // (MT, KT, 32)
    const uint2* __restrict__ sz,        // (MT, KT, GT, 8)
    int d_out, int d_in, int MT, int KT, int GT) {
    const long long id = (long long)blockIdx.x * blockDim.x + threadIdx.x;
    if (id >= (long long)MT * KT * 32) return;
    const int lane = (int)(id & 31), g = lane >> 2, t = lane & 3;
    const long long tile = id >> 5;
    const int mt = (int)(tile / KT), kt = (int)(tile % KT);
    const uint4 code = qt[id];
    const uint2 szv = sz[(tile * GT + ((t * GT) >> 2)) * 8 + g];
    const uint32_t wv[4] = {code.x, code.y, code.z, code.w};
#pragma unroll
    for (int rs = 0; rs < 2; rs++) {
        const int o = mt * 16 + g + 8 * rs;
        if (o >= d_out) continue;
        const float2 f = __half22float2(as_h2(rs ? szv.y : szv.x));  // (s, −z·s)
#pragma unroll
        for (int cq = 0; cq < 4; cq++) {  // 8 inputs kk = 8cq..8cq+7 → one 16-byte store
            const int k = kt * 128 + 32 * t + 8 * cq;
            if (k >= d_in) break;
            uint32_t packed[4];
#pragma unroll
            for (int e2 = 0; e2 < 4; e2++) {
                float w2[2];
#pragma unroll
                for (int hi = 0; hi < 2; hi++) {
                    const int kk = 8 * cq + 2 * e2 + hi;        // 0..31 within the lane
                    const int j = kk >> 2, reg = rs + 2 * ((kk >> 1) & 1);
                    const int p = 4 * (j & 1) + reg, slot = p + 8 * hi;
                    const uint32_t q = (wv[j >> 1] >> (2 * slot)) & 3u;
                    w2[hi] = fmaf((float)q, f.x, f.y);
                }
                packed[e2] = as_u32(__floats2half2_rn(w2[0], w2[1]));
            }
            *reinterpret_cast<uint4*>(W + (size_t)o * d_in + k) = make_uint4(packed[0], packed[1], packed[2], packed[3]);
        }
    }
}

// A 4-bit factor (rows, cols) to fp16: thread = one int32 word of 8 codes → one 16-byte store.
extern "C" __global__ void __launch_bounds__(256) dequant_f4_f16(
    __half* __restrict__ out,            // (rows, cols) out
    const uint32_t* __restrict__ qw,     // (rows, cols/8)
    const __half2* __restrict__ fsz,     // (rows, cols/group)
    int rows, int cols, int group) {
    const long long id = (long long)blockIdx.x * blockDim.x + threadIdx.x;
    const int wpr = cols / 8;
    if (id >= (long long)rows * wpr) return;
    const int r = (int)(id / wpr), wc = (int)(id % wpr);
    const uint32_t w = qw[id];
    const float2 f = __half22float2(fsz[(size_t)r * (cols / group) + (8 * wc) / group]);
    uint32_t packed[4];
#pragma unroll
    for (int i = 0; i < 4; i++)
        packed[i] = as_u32(__floats2half2_rn(((float)((w >> (8 * i)) & 15u) - f.y) * f.x,
                                             ((float)((w >> (8 * i + 4)) & 15u) - f.y) * f.x));
    *reinterpret_cast<uint4*>(out + (size_t)r * cols + 8 * wc) = make_uint4(packed[0], packed[1], packed[2], packed[3]);
}

// y = a + b (fp16, added in fp32).
extern "C" __global__ void __launch_bounds__(256) add_f16(
    __half* __restrict__ y, const __half* __restrict__ a, const __half* __restrict__ b, long long n) {
    for (long long i = (long long)blockIdx.x * blockDim.x + threadIdx.x; i < n; i += (long long)gridDim.x * blockDim.x)
        y[i] = __float2half_rn(__half2float(a[i]) + __half2float(b[i]));
}

// Busy-waits about ns nanoseconds: the benchmark queues its timed launches behind it, so the
// host's launch rate cannot leave gaps in the measured interval.
extern "C" __global__ void spin_wait(long long ns) {
    unsigned long long t0, t1;
    asm volatile("mov.u64 %0, %%globaltimer;" : "=l"(t0));
    do {
        asm volatile("mov.u64 %0, %%globaltimer;" : "=l"(t1));
    } while ((long long)(t1 - t0) < ns);
}
