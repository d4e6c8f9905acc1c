#pragma once
// Will a model fit in memory? load_model() asks before it reads a weight:
// from the safetensors headers alone (nothing mapped in, nothing allocated)
// it works out what the weights take once converted to the compute dtype and
// compares that with the memory the machine can give (MemAvailable of
// /proc/meminfo, lowered to what the cgroup limit leaves, if there is one).
// A model that does not fit is refused with both numbers and the smaller
// dtypes that would fit; GAZE_ALLOW_SWAP=1 in the environment proceeds
// anyway. It also refuses a config.json whose sizes disagree with the
// tensors' shapes (hidden size, vocabulary) before anything is allocated.
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "gaze/config.hpp"
#include "gaze/safetensors.hpp"

namespace gaze {

// Memory a new allocation can get now, and where the figure comes from.
struct AvailableMemory {
    uint64_t bytes = 0;
    std::string source;  // "MemAvailable in /proc/meminfo", "cgroup limit (memory.max - memory.current)"
};

// MemAvailable of a /proc/meminfo text, in bytes (nullopt: no such line).
std::optional<uint64_t> parse_meminfo_available(std::string_view meminfo);
// A cgroup limit file's value in bytes ("max", or v1's near-2^63 "no limit": nullopt).
std::optional<uint64_t> parse_cgroup_limit(std::string_view text);
// Reads `root`/proc/meminfo and the cgroup v2 (`root`/sys/fs/cgroup/memory.max,
// memory.current) or v1 (memory/memory.limit_in_bytes, usage_in_bytes) files;
// `root` is "" on a real system (tests point it at a fake tree). The smaller
// figure wins. Throws gaze::Error when /proc/meminfo cannot be read.
AvailableMemory available_memory(const std::string& root = "");

// Bytes the float tensors take once loaded with matrices (2-D and up) stored
// at `matrix_element_bytes` each (4: f32, 2: bf16, 1: int8 plus one f32 scale
// per row); embedding tables go to bf16, never int8; vectors (biases, norms)
// stay f32. Integer tensors are skipped (the models do not load them).
uint64_t loaded_weights_bytes(const std::vector<TensorEntry>& entries, size_t matrix_element_bytes);

// loaded_weights_bytes over the safetensors headers of a model folder.
uint64_t folder_weights_bytes(const std::string& dir, size_t matrix_element_bytes);

// "1.5 GiB", "640.0 MiB", "12 KiB": for messages.
std::string format_bytes(uint64_t bytes);

// Throws gaze::Error when `need` bytes of weights (at `dtype_name`) exceed
// `have`: the message names the folder, both numbers, the smaller dtypes that
// would fit (`alternatives`: name -> bytes needed) and GAZE_ALLOW_SWAP=1.
struct DtypeNeed {
    std::string dtype_name;  // "bf16", "int8"
    uint64_t bytes = 0;
};
void check_memory_fit(const std::string& dir, const std::string& dtype_name, uint64_t need,
                      const std::vector<DtypeNeed>& alternatives, const AvailableMemory& have);

// Throws gaze::Error when the config's hidden size or vocabulary disagree with
// the shape of the word-embedding tensor (the one every family has), naming
// the config field, its value, the tensor and its shape. No embedding tensor
// found, or no such config field: nothing to compare, no error.
void check_config_matches_tensors(const Config& config, const std::vector<TensorEntry>& entries,
                                  const std::string& weights_source);

// What load_model runs before opening the weights: the headers of the
// folder's safetensors file(s) (validated, not loaded), the config check, and
// (unless allow_swap) the memory check for matrices at `matrix_element_bytes`.
void check_before_loading(const std::string& dir, const Config& config, size_t matrix_element_bytes,
                          const std::string& dtype_name, bool allow_swap);

}  // namespace gaze
