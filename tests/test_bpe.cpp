// Byte-level BPE: the reference tokenizations of GPT-2's vocabulary, the
// gpt2-tiny golden cases, byte-exact round trips, and the error paths.
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <functional>
#include <nlohmann/json.hpp>
#include <string>
#include <thread>
#include <vector>

#include "gaze/error.hpp"
#include "gaze/tokenizer.hpp"
#include "gaze/tokenizers/bpe.hpp"
#include "test_support.hpp"

namespace {

namespace fs = std::filesystem;
using gaze::BpeTokenizer;
using gaze::Encoding;
using Strings = std::vector<std::string>;
using Ids = std::vector<int32_t>;

using gaze::test::expect_tokenizer_matches_jsonl;

TEST(BpeGolden, Gpt2MatchesReference) {
    GAZE_REQUIRE_FIXTURE(jsonl, "golden/tokenizers/gpt2.jsonl");
    GAZE_REQUIRE_FIXTURE(dir, "tokenizers/gpt2");
    const auto tokenizer = gaze::load_tokenizer(dir);
    EXPECT_EQ(tokenizer->vocab_size(), 50257);
    EXPECT_EQ(tokenizer->pad_id(), 50256);
    expect_tokenizer_matches_jsonl(jsonl, *tokenizer);
}

TEST(BpeGolden, Gpt2TinyFolderMatchesReference) {
    GAZE_REQUIRE_FIXTURE(jsonl, "golden/tokenizers/gpt2.jsonl");
    GAZE_REQUIRE_FIXTURE(dir, "golden/gpt2-tiny");
    expect_tokenizer_matches_jsonl(jsonl, *gaze::load_tokenizer(dir));
}

// The golden cases' prompts (test_golden_gpt2 checks their continuations).
TEST(BpeGolden, Gpt2TinyCasesMatchReference) {
    GAZE_REQUIRE_FIXTURE(dir, "golden/gpt2-tiny");
    const BpeTokenizer tokenizer(dir + "/vocab.json", dir + "/merges.txt");
    int checked = 0;
    for (const auto& entry : fs::directory_iterator(fs::path(dir) / "cases")) {
        if (entry.path().extension() != ".json") continue;
        std::ifstream in(entry.path());
        const auto c = nlohmann::json::parse(in);
        SCOPED_TRACE(entry.path().string());
        Strings texts = c.contains("texts") ? c["texts"].get<Strings>() : Strings{c.at("text").get<std::string>()};
        for (size_t b = 0; b < texts.size(); ++b) {
            const Encoding e = tokenizer.encode(texts[b]);
            auto ids = c.at("input_ids").at(b).get<Ids>();
            auto tokens = c.at("tokens").at(b).get<Strings>();
            ids.resize(e.ids.size());  // drop the right padding
            tokens.resize(e.tokens.size());
            EXPECT_EQ(e.ids, ids);
            EXPECT_EQ(e.tokens, tokens);
            ++checked;
        }
    }
    EXPECT_GT(checked, 0);
}

// ---- behaviour on a tiny in-memory vocabulary ----

// Bytes "a", "b", "c", " " (spelled "Ġ"), merges a+b -> ab, ab+c -> abc, Ġ+a -> Ġa.
BpeTokenizer tiny() {
    return BpeTokenizer({"a", "b", "c", "Ġ", "ab", "abc", "Ġa", "<|endoftext|>"},
                        {{"a", "b"}, {"ab", "c"}, {"Ġ", "a"}});
}

TEST(Bpe, MergesByRank) {
    const auto t = tiny();
    EXPECT_EQ(t.encode("abc").tokens, (Strings{"abc"}));
    EXPECT_EQ(t.encode("abcab a").tokens, (Strings{"abc", "ab", "Ġa"}));
    EXPECT_EQ(t.encode("cba").tokens, (Strings{"c", "b", "a"}));
}

TEST(Bpe, EndOfTextIsKeptWhole) {
    const auto t = tiny();
    const Encoding e = t.encode("ab<|endoftext|>ab");
    EXPECT_EQ(e.tokens, (Strings{"ab", "<|endoftext|>", "ab"}));
    EXPECT_EQ(e.special, (std::vector<uint8_t>{0, 1, 0}));
    EXPECT_EQ(t.decode(e.ids), "ab<|endoftext|>ab");
    EXPECT_EQ(t.decode(e.ids, /*skip_special_tokens=*/true), "abab");
}

TEST(Bpe, ByteAlphabetCoversEveryByte) {
    const auto t = BpeTokenizer::bytes_only();
    EXPECT_EQ(t->vocab_size(), 257);
    EXPECT_EQ(t->id_to_token(' '), "Ġ");
    EXPECT_EQ(t->id_to_token('\n'), "Ċ");
    EXPECT_EQ(t->id_to_token('A'), "A");
    EXPECT_EQ(t->end_of_text_id(), 256);
    const std::string text = "tab\there, new\nline; ünïcödé €100 — 日本語 🙂";
    const Encoding e = t->encode(text);
    EXPECT_EQ(e.ids.size(), text.size());  // one token a byte
    EXPECT_EQ(t->decode(e.ids), text);
}

TEST(Bpe, DecodeGivesExactBytesAndTextReplacesBrokenUtf8) {
    const auto t = BpeTokenizer::bytes_only();
    const Ids half_euro = {0xE2, 0x82};  // the first two bytes of "€"
    EXPECT_EQ(t->decode(half_euro), "\xE2\x82");
    EXPECT_EQ(t->decode_text(half_euro), "\xEF\xBF\xBD");  // one U+FFFD for the truncated sequence
    EXPECT_EQ(t->decode_text({0xFF, 'a', 0xC3}), "\xEF\xBF\xBD" "a" "\xEF\xBF\xBD");
    EXPECT_EQ(t->decode_text({0xE2, 0x82, 0xAC}), "€");
}

TEST(Bpe, Gpt2PatternSplitsLikePython) {
    GAZE_REQUIRE_FIXTURE(dir, "tokenizers/gpt2");
    const auto t = gaze::load_tokenizer(dir);
    // Contractions, digits apart from letters, runs of spaces leaving the last one to the next word.
    EXPECT_EQ(t->encode("I'll  go").tokens, (Strings{"I", "'ll", "Ġ", "Ġgo"}));
    EXPECT_EQ(t->encode("abc123").tokens, (Strings{"abc", "123"}));
    EXPECT_EQ(t->encode("a\n\nb").tokens, (Strings{"a", "Ċ", "Ċ", "b"}));
    EXPECT_EQ(t->encode("a\n\n").tokens, (Strings{"a", "ĊĊ"}));
    EXPECT_EQ(t->decode(t->encode("x  \t\n y!?").ids), "x  \t\n y!?");
}

TEST(Bpe, ConcurrentEncodesAgree) {
    GAZE_REQUIRE_FIXTURE(dir, "tokenizers/gpt2");
    const auto t = gaze::load_tokenizer(dir);
    const std::string text = "The quick brown fox jumps over the lazy dog, again and again.";
    const Ids expected = t->encode(text).ids;
    std::vector<std::thread> threads;
    std::vector<int> ok(4, 0);
    for (int i = 0; i < 4; ++i) {
        threads.emplace_back([&, i] {
            int good = 1;
            for (int k = 0; k < 200; ++k) good &= t->encode(text).ids == expected ? 1 : 0;
            ok[static_cast<size_t>(i)] = good;
        });
    }
    for (auto& th : threads) th.join();
    EXPECT_EQ(ok, (std::vector<int>{1, 1, 1, 1}));
}

// ---- errors ----

TEST(BpeErrors, InvalidUtf8IsRejected) {
    const auto t = tiny();
    try {
        t.encode("ab\xFF" "c");
        FAIL() << "expected gaze::Error";
    } catch (const gaze::Error& e) {
        EXPECT_NE(std::string(e.what()).find("not valid UTF-8"), std::string::npos) << e.what();
        EXPECT_NE(std::string(e.what()).find("offset 2"), std::string::npos) << e.what();
    }
    EXPECT_THROW(t.encode("\xC0\x80"), gaze::Error);  // overlong
    EXPECT_THROW(t.encode("\xED\xA0\x80"), gaze::Error);  // surrogate
}

TEST(BpeErrors, UnknownIdsAreRejected) {
    const auto t = tiny();
    EXPECT_THROW(t.decode({0, 99}), gaze::Error);
    EXPECT_THROW(t.id_to_token(-1), gaze::Error);
}

struct TempDir {
    fs::path path;
    TempDir() {
        path = fs::temp_directory_path() / ("gaze_bpe_test_" + std::to_string(::getpid()) + "_" +
                                            std::to_string(reinterpret_cast<uintptr_t>(this)));
        fs::create_directories(path);
    }
    ~TempDir() { fs::remove_all(path); }
    std::string write(const std::string& name, const std::string& text) const {
        std::ofstream(path / name, std::ios::binary) << text;
        return (path / name).string();
    }
};

std::string error_of(const std::function<void()>& f) {
    try {
        f();
    } catch (const gaze::Error& e) {
        return e.what();
    }
    return "(no error)";
}

TEST(BpeErrors, MergesFileThatDoesNotParseNamesFileAndLine) {
    TempDir dir;
    const auto vocab = dir.write("vocab.json", R"({"a": 0, "b": 1, "ab": 2})");
    const auto good = dir.write("good.txt", "#version: 0.2\na b\n");
    EXPECT_EQ(BpeTokenizer(vocab, good).encode("ab").tokens, (Strings{"ab"}));

    const auto three = dir.write("three.txt", "#version: 0.2\na b\na b c\n");
    std::string what = error_of([&] { BpeTokenizer(vocab, three); });
    EXPECT_NE(what.find(three + ":3:"), std::string::npos) << what;

    const auto one = dir.write("one.txt", "#version: 0.2\nab\n");
    what = error_of([&] { BpeTokenizer(vocab, one); });
    EXPECT_NE(what.find(one + ":2:"), std::string::npos) << what;

    const auto gap = dir.write("gap.txt", "#version: 0.2\na b\n\na b\n");
    what = error_of([&] { BpeTokenizer(vocab, gap); });
    EXPECT_NE(what.find(gap + ":3:"), std::string::npos) << what;

    what = error_of([&] { BpeTokenizer(vocab, (dir.path / "missing.txt").string()); });
    EXPECT_NE(what.find("missing.txt: cannot open"), std::string::npos) << what;
}

TEST(BpeErrors, BadVocabJsonNamesFile) {
    TempDir dir;
    const auto merges = dir.write("merges.txt", "#version: 0.2\n");
    const auto broken = dir.write("broken.json", "{\"a\": ");
    EXPECT_NE(error_of([&] { BpeTokenizer(broken, merges); }).find(broken + ": invalid JSON"), std::string::npos);
    const auto bad_id = dir.write("bad_id.json", R"({"a": 0, "b": 7})");
    EXPECT_NE(error_of([&] { BpeTokenizer(bad_id, merges); }).find("\"b\" has id 7"), std::string::npos);
}

}  // namespace
