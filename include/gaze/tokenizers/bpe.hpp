#pragma once
// Byte-level BPE, the tokenizer of GPT-2 (Radford et al., 2019). It reproduces
// Hugging Face's GPT2Tokenizer (transformers 4.31, add_prefix_space=False):
//   1. the special token <|endoftext|> is cut out of the text and kept whole;
//   2. the rest is pre-tokenized with GPT-2's pattern
//        's|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+
//      (PCRE2 with Unicode properties);
//   3. each piece's UTF-8 bytes are spelled with the bytes-to-unicode alphabet
//      (printable bytes stand for themselves, the others for U+0100..: a space
//      becomes "Ġ"), so every byte string has a spelling and nothing is [UNK];
//   4. merges are applied lowest rank first, as in merges.txt.
// No special tokens are added (GPT-2 has no [CLS]/BOS), and decode() gives back
// the exact bytes that were encoded.
//
// Thread safety: encode() may be called from several threads at once; the
// per-word merge cache is guarded by a mutex.
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "gaze/tokenizer.hpp"

namespace gaze {

namespace detail {
class Regex;
}

class BpeTokenizer : public Tokenizer {
public:
    // Reads vocab.json ({"token": id, ...}) and merges.txt ("#version" line,
    // then one "left right" pair a line, rank = line order). Throws gaze::Error
    // naming the file (and line) that does not parse.
    BpeTokenizer(const std::string& vocab_json_path, const std::string& merges_path);
    // In memory: id = index in `vocab`; merges as (left, right) in rank order.
    BpeTokenizer(std::vector<std::string> vocab, std::vector<std::pair<std::string, std::string>> merges,
                 std::string source = "in-memory BPE vocabulary");
    // The 256 single bytes plus <|endoftext|> (id 256), no merges: a tokenizer for
    // randomly initialised GPTs that need no vocabulary file.
    static std::unique_ptr<BpeTokenizer> bytes_only();
    ~BpeTokenizer() override;

    Encoding encode(std::string_view text, bool add_special_tokens = true) const override;
    // GPT-2 has no pair format: the two encodings one after the other.
    Encoding encode_pair(std::string_view first, std::string_view second,
                         bool add_special_tokens = true) const override;
    // The exact bytes (no clean-up of spaces; possibly an incomplete UTF-8
    // sequence when ids stop inside a character). Throws for an id outside
    // the vocabulary.
    std::string decode(const std::vector<int32_t>& ids, bool skip_special_tokens = false) const override;
    // decode(), with invalid UTF-8 replaced by U+FFFD as Python's
    // bytes.decode("utf-8", errors="replace") does (what HF's decode returns).
    std::string decode_text(const std::vector<int32_t>& ids, bool skip_special_tokens = false) const;
    std::string id_to_token(int32_t id) const override;
    std::optional<int32_t> token_to_id(std::string_view token) const override;
    int64_t vocab_size() const override { return static_cast<int64_t>(tokens_.size()); }
    // GPT-2 has no pad token; batches are padded with <|endoftext|>, as HF does
    // with pad_token = eos_token.
    int32_t pad_id() const override;
    std::string pad_token() const override { return kEndOfText; }

    static constexpr const char* kEndOfText = "<|endoftext|>";
    // The id of <|endoftext|> (end of text; GPT-2's eos), if the vocabulary has it.
    std::optional<int32_t> end_of_text_id() const { return eot_id_; }
    // The bytes a token stands for (the inverse of the bytes-to-unicode spelling).
    std::string token_bytes(int32_t id) const;

private:
    struct StringHash {
        using is_transparent = void;
        size_t operator()(std::string_view s) const noexcept { return std::hash<std::string_view>{}(s); }
    };
    template <typename V>
    using StringMap = std::unordered_map<std::string, V, StringHash, std::equal_to<>>;

    void build(const std::vector<std::pair<std::string, std::string>>& merges);
    void encode_text(std::string_view text, Encoding& out) const;        // between special tokens
    void encode_piece(std::string_view piece, Encoding& out) const;      // one pre-token
    std::vector<std::string> merge(std::string_view spelled) const;      // BPE on one spelled word
    void push(Encoding& out, int32_t id, std::string_view token) const;

    std::string source_;
    std::vector<std::string> tokens_;   // id -> token (byte-to-unicode spelling)
    StringMap<int32_t> vocab_;          // token -> id
    StringMap<int32_t> ranks_;          // "left right" -> merge rank
    std::optional<int32_t> eot_id_;
    std::unique_ptr<detail::Regex> regex_;  // the pre-tokenization pattern

    // Per-pre-token cache of merged pieces (bounded; cleared when full).
    mutable std::mutex cache_mutex_;
    mutable StringMap<std::vector<int32_t>> cache_;
};

}  // namespace gaze
