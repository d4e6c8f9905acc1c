#pragma once
// GPT-2 (Radford et al., 2019): a decoder-only transformer with learned
// positions and pre-norm blocks, whose language-model head is tied to the
// token embeddings. The model is a gaze::CausalLM: it generates with a KV
// cache (include/gaze/generation.hpp).
//
// A small untrained GPT in a few lines, no checkpoint needed:
//   gaze::GPT2Shape shape{.vocab = 257, .context = 128, .width = 64, .heads = 4, .layers = 2};
//   auto model = gaze::make_model(gaze::gpt2_config(shape), gaze::random_gpt2_weights(shape, /*seed=*/0));
#include <cstdint>
#include <memory>

#include "gaze/model.hpp"

namespace gaze {

// From a Hub folder's config.json and weights: the published layout
// (h.0.attn.c_attn.weight) and GPT2LMHeadModel's (transformer.h.0...) alike.
std::unique_ptr<Model> make_gpt2(const Config& config, Weights weights);

struct GPT2Shape {
    int64_t vocab = 50257;    // vocab_size
    int64_t context = 1024;   // n_positions
    int64_t width = 768;      // n_embd
    int64_t heads = 12;       // n_head
    int64_t layers = 12;      // n_layer
    int64_t inner = 0;        // n_inner: feed-forward width, 0 = 4 * width
};
// The config.json of a GPT-2 of this shape (gelu_new, layer_norm_epsilon 1e-5).
Config gpt2_config(const GPT2Shape& shape);
// Random weights initialised as Hugging Face does: N(0, 0.02) for embeddings
// and projections, N(0, 0.02 / sqrt(2 n_layer)) for the two projections that
// write into the residual stream, zero biases, unit layer norms.
Weights random_gpt2_weights(const GPT2Shape& shape, uint32_t seed);

}  // namespace gaze
