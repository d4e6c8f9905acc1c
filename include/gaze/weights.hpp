#pragma once
// Weights: the named float32 tensors of one model, from a model folder
// (model.safetensors, or sharded model-0000i-of-0000n.safetensors with their
// index) or built in memory (random init). Lookups accept the published
// naming variants, so a Hub folder loads as it is:
//   - a family prefix present or absent ("bert.encoder..." vs "encoder..."),
//   - original TF-era names LayerNorm.gamma / LayerNorm.beta,
//   - tensors the model does not use (heads, buffers) are ignored.
#include <cstdint>
#include <map>
#include <optional>
#include <random>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "gaze/tensor.hpp"

namespace gaze {

// The shard files model.safetensors.index.json (`text`, read from `name`)
// names, as paths under `dir` (checked to exist unless dir is empty). Throws
// gaze::Error naming the index and the tensor: invalid JSON, no weight_map, a
// tensor listed twice, a shard name that is not a plain file name or is missing.
std::vector<std::string> parse_safetensors_index(std::string_view text, const std::string& name,
                                                 const std::string& dir);

class Weights {
public:
    Weights() = default;
    // Opens the safetensors file(s) of a model folder (memory-mapped).
    static Weights open_folder(const std::string& dir);
    static Weights open_file(const std::string& path);

    // Names are tried with each prefix in order ("" = as given).
    void set_prefixes(std::vector<std::string> prefixes) { prefixes_ = std::move(prefixes); }

    // The tensor `name`, checked against `expected` shape; throws naming the
    // source, the tensor and both shapes.
    Tensor get(const std::string& name, const Shape& expected) const;
    std::optional<Tensor> find(const std::string& name) const;
    bool contains(const std::string& name) const { return find(name).has_value(); }

    void add(const std::string& name, Tensor tensor);
    // Adds a tensor of `shape` drawn from N(0, stddev) (or constant `fill` when stddev is 0).
    void add_random(const std::string& name, const Shape& shape, std::mt19937& rng, float stddev, float fill = 0.0f);

    const std::string& source() const { return source_; }
    void set_source(std::string s) { source_ = std::move(s); }
    std::vector<std::string> names() const;
    // The storage dtypes of the float tensors read from files ("F32", "BF16", ...):
    // anything but F32 was converted to float32 on load.
    const std::set<std::string>& stored_dtypes() const { return stored_dtypes_; }
    const std::map<std::string, Tensor>& tensors() const { return tensors_; }

private:
    std::map<std::string, Tensor> tensors_;
    std::map<std::string, std::string> non_float_;
    std::set<std::string> stored_dtypes_;  // name -> dtype, reported if asked for
    std::vector<std::string> prefixes_{""};
    std::string source_ = "<memory>";
};

}  // namespace gaze
