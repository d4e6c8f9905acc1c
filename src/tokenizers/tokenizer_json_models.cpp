// tokenizer.json models: BPE, WordPiece and Unigram. Each maps one
// pre-tokenized piece to ids, following the Rust `tokenizers` crate.
#include <algorithm>
#include <array>
#include <cmath>
#include <limits>
#include <mutex>
#include <queue>
#include <shared_mutex>

#include "gaze/error.hpp"
#include "tokenizer_json_components.hpp"

namespace gaze::detail {
namespace {

constexpr size_t kMaxCachedPieces = 1 << 16;

std::string byte_token(unsigned char b) {  // SentencePiece's byte pieces: <0x0A>
    static const char* hex = "0123456789ABCDEF";
    return std::string("<0x") + hex[b >> 4] + hex[b & 15] + ">";
}

// The vocabulary shared by the models: token <-> id, ids may have gaps.
class VocabTable {
public:
    void add(std::string token, int32_t id, const JsonPlace& at) {
        if (id < 0 || id >= (1 << 30)) at.fail("id " + std::to_string(id) + " is out of range");
        if (static_cast<size_t>(id) >= tokens_.size()) tokens_.resize(static_cast<size_t>(id) + 1), present_.resize(tokens_.size());
        if (present_[static_cast<size_t>(id)]) at.fail("id " + std::to_string(id) + " is given to two tokens");
        present_[static_cast<size_t>(id)] = true;
        if (!ids_.emplace(token, id).second) at.fail("token \"" + token + "\" is listed twice");
        tokens_[static_cast<size_t>(id)] = std::move(token);
    }
    // {"token": id, ...}
    void read_object(const Json& vocab, const JsonPlace& at) {
        if (!vocab.is_object()) at.fail("expected an object {\"token\": id}");
        for (const auto& [token, id] : vocab.items()) {
            if (!id.is_number_integer()) (at / token).fail("expected an integer id, got " + id.dump());
            add(token, id.get<int32_t>(), at / token);
        }
    }
    std::optional<int32_t> find(std::string_view token) const {
        auto it = ids_.find(token);
        if (it == ids_.end()) return std::nullopt;
        return it->second;
    }
    const std::string* token(int32_t id) const {
        if (id < 0 || static_cast<size_t>(id) >= tokens_.size() || !present_[static_cast<size_t>(id)]) return nullptr;
        return &tokens_[static_cast<size_t>(id)];
    }
    int64_t size() const { return static_cast<int64_t>(tokens_.size()); }
    // <0x00>..<0xFF> ids when all 256 are present (byte fallback).
    std::optional<std::array<int32_t, 256>> byte_ids() const {
        std::array<int32_t, 256> ids{};
        for (int b = 0; b < 256; ++b) {
            auto id = find(byte_token(static_cast<unsigned char>(b)));
            if (!id) return std::nullopt;
            ids[static_cast<size_t>(b)] = *id;
        }
        return ids;
    }

private:
    std::vector<std::string> tokens_;
    std::vector<bool> present_;
    StringMap<int32_t> ids_;
};

std::optional<int32_t> optional_token_id(const Json& json, const char* key, const JsonPlace& at, const VocabTable& vocab) {
    if (!find_field(json, key)) return std::nullopt;
    const std::string token = string_field(json, key, at);
    auto id = vocab.find(token);
    if (!id) (at / key).fail("\"" + token + "\" is not in the vocabulary");
    return id;
}

class ModelBase : public Model {
public:
    std::optional<int32_t> token_to_id(std::string_view token) const override { return vocab_.find(token); }
    const std::string* id_to_token(int32_t id) const override { return vocab_.token(id); }
    int64_t size() const override { return vocab_.size(); }
    std::optional<int32_t> unk_id() const override { return unk_id_; }

protected:
    VocabTable vocab_;
    std::optional<int32_t> unk_id_;
};

// ---- BPE ---------------------------------------------------------------------------

class Bpe final : public ModelBase {
public:
    Bpe(const Json& json, const JsonPlace& at) : source_(at.file) {
        vocab_.read_object(require_field(json, "vocab", at), at / "vocab");
        unk_id_ = optional_token_id(json, "unk_token", at, vocab_);
        prefix_ = string_field(json, "continuing_subword_prefix", at, "");
        suffix_ = string_field(json, "end_of_word_suffix", at, "");
        fuse_unk_ = bool_field(json, "fuse_unk", at, false);
        ignore_merges_ = bool_field(json, "ignore_merges", at, false);
        if (bool_field(json, "byte_fallback", at, false)) {
            byte_ids_ = vocab_.byte_ids();
            if (!byte_ids_) (at / "byte_fallback").fail("is true but the vocabulary lacks the byte tokens <0x00>..<0xFF>");
        }
        read_merges(array_field(json, "merges", at), at / "merges");
    }

