#include "gaze/safetensors.hpp"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <limits>
#include <nlohmann/json.hpp>

namespace gaze {
namespace {

using nlohmann::json;

// Hugging Face's reader refuses headers over 100 MB; so do we, before parsing.
constexpr uint64_t kMaxHeaderBytes = 100ull << 20;

struct Mapping {
    void* address = nullptr;
    size_t size = 0;
    ~Mapping() {
        if (address && size) munmap(address, size);
    }
};

bool parse_dtype(const std::string& s, FileDType& out) {
    static const std::pair<const char*, FileDType> table[] = {
        {"F64", FileDType::F64}, {"F32", FileDType::F32}, {"F16", FileDType::F16}, {"BF16", FileDType::BF16},
        {"I64", FileDType::I64}, {"I32", FileDType::I32}, {"I16", FileDType::I16}, {"I8", FileDType::I8},
        {"U8", FileDType::U8},   {"BOOL", FileDType::BOOL}};
    for (const auto& [name, dtype] : table) {
        if (s == name) {
            out = dtype;
            return true;
        }
    }
    return false;
}

[[noreturn]] void fail(const std::string& file, const std::string& what) { throw Error(file + ": " + what); }

[[noreturn]] void fail_tensor(const std::string& file, const std::string& tensor, const std::string& what) {
    throw Error(file + ": tensor '" + tensor + "': " + what);
}

TensorEntry parse_entry(const std::string& file, const std::string& name, const json& value, size_t data_size) {
    if (!value.is_object()) fail_tensor(file, name, "header entry is not an object");
    TensorEntry e;
    e.name = name;
    const auto dtype = value.find("dtype");
    if (dtype == value.end() || !dtype->is_string()) fail_tensor(file, name, "missing dtype");
    if (!parse_dtype(dtype->get<std::string>(), e.dtype)) {
        fail_tensor(file, name, "unknown dtype '" + dtype->get<std::string>() + "'");
    }
    const auto shape = value.find("shape");
    if (shape == value.end() || !shape->is_array()) fail_tensor(file, name, "missing shape");
    if (shape->size() > static_cast<size_t>(kMaxRank)) fail_tensor(file, name, "rank over 6 is not supported");
    std::vector<int64_t> dims;
    // numel * dtype size, with overflow detection: a hostile shape must not wrap around.
    uint64_t bytes = dtype_size(e.dtype);
    for (const auto& d : *shape) {
        if (!d.is_number_unsigned()) fail_tensor(file, name, "shape entries must be non-negative integers");
        const uint64_t v = d.get<uint64_t>();
        if (v > static_cast<uint64_t>(std::numeric_limits<int64_t>::max()) ||
            (v != 0 && bytes > std::numeric_limits<uint64_t>::max() / v)) {
            fail_tensor(file, name, "shape is too large");
        }
        bytes *= v;
        dims.push_back(static_cast<int64_t>(v));
    }
    e.shape = Shape(dims);
    const auto offsets = value.find("data_offsets");
    if (offsets == value.end() || !offsets->is_array() || offsets->size() != 2 || !(*offsets)[0].is_number_unsigned() ||
        !(*offsets)[1].is_number_unsigned()) {
        fail_tensor(file, name, "data_offsets must be two non-negative integers");
    }
    const uint64_t begin = (*offsets)[0].get<uint64_t>(), end = (*offsets)[1].get<uint64_t>();
    if (begin > end) fail_tensor(file, name, "data_offsets begin " + std::to_string(begin) + " > end " + std::to_string(end));
    if (end > data_size) {
        fail_tensor(file, name, "data_offsets end " + std::to_string(end) + " is past the data section (" +
                                    std::to_string(data_size) + " bytes; file truncated?)");
    }
    if (end - begin != bytes) {
        fail_tensor(file, name, "shape " + e.shape.str() + " x " + dtype_name(e.dtype) + " needs " +
                                    std::to_string(bytes) + " bytes but data_offsets span " +
                                    std::to_string(end - begin));
    }
    e.begin = begin;
    e.end = end;
    return e;
}

}  // namespace

const char* dtype_name(FileDType dtype) {
    switch (dtype) {
        case FileDType::F64: return "F64";
        case FileDType::F32: return "F32";
        case FileDType::F16: return "F16";
        case FileDType::BF16: return "BF16";
        case FileDType::I64: return "I64";
        case FileDType::I32: return "I32";
        case FileDType::I16: return "I16";
        case FileDType::I8: return "I8";
        case FileDType::U8: return "U8";
        case FileDType::BOOL: return "BOOL";
    }
    return "?";
}

size_t dtype_size(FileDType dtype) {
    switch (dtype) {
        case FileDType::F64: case FileDType::I64: return 8;
        case FileDType::F32: case FileDType::I32: return 4;
        case FileDType::F16: case FileDType::BF16: case FileDType::I16: return 2;
        case FileDType::I8: case FileDType::U8: case FileDType::BOOL: return 1;
    }
    return 1;
}

bool dtype_is_float(FileDType dtype) {
    return dtype == FileDType::F64 || dtype == FileDType::F32 || dtype == FileDType::F16 || dtype == FileDType::BF16;
}

SafetensorsFile SafetensorsFile::open(const std::string& path) {
    const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) fail(path, std::string("cannot open: ") + std::strerror(errno));
    struct stat st {};
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        ::close(fd);
        fail(path, "not a regular file");
    }
    auto mapping = std::make_shared<Mapping>();
    mapping->size = static_cast<size_t>(st.st_size);
    if (mapping->size > 0) {
        void* address = mmap(nullptr, mapping->size, PROT_READ, MAP_PRIVATE, fd, 0);
        if (address == MAP_FAILED) {
            ::close(fd);
            fail(path, std::string("cannot memory-map: ") + std::strerror(errno));
        }
        mapping->address = address;
    }
    ::close(fd);
    const auto* bytes = static_cast<const uint8_t*>(mapping->address);
    return from_bytes(mapping, bytes, mapping->size, path);
}

