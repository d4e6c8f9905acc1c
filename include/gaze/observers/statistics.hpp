#pragma once
// AttentionStatistics: streaming per-head summaries. Each event is reduced to
// running sums and dropped, so memory is O(layers x heads), never O(n^2); it
// takes rows a block at a time (row_blocks), so the engine holds only one
// tile of query rows of probabilities for it, however long the input.
// Averages are over real (non-padding) query rows of every sequence.
#include <map>
#include <string>
#include <tuple>
#include <vector>

#include "gaze/observer.hpp"

namespace gaze {

struct HeadStatistics {
    AttentionSite site;
    int head = 0;
    int64_t rows = 0;             // query rows averaged over
    double entropy = 0;           // nats; log(keys) = uniform, 0 = one key
    double mean_distance = 0;     // sum_j p_j |i - j| (self-attention only)
    double max_weight = 0;        // mean of each row's largest weight
    double first_token = 0;       // mass on key 0 (often [CLS] / BOS, the "sink")
    double special_tokens = 0;    // mass on [CLS]/[SEP]/... keys
    double diagonal = 0;          // mass on j = i (self)
    double previous_token = 0;    // mass on j = i - 1
};

class AttentionStatistics : public AttentionObserver {
public:
    explicit AttentionStatistics(AttentionRequest request = {}) : request_(std::move(request)) {}
    AttentionRequest request() const override {
        AttentionRequest r = request_;
        r.row_blocks = true;  // every row is summed on its own
        return r;
    }
    void on_attention(const AttentionEvent& event) override;

    // Averages so far, ordered by stack, kind, layer, head.
    std::vector<HeadStatistics> results() const;
    void reset() { sums_.clear(); }

private:
    AttentionRequest request_;
    using Key = std::tuple<int, int, int, int>;  // stack, kind, layer, head
    std::map<Key, HeadStatistics> sums_;
};

}  // namespace gaze
