#pragma once
// BERT (Devlin et al., 2019) and DistilBERT (Sanh et al., 2019).
#include <cstdint>
#include <memory>

#include "gaze/model.hpp"

namespace gaze {

// From a Hub folder's config.json and weights (prefix "bert." / "distilbert."
// optional; MLM head used when its tensors are present).
std::unique_ptr<Model> make_bert(const Config& config, Weights weights);
std::unique_ptr<Model> make_distilbert(const Config& config, Weights weights);

struct BertShape {
    int64_t layers = 12, hidden = 768, heads = 12, intermediate = 3072;
    int64_t vocab = 30522, max_positions = 512, type_vocab = 2;
};
// A randomly initialised BERT (N(0, 0.02) weights, as HF initialises), with
// pooler and MLM head: for benchmarks and for looking at an untrained model.
Config bert_config(const BertShape& shape);
Weights random_bert_weights(const BertShape& shape, uint32_t seed);

}  // namespace gaze
