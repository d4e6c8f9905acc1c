// BERT: token + position + segment embeddings, a post-norm encoder, a tanh
// pooler over [CLS], and the masked-LM head tied to the word embeddings.
#include "gaze/models/bert.hpp"

#include <nlohmann/json.hpp>

#include "gaze/models/encoder_model.hpp"

namespace gaze {

std::unique_ptr<Model> make_bert(const Config& config, Weights w) {
    w.set_prefixes({"bert.", ""});
    EncoderShape shape;
    shape.layers = config.get_size({"num_hidden_layers"});
    shape.hidden = config.get_size({"hidden_size"});
    shape.heads = config.get_size({"num_attention_heads"});
    shape.intermediate = config.get_size({"intermediate_size"});
    shape.norm_eps = static_cast<float>(config.get_float("layer_norm_eps", 1e-12));
    shape.activation = parse_activation(config.get_string("hidden_act", "gelu"), config.path());
    if (shape.hidden % shape.heads != 0) {
        throw Error(config.path() + ": hidden_size " + std::to_string(shape.hidden) +
                    " is not a multiple of num_attention_heads " + std::to_string(shape.heads));
    }
    const int64_t h = shape.hidden, vocab = config.get_size({"vocab_size"});
    const int64_t positions = config.get_size("max_position_embeddings", 512);
    if (config.get_string("position_embedding_type", "absolute") != "absolute") {
        throw Error(config.path() + ": only absolute position embeddings are supported");
    }

    EncoderModelParts p;
    p.word_embeddings = w.get_table("embeddings.word_embeddings.weight", {vocab, h});
    p.position_embeddings = w.get("embeddings.position_embeddings.weight", {positions, h});
    p.token_type_embeddings = w.get("embeddings.token_type_embeddings.weight", {config.get_size("type_vocab_size", 2), h});
    p.embedding_norm = LayerNorm::load(w, "embeddings.LayerNorm", h, shape.norm_eps);
    p.encoder.load(w,
                   {"encoder.layer.{}.", "attention.self.query", "attention.self.key", "attention.self.value",
                    "attention.output.dense", "attention.output.LayerNorm", "intermediate.dense", "output.dense",
                    "output.LayerNorm"},
                   shape);
    if (w.contains("pooler.dense.weight")) p.pooler = Linear::load(w, "pooler.dense", h, h);
    if (w.contains("cls.predictions.transform.dense.weight")) {
        MaskedLMHead head;
        head.transform = Linear::load(w, "cls.predictions.transform.dense", h, h);
        head.norm = LayerNorm::load(w, "cls.predictions.transform.LayerNorm", h, shape.norm_eps);
        head.activation = shape.activation;
        // The decoder is tied to the word embeddings; some checkpoints store a copy.
        head.decoder.weight = w.contains("cls.predictions.decoder.weight")
                                  ? w.get_matrix("cls.predictions.decoder.weight", {vocab, h})
                                  : p.word_embeddings;
        head.decoder.bias = w.contains("cls.predictions.bias") ? w.get("cls.predictions.bias", {vocab})
                                                               : w.get("cls.predictions.decoder.bias", {vocab});
        p.lm_head = std::move(head);
    }

    describe_encoder_model(p, "bert", shape, w);
    return make_encoder_model(std::move(p));
}

Config bert_config(const BertShape& s) {
    const nlohmann::json j = {{"model_type", "bert"},
                              {"num_hidden_layers", s.layers},
                              {"hidden_size", s.hidden},
                              {"num_attention_heads", s.heads},
                              {"intermediate_size", s.intermediate},
                              {"vocab_size", s.vocab},
                              {"max_position_embeddings", s.max_positions},
                              {"type_vocab_size", s.type_vocab},
                              {"hidden_act", "gelu"},
                              {"layer_norm_eps", 1e-12}};
    return Config::parse(j.dump(), "<random bert config>");
}

Weights random_bert_weights(const BertShape& s, uint32_t seed) {
    std::mt19937 rng(seed);
    Weights w;
    const float std = 0.02f;  // BERT's initializer_range
    const int64_t h = s.hidden;
    auto add_norm = [&](const std::string& name) {
        w.add_random(name + ".weight", {h}, rng, 0.0f, 1.0f);
        w.add_random(name + ".bias", {h}, rng, 0.0f, 0.0f);
    };
    auto add_linear = [&](const std::string& name, int64_t in, int64_t out) {
        w.add_random(name + ".weight", {out, in}, rng, std);
        w.add_random(name + ".bias", {out}, rng, 0.0f, 0.0f);
    };
    w.add_random("bert.embeddings.word_embeddings.weight", {s.vocab, h}, rng, std);
    w.add_random("bert.embeddings.position_embeddings.weight", {s.max_positions, h}, rng, std);
    w.add_random("bert.embeddings.token_type_embeddings.weight", {s.type_vocab, h}, rng, std);
    add_norm("bert.embeddings.LayerNorm");
    for (int64_t i = 0; i < s.layers; ++i) {
        const std::string p = "bert.encoder.layer." + std::to_string(i) + ".";
        add_linear(p + "attention.self.query", h, h);
        add_linear(p + "attention.self.key", h, h);
        add_linear(p + "attention.self.value", h, h);
        add_linear(p + "attention.output.dense", h, h);
        add_norm(p + "attention.output.LayerNorm");
        add_linear(p + "intermediate.dense", h, s.intermediate);
        add_linear(p + "output.dense", s.intermediate, h);
        add_norm(p + "output.LayerNorm");
    }
    add_linear("bert.pooler.dense", h, h);
    add_linear("cls.predictions.transform.dense", h, h);
    add_norm("cls.predictions.transform.LayerNorm");
    w.add_random("cls.predictions.bias", {s.vocab}, rng, 0.0f, 0.0f);
    w.set_source("random (seed " + std::to_string(seed) + ")");
    return w;
}

}  // namespace gaze
