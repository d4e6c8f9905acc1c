#pragma once
// The Hugging Face `tokenizers` format (tokenizer.json), read component by
// component as the Rust crate runs it:
//   added tokens (matched first, leftmost then longest; those with
//   "normalized": true after normalization) -> normalizer -> pre-tokenizer ->
//   model (BPE / WordPiece / Unigram) -> post-processor (special tokens);
//   decode: ids -> tokens -> decoder -> text.
// See docs/tokenizers.md for the supported component types; an unknown type
// is a gaze::Error naming the file, the field and the type.
//
// tokenizer_config.json, when it sits beside the file, settles what the file
// leaves open, as transformers does: for Llama-style tokenizers
// (LlamaTokenizer[Fast], CodeLlama, Gemma) add_bos_token / add_eos_token replace
// the post-processor; for others they add BOS/EOS when the file's
// post-processor adds none; clean_up_tokenization_spaces applies to decode().
//
// Thread safety: encode() and decode() may be called from several threads.
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "gaze/tokenizer.hpp"

namespace gaze {

// What tokenizer_config.json says (or what a caller sets by hand).
struct TokenizerJsonOptions {
    std::string tokenizer_class;              // "LlamaTokenizer", "Qwen2Tokenizer", ... ("" unknown)
    std::optional<bool> add_bos_token, add_eos_token;
    std::string bos_token, eos_token, pad_token, unk_token;  // token strings ("" unset)
    bool clean_up_tokenization_spaces = false;
    // Parses a tokenizer_config.json; throws gaze::Error naming the file and field.
    static TokenizerJsonOptions from_config_file(const std::string& path);
};

class JsonTokenizer : public Tokenizer {
public:
    // `path` is a tokenizer.json, or a folder holding one (and perhaps
    // tokenizer_config.json, read for the options).
    static std::unique_ptr<JsonTokenizer> open(const std::string& path);
    // The text of a tokenizer.json; `source` names it in errors.
    static std::unique_ptr<JsonTokenizer> from_string(std::string_view json, const std::string& source,
                                                      const TokenizerJsonOptions& options = {});
    // A byte-level BPE folder of vocab.json + merges.txt whose tokenizer_config.json
    // names Qwen2Tokenizer (NFC, Qwen's split regex, added tokens from the config's
    // added_tokens_decoder): the pipeline transformers' converter writes.
    static std::unique_ptr<JsonTokenizer> open_qwen2_vocab(const std::string& dir);
    ~JsonTokenizer() override;

    // Throws gaze::Error for invalid UTF-8.
    Encoding encode(std::string_view text, bool add_special_tokens = true) const override;
    Encoding encode_pair(std::string_view first, std::string_view second,
                         bool add_special_tokens = true) const override;
    // Throws gaze::Error for an id that is neither in the model nor an added token.
    std::string decode(const std::vector<int32_t>& ids, bool skip_special_tokens = false) const override;
    std::string id_to_token(int32_t id) const override;
    std::optional<int32_t> token_to_id(std::string_view token) const override;
    int64_t vocab_size() const override;
    // The config's pad token; else EOS, BOS, unk (a model without padding never
    // attends to pad positions, so any real id will do); else 0.
    int32_t pad_id() const override;
    std::string pad_token() const override;

    std::optional<int32_t> bos_id() const;
    std::optional<int32_t> eos_id() const;
    bool is_special_id(int32_t id) const;
    const TokenizerJsonOptions& options() const;

private:
    struct Impl;
    explicit JsonTokenizer(std::unique_ptr<Impl> impl);
    std::unique_ptr<Impl> impl_;
};

}  // namespace gaze