SafetensorsFile SafetensorsFile::parse(std::span<const uint8_t> bytes, const std::string& name) {
    auto buffer = std::make_shared<std::vector<uint8_t>>(bytes.begin(), bytes.end());
    return from_bytes(buffer, buffer->data(), buffer->size(), name);
}

SafetensorsFile SafetensorsFile::from_bytes(std::shared_ptr<const void> owner, const uint8_t* data, size_t size,
                                            const std::string& name) {
    if (size < 8) fail(name, "file is " + std::to_string(size) + " bytes, too short for a safetensors header");
    uint64_t header_len = 0;
    for (int i = 7; i >= 0; --i) header_len = header_len << 8 | data[i];
    if (header_len > size - 8) {
        fail(name, "header length " + std::to_string(header_len) + " exceeds the file size " + std::to_string(size) +
                       " (truncated or not a safetensors file)");
    }
    if (header_len > kMaxHeaderBytes) fail(name, "header length " + std::to_string(header_len) + " exceeds 100 MB");
    const char* header_begin = reinterpret_cast<const char*>(data + 8);
    json header = json::parse(header_begin, header_begin + header_len, nullptr, /*allow_exceptions=*/false);
    if (header.is_discarded()) fail(name, "header is not valid JSON");
    if (!header.is_object()) fail(name, "header is not a JSON object");

    SafetensorsFile file;
    file.path_ = name;
    file.owner_ = std::move(owner);
    file.data_section_ = data + 8 + header_len;
    const size_t data_size = size - 8 - static_cast<size_t>(header_len);
    for (const auto& [key, value] : header.items()) {
        if (key == "__metadata__") {
            if (!value.is_object()) fail(name, "__metadata__ is not an object");
            for (const auto& [mk, mv] : value.items()) {
                if (!mv.is_string()) fail(name, "__metadata__ value '" + mk + "' is not a string");
                file.metadata_[mk] = mv.get<std::string>();
            }
            continue;
        }
        file.entries_.push_back(parse_entry(name, key, value, data_size));
    }
    // Ranges must not overlap: two tensors sharing bytes means a corrupt header.
    std::vector<const TensorEntry*> by_offset;
    for (const auto& e : file.entries_) by_offset.push_back(&e);
    std::sort(by_offset.begin(), by_offset.end(), [](const TensorEntry* a, const TensorEntry* b) {
        return a->begin != b->begin ? a->begin < b->begin : a->end < b->end;
    });
    for (size_t i = 1; i < by_offset.size(); ++i) {
        if (by_offset[i]->begin < by_offset[i - 1]->end) {
            fail_tensor(name, by_offset[i]->name, "data range overlaps tensor '" + by_offset[i - 1]->name + "'");
        }
    }
    std::sort(file.entries_.begin(), file.entries_.end(),
              [](const TensorEntry& a, const TensorEntry& b) { return a.name < b.name; });
    return file;
}

