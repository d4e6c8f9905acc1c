#pragma once
// Head census: streaming statistics of every head over a corpus.
//
//   CensusState state;
//   CensusOptions options;                       // batching, truncation, checkpoints
//   run_census(*model, *tokenizer, "corpus.jsonl", {}, options, state);
//   write(census_json(state, {.model = "models/bert", .info = model->info(), .corpus = "corpus.jsonl"}));
//
// Each query row of each head is reduced to a few numbers (entropy, attended
// distance, the mass on chosen keys, ...) and dropped; memory is O(heads).
// Every number is summed exactly (rounded once to a multiple of 2^-32, summed
// as a 128-bit integer), so states merge in any order to the same bits: a
// corpus split across threads, processes (MPI, in the CLI) or a resumed run
// gives the census of one uninterrupted pass. Batches are formed inside fixed
// byte windows of the corpus file, so how a text is batched (and hence its
// float32 forward pass) does not depend on how the corpus was split either.
#include <array>
#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <string_view>
#include <tuple>
#include <vector>

#include "gaze/model.hpp"
#include "gaze/observer.hpp"
#include "gaze/tokenizer.hpp"

namespace gaze {

// ---- what is measured per query row --------------------------------------------

enum class CensusStat {
    entropy,          // nats, over the visible keys
    distance,         // sum_j p_j |i - j|
    max_weight,       // the row's largest weight
    first_token,      // mass on key 0
    leading_special,  // mass on the special tokens that open the text ([CLS], <s>, BOS)
    later_special,    // mass on special tokens after the first ordinary one ([SEP], </s>)
    punctuation,      // mass on punctuation keys
    self,             // mass on the query's own position
    previous_token,   // mass on i - 1 (rows i >= 1): the previous-token detector
    same_token,       // mass on other positions holding the query's token id (rows with one)
    induction,        // mass on k + 1 for earlier k holding the query's id (rows with one): the induction detector
};
inline constexpr int kCensusStats = 11;
const char* census_stat_name(int stat);

// Query tokens are also aggregated by type.
inline constexpr int kQueryTypes = 3;  // word piece, punctuation, special token
const char* query_type_name(int type);

__extension__ using CensusInt = __int128;

// Count, sum and sum of squares, exact and order-independent (see above).
struct ExactMoments {
    int64_t count = 0;
    CensusInt sum = 0, sum_squares = 0;

    void add(double value);
    void merge(const ExactMoments& other);
    double mean() const;      // NaN when count == 0
    double variance() const;  // population variance; NaN when count == 0
    bool operator==(const ExactMoments&) const = default;
};

// The text in which a head shows a statistic most (its per-text mean).
struct CensusExample {
    double score = -1;  // -1: none yet
    int64_t line = 0;   // 1-based line in the corpus file
    std::string text;   // the text, cut at kCensusExampleBytes (valid UTF-8)
    bool cut = false;
    // Higher score first, then the earlier line: a total order, so merging is order-independent.
    bool better_than(const CensusExample& other) const;
};
inline constexpr size_t kCensusExampleBytes = 1000;

struct HeadCensus {
    Stack stack = Stack::encoder;
    AttentionKind kind = AttentionKind::self;
    int layer = 0;
    int head = 0;
    std::array<ExactMoments, kCensusStats> all;
    std::array<std::array<ExactMoments, kCensusStats>, kQueryTypes> by_query_type;
    std::array<CensusExample, kCensusStats> examples;
    void merge(const HeadCensus& other);
};

struct CorpusCounts {
    int64_t lines = 0;             // lines read (texts, blank, skipped)
    int64_t texts = 0;             // texts run through the model
    int64_t blank_lines = 0;
    int64_t skipped_lines = 0;     // malformed lines skipped (--on-error skip)
    int64_t empty_texts = 0;       // texts with no tokens
    int64_t tokens = 0;            // tokens run (after truncation)
    int64_t truncated_texts = 0;
    int64_t truncated_tokens = 0;  // tokens cut off
    std::vector<std::pair<int64_t, std::string>> errors;  // (line, message): the first kCensusReportedErrors
    void merge(const CorpusCounts& other);
};
inline constexpr size_t kCensusReportedErrors = 50;

struct CensusState {
    using Key = std::tuple<int, int, int, int>;  // stack, kind, layer, head
    std::map<Key, HeadCensus> heads;
    CorpusCounts corpus;

    void merge(const CensusState& other);
    // Exact round trip (checkpoints, MPI). deserialize throws gaze::Error naming `what`.
    std::string serialize() const;
    static CensusState deserialize(std::string_view bytes, const std::string& what);
};

// ---- the observer ----------------------------------------------------------------

// Adds every self-attention row of every pass to a CensusState. Before each
// pass, say which corpus line and text each sequence of the batch is.
class CensusObserver : public AttentionObserver {
public:
    explicit CensusObserver(CensusState& state, int64_t example_min_rows = 4);
    void set_batch_texts(std::vector<int64_t> lines, std::vector<std::string_view> texts);

    void on_forward_begin(const ForwardInfo& info) override;
    void on_attention(const AttentionEvent& event) override;
    void on_forward_end() override;

