#pragma once
// SoftmaxMasking: how attention scores are scaled and masked before the
// softmax. Shared by ops::attention, ops::scaled_masked_softmax and the CUDA
// kernel.
#include <cstdint>

#include "gaze/tensor.hpp"

namespace gaze::ops {

struct SoftmaxMasking {
    float scale = 1.0f;
    bool causal = false;
    int64_t causal_offset = 0;
    int64_t window = 0;                // > 0: query i sees keys j > i + causal_offset - window (Mistral)
    const Tensor* key_mask = nullptr;  // [B, Sk] additive
    const Tensor* bias = nullptr;      // [1 or H, Sq, Sk] additive
};
}  // namespace gaze::ops
