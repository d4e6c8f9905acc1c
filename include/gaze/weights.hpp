#pragma once
// Weights: the named float tensors of one model, from a model folder
// (model.safetensors, or sharded model-0000i-of-0000n.safetensors with their
// index) or built in memory (random init). File tensors stay in the dtype they
// are stored in (bf16 / f16 as views of the mapping); each lookup says what it
// needs: get() hands out f32 (norms, biases, small tables), get_matrix() the
// weights of a linear layer in the compute dtype (set_matrix_dtype), and
// get_table() an embedding table (bf16 whenever the compute dtype is not f32:
// a table is gathered, not multiplied, so it is never quantised). Lookups accept the published
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

    // The tensor `name` as f32, checked against `expected` shape; throws naming
    // the source, the tensor and both shapes.
    Tensor get(const std::string& name, const Shape& expected) const;
    // A linear layer's weight in the compute dtype: f32 as get(); bf16 as the
    // file's own bytes when stored bf16 (no copy), else converted; int8
    // quantised per row. Layout is the caller's (the shape says).
    Tensor get_matrix(const std::string& name, const Shape& expected) const;
    // An embedding table: f32 when computing in f32, else bf16 (as stored, or converted).
    Tensor get_table(const std::string& name, const Shape& expected) const;
    std::optional<Tensor> find(const std::string& name) const;  // as f32

    // The dtype get_matrix() returns (default f32).
    void set_matrix_dtype(DType dtype) { matrix_dtype_ = dtype; }
    // The same tensors (shared, not copied) handing out matrices in `dtype`:
    // for layers a family keeps at a higher precision than asked.
    Weights with_matrix_dtype(DType dtype) const {
        Weights w = *this;
        w.matrix_dtype_ = dtype;
        return w;
    }
    DType matrix_dtype() const { return matrix_dtype_; }
    DType table_dtype() const { return matrix_dtype_ == DType::f32 ? DType::f32 : DType::bf16; }
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
    // Every tensor as stored (f32, bf16 or f16 views; F64 converted to f32).
    const std::map<std::string, Tensor>& tensors() const { return tensors_; }

private:
    // The stored tensor `name` (shape-checked), before any conversion.
    const Tensor& stored(const std::string& name, const Shape& expected) const;
    DType matrix_dtype_ = DType::f32;
    std::map<std::string, Tensor> tensors_;
    std::map<std::string, std::string> non_float_;
    std::set<std::string> stored_dtypes_;  // name -> dtype, reported if asked for
    std::vector<std::string> prefixes_{""};
    std::string source_ = "<memory>";
};

}  // namespace gaze
