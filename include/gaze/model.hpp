#pragma once
// The model interface every family implements, and load_model(), the one
// place that maps config.json's model_type to a family.
#include <cstdint>
#include <functional>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "gaze/config.hpp"
#include "gaze/observer.hpp"
#include "gaze/tensor.hpp"
#include "gaze/tokens.hpp"
#include "gaze/weights.hpp"

namespace gaze {

struct ModelInfo {
    std::string family;        // "bert", "distilbert", ...
    std::string source;        // weight file, or "random (seed N)"
    int64_t layers = 0;        // encoder (or decoder-only) layers
    int64_t decoder_layers = 0;
    int64_t heads = 0;
    int64_t kv_heads = 0;       // key/value heads (grouped-query attention); 0 = heads
    int64_t hidden = 0;
    int64_t intermediate = 0;
    int64_t vocab = 0;
    int64_t max_positions = 0;  // longest input the position table covers (0 = unbounded)
    bool has_pooler = false;
    bool has_lm_head = false;
    bool is_encoder_decoder = false;
    bool is_causal = false;
    int64_t parameters = 0;
    int32_t bos_id = -1;               // beginning-of-sequence id (-1: none known)
    std::vector<int32_t> eos_ids;      // ids that end generation (config.json / generation_config.json)
    std::string notes;          // how the checkpoint was read, e.g. "bfloat16 weights converted to float32 on load"
};

struct ForwardOptions {
    bool output_hidden_states = false;
    bool compute_logits = true;                       // when the model has an LM head
    bool logits_last_only = false;                    // logits for the last position only
    std::span<AttentionObserver* const> observers;    // may be empty
    const Tokens* target = nullptr;                   // decoder input (encoder-decoder models)
};

struct ForwardResult {
    Tensor last_hidden_state;             // [B, S, H]
    std::vector<Tensor> hidden_states;    // embedding output, then each layer ([B, S, H])
    std::vector<Tensor> decoder_hidden_states;
    Tensor pooler_output;                 // [B, H] where the model has a pooler
    Tensor logits;                        // [B, S, V] (or [B, V] with logits_last_only)
};

// A loaded model. forward() reuses internal buffers, so one Model must not run
// two passes at once; load one per thread instead.
class Model {
public:
    virtual ~Model() = default;
    virtual const ModelInfo& info() const = 0;
    virtual ForwardResult forward(const Tokens& input, const ForwardOptions& options = {}) = 0;
};

// Opens a model folder (config.json + safetensors) as published on the Hub.
// Throws gaze::Error for an unknown model_type, missing or mis-shaped tensors.
std::unique_ptr<Model> load_model(const std::string& dir);
// Builds a model of a family from a config and weights (used by load_model and
// by random initialisation).
std::unique_ptr<Model> make_model(const Config& config, Weights weights);

// The families load_model knows, for messages and `gaze inspect`.
std::vector<std::string> known_model_types();

// Checks that a batch fits the model: ids inside the vocabulary, length
// within max_positions. Throws naming the problem.
void check_input(const ModelInfo& info, const Tokens& input);

int64_t count_parameters(const Weights& weights);

}  // namespace gaze
