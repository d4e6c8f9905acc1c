#pragma once
// Every CUDA call and launch is checked; failures name the call and the file.
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

// A device buffer freed on scope exit.
template <typename T>
struct DeviceBuffer {
    T* ptr = nullptr;
    explicit DeviceBuffer(size_t count) {
        if (count) check(cudaMalloc(&ptr, count * sizeof(T)), "cudaMalloc", __FILE__, __LINE__);
    }
    ~DeviceBuffer() {
        if (ptr) cudaFree(ptr);
    }
    DeviceBuffer(const DeviceBuffer&) = delete;
    DeviceBuffer& operator=(const DeviceBuffer&) = delete;
};

}  // namespace gaze::cuda

#define GAZE_CUDA_CHECK(call) ::gaze::cuda::check((call), #call, __FILE__, __LINE__)
#define GAZE_CUDA_CHECK_LAUNCH(name) ::gaze::cuda::check(cudaGetLastError(), name, __FILE__, __LINE__)
