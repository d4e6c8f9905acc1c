// Fused scale + mask + bias + softmax over the rows of [B, H, Sq, Sk] scores.
// CPU reference: gaze::ops::scaled_masked_softmax (src/ops/attention.cpp).
//
// One pass reads each score once: the row is loaded into registers (warp
// kernel, Sk <= 1024: 32 values per lane at most) or shared memory (block
// kernel), max and sum are reduced with shuffles, and probabilities written.
#include <cfloat>

#include "check.cuh"
#include "gaze/cuda.hpp"

namespace gaze::cuda {
namespace {

struct RowMasking {
    float scale;
    int causal;
    long long causal_offset;
    const float* key_mask;  // [B, Sk] or null
    const float* bias;      // [Hb, Sq, Sk] or null
    int bias_heads;
};

__device__ float warp_max(float v) {
    for (int o = 16; o > 0; o >>= 1) v = fmaxf(v, __shfl_xor_sync(0xffffffffu, v, o));
    return v;
}
__device__ float warp_sum(float v) {
    for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(0xffffffffu, v, o);
    return v;
}

// The masked, scaled score of key j in row (b, h, i); -inf when masked.
__device__ float masked_score(const float* row, long long j, long long i, long long b, long long h, long long sq,
                              long long sk, const RowMasking& m) {
    if (m.causal && j > i + m.causal_offset) return -INFINITY;
    float s = row[j] * m.scale;
    if (m.bias) s += m.bias[((m.bias_heads == 1 ? 0 : h) * sq + i) * sk + j];
    if (m.key_mask) s += m.key_mask[b * sk + j];
    return s;
}

constexpr int kWarpMaxPerLane = 32;  // warp kernel handles Sk <= 32 * 32

__global__ void softmax_warp_per_row(float* scores, long long rows, long long heads, long long sq, long long sk,
                                     RowMasking m) {
    const long long row_index = blockIdx.x * (long long)(blockDim.x / 32) + threadIdx.x / 32;
    if (row_index >= rows) return;
    const int lane = threadIdx.x % 32;
    const long long i = row_index % sq, h = (row_index / sq) % heads, b = row_index / (sq * heads);
    float* row = scores + row_index * sk;
    float v[kWarpMaxPerLane];
    float max = -INFINITY;
#pragma unroll
    for (int k = 0; k < kWarpMaxPerLane; ++k) {
        const long long j = lane + 32LL * k;
        v[k] = j < sk ? masked_score(row, j, i, b, h, sq, sk, m) : -INFINITY;
        max = fmaxf(max, v[k]);
    }
    max = warp_max(max);
    float sum = 0.f;
#pragma unroll
    for (int k = 0; k < kWarpMaxPerLane; ++k) {
        v[k] = max == -INFINITY ? 0.f : __expf(v[k] - max);
        sum += v[k];
    }
    sum = warp_sum(sum);
    const float inv = sum > 0.f ? 1.f / sum : 0.f;
#pragma unroll
    for (int k = 0; k < kWarpMaxPerLane; ++k) {
        const long long j = lane + 32LL * k;
        if (j < sk) row[j] = v[k] * inv;
    }
}

__device__ float block_reduce(float v, bool is_max, float* shared) {
    v = is_max ? warp_max(v) : warp_sum(v);
    const int warp = threadIdx.x / 32, lane = threadIdx.x % 32, warps = blockDim.x / 32;
    __syncthreads();
    if (lane == 0) shared[warp] = v;
    __syncthreads();
    v = lane < warps ? shared[lane] : (is_max ? -INFINITY : 0.f);
    if (warp == 0) v = is_max ? warp_max(v) : warp_sum(v);
    if (threadIdx.x == 0) shared[0] = v;
    __syncthreads();
    return shared[0];
}

// Long rows: one block per row, the masked row cached in dynamic shared memory.
__global__ void softmax_block_per_row(float* scores, long long heads, long long sq, long long sk, RowMasking m) {
    extern __shared__ float cache[];
    __shared__ float reduce[32];
    const long long row_index = blockIdx.x;
    const long long i = row_index % sq, h = (row_index / sq) % heads, b = row_index / (sq * heads);
    float* row = scores + row_index * sk;
    float max = -INFINITY;
    for (long long j = threadIdx.x; j < sk; j += blockDim.x) {
        cache[j] = masked_score(row, j, i, b, h, sq, sk, m);
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

void scaled_masked_softmax(Tensor& scores, const ops::SoftmaxMasking& masking) {
    if (scores.rank() != 4 || !scores.is_contiguous()) {
        throw Error("cuda::scaled_masked_softmax: expected contiguous [B, H, Sq, Sk], got " + scores.shape().str());
    }
    const long long batch = scores.dim(0), heads = scores.dim(1), sq = scores.dim(2), sk = scores.dim(3);
    const long long rows = batch * heads * sq;
    if (rows == 0 || sk == 0) return;
    DeviceBuffer<float> d_scores(static_cast<size_t>(scores.numel()));
    DeviceBuffer<float> d_mask(masking.key_mask ? static_cast<size_t>(masking.key_mask->numel()) : 0);
    DeviceBuffer<float> d_bias(masking.bias ? static_cast<size_t>(masking.bias->numel()) : 0);
    GAZE_CUDA_CHECK(cudaMemcpy(d_scores.ptr, scores.data(), sizeof(float) * scores.numel(), cudaMemcpyHostToDevice));
    if (masking.key_mask) {
        const Tensor mask = masking.key_mask->clone();
        GAZE_CUDA_CHECK(cudaMemcpy(d_mask.ptr, mask.data(), sizeof(float) * mask.numel(), cudaMemcpyHostToDevice));
    }
    if (masking.bias) {
        const Tensor bias = masking.bias->clone();
        GAZE_CUDA_CHECK(cudaMemcpy(d_bias.ptr, bias.data(), sizeof(float) * bias.numel(), cudaMemcpyHostToDevice));
    }
    const RowMasking m{masking.scale, masking.causal ? 1 : 0, masking.causal_offset, d_mask.ptr, d_bias.ptr,
                       masking.bias ? static_cast<int>(masking.bias->dim(0)) : 1};
    if (sk <= 32LL * kWarpMaxPerLane) {
        const int warps_per_block = 8;
        const long long blocks = (rows + warps_per_block - 1) / warps_per_block;
        softmax_warp_per_row<<<static_cast<unsigned>(blocks), 32 * warps_per_block>>>(d_scores.ptr, rows, heads, sq, sk, m);
        GAZE_CUDA_CHECK_LAUNCH("softmax_warp_per_row");
    } else {
        const size_t shared = sizeof(float) * static_cast<size_t>(sk);
        if (shared > 48 * 1024) {
            GAZE_CUDA_CHECK(cudaFuncSetAttribute(softmax_block_per_row, cudaFuncAttributeMaxDynamicSharedMemorySize,
                                                 static_cast<int>(shared)));
        }
        softmax_block_per_row<<<static_cast<unsigned>(rows), 256, shared>>>(d_scores.ptr, heads, sq, sk, m);
        GAZE_CUDA_CHECK_LAUNCH("softmax_block_per_row");
    }
    GAZE_CUDA_CHECK(cudaMemcpy(scores.data(), d_scores.ptr, sizeof(float) * scores.numel(), cudaMemcpyDeviceToHost));
}

}  // namespace gaze::cuda
