// The observer API: requests select what is copied, several observers get
// their own selections, the built-ins compute what they claim, and the
// example from docs/observers.md compiles and runs.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <map>
#include <random>
#include <set>
#include <unistd.h>

#include "gaze/gaze.hpp"
#include "test_support.hpp"

namespace gaze::test {
namespace {

// The docs/observers.md example, verbatim.
struct PreviousTokenCounter : gaze::AttentionObserver {
    int layer;
    std::map<int, int> hits;  // head -> rows whose strongest key is i-1
    explicit PreviousTokenCounter(int l) : layer(l) {}

    gaze::AttentionRequest request() const override {
        gaze::AttentionRequest r;
        r.layers = {layer};  // nothing is copied for the other layers
        return r;
    }
    void on_attention(const gaze::AttentionEvent& e) override {
        const gaze::Tensor& p = e.probabilities;  // [B, heads, rows, keys]
        for (int64_t h = 0; h < p.dim(1); ++h)
            for (int64_t r = 0; r < p.dim(2); ++r) {
                const float* row = p.ptr({0, h, r, 0});
                const int64_t best = std::max_element(row, row + p.dim(3)) - row;
                if (best == e.query_positions[r] - 1) ++hits[e.heads[h]];
            }
    }
};

struct Counter : AttentionObserver {
    AttentionRequest wanted;
    std::vector<Shape> shapes;
    std::vector<std::vector<int>> heads;
    std::vector<std::vector<int64_t>> rows;
    std::vector<Tensor> copies;
    AttentionRequest request() const override { return wanted; }
    void on_attention(const AttentionEvent& e) override {
        shapes.push_back(e.probabilities.shape());
        heads.emplace_back(e.heads.begin(), e.heads.end());
        rows.emplace_back(e.query_positions.begin(), e.query_positions.end());
        copies.push_back(e.probabilities.clone());
    }
};

// A small random BERT made in memory: the observer plumbing needs no fixture.
std::unique_ptr<Model> small_bert() {
    BertShape shape{3, 32, 4, 64, 50, 64, 2};
    return make_model(bert_config(shape), random_bert_weights(shape, 3));
}

Tokens sample_tokens() {
    Encoding e;
    e.ids = {2, 10, 11, 12, 13, 14, 3};
    e.tokens = {"[CLS]", "a", "b", "c", "d", "e", "[SEP]"};
    e.special = {1, 0, 0, 0, 0, 0, 1};
    return Tokens::from_encodings({e}, 0);
}

TEST(Observers, SelectionsAreHonouredPerObserver) {
    auto model = small_bert();
    const Tokens tokens = sample_tokens();
    Counter all, some;
    some.wanted.layers = {1};
    some.wanted.heads = {3, 1};
    some.wanted.query_positions = {0, 5, 99};  // 99 does not exist: ignored
    AttentionObserver* observers[] = {&all, &some};
    ForwardOptions options;
    options.observers = observers;
    model->forward(tokens, options);

    ASSERT_EQ(all.shapes.size(), 3u);
    EXPECT_EQ(all.shapes[0], (Shape{1, 4, 7, 7}));
    ASSERT_EQ(some.shapes.size(), 1u);
    EXPECT_EQ(some.shapes[0], (Shape{1, 2, 2, 7}));
    EXPECT_EQ(some.heads[0], (std::vector<int>{1, 3}));
    EXPECT_EQ(some.rows[0], (std::vector<int64_t>{0, 5}));
    // The slice holds exactly the same numbers as the full capture.
    for (int h = 0; h < 2; ++h)
        for (int r = 0; r < 2; ++r)
            for (int64_t j = 0; j < 7; ++j)
                EXPECT_EQ(some.copies[0].at({0, h, r, j}),
                          all.copies[1].at({0, some.heads[0][static_cast<size_t>(h)], some.rows[0][static_cast<size_t>(r)], j}));
}

TEST(Observers, ObservingDoesNotChangeTheOutput) {
    auto model = small_bert();
    const Tokens tokens = sample_tokens();
    const Tensor plain = model->forward(tokens).last_hidden_state.clone();
    AttentionRecorder recorder;
    AttentionObserver* observers[] = {&recorder};
    ForwardOptions options;
    options.observers = observers;
    const Tensor observed = model->forward(tokens, options).last_hidden_state.clone();
    EXPECT_EQ(max_abs_diff(plain, observed), 0.0);
    // Rows are probability distributions.
    for (const auto& r : recorder.records()) {
        for (int64_t h = 0; h < 4; ++h)
            for (int64_t i = 0; i < 7; ++i) {
                double sum = 0;
                for (int64_t j = 0; j < 7; ++j) sum += r.probabilities.at({0, h, i, j});
                EXPECT_NEAR(sum, 1.0, 1e-5);
            }
    }
}

TEST(Observers, RecorderReusesBuffersButNeverOnesStillShared) {
    auto model = small_bert();
    const Tokens tokens = sample_tokens();
    AttentionRecorder recorder;
    AttentionObserver* observers[] = {&recorder};
    ForwardOptions options;
    options.observers = observers;
    model->forward(tokens, options);
    const Tensor kept = recorder.records()[0].probabilities;  // shares the buffer
    const std::vector<float> kept_values = kept.to_vector();
    std::set<const float*> reusable;  // the buffers clear() may hand back
    for (size_t i = 1; i < recorder.records().size(); ++i) reusable.insert(recorder.records()[i].probabilities.data());
    recorder.clear();
    Tokens other = tokens;  // a different input: different probabilities
    std::reverse(other.ids.begin() + 1, other.ids.end() - 1);
    model->forward(other, options);
    EXPECT_EQ(kept.to_vector(), kept_values) << "a buffer the caller still holds was overwritten";
    size_t reused = 0;
    for (const auto& r : recorder.records()) {
        EXPECT_NE(r.probabilities.data(), kept.data());
        reused += reusable.count(r.probabilities.data());
    }
    EXPECT_GE(reused + 2, recorder.records().size()) << "cleared buffers should serve the next forward pass";
    // And what was recorded is the new input's attention, not stale values.
    AttentionRecorder fresh;
    AttentionObserver* fresh_observers[] = {&fresh};
    options.observers = fresh_observers;
    model->forward(other, options);
    ASSERT_EQ(fresh.records().size(), recorder.records().size());
    for (size_t i = 0; i < fresh.records().size(); ++i)
        EXPECT_EQ(max_abs_diff(fresh.records()[i].probabilities, recorder.records()[i].probabilities), 0.0);
}

TEST(Observers, DisabledRequestReceivesNothing) {
    auto model = small_bert();
    Counter off;
    off.wanted = AttentionRequest::none();
    AttentionObserver* observers[] = {&off};
    ForwardOptions options;
    options.observers = observers;
    model->forward(sample_tokens(), options);
    EXPECT_TRUE(off.shapes.empty());
}

TEST(Observers, DocumentationExampleRuns) {
    auto model = small_bert();
    PreviousTokenCounter counter(1);
    AttentionRecorder recorder;
    AttentionObserver* observers[] = {&counter, &recorder};
    ForwardOptions options;
    options.observers = observers;
    model->forward(sample_tokens(), options);
    // Recompute the count from the recorder.
    const RecordedAttention* r = recorder.find(Stack::encoder, AttentionKind::self, 1);
    ASSERT_NE(r, nullptr);
    std::map<int, int> expected;
    for (int h = 0; h < 4; ++h)
        for (int64_t i = 0; i < 7; ++i) {
            const float* row = r->probabilities.ptr({0, h, i, 0});
            if (std::max_element(row, row + 7) - row == i - 1) ++expected[h];
        }
    EXPECT_EQ(counter.hits, expected);
}

TEST(Observers, StatisticsMatchARecordedComputation) {
    auto model = small_bert();
    const Tokens tokens = sample_tokens();
    AttentionRecorder recorder;
    AttentionStatistics stats;
    AttentionObserver* observers[] = {&recorder, &stats};
    ForwardOptions options;
    options.observers = observers;
    model->forward(tokens, options);
    const auto results = stats.results();
    ASSERT_EQ(results.size(), 12u);  // 3 layers x 4 heads
    for (const auto& s : results) {
        const RecordedAttention* r = recorder.find(Stack::encoder, AttentionKind::self, s.site.layer);
        double entropy = 0, diagonal = 0, previous = 0, special = 0, distance = 0;
        for (int64_t i = 0; i < 7; ++i)
            for (int64_t j = 0; j < 7; ++j) {
                const double w = r->probabilities.at({0, s.head, i, j});
                entropy -= w > 0 ? w * std::log(w) : 0;
                diagonal += i == j ? w : 0;
                previous += j == i - 1 ? w : 0;
                special += (j == 0 || j == 6) ? w : 0;
                distance += w * std::abs(static_cast<double>(i - j));
            }
        EXPECT_EQ(s.rows, 7);
        EXPECT_NEAR(s.entropy, entropy / 7, 1e-6);
        EXPECT_NEAR(s.diagonal, diagonal / 7, 1e-6);
        EXPECT_NEAR(s.previous_token, previous / 7, 1e-6);
        EXPECT_NEAR(s.special_tokens, special / 7, 1e-6);
        EXPECT_NEAR(s.mean_distance, distance / 7, 1e-5);
    }
}

// One causal attention call of `n` tokens through a hub with `observers`.
void observe_long_call(int64_t n, std::span<AttentionObserver* const> observers) {
    std::mt19937 rng(5);
    const Tensor q = random_tensor({1, n, 16}, rng, -2, 2), k = random_tensor({1, n, 16}, rng, -2, 2), v = random_tensor({1, n, 16}, rng);
    Tokens tokens = Tokens::from_ids(std::vector<int32_t>(static_cast<size_t>(n), 1));
    ObserverHub hub(observers);
    ops::AttentionOptions o;
    o.heads = 4;
    o.scale = 0.5f;
    o.causal = true;
    Tensor out;
    hub.begin({"test", 0, 1, 4, &tokens});
    hub.attention({Stack::decoder, AttentionKind::causal_self, 0, 4}, q, k, v, o, out, tokens, tokens);
    hub.end();
}

TEST(Observers, RowBlockObserversGetTilesAndTheOthersWholeMatrices) {
    const int64_t n = 150;  // three tiles of query rows: 64, 64, 22
    Counter blocks, whole;
    blocks.wanted.row_blocks = true;
    AttentionObserver* only_blocks[] = {&blocks};
    observe_long_call(n, only_blocks);
    ASSERT_EQ(blocks.shapes.size(), 3u);
    int64_t next = 0;
    for (size_t e = 0; e < blocks.rows.size(); ++e) {
        EXPECT_LE(blocks.shapes[e][2], 64);
        for (int64_t p : blocks.rows[e]) EXPECT_EQ(p, next++);
    }
    EXPECT_EQ(next, n);
    // With an observer that wants whole matrices attached, everyone gets them in one event.
    Counter blocks2;
    blocks2.wanted.row_blocks = true;
    AttentionObserver* mixed[] = {&blocks2, &whole};
    observe_long_call(n, mixed);
    ASSERT_EQ(whole.shapes.size(), 1u);
    EXPECT_EQ(whole.shapes[0], (Shape{1, 4, n, n}));
    ASSERT_EQ(blocks2.shapes.size(), 1u);
    // The tiles hold exactly the rows of the whole matrix.
    for (size_t e = 0; e < blocks.copies.size(); ++e)
        for (int64_t h = 0; h < 4; ++h)
            for (size_t r = 0; r < blocks.rows[e].size(); ++r)
                for (int64_t j = 0; j < n; ++j)
                    ASSERT_EQ(blocks.copies[e].at({0, h, static_cast<int64_t>(r), j}), whole.copies[0].at({0, h, blocks.rows[e][r], j}));
    // The statistics observer takes tiles and sums the same as from whole matrices.
    AttentionStatistics alone, beside;
    AttentionRecorder recorder;
    AttentionObserver* a[] = {&alone};
    AttentionObserver* b[] = {&beside, &recorder};
    observe_long_call(n, a);
    observe_long_call(n, b);
    const auto x = alone.results(), y = beside.results();
    ASSERT_EQ(x.size(), 4u);
    for (size_t h = 0; h < x.size(); ++h) {
        EXPECT_EQ(x[h].rows, n);
        EXPECT_NEAR(x[h].entropy, y[h].entropy, 1e-12);
        EXPECT_NEAR(x[h].previous_token, y[h].previous_token, 1e-12);
        EXPECT_NEAR(x[h].first_token, y[h].first_token, 1e-12);
    }
}

TEST(Observers, TopTargetsAreSortedAndSkipPadding) {
    auto model = small_bert();
    Encoding a, b;
    a.ids = {2, 10, 3};
    b.ids = {2, 10, 11, 12, 3};
    const Tokens tokens = Tokens::from_encodings({a, b}, 0);
    TopTargets top(2, {}, /*average_heads=*/true);
    AttentionObserver* observers[] = {&top};
    ForwardOptions options;
    options.observers = observers;
    model->forward(tokens, options);
    // 3 layers x (3 + 5 real query rows).
    EXPECT_EQ(top.results().size(), 3u * 8u);
    for (const auto& t : top.results()) {
        ASSERT_EQ(t.weights.size(), 2u);
        EXPECT_GE(t.weights[0], t.weights[1]);
        for (int64_t k : t.key_positions) EXPECT_TRUE(tokens.valid(t.batch, k));
    }
}

TEST(Observers, RecorderExportsSafetensorsAndJson) {
    auto model = small_bert();
    AttentionRecorder recorder;
    AttentionObserver* observers[] = {&recorder};
    ForwardOptions options;
    options.observers = observers;
    model->forward(sample_tokens(), options);
    const auto dir = std::filesystem::temp_directory_path() / ("gaze_recorder_" + std::to_string(::getpid()));
    std::filesystem::create_directories(dir);
    recorder.save_safetensors((dir / "a.safetensors").string());
    recorder.save_json((dir / "a.json").string());
    const SafetensorsFile f = SafetensorsFile::open((dir / "a.safetensors").string());
    ASSERT_NE(f.find("attentions.2"), nullptr);
    EXPECT_EQ(max_abs_diff(f.load("attentions.2"), recorder.records()[2].probabilities), 0.0);
    std::ifstream in(dir / "a.json");
    const std::string json((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    EXPECT_NE(json.find("\"key_tokens\""), std::string::npos);
    EXPECT_NE(json.find("[SEP]"), std::string::npos);
    std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace gaze::test
