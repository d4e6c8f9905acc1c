// gaze's own linear kernels: the bf16 matrix-vector product of decoding, the
// panel-expanding fallback for CPUs oneDNN has no kernel for, and the
// OpenBLAS / Eigen f32 path.
//
// The library is built for the x86-64-v3 baseline (AVX2 + FMA); the AVX-512
// body is compiled for AVX-512 by a target attribute and only called when
// cpu_features() says this CPU has it (src/ops/linear.cpp).
#include <immintrin.h>
#include <omp.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <vector>

#include "linear_kernels.hpp"

#ifdef GAZE_USE_BLAS
#include <cblas.h>
#endif

namespace gaze::ops::kernels {
namespace {

// Output rows each thread takes at a time: 4 rows share one load of x.
constexpr int64_t kRowsPerStep = 4;

// y[r] (+)= dot(W[r, :K], x) for r in [begin, end), W bf16 [N, K].
template <class RowDot4, class RowDot1>
void gemv_rows(const LinearProblem& p, RowDot4 dot4, RowDot1 dot1) {
    const auto* w = p.weight->data_as<uint16_t>();
    const int64_t n = p.n, k = p.k;
#pragma omp parallel for schedule(static) if (n * k > (1 << 16))
    for (int64_t step = 0; step < (n + kRowsPerStep - 1) / kRowsPerStep; ++step) {
        const int64_t r = step * kRowsPerStep;
        float out[kRowsPerStep];
        if (r + kRowsPerStep <= n) {
            dot4(w + r * k, k, p.x, out);
        } else {
            for (int64_t i = 0; r + i < n; ++i) out[i] = dot1(w + (r + i) * k, p.x, k);
        }
        for (int64_t i = 0; i < kRowsPerStep && r + i < n; ++i) p.y[r + i] = out[i] + (p.bias ? p.bias[r + i] : 0.0f);
    }
}

float dot_bf16_scalar(const uint16_t* w, const float* x, int64_t from, int64_t k) {
    float s = 0.0f;
    for (int64_t j = from; j < k; ++j) s += bf16_to_float(w[j]) * x[j];
    return s;
}

// ---- AVX2: 8 bf16 -> 8 f32 by widening to 32 bits and shifting left 16.
inline __m256 load8_bf16(const uint16_t* w) {
    const __m128i raw = _mm_loadu_si128(reinterpret_cast<const __m128i*>(w));
    return _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_cvtepu16_epi32(raw), 16));
}

inline float sum8(__m256 v) {
    const __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    const __m128 t = _mm_add_ps(s, _mm_movehl_ps(s, s));
    return _mm_cvtss_f32(_mm_add_ss(t, _mm_shuffle_ps(t, t, 1)));
}

float dot1_avx2(const uint16_t* w, const float* x, int64_t k) {
    __m256 acc = _mm256_setzero_ps();
    int64_t j = 0;
    for (; j + 8 <= k; j += 8) acc = _mm256_fmadd_ps(load8_bf16(w + j), _mm256_loadu_ps(x + j), acc);
    return sum8(acc) + dot_bf16_scalar(w, x, j, k);
}

void dot4_avx2(const uint16_t* w, int64_t k, const float* x, float* out) {
    __m256 a0 = _mm256_setzero_ps(), a1 = a0, a2 = a0, a3 = a0;
    int64_t j = 0;
    for (; j + 8 <= k; j += 8) {
        const __m256 v = _mm256_loadu_ps(x + j);
        a0 = _mm256_fmadd_ps(load8_bf16(w + j), v, a0);
        a1 = _mm256_fmadd_ps(load8_bf16(w + k + j), v, a1);
        a2 = _mm256_fmadd_ps(load8_bf16(w + 2 * k + j), v, a2);
        a3 = _mm256_fmadd_ps(load8_bf16(w + 3 * k + j), v, a3);
    }
    out[0] = sum8(a0) + dot_bf16_scalar(w, x, j, k);
    out[1] = sum8(a1) + dot_bf16_scalar(w + k, x, j, k);
    out[2] = sum8(a2) + dot_bf16_scalar(w + 2 * k, x, j, k);
    out[3] = sum8(a3) + dot_bf16_scalar(w + 3 * k, x, j, k);
}

// ---- AVX-512: 16 at a time.
#define GAZE_AVX512 __attribute__((target("avx512f,avx512bw,avx512vl,avx512dq")))

