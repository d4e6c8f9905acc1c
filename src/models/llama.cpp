// Llama (Touvron et al., 2023), as Hugging Face's LlamaForCausalLM computes it:
//   h   = E[ids]                                             no position table
//   h  += Attn(RMSNorm_1(h))   q, k rotated by position (RoPE), grouped-query heads
//   h  += W_down(silu(W_gate x) * W_up x),  x = RMSNorm_2(h)  (SwiGLU)
//   logits = RMSNorm_f(h) W_head^T                            head tied to E or its own
// Mistral and Qwen2 are the same network with a difference or two (LlamaFamily):
// Mistral's sliding window, Qwen2's q/k/v biases. As in GPT-2 (gpt2.cpp), a
// forward pass is "extend an empty KV cache by the whole input"; the cache
// holds only the key/value heads.
#include "gaze/models/llama.hpp"

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "gaze/generation.hpp"
#include "gaze/layers.hpp"
#include "gaze/cpu.hpp"

namespace gaze {
namespace {

using nlohmann::json;

struct Block {
    RMSNorm input_layernorm;
    Linear qkv;      // [q | k | v]: q_proj [heads*d, H], k_proj and v_proj [kv_heads*d, H], one GEMM
    Linear o_proj;   // [H, heads*d]
    RMSNorm post_attention_layernorm;
    Linear gate_up;  // [gate | up]: gate_proj and up_proj [F, H], one GEMM
    Linear down;     // down_proj [H, F]
};

// A number field of config.json's rope_scaling, required.
double scaling_field(const json& scaling, const char* key, const std::string& path) {
    const auto it = scaling.find(key);
    if (it == scaling.end() || !it->is_number()) {
        throw Error(path + ": rope_scaling needs a number \"" + key + "\" (got " + scaling.dump() + ")");
    }
    return it->get<double>();
}

// rope_scaling: null, or {"rope_type" (or "type"): "linear" | "dynamic" | "llama3" | "default", ...}.
ops::RopeScaling parse_rope_scaling(const json& config, int64_t max_positions, const std::string& path) {
    ops::RopeScaling s;
    if (config.contains("partial_rotary_factor") && config["partial_rotary_factor"] != 1.0) {
        throw Error(path + ": partial_rotary_factor " + config["partial_rotary_factor"].dump() +
                    " is not supported (rotary embeddings over the whole head only)");
    }
    const auto it = config.find("rope_scaling");
    if (it == config.end() || it->is_null()) return s;
    if (!it->is_object()) throw Error(path + ": rope_scaling must be an object or null");
    const json& r = *it;
    const json type = r.contains("rope_type") ? r["rope_type"] : r.contains("type") ? r["type"] : json();
    if (!type.is_string()) throw Error(path + ": rope_scaling has no rope_type (got " + r.dump() + ")");
    const std::string name = type.get<std::string>();
    if (name == "default") return s;
    if (name == "linear") {
        s.type = ops::RopeScaling::Type::linear;
    } else if (name == "dynamic") {
        s.type = ops::RopeScaling::Type::dynamic;
        s.original_max_positions = max_positions;
    } else if (name == "llama3") {
        s.type = ops::RopeScaling::Type::llama3;
        s.low_freq_factor = scaling_field(r, "low_freq_factor", path);
        s.high_freq_factor = scaling_field(r, "high_freq_factor", path);
        const double original = scaling_field(r, "original_max_position_embeddings", path);
        if (!(original >= 1 && original < 2147483648.0) || !(s.high_freq_factor > s.low_freq_factor) || !(s.low_freq_factor > 0)) {
            throw Error(path + ": rope_scaling llama3 needs original_max_position_embeddings >= 1 and "
                               "high_freq_factor > low_freq_factor > 0 (got " + r.dump() + ")");
        }
        s.original_max_positions = static_cast<int64_t>(original);
    } else {
        throw Error(path + ": unsupported rope type '" + name + "' (supported: default, linear, dynamic, llama3)");
    }
    s.factor = scaling_field(r, "factor", path);
    if (!(s.factor >= 1.0)) throw Error(path + ": rope_scaling factor must be >= 1, got " + r["factor"].dump());
    return s;
}

// An id or a list of ids (eos_token_id may be either); absent or null: none.
std::vector<int32_t> token_ids(const json& j, const char* key) {
    const auto it = j.find(key);
    std::vector<int32_t> ids;
    if (it == j.end() || it->is_null()) return ids;
    for (const json& v : it->is_array() ? *it : json::array({*it})) {
        if (v.is_number_integer()) ids.push_back(v.get<int32_t>());
    }
    return ids;
}

class Llama final : public CausalLM {
public:
    Llama(const LlamaFamily& family, const Config& config, Weights w);
    const ModelInfo& info() const override { return info_; }
    ForwardResult forward(const Tokens& input, const ForwardOptions& options) override;
    KVCache make_cache(int64_t batch, int64_t max_length) const override;
    void extend(const Tokens& context, KVCache& cache, const StepOptions& options, Tensor& logits) override;

private:
    void run(const Tokens& context, KVCache& cache, ObserverHub& hub, int step, std::vector<Tensor>* hidden);
    void embed(const Tokens& context, int64_t start);
    void attend(size_t layer, const Tokens& context, KVCache& cache, ObserverHub& hub, int step);
    void feed_forward(size_t layer);

