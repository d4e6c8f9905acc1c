#pragma once
// Every CUDA and cuBLAS call and every launch is checked; a failure throws
// gaze::Error naming the call, the file and the line.
#include <cublas_v2.h>
#include <cuda_runtime.h>

#include <string>

#include "gaze/error.hpp"

namespace gaze::cuda {

inline void check(cudaError_t status, const char* call, const char* file, int line) {
    if (status != cudaSuccess) {
        throw Error(std::string("CUDA error in ") + call + " (" + file + ":" + std::to_string(line) +
                    "): " + cudaGetErrorString(status));
    }
}

inline void check(cublasStatus_t status, const char* call, const char* file, int line) {
    if (status != CUBLAS_STATUS_SUCCESS) {
        throw Error(std::string("cuBLAS error in ") + call + " (" + file + ":" + std::to_string(line) +
                    "): " + cublasGetStatusString(status));
    }
}

// The one stream every kernel and copy of this process runs on, and the
// cuBLAS handle bound to it (both created on first use).
cudaStream_t stream();
cublasHandle_t cublas();

// Blocks of `threads` threads covering `count` items (at least one block).
inline unsigned blocks_for(long long count, int threads) {
    return static_cast<unsigned>(count > 0 ? (count + threads - 1) / threads : 1);
}

struct DeviceMatrix;
namespace detail {
// out [rows, cols] bfloat16 (dense) = x rounded to nearest even (gemm.cpp's
// activations for Precision::bf16; kernel in elementwise.cu).
void round_to_bf16(const DeviceMatrix& x, uint16_t* out);
}  // namespace detail

}  // namespace gaze::cuda

#define GAZE_CUDA_CHECK(call) ::gaze::cuda::check((call), #call, __FILE__, __LINE__)
// After a <<<...>>> launch: launch-configuration errors surface here, named.
#define GAZE_CUDA_CHECK_LAUNCH(name) ::gaze::cuda::check(cudaGetLastError(), "launch of " name, __FILE__, __LINE__)