GAZE_AVX512 inline __m512 load16_bf16(const uint16_t* w) {
    const __m256i raw = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(w));
    return _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_cvtepu16_epi32(raw), 16));
}

GAZE_AVX512 float dot1_avx512(const uint16_t* w, const float* x, int64_t k) {
    __m512 acc = _mm512_setzero_ps();
    int64_t j = 0;
    for (; j + 16 <= k; j += 16) acc = _mm512_fmadd_ps(load16_bf16(w + j), _mm512_loadu_ps(x + j), acc);
    return _mm512_reduce_add_ps(acc) + dot_bf16_scalar(w, x, j, k);
}

GAZE_AVX512 void dot4_avx512(const uint16_t* w, int64_t k, const float* x, float* out) {
    __m512 a0 = _mm512_setzero_ps(), a1 = a0, a2 = a0, a3 = a0;
    int64_t j = 0;
    for (; j + 16 <= k; j += 16) {
        const __m512 v = _mm512_loadu_ps(x + j);
        a0 = _mm512_fmadd_ps(load16_bf16(w + j), v, a0);
        a1 = _mm512_fmadd_ps(load16_bf16(w + k + j), v, a1);
        a2 = _mm512_fmadd_ps(load16_bf16(w + 2 * k + j), v, a2);
        a3 = _mm512_fmadd_ps(load16_bf16(w + 3 * k + j), v, a3);
    }
    out[0] = _mm512_reduce_add_ps(a0) + dot_bf16_scalar(w, x, j, k);
    out[1] = _mm512_reduce_add_ps(a1) + dot_bf16_scalar(w + k, x, j, k);
    out[2] = _mm512_reduce_add_ps(a2) + dot_bf16_scalar(w + 2 * k, x, j, k);
    out[3] = _mm512_reduce_add_ps(a3) + dot_bf16_scalar(w + 3 * k, x, j, k);
}

// y (+)= x op(W) in f32: row-major C = A * op(W) (+ C), op = transpose when W is [out, in].
void f32_product(const float* x, int64_t ldx, const float* w, int64_t ldw, bool out_in, float* y, int64_t ldy,
                 int64_t m, int64_t n, int64_t k, bool accumulate) {
#ifdef GAZE_USE_BLAS
    if (m == 1) {
        // One row (batch-1 decoding) is a matrix-vector product: OpenBLAS's sgemm
        // does not hand M = 1 to its GEMV kernels, which read the weights ~2x faster.
        cblas_sgemv(CblasRowMajor, out_in ? CblasNoTrans : CblasTrans, static_cast<int>(out_in ? n : k),
                    static_cast<int>(out_in ? k : n), 1.0f, w, static_cast<int>(ldw), x, 1, accumulate ? 1.0f : 0.0f, y, 1);
        return;
    }
    cblas_sgemm(CblasRowMajor, CblasNoTrans, out_in ? CblasTrans : CblasNoTrans, static_cast<int>(m), static_cast<int>(n),
                static_cast<int>(k), 1.0f, x, static_cast<int>(ldx), w, static_cast<int>(ldw), accumulate ? 1.0f : 0.0f, y,
                static_cast<int>(ldy));
#else
    const ConstMatrixMap a(x, m, k, Eigen::OuterStride<>(ldx));
    MatrixMap c(y, m, n, Eigen::OuterStride<>(ldy));
    if (!accumulate) c.setZero();
    if (out_in) {
        c.noalias() += a * ConstMatrixMap(w, n, k, Eigen::OuterStride<>(ldw)).transpose();
    } else {
        c.noalias() += a * ConstMatrixMap(w, k, n, Eigen::OuterStride<>(ldw));
    }
#endif
}

// The bias written into C first, the product accumulated onto it (beta = 1):
// one pass over C instead of clearing it and adding the bias in a second pass.
void write_bias_rows(const LinearProblem& p, int64_t col, int64_t cols) {
#pragma omp parallel for schedule(static) if (p.m * cols > (1 << 15))
    for (int64_t r = 0; r < p.m; ++r) std::copy_n(p.bias + col, cols, p.y + r * p.ldy + col);
}

}  // namespace

bool gemv_bf16_avx2(const LinearProblem& p) {
    if (p.layout != WeightLayout::out_in) return false;
    gemv_rows(p, dot4_avx2, dot1_avx2);
    return true;
}

bool gemv_bf16_avx512(const LinearProblem& p) {
    if (p.layout != WeightLayout::out_in) return false;
    gemv_rows(p, dot4_avx512, dot1_avx512);
    return true;
}

