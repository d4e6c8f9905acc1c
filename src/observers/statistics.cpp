#include "gaze/observers/statistics.hpp"

#include <algorithm>
#include <cmath>

#include "gaze/observers/row_measure.hpp"

namespace gaze {

RowMeasure measure_row(const float* row, int64_t keys, int64_t query, const uint8_t* special) {
    RowMeasure m;
    if (keys <= 0) return m;
    // Plain loops in a fixed order: vectorised reductions that first peel to
    // an aligned address would sum in an order that depends on where the row
    // happens to lie in memory, and the census promises the same bits for the
    // same input in every process.
    double entropy = 0, distance = 0, max = 0;
    for (int64_t j = 0; j < keys; ++j) {
        const double w = row[j];
        if (w > 0) entropy -= w * static_cast<double>(std::log(row[j]));  // float log: the weight is a float
        distance += w * static_cast<double>(std::llabs(query - j));
        max = std::max(max, w);
    }
    m.entropy = entropy;
    m.distance = distance;
    m.max_weight = max;
    m.first_token = row[0];
    if (special) {
        double mass = 0;
        for (int64_t j = 0; j < keys; ++j) {
            if (special[j]) mass += row[j];
        }
        m.special_tokens = mass;
    }
    return m;
}

void AttentionStatistics::on_attention(const AttentionEvent& e) {
    const Tensor& p = e.probabilities;
    const int64_t batch = p.dim(0), keys = p.dim(3);
    const bool self = e.site.kind != AttentionKind::cross;
    for (size_t h = 0; h < e.heads.size(); ++h) {
        HeadStatistics& s = sums_[{static_cast<int>(e.site.stack), static_cast<int>(e.site.kind), e.site.layer, e.heads[h]}];
        s.site = e.site;
        s.head = e.heads[h];
        for (int64_t b = 0; b < batch; ++b) {
            for (size_t r = 0; r < e.query_positions.size(); ++r) {
                const int64_t i = e.query_positions[r];
                if (!e.queries.valid(b, i)) continue;
                const float* row = p.ptr({b, static_cast<int64_t>(h), static_cast<int64_t>(r), 0});
                const uint8_t* special = e.keys.special.empty() ? nullptr : &e.keys.special[static_cast<size_t>(b * e.keys.length)];
                const RowMeasure m = measure_row(row, keys, i, special);
                s.rows += 1;
                s.entropy += m.entropy;
                s.max_weight += m.max_weight;
                s.first_token += m.first_token;
                s.special_tokens += m.special_tokens;
                if (self) {
                    s.mean_distance += m.distance;
                    if (i < keys) s.diagonal += row[i];
                    if (i >= 1 && i - 1 < keys) s.previous_token += row[i - 1];
                }
            }
        }
    }
}

std::vector<HeadStatistics> AttentionStatistics::results() const {
    std::vector<HeadStatistics> out;
    for (const auto& [key, sum] : sums_) {
        HeadStatistics s = sum;
        const double n = s.rows > 0 ? static_cast<double>(s.rows) : 1.0;
        for (double* v : {&s.entropy, &s.mean_distance, &s.max_weight, &s.first_token, &s.special_tokens, &s.diagonal,
                          &s.previous_token}) {
            *v /= n;
        }
        out.push_back(s);
    }
    return out;
}

}  // namespace gaze
