#pragma once
// The weight files of a model folder, without opening them: what
// Weights::open_folder reads and what the memory check (memory_fit.hpp) sizes.
#include <string>
#include <vector>

namespace gaze {

// model.safetensors, or the shards named by model.safetensors.index.json.
// Throws gaze::Error naming the folder (or the index) when there are none.
std::vector<std::string> model_weight_files(const std::string& dir);

}  // namespace gaze
