// Layer norm, one warp per row. CPU reference: gaze::ops::layer_norm (src/ops/norm.cpp).
// Two-pass in registers/global reads: mean, then variance of (x - mean), the
// same order of operations as the CPU reference, for float32 agreement.
#include "check.cuh"
#include "gaze/cuda.hpp"

namespace gaze::cuda {
namespace {

__device__ float lane_sum(float v) {
    for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(0xffffffffu, v, o);
    return v;
}

__global__ void layer_norm_warp_per_row(const float* x, const float* gamma, const float* beta, float* y,
                                        long long rows, long long width, float eps) {
    const long long r = blockIdx.x * (long long)(blockDim.x / 32) + threadIdx.x / 32;
    if (r >= rows) return;
    const int lane = threadIdx.x % 32;
    const float* in = x + r * width;
    float sum = 0.f;
    for (long long j = lane; j < width; j += 32) sum += in[j];
    const float mean = lane_sum(sum) / static_cast<float>(width);
    float sq = 0.f;
    for (long long j = lane; j < width; j += 32) {
        const float d = in[j] - mean;
        sq += d * d;
    }
    const float inv_std = rsqrtf(lane_sum(sq) / static_cast<float>(width) + eps);
    for (long long j = lane; j < width; j += 32) y[r * width + j] = (in[j] - mean) * inv_std * gamma[j] + beta[j];
}

}  // namespace

void layer_norm(const Tensor& x, const Tensor& gamma, const Tensor& beta, float eps, Tensor& out) {
    const Tensor in = x.is_contiguous() ? x : x.clone();
    const long long width = in.dim(-1), rows = in.numel() / (width ? width : 1);
    if (gamma.numel() != width || beta.numel() != width) {
        throw Error("cuda::layer_norm: gamma/beta " + gamma.shape().str() + " do not match input " + x.shape().str());
    }
    out.resize(x.shape());
    if (rows == 0 || width == 0) return;
    DeviceBuffer<float> d_x(in.numel()), d_y(in.numel()), d_g(width), d_b(width);
    GAZE_CUDA_CHECK(cudaMemcpy(d_x.ptr, in.data(), sizeof(float) * in.numel(), cudaMemcpyHostToDevice));
    const Tensor g = gamma.clone(), b = beta.clone();
    GAZE_CUDA_CHECK(cudaMemcpy(d_g.ptr, g.data(), sizeof(float) * width, cudaMemcpyHostToDevice));
    GAZE_CUDA_CHECK(cudaMemcpy(d_b.ptr, b.data(), sizeof(float) * width, cudaMemcpyHostToDevice));
    const int warps_per_block = 8;
    const long long blocks = (rows + warps_per_block - 1) / warps_per_block;
    layer_norm_warp_per_row<<<static_cast<unsigned>(blocks), 32 * warps_per_block>>>(d_x.ptr, d_g.ptr, d_b.ptr, d_y.ptr,
                                                                                       rows, width, eps);
    GAZE_CUDA_CHECK_LAUNCH("layer_norm_warp_per_row");
    GAZE_CUDA_CHECK(cudaMemcpy(out.data(), d_y.ptr, sizeof(float) * in.numel(), cudaMemcpyDeviceToHost));
}

}  // namespace gaze::cuda
