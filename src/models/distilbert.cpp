// DistilBERT: BERT with half the layers, no token types, no pooler; the same
// post-norm block under other names (q_lin, sa_layer_norm, ffn.lin1, ...).
#include "gaze/models/bert.hpp"
#include "gaze/models/encoder_model.hpp"

namespace gaze {

std::unique_ptr<Model> make_distilbert(const Config& config, Weights w) {
    w.set_prefixes({"distilbert.", ""});
    EncoderShape shape;
    shape.layers = config.get_size({"n_layers", "num_hidden_layers"});
    shape.hidden = config.get_size({"dim", "hidden_size"});
    shape.heads = config.get_size({"n_heads", "num_attention_heads"});
    shape.intermediate = config.get_size({"hidden_dim", "intermediate_size"});
    shape.norm_eps = 1e-12f;  // fixed in DistilBERT's code, not in its config
    shape.activation = parse_activation(config.get_string("activation", "gelu"), config.path());
    if (shape.hidden % shape.heads != 0) {
        throw Error(config.path() + ": dim is not a multiple of n_heads");
    }
    // sinusoidal_pos_embds needs no code: HF writes the sinusoidal table into
    // position_embeddings.weight, so it loads like a learned table.
    const int64_t h = shape.hidden, vocab = config.get_size({"vocab_size"});
    const int64_t positions = config.get_size("max_position_embeddings", 512);

    EncoderModelParts p;
    p.word_embeddings = w.get_table("embeddings.word_embeddings.weight", {vocab, h});
    p.position_embeddings = w.get("embeddings.position_embeddings.weight", {positions, h});
    p.embedding_norm = LayerNorm::load(w, "embeddings.LayerNorm", h, shape.norm_eps);
    p.encoder.load(w,
                   {"transformer.layer.{}.", "attention.q_lin", "attention.k_lin", "attention.v_lin",
                    "attention.out_lin", "sa_layer_norm", "ffn.lin1", "ffn.lin2", "output_layer_norm"},
                   shape);
    if (w.contains("vocab_transform.weight")) {
        MaskedLMHead head;
        head.transform = Linear::load(w, "vocab_transform", h, h);
        head.norm = LayerNorm::load(w, "vocab_layer_norm", h, shape.norm_eps);
        head.activation = shape.activation;
        head.decoder.weight = w.contains("vocab_projector.weight") ? w.get_matrix("vocab_projector.weight", {vocab, h})
                                                                   : p.word_embeddings;
        head.decoder.bias = w.get("vocab_projector.bias", {vocab});
        p.lm_head = std::move(head);
    }

    describe_encoder_model(p, "distilbert", shape, w);
    return make_encoder_model(std::move(p));
}

}  // namespace gaze
