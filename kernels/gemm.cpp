// GEMMs through cuBLAS: linear layers in fp32, tf32 or bf16, and the batched
// products of the materialising attention baseline. Host code only.
//
// gaze's matrices are row-major; cuBLAS is column-major, so a row-major
// [r, c] matrix is handed over as its column-major transpose [c, r] and
// out = x W^T is computed as out^T = W x^T.
#include "check.cuh"
#include "gaze/cuda.hpp"

namespace gaze::cuda {
namespace {

cublasComputeType_t compute_type(Precision p) {
    return p == Precision::tf32 ? CUBLAS_COMPUTE_32F_FAST_TF32 : CUBLAS_COMPUTE_32F;
}

}  // namespace

const char* precision_name(Precision p) {
    switch (p) {
        case Precision::fp32: return "fp32";
        case Precision::tf32: return "tf32";
        case Precision::bf16: return "bf16";
    }
    return "?";
}

DeviceLinear DeviceLinear::upload(const Tensor& weight, const Tensor& bias, ops::WeightLayout layout,
                                  Precision precision) {
    if (weight.rank() != 2) throw Error("cuda::DeviceLinear: weight must be 2-d, got " + weight.shape().str());
    DeviceLinear l;
    l.layout = layout;
    if (precision == Precision::bf16) {
        l.weight.upload_bf16(weight);
    } else {
        l.weight.upload(weight);
    }
    if (!bias.empty()) {
        if (bias.numel() != l.out_features()) {
            throw Error("cuda::DeviceLinear: bias " + bias.shape().str() + " for " + std::to_string(l.out_features()) +
                        " outputs");
        }
        l.bias.upload(bias);
    }
    return l;
}

int64_t DeviceLinear::in_features() const {
    return layout == ops::WeightLayout::out_in ? weight.dim(1) : weight.dim(0);
}
int64_t DeviceLinear::out_features() const {
    return layout == ops::WeightLayout::out_in ? weight.dim(0) : weight.dim(1);
}

void linear(DeviceMatrix x, const DeviceLinear& layer, Precision precision, DeviceMatrix out, DeviceTensor& scratch,
            Activation act) {
    const int64_t in = layer.in_features(), n_out = layer.out_features();
    if (x.cols != in || out.cols != n_out || out.rows != x.rows || x.stride < x.cols || out.stride < out.cols) {
        throw Error("cuda::linear: x [" + std::to_string(x.rows) + ", " + std::to_string(x.cols) + "] -> out [" +
                    std::to_string(out.rows) + ", " + std::to_string(out.cols) + "] does not fit weight " +
                    layer.weight.shape().str());
    }
    const bool bf16 = precision == Precision::bf16;
    if (bf16 != (layer.weight.dtype() == DType::bf16)) {
        throw Error(std::string("cuda::linear: ") + precision_name(precision) + " needs " +
                    (bf16 ? "bfloat16" : "float32") + " weights (upload them with that precision)");
    }
    if (x.rows == 0 || n_out == 0) return;
    const void* b = x.data;
    int64_t ldb = x.stride;
    if (bf16) {
        scratch.resize({x.rows, x.cols}, DType::bf16);
        detail::round_to_bf16(x, scratch.bf16());
        b = scratch.raw();
        ldb = x.cols;
    }
    const cudaDataType_t ab_type = bf16 ? CUDA_R_16BF : CUDA_R_32F;
    const bool out_in = layer.layout == ops::WeightLayout::out_in;
    const float alpha = 1.f, beta = 0.f;
    GAZE_CUDA_CHECK(cublasGemmEx(cublas(), out_in ? CUBLAS_OP_T : CUBLAS_OP_N, CUBLAS_OP_N, static_cast<int>(n_out),
                                 static_cast<int>(x.rows), static_cast<int>(in), &alpha, layer.weight.raw(), ab_type,
                                 static_cast<int>(out_in ? in : n_out), b, ab_type, static_cast<int>(ldb), &beta,
                                 out.data, CUDA_R_32F, static_cast<int>(out.stride), compute_type(precision),
                                 CUBLAS_GEMM_DEFAULT));
    if (!layer.bias.empty() || act != Activation::identity) {
        bias_activation(out, layer.bias.empty() ? nullptr : &layer.bias, act);
    }
}

void batched_gemm(const float* a, const float* b, float* c, int64_t batch, int64_t m, int64_t n, int64_t k,
                  bool b_transposed, float alpha, Precision precision) {
    if (precision == Precision::bf16) throw Error("cuda::batched_gemm: fp32 or tf32 only");
    const float beta = 0.f;
    // Row-major c [m, n] is column-major c^T [n, m] = b^T-ish [n, k] x a^T [k, m].
    GAZE_CUDA_CHECK(cublasGemmStridedBatchedEx(
        cublas(), b_transposed ? CUBLAS_OP_T : CUBLAS_OP_N, CUBLAS_OP_N, static_cast<int>(n), static_cast<int>(m),
        static_cast<int>(k), &alpha, b, CUDA_R_32F, static_cast<int>(b_transposed ? k : n), n * k, a, CUDA_R_32F,
        static_cast<int>(k), m * k, &beta, c, CUDA_R_32F, static_cast<int>(n), m * n, static_cast<int>(batch),
        compute_type(precision), CUBLAS_GEMM_DEFAULT));
}

}  // namespace gaze::cuda
