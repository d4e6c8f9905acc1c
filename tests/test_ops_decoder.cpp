// The CPU ops that are also the CUDA kernels' references: SwiGLU, the
// KV-cache append and the sliding window of scaled_masked_softmax, against
// naive double-precision references.
#include <gtest/gtest.h>

#include <cmath>
#include <limits>

#include "gaze/ops.hpp"
#include "ops_reference.hpp"
#include "test_support.hpp"

namespace gaze::test {
namespace {

TEST(OpsDecoder, SwigluOnFusedHalvesMatchesDoubleReference) {
    std::mt19937 rng(3);
    for (int64_t width : kSizes) {
        const Tensor gate_up = random_tensor({2, 3, 2 * width}, rng, -8.f, 8.f);
        const Tensor gate = gate_up.narrow(2, 0, width), up = gate_up.narrow(2, width, width);
        std::vector<double> expected;
        const auto g = values(gate), u = values(up);
        for (size_t i = 0; i < g.size(); ++i) expected.push_back(g[i] / (1.0 + std::exp(-g[i])) * u[i]);
        Tensor out;
        ops::swiglu(gate, up, out);
        EXPECT_EQ(out.shape(), (Shape{2, 3, width}));
        expect_close(out, expected, 1e-6, nullptr, "swiglu width " + std::to_string(width));
    }
    Tensor out;
    EXPECT_THROW(ops::swiglu(Tensor({2, 3}), Tensor({2, 4}), out), Error);
}

TEST(OpsDecoder, KvCacheAppendWritesOnlyItsPositions) {
    std::mt19937 rng(5);
    const Tensor qkv = random_tensor({2, 3, 12}, rng);
    const Tensor keys = qkv.narrow(2, 4, 4);  // strided rows
    Tensor cache = random_tensor({2, 6, 4}, rng);
    const Tensor before = cache.clone();
    ops::kv_cache_append(keys, 2, cache);
    for (int64_t b = 0; b < 2; ++b)
        for (int64_t p = 0; p < 6; ++p)
            for (int64_t c = 0; c < 4; ++c) {
                const bool written = p >= 2 && p < 5;
                EXPECT_EQ(cache.at({b, p, c}), written ? keys.at({b, p - 2, c}) : before.at({b, p, c}))
                    << "b=" << b << " p=" << p << " c=" << c;
            }
    EXPECT_THROW(ops::kv_cache_append(keys, 4, cache), Error);              // past the capacity
    EXPECT_THROW(ops::kv_cache_append(keys, -1, cache), Error);             // negative position
    EXPECT_THROW(ops::kv_cache_append(Tensor({1, 3, 4}), 0, cache), Error);  // other batch
}

TEST(OpsDecoder, SlidingWindowSoftmaxMatchesDoubleReference) {
    std::mt19937 rng(7);
    for (int64_t sk : kSizes) {
        for (int64_t window : {1, 3, 100}) {
            const int64_t sq = std::min<int64_t>(sk, 5), offset = sk - sq;
            const Tensor scores = random_tensor({1, 2, sq, sk}, rng, -4.f, 4.f);
            std::vector<double> expected;
            const auto s = values(scores);
            for (int64_t h = 0; h < 2; ++h)
                for (int64_t i = 0; i < sq; ++i) {
                    const int64_t pos = i + offset;
                    double max = -kInf, sum = 0;
                    auto visible = [&](int64_t j) { return j <= pos && j > pos - window; };
                    for (int64_t j = 0; j < sk; ++j)
                        if (visible(j)) max = std::max(max, 0.5 * s[size_t((h * sq + i) * sk + j)]);
                    for (int64_t j = 0; j < sk; ++j)
                        if (visible(j)) sum += std::exp(0.5 * s[size_t((h * sq + i) * sk + j)] - max);
                    for (int64_t j = 0; j < sk; ++j)
                        expected.push_back(visible(j) ? std::exp(0.5 * s[size_t((h * sq + i) * sk + j)] - max) / sum : 0.0);
                }
            Tensor out = scores.clone();
            ops::scaled_masked_softmax(out, {0.5f, true, offset, window, nullptr, nullptr});
            expect_close(out, expected, 1e-6, nullptr, "sk " + std::to_string(sk) + " window " + std::to_string(window));
        }
    }
    Tensor scores({1, 1, 2, 2});
    EXPECT_THROW(ops::scaled_masked_softmax(scores, {1.f, true, 0, -1, nullptr, nullptr}), Error);
}

}  // namespace
}  // namespace gaze::test
