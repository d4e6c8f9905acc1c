// Linear layer: the GEMM every model spends most of its time in. With
// GAZE_USE_BLAS the product goes to OpenBLAS (about 25% faster than Eigen's
// own kernels on these AVX-512 machines); otherwise Eigen computes it.
#include <algorithm>

#include "gaze/ops.hpp"

#ifdef GAZE_USE_BLAS
#include <cblas.h>
#endif

namespace gaze::ops {

void linear(const Tensor& x, const Tensor& weight, const Tensor& bias, WeightLayout layout, Tensor& out) {
    if (weight.rank() != 2) throw Error("linear: weight must be 2-d, got " + weight.shape().str());
    const int64_t in_features = layout == WeightLayout::out_in ? weight.dim(1) : weight.dim(0);
    const int64_t out_features = layout == WeightLayout::out_in ? weight.dim(0) : weight.dim(1);
    if (x.dim(-1) != in_features) {
        throw Error("linear: input " + x.shape().str() + " does not match weight " + weight.shape().str());
    }
    if (!bias.empty() && bias.numel() != out_features) {
        throw Error("linear: bias " + bias.shape().str() + " does not match weight " + weight.shape().str());
    }
    Shape out_shape = x.shape();
    out_shape[x.rank() - 1] = out_features;
    out.resize(out_shape);
    const auto a = x.matrix();
    const auto w = weight.matrix();
    auto c = out.matrix();
    const int64_t rows = a.rows();
    if (rows == 0 || out_features == 0) return;
    const bool has_bias = !bias.empty();
    if (in_features == 0) {  // an empty sum: just the bias (BLAS rejects K = 0 strides)
        if (has_bias) {
            c.rowwise() = bias.reshape({1, out_features}).matrix().row(0);
        } else {
            c.setZero();
        }
        return;
    }
    // The bias is written into C first and the product accumulated onto it
    // (beta = 1): one pass over C instead of clearing it and adding the bias
    // in a second pass.
    if (has_bias) {
        const float* b = bias.data();
#pragma omp parallel for schedule(static) if (rows * out_features > (1 << 15))
        for (int64_t r = 0; r < rows; ++r) std::copy_n(b, out_features, c.data() + r * c.outerStride());
    }
#ifdef GAZE_USE_BLAS
    if (rows == 1) {
        // One row (batch-1 decoding) is a matrix-vector product: OpenBLAS's sgemm
        // does not hand M = 1 to its GEMV kernels, which read the weights ~2x faster.
        cblas_sgemv(CblasRowMajor, layout == WeightLayout::out_in ? CblasNoTrans : CblasTrans,
                    static_cast<int>(w.rows()), static_cast<int>(w.cols()), 1.0f, w.data(),
                    static_cast<int>(w.outerStride()), a.data(), 1, has_bias ? 1.0f : 0.0f, c.data(), 1);
        return;
    }
    // Row-major C = A * op(W) (+ C): op = transpose when W is [out, in].
    cblas_sgemm(CblasRowMajor, CblasNoTrans, layout == WeightLayout::out_in ? CblasTrans : CblasNoTrans,
                static_cast<int>(rows), static_cast<int>(out_features), static_cast<int>(in_features), 1.0f,
                a.data(), static_cast<int>(a.outerStride()), w.data(), static_cast<int>(w.outerStride()),
                has_bias ? 1.0f : 0.0f, c.data(), static_cast<int>(c.outerStride()));
#else
    if (has_bias) {
        if (layout == WeightLayout::out_in) {
            c.noalias() += a * w.transpose();
        } else {
            c.noalias() += a * w;
        }
    } else if (layout == WeightLayout::out_in) {
        c.noalias() = a * w.transpose();
    } else {
        c.noalias() = a * w;
    }
#endif
}

}  // namespace gaze::ops
