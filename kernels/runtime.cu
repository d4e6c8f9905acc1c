// Device discovery for the CUDA backend.
#include "check.cuh"
#include "gaze/cuda.hpp"

namespace gaze::cuda {

bool available(std::string* why) {
    int count = 0;
    const cudaError_t status = cudaGetDeviceCount(&count);
    if (status != cudaSuccess || count == 0) {
        if (why) *why = status != cudaSuccess ? cudaGetErrorString(status) : "no CUDA device";
        cudaGetLastError();  // clear the sticky error so later calls start clean
        return false;
    }
    return true;
}

std::string device_name() {
    cudaDeviceProp prop{};
    GAZE_CUDA_CHECK(cudaGetDeviceProperties(&prop, 0));
    return prop.name;
}

}  // namespace gaze::cuda
