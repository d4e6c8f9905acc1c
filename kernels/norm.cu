// Layer norm and RMS norm fused with the residual add before them, one warp
// per row. CPU references: gaze::ops::add, then ops::layer_norm / ops::rms_norm
// (src/ops/elementwise.cpp, src/ops/norm.cpp).
//
// The sum x + residual is formed once, optionally stored (the residual stream
// of a pre-norm block), and normalised from the same registers' reads. Layer
// norm takes the mean first, then the variance of (x - mean), the CPU's order,
// for float32 agreement.
#include "check.cuh"
#include "masking.cuh"

namespace gaze::cuda {
namespace {

template <bool kLayerNorm>
__global__ void add_norm_warp_per_row(const float* x, const float* residual, const float* weight, const float* beta,
                                      float* y, float* sum, long long rows, long long width, float eps) {
    const long long r = blockIdx.x * (long long)(blockDim.x / 32) + threadIdx.x / 32;
    if (r >= rows) return;
    const int lane = threadIdx.x % 32;
    const float* in = x + r * width;
    const float* res = residual ? residual + r * width : nullptr;
    float* out_sum = sum ? sum + r * width : nullptr;
    // Pass 1: the sum (stored when asked) and its total or square total.
    float total = 0.f;
    for (long long j = lane; j < width; j += 32) {
        const float v = res ? in[j] + res[j] : in[j];
        if (out_sum) out_sum[j] = v;
        total += kLayerNorm ? v : v * v;
    }
    total = detail::warp_sum(total);
    // Later passes read the sum back (from `sum` when stored: x may alias it).
    const float* s = out_sum ? out_sum : in;
    auto value = [&](long long j) { return out_sum || !res ? s[j] : in[j] + res[j]; };
    const float inv_width = 1.f / static_cast<float>(width);
    if (kLayerNorm) {
        const float mean = total * inv_width;
        float sq = 0.f;
        for (long long j = lane; j < width; j += 32) {
            const float d = value(j) - mean;
            sq += d * d;
        }
        const float inv_std = rsqrtf(detail::warp_sum(sq) * inv_width + eps);
        for (long long j = lane; j < width; j += 32) y[r * width + j] = (value(j) - mean) * inv_std * weight[j] + beta[j];
    } else {
        const float inv_rms = rsqrtf(total * inv_width + eps);
        for (long long j = lane; j < width; j += 32) y[r * width + j] = value(j) * inv_rms * weight[j];
    }
}

void check_norm(const char* op, const DeviceTensor& x, const DeviceTensor* residual, const DeviceTensor& weight,
                const DeviceTensor* beta) {
    const int64_t width = x.shape().rank() ? x.dim(-1) : 0;
    if (x.dtype() != DType::f32 || weight.numel() != width || (beta && beta->numel() != width)) {
        throw Error(std::string(op) + ": weight " + weight.shape().str() + " does not match input " + x.shape().str());
    }
    if (residual && residual->shape() != x.shape()) {
        throw Error(std::string(op) + ": residual " + residual->shape().str() + " does not match input " +
                    x.shape().str());
    }
}

template <bool kLayerNorm>
void launch_add_norm(const DeviceTensor& x, const DeviceTensor* residual, const DeviceTensor& weight,
                     const DeviceTensor* beta, float eps, DeviceTensor& out, DeviceTensor* sum) {
    // Outputs are resized before any pointer is taken: `sum` may alias x.
    const Shape shape = x.shape();
    if (&out != &x) out.resize(shape);
    if (sum && sum != &x) sum->resize(shape);
    const long long width = shape.rank() ? shape[shape.rank() - 1] : 0;
    const long long rows = width ? shape.numel() / width : 0;
    if (rows == 0) return;
    const int warps_per_block = 8;
    add_norm_warp_per_row<kLayerNorm><<<blocks_for(rows, warps_per_block), 32 * warps_per_block, 0, stream()>>>(
        x.f32(), residual ? residual->f32() : nullptr, weight.f32(), beta ? beta->f32() : nullptr, out.f32(),
        sum ? sum->f32() : nullptr, rows, width, eps);
    GAZE_CUDA_CHECK_LAUNCH("add_norm_warp_per_row");
}

}  // namespace

void add_layer_norm(const DeviceTensor& x, const DeviceTensor* residual, const DeviceTensor& gamma,
                    const DeviceTensor& beta, float eps, DeviceTensor& out, DeviceTensor* sum) {
    check_norm("cuda::add_layer_norm", x, residual, gamma, &beta);
    launch_add_norm<true>(x, residual, gamma, &beta, eps, out, sum);
}

void add_rms_norm(const DeviceTensor& x, const DeviceTensor* residual, const DeviceTensor& weight, float eps,
                  DeviceTensor& out, DeviceTensor* sum) {
    check_norm("cuda::add_rms_norm", x, residual, weight, nullptr);
    launch_add_norm<false>(x, residual, weight, nullptr, eps, out, sum);
}

}  // namespace gaze::cuda
