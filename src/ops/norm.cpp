// Layer norm (BERT, GPT-2) and RMS norm (T5).
#include "gaze/ops.hpp"

namespace gaze::ops {
namespace {

void check_norm_args(const char* op, const Tensor& x, const Tensor& weight) {
    if (weight.numel() != x.dim(-1)) {
        throw Error(std::string(op) + ": weight " + weight.shape().str() + " does not match input " + x.shape().str());
    }
}

}  // namespace

void layer_norm(const Tensor& x, const Tensor& gamma, const Tensor& beta, float eps, Tensor& out) {
    check_norm_args("layer_norm", x, gamma);
    check_norm_args("layer_norm", x, beta);
    if (&out != &x) out.resize(x.shape());
    const auto in = x.matrix();
    auto dst = out.matrix();
    const auto g = gamma.reshape({gamma.numel()}).matrix().row(0).array();
    const auto b = beta.reshape({beta.numel()}).matrix().row(0).array();
    const int64_t rows = in.rows();
    const float inv_h = 1.0f / static_cast<float>(in.cols());
#pragma omp parallel for schedule(static) if (rows * in.cols() > (1 << 15))
    for (int64_t r = 0; r < rows; ++r) {
        const float mean = in.row(r).sum() * inv_h;
        const auto centered = in.row(r).array() - mean;
        const float var = centered.square().sum() * inv_h;
        const float inv_std = 1.0f / std::sqrt(var + eps);
        dst.row(r).array() = centered * inv_std * g + b;
    }
}

void rms_norm(const Tensor& x, const Tensor& weight, float eps, Tensor& out) {
    check_norm_args("rms_norm", x, weight);
    if (&out != &x) out.resize(x.shape());
    const auto in = x.matrix();
    auto dst = out.matrix();
    const auto w = weight.reshape({weight.numel()}).matrix().row(0).array();
    const int64_t rows = in.rows();
    const float inv_h = 1.0f / static_cast<float>(in.cols());
#pragma omp parallel for schedule(static) if (rows * in.cols() > (1 << 15))
    for (int64_t r = 0; r < rows; ++r) {
        const float mean_square = in.row(r).squaredNorm() * inv_h;
        dst.row(r).array() = in.row(r).array() * (1.0f / std::sqrt(mean_square + eps)) * w;
    }
}

}  // namespace gaze::ops
