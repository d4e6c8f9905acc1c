// The fused attention kernel, the probabilities recomputed from its
// log-sum-exp, and the cuBLAS GEMMs, against ops::attention / ops::linear and
// a double-precision reference (grouped-query heads, sliding window). Outputs
// are poisoned before each run; skips with a message without a GPU.
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
struct Case {
    int64_t sq, sk, d, heads, kv_heads;
    bool causal;
    int64_t window;
    bool mask;
    int bias_heads;  // 0: no bias
};

// Awkward lengths 1, 7, 33, 255, 1025, 4097; decode steps (sq = 1 over a long
// cache), cross attention (sq != sk), GQA/MQA, odd head dims.
const Case kCases[] = {
    {1, 1, 64, 2, 2, false, 0, false, 0},     {7, 7, 32, 3, 3, true, 0, false, 0},
    {33, 33, 64, 4, 2, true, 5, true, 0},     {255, 255, 128, 2, 1, true, 0, true, 0},
    {1, 1025, 64, 4, 4, true, 0, true, 0},    {33, 4097, 16, 2, 2, false, 0, true, 2},
    {1025, 1025, 64, 2, 2, true, 0, false, 1}, {7, 4097, 7, 1, 1, true, 100, false, 0},
    {255, 33, 128, 2, 2, false, 0, true, 2},
};

// p [B, heads, Sq, Sk] and out [B, Sq, heads*d] in double, straight from the
// definition (see ops.hpp: attention).
void reference(const Tensor& q, const Tensor& k, const Tensor& v, const Case& c, float scale, const Tensor* mask,
               const Tensor* bias, Tensor& probs, Tensor& out) {
    const int64_t batch = q.dim(0), group = c.heads / c.kv_heads, offset = c.sk - c.sq;
    probs = Tensor({batch, c.heads, c.sq, c.sk});
    out = Tensor({batch, c.sq, c.heads * c.d});
    std::vector<double> s(static_cast<size_t>(c.sk)), acc(static_cast<size_t>(c.d));
    for (int64_t b = 0; b < batch; ++b)
        for (int64_t h = 0; h < c.heads; ++h)
            for (int64_t i = 0; i < c.sq; ++i) {
                const int64_t kvh = h / group, pos = i + offset;
                const float* qrow = q.ptr({b, i, h * c.d});
                double max = -INFINITY;
                for (int64_t j = 0; j < c.sk; ++j) {
                    const bool hidden = (c.causal && j > pos) || (c.window > 0 && j <= pos - c.window);
                    const float* krow = k.ptr({b, j, kvh * c.d});
                    double dot = 0;
                    for (int64_t e = 0; e < c.d; ++e) dot += double(qrow[e]) * krow[e];
                    double x = dot * scale;
                    if (bias) x += bias->at({bias->dim(0) == 1 ? 0 : h, i, j});
                    if (mask) x += mask->at({b, j});
                    s[size_t(j)] = hidden ? -INFINITY : x;
                    max = std::max(max, s[size_t(j)]);
                }
                double sum = 0;
                for (auto& x : s) sum += (x = max == -INFINITY ? 0 : std::exp(x - max));
                std::fill(acc.begin(), acc.end(), 0.0);
                float* prow = probs.ptr({b, h, i, 0});
                for (int64_t j = 0; j < c.sk; ++j) {
                    const double pj = sum > 0 ? s[size_t(j)] / sum : 0;
                    prow[j] = float(pj);
                    const float* vrow = v.ptr({b, j, kvh * c.d});
                    for (int64_t e = 0; e < c.d; ++e) acc[size_t(e)] += pj * vrow[e];
                }
                for (int64_t e = 0; e < c.d; ++e) out.at({b, i, h * c.d + e}) = float(acc[size_t(e)]);
            }
}

