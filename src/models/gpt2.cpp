// GPT-2 (Radford et al., 2019), as Hugging Face's GPT2LMHeadModel computes it:
//   h   = W_te[ids] + W_pe[positions]                        token + learned position
//   h  += Attn(LN_1(h))   (causal, fused c_attn -> q, k, v)   pre-norm blocks
//   h  += MLP(LN_2(h))    (c_fc -> gelu_new -> c_proj)
//   logits = LN_f(h) W_te^T                                   head tied to the embeddings
// The full forward pass and incremental decoding share one path: every block
// writes its keys and values into a KV cache and attends over the cache, so a
// forward pass is simply "extend an empty cache by the whole input".
#include "gaze/models/gpt2.hpp"

#include <algorithm>
#include <cmath>
#include <nlohmann/json.hpp>

#include "gaze/generation.hpp"
#include "gaze/layers.hpp"
#include "gaze/cpu.hpp"

namespace gaze {
namespace {

using ops::WeightLayout;

// One pre-norm block. Conv1D weights are [in, out].
struct Block {
    LayerNorm ln_1;
    Linear c_attn;     // [H, 3H]: q | k | v
    Linear attn_proj;  // attn.c_proj [H, H]
    LayerNorm ln_2;
    Linear c_fc;       // [H, F]
    Linear mlp_proj;   // mlp.c_proj [F, H]
};

class GPT2 final : public CausalLM {
public:
    GPT2(const Config& config, Weights w);
    const ModelInfo& info() const override { return info_; }
    ForwardResult forward(const Tokens& input, const ForwardOptions& options) override;
    KVCache make_cache(int64_t batch, int64_t max_length) const override;
    void extend(const Tokens& context, KVCache& cache, const StepOptions& options, Tensor& logits) override;

private:
    void run(const Tokens& context, KVCache& cache, ObserverHub& hub, int step, std::vector<Tensor>* hidden);
    void embed(const Tokens& context, int64_t start);
    void attend(size_t layer, const Tokens& context, KVCache& cache, ObserverHub& hub, int step);
    void feed_forward(size_t layer);
    ForwardInfo forward_info(const Tokens& context, int step) const {
        return {info_.family, 0, static_cast<int>(info_.layers), static_cast<int>(info_.heads), &context, nullptr, step};
    }

    ModelInfo info_;
    Tensor wte_, wpe_;  // [V, H], [P, H]
    std::vector<Block> blocks_;
    LayerNorm ln_f_;
    Linear lm_head_;  // weight = wte^T [H, V] (tied; a transposed copy), no bias
    Activation activation_ = Activation::gelu_tanh;
    std::vector<float> scale_;  // per layer: 1/sqrt(d) (and 1/(layer+1) where configured)

