#pragma once
// Shared by the census tests: a generated corpus, a model with its tokenizer,
// and run_census over one range.
#include <gtest/gtest.h>

#include <random>
#include <string>

#include "gaze/census.hpp"
#include "gaze/gaze.hpp"

namespace gaze::test {

// `texts` sentences of common words with punctuation and repeated phrases (so
// every statistic has rows), a blank line after every `blank_every`-th (0: none).
inline std::string census_corpus(int texts, int blank_every, uint32_t seed = 1) {
    static const char* const words[] = {"the", "cat", "dog", "sat", "on", "mat", "a", "big", "red", "house",
                                        "and", "then", "it", "ran", "to", "school", "with", "her", "friend", "home"};
    std::mt19937 rng(seed);
    std::string out;
    for (int t = 0; t < texts; ++t) {
        const int n = 3 + static_cast<int>(rng() % 10);
        std::string sentence;
        for (int w = 0; w < n; ++w) {
            sentence += (w ? " " : "") + std::string(words[rng() % std::size(words)]);
            if (rng() % 7 == 0) sentence += ",";
        }
        out += rng() % 3 == 0 ? sentence + ", " + sentence + ".\n" : sentence + ".\n";
        if (blank_every > 0 && (t + 1) % blank_every == 0) out += "\n";
    }
    return out;
}

struct CensusModel {
    explicit CensusModel(const std::string& dir) : model(load_model(dir)), tokenizer(load_tokenizer(dir)) {}
    std::unique_ptr<Model> model;
    std::unique_ptr<Tokenizer> tokenizer;
};

// Windows small enough that a test corpus spans many.
inline CensusOptions small_windows() {
    CensusOptions o;
    o.window_bytes = 512;
    o.batch_size = 8;
    return o;
}

inline CensusState census_of(CensusModel& m, const std::string& corpus, const CorpusRange& range, const CensusOptions& o) {
    CensusState state;
    EXPECT_TRUE(run_census(*m.model, *m.tokenizer, corpus, range, o, state));
    return state;
}

// The ranges `parts` processes would run, with their first line and text numbers.
inline std::vector<CorpusRange> ranges_of(const std::string& corpus, int parts, const CensusOptions& o) {
    auto ranges = split_corpus(corpus_size(corpus), parts, o.window_bytes);
    int64_t lines = 0, texts = 0;
    for (auto& r : ranges) {
        r.first_line = 1 + lines;
        r.first_text = texts;
        const RangeCounts c = count_corpus_range(corpus, r, o);
        lines += c.lines;
        texts += c.texts;
    }
    return ranges;
}

}  // namespace gaze::test
