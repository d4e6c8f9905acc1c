#pragma once
// Golden-case support: reads ../shared/golden/<model>/cases/<case>.{json,safetensors}
// and compares what gaze computed with what Hugging Face computed, on the
// positions the reference defines (padding rows/columns are skipped).
#include <map>
#include <string>
#include <vector>

#include "gaze/model.hpp"
#include "gaze/safetensors.hpp"
#include "gaze/tokens.hpp"

namespace gaze::test {

struct GoldenCase {
    std::string name;      // "text0", "batch_padded", ...
    std::string json_path;
    std::string tensors_path;
    Tokens input;          // input_ids / attention_mask / token_type_ids / tokens
    Tokens target;         // decoder_input_ids / decoder_attention_mask / decoder_tokens (T5 cases)
};

// All cases of a golden model folder, sorted by name.
std::vector<GoldenCase> golden_cases(const std::string& model_dir);

// Tolerances from the reference's README: 1e-5 on probabilities, 1e-4 on the rest.
double golden_tolerance(const std::string& tensor_name);

// Max abs difference of `actual` against `expected` over the defined
// positions: a rank-3 [B, S, X] tensor compares rows with query.valid(b, s);
// rank-4 [B, H, Sq, Sk] compares cells with query.valid(b, i) && key.valid(b, j);
// rank-2 [B, V] (logits_last) compares batches whose last position is valid.
double masked_max_diff(const Tensor& expected, const Tensor& actual, const Tokens& query, const Tokens& key);

// Compares every tensor of the golden file that `actual` provides (and fails
// the current test for any golden tensor it lacks); prints each difference.
void expect_matches_golden(const GoldenCase& c, const std::map<std::string, Tensor>& actual, const Tokens& query,
                           const Tokens& key);

// One recorded forward pass of a single-stack model (encoder or GPT-2) over the
// case's input, under the golden file's names: hidden_states.i, attentions.l,
// logits (or logits_last when the file has only those), pooler_output.
// `result`, when given, receives the ForwardResult.
std::map<std::string, Tensor> golden_forward(Model& model, const GoldenCase& c, ForwardResult* result = nullptr);

// ---- causal LMs: the prompt pass and the greedy continuation of a case --------------

// A path in the temp folder, unique to this process.
std::string golden_temp_path(const std::string& name);
// expect_matches_golden compares every tensor of a case file with one pair of
// query/key tokens, and reads float tensors only. So a generation case is
// split into the prompt pass (query = key = prompt) and the last generation
// step (keys = the whole generated context); generated_ids (int64) apart.
void compare_prompt_pass(const GoldenCase& c, const std::map<std::string, Tensor>& actual);
// generated_ids against the case's; generate_last_step_* over the generated context.
void compare_generation(const GoldenCase& c, const std::vector<int64_t>& generated,
                        const std::map<std::string, Tensor>& actual);
// The case's generated_ids (empty when it has none).
std::vector<int64_t> golden_generated_ids(const GoldenCase& c);
// Every tensor of a safetensors file (a `gaze ... --dump`), copied.
std::map<std::string, Tensor> read_dump(const std::string& path);

}  // namespace gaze::test
