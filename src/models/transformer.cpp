// The Transformer (Vaswani et al., 2017, "Attention Is All You Need"), in the
// pre-norm form OpenNMT-tf and CTranslate2 use (each sub-layer computes
// x + Sublayer(LayerNorm(x)), and a final LayerNorm closes each stack):
//   - token embeddings multiplied by sqrt(d_model) (section 3.4), plus
//     sinusoidal position encodings (section 3.5) laid out as [sin | cos]
//     halves, frequencies exp(-i ln(10000) / (d/2 - 1)), positions from 1;
//   - scaled dot-product attention, scores / sqrt(d_head) (section 3.2.1);
//   - a ReLU feed-forward with biases (section 3.3);
//   - separate source and target vocabularies, an output projection with a bias.
// Tensor names follow CTranslate2's TransformerSpec: fused QKV ("linear_0")
// for self-attention, Q ("linear_0") + fused KV ("linear_1") for cross-attention.
#include "gaze/models/transformer.hpp"

#include <cmath>
#include <filesystem>

#include "gaze/models/encoder_decoder.hpp"
#include "gaze/tokenizers/vocabulary.hpp"

namespace gaze {
namespace {

struct TransformerDims {
    int64_t d_model, d_ff;
    float eps;
    Activation activation;
};

Linear load_linear(const Weights& w, const std::string& name, int64_t in, int64_t out) {
    return {w.get_matrix(name + "/weight", {out, in}), w.get(name + "/bias", {out})};
}

Norm load_norm(const Weights& w, const std::string& name, const TransformerDims& d) {
    return {w.get(name + "/gamma", {d.d_model}), w.get(name + "/beta", {d.d_model}), d.eps};
}

// "<layer>/self_attention": layer_norm, linear_0 = Q, K, V stacked [3d, d], linear_1 = output [d, d].
SelfAttentionBlock load_self_attention(const Weights& w, const std::string& layer, const TransformerDims& d) {
    const std::string a = layer + "/self_attention/";
    return {load_norm(w, a + "layer_norm", d), load_linear(w, a + "linear_0", d.d_model, 3 * d.d_model),
            load_linear(w, a + "linear_1", d.d_model, d.d_model)};
}

// "<layer>/attention": linear_0 = Q [d, d], linear_1 = K, V stacked [2d, d] (on the encoder output), linear_2 = output.
CrossAttentionBlock load_cross_attention(const Weights& w, const std::string& layer, const TransformerDims& d) {
    const std::string a = layer + "/attention/";
    return {load_norm(w, a + "layer_norm", d), load_linear(w, a + "linear_0", d.d_model, d.d_model),
            load_linear(w, a + "linear_1", d.d_model, 2 * d.d_model),
            load_linear(w, a + "linear_2", d.d_model, d.d_model)};
}

FeedForwardBlock load_feed_forward(const Weights& w, const std::string& layer, const TransformerDims& d) {
    const std::string f = layer + "/ffn/";
    FeedForwardBlock block{load_norm(w, f + "layer_norm", d), {}};
    block.ffn.in = load_linear(w, f + "linear_0", d.d_model, d.d_ff);
    block.ffn.out = load_linear(w, f + "linear_1", d.d_ff, d.d_model);
    block.ffn.activation = d.activation;
    return block;
}

// The id of a special token named in config.json ("<s>"): an explicit
// "<key>_id", else its line in target_vocabulary.txt beside config.json.
int32_t special_token_id(const Config& config, const std::string& key, const std::string& fallback) {
    if (config.has(key + "_id")) return static_cast<int32_t>(config.get_int({key + "_id"}));
    const std::string token = config.get_string(key, fallback);
    const auto vocab = std::filesystem::path(config.path()).parent_path() / "target_vocabulary.txt";
    if (!std::filesystem::exists(vocab)) {
        throw Error(config.path() + ": cannot resolve " + key + " '" + token + "': no " + vocab.string() + " and no " +
                    key + "_id");
    }
    const auto id = VocabularyTokenizer(vocab.string()).token_to_id(token);
    if (!id) throw Error(vocab.string() + ": no " + key + " '" + token + "' in the vocabulary");
    return *id;
}

SinusoidalPositions parse_positions(const Config& config) {
    if (config.get_string("position_encoding", "sinusoidal") != "sinusoidal") {
        throw Error(config.path() + ": only sinusoidal position encodings are supported");
    }
    SinusoidalPositions pe;
    const std::string layout = config.get_string("sinusoidal_layout", "sin_then_cos");
    if (layout != "sin_then_cos" && layout != "interleaved") {
        throw Error(config.path() + ": sinusoidal_layout must be sin_then_cos or interleaved, got '" + layout + "'");
    }
    pe.layout = layout == "interleaved" ? ops::SinusoidLayout::interleaved : ops::SinusoidLayout::sin_then_cos;
    // tensor2tensor spacing goes with the [sin | cos] layout (OpenNMT, CTranslate2); the paper's with interleaving.
    const std::string spacing = config.get_string("sinusoidal_spacing", layout == "interleaved" ? "paper" : "tensor2tensor");
    pe.spacing = spacing == "paper" ? ops::SinusoidSpacing::paper : ops::SinusoidSpacing::tensor2tensor;
    pe.first_position = config.get_int("first_position", 0);
    return pe;
}

}  // namespace

std::unique_ptr<Model> make_transformer(const Config& config, Weights w) {
    TransformerDims d{};
    d.d_model = config.get_size({"d_model"});
    d.d_ff = config.get_size({"d_ff"});
    d.eps = static_cast<float>(config.get_float("layer_norm_epsilon", 1e-6));
    d.activation = parse_activation(config.get_string("activation", "relu"), config.path());
    const int64_t heads = config.get_size({"num_heads"});
    const int64_t layers = config.get_size({"encoder_layers"}), decoder_layers = config.get_size({"decoder_layers"});
    const int64_t source_vocab = config.get_size({"source_vocab_size"}), target_vocab = config.get_size({"target_vocab_size"});
    if (d.d_model % heads != 0) {
        throw Error(config.path() + ": d_model " + std::to_string(d.d_model) + " is not a multiple of num_heads " +
                    std::to_string(heads));
    }
    if (!config.get_bool("pre_norm", true)) throw Error(config.path() + ": only pre-norm Transformers are supported");

    EncoderDecoderParts p;
    const float embedding_scale = config.get_bool("scale_embeddings", true) ? std::sqrt(static_cast<float>(d.d_model)) : 1.0f;
    const SinusoidalPositions positions = parse_positions(config);
    p.source_vocab = source_vocab;
    p.source_embedding = {w.get_table("encoder/embeddings/weight", {source_vocab, d.d_model}), embedding_scale, positions};
    p.target_embedding = {w.get_table("decoder/embeddings/weight", {target_vocab, d.d_model}), embedding_scale, positions};
    for (int64_t i = 0; i < layers; ++i) {
        const std::string layer = "encoder/layer_" + std::to_string(i);
        p.encoder.push_back({load_self_attention(w, layer, d), load_feed_forward(w, layer, d)});
    }
    p.encoder_norm = load_norm(w, "encoder/layer_norm", d);
    for (int64_t i = 0; i < decoder_layers; ++i) {
        const std::string layer = "decoder/layer_" + std::to_string(i);
        p.decoder.push_back(
            {load_self_attention(w, layer, d), load_cross_attention(w, layer, d), load_feed_forward(w, layer, d)});
    }
    p.decoder_norm = load_norm(w, "decoder/layer_norm", d);
    p.attention_scale = 1.0f / std::sqrt(static_cast<float>(d.d_model / heads));
    p.lm_head = load_linear(w, "decoder/projection", d.d_model, target_vocab);
    p.decoder_start_id = special_token_id(config, "decoder_start_token", "<s>");
    p.eos_id = special_token_id(config, "eos_token", "</s>");
    p.pad_id = 0;  // <blank> in OpenNMT vocabularies; never attended to (masked)

    ModelInfo& info = p.info;
    info.family = "transformer";
    info.source = w.source();
    describe_weights(w, info);
    info.layers = layers;
    info.decoder_layers = decoder_layers;
    info.heads = heads;
    info.hidden = d.d_model;
    info.intermediate = d.d_ff;
    info.vocab = target_vocab;
    info.max_positions = config.get_int("max_positions", 0);  // sinusoids: unbounded unless the config says
    info.has_lm_head = true;
    info.is_encoder_decoder = true;
    info.parameters = count_parameters(w);
    return make_encoder_decoder_model(std::move(p));
}

}  // namespace gaze
