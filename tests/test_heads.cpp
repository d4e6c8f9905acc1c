// Head detectors on constructed attention (each head built to be one kind)
// and on real models: previous-token, first-token (sink) and induction heads.
#include <gtest/gtest.h>

#include <filesystem>

#include "gaze/analysis.hpp"
#include "test_support.hpp"

namespace gaze::test {
namespace {

// A causal block over prefix + 2 x length tokens with one head of each kind:
// 0 induction, 1 previous token, 2 sink (first token), 3 uniform.
AttentionBlock constructed(int64_t prefix, int64_t length, double strength) {
    AttentionBlock b;
    b.stack = Stack::decoder;
    b.kind = AttentionKind::causal_self;
    const int64_t n = prefix + 2 * length;
    for (int64_t i = 0; i < n; ++i) {
        b.queries.text.push_back(i < prefix ? "<s>" : "t" + std::to_string((i - prefix) % length));
        b.queries.special.push_back(i < prefix ? 1 : 0);
        b.queries.valid.push_back(1);
    }
    b.keys = b.queries;
    Tensor t({4, n, n});
    for (int64_t h = 0; h < 4; ++h) {
        for (int64_t i = 0; i < n; ++i) {
            int64_t target = -1;
            if (h == 0 && i >= prefix + length) target = i - length + 1;
            if (h == 1 && i >= 1) target = i - 1;
            if (h == 2) target = 0;
            for (int64_t j = 0; j <= i; ++j) {
                const double rest = target >= 0 ? (1 - strength) / static_cast<double>(i + 1) : 1.0 / static_cast<double>(i + 1);
                t.at({h, i, j}) = static_cast<float>(rest + (j == target ? strength : 0.0));
            }
        }
    }
    b.layers.push_back(std::move(t));
    return b;
}

TEST(InductionHeads, TheConstructedInductionHeadIsFoundAndTheOthersAreNot) {
    const int64_t prefix = 1, length = 12;
    const AttentionBlock b = constructed(prefix, length, 0.8);
    const auto scores = induction_scores(b, prefix, length);
    ASSERT_EQ(scores.size(), 4u);
    EXPECT_EQ(scores[0].head, 0);
    EXPECT_TRUE(scores[0].induction);
    EXPECT_NEAR(scores[0].score, 0.8 + 0.2 * [&] {
        double s = 0;
        for (int64_t i = prefix + length; i < prefix + 2 * length; ++i) s += 1.0 / static_cast<double>(i + 1);
        return s / static_cast<double>(length);
    }(), 1e-6);
    for (size_t k = 1; k < scores.size(); ++k) {
        EXPECT_FALSE(scores[k].induction) << "head " << scores[k].head << " score " << scores[k].score;
        EXPECT_LT(scores[k].score, 0.1) << "head " << scores[k].head;
    }
    const auto by_head = [&](int h) {
        return *std::find_if(scores.begin(), scores.end(), [&](const InductionScore& s) { return s.head == h; });
    };
    EXPECT_GT(by_head(1).previous, 0.8);
    EXPECT_GT(by_head(2).first, 0.8);
    // Too weak a pattern is not an induction head.
    EXPECT_FALSE(induction_scores(constructed(prefix, length, 0.3), prefix, length)[0].induction);
}

TEST(InductionHeads, ThePreviousTokenAndSinkHeadsGetTheirRoles) {
    const AttentionBlock b = constructed(1, 12, 0.8);
    const auto heads = classify_heads(b);
    auto role = [&](int h) {
        return std::find_if(heads.begin(), heads.end(), [&](const HeadProfile& p) { return p.head == h; })->role;
    };
    EXPECT_EQ(role(1), HeadRole::previous);
    EXPECT_EQ(role(2), HeadRole::first);
    EXPECT_EQ(role(3), HeadRole::broad);
}

TEST(InductionHeads, RepeatedRandomIdsRepeatAndAvoidExcludedIds) {
    const std::vector<int32_t> excluded{5, 6, 7};
    const auto ids = repeated_random_ids(40, 3, 20, 9, {1}, excluded);
    ASSERT_EQ(ids.size(), 81u);
    EXPECT_EQ(ids[0], 1);
    for (size_t i = 1; i <= 40; ++i) {
        EXPECT_EQ(ids[i], ids[i + 40]);
        EXPECT_GE(ids[i], 3);
        EXPECT_LT(ids[i], 20);
        EXPECT_EQ(std::count(excluded.begin(), excluded.end(), ids[i]), 0);
    }
    EXPECT_EQ(ids, repeated_random_ids(40, 3, 20, 9, {1}, excluded));
    EXPECT_NE(ids, repeated_random_ids(40, 3, 20, 10, {1}, excluded));
    EXPECT_THROW(repeated_random_ids(1, 0, 100, 0), Error);
    EXPECT_THROW(repeated_random_ids(10, 0, 3, 0, {}, {0, 1}), Error);
    EXPECT_THROW(induction_score(Tensor({10, 10}), 1, 5), Error);  // needs 11 positions
}

TEST(InductionHeads, TheCommandRanksEveryHeadOfARealModel) {
    GAZE_REQUIRE_FIXTURE(model, "golden/gpt2-tiny");
    if (cli_path().empty()) GTEST_SKIP() << "the gaze CLI is not built";
    std::string out;
    ASSERT_EQ(run_command(cli_path() + " heads --model " + shell_quote(model) + " --induction --induction-length 20", &out), 0) << out;
    EXPECT_NE(out.find("BOS + 2 x 20 random tokens"), std::string::npos) << out;
    // Random weights attend almost uniformly: no head may pass for an induction head.
    EXPECT_NE(out.find("0 induction heads"), std::string::npos) << out;
    std::string bad;
    EXPECT_EQ(run_command(cli_path() + " heads --model " + shell_quote(model) + " --induction --induction-length 1", &bad), 1);
    EXPECT_NE(bad.find("--induction-length 1"), std::string::npos) << bad;
}

}  // namespace
}  // namespace gaze::test