    ModelInfo info_;
    int64_t head_dim_ = 0;
    int64_t window_ = 0;  // Mistral's sliding window (0: none)
    double rope_theta_ = 10000.0;
    ops::RopeScaling rope_scaling_;
    std::vector<float> inv_freq_;  // [d/2] (recomputed per call for dynamic scaling)
    Tensor embed_tokens_;           // [V, H]
    std::vector<Block> blocks_;
    RMSNorm norm_;
    Linear lm_head_;                // [V, H]: its own weight or embed_tokens

    // Reused between calls.
    Tensor x_, h_, qkv_, context_, projected_, gate_up_, ffn_, key_mask_, last_;
    std::vector<int64_t> positions_;  // [B * n] rotary position of each new row
    bool masked_ = false;
    KVCache pass_cache_;
};

Llama::Llama(const LlamaFamily& family, const Config& c, Weights w) {
    const json config = json::parse(c.dump());
    const int64_t hidden = c.get_size({"hidden_size"}), layers = c.get_size({"num_hidden_layers"});
    const int64_t heads = c.get_size({"num_attention_heads"}), kv_heads = c.get_size("num_key_value_heads", heads);
    const int64_t inner = c.get_size({"intermediate_size"}), vocab = c.get_size({"vocab_size"});
    const int64_t positions = c.get_size({"max_position_embeddings"});
    const auto eps = static_cast<float>(c.get_float("rms_norm_eps", 1e-6));
    if (!c.has("head_dim") && hidden % heads != 0) {
        throw Error(c.path() + ": hidden_size " + std::to_string(hidden) + " is not a multiple of num_attention_heads " +
                    std::to_string(heads));
    }
    head_dim_ = c.get_size("head_dim", hidden / heads);
    if (heads % kv_heads != 0) {
        throw Error(c.path() + ": num_attention_heads " + std::to_string(heads) +
                    " is not a multiple of num_key_value_heads " + std::to_string(kv_heads));
    }
    if (head_dim_ % 2 != 0) throw Error(c.path() + ": head_dim " + std::to_string(head_dim_) + " must be even for rotary embeddings");
    if (const std::string act = c.get_string("hidden_act", "silu"); act != "silu") {
        throw Error(c.path() + ": hidden_act '" + act + "' is not supported (Llama-style MLPs use silu)");
    }
    rope_theta_ = c.get_float("rope_theta", 10000.0);
    rope_scaling_ = parse_rope_scaling(config, positions, c.path());
    if (family.sliding_window && config.contains("sliding_window") && !config["sliding_window"].is_null()) {
        window_ = c.get_size("sliding_window", 0);
    }
    if (std::string(family.model_type) == "qwen2" && c.get_bool("use_sliding_window", false)) {
        throw Error(c.path() + ": Qwen2 with use_sliding_window true is not supported");
    }
    const bool attention_bias = family.qkv_bias || c.get_bool("attention_bias", false);
    const bool mlp_bias = c.get_bool("mlp_bias", false);

    w.set_prefixes({"model.", ""});
    embed_tokens_ = w.get_table("embed_tokens.weight", {vocab, hidden});
    int64_t parameters = embed_tokens_.numel();
    const int64_t q_width = heads * head_dim_, kv_width = kv_heads * head_dim_;
    auto linear = [&](const std::string& name, int64_t in, int64_t out, bool bias) {
        Linear l = Linear::load(w, name, in, out, ops::WeightLayout::out_in, bias);
        parameters += l.weight.numel() + l.bias.numel();
        return l;
    };
    for (int64_t l = 0; l < layers; ++l) {
        const std::string p = "layers." + std::to_string(l) + ".";
        Block b;
        b.input_layernorm = RMSNorm::load(w, p + "input_layernorm", hidden, eps);
        b.qkv = Linear::concat_outputs({linear(p + "self_attn.q_proj", hidden, q_width, attention_bias),
                                        linear(p + "self_attn.k_proj", hidden, kv_width, attention_bias),
                                        linear(p + "self_attn.v_proj", hidden, kv_width, attention_bias)});
        // Qwen2 has biases on q, k, v only; Llama's attention_bias puts one on o_proj too.
        b.o_proj = linear(p + "self_attn.o_proj", q_width, hidden, attention_bias && !family.qkv_bias);
        b.post_attention_layernorm = RMSNorm::load(w, p + "post_attention_layernorm", hidden, eps);
        b.gate_up = Linear::concat_outputs(
            {linear(p + "mlp.gate_proj", hidden, inner, mlp_bias), linear(p + "mlp.up_proj", hidden, inner, mlp_bias)});
        b.down = linear(p + "mlp.down_proj", inner, hidden, mlp_bias);
        parameters += 2 * hidden;
        blocks_.push_back(std::move(b));
    }
    norm_ = RMSNorm::load(w, "norm", hidden, eps);
    parameters += hidden;
    w.set_prefixes({""});
    const bool tied = c.get_bool("tie_word_embeddings", false);
    lm_head_.weight = tied ? embed_tokens_ : w.get_matrix("lm_head.weight", {vocab, hidden});
    if (!tied) parameters += vocab * hidden;
    inv_freq_ = ops::rotary_inverse_frequencies(head_dim_, rope_theta_, rope_scaling_, 0);

    info_.family = family.model_type;
    info_.source = w.source();
    describe_weights(w, info_);
    info_.layers = layers;
    info_.heads = heads;
    info_.kv_heads = kv_heads;
    info_.hidden = hidden;
    info_.intermediate = inner;
    info_.vocab = vocab;
    info_.max_positions = positions;
    info_.has_lm_head = true;
    info_.is_causal = true;
    info_.parameters = parameters;
    // bos/eos: generation_config.json (next to config.json) overrides config.json.
    json generation = json::object();
    const auto generation_path = std::filesystem::path(c.path()).parent_path() / "generation_config.json";
    if (std::ifstream in(generation_path); in) {
        generation = json::parse(in, nullptr, /*allow_exceptions=*/false);
        if (!generation.is_object()) throw Error(generation_path.string() + ": invalid JSON object");
    }
    for (const json* j : {&config, static_cast<const json*>(&generation)}) {
        if (auto bos = token_ids(*j, "bos_token_id"); !bos.empty()) info_.bos_id = bos[0];
        if (auto eos = token_ids(*j, "eos_token_id"); !eos.empty()) info_.eos_ids = eos;
    }
}

// x_ [B, n, H] = E[ids] for context positions [start, start + n); positions_
// counts the real tokens before each one (HF: cumsum(mask) - 1, pads at 1).
void Llama::embed(const Tokens& context, int64_t start) {
    const int64_t batch = context.batch, n = context.length - start;
    x_.resize({batch, n, info_.hidden});
    positions_.clear();
    for (int64_t b = 0; b < batch; ++b) {
        int64_t position = 0;
        for (int64_t i = 0; i < start; ++i) position += context.valid(b, i) ? 1 : 0;
        for (int64_t i = start; i < context.length; ++i) {
            const int32_t id = context.id(b, i);
            if (id < 0 || id >= info_.vocab) {
                throw Error("token id " + std::to_string(id) + " is outside the vocabulary of " + std::to_string(info_.vocab));
            }
            ops::embedding_row(embed_tokens_, id, x_.data() + (b * n + (i - start)) * info_.hidden);
            positions_.push_back(context.valid(b, i) ? position : 1);
            position += context.valid(b, i) ? 1 : 0;
        }
    }
}

// x_ += o_proj(Attn(RoPE(q), RoPE(k), v)) over RMSNorm_1(x_). The rotated keys
// and the values go into the cache at [start, start + n).
void Llama::attend(size_t layer, const Tokens& context, KVCache& cache, ObserverHub& hub, int step) {
    const Block& blk = blocks_[layer];
    const int64_t start = cache.length, n = context.length - start;
    const int64_t q_width = info_.heads * head_dim_, kv_width = info_.kv_heads * head_dim_;
    blk.input_layernorm.forward(x_, h_);
    blk.qkv.forward(h_, qkv_);  // [B, n, q + 2 kv]
    Tensor q = qkv_.narrow(2, 0, q_width), k = qkv_.narrow(2, q_width, kv_width);
    ops::rotary_embedding(q, info_.heads, positions_, inv_freq_);
    ops::rotary_embedding(k, info_.kv_heads, positions_, inv_freq_);
    Tensor& keys = cache.keys[layer];
    Tensor& values = cache.values[layer];
    for (int64_t b = 0; b < context.batch; ++b)
        for (int64_t i = 0; i < n; ++i) {
            const float* row = qkv_.ptr({b, i, 0});
            std::copy_n(row + q_width, kv_width, keys.ptr({b, start + i, 0}));
            std::copy_n(row + q_width + kv_width, kv_width, values.ptr({b, start + i, 0}));
        }
    ops::AttentionOptions options;
    options.heads = info_.heads;
    options.kv_heads = info_.kv_heads;
    options.scale = 1.0f / std::sqrt(static_cast<float>(head_dim_));
    options.causal = true;
    options.causal_offset = start;
    options.window = window_;
    options.key_mask = masked_ ? &key_mask_ : nullptr;
    const AttentionSite site{Stack::decoder, AttentionKind::causal_self, static_cast<int>(layer),
                             static_cast<int>(info_.heads), static_cast<int>(info_.kv_heads)};
    hub.attention(site, q, keys.narrow(1, 0, context.length), values.narrow(1, 0, context.length), options, context_,
                  context, context, start, step);
    blk.o_proj.forward(context_, projected_);
    ops::add(x_, projected_, x_);
}

// x_ += down(silu(gate(x)) * up(x)), x = RMSNorm_2(x_)
void Llama::feed_forward(size_t layer) {
    const Block& blk = blocks_[layer];
    blk.post_attention_layernorm.forward(x_, h_);
    blk.gate_up.forward(h_, gate_up_);
    const int64_t f = gate_up_.dim(-1) / 2;  // gate_up_ = [gate | up], one fused GEMM
    ops::swiglu(gate_up_.narrow(-1, 0, f), gate_up_.narrow(-1, f, f), ffn_);
    blk.down.forward(ffn_, projected_);
    ops::add(x_, projected_, x_);
}

void Llama::run(const Tokens& context, KVCache& cache, ObserverHub& hub, int step, std::vector<Tensor>* hidden) {
    if (context.length <= cache.length) throw Error(info_.family + ": no new positions to run (context already in the cache)");
    if (context.length > cache.capacity() || context.batch != cache.batch()) {
        throw Error(info_.family + ": context [" + std::to_string(context.batch) + " x " + std::to_string(context.length) +
                    "] does not fit the KV cache [" + std::to_string(cache.batch()) + " x " +
                    std::to_string(cache.capacity()) + "]");
    }
    masked_ = std::find(context.mask.begin(), context.mask.end(), 0) != context.mask.end();
    if (masked_) ops::additive_key_mask(context.mask, context.batch, context.length, key_mask_);
    embed(context, cache.length);
    if (rope_scaling_.type == ops::RopeScaling::Type::dynamic) {
        // HF recomputes the frequencies for the longest position of each call.
        const int64_t longest = *std::max_element(positions_.begin(), positions_.end()) + 1;
        inv_freq_ = ops::rotary_inverse_frequencies(head_dim_, rope_theta_, rope_scaling_, longest);
    }
    if (hidden) hidden->push_back(x_.clone());
    for (size_t l = 0; l < blocks_.size(); ++l) {
        attend(l, context, cache, hub, step);
        feed_forward(l);
        if (hidden) hidden->push_back(x_.clone());
    }
    cache.length = context.length;
}

ForwardResult Llama::forward(const Tokens& input, const ForwardOptions& options) {
    check_input(info_, input);
    ForwardResult result;
    begin_pass_threads();  // every pass starts here: thread count for this thread and load
    ObserverHub hub(options.observers);
    hub.begin({info_.family, 0, static_cast<int>(info_.layers), static_cast<int>(info_.heads), &input, nullptr, -1});
    pass_cache_.reserve(info_.layers, input.batch, input.length, info_.kv_heads * head_dim_);
    std::vector<Tensor>* hidden = options.output_hidden_states ? &result.hidden_states : nullptr;
    run(input, pass_cache_, hub, -1, hidden);
    hub.end();
    norm_.forward(x_, result.last_hidden_state);
    if (hidden) hidden->back() = result.last_hidden_state.clone();  // HF: the last one after the final norm
    if (options.compute_logits) {
        if (options.logits_last_only) {
            ops::last_position(result.last_hidden_state, last_);
            lm_head_.forward(last_, result.logits);
        } else {
            lm_head_.forward(result.last_hidden_state, result.logits);
        }
    }
    return result;
}

KVCache Llama::make_cache(int64_t batch, int64_t max_length) const {
    if (max_length > info_.max_positions) {
        throw Error(info_.family + ": a cache of " + std::to_string(max_length) +
                    " positions exceeds the model's max_position_embeddings of " + std::to_string(info_.max_positions));
    }
    KVCache cache;
    cache.reserve(info_.layers, batch, max_length, info_.kv_heads * head_dim_);
    return cache;
}

void Llama::extend(const Tokens& context, KVCache& cache, const StepOptions& options, Tensor& logits) {
    begin_pass_threads();  // every pass starts here: thread count for this thread and load
    ObserverHub hub(options.observers);
    hub.begin({info_.family, 0, static_cast<int>(info_.layers), static_cast<int>(info_.heads), &context, nullptr,
               options.step});
    run(context, cache, hub, options.step, nullptr);
    hub.end();
    ops::last_position(x_, last_);
    norm_.forward(last_, last_);
    lm_head_.forward(last_, logits);  // [B, V]
}

}  // namespace

std::unique_ptr<Model> make_llama(const Config& config, Weights weights) {
    return std::make_unique<Llama>(LlamaFamily{"llama"}, config, std::move(weights));
}
std::unique_ptr<Model> make_mistral(const Config& config, Weights weights) {
    return std::make_unique<Llama>(LlamaFamily{.model_type = "mistral", .sliding_window = true}, config, std::move(weights));
}
std::unique_ptr<Model> make_qwen2(const Config& config, Weights weights) {
    return std::make_unique<Llama>(LlamaFamily{.model_type = "qwen2", .qkv_bias = true}, config, std::move(weights));
}

Config llama_config(const LlamaShape& s) {
    const int64_t inner = s.intermediate > 0 ? s.intermediate : (8 * s.hidden / 3 + 31) / 32 * 32;
    const json j = {{"model_type", "llama"},         {"vocab_size", s.vocab},
                    {"hidden_size", s.hidden},       {"intermediate_size", inner},
                    {"num_hidden_layers", s.layers}, {"num_attention_heads", s.heads},
                    {"num_key_value_heads", s.kv_heads > 0 ? s.kv_heads : s.heads},
                    {"max_position_embeddings", s.positions}, {"rms_norm_eps", 1e-5},
                    {"rope_theta", 10000.0},         {"tie_word_embeddings", s.tied},
                    {"bos_token_id", 1},             {"eos_token_id", 2}};
    return Config::parse(j.dump(), "<random llama config>");
}

Weights random_llama_weights(const LlamaShape& s, uint32_t seed) {
    const Config c = llama_config(s);  // validates nothing yet: the model does
    const int64_t h = s.hidden, f = c.get_size({"intermediate_size"}), kv = s.kv_heads > 0 ? s.kv_heads : s.heads;
    if (s.heads <= 0 || h % s.heads != 0) throw Error("Llama shape: hidden must be a positive multiple of heads");
    const int64_t d = h / s.heads;
    std::mt19937 rng(seed);
    Weights w;
    w.add_random("model.embed_tokens.weight", {s.vocab, h}, rng, 0.02f);
    for (int64_t l = 0; l < s.layers; ++l) {
        const std::string p = "model.layers." + std::to_string(l) + ".";
        w.add_random(p + "input_layernorm.weight", {h}, rng, 0.0f, 1.0f);
        w.add_random(p + "self_attn.q_proj.weight", {s.heads * d, h}, rng, 0.02f);
        w.add_random(p + "self_attn.k_proj.weight", {kv * d, h}, rng, 0.02f);
        w.add_random(p + "self_attn.v_proj.weight", {kv * d, h}, rng, 0.02f);
        w.add_random(p + "self_attn.o_proj.weight", {h, s.heads * d}, rng, 0.02f);
        w.add_random(p + "post_attention_layernorm.weight", {h}, rng, 0.0f, 1.0f);
        w.add_random(p + "mlp.gate_proj.weight", {f, h}, rng, 0.02f);
        w.add_random(p + "mlp.up_proj.weight", {f, h}, rng, 0.02f);
        w.add_random(p + "mlp.down_proj.weight", {h, f}, rng, 0.02f);
    }
    w.add_random("model.norm.weight", {h}, rng, 0.0f, 1.0f);
    if (!s.tied) w.add_random("lm_head.weight", {s.vocab, h}, rng, 0.02f);
    w.set_source("random (seed " + std::to_string(seed) + ")");
    return w;
}

}  // namespace gaze
