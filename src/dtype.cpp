// Element types: names, sizes, parsing and conversions (gaze/dtype.hpp).
#include "gaze/dtype.hpp"

#include <cstring>

#include "gaze/error.hpp"

namespace gaze {

const char* dtype_name(DType dtype) {
    switch (dtype) {
        case DType::f32: return "f32";
        case DType::bf16: return "bf16";
        case DType::f16: return "f16";
        case DType::i8: return "int8";
    }
    return "?";
}

size_t dtype_size(DType dtype) {
    switch (dtype) {
        case DType::f32: return 4;
        case DType::bf16: case DType::f16: return 2;
        case DType::i8: return 1;
    }
    return 4;
}

DType parse_compute_dtype(std::string_view text, const std::string& what) {
    if (text == "f32" || text == "float32" || text == "fp32") return DType::f32;
    if (text == "bf16" || text == "bfloat16") return DType::bf16;
    if (text == "int8" || text == "i8") return DType::i8;
    const std::string hint = text == "f16" || text == "fp16" || text == "float16"
                                 ? " (f16 is a storage type: f16 checkpoints are computed in f32 or bf16)"
                                 : "";
    throw Error(what + ": unknown dtype '" + std::string(text) + "' (choose f32, bf16 or int8)" + hint);
}

float half_to_float(uint16_t h) {
    const uint32_t sign = (h & 0x8000u) << 16;
    const uint32_t exponent = (h >> 10) & 0x1fu;
    uint32_t mantissa = h & 0x3ffu;
    uint32_t bits;
    if (exponent == 0) {
        if (mantissa == 0) {
            bits = sign;
        } else {  // subnormal: renormalise
            int e = -1;
            do {
                ++e;
                mantissa <<= 1;
            } while ((mantissa & 0x400u) == 0);
            bits = sign | static_cast<uint32_t>(127 - 15 - e) << 23 | (mantissa & 0x3ffu) << 13;
        }
    } else if (exponent == 0x1f) {
        bits = sign | 0x7f800000u | mantissa << 13;  // inf / nan
    } else {
        bits = sign | (exponent + 127 - 15) << 23 | mantissa << 13;
    }
    float f;
    std::memcpy(&f, &bits, sizeof f);
    return f;
}

void convert_to_float(const void* src, DType dtype, float* dst, size_t n) {
    switch (dtype) {
        case DType::f32: std::memcpy(dst, src, n * sizeof(float)); return;
        case DType::bf16: {
            const auto* in = static_cast<const uint16_t*>(src);
            for (size_t i = 0; i < n; ++i) dst[i] = bf16_to_float(in[i]);
            return;
        }
        case DType::f16: {
            const auto* in = static_cast<const uint16_t*>(src);
            for (size_t i = 0; i < n; ++i) dst[i] = half_to_float(in[i]);
            return;
        }
        case DType::i8: throw Error("convert_to_float: int8 needs its scales (Tensor::to_float)");
    }
}

void convert_to_bf16(const float* src, uint16_t* dst, size_t n) {
    for (size_t i = 0; i < n; ++i) dst[i] = float_to_bf16(src[i]);
}

}  // namespace gaze
