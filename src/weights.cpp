#include "gaze/weights.hpp"

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
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

std::vector<std::string> shard_files(const fs::path& dir) {
    const fs::path index = dir / "model.safetensors.index.json";
    if (fs::exists(index)) {
        std::ifstream in(index);
        auto json = nlohmann::json::parse(in, nullptr, false);
        if (json.is_discarded() || !json.contains("weight_map") || !json["weight_map"].is_object()) {
            throw Error(index.string() + ": not a valid safetensors index (no weight_map object)");
        }
        std::set<std::string> files;
        for (const auto& [name, file] : json["weight_map"].items()) {
            if (!file.is_string()) throw Error(index.string() + ": weight_map entry '" + name + "' is not a file name");
            const std::string f = file.get<std::string>();
            if (f.find('/') != std::string::npos || f.find("..") != std::string::npos) {
                throw Error(index.string() + ": shard name '" + f + "' must be a plain file name");
            }
            files.insert((dir / f).string());
        }
        return {files.begin(), files.end()};
    }
    if (fs::exists(dir / "model.safetensors")) return {(dir / "model.safetensors").string()};
    if (fs::exists(dir / "pytorch_model.bin")) {
        throw Error(dir.string() + ": only pytorch_model.bin found; convert it with weights/convert_pytorch_bin.py " +
                    dir.string());
    }
    throw Error(dir.string() + ": no model.safetensors (or sharded index) in this folder");
}

}  // namespace

Weights Weights::open_file(const std::string& path) {
    Weights w;
    w.source_ = path;
    SafetensorsFile file = SafetensorsFile::open(path);
    for (const auto& e : file.entries()) {
        if (!dtype_is_float(e.dtype)) {
            w.non_float_[canonical_name(e.name)] = dtype_name(e.dtype);
            continue;
        }
        w.tensors_[canonical_name(e.name)] = file.load(e);
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
        all.tensors_.merge(part.tensors_);
        all.non_float_.merge(part.non_float_);
    }
    return all;
}

std::optional<Tensor> Weights::find(const std::string& name) const {
    for (const auto& prefix : prefixes_) {
        auto it = tensors_.find(prefix + name);
        if (it != tensors_.end()) return it->second;
    }
    return std::nullopt;
}

Tensor Weights::get(const std::string& name, const Shape& expected) const {
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
