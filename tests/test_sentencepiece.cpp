// The T5 SentencePiece tokenizer against Hugging Face's T5Tokenizer
// (../shared/golden/tokenizers/t5.jsonl: ids, token strings and decoded text),
// plus the sentinel tokens, special tokens written in the text and bad input.
#include <gtest/gtest.h>

#include <algorithm>
#include <fstream>
#include <nlohmann/json.hpp>

#include "gaze/error.hpp"
#include "gaze/tokenizer.hpp"
#include "gaze/tokenizers/sentencepiece.hpp"
#include "test_support.hpp"

namespace gaze::test {
namespace {

TEST(SentencePiece, MatchesHuggingFaceT5Tokenizer) {
    GAZE_REQUIRE_FIXTURE(cases, "golden/tokenizers/t5.jsonl");
    GAZE_REQUIRE_FIXTURE(dir, "golden/t5-tiny");
    const auto tokenizer = SentencePieceTokenizer::open(dir);
    std::ifstream in(cases);
    std::string line;
    int checked = 0;
    while (std::getline(in, line)) {
        if (line.empty()) continue;
        const auto j = nlohmann::json::parse(line);
        const std::string text = j["text"];
        const Encoding e = tokenizer->encode(text);
        EXPECT_EQ(e.ids, j["ids"].get<std::vector<int32_t>>()) << text;
        EXPECT_EQ(e.tokens, j["tokens"].get<std::vector<std::string>>()) << text;
        EXPECT_EQ(tokenizer->decode(e.ids), j["decoded"].get<std::string>()) << text;
        ++checked;
    }
    EXPECT_EQ(checked, 16);
}

TEST(SentencePiece, SentinelsAndSpecialTokens) {
    GAZE_REQUIRE_FIXTURE(dir, "golden/t5-tiny");
    const auto t = SentencePieceTokenizer::open(dir);
    EXPECT_EQ(t->vocab_size(), 1100);
    EXPECT_EQ(t->pad_id(), 0);
    EXPECT_EQ(t->eos_id(), 1);
    EXPECT_EQ(t->pad_token(), "<pad>");
    // <extra_id_0> is the last id, counting down.
    EXPECT_EQ(t->token_to_id("<extra_id_0>"), 1099);
    EXPECT_EQ(t->token_to_id("<extra_id_99>"), 1000);
    EXPECT_EQ(t->token_to_id("<extra_id_100>"), std::nullopt);
    EXPECT_EQ(t->id_to_token(1099), "<extra_id_0>");
    EXPECT_EQ(t->id_to_token(1000), "<extra_id_99>");
    EXPECT_EQ(t->token_to_id("</s>"), 1);
    EXPECT_EQ(t->token_to_id("▁cat"), 423);
    EXPECT_EQ(t->token_to_id("no such piece"), std::nullopt);
    // Special tokens in the text stay whole and eat the spaces around them.
    const Encoding e = t->encode("The <extra_id_0> sat on <extra_id_1>.");
    const Encoding plain = t->encode("The");
    ASSERT_GE(e.ids.size(), 5u);
    EXPECT_EQ(e.ids[plain.ids.size() - 1], 1099) << "sentinel right after 'The'";
    EXPECT_EQ(std::count(e.ids.begin(), e.ids.end(), 1098), 1);
    EXPECT_EQ(e.ids.back(), 1);
    // (T5Tokenizer glues a special token to the text before it.)
    EXPECT_EQ(t->decode(e.ids), "The<extra_id_0> sat on<extra_id_1>.</s>");
    EXPECT_EQ(t->decode(e.ids, /*skip_special_tokens=*/true), "The sat on.");
    // </s> written at the end is not doubled; without special tokens none is added.
    EXPECT_EQ(t->encode("The cat</s>").ids, t->encode("The cat").ids);
    EXPECT_NE(t->encode("The cat", false).ids.back(), 1);
    // Pairs: a </s> b </s>.
    const Encoding pair = t->encode_pair("The cat", "sat.");
    EXPECT_EQ(std::count(pair.ids.begin(), pair.ids.end(), 1), 2);
}

TEST(SentencePiece, BadInput) {
    GAZE_REQUIRE_FIXTURE(dir, "golden/t5-tiny");
    const auto t = SentencePieceTokenizer::open(dir);
    EXPECT_THROW(t->encode("caf\xc3"), Error);          // truncated sequence
    EXPECT_THROW(t->encode("\xff\xfe"), Error);         // not UTF-8 at all
    EXPECT_THROW(t->encode("\xed\xa0\x80"), Error);     // a surrogate
    EXPECT_THROW(t->decode({5, 1100}), Error);          // id outside the vocabulary
    EXPECT_THROW(t->id_to_token(-1), Error);
    EXPECT_THROW(SentencePieceTokenizer("/nonexistent/spiece.model"), Error);
    try {
        t->encode("ok \x80 then");
        ADD_FAILURE() << "no error";
    } catch (const Error& e) {
        EXPECT_NE(std::string(e.what()).find("UTF-8"), std::string::npos) << e.what();
    }
}

TEST(SentencePiece, LoadTokenizerPicksItForSpieceModel) {
    GAZE_REQUIRE_FIXTURE(dir, "golden/t5-tiny-gated");
    const auto t = load_tokenizer(dir);
    EXPECT_NE(dynamic_cast<const SentencePieceTokenizer*>(t.get()), nullptr);
    EXPECT_EQ(t->encode("The cat sat on the mat.").ids, (std::vector<int32_t>{70, 423, 782, 69, 11, 3, 434, 6, 1}));
}

}  // namespace
}  // namespace gaze::test