    // The row-level facts of one sequence, computed once per pass.
    struct SequenceFacts {
        int64_t length = 0;
        std::vector<int64_t> leading_special, later_special, punctuation;  // key positions
        std::vector<uint8_t> query_type;
        // Per query: same-id positions before / after it, and induction targets (CSR offsets + values).
        std::vector<int64_t> same_before_start, same_before, same_after_start, same_after, induction_start, induction;
    };
    static SequenceFacts sequence_facts(const Tokens& tokens, int64_t b);

private:
    struct Slot {
        HeadCensus* head = nullptr;
        std::vector<double> text_sums;     // [batch, stat]
        std::vector<int64_t> text_counts;  // [batch, stat]
    };
    Slot& slot(const AttentionSite& site, int head);

    CensusState& state_;
    int64_t example_min_rows_;
    std::vector<int64_t> lines_;
    std::vector<std::string_view> texts_;
    std::vector<SequenceFacts> facts_;
    std::map<CensusState::Key, size_t> slot_index_;
    std::vector<Slot> slots_;
    int64_t batch_ = 0;
};

// ---- running over a corpus file -------------------------------------------------

enum class CorpusFormat { automatic, text, jsonl };  // automatic: .jsonl / .ndjson are JSONL
enum class OnError { fail, skip };

struct CensusOptions {
    CorpusFormat format = CorpusFormat::automatic;
    std::string field = "text";     // JSONL field holding the text
    OnError on_error = OnError::fail;
    int64_t limit = -1;             // texts (in file order, over the whole corpus); -1: all
    int64_t max_tokens = 0;         // truncate longer texts (0: the model's maximum)
    int64_t batch_size = 32;        // texts per forward pass
    int64_t batch_tokens = 8192;    // padded tokens per forward pass
    int64_t window_bytes = 16384;   // batches are formed inside these byte windows of the file
    int64_t checkpoint_every = 0;   // texts between checkpoints (0: none)
    std::string checkpoint_path;
    bool resume = false;            // continue from checkpoint_path when it exists
    bool statistics = true;         // false: forward passes only (to measure the census's cost)
    int64_t example_min_rows = 4;
    std::string model_fingerprint;  // recorded in checkpoints; a resume with another model is refused
};

// The format a corpus is read in: `format`, or for automatic, JSONL when the
// file name ends in .jsonl / .ndjson and plain text otherwise.
CorpusFormat corpus_format(const std::string& path, CorpusFormat format);

// One corpus line (without its '\n'; a trailing '\r' is dropped): a text
// (stored in `text`), blank (only whitespace), or malformed, with why in
// `error` (JSONL: not JSON, not an object, no string field `field`).
// `format` is text or jsonl (automatic throws gaze::Error: see corpus_format).
// run_census and count_corpus_range read every line through this.
enum class CorpusLine { text, blank, malformed };
CorpusLine parse_corpus_line(std::string_view line, CorpusFormat format, const std::string& field, std::string& text,
                             std::string& error);

// The longest input the census runs: options.max_tokens capped by the model's maximum (0: no limit).
int64_t census_max_tokens(const ModelInfo& info, const CensusOptions& options);
// Cuts an encoding to `max` tokens (0: no limit), keeping a closing special
// token ([SEP], </s>) last. Returns the number of tokens cut off.
int64_t truncate_encoding(Encoding& encoding, int64_t max);

// Bytes [begin, end) of the corpus: the lines that start there. A range
// starts and ends on window boundaries (or the end of the file).
struct CorpusRange {
    int64_t begin = 0;
    int64_t end = -1;         // -1: the end of the file
    int64_t first_line = 1;   // line number of the first line in the range
    int64_t first_text = 0;   // texts before the range (for --limit)
};
// Splits a file of `size` bytes into `parts` window-aligned ranges (some may be empty).
std::vector<CorpusRange> split_corpus(int64_t size, int parts, int64_t window_bytes);
int64_t corpus_size(const std::string& path);  // throws naming the file

struct RangeCounts {
    int64_t lines = 0, texts = 0;
};
// Lines and texts (lines that parse; malformed ones are not texts) starting in the range.
RangeCounts count_corpus_range(const std::string& path, const CorpusRange& range, const CensusOptions& options);

struct CensusProgress {
    int64_t texts = 0, tokens = 0;  // in this run of this range
    int64_t bytes_done = 0, bytes_total = 0;
};
struct CensusCallbacks {
    std::function<void(const CensusProgress&)> progress;  // after every batch
    std::function<bool()> stop_requested;                 // checked after every window
    std::function<void(int64_t texts)> checkpoint_written;
};

// Runs the range (resuming from options.checkpoint_path when options.resume and
// it exists), adding to `state`. Returns false when stopped early by
// stop_requested (after writing a checkpoint when a path is set). Throws
// gaze::Error for a malformed line under OnError::fail (naming file and line),
// a checkpoint of another corpus, range, model or options, or a corpus file
// changed since its checkpoint.
bool run_census(Model& model, const Tokenizer& tokenizer, const std::string& corpus, const CorpusRange& range,
                const CensusOptions& options, CensusState& state, const CensusCallbacks& callbacks = {});

// ---- the result -------------------------------------------------------------------

struct CensusMeta {
    std::string model;   // as given
    ModelInfo info;
    std::string corpus;  // as given
    CensusOptions options;
};
// census.json: corpus counts, per head the mean, variance and count of each
// statistic, per query type the means, the example texts, and the top heads
// of each statistic. Deterministic: no times, sorted keys.
std::string census_json(const CensusState& state, const CensusMeta& meta);

}  // namespace gaze
