#include "gaze/tokenizers/wordpiece.hpp"

#include <utf8proc.h>

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <iterator>
#include <limits>
#include <utility>

#include "gaze/error.hpp"
#include "utf8_check.hpp"

namespace gaze {
namespace {

// HF registers these as "no split" tokens: found anywhere in the input they are
// kept whole, before any other processing.
constexpr std::string_view kSpecialStrings[] = {"[CLS]", "[SEP]", "[PAD]", "[UNK]", "[MASK]"};

const utf8proc_uint8_t* bytes(std::string_view s) { return reinterpret_cast<const utf8proc_uint8_t*>(s.data()); }

bool is_continuation_byte(char c) { return (static_cast<unsigned char>(c) & 0xC0) == 0x80; }

bool is_ascii(std::string_view s) {
    for (char c : s)
        if (static_cast<unsigned char>(c) >= 0x80) return false;
    return true;
}

// Decodes the code point at `pos` of text already checked as UTF-8 and moves past it.
int32_t next_code_point(std::string_view s, size_t& pos) {
    const auto c = static_cast<unsigned char>(s[pos]);
    if (c < 0x80) {
        ++pos;
        return c;
    }
    utf8proc_int32_t cp = 0;
    const utf8proc_ssize_t n = utf8proc_iterate(bytes(s) + pos, static_cast<utf8proc_ssize_t>(s.size() - pos), &cp);
    pos += n > 0 ? static_cast<size_t>(n) : 1;
    return cp;
}

void append_utf8(std::string& out, int32_t cp) {
    if (cp < 0x80) {
        out += static_cast<char>(cp);
        return;
    }
    utf8proc_uint8_t buf[4];
    const utf8proc_ssize_t n = utf8proc_encode_char(cp, buf);
    out.append(reinterpret_cast<const char*>(buf), static_cast<size_t>(n));
}

// NFC / NFD through utf8proc_map, which returns a malloc'ed buffer.
std::string normalize(std::string_view s, utf8proc_option_t form) {
    utf8proc_uint8_t* mapped = nullptr;
    const utf8proc_ssize_t n =
        utf8proc_map(bytes(s), static_cast<utf8proc_ssize_t>(s.size()), &mapped, utf8proc_option_t(UTF8PROC_STABLE | form));
    if (n < 0) throw Error(std::string("unicode normalization failed: ") + utf8proc_errmsg(n));
    std::string out(reinterpret_cast<const char*>(mapped), static_cast<size_t>(n));
    std::free(mapped);
    return out;
}

// ---- character classes, exactly as HF's BasicTokenizer defines them ----

bool is_hf_control(int32_t cp) {
    if (cp == '\t' || cp == '\n' || cp == '\r') return false;  // these count as whitespace
    if (cp < 0x80) return cp < 32 || cp == 127;
    switch (utf8proc_category(cp)) {
        case UTF8PROC_CATEGORY_CC: case UTF8PROC_CATEGORY_CF: case UTF8PROC_CATEGORY_CS:
        case UTF8PROC_CATEGORY_CO: case UTF8PROC_CATEGORY_CN: return true;
        default: return false;
    }
}

bool is_hf_whitespace(int32_t cp) {
    if (cp < 0x80) return cp == ' ' || cp == '\t' || cp == '\n' || cp == '\r';
    return utf8proc_category(cp) == UTF8PROC_CATEGORY_ZS;
}

// Python's str.split() separators (str.isspace). After cleaning only ' ' and
// the line/paragraph separators U+2028/U+2029 (categories Zl, Zp) remain.
bool is_python_space(int32_t cp) {
    if (cp < 0x80) return cp == ' ' || (cp >= 9 && cp <= 13) || (cp >= 28 && cp <= 31);
    if (cp == 0x85) return true;
    const auto cat = utf8proc_category(cp);
    return cat == UTF8PROC_CATEGORY_ZS || cat == UTF8PROC_CATEGORY_ZL || cat == UTF8PROC_CATEGORY_ZP;
}

// All non-letter/number ASCII counts as punctuation (e.g. "^", "$", "`"),
// plus every Unicode P* category.
bool is_hf_punctuation(int32_t cp) {
    if ((cp >= 33 && cp <= 47) || (cp >= 58 && cp <= 64) || (cp >= 91 && cp <= 96) || (cp >= 123 && cp <= 126))
        return true;
    if (cp < 0x80) return false;
    switch (utf8proc_category(cp)) {
        case UTF8PROC_CATEGORY_PC: case UTF8PROC_CATEGORY_PD: case UTF8PROC_CATEGORY_PS: case UTF8PROC_CATEGORY_PE:
        case UTF8PROC_CATEGORY_PI: case UTF8PROC_CATEGORY_PF: case UTF8PROC_CATEGORY_PO: return true;
        default: return false;
    }
}

// HF's "Chinese character" blocks (CJK Unified Ideographs and extensions,
// compatibility ideographs); Hangul, kana etc. are deliberately not included.
bool is_cjk(int32_t cp) {
    return (cp >= 0x4E00 && cp <= 0x9FFF) || (cp >= 0x3400 && cp <= 0x4DBF) || (cp >= 0x20000 && cp <= 0x2A6DF) ||
           (cp >= 0x2A700 && cp <= 0x2B73F) || (cp >= 0x2B740 && cp <= 0x2B81F) || (cp >= 0x2B820 && cp <= 0x2CEAF) ||
           (cp >= 0xF900 && cp <= 0xFAFF) || (cp >= 0x2F800 && cp <= 0x2FA1F);
}

// ---- the BasicTokenizer passes ----

// _clean_text + _tokenize_chinese_chars for one code point.
void append_cleaned(std::string& out, int32_t cp, bool split_cjk) {
    if (cp == 0 || cp == 0xFFFD || is_hf_control(cp)) return;
    if (is_hf_whitespace(cp)) {
        out += ' ';
    } else if (split_cjk && is_cjk(cp)) {
        out += ' ';
        append_utf8(out, cp);
        out += ' ';
    } else {
        append_utf8(out, cp);
    }
}

// HF lower-cases with Python's str.lower() one character at a time, before
// cleaning. That is utf8proc's simple mapping except for U+0130 (the only
// unconditional special casing); being per character, Σ never becomes final ς.
std::string clean_text(std::string_view text, bool lower_case, bool split_cjk) {
    std::string out;
    out.reserve(text.size() + 8);
    size_t pos = 0;
    while (pos < text.size()) {
        int32_t cp = next_code_point(text, pos);
        if (lower_case) {
            if (cp < 0x80) {
                if (cp >= 'A' && cp <= 'Z') cp += 'a' - 'A';
            } else if (cp == 0x130) {
                out += 'i';
                cp = 0x307;  // combining dot above
            } else {
                cp = utf8proc_tolower(cp);
            }
        }
        append_cleaned(out, cp, split_cjk);
    }
    return out;
}

// _run_strip_accents: NFD, then drop nonspacing marks (category Mn).
std::string strip_accents(std::string_view token) {
    const std::string nfd = normalize(token, UTF8PROC_DECOMPOSE);
    std::string out;
    out.reserve(nfd.size());
    size_t pos = 0;
    while (pos < nfd.size()) {
        const size_t begin = pos;
        const int32_t cp = next_code_point(nfd, pos);
        if (utf8proc_category(cp) != UTF8PROC_CATEGORY_MN) out.append(nfd, begin, pos - begin);
    }
    return out;
}

// Calls fn(token) for each maximal run of non-space code points.
template <typename Fn>
void split_on_whitespace(std::string_view text, Fn&& fn) {
    size_t pos = 0;
    size_t start = std::string_view::npos;
    while (pos < text.size()) {
        const size_t begin = pos;
        const bool space = is_python_space(next_code_point(text, pos));
        if (space && start != std::string_view::npos) {
            fn(text.substr(start, begin - start));
            start = std::string_view::npos;
        } else if (!space && start == std::string_view::npos) {
            start = begin;
        }
    }
    if (start != std::string_view::npos) fn(text.substr(start));
}

// _run_split_on_punc: every punctuation character becomes its own word.
template <typename Fn>
void split_on_punctuation(std::string_view token, Fn&& fn) {
    size_t pos = 0;
    size_t start = 0;
    while (pos < token.size()) {
        const size_t begin = pos;
        if (!is_hf_punctuation(next_code_point(token, pos))) continue;
        if (begin > start) fn(token.substr(start, begin - start));
        fn(token.substr(begin, pos - begin));
        start = pos;
    }
    if (start < token.size()) fn(token.substr(start));
}

// Length of the special string starting at text[pos], or 0.
size_t special_string_at(std::string_view text, size_t pos) {
    for (std::string_view s : kSpecialStrings)
        if (text.substr(pos, s.size()) == s) return s.size();
    return 0;
}

bool is_special_string(std::string_view token) { return !token.empty() && special_string_at(token, 0) == token.size(); }

size_t count_code_points(std::string_view s) {
    size_t n = 0;
    for (char c : s) n += is_continuation_byte(c) ? 0 : 1;
    return n;
}

// Python's str.replace: all non-overlapping occurrences, left to right.
void replace_all(std::string& s, std::string_view from, std::string_view to) {
    std::string out;
    size_t pos = 0;
    for (size_t hit; (hit = s.find(from, pos)) != std::string::npos; pos = hit + from.size()) {
        out.append(s, pos, hit - pos);
        out.append(to);
    }
    if (pos == 0) return;  // nothing replaced
    out.append(s, pos, std::string::npos);
    s = std::move(out);
}

// Python's str.strip() (Unicode whitespace at both ends).
std::string python_strip(const std::string& s) {
    size_t first = s.size(), last = 0, pos = 0;
    while (pos < s.size()) {
        const size_t begin = pos;
        if (is_python_space(next_code_point(s, pos))) continue;
        if (first == s.size()) first = begin;
        last = pos;
    }
    return first == s.size() ? std::string() : s.substr(first, last - first);
}

// HF's PreTrainedTokenizerBase.clean_up_tokenization, in its order.
void clean_up_tokenization(std::string& s) {
    static constexpr std::pair<std::string_view, std::string_view> kRules[] = {
        {" .", "."}, {" ?", "?"}, {" !", "!"}, {" ,", ","}, {" ' ", "'"}, {" n't", "n't"},
        {" 'm", "'m"}, {" 's", "'s"}, {" 've", "'ve"}, {" 're", "'re"}};
    for (const auto& [from, to] : kRules) replace_all(s, from, to);
}

// Like Python's readlines() + rstrip("\n"); a "\r" before it (CRLF files) goes too.
std::vector<std::string> read_vocab_file(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    if (!in) throw Error(path + ": cannot open vocabulary file");
    const std::string data((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    if (in.bad()) throw Error(path + ": cannot read vocabulary file");
    std::vector<std::string> lines;
    size_t pos = 0;
    while (pos < data.size()) {
        size_t end = data.find('\n', pos);
        const size_t next = end == std::string::npos ? data.size() : end + 1;
        if (end == std::string::npos) end = data.size();
        if (end > pos && data[end - 1] == '\r') --end;
        lines.emplace_back(data, pos, end - pos);
        pos = next;
    }
    return lines;
}

}  // namespace

// ---- construction ----

WordPieceTokenizer::WordPieceTokenizer(const std::string& vocab_path, WordPieceOptions options)
    : options_(std::move(options)), source_(vocab_path), tokens_(read_vocab_file(vocab_path)) {
    build_index();
}

WordPieceTokenizer::WordPieceTokenizer(std::vector<std::string> vocab, WordPieceOptions options)
    : options_(std::move(options)), source_("in-memory vocabulary"), tokens_(std::move(vocab)) {
    build_index();
}

void WordPieceTokenizer::build_index() {
    if (options_.max_input_chars_per_word < 1)
        throw Error(source_ + ": max_input_chars_per_word must be at least 1, got " +
                    std::to_string(options_.max_input_chars_per_word));
    if (tokens_.size() > static_cast<size_t>(std::numeric_limits<int32_t>::max()))
        throw Error(source_ + ": vocabulary has too many entries (" + std::to_string(tokens_.size()) + ")");
    vocab_.reserve(tokens_.size());
    for (size_t i = 0; i < tokens_.size(); ++i) {
        const std::string& token = tokens_[i];
        if (detail::find_invalid_utf8(token) != std::string_view::npos)  // message built only on failure
            detail::require_utf8(token, source_ + ": entry " + std::to_string(i) + " (line " + std::to_string(i + 1) + ")");
        const auto id = static_cast<int32_t>(i);
        // A repeated token keeps its last id, as HF's dict does.
        vocab_.insert_or_assign(token, id);
        if (token.size() > 2 && token.compare(0, 2, "##") == 0) continuations_.insert_or_assign(token.substr(2), id);
    }
    auto required = [&](std::string_view name) {
        const auto id = token_to_id(name);
        if (!id) throw Error(source_ + ": vocabulary has no " + std::string(name) + " token");
        return *id;
    };
    unk_id_ = required("[UNK]");
    cls_id_ = required("[CLS]");
    sep_id_ = required("[SEP]");
    pad_id_ = token_to_id("[PAD]").value_or(-1);
    mask_id_ = token_to_id("[MASK]").value_or(-1);
}

bool WordPieceTokenizer::strips_accents() const {
    return options_.strip_accents.value_or(options_.lower_case);
}

// ---- lookups ----

std::optional<int32_t> WordPieceTokenizer::token_to_id(std::string_view token) const {
    const auto it = vocab_.find(token);
    if (it == vocab_.end()) return std::nullopt;
    return it->second;
}

std::optional<int32_t> WordPieceTokenizer::lookup(std::string_view piece, bool continuation) const {
    const VocabMap& map = continuation ? continuations_ : vocab_;
    const auto it = map.find(piece);
    if (it == map.end()) return std::nullopt;
    return it->second;
}

std::string WordPieceTokenizer::id_to_token(int32_t id) const {
    if (id < 0 || static_cast<size_t>(id) >= tokens_.size()) return tokens_[static_cast<size_t>(unk_id_)];
    return tokens_[static_cast<size_t>(id)];
}

int32_t WordPieceTokenizer::pad_id() const {
    if (pad_id_ < 0) throw Error(source_ + ": vocabulary has no [PAD] token");
    return pad_id_;
}

bool WordPieceTokenizer::is_special_id(int32_t id) const {
    return id == cls_id_ || id == sep_id_ || (id == pad_id_ && id >= 0) || (id == mask_id_ && id >= 0);
}

// ---- tokenization ----

void WordPieceTokenizer::push_token(Encoding& out, int32_t id, std::string_view token) const {
    out.ids.push_back(id);
    out.tokens.emplace_back(token);
    out.special.push_back(is_special_id(id) ? 1 : 0);
}

// Splits out the special strings, then runs the BasicTokenizer on the rest.
void WordPieceTokenizer::tokenize_text(std::string_view text, Encoding& out) const {
    size_t chunk_start = 0;
    size_t pos = 0;
    while ((pos = text.find('[', pos)) != std::string_view::npos) {
        const size_t len = special_string_at(text, pos);
        if (len == 0) {
            ++pos;
            continue;
        }
        tokenize_chunk(text.substr(chunk_start, pos - chunk_start), out);
        const std::string_view special = text.substr(pos, len);
        // HF maps a special string missing from the vocabulary to [UNK]'s id.
        push_token(out, token_to_id(special).value_or(unk_id_), special);
        pos += len;
        chunk_start = pos;
    }
    tokenize_chunk(text.substr(chunk_start), out);
}

// HF composes the whole text (NFC) before the whitespace split, so "e\u0301"
// and "\u00e9" tokenize alike. Composing each word instead gives the same
// result (nothing composes with a space) and skips the ASCII words; when
// accents are stripped the NFD alone suffices, as NFD(NFC(x)) == NFD(x).
void WordPieceTokenizer::for_each_word(std::string_view chunk, const std::function<void(std::string_view)>& fn) const {
    if (chunk.empty()) return;
    const std::string text = clean_text(chunk, options_.lower_case, options_.tokenize_chinese_chars);
    const bool strip = strips_accents();
    std::string normalized;
    split_on_whitespace(text, [&](std::string_view token) {
        if (options_.lower_case) {
            if (!is_ascii(token)) token = normalized = strip ? strip_accents(token) : normalize(token, UTF8PROC_COMPOSE);
        } else {
            if (!is_ascii(token)) token = normalized = normalize(token, UTF8PROC_COMPOSE);
            // HF's never_split: a whole word spelled like a special token (after
            // cleaning and NFC) skips punctuation splitting. In lower-case mode
            // HF has lower-cased it already, so it never matches there.
            if (is_special_string(token)) {
                fn(token);
                return;
            }
            if (strip && !is_ascii(token)) token = normalized = strip_accents(token);
        }
        split_on_punctuation(token, fn);
    });
}

void WordPieceTokenizer::tokenize_chunk(std::string_view chunk, Encoding& out) const {
    for_each_word(chunk, [&](std::string_view word) { tokenize_word(word, out); });
}

std::vector<std::string> WordPieceTokenizer::basic_tokenize(std::string_view text) const {
    detail::require_utf8(text, "text");
    std::vector<std::string> words;
    for_each_word(text, [&](std::string_view word) { words.emplace_back(word); });
    return words;
}

// Greedy longest-match-first WordPiece. A word that cannot be covered
// completely becomes a single [UNK].
void WordPieceTokenizer::tokenize_word(std::string_view word, Encoding& out) const {
    const std::string& unk = tokens_[static_cast<size_t>(unk_id_)];
    if (count_code_points(word) > static_cast<size_t>(options_.max_input_chars_per_word)) {
        push_token(out, unk_id_, unk);
        return;
    }
    const size_t first_piece = out.ids.size();
    size_t start = 0;
    while (start < word.size()) {
        size_t end = word.size();
        std::optional<int32_t> id;
        while (end > start) {
            id = lookup(word.substr(start, end - start), start > 0);
            if (id) break;
            do --end;  // back one whole code point
            while (end > start && is_continuation_byte(word[end]));
        }
        if (!id) {
            out.ids.resize(first_piece);
            out.tokens.resize(first_piece);
            out.special.resize(first_piece);
            push_token(out, unk_id_, unk);
            return;
        }
        push_token(out, *id, tokens_[static_cast<size_t>(*id)]);
        start = end;
    }
}

Encoding WordPieceTokenizer::encode(std::string_view text, bool add_special_tokens) const {
    detail::require_utf8(text, "text");
    Encoding out;
    if (add_special_tokens) push_token(out, cls_id_, tokens_[static_cast<size_t>(cls_id_)]);
    tokenize_text(text, out);
    if (add_special_tokens) push_token(out, sep_id_, tokens_[static_cast<size_t>(sep_id_)]);
    out.type_ids.assign(out.ids.size(), 0);
    return out;
}

// [CLS] a [SEP] b [SEP]: type id 0 up to and including the first [SEP], 1 after.
// Without special tokens HF gives the second segment type id 0 as well.
Encoding WordPieceTokenizer::encode_pair(std::string_view first, std::string_view second,
                                         bool add_special_tokens) const {
    detail::require_utf8(first, "first text");
    detail::require_utf8(second, "second text");
    Encoding out;
    const std::string& sep = tokens_[static_cast<size_t>(sep_id_)];
    if (add_special_tokens) push_token(out, cls_id_, tokens_[static_cast<size_t>(cls_id_)]);
    tokenize_text(first, out);
    if (add_special_tokens) push_token(out, sep_id_, sep);
    const size_t first_len = out.ids.size();
    tokenize_text(second, out);
    if (add_special_tokens) push_token(out, sep_id_, sep);
    out.type_ids.assign(first_len, 0);
    out.type_ids.resize(out.ids.size(), add_special_tokens ? 1 : 0);
    return out;
}

// ---- decoding ----

std::string WordPieceTokenizer::decode(const std::vector<int32_t>& ids, bool skip_special_tokens) const {
    std::string text;
    bool first = true;
    for (const int32_t id : ids) {
        if (skip_special_tokens && is_special_id(id)) continue;
        if (!first) text += ' ';
        first = false;
        const bool known = id >= 0 && static_cast<size_t>(id) < tokens_.size();
        text += tokens_[static_cast<size_t>(known ? id : unk_id_)];
    }
    replace_all(text, " ##", "");
    text = python_strip(text);
    clean_up_tokenization(text);
    return text;
}

}  // namespace gaze
