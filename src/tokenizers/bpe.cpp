// Byte-level BPE (GPT-2). See include/gaze/tokenizers/bpe.hpp for the steps;
// each has its own function below, in the order encode() runs them.
#include "gaze/tokenizers/bpe.hpp"

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>
#include <utf8proc.h>

#include <array>
#include <cstdio>
#include <fstream>
#include <limits>
#include <nlohmann/json.hpp>
#include <sstream>

#include "gaze/error.hpp"
#include "utf8_check.hpp"

namespace gaze {
namespace {

// GPT-2's pre-tokenization pattern (encoder.py of openai/gpt-2, and HF).
constexpr const char* kPattern = R"('s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+)";
constexpr size_t kMaxCachedWords = 1 << 16;

std::string utf8_of(int32_t cp) {
    utf8proc_uint8_t buf[4];
    const auto n = utf8proc_encode_char(cp, buf);
    return {reinterpret_cast<const char*>(buf), static_cast<size_t>(n)};
}

// bytes_to_unicode(): printable Latin-1 bytes spell themselves, the other 68
// bytes (controls, space, 0x7f-0xa0, 0xad) take U+0100.. in byte order, so a
// token never holds whitespace or control characters.
struct ByteAlphabet {
    std::array<std::string, 256> spelling;   // byte -> UTF-8 of its code point
    std::array<int, 512> byte_of{};          // code point -> byte, -1 if none
    ByteAlphabet() {
        byte_of.fill(-1);
        int next = 256;
        for (int b = 0; b < 256; ++b) {
            const bool printable = (b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF);
            const int cp = printable ? b : next++;
            spelling[static_cast<size_t>(b)] = utf8_of(cp);
            byte_of[static_cast<size_t>(cp)] = b;
        }
    }
};
const ByteAlphabet& alphabet() {
    static const ByteAlphabet a;
    return a;
}

// Python's bytes.decode("utf-8", errors="replace"): each maximal ill-formed
// subpart becomes one U+FFFD (Unicode's recommended practice).
std::string replace_invalid_utf8(std::string_view s) {
    static const std::string kReplacement = "\xEF\xBF\xBD";
    std::string out;
    size_t i = 0;
    while (i < s.size()) {
        const auto b = static_cast<unsigned char>(s[i]);
        if (b < 0x80) {
            out += static_cast<char>(b);
            ++i;
            continue;
        }
        // Length and the allowed range of the second byte (Unicode table 3-7).
        int len = 0;
        unsigned char lo = 0x80, hi = 0xBF;
        if (b >= 0xC2 && b <= 0xDF) len = 2;
        else if (b == 0xE0) len = 3, lo = 0xA0;
        else if ((b >= 0xE1 && b <= 0xEC) || b == 0xEE || b == 0xEF) len = 3;
        else if (b == 0xED) len = 3, hi = 0x9F;
        else if (b == 0xF0) len = 4, lo = 0x90;
        else if (b >= 0xF1 && b <= 0xF3) len = 4;
        else if (b == 0xF4) len = 4, hi = 0x8F;
        size_t j = i + 1;
        for (int k = 1; k < len && j < s.size(); ++k, ++j) {
            const auto c = static_cast<unsigned char>(s[j]);
            if (c < (k == 1 ? lo : 0x80) || c > (k == 1 ? hi : 0xBF)) break;
        }
        if (len > 0 && j - i == static_cast<size_t>(len)) {
            out.append(s.substr(i, j - i));
        } else {
            out += kReplacement;
        }
        i = j;
    }
    return out;
}

std::string read_file(const std::string& path, const char* what) {
    std::ifstream in(path, std::ios::binary);
    if (!in) throw Error(path + ": cannot open " + what);
    std::stringstream buffer;
    buffer << in.rdbuf();
    if (in.bad()) throw Error(path + ": cannot read " + what);
    return buffer.str();
}

// vocab.json: {"token": id, ...} -> tokens by id.
std::vector<std::string> read_vocab_json(const std::string& path) {
    nlohmann::json json;
    try {
        json = nlohmann::json::parse(read_file(path, "vocabulary"));
    } catch (const nlohmann::json::exception& e) {
        throw Error(path + ": invalid JSON (" + e.what() + ")");
    }
    if (!json.is_object() || json.empty()) throw Error(path + ": expected a non-empty JSON object {\"token\": id}");
    std::vector<std::string> tokens(json.size());
    std::vector<bool> seen(json.size());
    for (const auto& [token, id] : json.items()) {
        if (!id.is_number_integer() || id.get<int64_t>() < 0 || id.get<int64_t>() >= static_cast<int64_t>(json.size())) {
            throw Error(path + ": token \"" + token + "\" has id " + id.dump() + ", expected an integer in [0, " +
                        std::to_string(json.size()) + ")");
        }
        const auto i = id.get<size_t>();
        if (seen[i]) throw Error(path + ": id " + std::to_string(i) + " is given to two tokens");
        seen[i] = true;
        tokens[i] = token;
    }
    return tokens;
}

// merges.txt: an optional "#version: ..." first line, then "left right" pairs.
std::vector<std::pair<std::string, std::string>> read_merges(const std::string& path) {
    std::istringstream in(read_file(path, "merges file"));
    std::vector<std::pair<std::string, std::string>> merges;
    std::string line;
    size_t blank_run_start = 0;  // a blank line is only an error if a merge follows it
    for (size_t number = 1; std::getline(in, line); ++number) {
        if (!line.empty() && line.back() == '\r') line.pop_back();
        if (number == 1 && line.rfind("#version", 0) == 0) continue;
        if (line.find_first_not_of(" \t") == std::string::npos) {
            if (!blank_run_start) blank_run_start = number;
            continue;
        }
        std::istringstream fields(line);
        std::string left, right, extra;
        if (blank_run_start || !(fields >> left >> right) || (fields >> extra)) {
            const size_t bad = blank_run_start ? blank_run_start : number;
            throw Error(path + ":" + std::to_string(bad) + ": expected a merge \"left right\", got \"" +
                        (blank_run_start ? std::string() : line) + "\"");
        }
        merges.emplace_back(std::move(left), std::move(right));
    }
    return merges;
}

}  // namespace

// ---- the pre-tokenization regex ------------------------------------------------

struct BpeTokenizer::Regex {
    pcre2_code* code = nullptr;
    Regex() {
        int error = 0;
        PCRE2_SIZE offset = 0;
        code = pcre2_compile(reinterpret_cast<PCRE2_SPTR>(kPattern), PCRE2_ZERO_TERMINATED, PCRE2_UTF | PCRE2_UCP,
                             &error, &offset, nullptr);
        if (!code) throw Error("BPE: cannot compile the pre-tokenization pattern (PCRE2 error " + std::to_string(error) + ")");
        pcre2_jit_compile(code, PCRE2_JIT_COMPLETE);  // an interpreter fallback is fine if JIT is unavailable
    }
    ~Regex() { pcre2_code_free(code); }
    Regex(const Regex&) = delete;
    Regex& operator=(const Regex&) = delete;

