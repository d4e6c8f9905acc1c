#pragma once
// WordPiece tokenizer for BERT-family models. It reproduces Hugging Face's slow
// BertTokenizer (transformers 4.31): BasicTokenizer (clean text, split CJK,
// NFC, whitespace split, lower-case + strip accents, split on punctuation)
// followed by greedy longest-match-first WordPiece with "##" continuations.
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "gaze/tokenizer.hpp"

namespace gaze {

struct WordPieceOptions {
    bool lower_case = true;
    // Unset: strip accents exactly when lower_case is on (as HF does).
    std::optional<bool> strip_accents;
    // Put spaces around CJK ideographs so each becomes its own word.
    bool tokenize_chinese_chars = true;
    // Longer words (in code points) become a single [UNK].
    int max_input_chars_per_word = 100;
};

class WordPieceTokenizer : public Tokenizer {
public:
    // Reads vocab.txt: one token a line, id = 0-based line number.
    explicit WordPieceTokenizer(const std::string& vocab_path, WordPieceOptions options = {});
    // An in-memory vocabulary, id = index (e.g. a tiny vocab for a random model).
    explicit WordPieceTokenizer(std::vector<std::string> vocab, WordPieceOptions options = {});

    Encoding encode(std::string_view text, bool add_special_tokens = true) const override;
    Encoding encode_pair(std::string_view first, std::string_view second,
                         bool add_special_tokens = true) const override;
    // Joins tokens, merges "##" pieces and applies HF's clean_up_tokenization.
    // skip_special_tokens drops [CLS], [SEP], [PAD] and [MASK] (not [UNK]).
    std::string decode(const std::vector<int32_t>& ids, bool skip_special_tokens = false) const override;
    // Ids outside the vocabulary read as "[UNK]", as in HF.
    std::string id_to_token(int32_t id) const override;
    std::optional<int32_t> token_to_id(std::string_view token) const override;
    int64_t vocab_size() const override { return static_cast<int64_t>(tokens_.size()); }
    // Throws gaze::Error when the vocabulary has no [PAD].
    int32_t pad_id() const override;
    std::string pad_token() const override { return "[PAD]"; }

    const WordPieceOptions& options() const { return options_; }
    int32_t unk_id() const { return unk_id_; }
    int32_t cls_id() const { return cls_id_; }
    int32_t sep_id() const { return sep_id_; }
    // The words before WordPiece (HF's BasicTokenizer: cleaned, split on
    // whitespace and punctuation, lower-cased/accent-stripped per options).
    std::vector<std::string> basic_tokenize(std::string_view text) const;
    // True for [CLS], [SEP], [PAD] and [MASK].
    bool is_special_id(int32_t id) const;

private:
    // Transparent hashing so string_view pieces are looked up without copies.
    struct StringHash {
        using is_transparent = void;
        size_t operator()(std::string_view s) const noexcept { return std::hash<std::string_view>{}(s); }
    };
    using VocabMap = std::unordered_map<std::string, int32_t, StringHash, std::equal_to<>>;

    void build_index();
    bool strips_accents() const;
    // Text (already checked as UTF-8) -> tokens appended to `out`.
    void tokenize_text(std::string_view text, Encoding& out) const;
    void tokenize_chunk(std::string_view chunk, Encoding& out) const;
    void for_each_word(std::string_view chunk, const std::function<void(std::string_view)>& fn) const;
    void tokenize_word(std::string_view word, Encoding& out) const;
    void push_token(Encoding& out, int32_t id, std::string_view token) const;
    std::optional<int32_t> lookup(std::string_view piece, bool continuation) const;

    WordPieceOptions options_;
    std::string source_;               // file path or "in-memory vocabulary", for errors
    std::vector<std::string> tokens_;  // id -> token
    VocabMap vocab_;                   // token -> id
    VocabMap continuations_;           // "##x" tokens keyed by "x"
    int32_t unk_id_ = -1;
    int32_t cls_id_ = -1;
    int32_t sep_id_ = -1;
    int32_t pad_id_ = -1;              // -1 where the vocabulary has none
    int32_t mask_id_ = -1;
};

}  // namespace gaze