    void tokenize(std::string_view piece, std::vector<int32_t>& ids) const override {
        if (piece.empty()) return;
        if (ignore_merges_) {
            if (auto id = vocab_.find(piece)) {
                ids.push_back(*id);
                return;
            }
        }
        {
            std::shared_lock lock(cache_mutex_);
            if (auto it = cache_.find(piece); it != cache_.end()) {
                ids.insert(ids.end(), it->second.begin(), it->second.end());
                return;
            }
        }
        std::vector<int32_t> word = merge(initial_symbols(piece));
        ids.insert(ids.end(), word.begin(), word.end());
        std::unique_lock lock(cache_mutex_);
        if (cache_.size() >= kMaxCachedPieces) cache_.clear();
        cache_.emplace(std::string(piece), std::move(word));
    }

private:
    static uint64_t pair_key(int32_t a, int32_t b) { return static_cast<uint64_t>(a) << 32 | static_cast<uint32_t>(b); }

    void read_merges(const Json& merges, const JsonPlace& at) {
        merges_.reserve(merges.size());
        for (size_t r = 0; r < merges.size(); ++r) {
            const Json& m = merges[r];
            std::string left, right;
            if (m.is_string()) {  // "left right"
                const std::string& s = m.get_ref<const std::string&>();
                const size_t space = s.find(' ');
                if (space == std::string::npos) at[r].fail("expected \"left right\", got \"" + s + "\"");
                left = s.substr(0, space), right = s.substr(space + 1);
            } else if (m.is_array() && m.size() == 2 && m[0].is_string() && m[1].is_string()) {  // ["left", "right"]
                left = m[0].get<std::string>(), right = m[1].get<std::string>();
            } else {
                at[r].fail("expected \"left right\" or [\"left\", \"right\"], got " + m.dump());
            }
            auto a = vocab_.find(left), b = vocab_.find(right), ab = vocab_.find(left + right);
            if (!a) at[r].fail("\"" + left + "\" is not in model.vocab");
            if (!b) at[r].fail("\"" + right + "\" is not in model.vocab");
            if (!ab) at[r].fail("the merged token \"" + left + right + "\" is not in model.vocab");
            // As in HF (a map collected from the list), a repeated merge keeps its last rank.
            merges_.insert_or_assign(pair_key(*a, *b), std::pair<int32_t, int32_t>{static_cast<int32_t>(r), *ab});
        }
    }

    // One symbol per character (with continuing_subword_prefix / end_of_word_suffix),
    // unknown characters as byte tokens (byte_fallback) or unk (fused with fuse_unk).
    std::vector<int32_t> initial_symbols(std::string_view piece) const {
        std::vector<int32_t> symbols;
        std::optional<int32_t> pending_unk;
        std::string s;
        for (size_t pos = 0; pos < piece.size();) {
            const size_t len = std::min(utf8_length(static_cast<unsigned char>(piece[pos])), piece.size() - pos);
            s.clear();
            if (pos > 0) s += prefix_;
            s.append(piece.substr(pos, len));
            pos += len;
            if (pos == piece.size()) s += suffix_;
            if (auto id = vocab_.find(s)) {
                if (pending_unk) symbols.push_back(*pending_unk), pending_unk.reset();
                symbols.push_back(*id);
                continue;
            }
            if (byte_ids_) {
                if (pending_unk) symbols.push_back(*pending_unk), pending_unk.reset();
                for (unsigned char b : s) symbols.push_back((*byte_ids_)[b]);
                continue;
            }
            if (!unk_id_) throw Error(source_ + ": BPE: \"" + s + "\" is not in model.vocab and model.unk_token is not set");
            if (pending_unk && !fuse_unk_) symbols.push_back(*pending_unk);
            pending_unk = unk_id_;
        }
        if (pending_unk) symbols.push_back(*pending_unk);
        return symbols;
    }

