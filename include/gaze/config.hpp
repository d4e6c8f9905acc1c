#pragma once
// config.json as published with Hugging Face checkpoints, read with
// nlohmann-json. Getters throw gaze::Error naming the file and the key.
#include <cstdint>
#include <initializer_list>
#include <memory>
#include <string>
#include <string_view>

namespace gaze {

class Config {
public:
    static Config load(const std::string& path);
    static Config parse(std::string_view text, const std::string& name);

    const std::string& path() const { return path_; }
    bool has(std::string_view key) const;
    // The first key present among `keys` (families name the same thing differently:
    // "hidden_size" / "dim" / "n_embd").
    int64_t get_int(std::initializer_list<std::string_view> keys) const;
    int64_t get_int(std::string_view key, int64_t fallback) const;
    // A size (layers, width, heads, vocabulary, positions): an integer in
    // [1, 2^31); anything else is an error naming the key and the value.
    int64_t get_size(std::initializer_list<std::string_view> keys) const;
    int64_t get_size(std::string_view key, int64_t fallback) const;
    double get_float(std::string_view key, double fallback) const;
    bool get_bool(std::string_view key, bool fallback) const;
    std::string get_string(std::initializer_list<std::string_view> keys) const;
    std::string get_string(std::string_view key, const std::string& fallback) const;
    std::string dump() const;

private:
    struct Json;
    std::shared_ptr<const Json> json_;
    std::string path_;
};

}  // namespace gaze
