#pragma once
// The Llama tokenizer: a SentencePiece BPE `tokenizer.model` (byte fallback)
// read with Hugging Face's slow LlamaTokenizer semantics (transformers 4.49):
//   - <s>, </s>, <unk> written in the text are kept whole (no spaces stripped);
//   - legacy = false: one "▁" is prefixed to the text (not to each stretch
//     between special tokens) and SentencePiece's own dummy prefix is turned
//     off; a literal "▁" in the text is read as a space;
//   - legacy = true (HF's default when tokenizer_config.json says nothing):
//     each stretch is encoded by the model as it is (its dummy prefix on);
//   - <s> first when add_bos_token, </s> last when add_eos_token.
// llama2.c's tok512 (stories260K) and Llama 2's 32000-piece model read the same way.
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

struct LlamaTokenizerOptions {
    bool add_bos = true;           // add_bos_token
    bool add_eos = false;          // add_eos_token
    bool legacy = true;            // legacy
    bool add_prefix_space = true;  // add_prefix_space: "▁" before the text (legacy false), removed again by decode
};

class LlamaTokenizer : public Tokenizer {
public:
    // Loads a SentencePiece model file; throws gaze::Error naming it.
    LlamaTokenizer(const std::string& model_path, LlamaTokenizerOptions options);
    ~LlamaTokenizer() override;
    // tokenizer.model of a folder, options from its tokenizer_config.json.
    static std::unique_ptr<LlamaTokenizer> open(const std::string& dir);

    Encoding encode(std::string_view text, bool add_special_tokens = true) const override;
    // HF's pair layout: <s> a (</s>) <s> b (</s>) as add_bos/add_eos say.
    Encoding encode_pair(std::string_view first, std::string_view second,
                         bool add_special_tokens = true) const override;
    // As LlamaTokenizer.decode (convert_tokens_to_string): the prefix space
    // added when encoding is removed, special tokens are written verbatim.
    std::string decode(const std::vector<int32_t>& ids, bool skip_special_tokens = false) const override;
    std::string id_to_token(int32_t id) const override;
    std::optional<int32_t> token_to_id(std::string_view token) const override;
    int64_t vocab_size() const override { return pieces_; }
    // No pad token in these models: batches are padded with <unk> (id 0), as the golden cases are.
    int32_t pad_id() const override { return pad_id_; }
    std::string pad_token() const override { return id_to_token(pad_id_); }
    int32_t bos_id() const { return bos_id_; }
    int32_t eos_id() const { return eos_id_; }
    const LlamaTokenizerOptions& options() const { return options_; }

private:
    std::unique_ptr<sentencepiece::SentencePieceProcessor> sp_;
    std::string path_;
    LlamaTokenizerOptions options_;
    int32_t pieces_ = 0, bos_id_ = 1, eos_id_ = 2, unk_id_ = 0, pad_id_ = 0;
    size_t unk_pieces_ = 0;  // how many pieces the text "<unk>" encodes to (the non-legacy prefix trick)

    bool is_special(int32_t id) const { return id == bos_id_ || id == eos_id_ || id == unk_id_; }
    std::vector<int32_t> tokenize(std::string_view text) const;
    void encode_stretch(std::string_view text, std::vector<int32_t>& out) const;
    Encoding to_encoding(const std::vector<int32_t>& ids) const;
};

}  // namespace gaze
