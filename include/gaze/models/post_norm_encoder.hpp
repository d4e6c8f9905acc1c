#pragma once
// The post-norm encoder block of BERT and DistilBERT (Vaswani et al., 2017):
//   x = LN(x + Attention(x) W_o)
//   x = LN(x + act(x W_1) W_2)
// The two families differ only in tensor names, so the names are a parameter.
#include <string>
#include <vector>

#include "gaze/layers.hpp"
#include "gaze/observer.hpp"

namespace gaze {

struct EncoderLayerNames {
    std::string layer_prefix;  // with "{}" for the layer index, e.g. "encoder.layer.{}."
    std::string query, key, value, attention_out, attention_norm, ffn_in, ffn_out, ffn_norm;
};

struct EncoderShape {
    int64_t layers = 0, hidden = 0, heads = 0, intermediate = 0;
    float norm_eps = 1e-12f;
    Activation activation = Activation::gelu_erf;
};

class PostNormEncoder {
public:
    void load(const Weights& w, const EncoderLayerNames& names, const EncoderShape& shape);

    // x [B, S, H] is updated in place. key_mask [B, S] additive (0 / -inf).
    // Appends each layer's output to hidden_states when it is non-null.
    void forward(Tensor& x, const Tensor& key_mask, const Tokens& tokens, ObserverHub& hub,
                 std::vector<Tensor>* hidden_states);

private:
    struct Layer {
        Linear qkv;  // Q, K and V stacked: one GEMM
        Linear attention_out;
        LayerNorm attention_norm;
        Linear ffn_in, ffn_out;
        LayerNorm ffn_norm;
    };
    EncoderShape shape_;
    std::vector<Layer> layers_;
    Tensor qkv_, context_, projected_, ffn_hidden_;  // reused across calls
};

// Replaces "{}" in a name pattern with the layer index.
std::string layer_name(const std::string& pattern, int64_t layer);

}  // namespace gaze

namespace gaze {

// out [B, S, H] = word[ids] + position[0..S) (+ token_type[type_ids] when given).
void sum_embeddings(const Tensor& word, const Tensor& position, const Tensor* token_type, const Tokens& tokens,
                    Tensor& out);

// The masked-language-model head of BERT and DistilBERT:
//   logits = LN(act(x W_t + b_t)) E^T + b, with E the (tied) word embeddings.
struct MaskedLMHead {
    Linear transform;
    LayerNorm norm;
    Linear decoder;  // [V, H] weight (tied to the word embeddings unless stored) + bias [V]
    Activation activation = Activation::gelu_erf;

    // x [rows, H] -> logits [rows, V]; `scratch` is reused between calls.
    void forward(const Tensor& x, Tensor& scratch, Tensor& logits) const;
};

}  // namespace gaze
