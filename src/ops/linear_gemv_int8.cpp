// The int8 matrix-vector product of decoding on AVX512-VNNI: y = sx sw (W8 x8) + b.
// oneDNN's M = 1 s8 matmul streams W at 10-24 GB/s (benchmarks/README.md); this
// reads each weight byte once, 64 at a time, with the row's quantised x in
// registers.
//
// vpdpbusd multiplies unsigned by signed bytes, so x8 (signed) is shifted to
// u8 = x8 + 128 and the extra 128 * sum(w) is taken off again (a second
// vpdpbusd of 0x80 bytes with the same w). The int32 sums are exact (|sum| <=
// 255 * 127 * K < 2^31 for K <= 65,536; larger K goes to oneDNN), so this
// kernel returns what onednn-int8 returns, to the last bit.
//
// Built for the x86-64-v3 baseline; the body is compiled for AVX-512 by a
// target attribute and only called when cpu_features() has AVX512-VNNI.
#include <immintrin.h>
#include <omp.h>

#include <vector>

#include "linear_kernels.hpp"

namespace gaze::ops::kernels {
namespace {

#define GAZE_AVX512_VNNI __attribute__((target("avx512f,avx512bw,avx512vl,avx512dq,avx512vnni")))

constexpr int64_t kRows = 4;          // output rows per step: one load of x serves four rows of W
constexpr int64_t kBytes = 64;        // one zmm of int8
constexpr int64_t kMaxExactK = 65536; // 255 * 127 * K stays below 2^31

// acc += x * w and bias += 128 * w for kRows rows of W at w (row stride k), bytes [j, j + 64) under mask.
GAZE_AVX512_VNNI inline void accumulate(const int8_t* w, int64_t k, const uint8_t* x_shifted, int64_t j, __mmask64 mask,
                                        __m512i* acc, __m512i* bias) {
    const __m512i offset = _mm512_set1_epi8(static_cast<char>(0x80));  // 128 as unsigned bytes
    const __m512i x = _mm512_maskz_loadu_epi8(mask, x_shifted + j);
    for (int64_t i = 0; i < kRows; ++i) {
        const __m512i wv = _mm512_maskz_loadu_epi8(mask, w + i * k + j);
        acc[i] = _mm512_dpbusd_epi32(acc[i], x, wv);
        bias[i] = _mm512_dpbusd_epi32(bias[i], offset, wv);  // masked-off w bytes are 0: no tail term
    }
}

// dot(w[0..k), x8[0..k)) for kRows rows of W starting at w (row stride k), exact in int32.
GAZE_AVX512_VNNI void dot_rows_vnni(const int8_t* w, int64_t k, const uint8_t* x_shifted, int32_t* out) {
    __m512i acc[kRows], bias[kRows];
    for (int64_t i = 0; i < kRows; ++i) acc[i] = bias[i] = _mm512_setzero_si512();
    int64_t j = 0;
    for (; j + kBytes <= k; j += kBytes) accumulate(w, k, x_shifted, j, ~__mmask64{0}, acc, bias);
    // The tail is masked: zero bytes of x and w add nothing to either sum.
    if (j < k) accumulate(w, k, x_shifted, j, (__mmask64{1} << (k - j)) - 1, acc, bias);
    for (int64_t i = 0; i < kRows; ++i) out[i] = _mm512_reduce_add_epi32(_mm512_sub_epi32(acc[i], bias[i]));
}

}  // namespace

bool gemv_int8_vnni(const LinearProblem& p) {
    if (p.layout != WeightLayout::out_in || p.k > kMaxExactK) return false;
    thread_local std::vector<int8_t> x8;
    thread_local std::vector<uint8_t> shifted;
    x8.resize(static_cast<size_t>(p.k));
    shifted.resize(static_cast<size_t>(p.k));
    const float sx = quantize_row_int8(p.x, p.k, x8.data());  // NaN for a row holding NaN or infinity
    for (int64_t j = 0; j < p.k; ++j) shifted[static_cast<size_t>(j)] = static_cast<uint8_t>(x8[static_cast<size_t>(j)] + 128);
    const int8_t* w = p.weight->data_as<int8_t>();
    const float* sw = p.weight->quant_scales()->data();
    // Pointers, not the vectors: those are this thread's, and the OpenMP workers have their own.
    const uint8_t* xs = shifted.data();
    const int8_t* xq = x8.data();
    const int64_t n = p.n, k = p.k, steps = (n + kRows - 1) / kRows;
#pragma omp parallel for schedule(static) if (n * k > (1 << 16))
    for (int64_t step = 0; step < steps; ++step) {
        const int64_t r = step * kRows;
        int32_t sums[kRows];
        if (r + kRows <= n) {
            dot_rows_vnni(w + r * k, k, xs, sums);
        } else {  // the last rows, one at a time (exact, so the order does not matter)
            for (int64_t i = 0; r + i < n; ++i) {
                int32_t s = 0;
                for (int64_t j = 0; j < k; ++j) s += static_cast<int32_t>(w[(r + i) * k + j]) * xq[j];
                sums[i] = s;
            }
        }
        for (int64_t i = 0; i < kRows && r + i < n; ++i) {
            p.y[r + i] = scale_int8_sum(sums[i], sx, sw[r + i], p.bias ? p.bias[r + i] : 0.0f);
        }
    }
    return true;
}

}  // namespace gaze::ops::kernels
