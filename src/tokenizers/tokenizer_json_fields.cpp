// Field readers, patterns and Unicode helpers shared by the tokenizer.json
// components; every error names the file and the field.
#include <utf8proc.h>

#include "gaze/error.hpp"
#include "tokenizer_json_components.hpp"

namespace gaze::detail {

void JsonPlace::fail(const std::string& message) const {
    throw Error(file + ": " + (field.empty() ? std::string() : field + ": ") + message);
}

namespace {

const char* type_name(const Json& v) {
    switch (v.type()) {
        case Json::value_t::null: return "null";
        case Json::value_t::object: return "an object";
        case Json::value_t::array: return "an array";
        case Json::value_t::string: return "a string";
        case Json::value_t::boolean: return "a boolean";
        case Json::value_t::number_integer:
        case Json::value_t::number_unsigned: return "an integer";
        case Json::value_t::number_float: return "a number";
        default: return "an unexpected value";
    }
}

void require_object(const Json& object, const JsonPlace& at) {
    if (!object.is_object()) at.fail(std::string("expected an object, got ") + type_name(object));
}

}  // namespace

const Json* find_field(const Json& object, const char* key) {
    if (!object.is_object()) return nullptr;
    auto it = object.find(key);
    if (it == object.end() || it->is_null()) return nullptr;
    return &*it;
}

const Json& require_field(const Json& object, const char* key, const JsonPlace& at) {
    require_object(object, at);
    const Json* v = find_field(object, key);
    if (!v) (at / key).fail("missing");
    return *v;
}

std::string string_field(const Json& object, const char* key, const JsonPlace& at, std::optional<std::string> fallback) {
    require_object(object, at);
    const Json* v = find_field(object, key);
    if (!v && fallback) return *fallback;
    if (!v) (at / key).fail("missing (expected a string)");
    if (!v->is_string()) (at / key).fail(std::string("expected a string, got ") + type_name(*v));
    return v->get<std::string>();
}

bool bool_field(const Json& object, const char* key, const JsonPlace& at, std::optional<bool> fallback) {
    require_object(object, at);
    const Json* v = find_field(object, key);
    if (!v && fallback) return *fallback;
    if (!v) (at / key).fail("missing (expected true or false)");
    if (!v->is_boolean()) (at / key).fail(std::string("expected true or false, got ") + type_name(*v));
    return v->get<bool>();
}

int64_t int_field(const Json& object, const char* key, const JsonPlace& at, std::optional<int64_t> fallback) {
    require_object(object, at);
    const Json* v = find_field(object, key);
    if (!v && fallback) return *fallback;
    if (!v) (at / key).fail("missing (expected an integer)");
    if (!v->is_number_integer()) (at / key).fail(std::string("expected an integer, got ") + type_name(*v));
    const int64_t x = v->get<int64_t>();
    if (x < -(int64_t{1} << 31) || x >= (int64_t{1} << 31)) (at / key).fail("integer out of range");
    return x;
}

const Json& array_field(const Json& object, const char* key, const JsonPlace& at) {
    const Json& v = require_field(object, key, at);
    if (!v.is_array()) (at / key).fail(std::string("expected an array, got ") + type_name(v));
    return v;
}

std::string component_type(const Json& component, const JsonPlace& at) {
    return string_field(component, "type", at);
}

void unknown_component(const std::string& type, const JsonPlace& at, const char* known) {
    (at / "type").fail("unknown type \"" + type + "\" (gaze knows " + known + ")");
}

bool is_unicode_whitespace(int32_t cp) {
    return (cp >= 0x09 && cp <= 0x0D) || cp == 0x20 || cp == 0x85 || cp == 0xA0 || cp == 0x1680 ||
           (cp >= 0x2000 && cp <= 0x200A) || cp == 0x2028 || cp == 0x2029 || cp == 0x202F || cp == 0x205F || cp == 0x3000;
}

void for_each_char(std::string_view text, const std::function<void(int32_t, size_t, size_t)>& f) {
    size_t pos = 0;
    while (pos < text.size()) {
        const auto b = static_cast<unsigned char>(text[pos]);
        if (b < 0x80) {
            f(b, pos, pos + 1);
            ++pos;
            continue;
        }
        utf8proc_int32_t cp = -1;
        auto n = utf8proc_iterate(reinterpret_cast<const utf8proc_uint8_t*>(text.data() + pos),
                                  static_cast<utf8proc_ssize_t>(text.size() - pos), &cp);
        if (n <= 0) n = 1, cp = 0xFFFD;  // not reached for checked text; never loop forever
        f(cp, pos, pos + static_cast<size_t>(n));
        pos += static_cast<size_t>(n);
    }
}

// ---- Pattern ---------------------------------------------------------------------------

Pattern::Pattern(const Json& pattern, const JsonPlace& at) {
    if (!pattern.is_object()) at.fail(std::string("expected {\"String\": ...} or {\"Regex\": ...}, got ") + type_name(pattern));
    if (find_field(pattern, "Regex")) {
        const std::string re = string_field(pattern, "Regex", at);
        regex_ = std::make_unique<Regex>(re, at.file + ": " + (at / "Regex").field);
    } else if (find_field(pattern, "String")) {
        literal_ = string_field(pattern, "String", at);
        if (literal_.empty()) (at / "String").fail("must not be empty");
    } else {
        at.fail("expected {\"String\": ...} or {\"Regex\": ...}, got " + pattern.dump());
    }
}

Pattern::~Pattern() = default;
Pattern::Pattern(Pattern&&) noexcept = default;

void Pattern::for_each_match(std::string_view text, const std::function<void(size_t, size_t)>& f) const {
    if (regex_) {
        regex_->for_each_match(text, f);
        return;
    }
    for (size_t at = text.find(literal_); at != std::string_view::npos; at = text.find(literal_, at + literal_.size()))
        f(at, at + literal_.size());
}

std::string Pattern::replace_all(std::string_view text, std::string_view content) const {
    std::string out;
    size_t last = 0;
    for_each_match(text, [&](size_t begin, size_t end) {
        out.append(text.substr(last, begin - last)).append(content);
        last = end;
    });
    out.append(text.substr(last));
    return out;
}

}  // namespace gaze::detail
