#pragma once
// The components a tokenizer.json describes (internal to the reader): one
// abstract kind per pipeline stage, each built by a make_* function from its
// JSON object. The stages, in the order JsonTokenizer runs them:
//   normalizer      text -> text                 (tokenizer_json_normalizers.cpp)
//   pre_tokenizer   pieces -> finer pieces       (tokenizer_json_pretokenizers.cpp)
//   model           one piece -> ids             (tokenizer_json_models.cpp)
//   post_processor  ids -> ids + special tokens  (tokenizer_json_processors.cpp)
//   decoder         tokens -> text               (tokenizer_json_processors.cpp)
// Every make_* throws gaze::Error naming the file and the field (e.g.
// "tokenizer.json: pre_tokenizer.pretokenizers[0].pattern.Regex: ...").
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include <nlohmann/json.hpp>

#include "byte_level.hpp"
#include "gaze/tokens.hpp"

namespace gaze::detail {

using Json = nlohmann::json;

// Where a value sits in the file, for error messages.
struct JsonPlace {
    std::string file;
    std::string field;  // "" for the top level, else "model.merges[3]"

    JsonPlace operator/(const std::string& key) const { return {file, field.empty() ? key : field + "." + key}; }
    JsonPlace operator[](size_t i) const { return {file, field + "[" + std::to_string(i) + "]"}; }
    [[noreturn]] void fail(const std::string& message) const;
};

// Field readers: a missing key (or null) gives the fallback; without one it is an
// error, as is a value of the wrong type.
const Json* find_field(const Json& object, const char* key);  // nullptr when absent or null
const Json& require_field(const Json& object, const char* key, const JsonPlace& at);
std::string string_field(const Json& object, const char* key, const JsonPlace& at,
                         std::optional<std::string> fallback = std::nullopt);
bool bool_field(const Json& object, const char* key, const JsonPlace& at, std::optional<bool> fallback = std::nullopt);
int64_t int_field(const Json& object, const char* key, const JsonPlace& at, std::optional<int64_t> fallback = std::nullopt);
const Json& array_field(const Json& object, const char* key, const JsonPlace& at);
// The "type" of a component object (which must be an object).
std::string component_type(const Json& component, const JsonPlace& at);
[[noreturn]] void unknown_component(const std::string& type, const JsonPlace& at, const char* known);

// The parts of a Sequence component: make(list[i], at/key[i]) for each entry of
// the array `key`, the null ones left out.
template <typename Part, typename Make>
std::vector<std::unique_ptr<Part>> sequence_parts(const Json& json, const char* key, const JsonPlace& at, Make&& make);

// Unicode helpers shared by the components (code points of valid UTF-8).
bool is_unicode_whitespace(int32_t cp);  // Rust's char::is_whitespace (the White_Space property)
// Calls f(code_point, begin, end) for each character of valid UTF-8 text.
void for_each_char(std::string_view text, const std::function<void(int32_t, size_t, size_t)>& f);

struct StringHash {
    using is_transparent = void;
    size_t operator()(std::string_view s) const noexcept { return std::hash<std::string_view>{}(s); }
};
template <typename V>
using StringMap = std::unordered_map<std::string, V, StringHash, std::equal_to<>>;

// A {"String": "..."} or {"Regex": "..."} pattern (Split, Replace).
class Pattern {
public:
    Pattern(const Json& pattern, const JsonPlace& at);
    ~Pattern();
    Pattern(Pattern&&) noexcept;
    // Calls f(begin, end) for each non-empty match, left to right.
    void for_each_match(std::string_view text, const std::function<void(size_t, size_t)>& f) const;
    // `text` with every match replaced by `content` (the Replace normalizer and decoder).
    std::string replace_all(std::string_view text, std::string_view content) const;

private:
    std::string literal_;
    std::unique_ptr<Regex> regex_;
};

// ---- normalizers -------------------------------------------------------------------

class Normalizer {
public:
    virtual ~Normalizer() = default;
    virtual void normalize(std::string& text) const = 0;
};
std::unique_ptr<Normalizer> make_normalizer(const Json& json, const JsonPlace& at);  // null -> nullptr

// ---- pre-tokenizers ----------------------------------------------------------------

struct Piece {
    std::string text;
    bool at_start = false;  // begins the input text (Metaspace's prepend_scheme "first")
};

class PreTokenizer {
public:
    virtual ~PreTokenizer() = default;
    virtual void split(std::vector<Piece>& pieces) const = 0;
};
std::unique_ptr<PreTokenizer> make_pre_tokenizer(const Json& json, const JsonPlace& at);  // null -> nullptr

// ---- models --------------------------------------------------------------------------

class Model {
public:
    virtual ~Model() = default;
    // Appends the ids of one pre-tokenized piece.
    virtual void tokenize(std::string_view piece, std::vector<int32_t>& ids) const = 0;
    virtual std::optional<int32_t> token_to_id(std::string_view token) const = 0;
    // nullptr for an id the model does not have.
    virtual const std::string* id_to_token(int32_t id) const = 0;
    virtual int64_t size() const = 0;
    virtual std::optional<int32_t> unk_id() const = 0;
};
std::unique_ptr<Model> make_model(const Json& json, const JsonPlace& at);

// ---- post-processors and decoders ----------------------------------------------------

// Adds the special tokens around the segments (one, or two for a pair) and
// sets type ids; the tokenizer then concatenates what is left.
class PostProcessor {
public:
    virtual ~PostProcessor() = default;
    virtual void process(std::vector<Encoding>& segments) const = 0;
};
std::unique_ptr<PostProcessor> make_post_processor(const Json& json, const JsonPlace& at);  // null -> nullptr
// "bos $A eos" around each segment (a Llama tokenizer's add_bos_token / add_eos_token).
struct SpecialToken {
    std::string token;
    int32_t id;
};
std::unique_ptr<PostProcessor> make_bos_eos_processor(std::optional<SpecialToken> bos, std::optional<SpecialToken> eos);

// transformers' clean_up_tokenization: " ." -> ".", " n't" -> "n't", ...
std::string clean_up_tokenization(std::string text);

class Decoder {
public:
    virtual ~Decoder() = default;
    virtual void decode_chain(std::vector<std::string>& tokens) const = 0;
};
std::unique_ptr<Decoder> make_decoder(const Json& json, const JsonPlace& at);  // null -> nullptr

template <typename Part, typename Make>
std::vector<std::unique_ptr<Part>> sequence_parts(const Json& json, const char* key, const JsonPlace& at, Make&& make) {
    const Json& list = array_field(json, key, at);
    std::vector<std::unique_ptr<Part>> parts;
    for (size_t i = 0; i < list.size(); ++i) {
        if (auto part = make(list[i], (at / key)[i])) parts.push_back(std::move(part));
    }
    return parts;
}

}  // namespace gaze::detail
