// tokenizer.json against the golden tokenizations (../shared/golden/tokenizers)
// and llama.cpp's vocabulary test suites, for the real Hub files in
// ../shared/tokenizers; load_tokenizer's choice of reader.
#include <gtest/gtest.h>

#include <fstream>
#include <sstream>

#include <nlohmann/json.hpp>

#include "gaze/chat_template.hpp"
#include "gaze/tokenizer.hpp"
#include "gaze/tokenizers/bpe.hpp"
#include "gaze/tokenizers/tokenizer_json.hpp"
#include "test_support.hpp"

namespace gaze {
namespace {

std::string read_all(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    std::stringstream s;
    s << in.rdbuf();
    return s.str();
}

// llama.cpp's ggml-vocab-NAME.gguf.inp/.out: texts separated by
// "\n__ggml_vocab_test__\n", one line of space-separated ids per text (no
// special tokens added).
void expect_llamacpp_suite(const std::string& name, const Tokenizer& tokenizer) {
    const std::string base = "tokenizers/llamacpp-vocab-tests/ggml-vocab-" + name + ".gguf";
    const std::string inp = test::fixture(base + ".inp"), out = test::fixture(base + ".out");
    ASSERT_FALSE(inp.empty() || out.empty()) << base;
    const std::string texts = read_all(inp), lines = read_all(out);
    const std::string sep = "\n__ggml_vocab_test__\n";
    std::vector<std::string> cases;
    for (size_t pos = 0; pos < texts.size();) {
        const size_t at = texts.find(sep, pos);
        cases.push_back(texts.substr(pos, at == std::string::npos ? std::string::npos : at - pos));
        if (at == std::string::npos) break;
        pos = at + sep.size();
    }
    std::istringstream expected(lines);
    std::string line;
    size_t checked = 0;
    for (const std::string& text : cases) {
        if (!std::getline(expected, line)) break;
        std::vector<int32_t> ids;
        std::istringstream fields(line);
        for (int32_t id; fields >> id;) ids.push_back(id);
        EXPECT_EQ(tokenizer.encode(text, false).ids, ids) << name << " case " << checked << ": \"" << text << "\"";
        ++checked;
    }
    EXPECT_GE(checked, 40u) << base;
}

// One test per big folder (ctest runs each test in its own process, and a
// 128k-vocabulary file takes about a second to read): golden rows, then llama.cpp's suite.
TEST(TokenizerJson, Qwen25GoldenAndLlamaCppQwen2) {
    GAZE_REQUIRE_FIXTURE(dir, "tokenizers/qwen2.5");
    GAZE_REQUIRE_FIXTURE(jsonl, "golden/tokenizers/qwen2.5-json.jsonl");
    const auto tok = load_tokenizer(dir);
    ASSERT_NE(dynamic_cast<const JsonTokenizer*>(tok.get()), nullptr);
    test::expect_tokenizer_matches_jsonl(jsonl, *tok);
    expect_llamacpp_suite("qwen2", *tok);
    // A chat prompt: the ChatML markers are single special tokens.
    const Encoding e = tok->encode(ChatTemplate::from_config(dir).apply({{"user", "Hi"}}), false);
    ASSERT_GE(e.ids.size(), 3u);
    EXPECT_EQ(e.ids.front(), 151644);  // <|im_start|>
    EXPECT_EQ(e.ids[e.ids.size() - 3], 151644);
    EXPECT_EQ(e.special.front(), 1);
}

TEST(TokenizerJson, Llama3GoldenAndLlamaCppLlamaBpe) {
    GAZE_REQUIRE_FIXTURE(dir, "tokenizers/llama3");
    GAZE_REQUIRE_FIXTURE(jsonl, "golden/tokenizers/llama3-json.jsonl");
    const auto tok = load_tokenizer(dir);
    test::expect_tokenizer_matches_jsonl(jsonl, *tok);
    expect_llamacpp_suite("llama-bpe", *tok);
    // This revision adds no BOS itself; the chat template writes it, once.
    const Encoding e = tok->encode(ChatTemplate::from_config(dir).apply({{"user", "Hi"}}), false);
    EXPECT_EQ(e.ids.front(), 128000);  // <|begin_of_text|>
    EXPECT_NE(e.ids[1], 128000);
    EXPECT_NE(tok->encode("Hi").ids.front(), 128000);
}

TEST(TokenizerJson, Mistral7bMatchesGolden) {
    GAZE_REQUIRE_FIXTURE(dir, "tokenizers/mistral-7b");
    GAZE_REQUIRE_FIXTURE(jsonl, "golden/tokenizers/mistral-7b-json.jsonl");
    test::expect_tokenizer_matches_jsonl(jsonl, *load_tokenizer(dir));
}

TEST(TokenizerJson, Qwen2VocabMergesGoldenAndLlamaCppQwen2) {
    GAZE_REQUIRE_FIXTURE(dir, "tokenizers/qwen2");
    GAZE_REQUIRE_FIXTURE(jsonl, "golden/tokenizers/qwen2.jsonl");
    const auto tok = load_tokenizer(dir);
    ASSERT_NE(dynamic_cast<const JsonTokenizer*>(tok.get()), nullptr) << "Qwen2Tokenizer folders need Qwen's regex";
    test::expect_tokenizer_matches_jsonl(jsonl, *tok);
    expect_llamacpp_suite("qwen2", *tok);
}

TEST(TokenizerJson, LlamaCppSuitePhi3) {
    GAZE_REQUIRE_FIXTURE(dir, "tokenizers/phi-3-mini");
    expect_llamacpp_suite("phi-3", *load_tokenizer(dir));
}

TEST(TokenizerJson, LlamaCppSuiteFalcon) {
    GAZE_REQUIRE_FIXTURE(dir, "tokenizers/falcon-7b");
    expect_llamacpp_suite("falcon", *load_tokenizer(dir));
}

TEST(TokenizerJson, LlamaCppSuiteGpt2) {  // the vocab.json + merges.txt reader, for comparison
    GAZE_REQUIRE_FIXTURE(dir, "tokenizers/gpt2");
    expect_llamacpp_suite("gpt-2", *load_tokenizer(dir));
}

// Phi-2 ships GPT-2's vocabulary as a tokenizer.json plus added tokens for runs
// of spaces and tabs: where a text has no such run it must tokenize as GPT-2.
TEST(TokenizerJson, Phi2AgreesWithGpt2OutsideItsAddedTokens) {
    GAZE_REQUIRE_FIXTURE(dir, "tokenizers/phi-2");
    GAZE_REQUIRE_FIXTURE(jsonl, "golden/tokenizers/gpt2.jsonl");
    const auto phi2_tokenizer = load_tokenizer(dir);
    const Tokenizer& phi2 = *phi2_tokenizer;
    std::ifstream in(jsonl);
    size_t compared = 0;
    for (std::string line; std::getline(in, line);) {
        const auto row = nlohmann::json::parse(line);
        const std::string text = row.at("text");
        if (text.find("  ") != std::string::npos || text.find("\t\t") != std::string::npos) continue;
        EXPECT_EQ(phi2.encode(text).ids, row.at("ids").get<std::vector<int32_t>>()) << text;
        ++compared;
    }
    EXPECT_GE(compared, 10u);
    // Its added tokens: a run of four spaces is one token, 50257 + 31 - 4.
    EXPECT_EQ(phi2.encode("a    b").ids, (std::vector<int32_t>{64, 50284, 65}));
}

}  // namespace
}  // namespace gaze
