#pragma once
// The CPU operators. Each op is one plainly named function; its shapes are in
// the comment above it. Tensors are float32; "rows" means all leading dims
// flattened (x [..., H] is read as a matrix [rows, H]). Outputs are resized
// by the op when they own their storage, so callers can keep and reuse them.
// `out` may alias `x` where the comment says "in place allowed".
//
// Every op here has a naive double-precision reference in tests/test_ops.cpp.
#include <cstdint>
#include <span>

#include "gaze/softmax_masking.hpp"
#include "gaze/tensor.hpp"

namespace gaze::ops {

// ---- embeddings -------------------------------------------------------------

// table [V, H], ids [N] -> out [N, H]. Throws naming `what` on an id outside [0, V).
void embedding_lookup(const Tensor& table, std::span<const int32_t> ids, Tensor& out,
                      const char* what = "token id");

enum class SinusoidLayout {
    interleaved,  // [sin(p w0), cos(p w0), sin(p w1), cos(p w1), ...]  (Vaswani et al.)
    sin_then_cos  // [sin(p w0) .. sin(p w_{D/2-1}), cos(p w0) .. cos(p w_{D/2-1})] (tensor2tensor, fairseq)
};
enum class SinusoidSpacing {
    paper,         // w_i = 1 / base^(2i/D)                       (Vaswani et al., HF DistilBERT)
    tensor2tensor  // w_i = exp(-i ln(base) / (D/2 - 1))          (tensor2tensor, OpenNMT, CTranslate2)
};
// out [N, D]: position encodings for positions first_position .. first_position+N-1,
// value sin(p w_i) / cos(p w_i) placed by `layout`. D must be even.
void sinusoidal_position_encoding(int64_t num_positions, int64_t dim, int64_t first_position,
                                  SinusoidLayout layout, Tensor& out, double base = 10000.0,
                                  SinusoidSpacing spacing = SinusoidSpacing::paper);

// x [B, S, X] -> out [B, X]: each sequence's row at position S-1 (the
// "logits_last" convention of the golden fixtures and of next-token prediction).
void last_position(const Tensor& x, Tensor& out);

// ---- element-wise -----------------------------------------------------------

// out = a + b, same shape (in place allowed: out may be a).
void add(const Tensor& a, const Tensor& b, Tensor& out);

// out [shape of x] = x (any strides), contiguous; rows copied in parallel.
// How observers keep attention: a 512-token BERT layer is 12.6 MB of it.
void copy(const Tensor& x, Tensor& out);
// x [rows, H] += row [H] broadcast over rows.
void add_row_broadcast(Tensor& x, const Tensor& row);
// x *= s.
void scale(Tensor& x, float s);

// GELU, exact: x/2 (1 + erf(x / sqrt 2)). In place.
void gelu_erf(Tensor& x);
// GELU, tanh approximation ("gelu_new"): x/2 (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3))). In place.
void gelu_tanh(Tensor& x);
// max(x, 0). In place.
void relu(Tensor& x);
// x = x * g elementwise (the gate of gated feed-forwards). Same shapes.
void multiply(Tensor& x, const Tensor& g);

// ---- normalisation ----------------------------------------------------------

// x [rows, H] -> out [rows, H] = (x - mean) / sqrt(var + eps) * gamma + beta (in place allowed).
void layer_norm(const Tensor& x, const Tensor& gamma, const Tensor& beta, float eps, Tensor& out);
// x [rows, H] -> out = x / sqrt(mean(x^2) + eps) * weight (T5: no mean, no bias; in place allowed).
void rms_norm(const Tensor& x, const Tensor& weight, float eps, Tensor& out);

// ---- linear -----------------------------------------------------------------

enum class WeightLayout {
    out_in,  // W [out, in]: torch.nn.Linear (BERT, T5)
    in_out   // W [in, out]: GPT-2's Conv1D
};
// x [rows, in] -> out [rows, out] = x W^T + bias (bias [out] or empty). out must not alias x.
void linear(const Tensor& x, const Tensor& weight, const Tensor& bias, WeightLayout layout, Tensor& out);

// ---- softmax and attention -------------------------------------------------

// In place row softmax over the last dim of x [rows, N].
void softmax_rows(Tensor& x);

// In place on scores [B, H, Sq, Sk]:
//   p = softmax(scale * s + bias_h + key_mask_b) over keys j <= i + causal_offset (if causal).
// Masked keys get exactly 0; a row with every key masked becomes all zeros.
void scaled_masked_softmax(Tensor& scores, const SoftmaxMasking& masking);

// Multi-head split: x [B, S, heads*d] -> out [B, heads, S, d] (contiguous copy).
void split_heads(const Tensor& x, int64_t heads, Tensor& out);
// Multi-head merge: x [B, heads, S, d] -> out [B, S, heads*d].
void merge_heads(const Tensor& x, Tensor& out);

// Which probabilities the attention op should copy out while it runs. It only
// copies these (the observer machinery asks for no more than observers want).
struct ProbabilityCapture {
    std::span<const int> heads;       // model head indices to copy, ascending
    std::span<const int64_t> rows;    // query rows to copy (empty = all rows)
    Tensor* out = nullptr;            // resized to [B, heads.size(), rows or Sq, Sk]
};

struct AttentionOptions {
    int64_t heads = 1;
    float scale = 1.0f;              // multiplies q.k (1/sqrt(d) for BERT/GPT-2, 1 for T5)
    bool causal = false;             // query i sees keys j <= i + causal_offset
    int64_t causal_offset = 0;       // = number of cached positions before the first query
    const Tensor* key_mask = nullptr;  // [B, Sk] additive (0 keep, -inf drop), e.g. padding
    const Tensor* bias = nullptr;      // [1 or heads, Sq, Sk] additive (T5 relative position bias)
};

// Scaled dot-product attention, all heads at once.
//   q [B, Sq, heads*d], k [B, Sk, heads*d], v [B, Sk, heads*d] (rows may be strided,
//   e.g. slices of one fused QKV projection) -> out [B, Sq, heads*d] (contiguous).
//   p = softmax(scale * q_h k_h^T + bias_h + key_mask, causal-masked); out_h = p v_h.
// Masked keys get probability exactly 0. A row with every key masked gets zeros.
// Cross-attention is the same call with k, v from the encoder (Sk != Sq).
void attention(const Tensor& q, const Tensor& k, const Tensor& v, const AttentionOptions& options,
               Tensor& out, const ProbabilityCapture* capture = nullptr);

// Additive key mask from a 0/1 attention mask: mask [B, S] of 1 (keep) / 0 (pad)
// -> out [B, S] of 0 / -inf.
void additive_key_mask(std::span<const uint8_t> mask, int64_t batch, int64_t seq, Tensor& out);

// ---- decoder-only blocks ------------------------------------------------------

// gate, up [rows, F] (strided rows allowed, e.g. the halves of one fused
// projection) -> out [rows, F] = silu(gate) * up, silu(g) = g / (1 + e^-g) (SwiGLU).
void swiglu(const Tensor& gate, const Tensor& up, Tensor& out);
// Copies rows [B, n, W] (strided rows allowed) into cache [B, capacity, W] at
// positions [start, start + n). Throws when they do not fit.
void kv_cache_append(const Tensor& rows, int64_t start, Tensor& cache);

}  // namespace gaze::ops
