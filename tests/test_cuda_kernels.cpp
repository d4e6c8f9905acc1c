// CUDA kernels against their CPU references (gaze::ops) on random inputs of
// awkward sizes, outputs poisoned before each run. Skips with a message when
// the library was built without CUDA or no device is present.
#include <gtest/gtest.h>

#include <cmath>
#include <limits>

#include "gaze/ops.hpp"
#include "test_support.hpp"
#ifdef GAZE_HAVE_CUDA
#include "gaze/cuda.hpp"
#endif

namespace gaze::test {
namespace {

#ifdef GAZE_HAVE_CUDA
#define GAZE_REQUIRE_GPU()                                              \
    do {                                                                \
        std::string why;                                                \
        if (!cuda::available(&why)) GTEST_SKIP() << "no GPU: " << why;  \
    } while (0)

TEST(CudaKernels, FusedSoftmaxMatchesCpuReference) {
    GAZE_REQUIRE_GPU();
    std::mt19937 rng(7);
    for (int64_t sk : {1, 7, 33, 255, 1025, 4099}) {
        for (bool causal : {false, true}) {
            const int64_t batch = 2, heads = 3, sq = sk > 1000 ? 5 : std::min<int64_t>(sk, 17);
            Tensor scores = random_tensor({batch, heads, sq, sk}, rng, -8.f, 8.f);
            Tensor mask = random_tensor({batch, sk}, rng, 0.f, 0.f);
            mask.at({1, sk - 1}) = -std::numeric_limits<float>::infinity();  // one padded key
            Tensor bias = random_tensor({heads, sq, sk}, rng, -1.f, 1.f);
            ops::SoftmaxMasking m{0.125f, causal, sk - sq, &mask, &bias};
            Tensor expected = scores.clone();
            ops::scaled_masked_softmax(expected, m);
            Tensor actual = scores.clone();
            cuda::scaled_masked_softmax(actual, m);
            EXPECT_LE(max_abs_diff(expected, actual), 2e-6) << "sk=" << sk << " causal=" << causal;
        }
    }
}

TEST(CudaKernels, LayerNormMatchesCpuReference) {
    GAZE_REQUIRE_GPU();
    std::mt19937 rng(11);
    for (int64_t width : {1, 7, 33, 255, 768, 1025}) {
        const Tensor x = random_tensor({3, 5, width}, rng, -3.f, 3.f);
        const Tensor g = random_tensor({width}, rng), b = random_tensor({width}, rng);
        Tensor expected, actual({3, 5, width});
        actual.fill(std::numeric_limits<float>::quiet_NaN());  // poison
        ops::layer_norm(x, g, b, 1e-5f, expected);
        cuda::layer_norm(x, g, b, 1e-5f, actual);
        EXPECT_LE(max_abs_diff(expected, actual), 1e-5) << "width=" << width;
    }
}

TEST(CudaKernels, ReportsMissingDevice) {
    std::string why;
    if (cuda::available(&why)) GTEST_SKIP() << "a GPU is present: " << cuda::device_name();
    EXPECT_FALSE(why.empty());
    Tensor scores({1, 1, 2, 2});
    EXPECT_THROW(cuda::scaled_masked_softmax(scores, {}), Error);
}
#else
TEST(CudaKernels, SkippedWithoutCuda) { GTEST_SKIP() << "gaze was built without CUDA (nvcc not found)"; }
#endif

}  // namespace
}  // namespace gaze::test
