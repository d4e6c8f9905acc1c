#include "gaze/weights.hpp"

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <iterator>
#include <set>

#include "gaze/model_files.hpp"
#include "gaze/safetensors.hpp"

namespace gaze {
namespace {

namespace fs = std::filesystem;

// TF-era BERT checkpoints (bert-base-uncased among them) name layer-norm
// parameters gamma/beta; PyTorch names them weight/bias.
std::string canonical_name(const std::string& name) {
    auto ends_with = [&](const std::string& suffix) {
        return name.size() >= suffix.size() && name.compare(name.size() - suffix.size(), suffix.size(), suffix) == 0;
    };
    if (ends_with(".gamma")) return name.substr(0, name.size() - 6) + ".weight";
    if (ends_with(".beta")) return name.substr(0, name.size() - 5) + ".bias";
    return name;
}

// The shards of a sharded checkpoint, from model.safetensors.index.json
// ({"weight_map": {tensor: shard file}}): every file named must be a plain
// file name that exists, and no tensor may be listed twice.
std::vector<std::string> index_shards(const fs::path& index) {
    std::ifstream in(index);
    if (!in) throw Error(index.string() + ": cannot open file");
    const std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    return parse_safetensors_index(text, index.string(), index.parent_path().string());
}

std::vector<std::string> shard_files(const fs::path& dir) {
    const fs::path index = dir / "model.safetensors.index.json";
    if (fs::exists(index)) return index_shards(index);
    if (fs::exists(dir / "model.safetensors")) return {(dir / "model.safetensors").string()};
    if (fs::exists(dir / "pytorch_model.bin")) {
        throw Error(dir.string() + ": only pytorch_model.bin found; convert it with weights/convert_pytorch_bin.py " +
                    dir.string());
    }
    throw Error(dir.string() + ": no model.safetensors (or sharded index) in this folder");
}

}  // namespace

std::vector<std::string> parse_safetensors_index(std::string_view text, const std::string& name,
                                                 const std::string& dir) {
    // The duplicate check needs every key as written: nlohmann's parser keeps
    // only the last of repeated keys, so parse through a callback that sees them all.
    std::set<std::string> seen;
    std::string duplicate;
    bool in_weight_map = false;
    const auto json = nlohmann::json::parse(
        text,
        [&](int d, nlohmann::json::parse_event_t event, nlohmann::json& parsed) {
            if (event == nlohmann::json::parse_event_t::key) {
                if (d == 1) {
                    in_weight_map = parsed.get<std::string>() == "weight_map";
                } else if (d == 2 && in_weight_map && !seen.insert(parsed.get<std::string>()).second &&
                           duplicate.empty()) {
                    duplicate = parsed.get<std::string>();
                }
            }
            return true;
        },
        /*allow_exceptions=*/false);
    if (json.is_discarded() || !json.is_object()) throw Error(name + ": invalid JSON");
    const auto map = json.find("weight_map");
    if (map == json.end() || !map->is_object()) throw Error(name + ": not a valid safetensors index (no weight_map object)");
    if (!duplicate.empty()) throw Error(name + ": tensor '" + duplicate + "' is listed twice in weight_map");
    if (map->empty()) throw Error(name + ": weight_map is empty");
    std::set<std::string> files;
    for (const auto& [tensor, file] : map->items()) {
        if (!file.is_string()) throw Error(name + ": weight_map entry '" + tensor + "' is not a file name");
        const std::string f = file.get<std::string>();
        if (f.empty() || f.find('/') != std::string::npos || f.find('\\') != std::string::npos || f == "." || f == "..") {
            throw Error(name + ": shard name '" + f + "' of tensor '" + tensor + "' must be a plain file name");
        }
        const fs::path path = fs::path(dir) / f;
        if (!dir.empty() && !fs::is_regular_file(path)) {
            throw Error(name + ": shard '" + f + "' (holding tensor '" + tensor + "') is missing");
        }
        files.insert(path.string());
    }
    return {files.begin(), files.end()};
}

Weights Weights::open_file(const std::string& path) {
    Weights w;
    w.source_ = path;
    SafetensorsFile file = SafetensorsFile::open(path);
    for (const auto& e : file.entries()) {
        if (!dtype_is_float(e.dtype)) {
            w.non_float_[canonical_name(e.name)] = dtype_name(e.dtype);
            continue;
        }
        w.tensors_[canonical_name(e.name)] = file.view(e);
        w.stored_dtypes_.insert(dtype_name(e.dtype));
    }
    return w;
}

std::vector<std::string> model_weight_files(const std::string& dir) {
    if (!fs::is_directory(dir)) throw Error(dir + ": not a directory");
    return shard_files(dir);
}

Weights Weights::open_folder(const std::string& dir) {
    if (!fs::is_directory(dir)) throw Error(dir + ": not a directory");
    Weights all;
    const auto files = shard_files(dir);
    all.source_ = files.size() == 1 ? files[0] : dir;
    for (const auto& f : files) {
        Weights part = open_file(f);
        for (const auto& [name, tensor] : part.tensors_) {
            if (all.tensors_.count(name)) throw Error(f + ": tensor '" + name + "' is also in another shard");
        }
        all.tensors_.merge(part.tensors_);
        all.non_float_.merge(part.non_float_);
        all.stored_dtypes_.merge(part.stored_dtypes_);
    }
    return all;
}

std::optional<Tensor> Weights::find(const std::string& name) const {
    for (const auto& prefix : prefixes_) {
        auto it = tensors_.find(prefix + name);
        if (it != tensors_.end()) return it->second.to_float();
    }
    return std::nullopt;
}

const Tensor& Weights::stored(const std::string& name, const Shape& expected) const {
    for (const auto& prefix : prefixes_) {
        auto it = tensors_.find(prefix + name);
        if (it == tensors_.end()) {
            auto nf = non_float_.find(prefix + name);
            if (nf != non_float_.end()) {
                throw Error(source_ + ": tensor '" + prefix + name + "' has dtype " + nf->second + ", expected a float type");
            }
            continue;
        }
        if (it->second.shape() != expected) {
            throw Error(source_ + ": tensor '" + it->first + "' has shape " + it->second.shape().str() + ", expected " +
                        expected.str());
        }
        return it->second;
    }
    std::string tried;
    for (const auto& prefix : prefixes_) tried += (tried.empty() ? "'" : ", '") + prefix + name + "'";
    throw Error(source_ + ": missing tensor '" + name + "' (looked for " + tried + ")");
}

Tensor Weights::get(const std::string& name, const Shape& expected) const { return stored(name, expected).to_float(); }

namespace {

// A converted copy replaces the stored bytes: when those are a memory-mapped
// file's, they need not stay resident (an int8 model read from bf16 then holds
// its int8 weights, not the file's pages too).
Tensor replacing(const Tensor& stored, Tensor converted) {
    if (converted.raw() != stored.raw()) stored.release_mapped_pages();
    return converted;
}

}  // namespace

Tensor Weights::get_matrix(const std::string& name, const Shape& expected) const {
    const Tensor& t = stored(name, expected);
    switch (matrix_dtype_) {
        case DType::f32: return replacing(t, t.to_float());
        case DType::bf16: return t.dtype() == DType::bf16 ? t : replacing(t, t.to(DType::bf16));
        case DType::i8: return replacing(t, quantize_rows(t, source_ + ": tensor '" + name + "'"));
        case DType::f16: break;
    }
    throw Error(std::string("get_matrix: f16 is a storage dtype, not a compute dtype"));
}

Tensor Weights::get_table(const std::string& name, const Shape& expected) const {
    const Tensor& t = stored(name, expected);
    if (table_dtype() == DType::f32) return replacing(t, t.to_float());
    return t.dtype() == DType::bf16 ? t : replacing(t, t.to(DType::bf16));
}

void Weights::add(const std::string& name, Tensor tensor) { tensors_[name] = std::move(tensor); }

void Weights::add_random(const std::string& name, const Shape& shape, std::mt19937& rng, float stddev, float fill) {
    Tensor t(shape);
    if (stddev == 0.0f) {
        t.fill(fill);
    } else {
        std::normal_distribution<float> dist(0.0f, stddev);
        for (int64_t i = 0; i < t.numel(); ++i) t.data()[i] = dist(rng);
    }
    tensors_[name] = std::move(t);
}

std::vector<std::string> Weights::names() const {
    std::vector<std::string> out;
    for (const auto& [name, t] : tensors_) out.push_back(name);
    return out;
}

}  // namespace gaze