    // HF's Word::merge_all: repeatedly merge the adjacent pair of lowest rank
    // (leftmost first on ties), with a priority queue over a linked list.
    std::vector<int32_t> merge(std::vector<int32_t> ids) const {
        const int n = static_cast<int>(ids.size());
        if (n < 2) return ids;
        std::vector<int> prev(static_cast<size_t>(n)), next(static_cast<size_t>(n));
        std::vector<bool> alive(static_cast<size_t>(n), true);
        for (int i = 0; i < n; ++i) prev[static_cast<size_t>(i)] = i - 1, next[static_cast<size_t>(i)] = i + 1 < n ? i + 1 : -1;
        struct Candidate {
            int32_t rank;
            int pos;
            int32_t new_id;
            bool operator>(const Candidate& o) const { return rank != o.rank ? rank > o.rank : pos > o.pos; }
        };
        std::priority_queue<Candidate, std::vector<Candidate>, std::greater<>> queue;
        auto consider = [&](int left) {
            const int right = next[static_cast<size_t>(left)];
            if (left < 0 || right < 0) return;
            auto it = merges_.find(pair_key(ids[static_cast<size_t>(left)], ids[static_cast<size_t>(right)]));
            if (it != merges_.end()) queue.push({it->second.first, left, it->second.second});
        };
        for (int i = 0; i + 1 < n; ++i) consider(i);
        while (!queue.empty()) {
            const Candidate top = queue.top();
            queue.pop();
            const auto pos = static_cast<size_t>(top.pos);
            if (!alive[pos] || next[pos] < 0) continue;
            const auto right = static_cast<size_t>(next[pos]);
            auto it = merges_.find(pair_key(ids[pos], ids[right]));
            if (it == merges_.end() || it->second.second != top.new_id) continue;  // stale entry
            ids[pos] = top.new_id;
            alive[right] = false;
            next[pos] = next[right];
            if (next[pos] >= 0) prev[static_cast<size_t>(next[pos])] = top.pos;
            if (prev[pos] >= 0) consider(prev[pos]);
            consider(top.pos);
        }
        std::vector<int32_t> out;
        for (int i = 0; i >= 0; i = next[static_cast<size_t>(i)]) out.push_back(ids[static_cast<size_t>(i)]);
        return out;
    }

    std::string source_;
    std::string prefix_, suffix_;
    bool fuse_unk_ = false, ignore_merges_ = false;
    std::optional<std::array<int32_t, 256>> byte_ids_;
    std::unordered_map<uint64_t, std::pair<int32_t, int32_t>> merges_;  // (left, right) -> (rank, merged id)
    mutable std::shared_mutex cache_mutex_;
    mutable StringMap<std::vector<int32_t>> cache_;
};

// ---- WordPiece ---------------------------------------------------------------------

// Greedy longest-match-first; a word with any unmatched rest, or longer than
// max_input_chars_per_word characters, is one unk.
class WordPiece final : public ModelBase {
public:
    WordPiece(const Json& json, const JsonPlace& at) {
        vocab_.read_object(require_field(json, "vocab", at), at / "vocab");
        unk_id_ = optional_token_id(json, "unk_token", at, vocab_);
        if (!unk_id_) (at / "unk_token").fail("WordPiece needs an unk_token");
        prefix_ = string_field(json, "continuing_subword_prefix", at, "##");
        max_chars_ = int_field(json, "max_input_chars_per_word", at, 100);
    }
    void tokenize(std::string_view word, std::vector<int32_t>& ids) const override {
        int64_t chars = 0;
        for (unsigned char c : word) chars += (c & 0xC0) != 0x80;
        if (chars > max_chars_) {
            ids.push_back(*unk_id_);
            return;
        }
        std::vector<int32_t> pieces;
        std::string candidate;
        for (size_t start = 0; start < word.size();) {
            std::optional<int32_t> found;
            size_t end = word.size();
            for (; end > start; --end) {
                if (end < word.size() && (static_cast<unsigned char>(word[end]) & 0xC0) == 0x80) continue;
                candidate.assign(start > 0 ? prefix_ : "").append(word.substr(start, end - start));
                if ((found = vocab_.find(candidate))) break;
            }
            if (!found) {
                ids.push_back(*unk_id_);
                return;
            }
            pieces.push_back(*found);
            start = end;
        }
        ids.insert(ids.end(), pieces.begin(), pieces.end());
    }

private:
    std::string prefix_;
    int64_t max_chars_ = 100;
};

// ---- Unigram -----------------------------------------------------------------------

// Viterbi over the pieces' log probabilities; characters no piece covers are
// unk (scored min - 10, consecutive ones fused), or their bytes with byte_fallback.
class Unigram final : public ModelBase {
public:
    Unigram(const Json& json, const JsonPlace& at) {
        const Json& vocab = array_field(json, "vocab", at);
        for (size_t i = 0; i < vocab.size(); ++i) {
            const Json& entry = vocab[i];
            if (!entry.is_array() || entry.size() != 2 || !entry[0].is_string() || !entry[1].is_number())
                (at / "vocab")[i].fail("expected [\"piece\", score], got " + entry.dump());
            std::string piece = entry[0].get<std::string>();
            max_piece_bytes_ = std::max(max_piece_bytes_, piece.size());
            scores_.push_back(entry[1].get<double>());
            min_score_ = std::min(min_score_, scores_.back());
            vocab_.add(std::move(piece), static_cast<int32_t>(i), (at / "vocab")[i]);
        }
        if (const Json* unk = find_field(json, "unk_id")) {
            if (!unk->is_number_integer() || !vocab_.token(unk->get<int32_t>())) (at / "unk_id").fail("is not an id of model.vocab");
            unk_id_ = unk->get<int32_t>();
        }
        if (bool_field(json, "byte_fallback", at, false)) {
            byte_ids_ = vocab_.byte_ids();
            if (!byte_ids_) (at / "byte_fallback").fail("is true but the vocabulary lacks the byte tokens <0x00>..<0xFF>");
        }
    }

