// CensusObserver: every self-attention row of a pass reduced to the census's
// statistics (gaze/census.hpp) and added to exact sums.
#include <algorithm>
#include <cmath>
#include <numeric>

#include "gaze/analysis.hpp"
#include "gaze/census.hpp"
#include "gaze/error.hpp"
#include "gaze/observers/row_measure.hpp"

namespace gaze {
namespace {

enum QueryType : uint8_t { word_piece = 0, punctuation_mark = 1, special_token = 2 };

// Appends, for each query i, the positions selected by `pick(i)` (CSR layout).
template <typename Pick>
void build_lists(int64_t n, std::vector<int64_t>& start, std::vector<int64_t>& values, Pick pick) {
    start.assign(1, 0);
    values.clear();
    for (int64_t i = 0; i < n; ++i) {
        pick(i, values);
        start.push_back(static_cast<int64_t>(values.size()));
    }
}

double mass(const float* row, const int64_t* first, const int64_t* last) {
    double m = 0;
    for (const int64_t* j = first; j != last; ++j) m += row[*j];
    return m;
}

double mass(const float* row, const std::vector<int64_t>& keys) { return mass(row, keys.data(), keys.data() + keys.size()); }

// UTF-8-safe prefix of at most `bytes` bytes.
std::string cut_utf8(std::string_view text, size_t bytes, bool* cut) {
    *cut = text.size() > bytes;
    if (!*cut) return std::string(text);
    size_t n = bytes;
    while (n > 0 && (static_cast<unsigned char>(text[n]) & 0xC0) == 0x80) --n;
    return std::string(text.substr(0, n));
}

}  // namespace

CensusObserver::CensusObserver(CensusState& state, int64_t example_min_rows)
    : state_(state), example_min_rows_(std::max<int64_t>(1, example_min_rows)) {}

void CensusObserver::set_batch_texts(std::vector<int64_t> lines, std::vector<std::string_view> texts) {
    lines_ = std::move(lines);
    texts_ = std::move(texts);
}

CensusObserver::SequenceFacts CensusObserver::sequence_facts(const Tokens& tokens, int64_t b) {
    SequenceFacts f;
    const int64_t n = tokens.valid_length(b);
    f.length = n;
    f.query_type.assign(static_cast<size_t>(n), word_piece);
    bool ordinary_seen = false;
    for (int64_t j = 0; j < n; ++j) {
        if (tokens.is_special(b, j)) {
            (ordinary_seen ? f.later_special : f.leading_special).push_back(j);
            f.query_type[static_cast<size_t>(j)] = special_token;
            continue;
        }
        ordinary_seen = true;
        if (is_punctuation(tokens.str(b, j))) {
            f.punctuation.push_back(j);
            f.query_type[static_cast<size_t>(j)] = punctuation_mark;
        }
    }
    // Positions of each ordinary token id, in order, so a query finds its
    // earlier and later occurrences without an n^2 scan.
    std::vector<int64_t> order(static_cast<size_t>(n));
    std::iota(order.begin(), order.end(), 0);
    std::stable_sort(order.begin(), order.end(), [&](int64_t x, int64_t y) { return tokens.id(b, x) < tokens.id(b, y); });
    std::vector<int64_t> group_begin(static_cast<size_t>(n)), group_end(static_cast<size_t>(n));
    for (size_t g = 0; g < order.size();) {
        size_t e = g;
        while (e < order.size() && tokens.id(b, order[e]) == tokens.id(b, order[g])) ++e;
        for (size_t k = g; k < e; ++k) {
            group_begin[static_cast<size_t>(order[k])] = static_cast<int64_t>(g);
            group_end[static_cast<size_t>(order[k])] = static_cast<int64_t>(e);
        }
        g = e;
    }
    auto occurrences = [&](int64_t i, auto keep, std::vector<int64_t>& out, int64_t shift) {
        if (f.query_type[static_cast<size_t>(i)] == special_token) return;
        for (int64_t k = group_begin[static_cast<size_t>(i)]; k < group_end[static_cast<size_t>(i)]; ++k) {
            const int64_t j = order[static_cast<size_t>(k)];
            if (keep(j)) out.push_back(j + shift);
        }
    };
    build_lists(n, f.same_before_start, f.same_before,
                [&](int64_t i, std::vector<int64_t>& out) { occurrences(i, [i](int64_t j) { return j < i; }, out, 0); });
    build_lists(n, f.same_after_start, f.same_after,
                [&](int64_t i, std::vector<int64_t>& out) { occurrences(i, [i](int64_t j) { return j > i; }, out, 0); });
    // Induction (Olsson et al., 2022): the token that followed an earlier
    // occurrence of the query's token, k + 1 for k < i - 1 (k + 1 = i would be the query itself).
    build_lists(n, f.induction_start, f.induction,
                [&](int64_t i, std::vector<int64_t>& out) { occurrences(i, [i](int64_t j) { return j + 1 < i; }, out, 1); });
    return f;
}

void CensusObserver::on_forward_begin(const ForwardInfo& info) {
    facts_.clear();
    batch_ = 0;
    if (!info.input) return;
    batch_ = info.input->batch;
    facts_.reserve(static_cast<size_t>(batch_));
    for (int64_t b = 0; b < batch_; ++b) facts_.push_back(sequence_facts(*info.input, b));
    for (Slot& s : slots_) {
        s.text_sums.assign(static_cast<size_t>(batch_ * kCensusStats), 0.0);
        s.text_counts.assign(static_cast<size_t>(batch_ * kCensusStats), 0);
    }
}

CensusObserver::Slot& CensusObserver::slot(const AttentionSite& site, int head) {
    const CensusState::Key key{static_cast<int>(site.stack), static_cast<int>(site.kind), site.layer, head};
    auto it = slot_index_.find(key);
    if (it == slot_index_.end()) {
        HeadCensus& h = state_.heads[key];
        h.stack = site.stack;
        h.kind = site.kind;
        h.layer = site.layer;
        h.head = head;
        Slot s;
        s.head = &h;
        s.text_sums.assign(static_cast<size_t>(batch_ * kCensusStats), 0.0);
        s.text_counts.assign(static_cast<size_t>(batch_ * kCensusStats), 0);
        it = slot_index_.emplace(key, slots_.size()).first;
        slots_.push_back(std::move(s));
    }
    return slots_[it->second];
}

void CensusObserver::on_attention(const AttentionEvent& e) {
    if (e.site.kind == AttentionKind::cross || e.step >= 0) return;  // self-attention of full passes only
    const Tensor& p = e.probabilities;
    const int64_t heads = static_cast<int64_t>(e.heads.size());
    for (int h : e.heads) slot(e.site, h);  // register first: slots_ may grow
    std::vector<Slot*> targets;
    for (int h : e.heads) targets.push_back(&slot(e.site, h));
    const bool causal = e.site.kind == AttentionKind::causal_self;
    const int64_t batch = std::min<int64_t>(p.dim(0), static_cast<int64_t>(facts_.size()));
    std::vector<uint8_t> non_finite(static_cast<size_t>(heads), 0);  // exceptions must not leave the parallel loop
    // Each head has its own sums, so heads run in parallel without locks; the
    // sums are exact, so the result does not depend on the thread count.
#pragma omp parallel for schedule(dynamic) if (heads * batch * p.dim(2) * p.dim(3) > 32768)
    for (int64_t h = 0; h < heads; ++h) {
        Slot& slot = *targets[static_cast<size_t>(h)];
        HeadCensus& census = *slot.head;
        for (int64_t b = 0; b < batch; ++b) {
            const SequenceFacts& f = facts_[static_cast<size_t>(b)];
            double* text_sums = &slot.text_sums[static_cast<size_t>(b * kCensusStats)];
            int64_t* text_counts = &slot.text_counts[static_cast<size_t>(b * kCensusStats)];
            for (size_t r = 0; r < e.query_positions.size(); ++r) {
                const int64_t i = e.query_positions[r];
                if (i >= f.length) continue;  // padding
                const float* row = p.ptr({b, h, static_cast<int64_t>(r), 0});
                const int64_t keys = causal ? std::min(f.length, i + 1) : f.length;
                const RowMeasure m = measure_row(row, keys, i, nullptr);
                double v[kCensusStats];
                bool present[kCensusStats];
                std::fill(std::begin(present), std::end(present), true);
                v[static_cast<int>(CensusStat::entropy)] = m.entropy;
                v[static_cast<int>(CensusStat::distance)] = m.distance;
                v[static_cast<int>(CensusStat::max_weight)] = m.max_weight;
                v[static_cast<int>(CensusStat::first_token)] = m.first_token;
                v[static_cast<int>(CensusStat::leading_special)] = mass(row, f.leading_special);
                v[static_cast<int>(CensusStat::later_special)] = mass(row, f.later_special);
                v[static_cast<int>(CensusStat::punctuation)] = mass(row, f.punctuation);
                v[static_cast<int>(CensusStat::self)] = row[i];
                v[static_cast<int>(CensusStat::previous_token)] = i >= 1 ? row[i - 1] : 0.0;
                present[static_cast<int>(CensusStat::previous_token)] = i >= 1;
                const size_t si = static_cast<size_t>(i);
                const int64_t before = f.same_before_start[si + 1] - f.same_before_start[si];
                const int64_t after = causal ? 0 : f.same_after_start[si + 1] - f.same_after_start[si];
                v[static_cast<int>(CensusStat::same_token)] =
                    mass(row, f.same_before.data() + f.same_before_start[si], f.same_before.data() + f.same_before_start[si + 1]) +
                    (after > 0 ? mass(row, f.same_after.data() + f.same_after_start[si],
                                      f.same_after.data() + f.same_after_start[si + 1])
                               : 0.0);
                present[static_cast<int>(CensusStat::same_token)] = before + after > 0;
                v[static_cast<int>(CensusStat::induction)] =
                    mass(row, f.induction.data() + f.induction_start[si], f.induction.data() + f.induction_start[si + 1]);
                present[static_cast<int>(CensusStat::induction)] = f.induction_start[si + 1] > f.induction_start[si];
                if (!std::all_of(std::begin(v), std::end(v), [](double x) { return std::isfinite(x); })) {
                    non_finite[static_cast<size_t>(h)] = 1;
                    continue;
                }
                auto& by_type = census.by_query_type[f.query_type[si]];
                for (int s = 0; s < kCensusStats; ++s) {
                    if (!present[s]) continue;
                    census.all[static_cast<size_t>(s)].add(v[s]);
                    by_type[static_cast<size_t>(s)].add(v[s]);
                    text_sums[s] += v[s];
                    text_counts[s] += 1;
                }
            }
        }
    }
    for (int64_t h = 0; h < heads; ++h) {
        if (non_finite[static_cast<size_t>(h)]) {
            throw Error("census: non-finite attention weights in " + std::string(to_string(e.site.stack)) + " layer " +
                        std::to_string(e.site.layer) + " head " + std::to_string(e.heads[static_cast<size_t>(h)]));
        }
    }
}

void CensusObserver::on_forward_end() {
    for (Slot& slot : slots_) {
        for (int64_t b = 0; b < batch_ && b < static_cast<int64_t>(lines_.size()); ++b) {
            for (int s = 0; s < kCensusStats; ++s) {
                const size_t k = static_cast<size_t>(b * kCensusStats + s);
                if (slot.text_counts[k] < example_min_rows_) continue;
                CensusExample candidate;
                candidate.score = slot.text_sums[k] / static_cast<double>(slot.text_counts[k]);
                candidate.line = lines_[static_cast<size_t>(b)];
                CensusExample& best = slot.head->examples[static_cast<size_t>(s)];
                if (!candidate.better_than(best)) continue;
                candidate.text = cut_utf8(texts_[static_cast<size_t>(b)], kCensusExampleBytes, &candidate.cut);
                best = std::move(candidate);
            }
        }
    }
}

}  // namespace gaze
