#pragma once
// T5 (Raffel et al., 2020): T5ForConditionalGeneration checkpoints, v1.0
// (t5-small: ReLU feed-forward, lm_head tied to the embeddings) and v1.1 /
// flan-t5 (gated-GELU feed-forward, untied lm_head).
#include <cstdint>
#include <memory>

#include "gaze/model.hpp"

namespace gaze {

// From a Hub folder's config.json and weights. The model is a Seq2SeqModel
// (gaze/seq2seq.hpp). info().max_positions is config n_positions (0 when
// absent: relative positions have no hard limit).
std::unique_ptr<Model> make_t5(const Config& config, Weights weights);

// T5's relative position bucket (Raffel et al., section 2.1): exact buckets
// for small distances, logarithmic ones up to max_distance, one past it.
// relative_position = key position - query position. Bidirectional (encoder):
// half the buckets for keys after the query; otherwise (decoder) only the past.
int64_t t5_relative_position_bucket(int64_t relative_position, bool bidirectional, int64_t num_buckets,
                                    int64_t max_distance);

struct T5Shape {
    int64_t layers = 6, decoder_layers = 6, d_model = 512, d_kv = 64, heads = 8, d_ff = 2048;
    int64_t vocab = 32128, buckets = 32, max_distance = 128;
    bool gated = false;  // v1.1: gated-GELU feed-forward and an untied lm_head
};
// A randomly initialised T5 (as HF initialises it) for benchmarks; t5-small's shape by default.
Config t5_config(const T5Shape& shape);
Weights random_t5_weights(const T5Shape& shape, uint32_t seed);

}  // namespace gaze