    void tokenize(std::string_view text, std::vector<int32_t>& ids) const override {
        const size_t n = text.size();
        constexpr double kUnkPenalty = 10.0;
        struct Best {
            double score = -std::numeric_limits<double>::infinity();
            size_t start = 0;
            int32_t id = -1;  // -1: an unknown character
        };
        std::vector<Best> best(n + 1);
        best[0].score = 0;
        for (size_t start = 0; start < n;) {
            const size_t char_len = std::min(utf8_length(static_cast<unsigned char>(text[start])), n - start);
            if (best[start].score > -std::numeric_limits<double>::infinity()) {
                bool single_char_known = false;
                for (size_t len = 1; len <= std::min(max_piece_bytes_, n - start); ++len) {
                    if (start + len < n && (static_cast<unsigned char>(text[start + len]) & 0xC0) == 0x80) continue;
                    auto id = vocab_.find(text.substr(start, len));
                    if (!id) continue;
                    if (len == char_len) single_char_known = true;
                    const double score = best[start].score + scores_[static_cast<size_t>(*id)];
                    if (score > best[start + len].score) best[start + len] = {score, start, *id};
                }
                if (!single_char_known) {
                    const double score = best[start].score + min_score_ - kUnkPenalty;
                    if (score > best[start + char_len].score) best[start + char_len] = {score, start, -1};
                }
            }
            start += char_len;
        }
        std::vector<std::pair<size_t, int32_t>> path;  // (start, id) from the end back
        for (size_t end = n; end > 0; end = best[end].start) path.emplace_back(best[end].start, best[end].id);
        std::reverse(path.begin(), path.end());
        bool previous_unk = false;
        for (size_t i = 0; i < path.size(); ++i) {
            if (path[i].second >= 0) {
                ids.push_back(path[i].second), previous_unk = false;
                continue;
            }
            const size_t end = i + 1 < path.size() ? path[i + 1].first : n;
            if (byte_ids_) {
                for (size_t b = path[i].first; b < end; ++b) ids.push_back((*byte_ids_)[static_cast<unsigned char>(text[b])]);
                continue;
            }
            if (!unk_id_) throw Error("Unigram: \"" + std::string(text.substr(path[i].first, end - path[i].first)) +
                                      "\" is not in model.vocab and model.unk_id is not set");
            if (!previous_unk) ids.push_back(*unk_id_);
            previous_unk = true;
        }
    }

private:
    std::vector<double> scores_;
    double min_score_ = std::numeric_limits<double>::infinity();
    size_t max_piece_bytes_ = 1;
    std::optional<std::array<int32_t, 256>> byte_ids_;
};

}  // namespace

std::unique_ptr<Model> make_model(const Json& json, const JsonPlace& at) {
    if (!json.is_object()) at.fail("expected an object");
    // Old files leave "type" out of BPE models.
    const std::string type = find_field(json, "type") ? component_type(json, at) : "BPE";
    if (type == "BPE") return std::make_unique<Bpe>(json, at);
    if (type == "WordPiece") return std::make_unique<WordPiece>(json, at);
    if (type == "Unigram") return std::make_unique<Unigram>(json, at);
    unknown_component(type, at, "BPE, WordPiece, Unigram");
}

}  // namespace gaze::detail
