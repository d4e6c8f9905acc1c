#pragma once
// Llama-style decoders (Touvron et al., 2023): Llama 2/3, TinyLlama, SmolLM,
// Mistral, Qwen2. One implementation (src/models/llama.cpp); each family is a
// short list of differences (LlamaFamily). The models are gaze::CausalLM:
// they generate with a KV cache that holds only the key/value heads.
//
// A small untrained Llama, no checkpoint needed:
//   gaze::LlamaShape shape{.vocab = 512, .hidden = 64, .layers = 2, .heads = 8, .kv_heads = 4};
//   auto model = gaze::make_model(gaze::llama_config(shape), gaze::random_llama_weights(shape, /*seed=*/0));
#include <cstdint>
#include <memory>

#include "gaze/model.hpp"

namespace gaze {

// How a family departs from Llama.
struct LlamaFamily {
    const char* model_type;     // "llama", "mistral", "qwen2"
    bool qkv_bias = false;      // Qwen2: q_proj, k_proj, v_proj carry biases
    bool sliding_window = false;  // Mistral: config.sliding_window W limits attention to the last W keys
};

// From a Hub folder's config.json and weights (model.embed_tokens, model.layers.N...).
std::unique_ptr<Model> make_llama(const Config& config, Weights weights);
std::unique_ptr<Model> make_mistral(const Config& config, Weights weights);
std::unique_ptr<Model> make_qwen2(const Config& config, Weights weights);

struct LlamaShape {
    int64_t vocab = 32000;
    int64_t hidden = 4096;
    int64_t intermediate = 0;  // 0 = 8/3 hidden rounded up to a multiple of 32
    int64_t layers = 32;
    int64_t heads = 32;
    int64_t kv_heads = 0;      // 0 = heads
    int64_t positions = 4096;
    bool tied = false;
};
// The config.json of a Llama of this shape (rope theta 10000, eps 1e-5).
Config llama_config(const LlamaShape& shape);
// Random weights: N(0, 0.02) projections and embeddings, unit norms.
Weights random_llama_weights(const LlamaShape& shape, uint32_t seed);

}  // namespace gaze
