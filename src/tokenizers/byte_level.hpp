#pragma once
// Pieces shared by the byte-level BPE readers (internal): GPT-2's
// bytes-to-unicode alphabet, Python's lossy UTF-8 decoding, a compiled PCRE2
// pattern, and the vocab.json / merges.txt readers. Used by bpe.cpp (GPT-2)
// and by the tokenizer.json components.
#include <array>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace gaze::detail {

// GPT-2's pre-tokenization pattern (encoder.py of openai/gpt-2; the ByteLevel
// pre-tokenizer's regex in Hugging Face tokenizers).
inline constexpr const char* kGpt2Pattern =
    R"('s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+)";

// bytes_to_unicode(): printable Latin-1 bytes spell themselves, the other 68
// bytes (controls, space, 0x7f-0xa0, 0xad) take U+0100.. in byte order, so a
// token never holds whitespace or control characters.
struct ByteAlphabet {
    std::array<std::string, 256> spelling;  // byte -> UTF-8 of its code point
    std::array<int, 512> byte_of{};         // code point -> byte, -1 if none
    ByteAlphabet();
};
const ByteAlphabet& byte_alphabet();

// Appends the byte-alphabet spelling of `bytes` to `out`.
void append_byte_spelling(std::string_view bytes, std::string& out);
// The bytes a spelled token stands for; false (and `out` untouched past its
// old end) when a character is outside the alphabet.
bool append_spelled_bytes(std::string_view token, std::string& out);

// Python's bytes.decode("utf-8", errors="replace"): each maximal ill-formed
// subpart becomes one U+FFFD (Unicode's recommended practice).
std::string replace_invalid_utf8(std::string_view s);

std::string utf8_of(int32_t code_point);
// Length in bytes of the UTF-8 sequence starting with byte `lead` (1 for a
// stray continuation byte, so loops always advance).
inline size_t utf8_length(unsigned char lead) {
    return lead < 0xC0 ? 1 : lead < 0xE0 ? 2 : lead < 0xF0 ? 3 : 4;
}

std::string read_text_file(const std::string& path, const char* what);

// vocab.json: {"token": id, ...} -> tokens by id.
std::vector<std::string> read_vocab_json(const std::string& path);
// merges.txt: an optional "#version: ..." first line, then "left right" pairs.
std::vector<std::pair<std::string, std::string>> read_merges(const std::string& path);

// A compiled PCRE2 pattern (UTF + Unicode properties, JIT when available).
// Thread safe: each call makes its own match data.
class Regex {
public:
    // Throws gaze::Error "<where>: invalid regex ... (PCRE2: message at offset N)".
    Regex(std::string_view pattern, const std::string& where);
    ~Regex();
    Regex(const Regex&) = delete;
    Regex& operator=(const Regex&) = delete;

    // Calls f(begin, end) for each non-empty match in `text` (valid UTF-8),
    // left to right; empty matches are stepped over by one character.
    template <typename F>
    void for_each_match(std::string_view text, F&& f) const {
        Matcher m(*this, text);
        size_t begin = 0, end = 0;
        while (m.next(begin, end)) f(begin, end);
    }

private:
    class Matcher {
    public:
        Matcher(const Regex& re, std::string_view text);
        ~Matcher();
        bool next(size_t& begin, size_t& end);

    private:
        const Regex& re_;
        std::string_view text_;
        void* match_data_;
        size_t pos_ = 0;
    };
    void* code_ = nullptr;
    std::string where_;
};

}  // namespace gaze::detail
