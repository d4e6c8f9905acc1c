#pragma once
// Tokenizer interface. Each family's tokenizer (WordPiece for BERT, byte-level
// BPE for GPT-2, SentencePiece for T5) implements it; load_tokenizer() picks
// one from the files in a model folder.
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "gaze/tokens.hpp"

namespace gaze {

class Tokenizer {
public:
    virtual ~Tokenizer() = default;
    // Tokenizes UTF-8 text; throws gaze::Error on invalid UTF-8.
    // With add_special_tokens, adds what the model expects ([CLS] ... [SEP], </s>).
    virtual Encoding encode(std::string_view text, bool add_special_tokens = true) const = 0;
    // A pair of segments ([CLS] a [SEP] b [SEP] with type ids 0/1 for BERT).
    virtual Encoding encode_pair(std::string_view first, std::string_view second,
                                 bool add_special_tokens = true) const = 0;
    virtual std::string decode(const std::vector<int32_t>& ids, bool skip_special_tokens = false) const = 0;
    virtual std::string id_to_token(int32_t id) const = 0;
    virtual std::optional<int32_t> token_to_id(std::string_view token) const = 0;
    virtual int64_t vocab_size() const = 0;
    virtual int32_t pad_id() const = 0;
    virtual std::string pad_token() const = 0;
};

// Chooses the tokenizer from the folder's files (vocab.txt: WordPiece, with
// do_lower_case from tokenizer_config.json; default lower-cased).
std::unique_ptr<Tokenizer> load_tokenizer(const std::string& dir);

}  // namespace gaze
