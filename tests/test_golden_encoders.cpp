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
    for (const auto& c : cases) {
        AttentionRecorder recorder;
        AttentionObserver* observers[] = {&recorder};
        ForwardOptions options;
        options.output_hidden_states = true;
        options.observers = observers;
        const bool full_logits = SafetensorsFile::open(c.tensors_path).find("logits") != nullptr;
        options.logits_last_only = !full_logits;
        const ForwardResult out = model->forward(c.input, options);

        std::map<std::string, Tensor> actual;
        for (size_t i = 0; i < out.hidden_states.size(); ++i) actual["hidden_states." + std::to_string(i)] = out.hidden_states[i];
        for (const auto& r : recorder.records()) actual[recorder.tensor_name(r)] = r.probabilities;
        actual[full_logits ? "logits" : "logits_last"] = out.logits;
        if (!out.pooler_output.empty()) actual["pooler_output"] = out.pooler_output;
        expect_matches_golden(c, actual, c.input, c.input);
    }
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