TEST(CudaAttention, FusedAttentionAndRecomputedProbabilitiesMatchReference) {
    GAZE_REQUIRE_GPU();
    std::mt19937 rng(31);
    for (const Case& c : kCases) {
        const int64_t batch = 2, kv_width = c.kv_heads * c.d;
        const float scale = 1.0f / std::sqrt(float(c.d));
        // Self attention reads q, k, v from one fused projection (strided rows).
        const bool fused = c.sq == c.sk;
        const Tensor qkv = random_tensor({batch, c.sq, c.heads * c.d + 2 * kv_width}, rng, -2.f, 2.f);
        const Tensor q = fused ? qkv.narrow(2, 0, c.heads * c.d) : random_tensor({batch, c.sq, c.heads * c.d}, rng, -2.f, 2.f);
        const Tensor kv = fused ? qkv.narrow(2, c.heads * c.d, 2 * kv_width) : random_tensor({batch, c.sk, 2 * kv_width}, rng, -2.f, 2.f);
        const Tensor k = kv.narrow(2, 0, kv_width), v = kv.narrow(2, kv_width, kv_width);
        Tensor mask = random_tensor({batch, c.sk}, rng, 0.f, 0.f);
        mask.at({1, 0}) = -std::numeric_limits<float>::infinity();  // a padded first key: row 0 of batch 1 may see nothing
        const Tensor bias = random_tensor({std::max(c.bias_heads, 1), c.sq, c.sk}, rng, -1.f, 1.f);
        const Tensor* mask_p = c.mask ? &mask : nullptr;
        const Tensor* bias_p = c.bias_heads ? &bias : nullptr;
        Tensor probs, expected;
        reference(q, k, v, c, scale, mask_p, bias_p, probs, expected);
        const std::string where = "sq=" + std::to_string(c.sq) + " sk=" + std::to_string(c.sk) + " d=" +
                                  std::to_string(c.d) + " heads=" + std::to_string(c.heads) + "/" + std::to_string(c.kv_heads);

        if (c.kv_heads == c.heads && c.window == 0) {  // the CPU op agrees with the reference too
            ops::AttentionOptions o;
            o.heads = c.heads;
            o.scale = scale;
            o.causal = c.causal;
            o.causal_offset = c.sk - c.sq;
            o.key_mask = mask_p;
            o.bias = bias_p;
            Tensor cpu;
            ops::attention(q, k, v, o, cpu);
            EXPECT_LE(max_abs_diff(expected, cpu), 2e-5) << "ops::attention, " << where;
        }

        cuda::DeviceTensor d_q = to_device(fused ? qkv : q), d_kv = to_device(fused ? qkv : kv);
        cuda::DeviceTensor d_mask = to_device(mask), d_bias = to_device(bias);
        const cuda::DeviceMatrix mq = d_q.matrix().columns(0, c.heads * c.d);
        const cuda::DeviceMatrix mk = d_kv.matrix().columns(fused ? c.heads * c.d : 0, kv_width);
        const cuda::DeviceMatrix mv = d_kv.matrix().columns(fused ? c.heads * c.d + kv_width : kv_width, kv_width);
        cuda::AttentionParams p;
        p.batch = batch;
        p.heads = c.heads;
        p.kv_heads = c.kv_heads;
        p.masking = {scale, c.causal, c.sk - c.sq, c.window, c.mask ? &d_mask : nullptr, c.bias_heads ? &d_bias : nullptr};
        cuda::DeviceTensor out = poisoned({batch, c.sq, c.heads * c.d}), lse = poisoned({batch, c.heads, c.sq});
        cuda::attention(mq, mk, mv, p, out, &lse);
        EXPECT_LE(max_abs_diff(expected, to_host(out)), 2e-5) << "fused attention, " << where;

        // Observers' probabilities: the last and first heads, some rows (all for short queries).
        std::vector<int> heads = {int(c.heads - 1)};
        if (c.heads > 1) heads.push_back(0);
        std::vector<int64_t> rows;
        if (c.sq > 40) rows = {0, c.sq / 2, c.sq - 1};
        cuda::ProbabilityRequest request;
        request.set(heads, rows, c.heads, c.sq);
        cuda::DeviceTensor got = poisoned({batch, int64_t(heads.size()), request.row_count, c.sk});
        cuda::attention_probabilities(mq, mk, p, lse, request, got);
        Tensor want({batch, int64_t(heads.size()), request.row_count, c.sk});
        for (int64_t b = 0; b < batch; ++b)
            for (size_t hi = 0; hi < heads.size(); ++hi)
                for (int64_t ri = 0; ri < request.row_count; ++ri)
                    for (int64_t j = 0; j < c.sk; ++j)
                        want.at({b, int64_t(hi), ri, j}) =
                            probs.at({b, heads[hi], rows.empty() ? ri : rows[size_t(ri)], j});
        EXPECT_LE(max_abs_diff(want, to_host(got)), 2e-6) << "probabilities, " << where;
    }
}

TEST(CudaAttention, RefusesBadRequests) {
    cuda::ProbabilityRequest request;
    const std::vector<int> heads = {0, 4};
    EXPECT_THROW(request.set(heads, {}, 4, 10), Error);  // head 4 of 4: refused before any CUDA call
    const std::vector<int> ok = {1};
    const std::vector<int64_t> rows = {10};
    EXPECT_THROW(request.set(ok, rows, 4, 10), Error);
}

