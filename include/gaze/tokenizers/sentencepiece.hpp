#pragma once
// SentencePiece tokenizer for T5 (spiece.model), through the SentencePiece
// library. It reproduces Hugging Face's slow T5Tokenizer (transformers 4.31,
// legacy mode): special tokens written in the text (</s>, <pad>, <unk>,
// <extra_id_N>) are kept whole with the spaces around them stripped, every
// other stretch of text is encoded by the SentencePiece model, and </s> is
// appended. The 100 sentinel tokens <extra_id_N> sit past the model's pieces,
// in reverse: <extra_id_0> = vocab_size - 1.
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "gaze/tokenizer.hpp"

namespace sentencepiece {
class SentencePieceProcessor;
}

namespace gaze {

class SentencePieceTokenizer : public Tokenizer {
public:
    // Loads a SentencePiece model file; throws gaze::Error naming it.
    explicit SentencePieceTokenizer(const std::string& model_path, int extra_ids = 100);
    ~SentencePieceTokenizer() override;
    // spiece.model of a folder, extra_ids from tokenizer_config.json (default 100).
    static std::unique_ptr<SentencePieceTokenizer> open(const std::string& dir);

    // Throws gaze::Error on invalid UTF-8.
    Encoding encode(std::string_view text, bool add_special_tokens = true) const override;
    // first </s> second </s>, as T5Tokenizer builds pairs.
    Encoding encode_pair(std::string_view first, std::string_view second,
                         bool add_special_tokens = true) const override;
    // As T5Tokenizer: pieces joined by SentencePiece, special tokens written
    // verbatim; skip_special_tokens drops </s>, <pad>, <unk> and the sentinels.
    std::string decode(const std::vector<int32_t>& ids, bool skip_special_tokens = false) const override;
    std::string id_to_token(int32_t id) const override;  // throws for an id outside the vocabulary
    std::optional<int32_t> token_to_id(std::string_view token) const override;
    int64_t vocab_size() const override { return pieces_ + extra_ids_; }
    int32_t pad_id() const override { return pad_id_; }
    std::string pad_token() const override { return id_to_token(pad_id_); }
    int32_t eos_id() const { return eos_id_; }
    int32_t unk_id() const { return unk_id_; }
    bool is_special_id(int32_t id) const;

private:
    std::unique_ptr<sentencepiece::SentencePieceProcessor> sp_;
    std::string path_;
    int32_t pieces_ = 0, extra_ids_ = 0;
    int32_t pad_id_ = 0, eos_id_ = 1, unk_id_ = 2;

    // The special token (</s>, <extra_id_7>, ...) starting at text[pos], if any.
    std::optional<std::pair<int32_t, size_t>> special_at(std::string_view text, size_t pos) const;
    void encode_piece(std::string_view text, Encoding& out) const;
    void push(Encoding& out, int32_t id) const;
};

}  // namespace gaze
