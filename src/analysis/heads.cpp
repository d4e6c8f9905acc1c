// Head finding, head roles, layer summaries and top targets.
#include <algorithm>
#include <cmath>
#include <numeric>
#include <random>

#include "gaze/analysis.hpp"
#include "gaze/error.hpp"

namespace gaze {
namespace {

std::vector<int64_t> matching_words(const std::vector<WordSpan>& words, const std::string& wanted) {
    std::vector<int64_t> out;
    for (size_t i = 0; i < words.size(); ++i) {
        if (!words[i].special && normalize_word(words[i].text) == wanted) out.push_back(static_cast<int64_t>(i));
    }
    return out;
}

std::string word_list(const std::vector<WordSpan>& words) {
    std::string s;
    for (const auto& w : words) {
        if (w.special) continue;
        s += (s.empty() ? "" : ", ") + normalize_word(w.text);
    }
    return s;
}

// Best weight of any query word in `qs` on any key word in `ks` (not itself in self-attention).
double best_pair(const Tensor& w, const std::vector<int64_t>& qs, const std::vector<int64_t>& ks, bool self,
                 int64_t* best_q, int64_t* best_k) {
    double best = 0;
    for (int64_t a : qs) {
        for (int64_t b : ks) {
            if (self && a == b) continue;
            const double v = w.at({a, b});
            if (v > best || *best_q < 0) {
                best = std::max(best, v);
                *best_q = a;
                *best_k = b;
            }
        }
    }
    return best;
}

// Role scores of one head [queries, keys] of a self-attention block.
HeadProfile profile_head(const AttentionBlock& block, const Tensor& p) {
    HeadProfileSums sums(block);
    for (int64_t i = 0; i < p.dim(0); ++i) sums.add_row(i, p.ptr({i, 0}));
    return sums.profile();
}

}  // namespace

void rank_heads(std::vector<HeadProfile>& heads) {
    std::stable_sort(heads.begin(), heads.end(), [](const HeadProfile& a, const HeadProfile& b) {
        const bool sa = a.role != HeadRole::broad, sb = b.role != HeadRole::broad;
        if (sa != sb) return sa;
        return a.score > b.score;
    });
}

HeadProfileSums::HeadProfileSums(const AttentionBlock& block) : block_(block) {
    // Which keys count as separators, once (not per row).
    for (int64_t j = 0; j < block.keys.size(); ++j) {
        separator_.push_back(block.keys.special[static_cast<size_t>(j)] || is_punctuation(block.keys.text[static_cast<size_t>(j)]) ? 1 : 0);
    }
}

void HeadProfileSums::add_row(int64_t i, const float* row) {
    const int64_t nk = block_.keys.size();
    // Row 0 has no previous token (and only itself when causal); padding rows say nothing.
    if (i < 1 || !block_.queries.valid[static_cast<size_t>(i)]) return;
    ++rows_;
    if (i < nk) sums_.self += row[i];
    if (i - 1 < nk) sums_.previous += row[i - 1];
    sums_.first += row[0];
    if (i + 1 < nk && !block_.masked(i, i + 1)) {
        sums_.next += row[i + 1];
        ++rows_next_;
    }
    // Keys at or past `limit` are causally masked; padding keys are masked anywhere.
    const int64_t limit = block_.kind == AttentionKind::causal_self ? std::clamp<int64_t>(i + nk - block_.queries.size() + 1, 0, nk) : nk;
    double entropy = 0, separator = 0;
    int64_t visible = 0;
    for (int64_t j = 0; j < limit; ++j) {
        if (!block_.keys.valid[static_cast<size_t>(j)]) continue;
        ++visible;
        const double w = row[j];
        if (w > 0) entropy -= w * std::log(w);
        if (separator_[static_cast<size_t>(j)] && j != 0 && j != i) separator += w;
    }
    sums_.separator += separator;
    if (visible > 1) {
        sums_.broad += entropy / std::log(static_cast<double>(visible));
        ++rows_broad_;
    }
}

HeadProfile HeadProfileSums::profile() const {
    HeadProfile s = sums_;
    const double n = rows_ > 0 ? static_cast<double>(rows_) : 1.0;
    s.self /= n;
    s.previous /= n;
    s.first /= n;
    s.separator /= n;
    s.next = rows_next_ > 0 ? s.next / static_cast<double>(rows_next_) : 0.0;
    s.broad = rows_broad_ > 0 ? s.broad / static_cast<double>(rows_broad_) : 0.0;
    const std::pair<HeadRole, double> specific[] = {{HeadRole::self, s.self},
                                                    {HeadRole::previous, s.previous},
                                                    {HeadRole::next, s.next},
                                                    {HeadRole::first, s.first},
                                                    {HeadRole::separator, s.separator}};
    const auto best = std::max_element(std::begin(specific), std::end(specific),
                                       [](const auto& a, const auto& b) { return a.second < b.second; });
    if (best->second >= kHeadRoleThreshold) {
        s.role = best->first;
        s.score = best->second;
    } else {
        s.role = HeadRole::broad;
        s.score = s.broad;
    }
    s.stack = block_.stack;
    s.kind = block_.kind;
    return s;
}

const char* to_string(HeadRole role) {
    switch (role) {
        case HeadRole::self: return "self";
        case HeadRole::previous: return "previous";
        case HeadRole::next: return "next";
        case HeadRole::first: return "first";
        case HeadRole::separator: return "separator";
        case HeadRole::broad: return "broad";
    }
    return "?";
}

std::vector<HeadLink> find_linking_heads(const SequenceAttention& attention, std::string_view from, std::string_view to) {
    const std::string f = normalize_word(from), t = normalize_word(to);
    if (f.empty() || t.empty()) throw Error("find-head: both words must be non-empty");
    std::vector<HeadLink> links;
    bool found_from = false, found_to = false;
    std::string words;
    for (const auto& block : attention.blocks) {
        const auto qw = group_words(block.queries.text, block.queries.special);
        const auto kw = group_words(block.keys.text, block.keys.special);
        if (words.empty()) words = word_list(qw);
        const auto from_q = matching_words(qw, f), to_q = matching_words(qw, t);
        const auto from_k = matching_words(kw, f), to_k = matching_words(kw, t);
        found_from = found_from || !from_q.empty() || !from_k.empty();
        found_to = found_to || !to_q.empty() || !to_k.empty();
        const bool forward = !from_q.empty() && !to_k.empty(), backward = !to_q.empty() && !from_k.empty();
        if (!forward && !backward) continue;
        for (int layer = 0; layer < block.num_layers(); ++layer) {
            for (int head = 0; head < block.heads(); ++head) {
                const Tensor w = merge_word_attention(block.layers[static_cast<size_t>(layer)].select(0, head), qw, kw);
                HeadLink link;
                link.stack = block.stack;
                link.kind = block.kind;
                link.layer = layer;
                link.head = head;
                int64_t fq = -1, tk = -1, tq = -1, fk = -1;
                link.from_to = forward ? best_pair(w, from_q, to_k, block.is_self(), &fq, &tk) : 0.0;
                link.to_from = backward ? best_pair(w, to_q, from_k, block.is_self(), &tq, &fk) : 0.0;
                link.score = std::max(link.from_to, link.to_from);
                if (link.from_to >= link.to_from && fq >= 0) {
                    link.from_word = fq;
                    link.to_word = tk;
                } else {
                    link.from_word = fk;
                    link.to_word = tq;
                }
                links.push_back(link);
            }
        }
    }
    if (!found_from || !found_to) {
        const std::string missing = !found_from ? std::string(from) : std::string(to);
        throw Error("'" + missing + "' is not a word of the text (its words: " + words + ")");
    }
    if (links.empty()) throw Error("'" + f + "' and '" + t + "' never meet as query and key");
    std::stable_sort(links.begin(), links.end(), [](const HeadLink& a, const HeadLink& b) { return a.score > b.score; });
    return links;
}

std::vector<TokenTargets> top_targets(const AttentionBlock& block, int layer, int head, int k) {
    if (layer < 0 || layer >= block.num_layers()) {
        throw Error("layer " + std::to_string(layer) + " is outside 0-" + std::to_string(block.num_layers() - 1));
    }
    if (head >= block.heads()) {
        throw Error("head " + std::to_string(head) + " is outside 0-" + std::to_string(block.heads() - 1));
    }
    auto side_tokens = [](const TokenSide& s) {
        Tokens t;
        t.batch = 1;
        t.length = s.size();
        t.ids.assign(s.text.size(), 0);
        t.text = s.text;
        t.special = s.special;
        t.mask = s.valid;
        return t;
    };
    const Tokens queries = side_tokens(block.queries), keys = side_tokens(block.keys);
    const Tensor& all = block.layers[static_cast<size_t>(layer)];
    std::vector<int> heads;
    Tensor probs;
    if (head < 0) {
        heads.resize(static_cast<size_t>(block.heads()));
        std::iota(heads.begin(), heads.end(), 0);
        probs = all.clone().reshape({1, all.dim(0), all.dim(1), all.dim(2)});
    } else {
        heads = {head};
        probs = all.select(0, head).clone().reshape({1, 1, all.dim(1), all.dim(2)});
    }
    std::vector<int64_t> rows(static_cast<size_t>(queries.length));
    std::iota(rows.begin(), rows.end(), 0);
    const AttentionSite site{block.stack, block.kind, layer, static_cast<int>(block.heads())};
    TopTargets top(k, {}, head < 0);
    top.on_attention(AttentionEvent{site, -1, probs, heads, rows, queries, keys});
    return top.results();
}

std::vector<HeadProfile> profile_heads(const AttentionBlock& block) {
    std::vector<HeadProfile> out;
    if (!block.is_self()) return out;
    for (int layer = 0; layer < block.num_layers(); ++layer) {
        for (int head = 0; head < block.heads(); ++head) {
            HeadProfile p = profile_head(block, block.layers[static_cast<size_t>(layer)].select(0, head));
            p.layer = layer;
            p.head = head;
            out.push_back(p);
        }
    }
    return out;
}

std::vector<HeadProfile> classify_heads(const AttentionBlock& block) {
    std::vector<HeadProfile> out = profile_heads(block);
    rank_heads(out);
    return out;
}

std::vector<HeadProfile> classify_heads(const SequenceAttention& attention) {
    std::vector<HeadProfile> out;
    for (const auto& block : attention.blocks) {
        auto heads = classify_heads(block);
        out.insert(out.end(), heads.begin(), heads.end());
    }
    rank_heads(out);
    return out;
}

std::vector<LayerSummary> summarize_layers(const std::vector<HeadProfile>& profiles) {
    std::vector<LayerSummary> out;
    std::vector<int> heads;  // heads summed into each summary
    for (const HeadProfile& p : profiles) {
        auto it = std::find_if(out.begin(), out.end(), [&](const LayerSummary& s) {
            return s.stack == p.stack && s.kind == p.kind && s.layer == p.layer;
        });
        if (it == out.end()) {
            LayerSummary s;
            s.stack = p.stack;
            s.kind = p.kind;
            s.layer = p.layer;
            out.push_back(s);
            heads.push_back(0);
            it = out.end() - 1;
        }
        it->self += p.self;
        it->previous += p.previous;
        it->next += p.next;
        it->first += p.first;
        it->separator += p.separator;
        it->broad += p.broad;
        ++heads[static_cast<size_t>(it - out.begin())];
    }
    for (size_t i = 0; i < out.size(); ++i) {
        const double n = heads[i];
        for (double* v : {&out[i].self, &out[i].previous, &out[i].next, &out[i].first, &out[i].separator, &out[i].broad}) *v /= n;
    }
    return out;
}

std::vector<LayerSummary> summarize_layers(const SequenceAttention& attention) {
    std::vector<HeadProfile> profiles;
    for (const auto& block : attention.blocks) {
        const auto heads = profile_heads(block);
        profiles.insert(profiles.end(), heads.begin(), heads.end());
    }
    return summarize_layers(profiles);
}

std::vector<int32_t> repeated_random_ids(int64_t length, int32_t lo, int32_t hi, uint32_t seed,
                                         const std::vector<int32_t>& prefix, const std::vector<int32_t>& excluded) {
    if (length < 2) throw Error("induction: the repeated sequence needs at least 2 tokens, got " + std::to_string(length));
    if (hi - lo <= static_cast<int64_t>(excluded.size()) + 1) {
        throw Error("induction: no ids to draw from in [" + std::to_string(lo) + ", " + std::to_string(hi) + ")");
    }
    std::mt19937 rng(seed);
    std::uniform_int_distribution<int32_t> draw(lo, hi - 1);
    std::vector<int32_t> half;
    while (static_cast<int64_t>(half.size()) < length) {
        const int32_t id = draw(rng);
        if (std::find(excluded.begin(), excluded.end(), id) == excluded.end()) half.push_back(id);
    }
    std::vector<int32_t> ids = prefix;
    ids.insert(ids.end(), half.begin(), half.end());
    ids.insert(ids.end(), half.begin(), half.end());
    return ids;
}

double induction_score(const Tensor& p, int64_t prefix, int64_t length) {
    if (p.rank() != 2 || p.dim(0) < prefix + 2 * length || p.dim(1) < prefix + 2 * length || length < 2 || prefix < 0) {
        throw Error("induction_score: a [S, S] head with S >= prefix + 2 * length is needed, got " + p.shape().str() +
                    " for prefix " + std::to_string(prefix) + ", length " + std::to_string(length));
    }
    double sum = 0;
    for (int64_t i = prefix + length; i < prefix + 2 * length; ++i) sum += p.at({i, i - length + 1});
    return sum / static_cast<double>(length);
}

std::vector<InductionScore> induction_scores(const AttentionBlock& block, int64_t prefix, int64_t length) {
    std::vector<InductionScore> out;
    if (!block.is_self()) return out;
    for (int layer = 0; layer < block.num_layers(); ++layer) {
        for (int head = 0; head < block.heads(); ++head) {
            const Tensor p = block.layers[static_cast<size_t>(layer)].select(0, head);
            InductionScore s;
            s.stack = block.stack;
            s.kind = block.kind;
            s.layer = layer;
            s.head = head;
            s.score = induction_score(p, prefix, length);
            for (int64_t i = prefix + length; i < prefix + 2 * length; ++i) {
                s.previous += p.at({i, i - 1});
                s.first += p.at({i, 0});
            }
            s.previous /= static_cast<double>(length);
            s.first /= static_cast<double>(length);
            s.induction = s.score >= kInductionThreshold;
            out.push_back(s);
        }
    }
    std::stable_sort(out.begin(), out.end(), [](const InductionScore& a, const InductionScore& b) { return a.score > b.score; });
    return out;
}

}  // namespace gaze
