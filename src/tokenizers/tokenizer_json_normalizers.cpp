// tokenizer.json normalizers: NFC/NFD/NFKC/NFKD, Lowercase, Strip,
// StripAccents, Replace, Prepend, BertNormalizer, Sequence. Each rewrites the
// text of one segment (the text between added tokens) before pre-tokenization.
#include <utf8proc.h>

#include <algorithm>
#include <cstdlib>

#include "gaze/error.hpp"

#include "tokenizer_json_components.hpp"

namespace gaze::detail {
namespace {

class UnicodeForm final : public Normalizer {
public:
    explicit UnicodeForm(int options) : options_(options) {}
    void normalize(std::string& text) const override {
        if (text.empty()) return;
        utf8proc_uint8_t* out = nullptr;
        const auto n = utf8proc_map(reinterpret_cast<const utf8proc_uint8_t*>(text.data()),
                                    static_cast<utf8proc_ssize_t>(text.size()), &out,
                                    static_cast<utf8proc_option_t>(options_));
        if (n < 0) throw Error(std::string("Unicode normalization failed: ") + utf8proc_errmsg(n));
        text.assign(reinterpret_cast<const char*>(out), static_cast<size_t>(n));
        std::free(out);
    }

private:
    int options_;
};

// Maps each character through `f` (code point -> code point; -1 drops it).
template <typename F>
void map_chars(std::string& text, F&& f) {
    std::string out;
    out.reserve(text.size());
    for_each_char(text, [&](int32_t cp, size_t begin, size_t end) {
        const int32_t mapped = f(cp);
        if (mapped == cp) out.append(text, begin, end - begin);
        else if (mapped >= 0) out += utf8_of(mapped);
    });
    text = std::move(out);
}

class Lowercase final : public Normalizer {
public:
    void normalize(std::string& text) const override {
        map_chars(text, [](int32_t cp) { return static_cast<int32_t>(utf8proc_tolower(cp)); });
    }
};

bool is_combining_mark(int32_t cp) { return utf8proc_category(cp) == UTF8PROC_CATEGORY_MN; }

// Removes combining marks (HF's StripAccents; meant to follow NFD/NFKD).
class StripAccents final : public Normalizer {
public:
    void normalize(std::string& text) const override {
        map_chars(text, [](int32_t cp) { return is_combining_mark(cp) ? -1 : cp; });
    }
};

class Strip final : public Normalizer {
public:
    Strip(bool left, bool right) : left_(left), right_(right) {}
    void normalize(std::string& text) const override {
        size_t begin = text.size(), end = 0;  // of the first and past the last non-space character
        for_each_char(text, [&](int32_t cp, size_t b, size_t e) {
            if (is_unicode_whitespace(cp)) return;
            begin = std::min(begin, b);
            end = e;
        });
        if (begin >= end) {  // only whitespace
            if (left_ || right_) text.clear();
            return;
        }
        text = text.substr(left_ ? begin : 0, (right_ ? end : text.size()) - (left_ ? begin : 0));
    }

private:
    bool left_, right_;
};

class Replace final : public Normalizer {
public:
    Replace(Pattern pattern, std::string content) : pattern_(std::move(pattern)), content_(std::move(content)) {}
    void normalize(std::string& text) const override { text = pattern_.replace_all(text, content_); }

private:
    Pattern pattern_;
    std::string content_;
};

class Prepend final : public Normalizer {
public:
    explicit Prepend(std::string prefix) : prefix_(std::move(prefix)) {}
    void normalize(std::string& text) const override {
        if (!text.empty()) text.insert(0, prefix_);  // as HF: an empty segment stays empty
    }

private:
    std::string prefix_;
};

// The CJK Unified Ideographs blocks BERT pads with spaces.
bool is_chinese_char(int32_t cp) {
    return (cp >= 0x4E00 && cp <= 0x9FFF) || (cp >= 0x3400 && cp <= 0x4DBF) || (cp >= 0x20000 && cp <= 0x2A6DF) ||
           (cp >= 0x2A700 && cp <= 0x2B73F) || (cp >= 0x2B740 && cp <= 0x2B81F) || (cp >= 0x2B820 && cp <= 0x2CEAF) ||
           (cp >= 0xF900 && cp <= 0xFAFF) || (cp >= 0x2F800 && cp <= 0x2FA1F);
}

// BertNormalizer: drop controls and map whitespace to ' ' (clean_text), pad
// CJK ideographs with spaces, then optionally strip accents (NFD + drop Mn)
// and lower-case. strip_accents null follows lowercase, as in HF.
class BertNormalizer final : public Normalizer {
public:
    BertNormalizer(bool clean_text, bool chinese, bool strip_accents, bool lowercase)
        : clean_text_(clean_text), chinese_(chinese), strip_accents_(strip_accents), lowercase_(lowercase) {}
    void normalize(std::string& text) const override {
        std::string out;
        out.reserve(text.size());
        for_each_char(text, [&](int32_t cp, size_t begin, size_t end) {
            if (clean_text_) {
                const auto cat = utf8proc_category(cp);
                const bool control = cp != '\t' && cp != '\n' && cp != '\r' &&
                                     (cat == UTF8PROC_CATEGORY_CC || cat == UTF8PROC_CATEGORY_CF);
                if (cp == 0 || cp == 0xFFFD || control) return;
                if (is_unicode_whitespace(cp)) {
                    out += ' ';
                    return;
                }
            }
            const bool pad = chinese_ && is_chinese_char(cp);
            if (pad) out += ' ';
            out.append(text, begin, end - begin);
            if (pad) out += ' ';
        });
        text = std::move(out);
        if (strip_accents_) {
            UnicodeForm(UTF8PROC_STABLE | UTF8PROC_DECOMPOSE).normalize(text);
            StripAccents().normalize(text);
        }
        if (lowercase_) Lowercase().normalize(text);
    }

private:
    bool clean_text_, chinese_, strip_accents_, lowercase_;
};

class SequenceNormalizer final : public Normalizer {
public:
    explicit SequenceNormalizer(std::vector<std::unique_ptr<Normalizer>> parts) : parts_(std::move(parts)) {}
    void normalize(std::string& text) const override {
        for (const auto& part : parts_) part->normalize(text);
    }

private:
    std::vector<std::unique_ptr<Normalizer>> parts_;
};

}  // namespace

std::unique_ptr<Normalizer> make_normalizer(const Json& json, const JsonPlace& at) {
    if (json.is_null()) return nullptr;
    const std::string type = component_type(json, at);
    if (type == "NFC") return std::make_unique<UnicodeForm>(UTF8PROC_STABLE | UTF8PROC_COMPOSE);
    if (type == "NFD") return std::make_unique<UnicodeForm>(UTF8PROC_STABLE | UTF8PROC_DECOMPOSE);
    if (type == "NFKC") return std::make_unique<UnicodeForm>(UTF8PROC_STABLE | UTF8PROC_COMPOSE | UTF8PROC_COMPAT);
    if (type == "NFKD") return std::make_unique<UnicodeForm>(UTF8PROC_STABLE | UTF8PROC_DECOMPOSE | UTF8PROC_COMPAT);
    if (type == "Lowercase") return std::make_unique<Lowercase>();
    if (type == "StripAccents") return std::make_unique<StripAccents>();
    if (type == "Strip") {
        return std::make_unique<Strip>(bool_field(json, "strip_left", at, true), bool_field(json, "strip_right", at, true));
    }
    if (type == "Replace") {
        return std::make_unique<Replace>(Pattern(require_field(json, "pattern", at), at / "pattern"),
                                         string_field(json, "content", at));
    }
    if (type == "Prepend") return std::make_unique<Prepend>(string_field(json, "prepend", at));
    if (type == "BertNormalizer") {
        const bool lowercase = bool_field(json, "lowercase", at, true);
        return std::make_unique<BertNormalizer>(bool_field(json, "clean_text", at, true),
                                                bool_field(json, "handle_chinese_chars", at, true),
                                                bool_field(json, "strip_accents", at, lowercase), lowercase);
    }
    if (type == "Sequence") {
        return std::make_unique<SequenceNormalizer>(sequence_parts<Normalizer>(json, "normalizers", at, make_normalizer));
    }
    unknown_component(type, at,
                      "NFC, NFD, NFKC, NFKD, Lowercase, Strip, StripAccents, Replace, Prepend, BertNormalizer, Sequence");
}

}  // namespace gaze::detail
