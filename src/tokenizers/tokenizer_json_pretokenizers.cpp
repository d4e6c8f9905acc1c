// tokenizer.json pre-tokenizers: Split, ByteLevel, Metaspace, Whitespace,
// WhitespaceSplit, Digits, Punctuation, BertPreTokenizer, CharDelimiterSplit,
// Sequence. Each cuts every piece into finer pieces; the model then sees one
// piece at a time. The split behaviours follow HF's SplitDelimiterBehavior.
#include <utf8proc.h>

#include "gaze/error.hpp"
#include "tokenizer_json_components.hpp"

namespace gaze::detail {
namespace {

enum class Behavior { Removed, Isolated, MergedWithPrevious, MergedWithNext, Contiguous };

Behavior parse_behavior(const std::string& name, const JsonPlace& at) {
    if (name == "Removed") return Behavior::Removed;
    if (name == "Isolated") return Behavior::Isolated;
    if (name == "MergedWithPrevious") return Behavior::MergedWithPrevious;
    if (name == "MergedWithNext") return Behavior::MergedWithNext;
    if (name == "Contiguous") return Behavior::Contiguous;
    at.fail("unknown behavior \"" + name + "\" (known: Removed, Isolated, MergedWithPrevious, MergedWithNext, Contiguous)");
}

struct Span {
    size_t begin, end;
    bool matched;
};

// Spans covering `text`: the matches f reports and the gaps between them.
template <typename ForEachMatch>
std::vector<Span> spans_of(std::string_view text, bool invert, ForEachMatch&& for_each_match) {
    std::vector<Span> spans;
    size_t last = 0;
    for_each_match([&](size_t begin, size_t end) {
        if (begin > last) spans.push_back({last, begin, invert});
        spans.push_back({begin, end, !invert});
        last = end;
    });
    if (last < text.size()) spans.push_back({last, text.size(), invert});
    return spans;
}

// Applies `behavior` to the spans of one piece (HF's split with a pattern) and
// appends the resulting non-empty pieces to `out`.
void split_piece(const Piece& piece, std::vector<Span> spans, Behavior behavior, std::vector<Piece>& out) {
    std::vector<Span> kept;
    kept.reserve(spans.size());
    bool previous_match = false;
    switch (behavior) {
        case Behavior::Isolated:
            kept = std::move(spans);
            break;
        case Behavior::Removed:
            for (const Span& s : spans)
                if (!s.matched) kept.push_back(s);
            break;
        case Behavior::MergedWithPrevious:
            for (const Span& s : spans) {
                if (s.matched && !previous_match && !kept.empty()) kept.back().end = s.end;
                else kept.push_back(s);
                previous_match = s.matched;
            }
            break;
        case Behavior::MergedWithNext:
            for (auto it = spans.rbegin(); it != spans.rend(); ++it) {
                if (it->matched && !previous_match && !kept.empty()) kept.back().begin = it->begin;
                else kept.push_back(*it);
                previous_match = it->matched;
            }
            std::reverse(kept.begin(), kept.end());
            break;
        case Behavior::Contiguous:
            for (const Span& s : spans) {
                if (s.matched == previous_match && !kept.empty()) kept.back().end = s.end;
                else kept.push_back(s);
                previous_match = s.matched;
            }
            break;
    }
    for (const Span& s : kept) {
        if (s.end > s.begin) out.push_back({piece.text.substr(s.begin, s.end - s.begin), piece.at_start && s.begin == 0});
    }
}

// Re-splits every piece with spans_for(text).
template <typename SpansFor>
void split_all(std::vector<Piece>& pieces, Behavior behavior, SpansFor&& spans_for) {
    std::vector<Piece> out;
    out.reserve(pieces.size() * 2);
    for (const Piece& piece : pieces) split_piece(piece, spans_for(piece.text), behavior, out);
    pieces = std::move(out);
}

// Spans where each character satisfying `pred` is its own match.
template <typename Pred>
std::vector<Span> char_spans(std::string_view text, Pred&& pred) {
    return spans_of(text, false, [&](const std::function<void(size_t, size_t)>& f) {
        for_each_char(text, [&](int32_t cp, size_t begin, size_t end) {
            if (pred(cp)) f(begin, end);
        });
    });
}

class Split final : public PreTokenizer {
public:
    Split(Pattern pattern, Behavior behavior, bool invert)
        : pattern_(std::move(pattern)), behavior_(behavior), invert_(invert) {}
    void split(std::vector<Piece>& pieces) const override {
        split_all(pieces, behavior_, [&](std::string_view text) {
            return spans_of(text, invert_, [&](const std::function<void(size_t, size_t)>& f) { pattern_.for_each_match(text, f); });
        });
    }

private:
    Pattern pattern_;
    Behavior behavior_;
    bool invert_;
};

// GPT-2's byte level: optionally a leading space and GPT-2's regex split, then
// each piece's bytes spelled in the bytes-to-unicode alphabet.
class ByteLevel final : public PreTokenizer {
public:
    ByteLevel(bool add_prefix_space, bool use_regex) : add_prefix_space_(add_prefix_space) {
        if (use_regex) regex_ = std::make_unique<Regex>(kGpt2Pattern, "ByteLevel pre-tokenizer");
    }
    void split(std::vector<Piece>& pieces) const override {
        if (add_prefix_space_) {
            for (Piece& p : pieces)
                if (p.text.empty() || p.text[0] != ' ') p.text.insert(p.text.begin(), ' ');
        }
        if (regex_) {
            split_all(pieces, Behavior::Isolated, [&](std::string_view text) {
                return spans_of(text, false, [&](const std::function<void(size_t, size_t)>& f) { regex_->for_each_match(text, f); });
            });
        }
        std::string spelled;
        for (Piece& p : pieces) {
            spelled.clear();
            append_byte_spelling(p.text, spelled);
            p.text.swap(spelled);
        }
    }

private:
    bool add_prefix_space_;
    std::unique_ptr<Regex> regex_;
};

enum class PrependScheme { Always, First, Never };

// SentencePiece's view of spaces: ' ' becomes the replacement (U+2581), a
// replacement is prepended (always / to the text's first piece / never), and
// with split each replacement starts a new piece.
class Metaspace final : public PreTokenizer {
public:
    Metaspace(std::string replacement, PrependScheme scheme, bool split)
        : replacement_(std::move(replacement)), scheme_(scheme), split_(split) {}
    void split(std::vector<Piece>& pieces) const override {
        for (Piece& p : pieces) {
            std::string out;
            for (char c : p.text) {
                if (c == ' ') out += replacement_;
                else out += c;
            }
            const bool prepend = scheme_ == PrependScheme::Always || (scheme_ == PrependScheme::First && p.at_start);
            if (prepend && out.compare(0, replacement_.size(), replacement_) != 0) out.insert(0, replacement_);
            p.text = std::move(out);
        }
        if (!split_) return;
        split_all(pieces, Behavior::MergedWithNext, [&](std::string_view text) {
            return spans_of(text, false, [&](const std::function<void(size_t, size_t)>& f) {
                for (size_t at = text.find(replacement_); at != std::string_view::npos; at = text.find(replacement_, at + replacement_.size()))
                    f(at, at + replacement_.size());
            });
        });
    }

private:
    std::string replacement_;
    PrependScheme scheme_;
    bool split_;
};

// Splits with a character predicate and a behaviour (WhitespaceSplit, Digits,
// Punctuation, CharDelimiterSplit).
class CharSplit final : public PreTokenizer {
public:
    CharSplit(std::function<bool(int32_t)> pred, Behavior behavior) : pred_(std::move(pred)), behavior_(behavior) {}
    void split(std::vector<Piece>& pieces) const override {
        split_all(pieces, behavior_, [&](std::string_view text) { return char_spans(text, pred_); });
    }

private:
    std::function<bool(int32_t)> pred_;
    Behavior behavior_;
};

bool is_numeric(int32_t cp) {  // Rust's char::is_numeric: Nd, Nl, No
    const auto c = utf8proc_category(cp);
    return c == UTF8PROC_CATEGORY_ND || c == UTF8PROC_CATEGORY_NL || c == UTF8PROC_CATEGORY_NO;
}

bool is_punctuation(int32_t cp) {  // ASCII punctuation or a Unicode P* character
    if (cp < 0x80) return (cp >= 0x21 && cp <= 0x2F) || (cp >= 0x3A && cp <= 0x40) || (cp >= 0x5B && cp <= 0x60) ||
                          (cp >= 0x7B && cp <= 0x7E);
    const auto c = utf8proc_category(cp);
    return c >= UTF8PROC_CATEGORY_PC && c <= UTF8PROC_CATEGORY_PO;
}

class SequencePreTokenizer final : public PreTokenizer {
public:
    explicit SequencePreTokenizer(std::vector<std::unique_ptr<PreTokenizer>> parts) : parts_(std::move(parts)) {}
    void split(std::vector<Piece>& pieces) const override {
        for (const auto& part : parts_) part->split(pieces);
    }

private:
    std::vector<std::unique_ptr<PreTokenizer>> parts_;
};

PrependScheme metaspace_scheme(const Json& json, const JsonPlace& at) {
    if (find_field(json, "prepend_scheme")) {
        const std::string scheme = string_field(json, "prepend_scheme", at);
        if (scheme == "always") return PrependScheme::Always;
        if (scheme == "first") return PrependScheme::First;
        if (scheme == "never") return PrependScheme::Never;
        (at / "prepend_scheme").fail("unknown prepend_scheme \"" + scheme + "\" (known: always, first, never)");
    }
    // Files written before prepend_scheme existed say add_prefix_space.
    return bool_field(json, "add_prefix_space", at, true) ? PrependScheme::Always : PrependScheme::Never;
}

}  // namespace

std::unique_ptr<PreTokenizer> make_pre_tokenizer(const Json& json, const JsonPlace& at) {
    if (json.is_null()) return nullptr;
    const std::string type = component_type(json, at);
    if (type == "Split") {
        return std::make_unique<Split>(Pattern(require_field(json, "pattern", at), at / "pattern"),
                                       parse_behavior(string_field(json, "behavior", at), at / "behavior"),
                                       bool_field(json, "invert", at, false));
    }
    if (type == "ByteLevel") {
        return std::make_unique<ByteLevel>(bool_field(json, "add_prefix_space", at, true), bool_field(json, "use_regex", at, true));
    }
    if (type == "Metaspace") {
        const std::string replacement = string_field(json, "replacement", at, "\xE2\x96\x81");
        if (replacement.empty()) (at / "replacement").fail("must be one character");
        return std::make_unique<Metaspace>(replacement, metaspace_scheme(json, at), bool_field(json, "split", at, true));
    }
    if (type == "Whitespace") {
        Json pattern = {{"Regex", R"(\w+|[^\w\s]+)"}};
        return std::make_unique<Split>(Pattern(pattern, at), Behavior::Removed, true);
    }
    if (type == "WhitespaceSplit") return std::make_unique<CharSplit>(is_unicode_whitespace, Behavior::Removed);
    if (type == "Digits") {
        return std::make_unique<CharSplit>(is_numeric, bool_field(json, "individual_digits", at, false)
                                                           ? Behavior::Isolated : Behavior::Contiguous);
    }
    if (type == "Punctuation") {
        return std::make_unique<CharSplit>(is_punctuation, parse_behavior(string_field(json, "behavior", at, "Isolated"),
                                                                          at / "behavior"));
    }
    if (type == "BertPreTokenizer") {
        std::vector<std::unique_ptr<PreTokenizer>> parts;
        parts.push_back(std::make_unique<CharSplit>(is_unicode_whitespace, Behavior::Removed));
        parts.push_back(std::make_unique<CharSplit>(is_punctuation, Behavior::Isolated));
        return std::make_unique<SequencePreTokenizer>(std::move(parts));
    }
    if (type == "CharDelimiterSplit") {
        const std::string delimiter = string_field(json, "delimiter", at);
        int32_t cp = -1;
        for_each_char(delimiter, [&](int32_t c, size_t begin, size_t) {
            if (begin == 0) cp = c;
        });
        if (cp < 0) (at / "delimiter").fail("must be one character");
        return std::make_unique<CharSplit>([cp](int32_t c) { return c == cp; }, Behavior::Removed);
    }
    if (type == "Sequence") {
        return std::make_unique<SequencePreTokenizer>(
            sequence_parts<PreTokenizer>(json, "pretokenizers", at, make_pre_tokenizer));
    }
    unknown_component(type, at,
                      "Split, ByteLevel, Metaspace, Whitespace, WhitespaceSplit, Digits, Punctuation, BertPreTokenizer, "
                      "CharDelimiterSplit, Sequence");
}

}  // namespace gaze::detail
