// Generation: the sampling warpers, the KV cache, and the decoding loop
// (prompt pass, then one fed-back token per step).
#include "gaze/generation.hpp"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <limits>
#include <sstream>
#include <string>

#include "gaze/error.hpp"

namespace gaze {

// ---- choosing the next token ---------------------------------------------------

namespace {
std::string number(float v) {
    std::ostringstream s;
    s << v;
    return s.str();
}
}  // namespace

void SamplingOptions::validate() const {
    if (greedy) return;
    if (!(temperature > 0.0f) || !std::isfinite(temperature)) {
        throw Error("temperature must be a positive number, got " + number(temperature));
    }
    if (top_k < 0) throw Error("top-k must be 0 (off) or positive, got " + std::to_string(top_k));
    if (!(top_p > 0.0f && top_p <= 1.0f)) throw Error("top-p must be in (0, 1], got " + number(top_p));
}

namespace {

int32_t argmax(std::span<const float> logits) {
    size_t best = 0;
    for (size_t i = 1; i < logits.size(); ++i) {
        if (logits[i] > logits[best] || std::isnan(logits[best])) best = i;
    }
    return static_cast<int32_t>(best);
}

struct Candidate {
    double score;  // logit / temperature, then probability
    int32_t id;
};
bool more_likely(const Candidate& a, const Candidate& b) { return a.score > b.score || (a.score == b.score && a.id < b.id); }

// Top-k as HF's TopKLogitsWarper: keeps every token scoring at least the k-th
// score (ties at the boundary survive). Leaves the kept ones first.
size_t keep_top_k(std::vector<Candidate>& c, int64_t k) {
    if (k <= 0 || k >= static_cast<int64_t>(c.size())) return c.size();
    std::nth_element(c.begin(), c.begin() + (k - 1), c.end(), more_likely);
    const double kth = c[static_cast<size_t>(k - 1)].score;
    return static_cast<size_t>(std::partition(c.begin(), c.end(), [&](const Candidate& x) { return x.score >= kth; }) -
                               c.begin());
}

// Scores -> probabilities over the first n candidates (in place).
void softmax(std::vector<Candidate>& c, size_t n) {
    double max = -std::numeric_limits<double>::infinity();
    for (size_t i = 0; i < n; ++i) max = std::max(max, c[i].score);
    double sum = 0;
    for (size_t i = 0; i < n; ++i) sum += (c[i].score = std::exp(c[i].score - max));
    for (size_t i = 0; i < n; ++i) c[i].score /= sum;
}

// Top-p as HF's TopPLogitsWarper: sorted by probability, drop the least likely
// tokens while their cumulated mass stays <= 1 - p; at least one is kept.
size_t keep_top_p(std::vector<Candidate>& c, size_t n, double p) {
    if (p >= 1.0) return n;
    std::sort(c.begin(), c.begin() + static_cast<std::ptrdiff_t>(n), more_likely);
    size_t keep = n;
    double tail = 0;
    for (size_t j = n; j-- > 1;) {
        tail += c[j].score;
        if (tail > 1.0 - p) break;
        keep = j;
    }
    return keep;
}

}  // namespace

int32_t choose_next_token(std::span<const float> logits, const SamplingOptions& o, std::mt19937_64& rng) {
    if (logits.empty()) throw Error("choose_next_token: empty logits");
    if (o.greedy) return argmax(logits);
    o.validate();
    thread_local std::vector<Candidate> c;
    c.resize(logits.size());
    for (size_t i = 0; i < logits.size(); ++i) c[i] = {static_cast<double>(logits[i]) / o.temperature, static_cast<int32_t>(i)};
    size_t n = keep_top_k(c, o.top_k);
    softmax(c, n);
    n = keep_top_p(c, n, o.top_p);
    double mass = 0;
    for (size_t i = 0; i < n; ++i) mass += c[i].score;
    double u = std::uniform_real_distribution<double>(0.0, mass)(rng);
    for (size_t i = 0; i < n; ++i) {
        if ((u -= c[i].score) < 0) return c[i].id;
    }
    return c[n - 1].id;  // rounding left u a hair above zero
}

TokenSampler::TokenSampler(SamplingOptions options) : options_(options), rng_(options.seed) { options_.validate(); }

// ---- the KV cache --------------------------------------------------------------

void KVCache::reserve(int64_t layers, int64_t batch, int64_t capacity, int64_t width) {
    keys.resize(static_cast<size_t>(layers));
    values.resize(static_cast<size_t>(layers));
    for (size_t l = 0; l < keys.size(); ++l) {
        keys[l].resize({batch, capacity, width});
        values[l].resize({batch, capacity, width});
    }
    length = 0;
}

CausalLM& as_causal_lm(Model& model) {
    auto* lm = dynamic_cast<CausalLM*>(&model);
    if (!lm) throw Error("model family '" + model.info().family + "' cannot generate text (it has no causal LM head)");
    return *lm;
}

// ---- generate ------------------------------------------------------------------

std::vector<int32_t> GenerationResult::sequence(int64_t b) const {
    std::vector<int32_t> out;
    for (int64_t i = 0; i < steps; ++i) out.push_back(ids[static_cast<size_t>(b * steps + i)]);
    if (stopped[static_cast<size_t>(b)]) {
        // Cut after the first stop token: the rest repeats it as padding.
        const int32_t stop = out.back();
        out.erase(std::find(out.begin(), out.end(), stop) + 1, out.end());
    }
    return out;
}

namespace {

// The prompt with each row's padding moved in front of its tokens, so every
// sequence's newest token is in the last column.
Tokens left_aligned(const Tokens& prompt) {
    if (prompt.mask.empty()) return prompt;
    Tokens t = prompt;
    const auto n = static_cast<size_t>(prompt.length);
    for (int64_t b = 0; b < prompt.batch; ++b) {
        std::vector<size_t> order;  // source columns: padding first, then tokens, each in order
        for (size_t pass = 0; pass < 2; ++pass)
            for (size_t i = 0; i < n; ++i)
                if ((prompt.mask[b * n + i] != 0) == (pass == 1)) order.push_back(i);
        auto permute = [&](auto& dst, const auto& src) {
            if (src.empty()) return;
            for (size_t i = 0; i < n; ++i) dst[b * n + i] = src[b * n + order[i]];
        };
        permute(t.ids, prompt.ids);
        permute(t.mask, prompt.mask);
        permute(t.type_ids, prompt.type_ids);
        permute(t.text, prompt.text);
        permute(t.special, prompt.special);
    }
    return t;
}

void check_generation(const CausalLM& model, const Tokens& prompt, const GenerationOptions& o) {
    const ModelInfo& info = model.info();
    if (o.max_new_tokens < 0) throw Error("max new tokens must be >= 0, got " + std::to_string(o.max_new_tokens));
    o.sampling.validate();
    if (info.max_positions > 0 && prompt.length > info.max_positions) {
        throw Error("prompt of " + std::to_string(prompt.length) + " tokens is longer than the model's context of " +
                    std::to_string(info.max_positions) + " positions");
    }
    // The last new token is never fed back, so the context holds S + N - 1 positions.
    if (info.max_positions > 0 && prompt.length + o.max_new_tokens - 1 > info.max_positions) {
        throw Error("prompt of " + std::to_string(prompt.length) + " tokens plus " + std::to_string(o.max_new_tokens) +
                    " new tokens does not fit the model's context of " + std::to_string(info.max_positions) +
                    " positions (at most " + std::to_string(info.max_positions - prompt.length + 1) + " new tokens)");
    }
    for (int32_t s : o.stop_tokens) {
        if (s < 0 || s >= info.vocab) {
            throw Error("stop token id " + std::to_string(s) + " is outside the vocabulary of " + std::to_string(info.vocab));
        }
    }
    for (int64_t b = 0; b < prompt.batch; ++b) {
        if (prompt.valid_length(b) == 0) throw Error("prompt " + std::to_string(b) + " is empty: nothing to continue");
    }
    check_input(info, prompt);
}

double ms_since(std::chrono::steady_clock::time_point t) {
    return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t).count();
}

}  // namespace

