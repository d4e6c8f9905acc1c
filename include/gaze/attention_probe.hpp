#pragma once
// AttentionProbe: the queries, keys and values of one attention layer, for
// the explanatory views (scores q.k/sqrt(d), softmax, weighted values).
//
// The normal forward pass never materialises per-head q/k/v for anyone: the
// probe recomputes them on the side from the layer's own weights and the
// layer's input (hidden_states[layer] of a pass run with
// output_hidden_states), so looking costs nothing when nobody looks.
//
//   AttentionProbe probe = AttentionProbe::open(model_dir);
//   ForwardOptions o; o.output_hidden_states = true;
//   auto out = model->forward(tokens, o);
//   LayerQKV qkv = probe.project(out.hidden_states[layer], layer);
//   HeadComputation c = compute_head(qkv, head);
#include <cstdint>
#include <memory>
#include <span>
#include <string>

#include "gaze/config.hpp"
#include "gaze/tensor.hpp"
#include "gaze/weights.hpp"

namespace gaze {

// q, k, v of every head of one layer for one sequence.
struct LayerQKV {
    int layer = 0;
    int64_t heads = 0, head_dim = 0;
    float scale = 1.0f;   // multiplies q.k
    bool causal = false;
    Tensor q, k, v;       // [S, heads * head_dim]; head h is columns h*d .. (h+1)*d
};

// One head, every step of the attention equation.
struct HeadComputation {
    int layer = 0, head = 0;
    float scale = 1.0f;
    bool causal = false;
    Tensor q, k, v;          // [S, d]
    Tensor scores;           // [S, S] scale * q k^T, no mask
    Tensor masked_scores;    // [S, S] scores with masked cells -inf (causal, padding keys)
    Tensor weights;          // [S, S] softmax of masked_scores (masked cells exactly 0)
    Tensor context;          // [S, d] weights v
};

// key_valid [S]: 0 for padding keys (empty = all real).
HeadComputation compute_head(const LayerQKV& qkv, int head, std::span<const uint8_t> key_valid = {});

class AttentionProbe {
public:
    // Families whose projections the probe knows: bert, distilbert, gpt2, and
    // the classic pre-norm Transformer ("transformer": its encoder self-attention).
    static bool supports(const std::string& model_type);
    // Reads config.json and the layers' projection weights of a model folder.
    static AttentionProbe open(const std::string& model_dir);
    static AttentionProbe from_weights(const Config& config, Weights weights);

    const std::string& family() const { return family_; }
    int64_t layers() const { return layers_; }
    int64_t heads() const { return heads_; }
    int64_t hidden() const { return hidden_; }

    // layer_input [S, H] or [1, S, H]: the input of layer `layer`
    // (hidden_states[layer]; the encoder's for encoder-decoder models).
    // Pre-norm families apply their layer norm first.
    LayerQKV project(const Tensor& layer_input, int layer) const;

private:
    std::string family_;
    int64_t layers_ = 0, heads_ = 0, hidden_ = 0;
    float norm_eps_ = 1e-5f;
    Weights weights_;
};

}  // namespace gaze
