// libFuzzer target: tokenizer.json structure and regexes.
// The first byte picks the mode:
//   even: the input up to the first NUL is a whole tokenizer.json, the rest the text;
//   odd:  the input up to the first NUL is a Split regex placed in a small byte-level
//         BPE file (so PCRE2 patterns and split behaviours are explored), the rest the text.
// Building may fail only with gaze::Error; a built tokenizer must encode any UTF-8
// text into ids it can decode, and reject other bytes with gaze::Error.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

#include "gaze/error.hpp"
#include "gaze/tokenizers/tokenizer_json.hpp"

namespace {

#define FUZZ_CHECK(cond)                                                                         \
    do {                                                                                         \
        if (!(cond)) {                                                                           \
            __builtin_printf("fuzz_tokenizer_json: check failed: %s (line %d)\n", #cond, __LINE__); \
            std::abort();                                                                        \
        }                                                                                        \
    } while (0)

std::string with_split_regex(std::string_view pattern, unsigned behavior) {
    static const char* behaviors[] = {"Isolated", "Removed", "MergedWithPrevious", "MergedWithNext", "Contiguous"};
    nlohmann::json vocab = nlohmann::json::object();
    int id = 0;
    for (int c = 0x21; c < 0x7f; ++c) vocab[std::string(1, static_cast<char>(c))] = id++;
    vocab["\xC4\xA0"] = id++;  // Ġ
    vocab["\xC4\x8A"] = id++;  // Ċ (newline)
    vocab["th"] = id++;
    vocab["the"] = id++;
    nlohmann::json file = {
        {"added_tokens", nlohmann::json::array({{{"id", 500}, {"content", "<|x|>"}, {"special", true}}})},
        {"normalizer", {{"type", "NFC"}}},
        {"pre_tokenizer",
         {{"type", "Sequence"},
          {"pretokenizers", nlohmann::json::array({{{"type", "Split"},
                                                    {"pattern", {{"Regex", std::string(pattern)}}},
                                                    {"behavior", behaviors[behavior % 5]},
                                                    {"invert", (behavior & 8) != 0}},
                                                   {{"type", "ByteLevel"}, {"add_prefix_space", false}, {"use_regex", false}}})}}},
        {"decoder", {{"type", "ByteLevel"}}},
        {"model", {{"type", "BPE"}, {"vocab", vocab}, {"merges", nlohmann::json::array({"t h", "th e"})}, {"unk_token", "?"}}}};
    return file.dump();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    if (size == 0) return 0;
    const std::string_view input(reinterpret_cast<const char*>(data + 1), size - 1);
    const size_t nul = input.find('\0');
    const std::string_view head = input.substr(0, nul);
    const std::string_view text = nul == std::string_view::npos ? std::string_view() : input.substr(nul + 1);

    std::unique_ptr<gaze::JsonTokenizer> tok;
    try {
        std::string file;
        if (data[0] & 1) {
            file = with_split_regex(head, data[0] >> 1);  // nlohmann rejects invalid UTF-8 here: a gaze::Error below
        } else {
            file = std::string(head);
        }
        tok = gaze::JsonTokenizer::from_string(file, "fuzz/tokenizer.json");
    } catch (const gaze::Error&) {
        return 0;
    } catch (const nlohmann::json::exception&) {
        return 0;  // dump() of a pattern that is not UTF-8: the harness's own JSON, not the reader
    }
    for (bool special : {false, true}) {
        try {
            const gaze::Encoding e = tok->encode(text, special);
            FUZZ_CHECK(e.ids.size() == e.tokens.size() && e.ids.size() == e.special.size());
            FUZZ_CHECK(e.type_ids.empty() || e.type_ids.size() == e.ids.size());
            for (int32_t id : e.ids) {
                FUZZ_CHECK(id >= 0);
                (void)tok->id_to_token(id);
            }
            (void)tok->decode(e.ids, false);
            (void)tok->decode(e.ids, true);
        } catch (const gaze::Error&) {
        }
    }
    return 0;
}
