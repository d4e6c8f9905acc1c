// ops::attention, scaled_masked_softmax and additive_key_mask against a naive
// double-precision attention (plain loops): masks (padding, causal, both, with
// a cache offset), additive biases, cross-attention, strided q/k/v slices,
// probability capture of chosen heads and rows, grouped-/multi-query heads,
// Mistral's sliding window, and bad arguments.
#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <random>
#include <string>
#include <vector>

#include "gaze/error.hpp"
#include "gaze/ops.hpp"
#include "ops_reference.hpp"
#include "test_support.hpp"

namespace gaze::test {
namespace {

// ---- attention -------------------------------------------------------------------
// (ops::attention works in tiles of 64 query rows: the sizes below straddle them.)

struct AttentionReference {
    std::vector<double> out;    // [B, Sq, heads*d]
    std::vector<double> probs;  // [B, heads, Sq, Sk]
};

// p = softmax over the visible keys of scale q.k + bias + key_mask; keys that
// are causally hidden or have a -inf logit get 0; no visible key -> all 0.
AttentionReference reference_attention(const Tensor& q, const Tensor& k, const Tensor& v,
                                       const ops::AttentionOptions& o) {
    const int64_t batch = q.dim(0), sq = q.dim(1), sk = k.dim(1), heads = o.heads, width = q.dim(2),
                  d = width / heads, kv_width = k.dim(2), group = o.kv_heads == 0 ? 1 : heads / o.kv_heads;
    const auto vq = values(q), vk = values(k), vv = values(v);
    const std::vector<double> mask = o.key_mask ? values(*o.key_mask) : std::vector<double>();
    const std::vector<double> bias = o.bias ? values(*o.bias) : std::vector<double>();
    AttentionReference ref;
    ref.out.assign(static_cast<size_t>(batch * sq * width), 0.0);
    ref.probs.assign(static_cast<size_t>(batch * heads * sq * sk), 0.0);
    std::vector<double> logits(static_cast<size_t>(sk));
    for (int64_t b = 0; b < batch; ++b) {
        for (int64_t h = 0; h < heads; ++h) {
            const int64_t g = h / group;  // the kv head query head h reads
            for (int64_t i = 0; i < sq; ++i) {
                double max = -kInf;
                for (int64_t j = 0; j < sk; ++j) {
                    double s = 0;
                    for (int64_t c = 0; c < d; ++c) {
                        s += vq[static_cast<size_t>((b * sq + i) * width + h * d + c)] *
                             vk[static_cast<size_t>((b * sk + j) * kv_width + g * d + c)];
                    }
                    s *= o.scale;
                    if (o.bias) {
                        const int64_t bh = o.bias->dim(0) == 1 ? 0 : h;
                        s += bias[static_cast<size_t>((bh * sq + i) * sk + j)];
                    }
                    if (o.key_mask) s += mask[static_cast<size_t>(b * sk + j)];
                    if (o.causal && j > i + o.causal_offset) s = -kInf;
                    if (o.window > 0 && j <= i + o.causal_offset - o.window) s = -kInf;
                    logits[static_cast<size_t>(j)] = s;
                    max = std::max(max, s);
                }
                if (max == -kInf) continue;  // nothing visible: zeros
                double sum = 0;
                for (int64_t j = 0; j < sk; ++j) sum += std::exp(logits[static_cast<size_t>(j)] - max);
                for (int64_t j = 0; j < sk; ++j) {
                    const double p = std::exp(logits[static_cast<size_t>(j)] - max) / sum;
                    ref.probs[static_cast<size_t>(((b * heads + h) * sq + i) * sk + j)] = p;
                    for (int64_t c = 0; c < d; ++c) {
                        ref.out[static_cast<size_t>((b * sq + i) * width + h * d + c)] +=
                            p * vv[static_cast<size_t>((b * sk + j) * kv_width + g * d + c)];
                    }
                }
            }
        }
    }
    return ref;
}

// The same masking rules applied to given raw scores [B, H, Sq, Sk].
std::vector<double> reference_masked_softmax(const Tensor& scores, const ops::SoftmaxMasking& m) {
    const int64_t batch = scores.dim(0), heads = scores.dim(1), sq = scores.dim(2), sk = scores.dim(3);
    const auto vs = values(scores);
    const std::vector<double> mask = m.key_mask ? values(*m.key_mask) : std::vector<double>();
    const std::vector<double> bias = m.bias ? values(*m.bias) : std::vector<double>();
    std::vector<double> out(vs.size(), 0.0), logits(static_cast<size_t>(sk));
    for (int64_t b = 0; b < batch; ++b)
        for (int64_t h = 0; h < heads; ++h)
            for (int64_t i = 0; i < sq; ++i) {
                const size_t row = static_cast<size_t>(((b * heads + h) * sq + i) * sk);
                double max = -kInf;
                for (int64_t j = 0; j < sk; ++j) {
                    double s = m.scale * vs[row + static_cast<size_t>(j)];
                    if (m.bias) s += bias[static_cast<size_t>(((m.bias->dim(0) == 1 ? 0 : h) * sq + i) * sk + j)];
                    if (m.key_mask) s += mask[static_cast<size_t>(b * sk + j)];
                    if (m.causal && j > i + m.causal_offset) s = -kInf;
                    logits[static_cast<size_t>(j)] = s;
                    max = std::max(max, s);
                }
                if (max == -kInf) continue;
                double sum = 0;
                for (double s : logits) sum += std::exp(s - max);
                for (int64_t j = 0; j < sk; ++j) out[row + static_cast<size_t>(j)] = std::exp(logits[static_cast<size_t>(j)] - max) / sum;
            }
    return out;
}

struct AttentionCase {
    int64_t batch = 2, sq = 7, sk = 7, heads = 3, d = 5;
};

// Runs attention on q, k, v and checks out (and the full capture) against the reference.
void check_attention(const Tensor& q, const Tensor& k, const Tensor& v, const ops::AttentionOptions& o,
                     const std::string& what) {
    SCOPED_TRACE(what);
    const AttentionReference ref = reference_attention(q, k, v, o);
    Tensor out;
    ops::attention(q, k, v, o, out);
    ASSERT_EQ(out.shape(), (Shape{q.dim(0), q.dim(1), q.dim(2)}));
    EXPECT_TRUE(all_finite(out));
    expect_close(out, ref.out, 1e-5, nullptr, what + " out");

    // All heads, all rows captured: the probabilities themselves.
    std::vector<int> all_heads(static_cast<size_t>(o.heads));
    for (int h = 0; h < o.heads; ++h) all_heads[static_cast<size_t>(h)] = h;
    Tensor probs, out2;
    ops::ProbabilityCapture capture{all_heads, {}, &probs};
    ops::attention(q, k, v, o, out2, &capture);
    ASSERT_EQ(probs.shape(), (Shape{q.dim(0), o.heads, q.dim(1), k.dim(1)}));
    expect_close(probs, ref.probs, 1e-5, nullptr, what + " probabilities");
    EXPECT_EQ(max_abs_diff(out, out2), 0.0) << "capture changed the output";
}

void check_attention(const AttentionCase& c, ops::AttentionOptions o, std::mt19937& rng, const std::string& what,
                     const Tensor* key_mask = nullptr, const Tensor* bias = nullptr) {
    const Tensor q = random_tensor({c.batch, c.sq, c.heads * c.d}, rng, -2.0f, 2.0f);
    const Tensor k = random_tensor({c.batch, c.sk, c.heads * c.d}, rng, -2.0f, 2.0f);
    const Tensor v = random_tensor({c.batch, c.sk, c.heads * c.d}, rng);
    o.heads = c.heads;
    o.key_mask = key_mask;
    o.bias = bias;
    check_attention(q, k, v, o, what);
}

std::vector<AttentionCase> attention_cases() {
    // 64, 65, 130: one tile of query rows exactly, one row into the next, two tiles and two rows.
    return {{1, 1, 1, 1, 1}, {2, 7, 7, 3, 5}, {1, 33, 33, 2, 11}, {3, 3, 3, 4, 64}, {1, 64, 64, 2, 4},
            {1, 65, 65, 12, 7}, {2, 130, 130, 2, 3}};
}

TEST(OpsAttention, NoMask) {
    std::mt19937 rng(50);
    for (const auto& c : attention_cases()) {
        ops::AttentionOptions o;
        o.scale = 1.0f / std::sqrt(static_cast<float>(c.d));
        check_attention(c, o, rng, "S " + std::to_string(c.sq) + " heads " + std::to_string(c.heads));
        o.scale = 1.0f;  // T5: no scaling
        check_attention(c, o, rng, "scale 1, S " + std::to_string(c.sq));
    }
}

// A 0/1 padding mask: sequence b keeps its first `keep[b]` tokens.
Tensor padding_mask(int64_t batch, int64_t seq, const std::vector<int64_t>& keep) {
    std::vector<uint8_t> m(static_cast<size_t>(batch * seq), 0);
    for (int64_t b = 0; b < batch; ++b)
        for (int64_t j = 0; j < keep[static_cast<size_t>(b)]; ++j) m[static_cast<size_t>(b * seq + j)] = 1;
    Tensor mask;
    ops::additive_key_mask(m, batch, seq, mask);
    return mask;
}

TEST(OpsAttention, PaddingKeyMask) {
    std::mt19937 rng(51);
    for (const auto& c : attention_cases()) {
        std::vector<int64_t> keep;
        for (int64_t b = 0; b < c.batch; ++b) keep.push_back(std::max<int64_t>(1, c.sk - 3 * b));
        const Tensor mask = padding_mask(c.batch, c.sk, keep);
        ops::AttentionOptions o;
        o.scale = 0.5f;
        check_attention(c, o, rng, "padding S " + std::to_string(c.sq), &mask);
    }
}

TEST(OpsAttention, Causal) {
    std::mt19937 rng(52);
    for (const auto& c : attention_cases()) {
        ops::AttentionOptions o;
        o.scale = 1.0f / std::sqrt(static_cast<float>(c.d));
        o.causal = true;
        check_attention(c, o, rng, "causal S " + std::to_string(c.sq));
    }
}

TEST(OpsAttention, CausalOffsetForCachedDecoding) {
    std::mt19937 rng(53);
    ops::AttentionOptions o;
    o.scale = 0.4f;
    o.causal = true;
    // One new token after 8 cached ones: sees all 9 keys.
    o.causal_offset = 8;
    check_attention({2, 1, 9, 3, 5}, o, rng, "Sq 1, offset Sk-1");
    o.causal_offset = 32;
    check_attention({1, 1, 33, 2, 7}, o, rng, "Sq 1, Sk 33, offset 32");
    // Three new tokens after 4 cached: query i sees keys 0 .. 4+i.
    o.causal_offset = 4;
    check_attention({2, 3, 7, 3, 5}, o, rng, "Sq 3, offset 4");
    // The causal structure is really applied: with offset 4, query 0 ignores keys 5 and 6.
    const Tensor q = random_tensor({1, 3, 4}, rng), k = random_tensor({1, 7, 4}, rng);
    Tensor v = random_tensor({1, 7, 4}, rng), out_a, out_b;
    o.heads = 1;
    ops::attention(q, k, v, o, out_a);
    for (int64_t j = 5; j < 7; ++j)
        for (int64_t i = 0; i < 4; ++i) v.at({0, j, i}) = 1000.0f;
    ops::attention(q, k, v, o, out_b);
    for (int64_t i = 0; i < 4; ++i) EXPECT_EQ(out_a.at({0, 0, i}), out_b.at({0, 0, i}));
    EXPECT_NE(out_a.at({0, 2, 0}), out_b.at({0, 2, 0}));
}

TEST(OpsAttention, CausalAndPaddingMasks) {
    std::mt19937 rng(54);
    for (const auto& c : attention_cases()) {
        std::vector<int64_t> keep;
        for (int64_t b = 0; b < c.batch; ++b) keep.push_back(std::max<int64_t>(1, c.sk - 2 - b));
        const Tensor mask = padding_mask(c.batch, c.sk, keep);
        ops::AttentionOptions o;
        o.scale = 1.0f / std::sqrt(static_cast<float>(c.d));
        o.causal = true;
        check_attention(c, o, rng, "causal+padding S " + std::to_string(c.sq), &mask);
    }
    // With an offset too (decoding with a padded cache).
    const AttentionCase c{2, 3, 9, 3, 5};
    const Tensor mask = padding_mask(2, 9, {9, 5});
    ops::AttentionOptions o;
    o.scale = 0.3f;
    o.causal = true;
    o.causal_offset = 6;
    check_attention(c, o, rng, "causal offset + padding", &mask);
}

TEST(OpsAttention, AdditiveBiasSharedAndPerHead) {
    std::mt19937 rng(55);
    for (const auto& c : attention_cases()) {
        for (int64_t planes : {int64_t{1}, c.heads}) {
            const Tensor bias = random_tensor({planes, c.sq, c.sk}, rng, -3.0f, 3.0f);
            ops::AttentionOptions o;  // T5: scale 1, bias added
            check_attention(c, o, rng, "bias planes " + std::to_string(planes) + " S " + std::to_string(c.sq),
                            nullptr, &bias);
            o.causal = true;
            const Tensor mask = padding_mask(c.batch, c.sk, std::vector<int64_t>(static_cast<size_t>(c.batch), c.sk));
            check_attention(c, o, rng, "bias + causal + mask, planes " + std::to_string(planes), &mask, &bias);
        }
    }
    // The bias may itself be a strided view: rows of a wider tensor.
    const Tensor wide = random_tensor({3, 7, 12}, rng);
    const Tensor bias = wide.narrow(2, 2, 7);
    ops::AttentionOptions o;
    check_attention({2, 7, 7, 3, 5}, o, rng, "strided bias", nullptr, &bias);
}

TEST(OpsAttention, CrossAttention) {
    std::mt19937 rng(56);
    for (const AttentionCase& c : {AttentionCase{2, 5, 11, 3, 5}, AttentionCase{1, 1, 33, 2, 8},
                                   AttentionCase{3, 33, 7, 4, 3}, AttentionCase{1, 65, 1, 1, 16}}) {
        ops::AttentionOptions o;
        o.scale = 1.0f / std::sqrt(static_cast<float>(c.d));
        check_attention(c, o, rng, "cross Sq " + std::to_string(c.sq) + " Sk " + std::to_string(c.sk));
        std::vector<int64_t> keep;
        for (int64_t b = 0; b < c.batch; ++b) keep.push_back(std::max<int64_t>(1, c.sk - 2 * b));
        const Tensor mask = padding_mask(c.batch, c.sk, keep);
        check_attention(c, o, rng, "cross + encoder padding Sq " + std::to_string(c.sq), &mask);
    }
}

TEST(OpsAttention, StridedSlicesOfFusedQkv) {
    std::mt19937 rng(57);
    for (const auto& c : attention_cases()) {
        const int64_t w = c.heads * c.d;
        const Tensor qkv = random_tensor({c.batch, c.sq, 3 * w}, rng, -2.0f, 2.0f);
        const Tensor q = qkv.narrow(2, 0, w), k = qkv.narrow(2, w, w), v = qkv.narrow(2, 2 * w, w);
        ASSERT_EQ(q.stride(1), 3 * w);
        std::vector<int64_t> keep;
        for (int64_t b = 0; b < c.batch; ++b) keep.push_back(std::max<int64_t>(1, c.sq - b));
        const Tensor mask = padding_mask(c.batch, c.sq, keep);
        ops::AttentionOptions o;
        o.heads = c.heads;
        o.scale = 1.0f / std::sqrt(static_cast<float>(c.d));
        o.key_mask = &mask;
        check_attention(q, k, v, o, "fused qkv S " + std::to_string(c.sq));
        // The same as with contiguous copies.
        Tensor strided, contiguous;
        ops::attention(q, k, v, o, strided);
        ops::attention(q.clone(), k.clone(), v.clone(), o, contiguous);
        EXPECT_LE(max_abs_diff(strided, contiguous), 1e-6);
    }
}

TEST(OpsAttention, ProbabilityCaptureSubsetOfHeadsAndRows) {
    std::mt19937 rng(58);
    const AttentionCase c{2, 9, 9, 4, 6};
    const int64_t w = c.heads * c.d;
    const Tensor qkv = random_tensor({c.batch, c.sq, 3 * w}, rng, -2.0f, 2.0f);
    const Tensor q = qkv.narrow(2, 0, w), k = qkv.narrow(2, w, w), v = qkv.narrow(2, 2 * w, w);
    const Tensor mask = padding_mask(c.batch, c.sk, {9, 6});
    for (bool causal : {false, true}) {
        ops::AttentionOptions o;
        o.heads = c.heads;
        o.scale = 1.0f / std::sqrt(static_cast<float>(c.d));
        o.key_mask = &mask;
        o.causal = causal;
        const AttentionReference ref = reference_attention(q, k, v, o);
        Tensor plain;
        ops::attention(q, k, v, o, plain);

        const std::vector<int> heads = {1, 3};
        for (const std::vector<int64_t>& rows : {std::vector<int64_t>{0, 4, 8}, std::vector<int64_t>{7},
                                                 std::vector<int64_t>{}}) {
            Tensor probs({5}), out;  // a stale buffer of another shape is resized
            ops::ProbabilityCapture capture{heads, rows, &probs};
            ops::attention(q, k, v, o, out, &capture);
            const int64_t n_rows = rows.empty() ? c.sq : static_cast<int64_t>(rows.size());
            ASSERT_EQ(probs.shape(), (Shape{c.batch, 2, n_rows, c.sk}));
            std::vector<double> expected;
            for (int64_t b = 0; b < c.batch; ++b)
                for (int h : heads)
                    for (int64_t r = 0; r < n_rows; ++r) {
                        const int64_t i = rows.empty() ? r : rows[static_cast<size_t>(r)];
                        for (int64_t j = 0; j < c.sk; ++j)
                            expected.push_back(ref.probs[static_cast<size_t>(((b * c.heads + h) * c.sq + i) * c.sk + j)]);
                    }
            expect_close(probs, expected, 1e-5, nullptr, causal ? "causal capture" : "capture");
            EXPECT_EQ(max_abs_diff(out, plain), 0.0) << "capture changed the output";
            // Each captured row is a distribution; padded keys (batch 1, keys 6..8) get exactly 0.
            for (int64_t h = 0; h < 2; ++h)
                for (int64_t r = 0; r < n_rows; ++r) {
                    double sum = 0;
                    for (int64_t j = 0; j < c.sk; ++j) sum += probs.at({1, h, r, j});
                    EXPECT_NEAR(sum, 1.0, 1e-5);
                    for (int64_t j = 6; j < c.sk; ++j) EXPECT_EQ(probs.at({1, h, r, j}), 0.0f);
                }
        }
    }
    // A null out captures nothing; bad heads and rows are rejected.
    ops::AttentionOptions o;
    o.heads = c.heads;
    Tensor out;
    const std::vector<int> heads_ok = {0};
    ops::ProbabilityCapture no_out{heads_ok, {}, nullptr};
    EXPECT_NO_THROW(ops::attention(q, k, v, o, out, &no_out));
    Tensor probs;
    const std::vector<int> bad_head = {4};
    ops::ProbabilityCapture c1{bad_head, {}, &probs};
    EXPECT_THROW(ops::attention(q, k, v, o, out, &c1), Error);
    const std::vector<int64_t> bad_row = {9};
    ops::ProbabilityCapture c2{heads_ok, bad_row, &probs};
    EXPECT_THROW(ops::attention(q, k, v, o, out, &c2), Error);
}

TEST(OpsAttention, FullyMaskedRowGivesZerosNotNaN) {
    std::mt19937 rng(59);
    const AttentionCase c{2, 5, 5, 3, 4};
    const int64_t w = c.heads * c.d;
    const Tensor q = random_tensor({2, 5, w}, rng), k = random_tensor({2, 5, w}, rng), v = random_tensor({2, 5, w}, rng);
    // Sequence 1 is all padding.
    const Tensor mask = padding_mask(2, 5, {5, 0});
    ops::AttentionOptions o;
    o.heads = c.heads;
    o.scale = 0.5f;
    o.key_mask = &mask;
    check_attention(q, k, v, o, "all keys of batch 1 masked");
    Tensor out;
    ops::attention(q, k, v, o, out);
    for (int64_t s = 0; s < 5; ++s)
        for (int64_t i = 0; i < w; ++i) EXPECT_EQ(out.at({1, s, i}), 0.0f);
    // A bias that hides every key from query row 2 of head 1.
    Tensor bias = random_tensor({c.heads, 5, 5}, rng);
    for (int64_t j = 0; j < 5; ++j) bias.at({1, 2, j}) = -std::numeric_limits<float>::infinity();
    o.key_mask = nullptr;
    o.bias = &bias;
    check_attention(q, k, v, o, "one row hidden by the bias");
    // Causal with a padded first key: query 0 sees only key 0, which is masked.
    const Tensor first_masked = [] {
        Tensor m;
        ops::additive_key_mask(std::vector<uint8_t>{0, 1, 1, 1, 1, 0, 1, 1, 1, 1}, 2, 5, m);
        return m;
    }();
    o.bias = nullptr;
    o.key_mask = &first_masked;
    o.causal = true;
    check_attention(q, k, v, o, "causal, first key masked");
    ops::attention(q, k, v, o, out);
    for (int64_t i = 0; i < w; ++i) EXPECT_EQ(out.at({0, 0, i}), 0.0f);
}

TEST(OpsAttention, RejectsBadArguments) {
    std::mt19937 rng(60);
    const Tensor q = random_tensor({2, 5, 12}, rng), k = random_tensor({2, 6, 12}, rng), v = random_tensor({2, 6, 12}, rng);
    Tensor out;
    ops::AttentionOptions o;
    o.heads = 5;  // 12 not divisible
    EXPECT_THROW(ops::attention(q, k, v, o, out), Error);
    o.heads = 3;
    EXPECT_NO_THROW(ops::attention(q, k, v, o, out));
    EXPECT_THROW(ops::attention(q, k, random_tensor({2, 5, 12}, rng), o, out), Error);  // k, v lengths
    EXPECT_THROW(ops::attention(q, random_tensor({1, 6, 12}, rng), random_tensor({1, 6, 12}, rng), o, out), Error);
    EXPECT_THROW(ops::attention(q, random_tensor({2, 6, 9}, rng), random_tensor({2, 6, 9}, rng), o, out), Error);
    EXPECT_THROW(ops::attention(random_tensor({10, 12}, rng), k, v, o, out), Error);
    const Tensor bad_mask = random_tensor({2, 5}, rng);  // [B, Sq] instead of [B, Sk]
    o.key_mask = &bad_mask;
    EXPECT_THROW(ops::attention(q, k, v, o, out), Error);
    o.key_mask = nullptr;
    const Tensor bad_bias = random_tensor({2, 5, 6}, rng);  // 2 planes for 3 heads
    o.bias = &bad_bias;
    EXPECT_THROW(ops::attention(q, k, v, o, out), Error);
}

TEST(OpsAttention, ScaledMaskedSoftmax) {
    std::mt19937 rng(61);
    for (const AttentionCase& c : {AttentionCase{1, 1, 1, 1, 0}, AttentionCase{2, 7, 7, 3, 0},
                                   AttentionCase{1, 3, 9, 2, 0}, AttentionCase{2, 33, 65, 4, 0}}) {
        for (int variant = 0; variant < 6; ++variant) {
            const Tensor scores = random_tensor({c.batch, c.heads, c.sq, c.sk}, rng, -8.0f, 8.0f);
            std::vector<int64_t> keep;
            for (int64_t b = 0; b < c.batch; ++b) keep.push_back(std::max<int64_t>(1, c.sk - 3 * b));
            const Tensor mask = padding_mask(c.batch, c.sk, keep);
            const Tensor bias = random_tensor({variant == 4 ? c.heads : 1, c.sq, c.sk}, rng, -2.0f, 2.0f);
            ops::SoftmaxMasking m;
            m.scale = variant == 0 ? 1.0f : 0.125f;
            m.key_mask = variant == 1 || variant >= 3 ? &mask : nullptr;
            m.causal = variant == 2 || variant == 5;
            m.causal_offset = variant == 5 ? c.sk - c.sq : 0;  // cached decoding
            m.bias = variant >= 3 ? &bias : nullptr;
            const auto expected = reference_masked_softmax(scores, m);
            Tensor out = scores.clone();
            ops::scaled_masked_softmax(out, m);
            EXPECT_TRUE(all_finite(out));
            expect_close(out, expected, 1e-6, nullptr,
                         "variant " + std::to_string(variant) + " " + scores.shape().str());
        }
    }
    // A fully masked row becomes zeros; bad shapes are rejected.
    Tensor scores = random_tensor({2, 1, 2, 3}, rng);
    const Tensor mask = padding_mask(2, 3, {3, 0});
    ops::SoftmaxMasking m;
    m.key_mask = &mask;
    ops::scaled_masked_softmax(scores, m);
    for (int64_t i = 0; i < 2; ++i)
        for (int64_t j = 0; j < 3; ++j) EXPECT_EQ(scores.at({1, 0, i, j}), 0.0f);
    Tensor flat({6, 3});
    EXPECT_THROW(ops::scaled_masked_softmax(flat, {}), Error);
    const Tensor wrong_mask = padding_mask(2, 2, {2, 2});
    m.key_mask = &wrong_mask;
    EXPECT_THROW(ops::scaled_masked_softmax(scores, m), Error);
}

TEST(OpsAttention, AdditiveKeyMask) {
    const std::vector<uint8_t> m = {1, 1, 0, 1, 0, 0, 1, 1, 1};
    Tensor out;
    ops::additive_key_mask(m, 3, 3, out);
    ASSERT_EQ(out.shape(), (Shape{3, 3}));
    for (size_t i = 0; i < m.size(); ++i) {
        if (m[i]) {
            EXPECT_EQ(out.data()[i], 0.0f);
        } else {
            EXPECT_EQ(out.data()[i], -std::numeric_limits<float>::infinity());
        }
    }
    ops::additive_key_mask(std::vector<uint8_t>{7}, 1, 1, out);  // any nonzero keeps
    EXPECT_EQ(out.to_vector(), std::vector<float>{0.0f});
    EXPECT_THROW(ops::additive_key_mask(m, 2, 3, out), Error);
    EXPECT_THROW(ops::additive_key_mask(m, 3, 4, out), Error);
}

// Grouped-query (kv_heads < heads) and multi-query (kv_heads = 1) attention,
// with causal masks, padding, a cache offset and Mistral's sliding window.
TEST(OpsAttention, GroupedQueryAndSlidingWindow) {
    std::mt19937 rng(59);
    struct Case {
        int64_t batch, sq, sk, heads, kv_heads, d, offset, window;
    };
    for (const Case& c : {Case{2, 7, 7, 4, 2, 5, 0, 0}, Case{1, 9, 9, 6, 1, 8, 0, 0}, Case{2, 33, 33, 8, 4, 7, 0, 4},
                          Case{2, 1, 12, 4, 2, 16, 11, 4}, Case{1, 3, 10, 4, 4, 3, 7, 2}, Case{1, 5, 5, 2, 1, 4, 0, 1},
                          Case{2, 6, 6, 4, 2, 5, 0, 100}}) {
        const std::string what = "heads " + std::to_string(c.heads) + " kv " + std::to_string(c.kv_heads) +
                                 " Sq " + std::to_string(c.sq) + " offset " + std::to_string(c.offset) +
                                 " window " + std::to_string(c.window);
        const Tensor q = random_tensor({c.batch, c.sq, c.heads * c.d}, rng, -2.0f, 2.0f);
        const Tensor k = random_tensor({c.batch, c.sk, c.kv_heads * c.d}, rng, -2.0f, 2.0f);
        const Tensor v = random_tensor({c.batch, c.sk, c.kv_heads * c.d}, rng);
        std::vector<int64_t> keep;
        for (int64_t b = 0; b < c.batch; ++b) keep.push_back(c.sk - b);
        const Tensor mask = padding_mask(c.batch, c.sk, keep);
        ops::AttentionOptions o;
        o.heads = c.heads;
        o.kv_heads = c.kv_heads;
        o.scale = 1.0f / std::sqrt(static_cast<float>(c.d));
        o.causal = true;
        o.causal_offset = c.offset;
        o.window = c.window;
        o.key_mask = &mask;
        check_attention(q, k, v, o, what);
    }
    // Each group of query heads really shares its kv head: with identical query
    // heads 0 and 1 (group of 2), their outputs agree; heads 1 and 2 read other kv heads.
    Tensor q = random_tensor({1, 4, 4 * 3}, rng), out;
    const Tensor k = random_tensor({1, 4, 2 * 3}, rng), v = random_tensor({1, 4, 2 * 3}, rng);
    for (int64_t s = 0; s < 4; ++s)
        for (int64_t c = 0; c < 3; ++c) {
            q.at({0, s, 3 + c}) = q.at({0, s, c});
            q.at({0, s, 6 + c}) = q.at({0, s, c});
        }
    ops::AttentionOptions o;
    o.heads = 4;
    o.kv_heads = 2;
    ops::attention(q, k, v, o, out);
    for (int64_t s = 0; s < 4; ++s)
        for (int64_t c = 0; c < 3; ++c) {
            EXPECT_EQ(out.at({0, s, c}), out.at({0, s, 3 + c}));
            EXPECT_NE(out.at({0, s, c}), out.at({0, s, 6 + c}));
        }
}

TEST(OpsAttention, GroupedQueryBadArguments) {
    std::mt19937 rng(60);
    const Tensor q = random_tensor({1, 3, 12}, rng), k = random_tensor({1, 3, 6}, rng), v = random_tensor({1, 3, 6}, rng);
    Tensor out;
    ops::AttentionOptions o;
    o.heads = 4;
    o.kv_heads = 3;  // 4 query heads cannot share 3 kv heads
    EXPECT_THROW(ops::attention(q, k, v, o, out), Error);
    o.kv_heads = 2;
    EXPECT_NO_THROW(ops::attention(q, k, v, o, out));
    o.kv_heads = 1;  // k is 2 heads wide, not 1
    EXPECT_THROW(ops::attention(q, k, v, o, out), Error);
    o.kv_heads = 2;
    o.window = -1;
    EXPECT_THROW(ops::attention(q, k, v, o, out), Error);
}

TEST(OpsAttention, TilesOfQueryRowsAcrossTheirBoundaries) {
    std::mt19937 rng(60);
    ops::AttentionOptions o;
    o.scale = 0.3f;
    o.causal = true;
    // A prefill after 30 cached positions whose 70 rows span two tiles; keys past a tile's diagonal are skipped.
    o.causal_offset = 30;
    check_attention({2, 70, 100, 2, 4}, o, rng, "Sq 70, Sk 100, offset 30");
    // Cross-attention: more queries than keys, keys not a multiple of anything.
    o.causal = false;
    o.causal_offset = 0;
    check_attention({1, 129, 37, 3, 4}, o, rng, "Sq 129, Sk 37");
}

TEST(OpsAttention, StreamingCaptureHandsOverEachTileOfRows) {
    std::mt19937 rng(61);
    for (const int64_t sq : {int64_t{1}, int64_t{63}, int64_t{64}, int64_t{65}, int64_t{150}}) {
        for (bool causal : {false, true}) {
            const AttentionCase c{2, sq, sq, 3, 4};
            const Tensor q = random_tensor({c.batch, c.sq, c.heads * c.d}, rng, -2.0f, 2.0f);
            const Tensor k = random_tensor({c.batch, c.sk, c.heads * c.d}, rng, -2.0f, 2.0f);
            const Tensor v = random_tensor({c.batch, c.sk, c.heads * c.d}, rng);
            ops::AttentionOptions o;
            o.heads = c.heads;
            o.scale = 0.5f;
            o.causal = causal;
            const std::vector<int> heads = {0, 2};
            std::vector<int64_t> some;  // rows at and around the tile edges
            for (int64_t r : {int64_t{0}, int64_t{62}, int64_t{63}, int64_t{64}, int64_t{65}, int64_t{127}, int64_t{128}, sq - 1}) {
                if (r < sq && (some.empty() || r > some.back())) some.push_back(r);
            }
            for (const std::vector<int64_t>& rows : {std::vector<int64_t>{}, some}) {
                const std::string what = "Sq " + std::to_string(sq) + (causal ? " causal" : "") + (rows.empty() ? " all rows" : " some rows");
                Tensor whole, out_whole;
                ops::ProbabilityCapture plain{heads, rows, &whole};
                ops::attention(q, k, v, o, out_whole, &plain);
                // Streamed: each block must follow the previous one, hold at most one tile of rows, and equal those rows of the whole.
                Tensor tile, out_streamed;
                size_t next = 0;
                ops::ProbabilityCapture streamed{heads, rows, &tile};
                streamed.on_block = [&](size_t first, size_t count) {
                    EXPECT_EQ(first, next) << what;
                    EXPECT_GE(count, 1u);
                    EXPECT_LE(count, 64u) << what;
                    ASSERT_EQ(tile.shape(), (Shape{c.batch, 2, static_cast<int64_t>(count), c.sk})) << what;
                    for (int64_t b = 0; b < c.batch; ++b)
                        for (int64_t h = 0; h < 2; ++h)
                            for (size_t r = 0; r < count; ++r)
                                for (int64_t j = 0; j < c.sk; ++j) {
                                    ASSERT_EQ(tile.at({b, h, static_cast<int64_t>(r), j}), whole.at({b, h, static_cast<int64_t>(first + r), j}))
                                        << what << " row " << first + r;
                                }
                    next = first + count;
                };
                ops::attention(q, k, v, o, out_streamed, &streamed);
                EXPECT_EQ(next, rows.empty() ? static_cast<size_t>(sq) : rows.size()) << what;
                EXPECT_EQ(max_abs_diff(out_streamed, out_whole), 0.0) << what;
            }
        }
    }
    // Capture rows must ascend (the tiles find theirs by binary search).
    Tensor q = random_tensor({1, 8, 4}, rng), out, probs;
    ops::AttentionOptions o;
    const std::vector<int> heads = {0};
    const std::vector<int64_t> descending = {5, 2};
    ops::ProbabilityCapture bad{heads, descending, &probs};
    EXPECT_THROW(ops::attention(q, q, q, o, out, &bad), Error);
}

}  // namespace
}  // namespace gaze::test