GenerationResult generate(CausalLM& model, const Tokens& prompt, const GenerationOptions& o) {
    check_generation(model, prompt, o);
    GenerationResult r;
    r.batch = prompt.batch;
    r.context = left_aligned(prompt);
    r.stopped.assign(static_cast<size_t>(r.batch), 0);
    if (o.max_new_tokens == 0) return r;

    KVCache cache = model.make_cache(r.batch, prompt.length + o.max_new_tokens - 1);
    TokenSampler sampler(o.sampling);
    Tensor logits;
    std::vector<std::vector<int32_t>> rows(static_cast<size_t>(r.batch));
    for (auto& row : rows) row.reserve(static_cast<size_t>(o.max_new_tokens));
    std::vector<int32_t> next(static_cast<size_t>(r.batch));
    std::vector<std::string> names;
    for (int64_t step = 0; step < o.max_new_tokens; ++step) {
        if (step > 0) {  // feed back the previous token
            names.clear();
            for (int32_t id : next) names.push_back(o.tokenizer ? o.tokenizer->id_to_token(id) : std::to_string(id));
            r.context.append(next, names);
        }
        const auto start = std::chrono::steady_clock::now();
        model.extend(r.context, cache, {o.observers, static_cast<int>(step)}, logits);
        const int64_t vocab = logits.dim(1);
        for (int64_t b = 0; b < r.batch; ++b) {
            const auto i = static_cast<size_t>(b);
            if (r.stopped[i]) continue;  // a finished sequence repeats its stop token
            next[i] = sampler.next({logits.data() + b * vocab, static_cast<size_t>(vocab)});
            r.stopped[i] = std::find(o.stop_tokens.begin(), o.stop_tokens.end(), next[i]) != o.stop_tokens.end();
        }
        (step == 0 ? r.prefill_ms : r.decode_ms) += ms_since(start);
        for (size_t b = 0; b < rows.size(); ++b) rows[b].push_back(next[b]);
        ++r.steps;
        const bool keep_going = !o.on_token || o.on_token(step, next);
        if (!keep_going || std::all_of(r.stopped.begin(), r.stopped.end(), [](uint8_t s) { return s != 0; })) break;
    }
    for (const auto& row : rows) r.ids.insert(r.ids.end(), row.begin(), row.end());
    return r;
}

}  // namespace gaze
