// Byte-level BPE (GPT-2). See include/gaze/tokenizers/bpe.hpp for the steps;
// each has its own function below, in the order encode() runs them.
#include "gaze/tokenizers/bpe.hpp"

#include <limits>

#include "byte_level.hpp"
#include "gaze/error.hpp"
#include "utf8_check.hpp"

namespace gaze {
namespace {

using detail::byte_alphabet;
constexpr size_t kMaxCachedWords = 1 << 16;

}  // namespace

// ---- construction ---------------------------------------------------------------

BpeTokenizer::BpeTokenizer(const std::string& vocab_json_path, const std::string& merges_path)
    : source_(vocab_json_path), tokens_(detail::read_vocab_json(vocab_json_path)) {
    build(detail::read_merges(merges_path));
}

BpeTokenizer::BpeTokenizer(std::vector<std::string> vocab, std::vector<std::pair<std::string, std::string>> merges,
                           std::string source)
    : source_(std::move(source)), tokens_(std::move(vocab)) {
    build(merges);
}

BpeTokenizer::~BpeTokenizer() = default;

std::unique_ptr<BpeTokenizer> BpeTokenizer::bytes_only() {
    std::vector<std::string> vocab(byte_alphabet().spelling.begin(), byte_alphabet().spelling.end());
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
    regex_ = std::make_unique<detail::Regex>(detail::kGpt2Pattern, "BPE pre-tokenization pattern");
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
    regex_->for_each_match(text, [&](size_t begin, size_t end) { encode_piece(text.substr(begin, end - begin), out); });
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
    detail::append_byte_spelling(piece, spelled);
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
    // A token with characters outside the byte alphabet (an added token) stands for itself.
    if (!detail::append_spelled_bytes(token, out)) out = token;
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
    return detail::replace_invalid_utf8(decode(ids, skip_special_tokens));
}

}  // namespace gaze
