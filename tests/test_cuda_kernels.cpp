// CUDA kernels against their CPU references (gaze::ops) on random inputs of
// awkward sizes, outputs poisoned before each run. Skips with a message when
// the library was built without CUDA or no device is present.
#include <gtest/gtest.h>

#include <cmath>
#include <limits>

#include "gaze/ops.hpp"
#include "test_support.hpp"
#ifdef GAZE_HAVE_CUDA
#include "cuda_test_support.hpp"
#endif

namespace gaze::test {
namespace {

#ifdef GAZE_HAVE_CUDA
constexpr float kNegInf = -std::numeric_limits<float>::infinity();

TEST(CudaKernels, FusedSoftmaxMatchesCpuReference) {
    GAZE_REQUIRE_GPU();
    std::mt19937 rng(7);
    for (int64_t sk : kCudaSizes) {
        for (int variant = 0; variant < 4; ++variant) {
            const bool causal = variant & 1;
            const int64_t window = variant & 2 ? 5 : 0;
            const int64_t batch = 2, heads = 3, sq = sk > 1000 ? 5 : std::min<int64_t>(sk, 17);
            const Tensor scores = random_tensor({batch, heads, sq, sk}, rng, -8.f, 8.f);
            Tensor mask = random_tensor({batch, sk}, rng, 0.f, 0.f);
            mask.at({1, sk - 1}) = kNegInf;  // one padded key
            const Tensor bias = random_tensor({variant == 3 ? 1 : heads, sq, sk}, rng, -1.f, 1.f);
            const ops::SoftmaxMasking m{0.125f, causal, sk - sq, window, &mask, &bias};
            Tensor expected = scores.clone();
            ops::scaled_masked_softmax(expected, m);

            cuda::DeviceTensor d_scores = to_device(scores), d_mask = to_device(mask), d_bias = to_device(bias);
            cuda::scaled_masked_softmax(d_scores, {0.125f, causal, sk - sq, window, &d_mask, &d_bias});
            // In place: a score the kernel skips keeps its raw value and fails.
            EXPECT_LE(max_abs_diff(expected, to_host(d_scores)), 2e-6)
                << "sk=" << sk << " causal=" << causal << " window=" << window;
        }
    }
}

TEST(CudaKernels, FusedAddNormsMatchCpuReference) {
    GAZE_REQUIRE_GPU();
    std::mt19937 rng(11);
    for (int64_t width : kCudaSizes) {
        const Tensor x = random_tensor({3, 5, width}, rng, -3.f, 3.f), residual = random_tensor({3, 5, width}, rng);
        const Tensor g = random_tensor({width}, rng), b = random_tensor({width}, rng);
        Tensor sum, expected_ln, expected_rms;
        ops::add(x, residual, sum);
        ops::layer_norm(sum, g, b, 1e-5f, expected_ln);
        ops::rms_norm(sum, g, 1e-6f, expected_rms);

        const cuda::DeviceTensor d_x = to_device(x), d_res = to_device(residual), d_g = to_device(g),
                                 d_b = to_device(b);
        cuda::DeviceTensor out = poisoned(x.shape()), d_sum = poisoned(x.shape());
        cuda::add_layer_norm(d_x, &d_res, d_g, d_b, 1e-5f, out, &d_sum);
        EXPECT_LE(max_abs_diff(expected_ln, to_host(out)), 1e-5) << "layer norm, width=" << width;
        EXPECT_LE(max_abs_diff(sum, to_host(d_sum)), 0.0) << "residual sum, width=" << width;
        out.poison();
        cuda::add_rms_norm(d_x, &d_res, d_g, 1e-6f, out);
        EXPECT_LE(max_abs_diff(expected_rms, to_host(out)), 1e-5) << "rms norm, width=" << width;

        // No residual, in place (out aliases x): the plain norms.
        Tensor plain;
        ops::layer_norm(x, g, b, 1e-5f, plain);
        cuda::DeviceTensor inplace = to_device(x);
        cuda::add_layer_norm(inplace, nullptr, d_g, d_b, 1e-5f, inplace);
        EXPECT_LE(max_abs_diff(plain, to_host(inplace)), 1e-5) << "in-place layer norm, width=" << width;
    }
}

TEST(CudaKernels, BiasActivationMatchesCpuReference) {
    GAZE_REQUIRE_GPU();
    std::mt19937 rng(13);
    const cuda::Activation acts[] = {cuda::Activation::identity, cuda::Activation::gelu_erf,
                                     cuda::Activation::gelu_tanh, cuda::Activation::relu};
    for (int64_t width : kCudaSizes) {
        for (cuda::Activation act : acts) {
            // The activated columns are the left half of a wider buffer (a strided view).
            const Tensor wide = random_tensor({4, 2 * width}, rng, -4.f, 4.f), bias = random_tensor({width}, rng);
            Tensor expected = wide.narrow(1, 0, width).clone();
            ops::add_row_broadcast(expected, bias);
            if (act == cuda::Activation::gelu_erf) ops::gelu_erf(expected);
            if (act == cuda::Activation::gelu_tanh) ops::gelu_tanh(expected);
            if (act == cuda::Activation::relu) ops::relu(expected);

            cuda::DeviceTensor d_wide = to_device(wide), d_bias = to_device(bias);
            cuda::bias_activation(d_wide.matrix().columns(0, width), &d_bias, act);
            const Tensor got = to_host(d_wide);
            EXPECT_LE(max_abs_diff(expected, got.narrow(1, 0, width).clone()), 2e-6)
                << "width=" << width << " activation " << static_cast<int>(act);
            EXPECT_EQ(max_abs_diff(wide.narrow(1, width, width).clone(), got.narrow(1, width, width).clone()), 0.0)
                << "columns outside the view changed";
        }
    }
}

TEST(CudaKernels, SwigluMatchesCpuReference) {
    GAZE_REQUIRE_GPU();
    std::mt19937 rng(17);
    for (int64_t width : kCudaSizes) {
        const Tensor gate_up = random_tensor({3, 2, 2 * width}, rng, -6.f, 6.f);
        Tensor expected;
        ops::swiglu(gate_up.narrow(2, 0, width), gate_up.narrow(2, width, width), expected);
        const cuda::DeviceTensor d_in = to_device(gate_up);
        cuda::DeviceTensor out = poisoned({3, 2, width});
        cuda::swiglu(d_in, out);
        EXPECT_LE(max_abs_diff(expected, to_host(out)), 1e-5) << "width=" << width;
    }
}

TEST(CudaKernels, EmbeddingSumMatchesCpuReference) {
    GAZE_REQUIRE_GPU();
    std::mt19937 rng(19);
    for (int64_t hidden : kCudaSizes) {
        const Tensor tokens = random_tensor({50, hidden}, rng), positions = random_tensor({20, hidden}, rng),
                     types = random_tensor({2, hidden}, rng);
        const std::vector<int32_t> ids = {3, 49, 0, 7, 7, 12, 1}, pos = {0, 1, 2, 3, 4, 5, 19}, ty = {0, 0, 1, 1, 0, 1, 0};
        Tensor expected, part;
        ops::embedding_lookup(tokens, ids, expected);
        ops::embedding_lookup(positions, pos, part);
        ops::add(expected, part, expected);
        ops::embedding_lookup(types, ty, part);
        ops::add(expected, part, expected);

        const cuda::DeviceTensor d_tok = to_device(tokens), d_pos = to_device(positions), d_ty = to_device(types);
        cuda::DeviceTensor d_ids, d_pids, d_tids;
        cuda::upload_checked_ids(ids, 50, "token id", d_ids);
        cuda::upload_checked_ids(pos, 20, "position", d_pids);
        cuda::upload_checked_ids(ty, 2, "token type", d_tids);
        const cuda::Gather gathers[] = {{&d_tok, &d_ids}, {&d_pos, &d_pids}, {&d_ty, &d_tids}};
        cuda::DeviceTensor out = poisoned({7, hidden});
        cuda::embedding_sum(gathers, out);
        EXPECT_LE(max_abs_diff(expected, to_host(out)), 1e-6) << "hidden=" << hidden;
    }
}

TEST(CudaKernels, RotaryMatchesGoldenFormula) {
    GAZE_REQUIRE_GPU();
    std::mt19937 rng(23);
    const int64_t heads = 3;
    for (int64_t rows : kCudaSizes) {
        for (int64_t d : {2, 8, 64, 128}) {
            // q of a fused projection: heads*d columns of rows 2*heads*d apart.
            const Tensor fused = random_tensor({rows, 2 * heads * d}, rng, -2.f, 2.f);
            std::vector<int32_t> positions(static_cast<size_t>(rows));
            std::uniform_int_distribution<int32_t> pick(0, 4096);
            for (auto& p : positions) p = pick(rng);
            const Tensor inv = cuda::rotary_inverse_frequencies(d, 10000.0);
            // ../shared/golden/README.md: HF rotate_half, pairs (i, i + d/2);
            // angles in float32 as transformers forms them, rotation in double.
            Tensor expected = fused.clone();
            for (int64_t r = 0; r < rows; ++r)
                for (int64_t h = 0; h < heads; ++h)
                    for (int64_t i = 0; i < d / 2; ++i) {
                        const float angle = static_cast<float>(positions[static_cast<size_t>(r)]) * inv.data()[i];
                        const double a = fused.at({r, h * d + i}), b = fused.at({r, h * d + i + d / 2});
                        expected.at({r, h * d + i}) = static_cast<float>(a * std::cos(angle) - b * std::sin(angle));
                        expected.at({r, h * d + i + d / 2}) = static_cast<float>(b * std::cos(angle) + a * std::sin(angle));
                    }
            cuda::DeviceTensor d_x = to_device(fused), d_pos, d_inv = to_device(inv);
            d_pos.upload_ints(positions);
            cuda::rotary_embedding(d_x.matrix().columns(0, heads * d), d, d_pos, d_inv);
            EXPECT_LE(max_abs_diff(expected, to_host(d_x)), 2e-6) << "rows=" << rows << " d=" << d;
        }
    }
}

TEST(CudaKernels, KvCacheAppendMatchesCpuReference) {
    GAZE_REQUIRE_GPU();
    std::mt19937 rng(29);
    for (int64_t width : kCudaSizes) {
        const int64_t batch = 2, n = 3, capacity = 9, start = 5;
        const Tensor qkv = random_tensor({batch, n, 3 * width}, rng);  // keys: the middle third
        Tensor cache = random_tensor({batch, capacity, width}, rng);
        cuda::DeviceTensor d_qkv = to_device(qkv), d_cache = to_device(cache);
        ops::kv_cache_append(qkv.narrow(2, width, width), start, cache);
        cuda::kv_cache_append(d_qkv.matrix().columns(width, width), batch, d_cache, start);
        EXPECT_EQ(max_abs_diff(cache, to_host(d_cache)), 0.0) << "width=" << width;
        EXPECT_THROW(cuda::kv_cache_append(d_qkv.matrix().columns(width, width), batch, d_cache, 7), Error);
    }
}

// These run on every machine: bad input is refused on the host, before any
// CUDA call, and a missing device is a clear error rather than a crash.
TEST(CudaKernels, RejectsOutOfRangeIdsOnTheHost) {
    cuda::DeviceTensor ids;
    const std::vector<int32_t> bad = {1, 50};
    try {
        cuda::upload_checked_ids(bad, 50, "token id", ids);
        FAIL() << "no error";
    } catch (const Error& e) {
        EXPECT_NE(std::string(e.what()).find("token id 50 at position 1"), std::string::npos) << e.what();
    }
    EXPECT_THROW(cuda::rotary_inverse_frequencies(7, 10000.0), Error);
}

TEST(CudaKernels, ReportsMissingDevice) {
    std::string why;
    if (cuda::available(&why)) GTEST_SKIP() << "a GPU is present: " << cuda::device_name();
    EXPECT_FALSE(why.empty());
    try {
        cuda::DeviceTensor t({4});
        FAIL() << "allocated device memory without a device";
    } catch (const Error& e) {
        EXPECT_NE(std::string(e.what()).find("cudaMalloc"), std::string::npos) << e.what();
    }
}
#else
TEST(CudaKernels, SkippedWithoutCuda) { GTEST_SKIP() << "gaze was built without CUDA (nvcc not found)"; }
#endif

}  // namespace
}  // namespace gaze::test
