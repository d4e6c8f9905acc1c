#pragma once
// The per-row quantities behind the per-head statistics, for one query row of
// one head: what AttentionStatistics (gaze/observers/statistics.hpp) averages
// and what the corpus census (gaze/census.hpp) accumulates, computed in one place.
#include <cstdint>

namespace gaze {

struct RowMeasure {
    double entropy = 0;         // -sum p log p, nats
    double distance = 0;        // sum_j p_j |query - j|
    double max_weight = 0;
    double first_token = 0;     // p_0
    double special_tokens = 0;  // mass on keys flagged in `special`
};
// `row` holds the weights on keys 0..keys-1 of query position `query`;
// `special` (may be null) flags special keys.
RowMeasure measure_row(const float* row, int64_t keys, int64_t query, const uint8_t* special);

}  // namespace gaze
