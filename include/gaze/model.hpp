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
    DType dtype = DType::f32;   // the dtype of the linear layers' weights (activations are f32)
    std::string notes;          // how the checkpoint was read, e.g. "BF16 weights converted to f32 on load"
};

enum class Device { cpu, cuda };

struct LoadOptions {
    DType dtype = DType::f32;     // linear weights: f32 (exact), bf16 or int8; activations stay f32
    Device device = Device::cpu;  // cuda: not yet for whole models (see docs/cuda.md)
    bool allow_swap = false;      // load even when the weights exceed the available memory
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
std::unique_ptr<Model> load_model(const std::string& dir, const LoadOptions& options = {});
// Builds a model of a family from a config and weights (used by load_model and
// by random initialisation).
std::unique_ptr<Model> make_model(const Config& config, Weights weights);

// The families load_model knows, for messages and `gaze inspect`.
std::vector<std::string> known_model_types();

// Checks that a batch fits the model: ids inside the vocabulary, length
// within max_positions. Throws naming the problem.
void check_input(const ModelInfo& info, const Tokens& input);

int64_t count_parameters(const Weights& weights);
// Fills info.dtype and info.notes from how `weights` were read (each family's
// constructor calls it): the compute dtype and what happened to stored dtypes.
void describe_weights(const Weights& weights, ModelInfo& info);

}  // namespace gaze
