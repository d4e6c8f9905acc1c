#pragma once
// Accuracy of a lower precision: one input through the same model folder in
// f32 and in bf16 / int8, compared layer by layer. What `gaze accuracy`
// prints and the precision tests bound (docs/precision.md).
#include <string>
#include <vector>

#include "gaze/model.hpp"

namespace gaze {

struct LayerAccuracy {
    std::string site;                 // "encoder self layer 3", "decoder cross layer 0", "layer 2"
    double attention_max_diff = 0.0;  // max |p_low - p_f32| over heads, rows, keys
    double hidden_max_diff = 0.0;     // max |h_low - h_f32| of the layer's output (where the model returns it)
    double hidden_scale = 0.0;        // max |h_f32| (so the diff can be read relative)
};

struct AccuracyReport {
    DType dtype = DType::f32;
    std::vector<LayerAccuracy> layers;
    double attention_max_diff = 0.0;   // over every layer
    double hidden_max_relative = 0.0;  // max over layers of hidden_max_diff / hidden_scale
    int64_t positions = 0;             // logit positions compared
    int64_t top1_agree = 0;            // positions where both pick the same token
    int64_t confident = 0;             // positions where f32's top-1 beats its second by > margin
    int64_t confident_agree = 0;       // ... and the low precision agrees there
    double margin = 0.5;
};

// Runs `input` (and `target`, the decoder input of an encoder-decoder model)
// through `dir` loaded in f32 and in `dtype`, recording every attention.
AccuracyReport compare_precision(const std::string& dir, DType dtype, const Tokens& input, const Tokens* target = nullptr,
                                 double margin = 0.5);

}  // namespace gaze
