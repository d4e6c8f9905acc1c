// tokenizer.json: small hand-written files for the components the Hub files
// in test_tokenizer_json.cpp do not reach, GPT-2 through a tokenizer.json
// written from its vocab.json + merges.txt, and bad input (each a gaze::Error
// naming the file and the field).
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <unistd.h>

#include "gaze/error.hpp"
#include "gaze/tokenizers/tokenizer_json.hpp"
#include "test_support.hpp"

namespace gaze {
namespace {

using nlohmann::json;

std::string read_all(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

// A byte-level BPE tokenizer.json with a tiny vocabulary: a, b, ab, plus the 256 bytes' spellings.
json tiny_bpe() {
    json vocab = json::object();
    const std::string letters = "abcdefghijklmnopqrstuvwxyz";
    int id = 0;
    for (char c : letters) vocab[std::string(1, c)] = id++;
    vocab["\xC4\xA0"] = id++;  // "Ġ" (space)
    vocab["ab"] = id++;
    vocab["\xC4\xA0" "ab"] = id++;
    return {{"added_tokens", json::array({{{"id", 100}, {"content", "<|end|>"}, {"special", true}}})},
            {"normalizer", nullptr},
            {"pre_tokenizer", {{"type", "ByteLevel"}, {"add_prefix_space", false}, {"use_regex", true}}},
            {"post_processor", nullptr},
            {"decoder", {{"type", "ByteLevel"}}},
            {"model", {{"type", "BPE"}, {"vocab", vocab}, {"merges", json::array({"a b", json::array({"\xC4\xA0", "ab"})})}}}};
}

void expect_error(const json& file, std::initializer_list<const char*> parts) {
    try {
        JsonTokenizer::from_string(file.dump(), "test/tokenizer.json");
        FAIL() << "no error for " << file.dump().substr(0, 200);
    } catch (const Error& e) {
        const std::string msg = e.what();
        EXPECT_NE(msg.find("test/tokenizer.json"), std::string::npos) << msg;
        for (const char* p : parts) EXPECT_NE(msg.find(p), std::string::npos) << "'" << p << "' not in: " << msg;
    }
}

TEST(TokenizerJsonComponents, TinyByteLevelBpe) {
    auto tok = JsonTokenizer::from_string(tiny_bpe().dump(), "tiny");
    const Encoding e = tok->encode("ab ab<|end|>c");
    EXPECT_EQ(e.tokens, (std::vector<std::string>{"ab", "\xC4\xA0" "ab", "<|end|>", "c"}));
    EXPECT_EQ(e.special, (std::vector<uint8_t>{0, 0, 1, 0}));
    EXPECT_EQ(tok->decode(e.ids), "ab ab<|end|>c");
    EXPECT_EQ(tok->decode(e.ids, true), "ab abc");
    EXPECT_EQ(tok->vocab_size(), 101);
}

TEST(TokenizerJsonComponents, WordPieceWithBertPieces) {
    const json file = {
        {"normalizer", {{"type", "BertNormalizer"}, {"lowercase", true}}},
        {"pre_tokenizer", {{"type", "BertPreTokenizer"}}},
        {"post_processor", {{"type", "BertProcessing"}, {"cls", {"[CLS]", 1}}, {"sep", {"[SEP]", 2}}}},
        {"decoder", {{"type", "WordPiece"}, {"prefix", "##"}}},
        {"model",
         {{"type", "WordPiece"},
          {"unk_token", "[UNK]"},
          {"vocab", {{"[UNK]", 0}, {"[CLS]", 1}, {"[SEP]", 2}, {"play", 3}, {"##ing", 4}, {"!", 5}, {"cafe", 6}}}}}};
    auto tok = JsonTokenizer::from_string(file.dump(), "wp");
    const Encoding e = tok->encode("Playing CAF\xC3\x89! xyz");
    EXPECT_EQ(e.ids, (std::vector<int32_t>{1, 3, 4, 6, 5, 0, 2}));
    EXPECT_EQ(tok->decode({3, 4, 6, 5}), "playing cafe!");
    const Encoding pair = tok->encode_pair("play", "cafe");
    EXPECT_EQ(pair.ids, (std::vector<int32_t>{1, 3, 2, 6, 2}));
    EXPECT_EQ(pair.type_ids, (std::vector<int32_t>{0, 0, 0, 1, 1}));
}

TEST(TokenizerJsonComponents, UnigramWithMetaspace) {
    const json file = {
        {"pre_tokenizer", {{"type", "Metaspace"}, {"replacement", "\xE2\x96\x81"}, {"prepend_scheme", "always"}}},
        {"decoder", {{"type", "Metaspace"}, {"replacement", "\xE2\x96\x81"}, {"prepend_scheme", "always"}}},
        {"model",
         {{"type", "Unigram"},
          {"unk_id", 0},
          {"vocab", json::array({json::array({"<unk>", 0.0}), json::array({"\xE2\x96\x81" "he", -2.0}),
                                 json::array({"llo", -2.0}), json::array({"\xE2\x96\x81" "hello", -3.0}),
                                 json::array({"\xE2\x96\x81", -1.0}), json::array({"h", -5.0}), json::array({"e", -5.0})})}}}};
    auto tok = JsonTokenizer::from_string(file.dump(), "uni");
    EXPECT_EQ(tok->encode("hello he").ids, (std::vector<int32_t>{3, 1}));   // one piece beats two
    EXPECT_EQ(tok->encode("hexx").ids, (std::vector<int32_t>{1, 0}));     // unknown characters fuse into one <unk>
    EXPECT_EQ(tok->decode({3, 1}), "hello he");
}

TEST(TokenizerJsonComponents, Gpt2FromAWrittenTokenizerJson) {
    GAZE_REQUIRE_FIXTURE(dir, "tokenizers/gpt2");
    GAZE_REQUIRE_FIXTURE(jsonl, "golden/tokenizers/gpt2.jsonl");
    json merges = json::array();
    std::ifstream in(dir + "/merges.txt");
    std::string line;
    while (std::getline(in, line))
        if (!line.empty() && line.rfind("#version", 0) != 0) merges.push_back(line);
    const json file = {
        {"added_tokens", json::array({{{"id", 50256}, {"content", "<|endoftext|>"}, {"special", true}}})},
        {"pre_tokenizer", {{"type", "ByteLevel"}, {"add_prefix_space", false}, {"use_regex", true}}},
        {"post_processor", {{"type", "ByteLevel"}, {"trim_offsets", true}}},
        {"decoder", {{"type", "ByteLevel"}}},
        {"model", {{"type", "BPE"}, {"vocab", json::parse(read_all(dir + "/vocab.json"))}, {"merges", merges}}}};
    const auto tmp = std::filesystem::temp_directory_path() / ("gaze-gpt2-json-" + std::to_string(::getpid()));
    std::filesystem::create_directories(tmp);
    std::ofstream(tmp / "tokenizer.json") << file.dump();
    auto tok = load_tokenizer(tmp.string());
    std::filesystem::remove_all(tmp);
    ASSERT_NE(dynamic_cast<JsonTokenizer*>(tok.get()), nullptr);
    test::expect_tokenizer_matches_jsonl(jsonl, *tok);
}

TEST(TokenizerJsonErrors, MalformedJsonNamesTheFile) {
    try {
        JsonTokenizer::from_string("{\"model\": ", "test/tokenizer.json");
        FAIL();
    } catch (const Error& e) {
        EXPECT_NE(std::string(e.what()).find("test/tokenizer.json: invalid JSON"), std::string::npos) << e.what();
    }
}

TEST(TokenizerJsonErrors, WrongTypesNameTheField) {
    json f = tiny_bpe();
    f["model"]["vocab"] = json::array({"a"});
    expect_error(f, {"model.vocab", "expected an object"});
    f = tiny_bpe();
    f["pre_tokenizer"]["add_prefix_space"] = "yes";
    expect_error(f, {"pre_tokenizer.add_prefix_space", "true or false"});
    f = tiny_bpe();
    f["added_tokens"][0]["id"] = "100";
    expect_error(f, {"added_tokens[0].id", "integer"});
    f = tiny_bpe();
    f["model"]["vocab"]["a"] = 1.5;
    expect_error(f, {"model.vocab.a", "integer"});
    f = tiny_bpe();
    f.erase("model");
    expect_error(f, {"model: missing"});
}

TEST(TokenizerJsonErrors, MergeNamingAnUnknownToken) {
    json f = tiny_bpe();
    f["model"]["merges"].push_back("a zz");
    expect_error(f, {"model.merges[2]", "\"zz\" is not in model.vocab"});
    f = tiny_bpe();
    f["model"]["merges"].push_back("a c");  // both known, "ac" is not
    expect_error(f, {"model.merges[2]", "\"ac\""});
    f = tiny_bpe();
    f["model"]["merges"].push_back(17);
    expect_error(f, {"model.merges[2]"});
}

TEST(TokenizerJsonErrors, RegexPcre2RejectsAndUnknownTypes) {
    json f = tiny_bpe();
    f["pre_tokenizer"] = {{"type", "Sequence"},
                          {"pretokenizers", json::array({{{"type", "Split"}, {"pattern", {{"Regex", "(?i:'s|[a-"}}}, {"behavior", "Isolated"}}})}};
    expect_error(f, {"pre_tokenizer.pretokenizers[0].pattern.Regex", "PCRE2"});
    f["pre_tokenizer"]["pretokenizers"][0]["pattern"] = {{"Regex", "a"}};
    f["pre_tokenizer"]["pretokenizers"][0]["behavior"] = "Sideways";
    expect_error(f, {"pre_tokenizer.pretokenizers[0].behavior", "Sideways"});
    f = tiny_bpe();
    f["normalizer"] = {{"type", "Precompiled"}};
    expect_error(f, {"normalizer.type", "\"Precompiled\""});
    f = tiny_bpe();
    f["model"]["type"] = "WordLevelish";
    expect_error(f, {"model.type", "WordLevelish"});
    f = tiny_bpe();
    f["decoder"] = {{"type", "CTCish"}};
    expect_error(f, {"decoder.type", "CTCish"});
}

TEST(TokenizerJsonErrors, InvalidUtf8TextAndUnknownIds) {
    auto tok = JsonTokenizer::from_string(tiny_bpe().dump(), "tiny");
    try {
        tok->encode("ab\xC3(");
        FAIL();
    } catch (const Error& e) {
        EXPECT_NE(std::string(e.what()).find("not valid UTF-8"), std::string::npos) << e.what();
    }
    EXPECT_THROW(tok->decode({5000}), Error);
    EXPECT_THROW(tok->id_to_token(-1), Error);
}

TEST(TokenizerJsonErrors, FileOnDiskIsNamed) {
    const auto tmp = std::filesystem::temp_directory_path() / ("gaze-bad-json-" + std::to_string(::getpid()));
    std::filesystem::create_directories(tmp);
    json f = tiny_bpe();
    f["model"]["merges"].push_back("q zz");
    std::ofstream(tmp / "tokenizer.json") << f.dump();
    try {
        load_tokenizer(tmp.string());
        FAIL();
    } catch (const Error& e) {
        EXPECT_NE(std::string(e.what()).find((tmp / "tokenizer.json").string() + ": model.merges[2]"), std::string::npos) << e.what();
    }
    std::filesystem::remove_all(tmp);
}

}  // namespace
}  // namespace gaze
