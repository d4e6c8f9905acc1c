#pragma once
// EncoderModel: the forward pass shared by BERT-style encoders:
//   embeddings -> LN -> post-norm encoder layers -> (pooler) -> (masked-LM head)
// Families (bert.cpp, distilbert.cpp) describe their names and parts in an
// EncoderModelParts and get a gaze::Model.
#include <memory>
#include <optional>

#include "gaze/model.hpp"
#include "gaze/models/post_norm_encoder.hpp"

namespace gaze {

struct EncoderModelParts {
    ModelInfo info;
    Tensor word_embeddings, position_embeddings;
    std::optional<Tensor> token_type_embeddings;  // BERT segments; DistilBERT has none
    LayerNorm embedding_norm;
    PostNormEncoder encoder;
    std::optional<Linear> pooler;                 // tanh(W h_[CLS] + b)
    std::optional<MaskedLMHead> lm_head;
};

// Fills parts.info from the encoder shape and the loaded parts (heads present).
void describe_encoder_model(EncoderModelParts& parts, const std::string& family, const EncoderShape& shape,
                            const Weights& weights);

std::unique_ptr<Model> make_encoder_model(EncoderModelParts parts);

}  // namespace gaze
