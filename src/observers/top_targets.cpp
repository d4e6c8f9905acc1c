#include "gaze/observers/top_targets.hpp"

#include <algorithm>
#include <numeric>

namespace gaze {

void TopTargets::add_row(const AttentionEvent& e, int head, int64_t b, int64_t position, const std::vector<float>& row) {
    std::vector<int64_t> order;
    for (int64_t j = 0; j < static_cast<int64_t>(row.size()); ++j) {
        if (e.keys.valid(b, j)) order.push_back(j);
    }
    const size_t k = std::min<size_t>(static_cast<size_t>(std::max(k_, 0)), order.size());
    std::partial_sort(order.begin(), order.begin() + static_cast<std::ptrdiff_t>(k), order.end(),
                      [&](int64_t a, int64_t c) { return row[static_cast<size_t>(a)] > row[static_cast<size_t>(c)]; });
    TokenTargets t;
    t.site = e.site;
    t.step = e.step;
    t.head = head;
    t.batch = b;
    t.query_position = position;
    t.query_token = std::string(e.queries.str(b, position));
    for (size_t i = 0; i < k; ++i) {
        t.key_positions.push_back(order[i]);
        t.key_tokens.emplace_back(e.keys.str(b, order[i]));
        t.weights.push_back(row[static_cast<size_t>(order[i])]);
    }
    results_.push_back(std::move(t));
}

void TopTargets::on_attention(const AttentionEvent& e) {
    const Tensor& p = e.probabilities;
    const int64_t batch = p.dim(0), heads = p.dim(1), keys = p.dim(3);
    std::vector<float> row(static_cast<size_t>(keys));
    for (int64_t b = 0; b < batch; ++b) {
        for (size_t r = 0; r < e.query_positions.size(); ++r) {
            const int64_t position = e.query_positions[r];
            if (!e.queries.valid(b, position)) continue;
            if (average_heads_) {
                std::fill(row.begin(), row.end(), 0.0f);
                for (int64_t h = 0; h < heads; ++h) {
                    const float* src = p.ptr({b, h, static_cast<int64_t>(r), 0});
                    for (int64_t j = 0; j < keys; ++j) row[static_cast<size_t>(j)] += src[j] / static_cast<float>(heads);
                }
                add_row(e, -1, b, position, row);
            } else {
                for (int64_t h = 0; h < heads; ++h) {
                    const float* src = p.ptr({b, h, static_cast<int64_t>(r), 0});
                    std::copy_n(src, keys, row.begin());
                    add_row(e, e.heads[static_cast<size_t>(h)], b, position, row);
                }
            }
        }
    }
}

}  // namespace gaze
