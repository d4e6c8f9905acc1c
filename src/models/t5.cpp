// T5 (Raffel et al., 2020, "Exploring the Limits of Transfer Learning with a
// Unified Text-to-Text Transformer"): a pre-norm encoder-decoder where
//   - positions enter only as a learned scalar bias on the attention scores,
//     looked up by the bucketed distance between query and key (section 2.1);
//     block 0 of each stack holds the table and every layer reuses it;
//   - layer norm is a rescaling only: no mean subtraction, no bias (RMS norm);
//   - scores are not scaled by 1/sqrt(d): the initialisation absorbs it;
//   - no linear layer has a bias;
//   - v1.0 ties the output layer to the input embeddings and rescales the
//     decoder output by d_model^-0.5 before it; v1.1 (and flan-t5) unties it
//     and uses a gated-GELU feed-forward (Shazeer, 2020, "GLU Variants").
#include "gaze/models/t5.hpp"

#include <cmath>
#include <nlohmann/json.hpp>

#include "gaze/models/encoder_decoder.hpp"

namespace gaze {

int64_t t5_relative_position_bucket(int64_t relative_position, bool bidirectional, int64_t num_buckets,
                                    int64_t max_distance) {
    int64_t bucket = 0;
    int64_t distance = 0;
    if (bidirectional) {
        num_buckets /= 2;  // half of the buckets for keys after the query
        if (relative_position > 0) bucket += num_buckets;
        distance = std::abs(relative_position);
    } else {
        distance = std::max<int64_t>(-relative_position, 0);  // the future shares bucket 0 (it is masked)
    }
    // Half of the remaining buckets are exact distances 0 .. max_exact-1; the
    // other half grow logarithmically up to max_distance, the last one holds
    // everything further. float32, as the reference computes it, so that
    // distances on a bucket boundary land in the same bucket.
    const int64_t max_exact = num_buckets / 2;
    if (distance < max_exact) return bucket + distance;
    const float log_ratio = std::log(static_cast<float>(distance) / static_cast<float>(max_exact)) /
                            static_cast<float>(std::log(static_cast<double>(max_distance) / max_exact));
    const auto large = max_exact + static_cast<int64_t>(log_ratio * static_cast<float>(num_buckets - max_exact));
    return bucket + std::min(large, num_buckets - 1);
}

void RelativePositionBias::compute(int64_t sq, int64_t sk, int64_t query_offset, Tensor& bias) const {
    const int64_t buckets = table.dim(0), heads = table.dim(1);
    bias.resize({heads, sq, sk});
    for (int64_t i = 0; i < sq; ++i) {
        for (int64_t j = 0; j < sk; ++j) {
            const int64_t b = t5_relative_position_bucket(j - (query_offset + i), bidirectional, buckets, max_distance);
            const float* row = table.data() + b * heads;
            for (int64_t h = 0; h < heads; ++h) bias.data()[(h * sq + i) * sk + j] = row[h];
        }
    }
}

namespace {

struct T5Dims {
    int64_t d_model, d_kv, heads, inner, d_ff, buckets;
    float eps;
    bool gated;
    Activation activation;
};

// feed_forward_proj is "relu", "gelu" or "gated-<act>"; "gated-gelu" means
// the tanh approximation (gelu_new), as in the original T5 v1.1 code.
void parse_feed_forward(const Config& config, T5Dims& d) {
    const std::string proj = config.get_string("feed_forward_proj", "relu");
    d.gated = proj.rfind("gated-", 0) == 0;
    std::string act = d.gated ? proj.substr(6) : proj;
    if (proj == "gated-gelu") act = "gelu_new";
    d.activation = parse_activation(act, config.path());
}

Linear load_linear(const Weights& w, const std::string& name, int64_t in, int64_t out) {
    Linear l = Linear::load(w, name, in, out, ops::WeightLayout::out_in, /*with_bias=*/false);
    l.bias = absent();
    return l;
}

Norm load_norm(const Weights& w, const std::string& name, const T5Dims& d) {
    return {w.get(name + ".weight", {d.d_model}), absent(), d.eps};
}

// "<block>.layer.<i>.SelfAttention" or ".EncDecAttention": q, k, v [inner, d], o [d, inner].
SelfAttentionBlock load_self_attention(const Weights& w, const std::string& layer, const T5Dims& d) {
    const std::string a = layer + ".SelfAttention.";
    return {load_norm(w, layer + ".layer_norm", d),
            Linear::concat_outputs({load_linear(w, a + "q", d.d_model, d.inner), load_linear(w, a + "k", d.d_model, d.inner),
                           load_linear(w, a + "v", d.d_model, d.inner)}),
            load_linear(w, a + "o", d.inner, d.d_model)};
}

CrossAttentionBlock load_cross_attention(const Weights& w, const std::string& layer, const T5Dims& d) {
    const std::string a = layer + ".EncDecAttention.";
    return {load_norm(w, layer + ".layer_norm", d), load_linear(w, a + "q", d.d_model, d.inner),
            Linear::concat_outputs({load_linear(w, a + "k", d.d_model, d.inner), load_linear(w, a + "v", d.d_model, d.inner)}),
            load_linear(w, a + "o", d.inner, d.d_model)};
}

// wi (and wi_1) in the dtype asked (`w`), wo in `wo_weights`' (f32: see make_t5).
FeedForwardBlock load_feed_forward(const Weights& w, const Weights& wo_weights, const std::string& layer, const T5Dims& d) {
    const std::string f = layer + ".DenseReluDense.";
    FeedForwardBlock block{load_norm(w, layer + ".layer_norm", d), {}};
    block.ffn.activation = d.activation;
    block.ffn.in = load_linear(w, f + (d.gated ? "wi_0" : "wi"), d.d_model, d.d_ff);
    if (d.gated) block.ffn.gate = load_linear(w, f + "wi_1", d.d_model, d.d_ff);
    block.ffn.out = load_linear(wo_weights, f + "wo", d.d_ff, d.d_model);
    return block;
}

RelativePositionBias load_position_bias(const Weights& w, const std::string& stack, const T5Dims& d,
                                        const Config& config, bool bidirectional) {
    return {w.get(stack + ".block.0.layer.0.SelfAttention.relative_attention_bias.weight", {d.buckets, d.heads}),
            bidirectional, config.get_size("relative_attention_max_distance", 128)};
}

}  // namespace

std::unique_ptr<Model> make_t5(const Config& config, Weights w) {
    T5Dims d{};
    d.d_model = config.get_size({"d_model"});
    d.d_kv = config.get_size({"d_kv"});
    d.heads = config.get_size({"num_heads"});
    d.inner = d.heads * d.d_kv;
    d.d_ff = config.get_size({"d_ff"});
    d.buckets = config.get_size("relative_attention_num_buckets", 32);
    d.eps = static_cast<float>(config.get_float("layer_norm_epsilon", 1e-6));
    parse_feed_forward(config, d);
    const int64_t layers = config.get_size({"num_layers"});
    const int64_t decoder_layers = config.get_size("num_decoder_layers", layers);
    const int64_t vocab = config.get_size({"vocab_size"});

    EncoderDecoderParts p;
    // Kept f32 in every dtype, like Hugging Face's _keep_in_fp32_modules =
    // ["wo"]: the feed-forward output projection (T5's activations grow large
    // there) and, because T5 does not scale its attention logits (no
    // 1/sqrt(d)) so errors in Q and K reach the softmax undamped, the
    // attention projections. Measured on the golden models: with everything
    // in bf16, attention probabilities moved by up to 0.06 (bound 0.02); in
    // int8 by 0.15. The feed-forward input layers take the dtype asked.
    // The embedding table stays f32 too (in bf16 it alone moved the gated
    // model's attention by 0.04). A gated feed-forward (T5 v1.1) does not
    // survive int8 either (0.10 with everything else f32): refused, by name.
    const Weights aw = w.with_matrix_dtype(DType::f32);
    // A gated feed-forward (T5 v1.1) stays f32 as well: with bf16 inputs and
    // weights (what AVX512-BF16 and AMX compute) it moved attention by 0.022.
    // Only its output layer then takes bf16.
    const Weights& fw = d.gated ? aw : w;
    if (d.gated && w.matrix_dtype() == DType::i8) {
        throw Error(config.path() + ": int8 is not supported for T5 with a gated feed-forward (" +
                    config.get_string({"feed_forward_proj"}) +
                    "): quantising wi_0/wi_1 moves attention probabilities by ~0.1; use --dtype bf16 or f32");
    }
    const Tensor shared = aw.get_table("shared.weight", {vocab, d.d_model});
    p.source_vocab = vocab;
    p.source_embedding.table = shared;  // no scaling, no absolute positions
    p.target_embedding.table = shared;
    for (int64_t i = 0; i < layers; ++i) {
        const std::string block = "encoder.block." + std::to_string(i) + ".layer.";
        p.encoder.push_back({load_self_attention(aw, block + "0", d), load_feed_forward(fw, aw, block + "1", d)});
    }
    p.encoder_norm = load_norm(w, "encoder.final_layer_norm", d);
    for (int64_t i = 0; i < decoder_layers; ++i) {
        const std::string block = "decoder.block." + std::to_string(i) + ".layer.";
        p.decoder.push_back({load_self_attention(aw, block + "0", d), load_cross_attention(aw, block + "1", d),
                             load_feed_forward(fw, aw, block + "2", d)});
    }
    p.decoder_norm = load_norm(w, "decoder.final_layer_norm", d);
    p.encoder_bias = load_position_bias(w, "encoder", d, config, /*bidirectional=*/true);
    p.decoder_bias = load_position_bias(w, "decoder", d, config, /*bidirectional=*/false);
    p.attention_scale = 1.0f;

    if (config.get_bool("tie_word_embeddings", true)) {
        // The tied output layer reads embeddings of norm ~sqrt(d_model): rescale.
        p.lm_head.weight = shared;
        p.lm_head.bias = absent();
        p.lm_head_input_scale = 1.0f / std::sqrt(static_cast<float>(d.d_model));
    } else {
        p.lm_head = load_linear(w, "lm_head", d.d_model, vocab);
    }
    p.pad_id = static_cast<int32_t>(config.get_int("pad_token_id", 0));
    p.decoder_start_id = static_cast<int32_t>(config.get_int("decoder_start_token_id", p.pad_id));
    p.eos_id = static_cast<int32_t>(config.get_int("eos_token_id", 1));

    ModelInfo& info = p.info;
    info.family = "t5";
    info.source = w.source();
    describe_weights(w, info);
    info.layers = layers;
    info.decoder_layers = decoder_layers;
    info.heads = d.heads;
    info.hidden = d.d_model;
    info.intermediate = d.d_ff;
    info.vocab = vocab;
    info.max_positions = config.get_int("n_positions", 0);
    info.has_lm_head = true;
    info.is_encoder_decoder = true;
    info.parameters = count_parameters(w);
    return make_encoder_decoder_model(std::move(p));
}

Config t5_config(const T5Shape& s) {
    const nlohmann::json j = {{"model_type", "t5"},
                              {"d_model", s.d_model},
                              {"d_kv", s.d_kv},
                              {"num_heads", s.heads},
                              {"d_ff", s.d_ff},
                              {"num_layers", s.layers},
                              {"num_decoder_layers", s.decoder_layers},
                              {"vocab_size", s.vocab},
                              {"relative_attention_num_buckets", s.buckets},
                              {"relative_attention_max_distance", s.max_distance},
                              {"feed_forward_proj", s.gated ? "gated-gelu" : "relu"},
                              {"tie_word_embeddings", !s.gated},
                              {"layer_norm_epsilon", 1e-6},
                              {"decoder_start_token_id", 0},
                              {"eos_token_id", 1},
                              {"pad_token_id", 0}};
    return Config::parse(j.dump(), "<random t5 config>");
}

Weights random_t5_weights(const T5Shape& s, uint32_t seed) {
    // HF's T5 initialisation: each projection ~ N(0, fan_in^-1/2), with the
    // query's also divided by sqrt(d_kv) (the scaling T5 leaves out of attention).
    std::mt19937 rng(seed);
    Weights w;
    const int64_t d = s.d_model, inner = s.heads * s.d_kv;
    const auto stddev = [](int64_t fan_in) { return 1.0f / std::sqrt(static_cast<float>(fan_in)); };
    const auto add_attention = [&](const std::string& a) {
        w.add_random(a + "q.weight", {inner, d}, rng, stddev(d * s.d_kv));
        w.add_random(a + "k.weight", {inner, d}, rng, stddev(d));
        w.add_random(a + "v.weight", {inner, d}, rng, stddev(d));
        w.add_random(a + "o.weight", {d, inner}, rng, stddev(inner));
    };
    const auto add_feed_forward = [&](const std::string& f) {
        w.add_random(f + (s.gated ? "wi_0.weight" : "wi.weight"), {s.d_ff, d}, rng, stddev(d));
        if (s.gated) w.add_random(f + "wi_1.weight", {s.d_ff, d}, rng, stddev(d));
        w.add_random(f + "wo.weight", {d, s.d_ff}, rng, stddev(s.d_ff));
    };
    const auto add_norm = [&](const std::string& name) { w.add_random(name, {d}, rng, 0.0f, 1.0f); };
    w.add_random("shared.weight", {s.vocab, d}, rng, 1.0f);
    for (const std::string stack : {"encoder", "decoder"}) {
        const bool decoder = stack == "decoder";
        for (int64_t i = 0; i < (decoder ? s.decoder_layers : s.layers); ++i) {
            const std::string block = stack + ".block." + std::to_string(i) + ".layer.";
            add_attention(block + "0.SelfAttention.");
            add_norm(block + "0.layer_norm.weight");
            if (decoder) {
                add_attention(block + "1.EncDecAttention.");
                add_norm(block + "1.layer_norm.weight");
            }
            const std::string ff = block + (decoder ? "2" : "1");
            add_feed_forward(ff + ".DenseReluDense.");
            add_norm(ff + ".layer_norm.weight");
        }
        w.add_random(stack + ".block.0.layer.0.SelfAttention.relative_attention_bias.weight", {s.buckets, s.heads}, rng,
                     stddev(d));
        add_norm(stack + ".final_layer_norm.weight");
    }
    if (s.gated) w.add_random("lm_head.weight", {s.vocab, d}, rng, stddev(d));
    w.set_source("random (seed " + std::to_string(seed) + ")");
    return w;
}

}  // namespace gaze
