// Fused scale + mask (padding, causal, sliding window) + bias (T5) + softmax
// over the rows of [B, H, Sq, Sk] scores, in place.
// CPU reference: gaze::ops::scaled_masked_softmax (src/ops/attention.cpp).
//
// One read and one write of each score: the row is held in registers (warp
// kernel, Sk <= 1024: 32 values per lane at most) or in shared memory (block
// kernel), max and sum are reduced with shuffles.
#include "check.cuh"
#include "masking.cuh"

namespace gaze::cuda {
namespace detail {

Masks device_masks(const DeviceMasking& m, long long batch, long long heads, long long sq, long long sk,
                   const char* op) {
    if (m.window < 0) throw Error(std::string(op) + ": window must be >= 0, got " + std::to_string(m.window));
    if (m.key_mask && (m.key_mask->dtype() != DType::f32 || m.key_mask->shape() != Shape{batch, sk})) {
        throw Error(std::string(op) + ": key_mask must be float32 [B, Sk] = [" + std::to_string(batch) + ", " +
                    std::to_string(sk) + "], got " + m.key_mask->shape().str());
    }
    if (m.bias) {
        const Shape& s = m.bias->shape();
        if (m.bias->dtype() != DType::f32 || s.rank() != 3 || (s[0] != 1 && s[0] != heads) || s[1] != sq ||
            s[2] != sk) {
            throw Error(std::string(op) + ": bias must be float32 [1 or H, Sq, Sk], got " + s.str());
        }
    }
    return {m.scale, m.causal ? 1 : 0, m.causal_offset, m.window, m.key_mask ? m.key_mask->f32() : nullptr,
            m.bias ? m.bias->f32() : nullptr, m.bias ? static_cast<int>(m.bias->dim(0)) : 1};
}

}  // namespace detail

namespace {
using detail::Masks;

struct RowIndex {
    long long b, h, i;
};
__device__ RowIndex split_row(long long row, long long heads, long long sq) {
    return {row / (sq * heads), (row / sq) % heads, row % sq};
}

constexpr int kWarpMaxPerLane = 32;  // the warp kernel handles Sk <= 32 * 32

__global__ void softmax_warp_per_row(float* scores, long long rows, long long heads, long long sq, long long sk,
                                     Masks m) {
    const long long row_index = blockIdx.x * (long long)(blockDim.x / 32) + threadIdx.x / 32;
    if (row_index >= rows) return;
    const int lane = threadIdx.x % 32;
    const RowIndex r = split_row(row_index, heads, sq);
    long long first, last;
    detail::visible_keys(m, r.i, sk, first, last);
    float* row = scores + row_index * sk;
    float v[kWarpMaxPerLane];
    float max = -INFINITY;
#pragma unroll
    for (int t = 0; t < kWarpMaxPerLane; ++t) {
        const long long j = lane + 32LL * t;
        v[t] = j >= first && j < last ? detail::masked_score(row[j], m, r.b, r.h, r.i, j, sq, sk) : -INFINITY;
        max = fmaxf(max, v[t]);
    }
    max = detail::warp_max(max);
    float sum = 0.f;
#pragma unroll
    for (int t = 0; t < kWarpMaxPerLane; ++t) {
        v[t] = max == -INFINITY ? 0.f : __expf(v[t] - max);
        sum += v[t];
    }
    sum = detail::warp_sum(sum);
    const float inv = sum > 0.f ? 1.f / sum : 0.f;
#pragma unroll
    for (int t = 0; t < kWarpMaxPerLane; ++t) {
        const long long j = lane + 32LL * t;
        if (j < sk) row[j] = v[t] * inv;
    }
}

__device__ float block_reduce(float v, bool is_max, float* shared) {
    v = is_max ? detail::warp_max(v) : detail::warp_sum(v);
    const int warp = threadIdx.x / 32, lane = threadIdx.x % 32, warps = blockDim.x / 32;
    __syncthreads();  // `shared` may still be read from the previous reduction
    if (lane == 0) shared[warp] = v;
    __syncthreads();
    v = lane < warps ? shared[lane] : (is_max ? -INFINITY : 0.f);
    if (warp == 0) v = is_max ? detail::warp_max(v) : detail::warp_sum(v);
    if (threadIdx.x == 0) shared[0] = v;
    __syncthreads();
    return shared[0];
}

// Long rows: one block per row, the masked row cached in dynamic shared memory.
__global__ void softmax_block_per_row(float* scores, long long heads, long long sq, long long sk, Masks m) {
    extern __shared__ float cache[];
    __shared__ float reduce[32];
    const long long row_index = blockIdx.x;
    const RowIndex r = split_row(row_index, heads, sq);
    long long first, last;
    detail::visible_keys(m, r.i, sk, first, last);
    float* row = scores + row_index * sk;
    float max = -INFINITY;
    for (long long j = threadIdx.x; j < sk; j += blockDim.x) {
        cache[j] = j >= first && j < last ? detail::masked_score(row[j], m, r.b, r.h, r.i, j, sq, sk) : -INFINITY;
        max = fmaxf(max, cache[j]);
    }
    max = block_reduce(max, true, reduce);
    float sum = 0.f;
    for (long long j = threadIdx.x; j < sk; j += blockDim.x) {
        cache[j] = max == -INFINITY ? 0.f : __expf(cache[j] - max);
        sum += cache[j];
    }
    sum = block_reduce(sum, false, reduce);
    const float inv = sum > 0.f ? 1.f / sum : 0.f;
    for (long long j = threadIdx.x; j < sk; j += blockDim.x) row[j] = cache[j] * inv;
}

}  // namespace

void scaled_masked_softmax(DeviceTensor& scores, const DeviceMasking& masking) {
    if (scores.shape().rank() != 4 || scores.dtype() != DType::f32) {
        throw Error("cuda::scaled_masked_softmax: expected float32 [B, H, Sq, Sk], got " + scores.shape().str());
    }
    const long long batch = scores.dim(0), heads = scores.dim(1), sq = scores.dim(2), sk = scores.dim(3);
    const Masks m = detail::device_masks(masking, batch, heads, sq, sk, "cuda::scaled_masked_softmax");
    const long long rows = batch * heads * sq;
    if (rows == 0 || sk == 0) return;
    if (sk <= 32LL * kWarpMaxPerLane) {
        const int warps_per_block = 8;
        softmax_warp_per_row<<<blocks_for(rows, warps_per_block), 32 * warps_per_block, 0, stream()>>>(
            scores.f32(), rows, heads, sq, sk, m);
        GAZE_CUDA_CHECK_LAUNCH("softmax_warp_per_row");
        return;
    }
    const size_t shared = sizeof(float) * static_cast<size_t>(sk);
    int max_shared = 0;
    GAZE_CUDA_CHECK(cudaDeviceGetAttribute(&max_shared, cudaDevAttrMaxSharedMemoryPerBlockOptin, 0));
    if (shared + 32 * sizeof(float) > static_cast<size_t>(max_shared)) {
        throw Error("cuda::scaled_masked_softmax: rows of " + std::to_string(sk) +
                    " keys exceed the device's shared memory per block (" + std::to_string(max_shared) + " bytes)");
    }
    if (shared > 48 * 1024) {
        GAZE_CUDA_CHECK(cudaFuncSetAttribute(softmax_block_per_row, cudaFuncAttributeMaxDynamicSharedMemorySize,
                                             static_cast<int>(shared)));
    }
    softmax_block_per_row<<<static_cast<unsigned>(rows), 256, shared, stream()>>>(scores.f32(), heads, sq, sk, m);
    GAZE_CUDA_CHECK_LAUNCH("softmax_block_per_row");
}

}  // namespace gaze::cuda
