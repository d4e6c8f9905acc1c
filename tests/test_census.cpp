// The census library: exact sums, row facts, the observer on known attention,
// and run_census on a real model: split ranges, resume and bad input give the
// census of one clean pass.
#include <gtest/gtest.h>

#include <cmath>
#include <random>

#include "bad_input_support.hpp"
#include "census_support.hpp"
#include "gaze/census.hpp"
#include "test_support.hpp"

namespace gaze::test {
namespace {

TEST(Census, ExactMomentsMergeInAnyOrderToTheSameBits) {
    std::mt19937 rng(7);
    std::uniform_real_distribution<double> value(0.0, 5.0);
    std::vector<double> values(1000);
    for (double& v : values) v = value(rng);
    ExactMoments one;
    for (double v : values) one.add(v);
    // Ten chunks merged in a shuffled order.
    std::vector<ExactMoments> chunks(10);
    for (size_t i = 0; i < values.size(); ++i) chunks[i % 10].add(values[values.size() - 1 - i]);
    std::shuffle(chunks.begin(), chunks.end(), rng);
    ExactMoments merged;
    for (const auto& c : chunks) merged.merge(c);
    EXPECT_EQ(one, merged);
    double sum = 0, sum2 = 0;
    for (double v : values) sum += v, sum2 += v * v;
    const double mean = sum / 1000, variance = sum2 / 1000 - mean * mean;
    EXPECT_NEAR(one.mean(), mean, 1e-9);
    EXPECT_NEAR(one.variance(), variance, 1e-8);
    EXPECT_TRUE(std::isnan(ExactMoments{}.mean()));
}

TEST(Census, SequenceFactsFindSpecialsPunctuationRepeatsAndInductionTargets) {
    Encoding e;
    e.ids = {101, 7, 8, 9, 7, 8, 1012, 102};  // [CLS] a b c a b . [SEP]
    e.tokens = {"[CLS]", "a", "b", "c", "a", "b", ".", "[SEP]"};
    e.special = {1, 0, 0, 0, 0, 0, 0, 1};
    const Tokens t = Tokens::from_encodings({e}, 0);
    const auto f = CensusObserver::sequence_facts(t, 0);
    EXPECT_EQ(f.length, 8);
    EXPECT_EQ(f.leading_special, (std::vector<int64_t>{0}));
    EXPECT_EQ(f.later_special, (std::vector<int64_t>{7}));
    EXPECT_EQ(f.punctuation, (std::vector<int64_t>{6}));
    auto list = [](const std::vector<int64_t>& start, const std::vector<int64_t>& v, size_t i) {
        return std::vector<int64_t>(v.begin() + start[i], v.begin() + start[i + 1]);
    };
    EXPECT_EQ(list(f.same_before_start, f.same_before, 4), (std::vector<int64_t>{1}));
    EXPECT_EQ(list(f.same_after_start, f.same_after, 1), (std::vector<int64_t>{4}));
    // "a" at 4 saw "a" at 1, followed by "b" at 2: the induction target.
    EXPECT_EQ(list(f.induction_start, f.induction, 4), (std::vector<int64_t>{2}));
    EXPECT_EQ(list(f.induction_start, f.induction, 5), (std::vector<int64_t>{3}));
    EXPECT_TRUE(list(f.induction_start, f.induction, 3).empty());
    EXPECT_TRUE(list(f.same_before_start, f.same_before, 7).empty());  // special tokens are not repeats
}

// Two causal heads over "[CLS] a b c a b": head 0 attends to the previous
// token, head 1 to the induction target where there is one (else itself).
TEST(Census, ObserverScoresAPreviousTokenAndAnInductionHead) {
    Encoding e;
    e.ids = {101, 7, 8, 9, 7, 8};
    e.tokens = {"[CLS]", "a", "b", "c", "a", "b"};
    e.special = {1, 0, 0, 0, 0, 0};
    const Tokens t = Tokens::from_encodings({e}, 0);
    const int64_t n = 6;
    Tensor p({1, 2, n, n});
    p.fill(0.0f);
    const int64_t induction_target[n] = {0, 1, 2, 3, 2, 3};
    for (int64_t i = 0; i < n; ++i) {
        p.at({0, 0, i, std::max<int64_t>(i - 1, 0)}) = 1.0f;
        p.at({0, 1, i, induction_target[i]}) = 1.0f;
    }
    CensusState state;
    CensusObserver observer(state, 1);
    ForwardInfo info;
    info.input = &t;
    observer.set_batch_texts({1}, {"a b c a b"});
    observer.on_forward_begin(info);
    const int heads[] = {0, 1};
    const int64_t rows[] = {0, 1, 2, 3, 4, 5};
    observer.on_attention(AttentionEvent{{Stack::decoder, AttentionKind::causal_self, 0, 2}, -1, p, heads, rows, t, t});
    observer.on_forward_end();
    ASSERT_EQ(state.heads.size(), 2u);
    const HeadCensus& previous = state.heads.begin()->second;
    const HeadCensus& induction = std::next(state.heads.begin())->second;
    auto mean = [](const HeadCensus& h, CensusStat s) { return h.all[static_cast<size_t>(s)].mean(); };
    EXPECT_NEAR(mean(previous, CensusStat::previous_token), 1.0, 1e-9);
    EXPECT_EQ(previous.all[static_cast<size_t>(CensusStat::previous_token)].count, 5);  // rows 1..5
    EXPECT_NEAR(mean(previous, CensusStat::entropy), 0.0, 1e-6);
    EXPECT_NEAR(mean(previous, CensusStat::distance), 5.0 / 6.0, 1e-9);
    EXPECT_NEAR(mean(previous, CensusStat::induction), 0.0, 1e-9);
    EXPECT_NEAR(mean(induction, CensusStat::induction), 1.0, 1e-9);
    EXPECT_EQ(induction.all[static_cast<size_t>(CensusStat::induction)].count, 2);  // the repeated a, b
    EXPECT_NEAR(mean(induction, CensusStat::self), 4.0 / 6.0, 1e-9);
    EXPECT_NEAR(mean(induction, CensusStat::leading_special), 1.0 / 6.0, 1e-9);
    EXPECT_EQ(induction.examples[static_cast<size_t>(CensusStat::induction)].line, 1);
    EXPECT_EQ(induction.examples[static_cast<size_t>(CensusStat::induction)].text, "a b c a b");
}

TEST(Census, SplitRangesMergeToTheSingleRangeCensus) {
    GAZE_REQUIRE_FIXTURE(dir, "golden/bert-tiny");
    TempDir tmp;
    const std::string corpus = tmp.file("corpus.txt");
    write_bytes(corpus, census_corpus(45, 3));
    CensusModel m(dir);
    CensusOptions o = small_windows();
    const CensusState whole = census_of(m, corpus, {}, o);
    EXPECT_EQ(whole.corpus.texts, 45);
    EXPECT_EQ(whole.corpus.blank_lines, 15);
    for (int parts : {2, 3}) {
        CensusState merged;
        for (const CorpusRange& r : ranges_of(corpus, parts, o)) merged.merge(census_of(m, corpus, r, o));
        EXPECT_EQ(merged.serialize(), whole.serialize()) << parts << " parts";
    }
    const int64_t size = corpus_size(corpus);
    const auto ranges = split_corpus(size, 3, o.window_bytes);
    EXPECT_EQ(ranges.front().begin, 0);
    EXPECT_EQ(ranges.back().end, size);
    for (size_t i = 1; i < ranges.size(); ++i) {
        EXPECT_EQ(ranges[i].begin, ranges[i - 1].end);
        EXPECT_EQ(ranges[i].begin % o.window_bytes == 0 || ranges[i].begin == size, true);
    }
}

TEST(Census, AStoppedAndResumedRunEqualsAnUninterruptedOne) {
    GAZE_REQUIRE_FIXTURE(dir, "golden/bert-tiny");
    TempDir tmp;
    const std::string corpus = tmp.file("corpus.txt");
    write_bytes(corpus, census_corpus(40, 0));
    CensusModel m(dir);
    CensusOptions o = small_windows();
    const CensusState whole = census_of(m, corpus, {}, o);
    o.checkpoint_path = tmp.file("ckpt");
    o.checkpoint_every = 5;
    CensusState first;
    int windows = 0;
    CensusCallbacks stop_after_two;
    stop_after_two.stop_requested = [&] { return ++windows >= 2; };
    EXPECT_FALSE(run_census(*m.model, *m.tokenizer, corpus, {}, o, first, stop_after_two));
    EXPECT_GT(first.corpus.texts, 0);
    EXPECT_LT(first.corpus.texts, 40);
    o.resume = true;
    CensusState resumed;  // loaded from the checkpoint, not from `first`
    EXPECT_TRUE(run_census(*m.model, *m.tokenizer, corpus, {}, o, resumed));
    EXPECT_EQ(resumed.serialize(), whole.serialize());
}

TEST(Census, AResumeRefusesACorpusThatChanged) {
    GAZE_REQUIRE_FIXTURE(dir, "golden/bert-tiny");
    TempDir tmp;
    const std::string corpus = tmp.file("corpus.txt");
    const std::string text = census_corpus(30, 0);
    write_bytes(corpus, text);
    CensusModel m(dir);
    CensusOptions o = small_windows();
    o.checkpoint_path = tmp.file("ckpt");
    CensusState state;
    CensusCallbacks stop;
    stop.stop_requested = [] { return true; };
    ASSERT_FALSE(run_census(*m.model, *m.tokenizer, corpus, {}, o, state, stop));
    o.resume = true;
    std::string edited = text;
    edited[3] = edited[3] == 'x' ? 'y' : 'x';  // same size, a consumed byte changed
    write_bytes(corpus, edited);
    CensusState again;
    EXPECT_THAT(error_of([&] { run_census(*m.model, *m.tokenizer, corpus, {}, o, again); }),
                ::testing::HasSubstr("changed since checkpoint"));
    write_bytes(corpus, text + "one more line\n");  // grown
    EXPECT_THAT(error_of([&] { run_census(*m.model, *m.tokenizer, corpus, {}, o, again); }),
                ::testing::AllOf(::testing::HasSubstr("changed since checkpoint"), ::testing::HasSubstr("bytes")));
    write_bytes(corpus, text);
    o.max_tokens = 7;  // other options
    EXPECT_THAT(error_of([&] { run_census(*m.model, *m.tokenizer, corpus, {}, o, again); }),
                ::testing::HasSubstr("other settings"));
}

TEST(Census, ParseCorpusLineGivesTextBlankOrWhyMalformed) {
    std::string text, error;
    EXPECT_EQ(parse_corpus_line("a b\r", CorpusFormat::text, "text", text, error), CorpusLine::text);
    EXPECT_EQ(text, "a b");
    EXPECT_EQ(parse_corpus_line(" \t\r", CorpusFormat::jsonl, "text", text, error), CorpusLine::blank);
    EXPECT_EQ(parse_corpus_line(R"({"t": "x\u00e9"})", CorpusFormat::jsonl, "t", text, error), CorpusLine::text);
    EXPECT_EQ(text, "x\xc3\xa9");
    // Found by fuzz_census_line: a number beyond double's range is nlohmann's
    // out_of_range, not a parse_error; it escaped instead of being a malformed line.
    for (const char* line : {"7e777", R"({"text": "a", "n": 1e999})", "{\"text\": "}) {
        EXPECT_EQ(parse_corpus_line(line, CorpusFormat::jsonl, "text", text, error), CorpusLine::malformed) << line;
        EXPECT_THAT(error, ::testing::HasSubstr("invalid JSON")) << line;
    }
    EXPECT_EQ(corpus_format("c.ndjson", CorpusFormat::automatic), CorpusFormat::jsonl);
    EXPECT_EQ(corpus_format("c.jsonl", CorpusFormat::text), CorpusFormat::text);
    EXPECT_THROW(parse_corpus_line("x", CorpusFormat::automatic, "text", text, error), Error);
}

// Found by fuzz_census_state (10-minute run): a float where an integer belongs
// (a corpus count of 8.9e125) was cast to int64_t, undefined behaviour.
TEST(Census, DeserializeRefusesFloatsWhereIntegersBelong) {
    const std::string empty = CensusState{}.serialize();
    EXPECT_EQ(CensusState::deserialize(empty, "state").serialize(), empty);
    for (const char* bytes : {R"({"heads": [], "corpus": [0, 0, 0, 0, 0, 0, 0, 8.9e125], "errors": []})",
                              R"({"heads": [], "corpus": [0, 0, 0, 0, 0, 0, 0, 0], "errors": [[1e300, "x"]]})"}) {
        EXPECT_THAT(error_of([&] { (void)CensusState::deserialize(bytes, "ckpt.json"); }),
                    ::testing::HasSubstr("ckpt.json: expected an integer, found number"))
            << bytes;
    }
}

TEST(Census, MalformedJsonLinesFailWithTheirLineNumberOrAreSkippedAndCounted) {
    GAZE_REQUIRE_FIXTURE(dir, "golden/bert-tiny");
    TempDir tmp;
    const std::string corpus = tmp.file("corpus.jsonl");
    write_bytes(corpus,
                "{\"text\": \"the cat sat\"}\n\n{\"text\": \"a dog\"\n[1, 2]\n{\"body\": \"x\"}\n{\"text\": 3}\n"
                "{\"text\": \"the end\", \"id\": 1}\n");
    CensusModel m(dir);
    CensusOptions o;
    CensusState state;
    const std::string error = error_of([&] { run_census(*m.model, *m.tokenizer, corpus, {}, o, state); });
    EXPECT_THAT(error, ::testing::HasSubstr("corpus.jsonl:3: invalid JSON"));
    o.on_error = OnError::skip;
    CensusState skipped;
    ASSERT_TRUE(run_census(*m.model, *m.tokenizer, corpus, {}, o, skipped));
    EXPECT_EQ(skipped.corpus.texts, 2);
    EXPECT_EQ(skipped.corpus.blank_lines, 1);
    EXPECT_EQ(skipped.corpus.skipped_lines, 4);
    ASSERT_EQ(skipped.corpus.errors.size(), 4u);
    EXPECT_EQ(skipped.corpus.errors[0].first, 3);
    EXPECT_EQ(skipped.corpus.errors[1], (std::pair<int64_t, std::string>{4, "not a JSON object"}));
    EXPECT_EQ(skipped.corpus.errors[2], (std::pair<int64_t, std::string>{5, "no field \"text\""}));
    EXPECT_EQ(skipped.corpus.errors[3], (std::pair<int64_t, std::string>{6, "field \"text\" is not a string"}));
    o.field = "body";
    CensusState body;
    ASSERT_TRUE(run_census(*m.model, *m.tokenizer, corpus, {}, o, body));
    EXPECT_EQ(body.corpus.texts, 1);
}

TEST(Census, EmptyCorpusAndLongTextsAreCountedNotGuessed) {
    GAZE_REQUIRE_FIXTURE(dir, "golden/bert-tiny");
    TempDir tmp;
    CensusModel m(dir);
    const std::string empty = tmp.file("empty.txt");
    write_bytes(empty, "");
    CensusState none;
    ASSERT_TRUE(run_census(*m.model, *m.tokenizer, empty, {}, {}, none));
    EXPECT_EQ(none.corpus.texts, 0);
    EXPECT_TRUE(none.heads.empty());
    EXPECT_THAT(census_json(none, {"m", m.model->info(), empty, {}}), ::testing::HasSubstr("\"texts\": 0"));

    const std::string corpus = tmp.file("long.txt");
    const std::string long_text = "the cat sat on the mat and then it slept for a long time";
    write_bytes(corpus, long_text + "\nshort one\n");
    const int64_t long_tokens = static_cast<int64_t>(m.tokenizer->encode(long_text).ids.size());
    CensusOptions o;
    o.max_tokens = 6;
    CensusState cut;
    ASSERT_TRUE(run_census(*m.model, *m.tokenizer, corpus, {}, o, cut));
    EXPECT_EQ(cut.corpus.texts, 2);
    EXPECT_EQ(cut.corpus.truncated_texts, 1);
    EXPECT_EQ(cut.corpus.truncated_tokens, long_tokens - 6);
    EXPECT_EQ(cut.corpus.tokens, 6 + 4);
    // The kept [SEP] is still a later special token in every row's statistics.
    const HeadCensus& h = cut.heads.begin()->second;
    EXPECT_GT(h.all[static_cast<size_t>(CensusStat::later_special)].mean(), 0.0);
}

TEST(Census, LimitCountsTextsFromTheStartOfTheFileInEveryRange) {
    GAZE_REQUIRE_FIXTURE(dir, "golden/bert-tiny");
    TempDir tmp;
    const std::string corpus = tmp.file("corpus.txt");
    write_bytes(corpus, census_corpus(40, 4));
    CensusModel m(dir);
    CensusOptions o = small_windows();
    o.limit = 25;
    const CensusState whole = census_of(m, corpus, {}, o);
    EXPECT_EQ(whole.corpus.texts, 25);
    CensusState merged;
    for (const CorpusRange& r : ranges_of(corpus, 2, o)) merged.merge(census_of(m, corpus, r, o));
    EXPECT_EQ(merged.serialize(), whole.serialize());
}

}  // namespace
}  // namespace gaze::test
