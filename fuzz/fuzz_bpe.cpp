// libFuzzer target: GPT-2 byte-level BPE, its files and its encoder.
// The input is split at 0x1e (record separator) bytes into
//   vocab.json | merges.txt | text
// The two files are written to a scratch folder and read by the file
// constructor, which must either succeed or throw gaze::Error naming the file.
// The text is encoded by that tokenizer (when it loaded) and by a fixed
// in-memory one with a few merges; every id must lie in the vocabulary, and
// for the fixed one decode() must give back exactly the bytes encoded.
#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "fuzz_check.hpp"
#include "gaze/error.hpp"
#include "gaze/tokenizers/bpe.hpp"

namespace {

namespace fs = std::filesystem;

// The 256 byte spellings and <|endoftext|> of bytes_only(), plus merges that
// build a few English words, so encode() exercises the merge loop.
const gaze::BpeTokenizer& fixed_tokenizer() {
    static const std::unique_ptr<gaze::BpeTokenizer> tok = [] {
        const auto bytes = gaze::BpeTokenizer::bytes_only();
        std::vector<std::string> vocab;
        for (int32_t id = 0; id < bytes->vocab_size(); ++id) vocab.push_back(bytes->id_to_token(id));
        const std::string space = "\xc4\xa0";  // "Ġ": the spelling of a space byte
        std::vector<std::pair<std::string, std::string>> merges = {
            {"t", "h"}, {"th", "e"}, {space, "the"}, {"i", "n"}, {"in", "g"}, {space, "t"}, {"e", "r"},
            {"a", "n"}, {"an", "d"}, {space, "and"}, {"'", "s"}, {"o", "u"}, {space, space}};
        for (const auto& [left, right] : merges) vocab.push_back(left + right);
        return std::make_unique<gaze::BpeTokenizer>(std::move(vocab), std::move(merges), "fuzz BPE vocabulary");
    }();
    return *tok;
}

void check_ids(const gaze::BpeTokenizer& tok, const gaze::Encoding& e) {
    FUZZ_CHECK(e.tokens.size() == e.ids.size());
    FUZZ_CHECK(e.special.size() == e.ids.size());
    for (int32_t id : e.ids) FUZZ_CHECK(id >= 0 && id < tok.vocab_size());
}

const fs::path& scratch() {
    static const fs::path dir = [] {
        const fs::path d = fs::temp_directory_path() / ("gaze_fuzz_bpe_" + std::to_string(::getpid()));
        fs::create_directories(d);
        return d;
    }();
    return dir;
}

void write_file(const fs::path& path, std::string_view bytes) {
    std::ofstream out(path, std::ios::binary | std::ios::trunc);
    out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    const std::string_view input(reinterpret_cast<const char*>(data), size);
    const size_t cut1 = input.find('\x1e');
    const size_t cut2 = cut1 == std::string_view::npos ? cut1 : input.find('\x1e', cut1 + 1);
    const std::string_view text = cut2 == std::string_view::npos ? input : input.substr(cut2 + 1);

    // The fixed tokenizer: exact round trip of every valid UTF-8 text.
    const gaze::BpeTokenizer& fixed = fixed_tokenizer();
    try {
        const gaze::Encoding e = fixed.encode(text);
        check_ids(fixed, e);
        FUZZ_CHECK(fixed.decode(e.ids) == text);
        (void)fixed.decode_text(e.ids, true);
        (void)fixed.encode_pair(text.substr(0, text.size() / 2), text.substr(text.size() / 2));
    } catch (const gaze::Error&) {
    }

    // The files, when the input has both parts.
    if (cut2 == std::string_view::npos) return 0;
    const fs::path vocab = scratch() / "vocab.json", merges = scratch() / "merges.txt";
    write_file(vocab, input.substr(0, cut1));
    write_file(merges, input.substr(cut1 + 1, cut2 - cut1 - 1));
    try {
        const gaze::BpeTokenizer tok(vocab.string(), merges.string());
        const gaze::Encoding e = tok.encode(text);
        check_ids(tok, e);
        (void)tok.decode(e.ids, true);
        (void)tok.decode_text(e.ids);
        for (int32_t id = 0; id < tok.vocab_size() && id < 64; ++id) (void)tok.token_bytes(id);
        try {
            (void)tok.pad_id();
        } catch (const gaze::Error&) {
        }
    } catch (const gaze::Error&) {
    }
    return 0;
}