    // Reused between calls: activations, the key mask, a cache for full passes.
    Tensor x_, h_, qkv_, context_, projected_, ffn_, key_mask_, last_;
    bool masked_ = false;  // the context has padding: key_mask_ is in use
    KVCache pass_cache_;
};

GPT2::GPT2(const Config& c, Weights w) {
    w.set_prefixes({"transformer.", ""});
    const int64_t hidden = c.get_size({"n_embd", "hidden_size"}), heads = c.get_size({"n_head", "num_attention_heads"});
    const int64_t layers = c.get_size({"n_layer", "num_hidden_layers"}), vocab = c.get_size({"vocab_size"});
    const int64_t positions = c.get_size({"n_positions", "n_ctx", "max_position_embeddings"});
    const int64_t inner = c.get_size("n_inner", 4 * hidden);
    const auto eps = static_cast<float>(c.get_float("layer_norm_epsilon", 1e-5));
    if (hidden % heads != 0) {
        throw Error(c.path() + ": n_embd " + std::to_string(hidden) + " is not a multiple of n_head " + std::to_string(heads));
    }
    if (c.get_bool("add_cross_attention", false)) throw Error(c.path() + ": GPT-2 with cross-attention is not supported");
    activation_ = parse_activation(c.get_string("activation_function", "gelu_new"), c.path());

    wte_ = w.get_table("wte.weight", {vocab, hidden});
    wpe_ = w.get("wpe.weight", {positions, hidden});
    int64_t parameters = wte_.numel() + wpe_.numel();
    for (int64_t l = 0; l < layers; ++l) {
        const std::string p = "h." + std::to_string(l) + ".";
        Block b{LayerNorm::load(w, p + "ln_1", hidden, eps),
                Linear::load(w, p + "attn.c_attn", hidden, 3 * hidden, WeightLayout::in_out),
                Linear::load(w, p + "attn.c_proj", hidden, hidden, WeightLayout::in_out),
                LayerNorm::load(w, p + "ln_2", hidden, eps),
                Linear::load(w, p + "mlp.c_fc", hidden, inner, WeightLayout::in_out),
                Linear::load(w, p + "mlp.c_proj", inner, hidden, WeightLayout::in_out)};
        for (const Tensor* t : {&b.ln_1.gamma, &b.ln_1.beta, &b.c_attn.weight, &b.c_attn.bias, &b.attn_proj.weight,
                                &b.attn_proj.bias, &b.ln_2.gamma, &b.ln_2.beta, &b.c_fc.weight, &b.c_fc.bias,
                                &b.mlp_proj.weight, &b.mlp_proj.bias})
            parameters += t->numel();
        blocks_.push_back(std::move(b));
        // Scores are scaled by 1/sqrt(d); some configs also divide by layer + 1.
        float scale = c.get_bool("scale_attn_weights", true) ? 1.0f / std::sqrt(static_cast<float>(hidden / heads)) : 1.0f;
        if (c.get_bool("scale_attn_by_inverse_layer_idx", false)) scale /= static_cast<float>(l + 1);
        scale_.push_back(scale);
    }
    ln_f_ = LayerNorm::load(w, "ln_f", hidden, eps);
    parameters += 2 * hidden;
    // The head is tied to the token embeddings unless the config unties it.
    const bool untied = !c.get_bool("tie_word_embeddings", true) && w.contains("lm_head.weight");
    // The head is stored transposed, [H, V]: decoding is a matrix-vector product
    // per token, and OpenBLAS streams an [in, out] matrix ~25% faster than an
    // [out, in] one (measured: 27-31 vs 21-24 GB/s on these machines). For the
    // tied head that costs a second copy of wte (V x H floats: 154 MB for GPT-2
    // small) and saves ~2 ms of every generated token.
    // Lower precisions multiply [out, in] rows as they are (the tied bf16
    // table itself: no copy at all).
    if (w.matrix_dtype() == DType::f32) {
        const Tensor head = untied ? w.get("lm_head.weight", {vocab, hidden}) : wte_;
        lm_head_.weight = Tensor({hidden, vocab});
        lm_head_.weight.matrix() = head.matrix().transpose();
        lm_head_.layout = ops::WeightLayout::in_out;
    } else {
        lm_head_.weight = untied ? w.get_matrix("lm_head.weight", {vocab, hidden}) : wte_;
    }
    if (untied) parameters += vocab * hidden;

    info_.family = "gpt2";
    info_.source = w.source();
    describe_weights(w, info_);
    info_.layers = layers;
    info_.heads = heads;
    info_.hidden = hidden;
    info_.intermediate = inner;
    info_.vocab = vocab;
    info_.max_positions = positions;
    info_.has_lm_head = true;
    info_.is_causal = true;
    info_.parameters = parameters;  // the tensors used (not the attention-mask buffers some files carry)
}

// x_ [B, n, H] = W_te[ids] + W_pe[positions] for context positions [start, start + n).
// A position counts the real tokens before it, so left padding does not shift
// positions (right padding and no padding give positions 0, 1, 2, ...).
void GPT2::embed(const Tokens& context, int64_t start) {
    const int64_t batch = context.batch, n = context.length - start, hidden = info_.hidden;
    x_.resize({batch, n, hidden});
    auto x = x_.matrix();
    const auto wpe = wpe_.matrix();
    for (int64_t b = 0; b < batch; ++b) {
        int64_t position = 0;
        for (int64_t i = 0; i < start; ++i) position += context.valid(b, i) ? 1 : 0;
        for (int64_t i = start; i < context.length; ++i) {
            const int32_t id = context.id(b, i);
            if (id < 0 || id >= info_.vocab) {
                throw Error("token id " + std::to_string(id) + " is outside the vocabulary of " + std::to_string(info_.vocab));
            }
            const int64_t row = b * n + (i - start);
            ops::embedding_row(wte_, id, x_.data() + row * hidden);
            x.row(row) += wpe.row(std::min(position, wpe.rows() - 1));
            position += context.valid(b, i) ? 1 : 0;
        }
    }
}

// x_ += Attn(LN_1(x_)) W_o. The new keys and values go into the cache at
// [start, start + n); queries attend causally over the whole cache.
void GPT2::attend(size_t layer, const Tokens& context, KVCache& cache, ObserverHub& hub, int step) {
    const Block& blk = blocks_[layer];
    const int64_t hidden = info_.hidden, start = cache.length, n = context.length - start;
    blk.ln_1.forward(x_, h_);
    blk.c_attn.forward(h_, qkv_);  // [B, n, 3H]
    Tensor& keys = cache.keys[layer];
    Tensor& values = cache.values[layer];
    for (int64_t b = 0; b < context.batch; ++b)
        for (int64_t i = 0; i < n; ++i) {
            const float* row = qkv_.ptr({b, i, 0});
            std::copy_n(row + hidden, hidden, keys.ptr({b, start + i, 0}));
            std::copy_n(row + 2 * hidden, hidden, values.ptr({b, start + i, 0}));
        }
    ops::AttentionOptions options;
    options.heads = info_.heads;
    options.scale = scale_[layer];
    options.causal = true;
    options.causal_offset = start;  // query row i is position start + i
    options.key_mask = masked_ ? &key_mask_ : nullptr;  // padding keys get probability 0
    const AttentionSite site{Stack::decoder, AttentionKind::causal_self, static_cast<int>(layer),
                             static_cast<int>(info_.heads)};
    hub.attention(site, qkv_.narrow(2, 0, hidden), keys.narrow(1, 0, context.length),
                  values.narrow(1, 0, context.length), options, context_, context, context, start, step);
    blk.attn_proj.forward(context_, projected_);
    ops::add(x_, projected_, x_);
}

// x_ += act(LN_2(x_) W_fc) W_proj
void GPT2::feed_forward(size_t layer) {
    const Block& blk = blocks_[layer];
    blk.ln_2.forward(x_, h_);
    blk.c_fc.forward(h_, ffn_);
    apply_activation(activation_, ffn_);
    blk.mlp_proj.forward(ffn_, projected_);
    ops::add(x_, projected_, x_);
}

// Runs context positions [cache.length, context.length) through every block,
// leaving the last block's output (before ln_f) in x_ and the cache extended.
void GPT2::run(const Tokens& context, KVCache& cache, ObserverHub& hub, int step, std::vector<Tensor>* hidden) {
    if (context.length <= cache.length) throw Error("gpt2: no new positions to run (context already in the cache)");
    if (context.length > cache.capacity() || context.batch != cache.batch()) {
        throw Error("gpt2: context [" + std::to_string(context.batch) + " x " + std::to_string(context.length) +
                    "] does not fit the KV cache [" + std::to_string(cache.batch()) + " x " +
                    std::to_string(cache.capacity()) + "]");
    }
    masked_ = std::find(context.mask.begin(), context.mask.end(), 0) != context.mask.end();
    if (masked_) ops::additive_key_mask(context.mask, context.batch, context.length, key_mask_);

    embed(context, cache.length);
    if (hidden) hidden->push_back(x_.clone());
    for (size_t l = 0; l < blocks_.size(); ++l) {
        attend(l, context, cache, hub, step);
        feed_forward(l);
        if (hidden) hidden->push_back(x_.clone());
    }
    cache.length = context.length;
}

ForwardResult GPT2::forward(const Tokens& input, const ForwardOptions& options) {
    check_input(info_, input);
    ForwardResult result;
    begin_pass_threads();  // every pass starts here: thread count for this thread and load
    ObserverHub hub(options.observers);
    hub.begin(forward_info(input, -1));
    pass_cache_.reserve(info_.layers, input.batch, input.length, info_.hidden);
    std::vector<Tensor>* hidden = options.output_hidden_states ? &result.hidden_states : nullptr;
    run(input, pass_cache_, hub, -1, hidden);
    hub.end();

    ln_f_.forward(x_, result.last_hidden_state);
    // HF's convention: the last hidden state is reported after ln_f.
    if (hidden) hidden->back() = result.last_hidden_state.clone();
    if (options.compute_logits) {
        if (options.logits_last_only) {
            ops::last_position(result.last_hidden_state, last_);
            lm_head_.forward(last_, result.logits);  // [B, V]
        } else {
            lm_head_.forward(result.last_hidden_state, result.logits);  // [B, S, V]
        }
    }
    return result;
}

KVCache GPT2::make_cache(int64_t batch, int64_t max_length) const {
    if (max_length > info_.max_positions) {
        throw Error("gpt2: a cache of " + std::to_string(max_length) + " positions exceeds the model's context of " +
                    std::to_string(info_.max_positions));
    }
    KVCache cache;
    cache.reserve(info_.layers, batch, max_length, info_.hidden);
    return cache;
}

void GPT2::extend(const Tokens& context, KVCache& cache, const StepOptions& options, Tensor& logits) {
    begin_pass_threads();  // every pass starts here: thread count for this thread and load
    ObserverHub hub(options.observers);
    hub.begin(forward_info(context, options.step));
    run(context, cache, hub, options.step, nullptr);
    hub.end();
    ops::last_position(x_, last_);  // only the last position predicts the next token
    ln_f_.forward(last_, last_);
    lm_head_.forward(last_, logits);  // [B, V]
}

}  // namespace

std::unique_ptr<Model> make_gpt2(const Config& config, Weights weights) {
    return std::make_unique<GPT2>(config, std::move(weights));
}

Config gpt2_config(const GPT2Shape& s) {
    const nlohmann::json j = {{"model_type", "gpt2"},          {"vocab_size", s.vocab},
                              {"n_positions", s.context},      {"n_embd", s.width},
                              {"n_head", s.heads},             {"n_layer", s.layers},
                              {"n_inner", s.inner > 0 ? nlohmann::json(s.inner) : nlohmann::json(nullptr)},
                              {"activation_function", "gelu_new"}, {"layer_norm_epsilon", 1e-5},
                              {"eos_token_id", s.vocab - 1},   {"bos_token_id", s.vocab - 1}};
    return Config::parse(j.dump(), "<random gpt2 config>");
}

Weights random_gpt2_weights(const GPT2Shape& s, uint32_t seed) {
    if (s.vocab <= 0 || s.context <= 0 || s.width <= 0 || s.heads <= 0 || s.layers <= 0 || s.width % s.heads != 0) {
        throw Error("GPT-2 shape: vocab, context, width, heads and layers must be positive and width a multiple of heads");
    }
    std::mt19937 rng(seed);
    Weights w;
    const int64_t h = s.width, f = s.inner > 0 ? s.inner : 4 * s.width;
    const float std = 0.02f, residual_std = std / std::sqrt(2.0f * static_cast<float>(s.layers));
    auto add_conv1d = [&](const std::string& name, int64_t in, int64_t out, float stddev) {
        w.add_random(name + ".weight", {in, out}, rng, stddev);
        w.add_random(name + ".bias", {out}, rng, 0.0f, 0.0f);
    };
    auto add_norm = [&](const std::string& name) {
        w.add_random(name + ".weight", {h}, rng, 0.0f, 1.0f);
        w.add_random(name + ".bias", {h}, rng, 0.0f, 0.0f);
    };
    w.add_random("wte.weight", {s.vocab, h}, rng, std);
    w.add_random("wpe.weight", {s.context, h}, rng, std);
    for (int64_t l = 0; l < s.layers; ++l) {
        const std::string p = "h." + std::to_string(l) + ".";
        add_norm(p + "ln_1");
        add_conv1d(p + "attn.c_attn", h, 3 * h, std);
        add_conv1d(p + "attn.c_proj", h, h, residual_std);
        add_norm(p + "ln_2");
        add_conv1d(p + "mlp.c_fc", h, f, std);
        add_conv1d(p + "mlp.c_proj", f, h, residual_std);
    }
    add_norm("ln_f");
    w.set_source("random (seed " + std::to_string(seed) + ")");
    return w;
}

}  // namespace gaze
