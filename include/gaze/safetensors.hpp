#pragma once
// safetensors: the weight format Hugging Face publishes.
//   [u64 little-endian header length N][N bytes of JSON header][data section]
// The header maps tensor names to {dtype, shape, data_offsets [begin, end)}
// relative to the data section. The reader memory-maps the file, validates
// every entry before any is used, and fails with one message naming the file
// and the tensor.
#include <cstddef>
#include <cstdint>
#include <map>
#include <memory>
#include <span>
#include <string>
#include <utility>
#include <vector>

#include "gaze/tensor.hpp"

namespace gaze {

enum class FileDType { F64, F32, F16, BF16, I64, I32, I16, I8, U8, BOOL };

const char* dtype_name(FileDType dtype);
size_t dtype_size(FileDType dtype);
bool dtype_is_float(FileDType dtype);

struct TensorEntry {
    std::string name;
    FileDType dtype = FileDType::F32;
    Shape shape;
    size_t begin = 0;  // byte offsets into the data section
    size_t end = 0;
};

class SafetensorsFile {
public:
    // Memory-maps and validates `path`. Throws gaze::Error naming the file.
    static SafetensorsFile open(const std::string& path);
    // Validates an in-memory image (used by the fuzzer and tests). The bytes
    // are copied, so `bytes` need not outlive the result.
    static SafetensorsFile parse(std::span<const uint8_t> bytes, const std::string& name);

    const std::string& path() const { return path_; }
    const std::vector<TensorEntry>& entries() const { return entries_; }
    const std::map<std::string, std::string>& metadata() const { return metadata_; }
    const TensorEntry* find(const std::string& name) const;

    // The tensor as float32: a zero-copy view of the mapping for aligned F32
    // data, a converted copy for F16/BF16/F64. Throws for integer dtypes.
    Tensor load(const std::string& name) const;
    Tensor load(const TensorEntry& entry) const;
    // The tensor in its stored dtype where a Tensor can hold it: BF16 and F16
    // as zero-copy views of the mapping, F32 as load() does, F64 converted.
    Tensor view(const TensorEntry& entry) const;
    // Raw bytes of a tensor (any dtype).
    std::span<const uint8_t> bytes(const TensorEntry& entry) const;

private:
    std::string path_;
    std::shared_ptr<const void> owner_;  // the mapping or buffer
    const uint8_t* data_section_ = nullptr;
    std::vector<TensorEntry> entries_;  // sorted by name
    std::map<std::string, std::string> metadata_;

    static SafetensorsFile from_bytes(std::shared_ptr<const void> owner, const uint8_t* data, size_t size,
                                      const std::string& name);
};

// Writes f32, bf16 or f16 tensors (in the given order, each in its dtype) with
// optional string metadata.
void write_safetensors(const std::string& path, const std::vector<std::pair<std::string, Tensor>>& tensors,
                       const std::map<std::string, std::string>& metadata = {});


}  // namespace gaze
