#include "gaze/observer.hpp"

#include <algorithm>
#include <set>

namespace gaze {

const char* to_string(Stack stack) { return stack == Stack::encoder ? "encoder" : "decoder"; }

const char* to_string(AttentionKind kind) {
    switch (kind) {
        case AttentionKind::self: return "self";
        case AttentionKind::causal_self: return "causal_self";
        case AttentionKind::cross: return "cross";
    }
    return "?";
}

AttentionRequest AttentionRequest::none() {
    AttentionRequest r;
    r.disabled = true;
    return r;
}

namespace {

template <typename T>
bool selected(const std::vector<T>& list, T value) {
    return list.empty() || std::find(list.begin(), list.end(), value) != list.end();
}

}  // namespace

int kv_head_of(const AttentionSite& site, int head) {
    if (site.kv_heads <= 0 || site.kv_heads >= site.heads) return head;
    return head / (site.heads / site.kv_heads);
}

bool AttentionRequest::wants(const AttentionSite& site) const {
    return !disabled && selected(kinds, site.kind) && selected(stacks, site.stack) && selected(layers, site.layer);
}

ObserverHub::ObserverHub(std::span<AttentionObserver* const> observers) {
    for (AttentionObserver* o : observers) {
        if (o) entries_.push_back({o, {}});
    }
}

void ObserverHub::begin(const ForwardInfo& info) {
    for (auto& e : entries_) {
        e.request = e.observer->request();
        e.observer->on_forward_begin(info);
    }
}

void ObserverHub::end() {
    for (auto& e : entries_) e.observer->on_forward_end();
}

void ObserverHub::attention(const AttentionSite& site, const Tensor& q, const Tensor& k, const Tensor& v,
                            const ops::AttentionOptions& options, Tensor& out, const Tokens& queries,
                            const Tokens& keys, int64_t query_offset, int step) {
    // Union of what the observers interested in this site want.
    std::set<int> heads;
    std::set<int64_t> positions;
    bool all_rows = false;
    std::vector<const Entry*> interested;
    const int64_t sq = q.dim(1);
    for (const auto& e : entries_) {
        if (!e.request.wants(site)) continue;
        interested.push_back(&e);
        if (e.request.heads.empty()) {
            for (int h = 0; h < site.heads; ++h) heads.insert(h);
        } else {
            for (int h : e.request.heads) {
                if (h >= 0 && h < site.heads) heads.insert(h);
            }
        }
        if (e.request.query_positions.empty()) all_rows = true;
        for (int64_t p : e.request.query_positions) {
            if (p >= query_offset && p < query_offset + sq) positions.insert(p);
        }
    }
    if (interested.empty() || heads.empty() || (!all_rows && positions.empty())) {
        ops::attention(q, k, v, options, out);
        return;
    }
    const std::vector<int> head_list(heads.begin(), heads.end());
    std::vector<int64_t> row_list;  // rows of this call (local), and their absolute positions
    std::vector<int64_t> position_list;
    for (int64_t r = 0; r < sq; ++r) {
        if (all_rows || positions.count(query_offset + r)) {
            row_list.push_back(r);
            position_list.push_back(query_offset + r);
        }
    }
    // Each observer receives its own selection of the captured rows
    // [first, first + count) of row_list; most ask for everything and get the
    // captured tensor itself.
    const bool streaming = std::all_of(interested.begin(), interested.end(), [](const Entry* e) { return e->request.row_blocks; });
    auto deliver = [&](size_t first, size_t count) {
        for (const Entry* e : interested) {
            std::vector<int> my_heads, my_kv_heads;
            std::vector<size_t> head_slots;
            for (size_t i = 0; i < head_list.size(); ++i) {
                if (selected(e->request.heads, head_list[i])) {
                    my_heads.push_back(head_list[i]);
                    my_kv_heads.push_back(kv_head_of(site, head_list[i]));
                    head_slots.push_back(i);
                }
            }
            std::vector<int64_t> my_positions;
            std::vector<size_t> row_slots;  // rows of captured_
            for (size_t i = first; i < first + count; ++i) {
                if (selected(e->request.query_positions, position_list[i])) {
                    my_positions.push_back(position_list[i]);
                    row_slots.push_back(i - first);
                }
            }
            if (my_heads.empty() || my_positions.empty()) continue;
            const Tensor* probs = &captured_;
            if (my_heads.size() != head_list.size() || my_positions.size() != count) {
                const int64_t batch = captured_.dim(0), sk = captured_.dim(3);
                slice_.resize({batch, static_cast<int64_t>(my_heads.size()), static_cast<int64_t>(my_positions.size()), sk});
                for (int64_t b = 0; b < batch; ++b)
                    for (size_t h = 0; h < head_slots.size(); ++h)
                        for (size_t r = 0; r < row_slots.size(); ++r)
                            std::copy_n(captured_.ptr({b, static_cast<int64_t>(head_slots[h]), static_cast<int64_t>(row_slots[r]), 0}),
                                        sk, slice_.ptr({b, static_cast<int64_t>(h), static_cast<int64_t>(r), 0}));
                probs = &slice_;
            }
            // A streamed buffer is refilled by the next block: nobody may keep it.
            Tensor* keep = !streaming && probs == &captured_ && e == interested.back() ? &captured_ : nullptr;
            const AttentionEvent event{site, step, *probs, my_heads, my_positions, queries, keys, keep, my_kv_heads};
            e->observer->on_attention(event);
        }
    };
    ops::ProbabilityCapture capture{head_list, row_list, &captured_};
    if (streaming) capture.on_block = deliver;
    ops::attention(q, k, v, options, out, &capture);
    if (!streaming) deliver(0, row_list.size());
}

}  // namespace gaze
