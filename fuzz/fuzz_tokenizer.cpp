// libFuzzer target: WordPiece tokenization of arbitrary bytes.
// The first input byte picks the tokenizer options; the rest is the text (and,
// split at a second control byte, the second segment of a pair). encode()
// must throw gaze::Error for invalid UTF-8 and otherwise return a consistent
// Encoding whose decode() is itself valid text.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "fuzz_tokenizer_check.hpp"
#include "gaze/error.hpp"
#include "gaze/tokenizers/wordpiece.hpp"

namespace {

std::vector<std::string> small_vocab() {
    return {"[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "!", "\"", "'", ",", "-", ".", "?", "a", "b", "c", "e",
            "i", "n", "s", "t", "the", "un", "##a", "##e", "##s", "##ing", "##ed", "##n't", "play", "hello", "world",
            "caf", "##\xc3\xa9", "\xc3\xa9", "na\xc3\xafve", "\xe4\xb8\xad", "\xe6\x96\x87", "\xf0\x9f\x99\x82",
            "Hello", "##ll", "##o", "##\xc3\xa9t\xc3\xa9", "1", "##2", "\xce\xa3", "\xcf\x83", "##"};
}

const gaze::WordPieceTokenizer& tokenizer(unsigned variant) {
    static const auto make = [](unsigned v) {
        gaze::WordPieceOptions o;
        o.lower_case = (v & 1) == 0;
        if (v & 2) o.strip_accents = (v & 4) != 0;
        o.tokenize_chinese_chars = (v & 8) == 0;
        o.max_input_chars_per_word = (v & 16) ? 3 : 100;
        return std::make_unique<gaze::WordPieceTokenizer>(small_vocab(), o);
    };
    static std::unique_ptr<gaze::WordPieceTokenizer> cache[32];
    auto& t = cache[variant & 31];
    if (!t) t = make(variant & 31);
    return *t;
}

// The shared checks plus WordPiece's own: no empty token.
void check_encoding(const gaze::WordPieceTokenizer& tok, const gaze::Encoding& e) {
    gaze::fuzz::check_encoding(tok, e);
    for (const auto& token : e.tokens) FUZZ_CHECK(!token.empty());
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    if (size == 0) return 0;
    const gaze::WordPieceTokenizer& tok = tokenizer(data[0]);
    const bool special = (data[0] & 32) == 0;
    const std::string_view text(reinterpret_cast<const char*>(data + 1), size - 1);

    try {
        check_encoding(tok, tok.encode(text, special));
    } catch (const gaze::Error&) {
    }
    // A pair, split at the first 0x1f byte (or in the middle).
    size_t cut = text.find('\x1f');
    if (cut == std::string_view::npos) cut = text.size() / 2;
    try {
        const auto e = tok.encode_pair(text.substr(0, cut), text.substr(cut == text.size() ? cut : cut + 1), special);
        check_encoding(tok, e);
        FUZZ_CHECK(e.type_ids.size() == e.ids.size());
    } catch (const gaze::Error&) {
    }
    // Arbitrary ids (in and out of the vocabulary) decode without failing.
    std::vector<int32_t> ids;
    for (size_t i = 1; i + 4 <= size && ids.size() < 64; i += 4) {
        int32_t id = static_cast<int32_t>(static_cast<uint32_t>(data[i]) | static_cast<uint32_t>(data[i + 1]) << 8 |
                                          static_cast<uint32_t>(data[i + 2]) << 16 |
                                          static_cast<uint32_t>(data[i + 3]) << 24);
        if (data[i + 3] < 0x80) id %= 64;  // mostly in range, sometimes far outside
        ids.push_back(id);
    }
    (void)tok.decode(ids, false);
    (void)tok.decode(ids, true);
    for (int32_t id : ids) (void)tok.id_to_token(id);
    return 0;
}
