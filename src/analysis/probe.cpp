// AttentionProbe: per-head q/k/v recomputed from a layer's weights and input.
#include "gaze/attention_probe.hpp"

#include <cmath>
#include <filesystem>
#include <limits>

#include "gaze/error.hpp"
#include "gaze/layers.hpp"

namespace gaze {
namespace {

std::string at_layer(const std::string& pattern, int layer) {
    std::string s = pattern;
    const auto at = s.find("{}");
    if (at != std::string::npos) s.replace(at, 2, std::to_string(layer));
    return s;
}

// Pre-norm, then one fused [Q; K; V] projection split into its three parts.
void project_fused_qkv(const LayerNorm& norm, const Linear& qkv, const Tensor& x, LayerQKV& out) {
    const int64_t h = x.dim(-1);
    Tensor normed, fused;
    norm.forward(x, normed);
    qkv.forward(normed, fused);
    out.q = fused.narrow(1, 0, h).clone();
    out.k = fused.narrow(1, h, h).clone();
    out.v = fused.narrow(1, 2 * h, h).clone();
}

}  // namespace

bool AttentionProbe::supports(const std::string& model_type) {
    return model_type == "bert" || model_type == "distilbert" || model_type == "gpt2" || model_type == "transformer";
}

AttentionProbe AttentionProbe::open(const std::string& model_dir) {
    const Config config = Config::load((std::filesystem::path(model_dir) / "config.json").string());
    const std::string type = config.get_string({"model_type"});
    if (!supports(type)) {
        throw Error(model_dir + ": the q/k/v probe does not know model_type '" + type +
                    "' (known: bert, distilbert, gpt2, transformer)");
    }
    return from_weights(config, Weights::open_folder(model_dir));
}

AttentionProbe AttentionProbe::from_weights(const Config& config, Weights weights) {
    AttentionProbe p;
    p.family_ = config.get_string({"model_type"});
    if (!supports(p.family_)) throw Error("the q/k/v probe does not know model_type '" + p.family_ + "'");
    p.layers_ = config.get_int({"num_hidden_layers", "n_layers", "n_layer", "encoder_layers"});
    p.hidden_ = config.get_int({"hidden_size", "dim", "n_embd", "d_model"});
    p.heads_ = config.get_int({"num_attention_heads", "n_heads", "n_head", "num_heads"});
    p.norm_eps_ = static_cast<float>(config.get_float("layer_norm_epsilon", 1e-5));
    if (p.family_ == "transformer" && !config.get_bool("pre_norm", true)) {
        throw Error(config.path() + ": the q/k/v probe knows the pre-norm Transformer only");
    }
    if (p.heads_ <= 0 || p.hidden_ % p.heads_ != 0) throw Error(config.path() + ": hidden size not a multiple of heads");
    if (p.family_ == "bert") weights.set_prefixes({"bert.", ""});
    if (p.family_ == "distilbert") weights.set_prefixes({"distilbert.", ""});
    if (p.family_ == "gpt2") weights.set_prefixes({"transformer.", ""});
    p.weights_ = std::move(weights);
    return p;
}

LayerQKV AttentionProbe::project(const Tensor& layer_input, int layer) const {
    if (layer < 0 || layer >= layers_) {
        throw Error("layer " + std::to_string(layer) + " is outside 0-" + std::to_string(layers_ - 1));
    }
    Tensor x;
    if (layer_input.rank() == 3 && layer_input.dim(0) == 1) {
        x = layer_input.select(0, 0).clone();
    } else if (layer_input.rank() == 2) {
        x = layer_input.clone();
    } else {
        throw Error("probe: expected the layer input of one sequence, [S, H] or [1, S, H], got " +
                    layer_input.shape().str());
    }
    if (x.dim(1) != hidden_) throw Error("probe: layer input width " + std::to_string(x.dim(1)) + " is not " + std::to_string(hidden_));
    const int64_t h = hidden_;
    LayerQKV out;
    out.layer = layer;
    out.heads = heads_;
    out.head_dim = h / heads_;
    out.scale = 1.0f / std::sqrt(static_cast<float>(out.head_dim));
    if (family_ == "gpt2") {
        out.causal = true;
        const std::string p = at_layer("h.{}.", layer);
        const LayerNorm norm = LayerNorm::load(weights_, p + "ln_1", h, norm_eps_);
        const Linear attn = Linear::load(weights_, p + "attn.c_attn", h, 3 * h, ops::WeightLayout::in_out);
        project_fused_qkv(norm, attn, x, out);
        return out;
    }
    if (family_ == "transformer") {
        // The classic Transformer (CTranslate2 names), encoder self-attention.
        const std::string p = at_layer("encoder/layer_{}/self_attention/", layer);
        const LayerNorm norm{weights_.get(p + "layer_norm/gamma", {h}), weights_.get(p + "layer_norm/beta", {h}), norm_eps_};
        const Linear attn{weights_.get(p + "linear_0/weight", {3 * h, h}), weights_.get(p + "linear_0/bias", {3 * h})};
        project_fused_qkv(norm, attn, x, out);
        return out;
    }
    const bool distil = family_ == "distilbert";
    const std::string p = at_layer(distil ? "transformer.layer.{}.attention." : "encoder.layer.{}.attention.self.", layer);
    Linear::load(weights_, p + (distil ? "q_lin" : "query"), h, h).forward(x, out.q);
    Linear::load(weights_, p + (distil ? "k_lin" : "key"), h, h).forward(x, out.k);
    Linear::load(weights_, p + (distil ? "v_lin" : "value"), h, h).forward(x, out.v);
    return out;
}

HeadComputation compute_head(const LayerQKV& qkv, int head, std::span<const uint8_t> key_valid) {
    if (head < 0 || head >= qkv.heads) {
        throw Error("head " + std::to_string(head) + " is outside 0-" + std::to_string(qkv.heads - 1));
    }
    const int64_t s = qkv.q.dim(0), d = qkv.head_dim;
    if (!key_valid.empty() && static_cast<int64_t>(key_valid.size()) != qkv.k.dim(0)) {
        throw Error("compute_head: key_valid has " + std::to_string(key_valid.size()) + " entries for " +
                    std::to_string(qkv.k.dim(0)) + " keys");
    }
    HeadComputation c;
    c.layer = qkv.layer;
    c.head = head;
    c.scale = qkv.scale;
    c.causal = qkv.causal;
    c.q = qkv.q.narrow(1, head * d, d).clone();
    c.k = qkv.k.narrow(1, head * d, d).clone();
    c.v = qkv.v.narrow(1, head * d, d).clone();
    const int64_t sk = c.k.dim(0);
    c.scores = Tensor({s, sk});
    c.scores.matrix() = (c.q.matrix() * c.k.matrix().transpose()) * qkv.scale;
    c.masked_scores = c.scores.clone();
    c.weights = Tensor({s, sk});
    const float inf = std::numeric_limits<float>::infinity();
    for (int64_t i = 0; i < s; ++i) {
        float max = -inf;
        for (int64_t j = 0; j < sk; ++j) {
            const bool masked = (c.causal && j > i + (sk - s)) || (!key_valid.empty() && !key_valid[static_cast<size_t>(j)]);
            if (masked) c.masked_scores.at({i, j}) = -inf;
            max = std::max(max, c.masked_scores.at({i, j}));
        }
        double sum = 0;
        for (int64_t j = 0; j < sk; ++j) {
            const float m = c.masked_scores.at({i, j});
            const double e = (m == -inf || max == -inf) ? 0.0 : std::exp(static_cast<double>(m - max));
            c.weights.at({i, j}) = static_cast<float>(e);
            sum += e;
        }
        for (int64_t j = 0; j < sk; ++j) c.weights.at({i, j}) = sum > 0 ? static_cast<float>(c.weights.at({i, j}) / sum) : 0.0f;
    }
    c.context = Tensor({s, d});
    c.context.matrix() = c.weights.matrix() * c.v.matrix();
    return c;
}

}  // namespace gaze
