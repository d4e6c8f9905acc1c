#pragma once
// DType: the element types a Tensor can hold.
//
//   f32   activations, norms, biases, softmax, attention probabilities (always),
//         and weights by default (exact: golden parity)
//   bf16  weights as Hugging Face publishes most checkpoints: memory-mapped
//         from the file and multiplied as they are (AVX512-BF16 / AMX), or
//         converted from f32 on load
//   f16   weights stored in the file as IEEE half: storage only (read, then
//         computed in f32 or converted to bf16)
//   i8    weights quantised symmetrically per output channel (one f32 scale a
//         row of [out, in]); activations are quantised per row on the fly
//
// Conversions round to nearest-even, like PyTorch's .to(torch.bfloat16).
#include <bit>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace gaze {

enum class DType : uint8_t { f32, bf16, f16, i8 };

// "f32", "bf16", "f16", "int8" (the names --dtype takes).
const char* dtype_name(DType dtype);
size_t dtype_size(DType dtype);
// The dtype a user may compute in (--dtype, LoadOptions::dtype): f32, bf16 or
// int8 (also "float32"/"fp32", "bfloat16", "i8"). Anything else throws
// gaze::Error naming `what` (e.g. "--dtype"), the value and the choices.
DType parse_compute_dtype(std::string_view text, const std::string& what);

inline float bf16_to_float(uint16_t bits) { return std::bit_cast<float>(static_cast<uint32_t>(bits) << 16); }

inline uint16_t float_to_bf16(float value) {
    const uint32_t bits = std::bit_cast<uint32_t>(value);
    if ((bits & 0x7fffffffu) > 0x7f800000u) return static_cast<uint16_t>((bits >> 16) | 0x0040u);  // quiet NaN
    const uint32_t rounding = 0x7fffu + ((bits >> 16) & 1u);  // to nearest, ties to even
    return static_cast<uint16_t>((bits + rounding) >> 16);
}

float half_to_float(uint16_t bits);

// n elements of `src` (stored as `dtype`) to float32.
void convert_to_float(const void* src, DType dtype, float* dst, size_t n);
// n floats to bfloat16.
void convert_to_bf16(const float* src, uint16_t* dst, size_t n);

}  // namespace gaze
