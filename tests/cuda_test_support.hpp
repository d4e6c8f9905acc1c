#pragma once
// Shared by the CUDA comparison tests (tests/test_cuda_*.cpp): the skip when
// no GPU is present, the awkward sizes, and device round trips.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "gaze/cuda.hpp"

namespace gaze::test {

// Sizes that hit partial warps, tiles and blocks: 1, 7 (under a warp), 33
// (one past a warp or key tile), 255, 1025 (one past the warp softmax's 1024),
// 4097.
inline const std::vector<int64_t> kCudaSizes = {1, 7, 33, 255, 1025, 4097};

inline cuda::DeviceTensor to_device(const Tensor& host) {
    cuda::DeviceTensor d;
    d.upload(host);
    return d;
}

inline Tensor to_host(const cuda::DeviceTensor& device) {
    Tensor host;
    device.download(host);
    return host;
}

// A poisoned (all-NaN) device output of `shape`: an element a kernel does not
// write stays NaN, and max_abs_diff then returns NaN, which fails EXPECT_LE.
inline cuda::DeviceTensor poisoned(const Shape& shape) {
    cuda::DeviceTensor d(shape);
    d.poison();
    return d;
}

}  // namespace gaze::test

// Skips the test with a message when no CUDA device can be used.
#define GAZE_REQUIRE_GPU()                                                   \
    do {                                                                     \
        std::string why_no_gpu;                                              \
        if (!::gaze::cuda::available(&why_no_gpu)) GTEST_SKIP() << "no GPU: " << why_no_gpu; \
    } while (0)
