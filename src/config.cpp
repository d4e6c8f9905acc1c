#include "gaze/config.hpp"

#include <fstream>
#include <limits>
#include <nlohmann/json.hpp>
#include <sstream>

#include "gaze/error.hpp"

namespace gaze {

struct Config::Json {
    nlohmann::json value;
};

namespace {

std::string join_keys(std::initializer_list<std::string_view> keys) {
    std::string s;
    for (auto k : keys) s += (s.empty() ? "'" : " / '") + std::string(k) + "'";
    return s;
}

}  // namespace

Config Config::load(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    if (!in) throw Error(path + ": cannot open");
    std::stringstream buffer;
    buffer << in.rdbuf();
    return parse(buffer.str(), path);
}

Config Config::parse(std::string_view text, const std::string& name) {
    auto json = std::make_shared<Json>();
    json->value = nlohmann::json::parse(text.begin(), text.end(), nullptr, /*allow_exceptions=*/false);
    if (json->value.is_discarded()) throw Error(name + ": not valid JSON");
    if (!json->value.is_object()) throw Error(name + ": expected a JSON object");
    Config c;
    c.json_ = std::move(json);
    c.path_ = name;
    return c;
}

bool Config::has(std::string_view key) const {
    auto it = json_->value.find(key);
    return it != json_->value.end() && !it->is_null();
}

int64_t Config::get_int(std::initializer_list<std::string_view> keys) const {
    for (auto key : keys) {
        auto it = json_->value.find(key);
        if (it == json_->value.end() || it->is_null()) continue;
        if (!it->is_number_integer()) throw Error(path_ + ": '" + std::string(key) + "' must be an integer");
        // Unsigned values past int64 would wrap to negative sizes.
        if (it->is_number_unsigned() &&
            it->get<uint64_t>() > static_cast<uint64_t>(std::numeric_limits<int64_t>::max())) {
            throw Error(path_ + ": '" + std::string(key) + "' is out of range (" + std::to_string(it->get<uint64_t>()) +
                        ")");
        }
        return it->get<int64_t>();
    }
    throw Error(path_ + ": missing integer " + join_keys(keys));
}

int64_t Config::get_int(std::string_view key, int64_t fallback) const {
    return has(key) ? get_int({key}) : fallback;
}

namespace {
int64_t checked_size(int64_t v, std::string_view key, const std::string& path) {
    if (v < 1 || v >= (int64_t{1} << 31)) {
        throw Error(path + ": '" + std::string(key) + "' must be a positive size below 2^31, got " + std::to_string(v));
    }
    return v;
}
}  // namespace

int64_t Config::get_size(std::initializer_list<std::string_view> keys) const {
    for (auto key : keys)
        if (has(key)) return checked_size(get_int({key}), key, path_);
    return get_int(keys);  // throws: none is present
}

int64_t Config::get_size(std::string_view key, int64_t fallback) const {
    return has(key) ? checked_size(get_int({key}), key, path_) : fallback;
}

double Config::get_float(std::string_view key, double fallback) const {
    auto it = json_->value.find(key);
    if (it == json_->value.end() || it->is_null()) return fallback;
    if (!it->is_number()) throw Error(path_ + ": '" + std::string(key) + "' must be a number");
    return it->get<double>();
}

bool Config::get_bool(std::string_view key, bool fallback) const {
    auto it = json_->value.find(key);
    if (it == json_->value.end() || it->is_null()) return fallback;
    if (!it->is_boolean()) throw Error(path_ + ": '" + std::string(key) + "' must be true or false");
    return it->get<bool>();
}

std::string Config::get_string(std::initializer_list<std::string_view> keys) const {
    for (auto key : keys) {
        auto it = json_->value.find(key);
        if (it == json_->value.end() || it->is_null()) continue;
        if (!it->is_string()) throw Error(path_ + ": '" + std::string(key) + "' must be a string");
        return it->get<std::string>();
    }
    throw Error(path_ + ": missing string " + join_keys(keys));
}

std::string Config::get_string(std::string_view key, const std::string& fallback) const {
    return has(key) ? get_string({key}) : fallback;
}

std::string Config::dump() const { return json_->value.dump(2); }

}  // namespace gaze