const TensorEntry* SafetensorsFile::find(const std::string& name) const {
    auto it = std::lower_bound(entries_.begin(), entries_.end(), name,
                               [](const TensorEntry& e, const std::string& n) { return e.name < n; });
    return it != entries_.end() && it->name == name ? &*it : nullptr;
}

std::span<const uint8_t> SafetensorsFile::bytes(const TensorEntry& e) const {
    return {data_section_ + e.begin, e.end - e.begin};
}

Tensor SafetensorsFile::load(const std::string& name) const {
    const TensorEntry* e = find(name);
    if (!e) fail_tensor(path_, name, "not in the file");
    return load(*e);
}

Tensor SafetensorsFile::view(const TensorEntry& e) const {
    const uint8_t* src = data_section_ + e.begin;
    if ((e.dtype == FileDType::BF16 || e.dtype == FileDType::F16) && reinterpret_cast<uintptr_t>(src) % 2 == 0) {
        // Zero-copy, in the stored dtype: a bf16 checkpoint is used as bf16.
        return Tensor::view_raw(src, e.dtype == FileDType::BF16 ? DType::bf16 : DType::f16, e.shape, owner_);
    }
    return load(e);
}

Tensor SafetensorsFile::load(const TensorEntry& e) const {
    if (!dtype_is_float(e.dtype)) {
        fail_tensor(path_, e.name, std::string("dtype ") + dtype_name(e.dtype) + " is not a floating-point type");
    }
    const uint8_t* src = data_section_ + e.begin;
    const int64_t n = e.shape.numel();
    if (e.dtype == FileDType::F32 && reinterpret_cast<uintptr_t>(src) % alignof(float) == 0) {
        // Zero-copy: the tensor views the read-only mapping (never written to).
        return Tensor::view(const_cast<float*>(reinterpret_cast<const float*>(src)), e.shape, owner_);
    }
    Tensor t(e.shape);
    float* dst = t.data();
    for (int64_t i = 0; i < n; ++i) {
        switch (e.dtype) {
            case FileDType::F32: std::memcpy(&dst[i], src + 4 * i, 4); break;
            case FileDType::F64: {
                double v;
                std::memcpy(&v, src + 8 * i, 8);
                dst[i] = static_cast<float>(v);
                break;
            }
            case FileDType::F16: case FileDType::BF16: {
                uint16_t v;
                std::memcpy(&v, src + 2 * i, 2);
                dst[i] = e.dtype == FileDType::F16 ? half_to_float(v) : bf16_to_float(v);
                break;
            }
            default: break;
        }
    }
    return t;
}

void write_safetensors(const std::string& path, const std::vector<std::pair<std::string, Tensor>>& tensors,
                       const std::map<std::string, std::string>& metadata) {
    json header = json::object();
    if (!metadata.empty()) header["__metadata__"] = metadata;
    size_t offset = 0;
    for (const auto& [name, t] : tensors) {
        if (header.contains(name)) throw Error(path + ": duplicate tensor name '" + name + "'");
        if (t.dtype() == DType::i8) throw Error(path + ": tensor '" + name + "' is int8 (its scales have no place in the file)");
        const size_t bytes = t.nbytes();
        const char* stored = t.dtype() == DType::bf16 ? "BF16" : t.dtype() == DType::f16 ? "F16" : "F32";
        header[name] = {{"dtype", stored}, {"shape", t.shape().to_vector()}, {"data_offsets", {offset, offset + bytes}}};
        offset += bytes;
    }
    std::string text = header.dump();
    text.append((8 - text.size() % 8) % 8, ' ');  // keeps the data section 8-byte aligned
    std::ofstream out(path, std::ios::binary | std::ios::trunc);
    if (!out) throw Error(path + ": cannot open for writing");
    uint64_t len = text.size();
    unsigned char len_bytes[8];
    for (int i = 0; i < 8; ++i) len_bytes[i] = static_cast<unsigned char>(len >> (8 * i));
    out.write(reinterpret_cast<const char*>(len_bytes), 8);
    out.write(text.data(), static_cast<std::streamsize>(text.size()));
    for (const auto& [name, t] : tensors) {
        const Tensor c = t.is_contiguous() ? t : t.clone();
        out.write(static_cast<const char*>(c.raw()), static_cast<std::streamsize>(c.nbytes()));
    }
    if (!out) throw Error(path + ": write failed");
}

}  // namespace gaze
