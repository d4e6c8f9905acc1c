#pragma once
// The kernels behind ops::linear, one function each, and the problem they
// solve. src/ops/linear.cpp holds the table that picks one per (dtype, rows,
// CPU); this header is internal to src/ops.
#include <cmath>
#include <cstdint>

#include "gaze/ops.hpp"

namespace gaze::ops::kernels {

// y [M, N] = x [M, K] W^T (+ bias [N])
//   W = weight: [N, K] (out_in) or [K, N] (in_out), in weight.dtype();
//   int8 weights carry one scale per output row (weight.quant_scales()).
// x and y are row-major f32 with leading dimensions ldx, ldy. bias may be null.
struct LinearProblem {
    const float* x = nullptr;
    int64_t ldx = 0;
    const Tensor* weight = nullptr;
    int64_t ldw = 0;  // the weight's row stride (f32 views may be strided; other dtypes are contiguous)
    WeightLayout layout = WeightLayout::out_in;
    const float* bias = nullptr;
    float* y = nullptr;
    int64_t ldy = 0;
    int64_t m = 0, n = 0, k = 0;
};

// One activation row to int8, symmetric: scale = max |x| / 127, out = round(x / scale).
// Returns the scale, or NaN (and zeros in `out`) when the row holds a NaN or an
// infinity, so the product's row is NaN rather than garbage. onednn_int8 and
// the fallback's emulation of it both quantise with this.
float quantize_row_int8(const float* row, int64_t k, int8_t* out);
// An int8 product's exact int32 sum scaled back to f32: row scale, channel
// scale, then the bias, as one explicit fused multiply-add, so that every int8
// kernel rounds alike (left to the compiler, contraction differs by loop).
inline float scale_int8_sum(int32_t sum, float sx, float sw, float bias) {
    return std::fma(static_cast<float>(sum) * sx, sw, bias);
}

// ---- oneDNN matmul (src/ops/linear_onednn.cpp): primitives cached per shape.
// Each returns false when oneDNN has no implementation for this CPU and
// dtype (the caller falls back to the next kernel in the table).
bool onednn_f32(const LinearProblem& p);
bool onednn_bf16(const LinearProblem& p);  // x rounded to bf16, f32 accumulation
bool onednn_int8(const LinearProblem& p);  // x quantised per row to int8, int32 accumulation

// ---- our own kernels (src/ops/linear_gemv.cpp) --------------------------------
// One row (decoding): y = W x streamed at memory bandwidth; W [N, K] bf16,
// converted to f32 in registers. AVX-512 and AVX2 bodies, chosen at run time.
// False for an [in, out] weight (the next kernel takes it).
bool gemv_bf16_avx512(const LinearProblem& p);
bool gemv_bf16_avx2(const LinearProblem& p);
// One row, int8 W [N, K] with row scales, AVX512-VNNI (src/ops/linear_gemv_int8.cpp):
// x quantised per row as onednn_int8 does, exact int32 sums, the same result.
// False for an [in, out] weight or K > 65,536 (oneDNN takes those).
bool gemv_int8_vnni(const LinearProblem& p);
// Any rows, any non-f32 weight dtype: W expanded to f32 a panel of output
// rows at a time, multiplied by the f32 GEMM. Slower than a native kernel,
// correct on every CPU (the fallback gaze inspect names).
void expand_panels_then_f32(const LinearProblem& p);
// The f32 product through OpenBLAS (sgemv for one row, sgemm otherwise), or
// Eigen when gaze is built without BLAS. Never fails.
void blas_f32(const LinearProblem& p);

}  // namespace gaze::ops::kernels
