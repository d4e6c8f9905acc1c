#pragma once
// Tokens: what a model reads and what observers are told about the rows and
// columns of an attention matrix. A batch of sequences padded to one length.
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace gaze {

// One tokenized sequence, as a tokenizer produces it.
struct Encoding {
    std::vector<int32_t> ids;
    std::vector<std::string> tokens;   // token strings ("[CLS]", "##ing", "Ġthe")
    std::vector<int32_t> type_ids;     // segment ids (BERT pairs); empty = all 0
    std::vector<uint8_t> special;      // 1 where the token is a special token

    // Appends `other` (ids, tokens, type ids, special flags): how tokenizers
    // without segment-aware pairs build "first second".
    void append(const Encoding& other);
};

struct Tokens {
    int64_t batch = 0;
    int64_t length = 0;
    std::vector<int32_t> ids;          // [batch * length]
    std::vector<int32_t> type_ids;     // [batch * length], or empty (all 0)
    std::vector<uint8_t> mask;         // [batch * length]: 1 real token, 0 padding
    std::vector<std::string> text;     // [batch * length] token strings, or empty
    std::vector<uint8_t> special;      // [batch * length], or empty

    // Right-pads the encodings to the longest one with `pad_id` / `pad_text`.
    static Tokens from_encodings(const std::vector<Encoding>& seqs, int32_t pad_id,
                                 const std::string& pad_text = "[PAD]");
    // A single unpadded sequence of ids (no strings).
    static Tokens from_ids(const std::vector<int32_t>& ids);

    int32_t id(int64_t b, int64_t i) const { return ids[static_cast<size_t>(b * length + i)]; }
    bool valid(int64_t b, int64_t i) const { return mask.empty() || mask[static_cast<size_t>(b * length + i)] != 0; }
    bool is_special(int64_t b, int64_t i) const {
        return !special.empty() && special[static_cast<size_t>(b * length + i)] != 0;
    }
    std::string_view str(int64_t b, int64_t i) const {
        return text.empty() ? std::string_view{} : std::string_view(text[static_cast<size_t>(b * length + i)]);
    }
    int64_t valid_length(int64_t b) const;  // number of real tokens in sequence b
    // Appends one token to every sequence (generation); the batch must be unpadded.
    void append(const std::vector<int32_t>& next_ids, const std::vector<std::string>& next_text = {});
};

// A token string safe to print or draw: control bytes (newline, tab, ESC, ...)
// become "\\xNN" so a token can never move a terminal cursor or break a label.
std::string printable_token(std::string_view token);

}  // namespace gaze
