// WordPiece tokenizer: the reference tokenizations of bert-base-uncased's
// vocabulary (lower-cased and cased), the bert-tiny golden cases, and unit
// tests of each BasicTokenizer rule on a tiny in-memory vocabulary.
#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <functional>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "gaze/error.hpp"
#include "gaze/tokenizer.hpp"
#include "gaze/tokenizers/wordpiece.hpp"
#include "gaze/tokens.hpp"
#include "test_support.hpp"

namespace {

namespace fs = std::filesystem;
using gaze::Encoding;
using gaze::WordPieceOptions;
using gaze::WordPieceTokenizer;
using Strings = std::vector<std::string>;

// ---- reference fixtures ----

using gaze::test::expect_tokenizer_matches_jsonl;

TEST(WordPieceGolden, BertUncasedMatchesReference) {
    GAZE_REQUIRE_FIXTURE(jsonl, "golden/tokenizers/bert-uncased.jsonl");
    GAZE_REQUIRE_FIXTURE(vocab, "tokenizers/bert-base-uncased/vocab.txt");
    const WordPieceTokenizer tokenizer(vocab, WordPieceOptions{.lower_case = true});
    EXPECT_EQ(tokenizer.vocab_size(), 30522);
    EXPECT_EQ(tokenizer.pad_id(), 0);
    expect_tokenizer_matches_jsonl(jsonl, tokenizer);
}

TEST(WordPieceGolden, BertCasedMatchesReference) {
    GAZE_REQUIRE_FIXTURE(jsonl, "golden/tokenizers/bert-cased.jsonl");
    GAZE_REQUIRE_FIXTURE(vocab, "tokenizers/bert-base-uncased/vocab.txt");
    const WordPieceTokenizer tokenizer(vocab, WordPieceOptions{.lower_case = false});
    expect_tokenizer_matches_jsonl(jsonl, tokenizer);
}

// Row `b` of a [B, S] JSON array, cut to the real (attention_mask 1) positions.
template <typename T>
std::vector<T> unpadded_row(const nlohmann::json& c, const char* key, size_t b) {
    auto row = c.at(key).at(b).get<std::vector<T>>();
    const auto mask = c.at("attention_mask").at(b).get<std::vector<int>>();
    row.resize(static_cast<size_t>(std::count(mask.begin(), mask.end(), 1)));
    return row;
}

TEST(WordPieceGolden, BertTinyCasesMatchReference) {
    GAZE_REQUIRE_FIXTURE(vocab, "golden/bert-tiny/vocab.txt");
    const fs::path dir = fs::path(vocab).parent_path();
    const auto tokenizer = gaze::load_tokenizer(dir.string());
    std::vector<fs::path> cases;
    for (const auto& entry : fs::directory_iterator(dir / "cases"))
        if (entry.path().extension() == ".json") cases.push_back(entry.path());
    ASSERT_FALSE(cases.empty());
    std::sort(cases.begin(), cases.end());
    for (const auto& path : cases) {
        SCOPED_TRACE(path.filename().string());
        std::ifstream in(path);
        const auto c = nlohmann::json::parse(in);
        std::vector<Encoding> encodings;
        if (c.contains("texts")) {
            for (const auto& text : c.at("texts")) encodings.push_back(tokenizer->encode(text.get<std::string>()));
        } else if (c.contains("text_pair")) {
            encodings.push_back(tokenizer->encode_pair(c.at("text").get<std::string>(),
                                                       c.at("text_pair").get<std::string>()));
        } else {
            encodings.push_back(tokenizer->encode(c.at("text").get<std::string>()));
        }
        ASSERT_EQ(encodings.size(), c.at("input_ids").size());
        for (size_t b = 0; b < encodings.size(); ++b) {
            EXPECT_EQ(encodings[b].ids, unpadded_row<int32_t>(c, "input_ids", b)) << "row " << b;
            EXPECT_EQ(encodings[b].type_ids, unpadded_row<int32_t>(c, "token_type_ids", b)) << "row " << b;
            EXPECT_EQ(encodings[b].tokens, unpadded_row<std::string>(c, "tokens", b)) << "row " << b;
        }
        // Padding the batch reproduces the reference's [PAD] tail too.
        const auto batch = gaze::Tokens::from_encodings(encodings, tokenizer->pad_id(), tokenizer->pad_token());
        std::vector<int32_t> flat;
        for (const auto& row : c.at("input_ids"))
            for (const auto& id : row) flat.push_back(id.get<int32_t>());
        EXPECT_EQ(batch.ids, flat);
    }
}

// ---- unit tests on a tiny vocabulary ----

Strings tiny_vocab() {
    return {"[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "the", "cat", "un", "##aff", "##able",
            "naive", "cafe", "na\u00efve", "hello", "world", ",", ".", "!", "?", "'",
            "s", "t", "isn", "\u4e2d", "\u6587", "[", "]", "mask", "^", "$",
            "\u00bf", "a", "i", "\u03bf\u03b4\u03bf\u03c3", "The"};
}

WordPieceTokenizer tiny(WordPieceOptions options = {}) { return WordPieceTokenizer(tiny_vocab(), options); }

// Tokens of `text` without [CLS]/[SEP].
Strings tokens_of(const WordPieceTokenizer& tok, std::string_view text) { return tok.encode(text, false).tokens; }

std::string error_of(const std::function<void()>& fn) {
    try {
        fn();
    } catch (const gaze::Error& e) {
        return e.what();
    }
    return "(no gaze::Error thrown)";
}

TEST(WordPieceTokenizer, SplitsChineseCharacters) {
    EXPECT_EQ(tokens_of(tiny(), "hello\u4e2d\u6587world"), (Strings{"hello", "\u4e2d", "\u6587", "world"}));
    // Without the split the whole run is one word that "##\u4e2d..." cannot cover.
    EXPECT_EQ(tokens_of(tiny({.tokenize_chinese_chars = false}), "hello\u4e2d\u6587world"), (Strings{"[UNK]"}));
}

TEST(WordPieceTokenizer, StripsAccentsWhenLowerCasing) {
    EXPECT_EQ(tokens_of(tiny(), "Na\u00efve CAF\u00c9"), (Strings{"naive", "cafe"}));
    EXPECT_EQ(tokens_of(tiny(), "Cafe\u0301"), (Strings{"cafe"}));  // decomposed input
    // Lower-case without stripping: composed (NFC) either way.
    const auto keep = tiny({.lower_case = true, .strip_accents = false});
    EXPECT_EQ(tokens_of(keep, "NA\u00cfVE"), (Strings{"na\u00efve"}));
    EXPECT_EQ(tokens_of(keep, "nai\u0308ve"), (Strings{"na\u00efve"}));
    // Cased: accents kept unless asked for, case kept.
    EXPECT_EQ(tokens_of(tiny({.lower_case = false}), "na\u00efve The the"), (Strings{"na\u00efve", "The", "the"}));
    EXPECT_EQ(tokens_of(tiny({.lower_case = false, .strip_accents = true}), "na\u00efve Naive"),
              (Strings{"naive", "[UNK]"}));
}

TEST(WordPieceTokenizer, LowerCasesLikePython) {
    // U+0130 lower-cases to "i" + combining dot, which accent stripping drops.
    EXPECT_EQ(tokens_of(tiny(), "\u0130"), (Strings{"i"}));
    // Characters are lower-cased one at a time: no final sigma.
    EXPECT_EQ(tokens_of(tiny(), "\u039f\u0394\u039f\u03a3"), (Strings{"\u03bf\u03b4\u03bf\u03c3"}));
}

TEST(WordPieceTokenizer, SplitsOnPunctuation) {
    EXPECT_EQ(tokens_of(tiny(), "hello,world!"), (Strings{"hello", ",", "world", "!"}));
    // ASCII symbols count as punctuation (^ is Sk, $ is Sc), and so does Unicode P* (¿).
    EXPECT_EQ(tokens_of(tiny(), "a^a$a\u00bfa"), (Strings{"a", "^", "a", "$", "a", "\u00bf", "a"}));
    EXPECT_EQ(tokens_of(tiny(), "isn't"), (Strings{"isn", "'", "t"}));
}

TEST(WordPieceTokenizer, GreedyLongestMatchAndUnknownWords) {
    EXPECT_EQ(tokens_of(tiny(), "unaffable"), (Strings{"un", "##aff", "##able"}));
    // A word that cannot be covered completely is one [UNK], not a partial split.
    EXPECT_EQ(tokens_of(tiny(), "unaffablex cat"), (Strings{"[UNK]", "cat"}));
    // Over-long words (in code points) are [UNK] before any matching.
    EXPECT_EQ(tokens_of(tiny({.max_input_chars_per_word = 5}), "unaffable cat"), (Strings{"[UNK]", "cat"}));
    EXPECT_EQ(tokens_of(tiny({.lower_case = false, .max_input_chars_per_word = 5}), "na\u00efve"),
              (Strings{"na\u00efve"}));  // 5 code points, 6 bytes
}

TEST(WordPieceTokenizer, RemovesControlCharactersAndSplitsOnWhitespace) {
    EXPECT_EQ(tokens_of(tiny(), std::string("hel\x01lo wor\0ld", 13)), (Strings{"hello", "world"}));
    EXPECT_EQ(tokens_of(tiny(), "he\u200bllo\ufffd w\u00adorld"), (Strings{"hello", "world"}));
    EXPECT_EQ(tokens_of(tiny(), "the\tcat\r\nhello\u00a0world\u2028the\u3000cat  "),
              (Strings{"the", "cat", "hello", "world", "the", "cat"}));
}

TEST(WordPieceTokenizer, EmptyTextHasOnlySpecialTokens) {
    const auto tok = tiny();
    EXPECT_EQ(tok.encode("").tokens, (Strings{"[CLS]", "[SEP]"}));
    EXPECT_EQ(tok.encode(" \t\n ").ids, (std::vector<int32_t>{2, 3}));
    EXPECT_TRUE(tok.encode("", false).ids.empty());
}

TEST(WordPieceTokenizer, RejectsInvalidUtf8) {
    const auto tok = tiny();
    for (const std::string bad : {"\xff", "\xe2\x82", "\xc0\xaf", "\xed\xa0\x80", "\xf4\x90\x80\x80", "\x80"}) {
        SCOPED_TRACE(testing::PrintToString(bad));
        EXPECT_THROW(tok.encode(bad), gaze::Error);
        EXPECT_THROW(tok.encode_pair("the", bad), gaze::Error);
    }
    const std::string message = error_of([&] { tok.encode("ab\xff"); });
    EXPECT_NE(message.find("not valid UTF-8"), std::string::npos) << message;
    EXPECT_NE(message.find("byte offset 2"), std::string::npos) << message;
    EXPECT_NE(error_of([&] { tok.encode_pair("the", "cat\xe2\x82"); }).find("second text"), std::string::npos);
}

TEST(WordPieceTokenizer, KeepsSpecialTokenStringsWhole) {
    const auto tok = tiny();
    const Encoding enc = tok.encode("the [MASK] cat");
    EXPECT_EQ(enc.tokens, (Strings{"[CLS]", "the", "[MASK]", "cat", "[SEP]"}));
    EXPECT_EQ(enc.ids, (std::vector<int32_t>{2, 5, 4, 6, 3}));
    EXPECT_EQ(enc.special, (std::vector<uint8_t>{1, 0, 1, 0, 1}));
    EXPECT_EQ(tokens_of(tok, "the[MASK]cat[SEP][PAD]"), (Strings{"the", "[MASK]", "cat", "[SEP]", "[PAD]"}));
    // [UNK] is kept whole but is not flagged special.
    const Encoding unk = tok.encode("[UNK]", false);
    EXPECT_EQ(unk.ids, (std::vector<int32_t>{1}));
    EXPECT_EQ(unk.special, (std::vector<uint8_t>{0}));
    // Only the exact spelling: other case is ordinary text (split on [ and ]).
    EXPECT_EQ(tokens_of(tok, "[mask] [MASK"), (Strings{"[", "mask", "]", "[", "mask"}));
}

TEST(WordPieceTokenizer, PairHasSegmentTypeIds) {
    const auto tok = tiny();
    const Encoding pair = tok.encode_pair("The cat", "hello world!");
    EXPECT_EQ(pair.tokens, (Strings{"[CLS]", "the", "cat", "[SEP]", "hello", "world", "!", "[SEP]"}));
    EXPECT_EQ(pair.type_ids, (std::vector<int32_t>{0, 0, 0, 0, 1, 1, 1, 1}));
    EXPECT_EQ(pair.special, (std::vector<uint8_t>{1, 0, 0, 1, 0, 0, 0, 1}));
    // Without special tokens HF gives both segments type id 0.
    const Encoding bare = tok.encode_pair("the", "cat", false);
    EXPECT_EQ(bare.tokens, (Strings{"the", "cat"}));
    EXPECT_EQ(bare.type_ids, (std::vector<int32_t>{0, 0}));
    EXPECT_EQ(tok.encode("the cat").type_ids, (std::vector<int32_t>{0, 0, 0, 0}));
}

TEST(WordPieceTokenizer, DecodeMergesPiecesAndCleansUp) {
    const auto tok = tiny();
    const auto ids = tok.encode("The cat isn't unaffable, hello world!").ids;
    EXPECT_EQ(tok.decode(ids), "[CLS] the cat isn't unaffable, hello world! [SEP]");
    EXPECT_EQ(tok.decode(ids, true), "the cat isn't unaffable, hello world!");
    // [UNK] survives skip_special_tokens; unknown ids read as [UNK].
    EXPECT_EQ(tok.decode({2, 1, 6, 4, 0, 999, -1, 3}, true), "[UNK] cat [UNK] [UNK]");
    EXPECT_EQ(tok.decode({}), "");
    EXPECT_EQ(tok.id_to_token(999), "[UNK]");
    EXPECT_EQ(tok.id_to_token(8), "##aff");
    EXPECT_EQ(tok.token_to_id("##able"), 9);
    EXPECT_FALSE(tok.token_to_id("dog").has_value());
}

TEST(WordPieceTokenizer, VocabularyErrorsNameTheSource) {
    EXPECT_NE(error_of([] { WordPieceTokenizer("/nonexistent/vocab.txt"); }).find("/nonexistent/vocab.txt"),
              std::string::npos);
    EXPECT_NE(error_of([] { WordPieceTokenizer(Strings{"[CLS]", "[SEP]", "a"}); }).find("no [UNK] token"),
              std::string::npos);
    EXPECT_NE(error_of([] { WordPieceTokenizer(Strings{"[UNK]", "[SEP]", "a"}); }).find("no [CLS] token"),
              std::string::npos);
    EXPECT_NE(error_of([] { WordPieceTokenizer(Strings{"[UNK]", "[CLS]", "[SEP]", "\xff"}); }).find("not valid UTF-8"),
              std::string::npos);
    const WordPieceTokenizer no_pad(Strings{"[UNK]", "[CLS]", "[SEP]"});
    EXPECT_NE(error_of([&] { (void)no_pad.pad_id(); }).find("no [PAD] token"), std::string::npos);
}

// A fresh, empty folder under the system temp dir, removed at scope exit.
struct TempDir {
    fs::path path;
    explicit TempDir(const std::string& name)
        : path(fs::temp_directory_path() / ("gaze_wordpiece_" + std::to_string(getpid()) + "_" + name)) {
        fs::remove_all(path);
        fs::create_directories(path);
    }
    ~TempDir() {
        std::error_code ec;
        fs::remove_all(path, ec);
    }
    void write(const std::string& file, const std::string& content) const {
        std::ofstream(path / file, std::ios::binary) << content;
    }
};

TEST(WordPieceTokenizer, ReadsVocabularyFileLines) {
    const TempDir dir("vocab");
    dir.write("vocab.txt", "[PAD]\r\n[UNK]\r\n[CLS]\n[SEP]\nthe\n\ncat");  // CRLF, empty line, no final newline
    const WordPieceTokenizer tok((dir.path / "vocab.txt").string());
    EXPECT_EQ(tok.vocab_size(), 7);
    EXPECT_EQ(tok.token_to_id("[UNK]"), 1);
    EXPECT_EQ(tok.token_to_id("cat"), 6);
    EXPECT_EQ(tok.token_to_id(""), 5);
    EXPECT_EQ(tok.encode("The cat").ids, (std::vector<int32_t>{2, 4, 6, 3}));
}

TEST(LoadTokenizer, ReadsWordPieceConfig) {
    const TempDir dir("load");
    dir.write("vocab.txt", "[PAD]\n[UNK]\n[CLS]\n[SEP]\nthe\nThe\n");
    // No tokenizer_config.json: lower-cased.
    EXPECT_EQ(gaze::load_tokenizer(dir.path.string())->encode("The", false).tokens, (Strings{"the"}));
    dir.write("tokenizer_config.json", R"({"do_lower_case": false, "strip_accents": null})");
    const auto cased = gaze::load_tokenizer(dir.path.string());
    EXPECT_EQ(cased->encode("The", false).tokens, (Strings{"The"}));
    EXPECT_EQ(cased->pad_id(), 0);
    EXPECT_EQ(cased->vocab_size(), 6);
    dir.write("tokenizer_config.json", "{not json");
    EXPECT_NE(error_of([&] { gaze::load_tokenizer(dir.path.string()); }).find("tokenizer_config.json"),
              std::string::npos);
    dir.write("tokenizer_config.json", R"({"do_lower_case": "yes"})");
    EXPECT_NE(error_of([&] { gaze::load_tokenizer(dir.path.string()); }).find("do_lower_case"), std::string::npos);
}

TEST(LoadTokenizer, FolderWithoutTokenizerFiles) {
    const TempDir dir("empty");
    const std::string message = error_of([&] { gaze::load_tokenizer(dir.path.string()); });
    EXPECT_NE(message.find("no tokenizer files found (expected tokenizer.json, vocab.txt"), std::string::npos) << message;
    EXPECT_NE(message.find(dir.path.string()), std::string::npos) << message;
}

}  // namespace
