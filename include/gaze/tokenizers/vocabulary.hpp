#pragma once
// A whitespace vocabulary tokenizer: text is already split into tokens by
// spaces (OpenNMT / CTranslate2 vocabularies: source_vocabulary.txt,
// target_vocabulary.txt, one token a line, id = line number from 0).
// OpenNMT-tf does not list <unk>: it is the id after the last line (the
// model's embedding table has one row more than the file), so it is added
// there when the model expects it. A token missing from the vocabulary becomes
// <unk> only where the file lists <unk> itself; otherwise it is an error (for
// a character-level model an unknown character is almost always a typo or the
// wrong script, and a silent <unk> would hide it).
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "gaze/tokenizer.hpp"

namespace gaze {

struct VocabularyOptions {
    bool append_eos = false;  // add </s> after the tokens (the target side; the source per config)
    int64_t model_vocab_size = 0;  // rows of the model's table: lines + 1 adds OpenNMT's implicit <unk> (0: the file's)
};

class VocabularyTokenizer : public Tokenizer {
public:
    explicit VocabularyTokenizer(const std::string& path, VocabularyOptions options = {});
    VocabularyTokenizer(std::vector<std::string> tokens, VocabularyOptions options,
                        std::string source = "in-memory vocabulary");

    // The two sides of a model folder: source_vocabulary.txt (append_eos from
    // config.json's append_source_eos, default false) and target_vocabulary.txt
    // (</s> appended); sizes checked against source_vocab_size / target_vocab_size.
    static std::unique_ptr<VocabularyTokenizer> open_source(const std::string& dir);
    static std::unique_ptr<VocabularyTokenizer> open_target(const std::string& dir);

    // Splits on ASCII whitespace. Throws gaze::Error on invalid UTF-8 and on an
    // unknown token when the vocabulary has no <unk>.
    Encoding encode(std::string_view text, bool add_special_tokens = true) const override;
    // Not meaningful for these models: throws gaze::Error.
    Encoding encode_pair(std::string_view first, std::string_view second,
                         bool add_special_tokens = true) const override;
    // Tokens joined by spaces; skip_special_tokens drops <blank>/<pad>, <s> and </s>.
    std::string decode(const std::vector<int32_t>& ids, bool skip_special_tokens = false) const override;
    std::string id_to_token(int32_t id) const override;  // throws for an id outside the vocabulary
    std::optional<int32_t> token_to_id(std::string_view token) const override;
    int64_t vocab_size() const override { return static_cast<int64_t>(tokens_.size()); }
    int32_t pad_id() const override { return pad_id_; }
    std::string pad_token() const override { return tokens_[static_cast<size_t>(pad_id_)]; }
    bool is_special_id(int32_t id) const;

private:
    std::vector<std::string> tokens_;
    std::unordered_map<std::string, int32_t> ids_;
    VocabularyOptions options_;
    std::string source_;
    int32_t pad_id_ = 0, bos_id_ = -1, eos_id_ = -1, unk_id_ = -1;
    bool unk_listed_ = false;  // the file itself lists <unk>: unknown tokens map to it
};

}  // namespace gaze
