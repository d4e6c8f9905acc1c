// BERT and DistilBERT against Hugging Face transformers' outputs, through the
// library API: hidden states, attention probabilities (through the recorder
// observer) and MLM logits, for single texts, a pair and a padded batch.
#include <gtest/gtest.h>

#include "gaze/gaze.hpp"
#include "golden.hpp"
#include "test_support.hpp"

namespace gaze::test {
namespace {

void check_model_against_golden(const std::string& model_dir) {
    auto model = load_model(model_dir);
    const auto cases = golden_cases(model_dir);
    ASSERT_FALSE(cases.empty());
    for (const auto& c : cases) expect_matches_golden(c, golden_forward(*model, c), c.input, c.input);
}

TEST(GoldenEncoders, BertTinyMatchesHuggingFace) {
    GAZE_REQUIRE_FIXTURE(dir, "golden/bert-tiny");
    check_model_against_golden(dir);
}

TEST(GoldenEncoders, DistilBertTinyMatchesHuggingFace) {
    GAZE_REQUIRE_FIXTURE(dir, "golden/distilbert-tiny");
    check_model_against_golden(dir);
}

}  // namespace
}  // namespace gaze::test
