#pragma once
// The pre-norm encoder-decoder shared by T5 (Raffel et al., 2020) and the
// classic Transformer (Vaswani et al., 2017, in its pre-norm form):
//   encoder layer:  x += SelfAttention(norm(x))                  ; x += FFN(norm(x))
//   decoder layer:  y += CausalSelfAttention(norm(y))             (keys/values cached)
//                   y += CrossAttention(norm(y), encoder output)  (keys/values computed once)
//                   y += FFN(norm(y))
//   each stack ends with a norm; logits = (scale * y) W_head^T (+ b).
// The families differ only in parts, so a family file fills an
// EncoderDecoderParts: the norm (RMS or layer norm), biases, score scaling,
// how positions enter (T5's relative bias, the Transformer's sinusoids) and
// the feed-forward (ReLU or gated GELU).
#include <cstdint>
#include <memory>
#include <optional>
#include <vector>

#include "gaze/layers.hpp"
#include "gaze/seq2seq.hpp"

namespace gaze {

// An absent bias or gate: shape [0], so ops::linear skips it (a default
// Tensor is a rank-0 scalar with numel 1, not an empty one).
inline Tensor absent() { return Tensor(Shape{0}); }
inline bool is_present(const Tensor& t) { return t.raw() != nullptr && t.numel() > 0; }

// Layer norm (with a bias) or RMS norm (T5: no bias, no mean).
struct Norm {
    Tensor weight, bias;  // bias absent: RMS norm
    float eps = 1e-6f;
    void forward(const Tensor& x, Tensor& y) const;
};

// act(x W_in) W_out, or act(x W_in) * (x W_gate) W_out when gated (T5 v1.1).
struct FeedForward {
    Linear in, gate, out;  // gate.weight absent: not gated
    Activation activation = Activation::relu;
};

struct SelfAttentionBlock {
    Norm norm;
    Linear qkv;  // Q, K and V stacked: [3H, H]
    Linear out;
};

struct CrossAttentionBlock {
    Norm norm;
    Linear query;      // [H, H] on the decoder state
    Linear key_value;  // [2H, H] on the encoder output, once per input
    Linear out;
};

struct FeedForwardBlock {
    Norm norm;
    FeedForward ffn;
};

struct EncoderLayer {
    SelfAttentionBlock attention;
    FeedForwardBlock feed_forward;
};

struct DecoderLayer {
    SelfAttentionBlock self_attention;
    CrossAttentionBlock cross_attention;
    FeedForwardBlock feed_forward;
};

// T5's learned relative position bias: one scalar per (distance bucket, head),
// held by block 0 and added to the scores of every layer of its stack.
// (The bucketing is the T5 paper's; it is defined in t5.cpp.)
struct RelativePositionBias {
    Tensor table;  // [buckets, heads]
    bool bidirectional = true;  // encoder: keys on both sides; decoder: only the past
    int64_t max_distance = 128;
    // bias [heads, Sq, Sk] for queries at positions offset .. offset+Sq-1 and keys 0 .. Sk-1.
    void compute(int64_t sq, int64_t sk, int64_t query_offset, Tensor& bias) const;
};

struct SinusoidalPositions {
    ops::SinusoidLayout layout = ops::SinusoidLayout::sin_then_cos;
    ops::SinusoidSpacing spacing = ops::SinusoidSpacing::tensor2tensor;
    int64_t first_position = 0;  // the encoding of the first token (1 for OpenNMT)
};

// x = scale * table[ids] (+ sinusoid of the position).
struct TokenEmbedding {
    Tensor table;  // [V, H]
    float scale = 1.0f;
    std::optional<SinusoidalPositions> positions;
    // ids [B * S] at positions offset .. offset+S-1 -> out [B, S, H].
    void forward(std::span<const int32_t> ids, int64_t batch, int64_t offset, Tensor& out) const;
};

struct EncoderDecoderParts {
    ModelInfo info;  // info.vocab: the target vocabulary (logits width)
    int64_t source_vocab = 0;
    TokenEmbedding source_embedding, target_embedding;
    std::vector<EncoderLayer> encoder;
    Norm encoder_norm;
    std::vector<DecoderLayer> decoder;
    Norm decoder_norm;
    std::optional<RelativePositionBias> encoder_bias, decoder_bias;
    float attention_scale = 1.0f;    // multiplies q.k: 1 for T5, 1/sqrt(d_head) for the Transformer
    Linear lm_head;                  // [V, H] (+ bias)
    float lm_head_input_scale = 1.0f;  // T5 v1.0 rescales by d_model^-0.5 before the tied head
    int32_t decoder_start_id = 0, eos_id = 1, pad_id = 0;
};

std::unique_ptr<Seq2SeqModel> make_encoder_decoder_model(EncoderDecoderParts parts);


}  // namespace gaze
