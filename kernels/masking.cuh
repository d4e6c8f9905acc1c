#pragma once
// Device-side attention masking shared by the softmax, fused-attention and
// probability kernels, so that all three mask exactly alike.
#include <cuda_runtime.h>

#include <cmath>

#include "gaze/cuda.hpp"

namespace gaze::cuda::detail {

// DeviceMasking with raw device pointers (kernel parameters are plain data).
struct Masks {
    float scale;
    int causal;
    long long causal_offset;
    long long window;
    const float* key_mask;  // [B, Sk] or null
    const float* bias;      // [bias_heads, Sq, Sk] or null
    int bias_heads;
};

Masks device_masks(const DeviceMasking& m, long long batch, long long heads, long long sq, long long sk,
                   const char* op);

// Keys [first, last) of query row i are visible (before the additive masks).
__device__ inline void visible_keys(const Masks& m, long long i, long long sk, long long& first, long long& last) {
    const long long pos = i + m.causal_offset;
    last = m.causal ? min(sk, max(0LL, pos + 1)) : sk;
    first = m.window > 0 ? max(0LL, pos - m.window + 1) : 0;
}

// scale * raw + bias + key mask for key j of row (b, h, i); the caller has
// already checked that j is visible.
__device__ inline float masked_score(float raw, const Masks& m, long long b, long long h, long long i, long long j,
                                     long long sq, long long sk) {
    float s = raw * m.scale;
    if (m.bias) s += m.bias[((m.bias_heads == 1 ? 0 : h) * sq + i) * sk + j];
    if (m.key_mask) s += m.key_mask[b * sk + j];
    return s;
}

__device__ inline float warp_max(float v) {
    for (int o = 16; o > 0; o >>= 1) v = fmaxf(v, __shfl_xor_sync(0xffffffffu, v, o));
    return v;
}
__device__ inline float warp_sum(float v) {
    for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(0xffffffffu, v, o);
    return v;
}

}  // namespace gaze::cuda::detail