void blas_f32(const LinearProblem& p) {
    if (p.bias) write_bias_rows(p, 0, p.n);
    f32_product(p.x, p.ldx, p.weight->data(), p.ldw, p.layout == WeightLayout::out_in, p.y, p.ldy, p.m, p.n, p.k, p.bias != nullptr);
}

namespace {

// x as the native kernels see it: rounded to bf16 (onednn-bf16), or quantised
// per row to int8 and back (onednn-int8). The fallbacks compute with it so that
// a CPU without those instructions gets the numbers of one that has them (and
// the precision tests bound what every machine computes, not just this one).
const float* native_input(const LinearProblem& p, DType dtype, std::vector<float>& buffer) {
    buffer.resize(static_cast<size_t>(p.m * p.k));
    float* out = buffer.data();
    thread_local std::vector<int8_t> quantised;  // per OpenMP thread: one row each
#pragma omp parallel for schedule(static) if (p.m * p.k > (1 << 16))
    for (int64_t r = 0; r < p.m; ++r) {
        const float* row = p.x + r * p.ldx;
        float* dst = out + r * p.k;
        if (dtype == DType::bf16) {
            for (int64_t j = 0; j < p.k; ++j) dst[j] = bf16_to_float(float_to_bf16(row[j]));
            continue;
        }
        quantised.resize(static_cast<size_t>(p.k));
        const float scale = quantize_row_int8(row, p.k, quantised.data());  // NaN for a non-finite row
        for (int64_t j = 0; j < p.k; ++j) dst[j] = scale * quantised[static_cast<size_t>(j)];
    }
    return out;
}


// W widened to f32 a panel of output rows at a time, times x in f32.
void multiply_expanded(const LinearProblem& p) {
    constexpr int64_t kPanel = 256;
    const Tensor& w = *p.weight;
    const bool out_in = p.layout == WeightLayout::out_in;
    if (!out_in && w.dtype() != DType::bf16) throw Error("linear: only bf16 weights may be [in, out] here");
    thread_local std::vector<float> panel;
    if (!out_in) {  // [K, N] bf16: expand it whole (rare: GPT-2 Conv1D weights are converted on load)
        panel.resize(static_cast<size_t>(p.k * p.n));
        convert_to_float(w.raw(), DType::bf16, panel.data(), panel.size());
        if (p.bias) write_bias_rows(p, 0, p.n);
        f32_product(p.x, p.ldx, panel.data(), p.n, false, p.y, p.ldy, p.m, p.n, p.k, p.bias != nullptr);
        return;
    }
    panel.resize(static_cast<size_t>(kPanel * p.k));
    float* expanded = panel.data();  // the caller's thread_local buffer, shared with the OpenMP workers
    const float* scales = w.dtype() == DType::i8 ? w.quant_scales()->data() : nullptr;
    for (int64_t first = 0; first < p.n; first += kPanel) {
        const int64_t rows = std::min(kPanel, p.n - first);
        if (scales) {
            const int8_t* q = w.data_as<int8_t>() + first * p.k;
#pragma omp parallel for schedule(static)
            for (int64_t r = 0; r < rows; ++r) {
                for (int64_t j = 0; j < p.k; ++j) expanded[r * p.k + j] = scales[first + r] * q[r * p.k + j];
            }
        } else {
            const uint16_t* b = w.data_as<uint16_t>() + first * p.k;
#pragma omp parallel for schedule(static)
            for (int64_t r = 0; r < rows; ++r) convert_to_float(b + r * p.k, DType::bf16, expanded + r * p.k, static_cast<size_t>(p.k));
        }
        if (p.bias) write_bias_rows(p, first, rows);
        f32_product(p.x, p.ldx, expanded, p.k, true, p.y + first, p.ldy, p.m, rows, p.k, p.bias != nullptr);
    }
}

}  // namespace

void expand_panels_then_f32(const LinearProblem& p) {
    // One bf16 row stays f32 (as gemv-bf16 computes it); more rows, and int8
    // always, see x as the native kernels do.
    thread_local std::vector<float> x_native;
    LinearProblem q = p;
    if (p.weight->dtype() == DType::i8 || p.m > 1) {
        q.x = native_input(p, p.weight->dtype(), x_native);
        q.ldx = p.k;
    }
    multiply_expanded(q);
}

}  // namespace gaze::ops::kernels
