#pragma once
// The CPU operators. Each op is one plainly named function; its shapes are in
// the comment above it. Tensors are float32; "rows" means all leading dims
// flattened (x [..., H] is read as a matrix [rows, H]). Outputs are resized
// by the op when they own their storage, so callers can keep and reuse them.
// `out` may alias `x` where the comment says "in place allowed".
//
// Every op here has a naive double-precision reference in tests/test_ops.cpp.
#include <cstdint>
#include <functional>
#include <span>
#include <string>
#include <vector>

#include "gaze/softmax_masking.hpp"
#include "gaze/tensor.hpp"

namespace gaze::ops {

// ---- embeddings -------------------------------------------------------------

// table [V, H] (f32, or bf16 / f16 rows widened to f32), ids [N] -> out [N, H] f32.
// Throws naming `what` on an id outside [0, V).
void embedding_lookup(const Tensor& table, std::span<const int32_t> ids, Tensor& out,
                      const char* what = "token id");
// out [H] = table [V, H] row `id` as f32 (id already checked by the caller).
void embedding_row(const Tensor& table, int64_t id, float* out);

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

// ---- rotary position embeddings (RoFormer; Llama, Mistral, Qwen2) ----------

// How inverse frequencies are rescaled for contexts beyond the trained length
// (Hugging Face's rope_scaling; none = the plain RoFormer frequencies).
struct RopeScaling {
    enum class Type { none, linear, dynamic, llama3 };
    Type type = Type::none;
    double factor = 1.0;                 // linear, dynamic, llama3
    double low_freq_factor = 1.0;        // llama3
    double high_freq_factor = 4.0;       // llama3
    int64_t original_max_positions = 0;  // dynamic (max_position_embeddings), llama3
};
// inv_freq [d/2]: 1 / theta^(2i/d), rescaled by `scaling`; seq_len (longest
// position + 1 of the call) matters only for dynamic scaling.
std::vector<float> rotary_inverse_frequencies(int64_t head_dim, double theta, const RopeScaling& scaling,
                                              int64_t seq_len);
// In place on x [B, S, heads*d] (rows may be strided, e.g. the q or k part of a
// fused QKV), positions [B*S]: each head's dims (i, i + d/2) are rotated by the
// angle positions[b,s] * inv_freq[i] (HF's rotate_half layout):
//   x_i' = x_i cos - x_{i+d/2} sin,  x_{i+d/2}' = x_{i+d/2} cos + x_i sin  (cos, sin times attention_scaling).
void rotary_embedding(Tensor& x, int64_t heads, std::span<const int64_t> positions, std::span<const float> inv_freq,
                      float attention_scaling = 1.0f);

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
// x, bias and out are f32; weight is f32, bf16 or int8 (with its row scales,
// [out, in] only). The kernel is chosen per call from the weight's dtype, the
// row count and the CPU (src/ops/linear.cpp's table).
void linear(const Tensor& x, const Tensor& weight, const Tensor& bias, WeightLayout layout, Tensor& out);
// The kernel linear() picks for `dtype` weights and `rows` input rows on this
// CPU (e.g. "onednn-bf16"): for gaze inspect and the benchmarks.
std::string linear_kernel_name(DType dtype, int64_t rows);

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
    std::span<const int64_t> rows;    // query rows to copy, ascending (empty = all rows)
    Tensor* out = nullptr;            // resized to [B, heads.size(), rows or Sq, Sk]
    // Set: the rows arrive a tile of query rows at a time. `out` then holds
    // only that tile's captured rows [B, heads.size(), count, Sk], rows
    // first..first+count-1 of `rows` (or of all rows), and on_block(first,
    // count) is called before the next tile overwrites them.
    std::function<void(size_t first, size_t count)> on_block = nullptr;
};

struct AttentionOptions {
    int64_t heads = 1;               // query heads
    int64_t kv_heads = 0;            // key/value heads (0 = heads); query head h reads kv head h / (heads / kv_heads)
    float scale = 1.0f;              // multiplies q.k (1/sqrt(d) for BERT/GPT-2, 1 for T5)
    bool causal = false;             // query i sees keys j <= i + causal_offset
    int64_t causal_offset = 0;       // = number of cached positions before the first query
    int64_t window = 0;              // > 0: sliding window, query i sees keys j > i + causal_offset - window (Mistral)
    const Tensor* key_mask = nullptr;  // [B, Sk] additive (0 keep, -inf drop), e.g. padding
    const Tensor* bias = nullptr;      // [1 or heads, Sq, Sk] additive (T5 relative position bias)
};

// Scaled dot-product attention, all heads at once.
//   q [B, Sq, heads*d], k [B, Sk, kv_heads*d], v [B, Sk, kv_heads*d] (rows may be strided,
//   e.g. slices of one fused QKV projection) -> out [B, Sq, heads*d] (contiguous).
//   p = softmax(scale * q_h k_g^T + bias_h + key_mask, causal/window-masked); out_h = p v_g,
//   g = h / (heads / kv_heads) (grouped-/multi-query attention; g = h when kv_heads = heads).
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