    // Calls f(piece) for each match in `text` (already checked as UTF-8).
    template <typename F>
    void for_each_match(std::string_view text, F&& f) const {
        std::unique_ptr<pcre2_match_data, decltype(&pcre2_match_data_free)> md(
            pcre2_match_data_create_from_pattern(code, nullptr), &pcre2_match_data_free);
        const auto* subject = reinterpret_cast<PCRE2_SPTR>(text.data());
        size_t pos = 0;
        while (pos < text.size()) {
            const int rc = pcre2_match(code, subject, text.size(), pos, PCRE2_NO_UTF_CHECK, md.get(), nullptr);
            if (rc == PCRE2_ERROR_NOMATCH) return;
            if (rc < 0) throw Error("BPE: pre-tokenization failed (PCRE2 error " + std::to_string(rc) + ")");
            const PCRE2_SIZE* ov = pcre2_get_ovector_pointer(md.get());
            if (ov[1] == ov[0]) {  // the pattern cannot match empty, but never loop forever
                ++pos;
                continue;
            }
            f(text.substr(ov[0], ov[1] - ov[0]));
            pos = ov[1];
        }
    }
};

// ---- construction ---------------------------------------------------------------

BpeTokenizer::BpeTokenizer(const std::string& vocab_json_path, const std::string& merges_path)
    : source_(vocab_json_path), tokens_(read_vocab_json(vocab_json_path)) {
    build(read_merges(merges_path));
}

BpeTokenizer::BpeTokenizer(std::vector<std::string> vocab, std::vector<std::pair<std::string, std::string>> merges,
                           std::string source)
    : source_(std::move(source)), tokens_(std::move(vocab)) {
    build(merges);
}

BpeTokenizer::~BpeTokenizer() = default;

std::unique_ptr<BpeTokenizer> BpeTokenizer::bytes_only() {
    std::vector<std::string> vocab(alphabet().spelling.begin(), alphabet().spelling.end());
    vocab.emplace_back(kEndOfText);
    return std::make_unique<BpeTokenizer>(std::move(vocab), std::vector<std::pair<std::string, std::string>>{},
                                          "byte-level vocabulary (256 bytes + <|endoftext|>)");
}

void BpeTokenizer::build(const std::vector<std::pair<std::string, std::string>>& merges) {
    if (tokens_.size() > static_cast<size_t>(std::numeric_limits<int32_t>::max())) {
        throw Error(source_ + ": vocabulary too large");
    }
    for (size_t i = 0; i < tokens_.size(); ++i) vocab_.emplace(tokens_[i], static_cast<int32_t>(i));
    // As in HF (a dict built from the list), a repeated merge keeps its last rank.
    for (size_t r = 0; r < merges.size(); ++r) {
        ranks_.insert_or_assign(merges[r].first + " " + merges[r].second, static_cast<int32_t>(r));
    }
    if (auto it = vocab_.find(std::string_view(kEndOfText)); it != vocab_.end()) eot_id_ = it->second;
    regex_ = std::make_unique<Regex>();
}

// ---- encoding ------------------------------------------------------------------

Encoding BpeTokenizer::encode(std::string_view text, bool /*add_special_tokens: GPT-2 adds none*/) const {
    detail::require_utf8(text, "text");
    Encoding out;
    // <|endoftext|> anywhere in the text is the special token, never split.
    const std::string_view eot(kEndOfText);
    size_t pos = 0;
    while (pos <= text.size()) {
        const size_t at = eot_id_ ? text.find(eot, pos) : std::string_view::npos;
        encode_text(text.substr(pos, at == std::string_view::npos ? std::string_view::npos : at - pos), out);
        if (at == std::string_view::npos) break;
        push(out, *eot_id_, eot);
        pos = at + eot.size();
    }
    return out;
}

Encoding BpeTokenizer::encode_pair(std::string_view first, std::string_view second, bool add_special_tokens) const {
    Encoding a = encode(first, add_special_tokens);
    a.append(encode(second, add_special_tokens));
    return a;
}

void BpeTokenizer::encode_text(std::string_view text, Encoding& out) const {
    if (text.empty()) return;
    regex_->for_each_match(text, [&](std::string_view piece) { encode_piece(piece, out); });
}

void BpeTokenizer::encode_piece(std::string_view piece, Encoding& out) const {
    {
        const std::lock_guard<std::mutex> lock(cache_mutex_);
        if (auto it = cache_.find(piece); it != cache_.end()) {
            for (int32_t id : it->second) push(out, id, tokens_[static_cast<size_t>(id)]);
            return;
        }
    }
    std::string spelled;
    for (unsigned char b : piece) spelled += alphabet().spelling[b];
    std::vector<int32_t> ids;
    for (const auto& symbol : merge(spelled)) {
        auto it = vocab_.find(symbol);
        if (it == vocab_.end()) {
            // HF maps a piece missing from the vocabulary to the unknown token (<|endoftext|>).
            if (!eot_id_) throw Error(source_ + ": BPE piece '" + symbol + "' is not in the vocabulary");
            ids.push_back(*eot_id_);
        } else {
            ids.push_back(it->second);
        }
    }
    for (int32_t id : ids) push(out, id, tokens_[static_cast<size_t>(id)]);
    const std::lock_guard<std::mutex> lock(cache_mutex_);
    if (cache_.size() >= kMaxCachedWords) cache_.clear();
    cache_.emplace(std::string(piece), std::move(ids));
}

// BPE on one spelled word: start from single characters, then repeatedly
// merge every occurrence (left to right) of the adjacent pair whose merge
// has the lowest rank, until no adjacent pair is a merge.
std::vector<std::string> BpeTokenizer::merge(std::string_view spelled) const {
    std::vector<std::string> word;
    for (size_t pos = 0; pos < spelled.size();) {
        size_t len = 1;
        while (pos + len < spelled.size() && (static_cast<unsigned char>(spelled[pos + len]) & 0xC0) == 0x80) ++len;
        word.emplace_back(spelled.substr(pos, len));
        pos += len;
    }
    std::string key;
    auto rank_of = [&](size_t i) {
        key.assign(word[i]).append(" ").append(word[i + 1]);
        auto it = ranks_.find(key);
        return it == ranks_.end() ? std::numeric_limits<int32_t>::max() : it->second;
    };
    while (word.size() > 1) {
        int32_t best = std::numeric_limits<int32_t>::max();
        size_t best_at = 0;
        for (size_t i = 0; i + 1 < word.size(); ++i) {
            const int32_t r = rank_of(i);
            if (r < best) best = r, best_at = i;
        }
        if (best == std::numeric_limits<int32_t>::max()) break;
        const std::string first = word[best_at], second = word[best_at + 1];
        std::vector<std::string> merged;
        merged.reserve(word.size());
        for (size_t i = 0; i < word.size(); ++i) {
            if (i + 1 < word.size() && word[i] == first && word[i + 1] == second) {
                merged.push_back(first + second);
                ++i;
            } else {
                merged.push_back(std::move(word[i]));
            }
        }
        word = std::move(merged);
    }
    return word;
}

void BpeTokenizer::push(Encoding& out, int32_t id, std::string_view token) const {
    out.ids.push_back(id);
    out.tokens.emplace_back(token);
    out.special.push_back(eot_id_ && id == *eot_id_ ? 1 : 0);
}

// ---- decoding ------------------------------------------------------------------

std::string BpeTokenizer::id_to_token(int32_t id) const {
    if (id < 0 || id >= vocab_size()) {
        throw Error("token id " + std::to_string(id) + " is outside the vocabulary of " +
                    std::to_string(vocab_size()) + " (" + source_ + ")");
    }
    return tokens_[static_cast<size_t>(id)];
}

std::optional<int32_t> BpeTokenizer::token_to_id(std::string_view token) const {
    auto it = vocab_.find(token);
    if (it == vocab_.end()) return std::nullopt;
    return it->second;
}

int32_t BpeTokenizer::pad_id() const {
    if (!eot_id_) throw Error(source_ + ": vocabulary has no <|endoftext|> to pad with");
    return *eot_id_;
}

std::string BpeTokenizer::token_bytes(int32_t id) const {
    const std::string token = id_to_token(id);
    std::string out;
    size_t pos = 0;
    while (pos < token.size()) {
        utf8proc_int32_t cp = -1;
        const auto n = utf8proc_iterate(reinterpret_cast<const utf8proc_uint8_t*>(token.data() + pos),
                                        static_cast<utf8proc_ssize_t>(token.size() - pos), &cp);
        const size_t len = n > 0 ? static_cast<size_t>(n) : 1;
        const int byte = cp >= 0 && cp < 512 ? alphabet().byte_of[static_cast<size_t>(cp)] : -1;
        // A character outside the byte alphabet (an added token) stands for itself.
        if (byte >= 0) out += static_cast<char>(byte);
        else out.append(token, pos, len);
        pos += len;
    }
    return out;
}

std::string BpeTokenizer::decode(const std::vector<int32_t>& ids, bool skip_special_tokens) const {
    std::string out;
    for (int32_t id : ids) {
        if (skip_special_tokens && eot_id_ && id == *eot_id_) continue;
        out += token_bytes(id);
    }
    return out;
}

std::string BpeTokenizer::decode_text(const std::vector<int32_t>& ids, bool skip_special_tokens) const {
    return replace_invalid_utf8(decode(ids, skip_special_tokens));
}

}  // namespace gaze