// ||got - want|| / ||scale||; `scale` defaults to `want`. NaN stays NaN.
double relative_error(const Tensor& got, const Tensor& want, const Tensor* scale = nullptr) {
    const auto g = got.to_vector(), w = want.to_vector(), s = (scale ? *scale : want).to_vector();
    double num = 0, den = 0;
    for (size_t i = 0; i < g.size(); ++i) {
        num += (double(g[i]) - w[i]) * (double(g[i]) - w[i]);
        den += double(s[i]) * s[i];
    }
    return std::sqrt(num / std::max(den, 1e-30));
}

Tensor absolute(const Tensor& t) {
    Tensor a = t.clone();
    for (int64_t i = 0; i < a.numel(); ++i) a.data()[i] = std::fabs(a.data()[i]);
    return a;
}

TEST(CudaGemm, LinearMatchesCpuReferenceInEachPrecision) {
    GAZE_REQUIRE_GPU();
    std::mt19937 rng(37);
    struct Shape3 { int64_t rows, in, out; };
    const Shape3 shapes[] = {{1, 1, 1}, {7, 33, 255}, {33, 255, 7}, {255, 1025, 33}, {1025, 33, 4097}, {4097, 255, 1}};
    const std::pair<cuda::Precision, double> precisions[] = {
        {cuda::Precision::fp32, 1e-5}, {cuda::Precision::tf32, 3e-3}, {cuda::Precision::bf16, 1.2e-2}};  // bounds: 2u per product (tf32 u = 2^-11, or 2^-10 if truncated; bf16 u = 2^-8), x 1.13 for GELU
    for (const Shape3& s : shapes) {
        for (const auto& [precision, tol] : precisions) {
            for (ops::WeightLayout layout : {ops::WeightLayout::out_in, ops::WeightLayout::in_out}) {
                const Tensor x = random_tensor({s.rows, s.in}, rng);
                const Tensor w = layout == ops::WeightLayout::out_in ? random_tensor({s.out, s.in}, rng)
                                                                     : random_tensor({s.in, s.out}, rng);
                const Tensor bias = random_tensor({s.out}, rng);
                Tensor expected, magnitude;
                ops::linear(x, w, bias, layout, expected);
                ops::gelu_erf(expected);
                // Errors are measured against |x| |W|^T + |b|: rounding scales with the
                // terms, not with a sum that may cancel (a 1 x 1 x 1 case can).
                ops::linear(absolute(x), absolute(w), absolute(bias), layout, magnitude);
                const cuda::DeviceLinear layer = cuda::DeviceLinear::upload(w, bias, layout, precision);
                cuda::DeviceTensor d_x = to_device(x), out = poisoned({s.rows, s.out}), scratch;
                cuda::linear(d_x.matrix(), layer, precision, out.matrix(), scratch, cuda::Activation::gelu_erf);
                EXPECT_LE(relative_error(to_host(out), expected, &magnitude), tol)
                    << cuda::precision_name(precision) << " rows=" << s.rows << " in=" << s.in << " out=" << s.out;
            }
        }
    }
}

TEST(CudaGemm, BatchedGemmMatchesDoubleReference) {
    GAZE_REQUIRE_GPU();
    std::mt19937 rng(41);
    const int64_t batch = 3, m = 33, n = 7, k = 255;
    const Tensor a = random_tensor({batch, m, k}, rng), bt = random_tensor({batch, n, k}, rng),
                 b = random_tensor({batch, k, n}, rng);
    for (bool transposed : {true, false}) {
        Tensor want({batch, m, n});
        for (int64_t i = 0; i < batch; ++i)
            for (int64_t r = 0; r < m; ++r)
                for (int64_t c = 0; c < n; ++c) {
                    double acc = 0;
                    for (int64_t e = 0; e < k; ++e)
                        acc += double(a.at({i, r, e})) * (transposed ? bt.at({i, c, e}) : b.at({i, e, c}));
                    want.at({i, r, c}) = float(0.5 * acc);
                }
        cuda::DeviceTensor d_a = to_device(a), d_b = to_device(transposed ? bt : b), out = poisoned({batch, m, n});
        cuda::batched_gemm(d_a.f32(), d_b.f32(), out.f32(), batch, m, n, k, transposed, 0.5f, cuda::Precision::fp32);
        EXPECT_LE(relative_error(to_host(out), want), 1e-5) << "transposed=" << transposed;
    }
}
#else
TEST(CudaAttention, SkippedWithoutCuda) { GTEST_SKIP() << "gaze was built without CUDA (nvcc not found)"; }
#endif

}  // namespace
}  // namespace gaze::test
