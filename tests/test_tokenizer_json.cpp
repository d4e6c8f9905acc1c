// tokenizer.json against the golden tokenizations (../shared/golden/tokenizers)
// and llama.cpp's vocabulary test suites, for the real Hub files in
// ../shared/tokenizers; load_tokenizer's choice of reader.
#include <gtest/gtest.h>

#include <fstream>
#include <map>
#include <sstream>

#include <nlohmann/json.hpp>

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

// Each folder is read once for all the tests here (a 128k-vocabulary file takes ~1 s).
const Tokenizer& load(const std::string& dir) {
    static std::map<std::string, std::unique_ptr<Tokenizer>> loaded;
    auto& t = loaded[dir];
    if (!t) t = load_tokenizer(dir);
    return *t;
}

TEST(TokenizerJson, Qwen25MatchesGolden) {
    GAZE_REQUIRE_FIXTURE(dir, "tokenizers/qwen2.5");
    GAZE_REQUIRE_FIXTURE(jsonl, "golden/tokenizers/qwen2.5-json.jsonl");
    const Tokenizer& tok = load(dir);
    ASSERT_NE(dynamic_cast<const JsonTokenizer*>(&tok), nullptr);
    test::expect_tokenizer_matches_jsonl(jsonl, tok);
}

TEST(TokenizerJson, Llama3MatchesGolden) {
    GAZE_REQUIRE_FIXTURE(dir, "tokenizers/llama3");
    GAZE_REQUIRE_FIXTURE(jsonl, "golden/tokenizers/llama3-json.jsonl");
    test::expect_tokenizer_matches_jsonl(jsonl, load(dir));
}

TEST(TokenizerJson, Mistral7bMatchesGolden) {
    GAZE_REQUIRE_FIXTURE(dir, "tokenizers/mistral-7b");
    GAZE_REQUIRE_FIXTURE(jsonl, "golden/tokenizers/mistral-7b-json.jsonl");
    test::expect_tokenizer_matches_jsonl(jsonl, load(dir));
}

TEST(TokenizerJson, Qwen2VocabMergesMatchesGolden) {
    GAZE_REQUIRE_FIXTURE(dir, "tokenizers/qwen2");
    GAZE_REQUIRE_FIXTURE(jsonl, "golden/tokenizers/qwen2.jsonl");
    const Tokenizer& tok = load(dir);
    ASSERT_NE(dynamic_cast<const JsonTokenizer*>(&tok), nullptr) << "Qwen2Tokenizer folders need Qwen's regex";
    test::expect_tokenizer_matches_jsonl(jsonl, tok);
}

TEST(TokenizerJson, LlamaCppSuiteLlamaBpe) {
    GAZE_REQUIRE_FIXTURE(dir, "tokenizers/llama3");
    expect_llamacpp_suite("llama-bpe", load(dir));
}

TEST(TokenizerJson, LlamaCppSuiteQwen2FromTokenizerJson) {
    GAZE_REQUIRE_FIXTURE(dir, "tokenizers/qwen2.5");
    expect_llamacpp_suite("qwen2", load(dir));
}

TEST(TokenizerJson, LlamaCppSuiteQwen2FromVocabMerges) {
    GAZE_REQUIRE_FIXTURE(dir, "tokenizers/qwen2");
    expect_llamacpp_suite("qwen2", load(dir));
}

TEST(TokenizerJson, LlamaCppSuitePhi3) {
    GAZE_REQUIRE_FIXTURE(dir, "tokenizers/phi-3-mini");
    expect_llamacpp_suite("phi-3", load(dir));
}

TEST(TokenizerJson, LlamaCppSuiteFalcon) {
    GAZE_REQUIRE_FIXTURE(dir, "tokenizers/falcon-7b");
    expect_llamacpp_suite("falcon", load(dir));
}

TEST(TokenizerJson, LlamaCppSuiteGpt2) {  // the vocab.json + merges.txt reader, for comparison
    GAZE_REQUIRE_FIXTURE(dir, "tokenizers/gpt2");
    expect_llamacpp_suite("gpt-2", load(dir));
}

// Phi-2 ships GPT-2's vocabulary as a tokenizer.json plus added tokens for runs
// of spaces and tabs: where a text has no such run it must tokenize as GPT-2.
TEST(TokenizerJson, Phi2AgreesWithGpt2OutsideItsAddedTokens) {
    GAZE_REQUIRE_FIXTURE(dir, "tokenizers/phi-2");
    GAZE_REQUIRE_FIXTURE(jsonl, "golden/tokenizers/gpt2.jsonl");
    const Tokenizer& phi2 = load(dir);
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
