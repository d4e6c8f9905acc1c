// libFuzzer target: the census corpus reader (parse_corpus_line, and the line
// ranges count_corpus_range reads, as run_census does).
// Input: byte 0 picks the format (bit 0: JSONL) and the --field (bits 1-2);
// byte 1 the window size (1-64 bytes: many windows, many straddling lines)
// and the number of ranges (1-4); the rest is the corpus file. Checked:
//   - a plain-text line is its own text (less a trailing '\r') unless blank,
//     never malformed; blank means the same in both formats;
//   - a malformed JSONL line says why; a JSONL text written back as
//     {"<field>": text} reads back the same;
//   - the lines and texts of the ranges split_corpus makes add up to those of
//     the whole file, counted here line by line: no line is lost or read twice
//     at a range boundary.
#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>

#include "fuzz_check.hpp"
#include "gaze/census.hpp"
#include "gaze/error.hpp"

namespace {

namespace fs = std::filesystem;

const std::string& corpus_path() {
    static const std::string path = [] {
        const fs::path d = fs::temp_directory_path() / ("gaze_fuzz_census_line_" + std::to_string(::getpid()));
        fs::create_directories(d);
        return (d / "corpus").string();
    }();
    return path;
}

// Checks one line in both formats; returns whether it is a text in `format`.
bool check_line(std::string_view line, gaze::CorpusFormat format, const std::string& field) {
    std::string text, error;
    const gaze::CorpusLine plain = gaze::parse_corpus_line(line, gaze::CorpusFormat::text, field, text, error);
    FUZZ_CHECK(plain != gaze::CorpusLine::malformed);
    if (plain == gaze::CorpusLine::text) {
        std::string_view expected = line;
        if (!expected.empty() && expected.back() == '\r') expected.remove_suffix(1);
        FUZZ_CHECK(text == expected);
    }
    text.clear();
    const gaze::CorpusLine json = gaze::parse_corpus_line(line, gaze::CorpusFormat::jsonl, field, text, error);
    FUZZ_CHECK((json == gaze::CorpusLine::blank) == (plain == gaze::CorpusLine::blank));
    if (json == gaze::CorpusLine::malformed) FUZZ_CHECK(!error.empty());
    if (json == gaze::CorpusLine::text) {
        // nlohmann accepts only valid UTF-8, so the text dumps back without error.
        const std::string again = nlohmann::json{{field, text}}.dump();
        std::string text2;
        FUZZ_CHECK(gaze::parse_corpus_line(again, gaze::CorpusFormat::jsonl, field, text2, error) == gaze::CorpusLine::text);
        FUZZ_CHECK(text2 == text);
    }
    return (format == gaze::CorpusFormat::jsonl ? json : plain) == gaze::CorpusLine::text;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    if (size < 2) return 0;
    static const char* const kFields[] = {"text", "t", "", "\xc3\xa9"};
    gaze::CensusOptions options;
    options.format = (data[0] & 1) ? gaze::CorpusFormat::jsonl : gaze::CorpusFormat::text;
    options.field = kFields[(data[0] >> 1) & 3];
    const int64_t window = 1 + data[1] % 64;
    const int parts = 1 + data[1] / 64;
    const std::string_view corpus(reinterpret_cast<const char*>(data) + 2, size - 2);

    // The reference: every '\n'-ended line, and a last line without one.
    gaze::RangeCounts expected;
    for (size_t at = 0; at < corpus.size();) {
        const size_t nl = corpus.find('\n', at);
        const size_t end = nl == std::string_view::npos ? corpus.size() : nl;
        ++expected.lines;
        if (check_line(corpus.substr(at, end - at), options.format, options.field)) ++expected.texts;
        at = end + 1;
    }

    const std::string& path = corpus_path();
    std::ofstream(path, std::ios::binary | std::ios::trunc).write(corpus.data(), static_cast<std::streamsize>(corpus.size()));
    try {
        FUZZ_CHECK(gaze::corpus_size(path) == static_cast<int64_t>(corpus.size()));
        gaze::RangeCounts sum;
        for (const gaze::CorpusRange& range : gaze::split_corpus(gaze::corpus_size(path), parts, window)) {
            const gaze::RangeCounts counts = gaze::count_corpus_range(path, range, options);
            sum.lines += counts.lines;
            sum.texts += counts.texts;
        }
        FUZZ_CHECK(sum.lines == expected.lines);
        FUZZ_CHECK(sum.texts == expected.texts);
    } catch (const gaze::Error& e) {
        // Nothing here is a bad argument: the file was just written.
        __builtin_printf("fuzz_census_line: unexpected gaze::Error: %s\n", e.what());
        FUZZ_CHECK(false);
    }
    return 0;
}
