#pragma once
// The classic Transformer (Vaswani et al., 2017, "Attention Is All You Need"),
// model_type "transformer": checkpoints converted from CTranslate2 /
// OpenNMT-tf (tensor names like "encoder/layer_0/self_attention/linear_0/weight").
#include <memory>

#include "gaze/model.hpp"

namespace gaze {

// From a model folder's config.json and weights (see
// ../shared/models/aren-transliteration/README.md for the conventions). The
// decoder start and end tokens are named in config.json and looked up in
// target_vocabulary.txt beside it (or given as decoder_start_token_id /
// eos_token_id). The model is a Seq2SeqModel (gaze/seq2seq.hpp).
std::unique_ptr<Model> make_transformer(const Config& config, Weights weights);

}  // namespace gaze
