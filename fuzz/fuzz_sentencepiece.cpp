// libFuzzer target: the SentencePiece tokenizer (T5's spiece.model) on
// arbitrary text. The model file is the golden T5's, from $GAZE_SHARED_DIR
// (default ../shared of the source tree); the model's protobuf parser belongs
// to the SentencePiece library, so what is fuzzed here is gaze's part: special
// tokens and sentinels cut out of the text, the spaces stripped around them,
// decode() of arbitrary ids.
// The first byte picks the number of sentinel tokens (<extra_id_N>); the rest
// is the text (split at a 0x1f byte into a pair). encode() throws gaze::Error
// for invalid UTF-8 and otherwise returns ids inside the vocabulary whose
// decode() is valid text again.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "fuzz_tokenizer_check.hpp"
#include "gaze/error.hpp"
#include "gaze/tokenizers/sentencepiece.hpp"

namespace {

std::string model_path() {
    const char* env = std::getenv("GAZE_SHARED_DIR");
    const std::filesystem::path shared = env && *env ? env : GAZE_FUZZ_SHARED_DIR;
    return (shared / "golden" / "t5-tiny" / "spiece.model").string();
}

const gaze::SentencePieceTokenizer& tokenizer(unsigned variant) {
    static constexpr int kExtraIds[4] = {100, 0, 1, 12};
    static std::unique_ptr<gaze::SentencePieceTokenizer> cache[4];
    auto& t = cache[variant & 3];
    if (!t) {
        try {
            t = std::make_unique<gaze::SentencePieceTokenizer>(model_path(), kExtraIds[variant & 3]);
        } catch (const gaze::Error& e) {
            __builtin_printf("fuzz_sentencepiece: the fixture is missing (set GAZE_SHARED_DIR): %s\n", e.what());
            std::exit(2);
        }
    }
    return *t;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    if (size == 0) return 0;
    const gaze::SentencePieceTokenizer& tok = tokenizer(data[0]);
    const bool special = (data[0] & 4) == 0;
    const std::string_view text(reinterpret_cast<const char*>(data + 1), size - 1);
    try {
        gaze::fuzz::check_encoding(tok, tok.encode(text, special));
    } catch (const gaze::Error&) {
    }
    const size_t cut = text.find('\x1f');
    if (cut != std::string_view::npos) {
        try {
            gaze::fuzz::check_encoding(tok, tok.encode_pair(text.substr(0, cut), text.substr(cut + 1), special));
        } catch (const gaze::Error&) {
        }
    }
    (void)tok.token_to_id(text);
    // Arbitrary ids: inside the vocabulary they decode, outside they throw.
    std::vector<int32_t> ids;
    for (size_t i = 1; i + 2 <= size && ids.size() < 64; i += 2) {
        ids.push_back(static_cast<int32_t>(data[i] | data[i + 1] << 8) - 256);
    }
    for (bool skip : {false, true}) {
        try {
            (void)tok.decode(ids, skip);
        } catch (const gaze::Error&) {
        }
    }
    return 0;
}
