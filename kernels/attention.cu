// Fused attention (flash-attention style, float32) and the recomputation of
// exact probabilities from the log-sum-exp it keeps.
// CPU reference: gaze::ops::attention (src/ops/attention.cpp).
//
// A block takes 16 query rows of one (batch, head), 4 warps of 4 rows each.
// Keys and values stream through shared memory 32 at a time; lane j scores key
// j of the tile against the warp's row, the row's running max m and sum l are
// rescaled as the tile's max arrives (online softmax), and each lane keeps
// d/32 columns of the output accumulator. Sq x Sk scores never exist in
// memory: the row's lse = m + log l is written instead, and
// attention_probabilities turns any requested (head, row) back into exact
// probabilities exp(score - lse) with one more pass over its keys.
#include <vector>

#include "check.cuh"
#include "masking.cuh"

namespace gaze::cuda {
namespace {
using detail::Masks;

constexpr int kKeysPerTile = 32;
constexpr int kWarps = 4, kRowsPerWarp = 4, kRowsPerBlock = kWarps * kRowsPerWarp;
constexpr int kMaxHeadDim = 128, kColsPerLane = kMaxHeadDim / 32;

struct Operands {
    DeviceMatrix q, k, v;
    long long sq, sk, head_dim, group;  // group: query heads per kv head
};

__global__ void __launch_bounds__(kWarps * 32) fused_attention_kernel(Operands o, Masks m, float* out, float* lse) {
    extern __shared__ float shared[];
    const long long d = o.head_dim;
    float* ks = shared;                          // [32][d + 1]: padded, lanes read different rows
    float* vs = ks + kKeysPerTile * (d + 1);     // [32][d]
    float* qs = vs + kKeysPerTile * d;           // [16][d]
    const long long b = blockIdx.z, h = blockIdx.y, kvh = h / o.group, row0 = blockIdx.x * (long long)kRowsPerBlock;
    const int warp = threadIdx.x / 32, lane = threadIdx.x % 32;
    const long long heads = gridDim.y;

    for (long long e = threadIdx.x; e < kRowsPerBlock * d; e += blockDim.x) {
        const long long r = row0 + e / d;
        qs[e] = r < o.sq ? o.q.data[(b * o.sq + r) * o.q.stride + h * d + e % d] : 0.f;
    }
    // The keys any row of this block can see: tiles outside are skipped.
    long long block_first = o.sk, block_last = 0;
    for (long long r = row0; r < min(o.sq, row0 + kRowsPerBlock); ++r) {
        long long f, l;
        detail::visible_keys(m, r, o.sk, f, l);
        if (f < l) {
            block_first = min(block_first, f);
            block_last = max(block_last, l);
        }
    }
    float run_max[kRowsPerWarp], run_sum[kRowsPerWarp], acc[kRowsPerWarp][kColsPerLane];
#pragma unroll
    for (int r = 0; r < kRowsPerWarp; ++r) {
        run_max[r] = -INFINITY;
        run_sum[r] = 0.f;
#pragma unroll
        for (int t = 0; t < kColsPerLane; ++t) acc[r][t] = 0.f;
    }
    for (long long k0 = block_first - block_first % kKeysPerTile; k0 < block_last; k0 += kKeysPerTile) {
        __syncthreads();  // the previous tile is fully read (and qs written, first time)
        for (long long e = threadIdx.x; e < kKeysPerTile * d; e += blockDim.x) {
            const long long j = k0 + e / d, c = e % d;
            const bool in = j < o.sk;
            ks[(e / d) * (d + 1) + c] = in ? o.k.data[(b * o.sk + j) * o.k.stride + kvh * d + c] : 0.f;
            vs[e] = in ? o.v.data[(b * o.sk + j) * o.v.stride + kvh * d + c] : 0.f;
        }
        __syncthreads();
#pragma unroll
        for (int r = 0; r < kRowsPerWarp; ++r) {
            const long long i = row0 + warp * kRowsPerWarp + r;
            if (i >= o.sq) continue;  // warp-uniform
            long long first, last;
            detail::visible_keys(m, i, o.sk, first, last);
            const long long j = k0 + lane;
            float s = -INFINITY;
            if (j >= first && j < last) {
                const float* qrow = qs + (warp * kRowsPerWarp + r) * d;
                const float* krow = ks + lane * (d + 1);
                float dot = 0.f;
                for (long long c = 0; c < d; ++c) dot += qrow[c] * krow[c];
                s = detail::masked_score(dot, m, b, h, i, j, o.sq, o.sk);
            }
            const float new_max = fmaxf(run_max[r], detail::warp_max(s));
            if (new_max == -INFINITY) continue;  // nothing visible yet (warp-uniform)
            const float p = s == -INFINITY ? 0.f : expf(s - new_max);
            const float rescale = run_max[r] == -INFINITY ? 0.f : expf(run_max[r] - new_max);
            run_sum[r] = run_sum[r] * rescale + detail::warp_sum(p);
            run_max[r] = new_max;
#pragma unroll
            for (int t = 0; t < kColsPerLane; ++t) acc[r][t] *= rescale;
            for (int jj = 0; jj < kKeysPerTile; ++jj) {
                const float pj = __shfl_sync(0xffffffffu, p, jj);
#pragma unroll
                for (int t = 0; t < kColsPerLane; ++t) {
                    const long long c = lane + 32 * t;
                    if (c < d) acc[r][t] += pj * vs[jj * d + c];
                }
            }
        }
    }
#pragma unroll
    for (int r = 0; r < kRowsPerWarp; ++r) {
        const long long i = row0 + warp * kRowsPerWarp + r;
        if (i >= o.sq) continue;
        const float inv = run_sum[r] > 0.f ? 1.f / run_sum[r] : 0.f;  // every key masked: zeros
        float* dst = out + (b * o.sq + i) * heads * d + h * d;
#pragma unroll
        for (int t = 0; t < kColsPerLane; ++t) {
            const long long c = lane + 32 * t;
            if (c < d) dst[c] = acc[r][t] * inv;
        }
        if (lse && lane == 0) {
            lse[(b * heads + h) * o.sq + i] = run_sum[r] > 0.f ? run_max[r] + logf(run_sum[r]) : -INFINITY;
        }
    }
}

// One block per (requested row, requested head, batch); a warp per key, its
// lanes over the head's columns (coalesced reads of q and k rows).
__global__ void probabilities_kernel(Operands o, Masks m, const float* lse, const int32_t* heads_wanted,
                                     const int32_t* rows_wanted, long long heads, float* out) {
    const long long ri = blockIdx.x, hi = blockIdx.y, b = blockIdx.z;
    const long long nr = gridDim.x, nh = gridDim.y;
    const long long h = heads_wanted[hi], i = rows_wanted[ri], kvh = h / o.group, d = o.head_dim;
    const int warp = threadIdx.x / 32, lane = threadIdx.x % 32, warps = blockDim.x / 32;
    const float row_lse = lse[(b * heads + h) * o.sq + i];
    long long first, last;
    detail::visible_keys(m, i, o.sk, first, last);
    const float* qrow = o.q.data + (b * o.sq + i) * o.q.stride + h * d;
    float* dst = out + ((b * nh + hi) * nr + ri) * o.sk;
    for (long long j = warp; j < o.sk; j += warps) {
        float dot = 0.f;
        const float* krow = o.k.data + (b * o.sk + j) * o.k.stride + kvh * d;
        for (long long c = lane; c < d; c += 32) dot += qrow[c] * krow[c];
        dot = detail::warp_sum(dot);
        if (lane == 0) {
            const bool visible = j >= first && j < last && row_lse != -INFINITY;
            const float s = visible ? detail::masked_score(dot, m, b, h, i, j, o.sq, o.sk) : -INFINITY;
            dst[j] = s == -INFINITY ? 0.f : expf(s - row_lse);
        }
    }
}

Operands check_operands(const char* op, const DeviceMatrix& q, const DeviceMatrix& k, const DeviceMatrix& v,
                        const AttentionParams& p) {
    auto fail = [&](const std::string& why) { throw Error(std::string(op) + ": " + why); };
    const long long kv_heads = p.kv_heads == 0 ? p.heads : p.kv_heads;
    if (p.batch <= 0 || p.heads <= 0 || kv_heads <= 0 || p.heads % kv_heads != 0) {
        fail("batch " + std::to_string(p.batch) + ", heads " + std::to_string(p.heads) + " and kv_heads " +
             std::to_string(p.kv_heads) + " must be positive, heads a multiple of kv_heads");
    }
    if (q.cols % p.heads != 0) fail("q width " + std::to_string(q.cols) + " is not a multiple of heads");
    const long long d = q.cols / p.heads;
    if (d == 0 || d > kMaxHeadDim) fail("head_dim " + std::to_string(d) + " outside 1.." + std::to_string(kMaxHeadDim));
    if (k.cols != kv_heads * d || v.cols != k.cols) fail("k and v widths must be kv_heads * head_dim");
    if (q.rows % p.batch != 0 || k.rows % p.batch != 0 || v.rows != k.rows) {
        fail("q, k, v rows must be batch * length, k and v alike");
    }
    if (q.stride < q.cols || k.stride < k.cols || v.stride < v.cols) fail("row stride below the width");
    return {q, k, v, q.rows / p.batch, k.rows / p.batch, d, p.heads / kv_heads};
}

}  // namespace

void attention(DeviceMatrix q, DeviceMatrix k, DeviceMatrix v, const AttentionParams& params, DeviceTensor& out,
               DeviceTensor* lse) {
    const Operands o = check_operands("cuda::attention", q, k, v, params);
    const Masks m = detail::device_masks(params.masking, params.batch, params.heads, o.sq, o.sk, "cuda::attention");
    out.resize({params.batch, o.sq, q.cols});
    if (lse) lse->resize({params.batch, params.heads, o.sq});
    if (o.sq == 0) return;
    const dim3 grid(blocks_for(o.sq, kRowsPerBlock), static_cast<unsigned>(params.heads),
                    static_cast<unsigned>(params.batch));
    const size_t shared = sizeof(float) * static_cast<size_t>(kKeysPerTile * (o.head_dim + 1) +
                                                              kKeysPerTile * o.head_dim + kRowsPerBlock * o.head_dim);
    fused_attention_kernel<<<grid, kWarps * 32, shared, stream()>>>(o, m, out.f32(), lse ? lse->f32() : nullptr);
    GAZE_CUDA_CHECK_LAUNCH("fused_attention_kernel");
}

void ProbabilityRequest::set(std::span<const int> head_indices, std::span<const int64_t> row_indices, int64_t heads_in,
                             int64_t sq) {
    std::vector<int32_t> h(head_indices.begin(), head_indices.end()), r;
    for (size_t n = 0; n < h.size(); ++n) {
        if (h[n] < 0 || h[n] >= heads_in) {
            throw Error("attention probabilities: head " + std::to_string(h[n]) + " outside [0, " +
                        std::to_string(heads_in) + ")");
        }
    }
    if (row_indices.empty()) {
        for (int64_t i = 0; i < sq; ++i) r.push_back(static_cast<int32_t>(i));
    }
    for (const int64_t i : row_indices) {
        if (i < 0 || i >= sq) {
            throw Error("attention probabilities: query row " + std::to_string(i) + " outside [0, " +
                        std::to_string(sq) + ")");
        }
        r.push_back(static_cast<int32_t>(i));
    }
    heads.upload_ints(h);
    rows.upload_ints(r);
    head_count = static_cast<int64_t>(h.size());
    row_count = static_cast<int64_t>(r.size());
}

void attention_probabilities(DeviceMatrix q, DeviceMatrix k, const AttentionParams& params, const DeviceTensor& lse,
                             const ProbabilityRequest& request, DeviceTensor& out) {
    const Operands o = check_operands("cuda::attention_probabilities", q, k, k, params);
    const Masks m =
        detail::device_masks(params.masking, params.batch, params.heads, o.sq, o.sk, "cuda::attention_probabilities");
    if (lse.shape() != Shape{params.batch, params.heads, o.sq}) {
        throw Error("cuda::attention_probabilities: lse " + lse.shape().str() + " is not [B, heads, Sq]");
    }
    out.resize({params.batch, request.head_count, request.row_count, o.sk});
    if (out.numel() == 0) return;
    const dim3 grid(static_cast<unsigned>(request.row_count), static_cast<unsigned>(request.head_count),
                    static_cast<unsigned>(params.batch));
    probabilities_kernel<<<grid, 128, 0, stream()>>>(o, m, lse.f32(), request.heads.i32(), request.rows.i32(),
                                                     params.heads, out.f32());
    GAZE_CUDA_CHECK_LAUNCH("probabilities_kernel");
}

}  // namespace gaze::cuda
