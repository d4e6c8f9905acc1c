// Decoding with encoder-decoder models: one hypothesis per input (greedy or
// sampled, through the shared choose_next_token) or beam search.
#include "gaze/seq2seq.hpp"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <limits>
#include <numeric>

#include "gaze/tokenizers/vocabulary.hpp"

namespace gaze {
namespace {

constexpr double kNegInf = -std::numeric_limits<double>::infinity();

// t [B, ...] (contiguous) -> [rows.size(), ...] with row i = t[rows[i]].
Tensor gather_rows(const Tensor& t, std::span<const int64_t> rows) {
    if (t.rank() == 0) return t;
    const Tensor src = t.is_contiguous() ? t : t.clone();
    Shape shape = src.shape();
    shape[0] = static_cast<int64_t>(rows.size());
    Tensor out(shape);
    const int64_t block = src.dim(0) == 0 ? 0 : src.numel() / src.dim(0);
    for (size_t i = 0; i < rows.size(); ++i) {
        std::memcpy(out.data() + static_cast<int64_t>(i) * block, src.data() + rows[i] * block,
                    sizeof(float) * static_cast<size_t>(block));
    }
    return out;
}

template <typename T>
std::vector<T> gather_rows(const std::vector<T>& v, int64_t length, std::span<const int64_t> rows) {
    if (v.empty()) return v;
    std::vector<T> out;
    out.reserve(rows.size() * static_cast<size_t>(length));
    for (int64_t r : rows) out.insert(out.end(), v.begin() + r * length, v.begin() + (r + 1) * length);
    return out;
}

Tokens gather_rows(const Tokens& t, std::span<const int64_t> rows) {
    Tokens out;
    out.batch = static_cast<int64_t>(rows.size());
    out.length = t.length;
    out.ids = gather_rows(t.ids, t.length, rows);
    out.type_ids = gather_rows(t.type_ids, t.length, rows);
    out.mask = gather_rows(t.mask, t.length, rows);
    out.text = gather_rows(t.text, t.length, rows);
    out.special = gather_rows(t.special, t.length, rows);
    return out;
}

// log softmax(logits)[id] for every id: logits - log sum exp(logits).
void log_softmax(std::span<const float> logits, std::vector<double>& out) {
    const float max = *std::max_element(logits.begin(), logits.end());
    double sum = 0;
    for (float x : logits) sum += std::exp(static_cast<double>(x) - max);
    const double log_sum = max + std::log(sum);
    out.resize(logits.size());
    for (size_t i = 0; i < logits.size(); ++i) out[i] = logits[i] - log_sum;
}

std::span<const float> logits_row(const Tensor& logits, int64_t row) {
    return {logits.data() + row * logits.dim(1), static_cast<size_t>(logits.dim(1))};
}

// Token strings of the new ids for observers (ids the tokenizer does not
// cover, such as T5's padding rows of the embedding table, as numbers).
std::vector<std::string> labels(const Tokenizer* tokenizer, std::span<const int32_t> ids) {
    if (!tokenizer) return {};
    std::vector<std::string> out;
    for (int32_t id : ids) out.push_back(id < tokenizer->vocab_size() ? tokenizer->id_to_token(id) : std::to_string(id));
    return out;
}

void validate(const DecodeOptions& o) {
    if (o.beam_size < 1) throw Error("beam size must be at least 1, got " + std::to_string(o.beam_size));
    if (o.max_length < 0) throw Error("max_length must not be negative, got " + std::to_string(o.max_length));
    if (!std::isfinite(o.length_penalty)) throw Error("length_penalty must be finite");
    if (o.beam_size > 1 && !o.sampling.greedy) throw Error("sampling needs beam size 1 (beam search is deterministic)");
}

double normalized(double log_probability, size_t length, float penalty) {
    return log_probability / std::pow(static_cast<double>(std::max<size_t>(length, 1)), penalty);
}

}  // namespace

void DecoderState::select_rows(std::span<const int64_t> rows) {
    for (int64_t r : rows) {
        if (r < 0 || r >= batch()) throw Error("select_rows: row " + std::to_string(r) + " outside the batch");
    }
    const int64_t target_batch = target.length == 0 ? 0 : target.batch;
    source = gather_rows(source, rows);
    target = gather_rows(target, rows);
    if (target_batch == 0) target.batch = source.batch;
    encoder_output = gather_rows(encoder_output, rows);
    source_key_mask = gather_rows(source_key_mask, rows);
    for (size_t l = 0; l < self_attention.keys.size(); ++l) {
        self_attention.keys[l] = gather_rows(self_attention.keys[l], rows);
        self_attention.values[l] = gather_rows(self_attention.values[l], rows);
    }
    for (size_t l = 0; l < cross_keys.size(); ++l) {
        cross_keys[l] = gather_rows(cross_keys[l], rows);
        cross_values[l] = gather_rows(cross_values[l], rows);
    }
}

Seq2SeqModel& as_seq2seq(Model& model) {
    auto* s2s = dynamic_cast<Seq2SeqModel*>(&model);
    if (!s2s) throw Error("model family '" + model.info().family + "' is not an encoder-decoder (it cannot translate)");
    return *s2s;
}

DecodeResult decode(Seq2SeqModel& model, const Tokens& source, const DecodeOptions& options) {
    return options.beam_size > 1 ? beam_search(model, source, options) : sample_decode(model, source, options);
}

DecodeResult sample_decode(Seq2SeqModel& model, const Tokens& source, const DecodeOptions& o) {
    validate(o);
    TokenSampler sampler(o.sampling);
    DecoderState state = model.encode(source, o.observers, o.max_length + 1);
    const int64_t batch = state.batch();
    DecodeResult result;
    result.sequences.resize(static_cast<size_t>(batch));
    std::vector<int32_t> next(static_cast<size_t>(batch), model.decoder_start_id());
    std::vector<uint8_t> finished(static_cast<size_t>(batch), 0);
    std::vector<double> log_p;
    Tensor logits;
    for (int64_t t = 0; t < o.max_length; ++t) {
        model.decode_step(state, next, logits, o.observers, labels(o.tokenizer, next));
        int64_t running = 0;
        for (int64_t b = 0; b < batch; ++b) {
            const auto i = static_cast<size_t>(b);
            if (finished[i]) {
                next[i] = model.eos_id();  // keeps the batch rectangular; never read
                continue;
            }
            const auto row = logits_row(logits, b);
            next[i] = sampler.next(row);
            log_softmax(row, log_p);
            result.sequences[i].ids.push_back(next[i]);
            result.sequences[i].score += static_cast<float>(log_p[static_cast<size_t>(next[i])]);
            finished[i] = o.stop_at_eos && next[i] == model.eos_id();
            running += finished[i] ? 0 : 1;
        }
        if (running == 0) break;
    }
    return result;
}

DecodeResult beam_search(Seq2SeqModel& model, const Tokens& source, const DecodeOptions& o) {
    validate(o);
    struct Beam {
        std::vector<int32_t> ids;
        double log_p = kNegInf;
    };
    struct Candidate {
        double log_p;
        int64_t beam;
        int32_t id;
    };
    const int64_t k = o.beam_size, vocab = model.info().vocab, eos = model.eos_id();
    DecoderState state = model.encode(source, o.observers, o.max_length + 1);
    const int64_t batch = state.batch();
    std::vector<int64_t> rows;  // each input repeated k times: its beams
    for (int64_t b = 0; b < batch; ++b) rows.insert(rows.end(), static_cast<size_t>(k), b);
    state.select_rows(rows);

    // Beam 0 of each input starts alone: the k copies are identical.
    std::vector<std::vector<Beam>> beams(static_cast<size_t>(batch), std::vector<Beam>(static_cast<size_t>(k)));
    for (auto& group : beams) group[0].log_p = 0;
    std::vector<std::vector<Hypothesis>> finished(static_cast<size_t>(batch));
    std::vector<uint8_t> done(static_cast<size_t>(batch), 0);
    std::vector<int32_t> next(static_cast<size_t>(batch * k), model.decoder_start_id());
    std::vector<double> log_p;
    std::vector<int32_t> order(static_cast<size_t>(vocab));
    Tensor logits;
    for (int64_t t = 0; t < o.max_length; ++t) {
        model.decode_step(state, next, logits, o.observers, labels(o.tokenizer, next));
        std::vector<int64_t> parents(static_cast<size_t>(batch * k));
        for (int64_t b = 0; b < batch; ++b) {
            auto& group = beams[static_cast<size_t>(b)];
            for (int64_t j = 0; j < k; ++j) {  // by default a row keeps its beam
                parents[static_cast<size_t>(b * k + j)] = b * k + j;
                next[static_cast<size_t>(b * k + j)] = static_cast<int32_t>(eos);
            }
            if (done[static_cast<size_t>(b)]) continue;
            // The 2k best continuations of each live beam: enough, since at most
            // one of each ends with </s>.
            std::vector<Candidate> candidates;
            const auto per_beam = std::min<int64_t>(2 * k, vocab);
            for (int64_t j = 0; j < k; ++j) {
                if (group[static_cast<size_t>(j)].log_p == kNegInf) continue;
                log_softmax(logits_row(logits, b * k + j), log_p);
                std::iota(order.begin(), order.end(), 0);
                std::partial_sort(order.begin(), order.begin() + per_beam, order.end(),
                                  [&](int32_t x, int32_t y) { return log_p[static_cast<size_t>(x)] > log_p[static_cast<size_t>(y)]; });
                for (int64_t c = 0; c < per_beam; ++c) {
                    const int32_t id = order[static_cast<size_t>(c)];
                    candidates.push_back({group[static_cast<size_t>(j)].log_p + log_p[static_cast<size_t>(id)], j, id});
                }
            }
            std::stable_sort(candidates.begin(), candidates.end(),
                             [](const Candidate& x, const Candidate& y) { return x.log_p > y.log_p; });
            std::vector<Beam> live;
            auto& ended = finished[static_cast<size_t>(b)];
            for (size_t c = 0; c < candidates.size() && static_cast<int64_t>(live.size()) < k; ++c) {
                const Candidate& cand = candidates[c];
                std::vector<int32_t> ids = group[static_cast<size_t>(cand.beam)].ids;
                ids.push_back(cand.id);
                if (o.stop_at_eos && cand.id == eos) {
                    // Only an ending among the k best counts (as in Hugging Face).
                    if (static_cast<int64_t>(c) < k) {
                        ended.push_back({ids, static_cast<float>(normalized(cand.log_p, ids.size(), o.length_penalty))});
                    }
                    continue;
                }
                const auto row = static_cast<size_t>(b * k + static_cast<int64_t>(live.size()));
                parents[row] = b * k + cand.beam;
                next[row] = cand.id;
                live.push_back({std::move(ids), cand.log_p});
            }
            live.resize(static_cast<size_t>(k));  // (a tiny vocabulary may leave dead beams)
            group = std::move(live);
            // Done once k hypotheses ended and no live beam can beat the worst of them.
            if (static_cast<int64_t>(ended.size()) >= k) {
                std::sort(ended.begin(), ended.end(), [](const Hypothesis& x, const Hypothesis& y) { return x.score > y.score; });
                ended.resize(static_cast<size_t>(k));
                const double best_live = normalized(group[0].log_p, static_cast<size_t>(t + 1), o.length_penalty);
                done[static_cast<size_t>(b)] = group[0].log_p == kNegInf || best_live <= ended.back().score;
            }
        }
        if (std::all_of(done.begin(), done.end(), [](uint8_t d) { return d != 0; })) break;
        state.select_rows(parents);
    }
    DecodeResult result;
    for (int64_t b = 0; b < batch; ++b) {
        auto& ended = finished[static_cast<size_t>(b)];
        for (const Beam& beam : beams[static_cast<size_t>(b)]) {  // still running at max_length
            if (!done[static_cast<size_t>(b)] && beam.log_p != kNegInf) {
                ended.push_back({beam.ids, static_cast<float>(normalized(beam.log_p, beam.ids.size(), o.length_penalty))});
            }
        }
        const auto best = std::max_element(ended.begin(), ended.end(),
                                           [](const Hypothesis& x, const Hypothesis& y) { return x.score < y.score; });
        result.sequences.push_back(best == ended.end() ? Hypothesis{} : *best);
    }
    return result;
}

Tokens teacher_forcing_input(const Seq2SeqModel& model, const Tokenizer& tokenizer,
                             const std::vector<std::string>& targets) {
    std::vector<std::vector<int32_t>> ids;
    for (const auto& text : targets) {
        Encoding e = tokenizer.encode(text, /*add_special_tokens=*/true);
        if (!e.ids.empty()) e.ids.pop_back();  // shifted right: the last token is only ever predicted
        ids.push_back(std::move(e.ids));
    }
    return teacher_forcing_input(model, tokenizer, ids);
}

Tokens teacher_forcing_input(const Seq2SeqModel& model, const Tokenizer& tokenizer,
                             const std::vector<std::vector<int32_t>>& ids) {
    std::vector<Encoding> encodings;
    for (const auto& row : ids) {
        Encoding e;
        e.ids.push_back(model.decoder_start_id());
        e.ids.insert(e.ids.end(), row.begin(), row.end());
        e.tokens = labels(&tokenizer, e.ids);
        e.special.assign(e.ids.size(), 0);
        e.special[0] = 1;
        encodings.push_back(std::move(e));
    }
    return Tokens::from_encodings(encodings, tokenizer.pad_id(), tokenizer.pad_token());
}

Seq2SeqTokenizers load_seq2seq_tokenizers(const std::string& dir) {
    if (std::filesystem::exists(std::filesystem::path(dir) / "source_vocabulary.txt")) {
        return {VocabularyTokenizer::open_source(dir), VocabularyTokenizer::open_target(dir)};
    }
    std::shared_ptr<const Tokenizer> shared = load_tokenizer(dir);
    return {shared, shared};
}

}  // namespace gaze
