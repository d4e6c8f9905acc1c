#pragma once
// TopTargets: for each query token, the k keys it attends to most, per head or
// averaged over the heads it receives (the "attends most to" listing).
#include <string>
#include <vector>

#include "gaze/observer.hpp"

namespace gaze {

struct TokenTargets {
    AttentionSite site;
    int step = -1;
    int head = -1;  // -1: mean over the received heads
    int64_t batch = 0;
    int64_t query_position = 0;
    std::string query_token;
    std::vector<int64_t> key_positions;  // best first
    std::vector<std::string> key_tokens;
    std::vector<float> weights;
};

class TopTargets : public AttentionObserver {
public:
    TopTargets(int k, AttentionRequest request = {}, bool average_heads = false)
        : k_(k), request_(std::move(request)), average_heads_(average_heads) {}
    AttentionRequest request() const override { return request_; }
    void on_attention(const AttentionEvent& event) override;
    const std::vector<TokenTargets>& results() const { return results_; }
    void clear() { results_.clear(); }

private:
    int k_;
    AttentionRequest request_;
    bool average_heads_;
    std::vector<TokenTargets> results_;

    void add_row(const AttentionEvent& e, int head, int64_t b, int64_t position, const std::vector<float>& row);
};

}  // namespace gaze
