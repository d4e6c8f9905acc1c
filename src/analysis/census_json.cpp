// census.json: the document `gaze census` writes and `gaze census-report` reads.
#include <algorithm>
#include <cmath>
#include <map>
#include <nlohmann/json.hpp>

#include "gaze/census.hpp"

namespace gaze {
namespace {

nlohmann::json number_or_null(double v) { return std::isfinite(v) ? nlohmann::json(v) : nlohmann::json(nullptr); }

const char* format_name(CorpusFormat f) {
    switch (f) {
        case CorpusFormat::automatic: return "auto";
        case CorpusFormat::text: return "text";
        case CorpusFormat::jsonl: return "jsonl";
    }
    return "?";
}

// Heads ranked by their mean of one statistic (highest first; ties by site).
nlohmann::json top_heads(const CensusState& state, int stat, size_t count) {
    std::vector<const HeadCensus*> heads;
    for (const auto& [key, h] : state.heads) {
        if (h.all[static_cast<size_t>(stat)].count > 0) heads.push_back(&h);
    }
    std::stable_sort(heads.begin(), heads.end(), [stat](const HeadCensus* a, const HeadCensus* b) {
        return a->all[static_cast<size_t>(stat)].mean() > b->all[static_cast<size_t>(stat)].mean();
    });
    nlohmann::json out = nlohmann::json::array();
    for (size_t i = 0; i < heads.size() && i < count; ++i) {
        const HeadCensus& h = *heads[i];
        out.push_back({{"stack", to_string(h.stack)},
                       {"kind", to_string(h.kind)},
                       {"layer", h.layer},
                       {"head", h.head},
                       {"mean", h.all[static_cast<size_t>(stat)].mean()}});
    }
    return out;
}

}  // namespace

std::string census_json(const CensusState& state, const CensusMeta& meta) {
    const CorpusCounts& c = state.corpus;
    nlohmann::json errors = nlohmann::json::array();
    for (const auto& [line, message] : c.errors) errors.push_back({{"line", line}, {"error", message}});
    nlohmann::json stats = nlohmann::json::array();
    for (int s = 0; s < kCensusStats; ++s) stats.push_back(census_stat_name(s));
    nlohmann::json types = nlohmann::json::array();
    for (int t = 0; t < kQueryTypes; ++t) types.push_back(query_type_name(t));

    // Example texts, once each, by line.
    std::map<int64_t, const CensusExample*> texts;
    nlohmann::json heads = nlohmann::json::array();
    for (const auto& [key, h] : state.heads) {
        nlohmann::json mean, variance, count, by_type, examples;
        for (int s = 0; s < kCensusStats; ++s) {
            const ExactMoments& m = h.all[static_cast<size_t>(s)];
            mean[census_stat_name(s)] = number_or_null(m.mean());
            variance[census_stat_name(s)] = number_or_null(m.variance());
            count[census_stat_name(s)] = m.count;
            const CensusExample& e = h.examples[static_cast<size_t>(s)];
            if (e.score >= 0) {
                examples[census_stat_name(s)] = {{"line", e.line}, {"score", e.score}};
                texts.emplace(e.line, &e);
            }
        }
        for (int t = 0; t < kQueryTypes; ++t) {
            nlohmann::json type_mean;
            const auto& moments = h.by_query_type[static_cast<size_t>(t)];
            for (int s = 0; s < kCensusStats; ++s) type_mean[census_stat_name(s)] = number_or_null(moments[static_cast<size_t>(s)].mean());
            by_type[query_type_name(t)] = {{"rows", moments[0].count}, {"mean", type_mean}};
        }
        heads.push_back({{"stack", to_string(h.stack)},
                         {"kind", to_string(h.kind)},
                         {"layer", h.layer},
                         {"head", h.head},
                         {"rows", h.all[0].count},
                         {"mean", mean},
                         {"variance", variance},
                         {"count", count},
                         {"by_query_type", by_type},
                         {"examples", examples.is_null() ? nlohmann::json::object() : examples}});
    }
    nlohmann::json example_texts = nlohmann::json::object();
    for (const auto& [line, e] : texts) example_texts[std::to_string(line)] = {{"text", e->text}, {"cut", e->cut}};
    nlohmann::json top = nlohmann::json::object();
    for (int s = 0; s < kCensusStats; ++s) top[census_stat_name(s)] = top_heads(state, s, 10);

    const CensusOptions& o = meta.options;
    const nlohmann::json doc = {
        {"format", "gaze-census"},
        {"version", 1},
        {"model",
         {{"path", meta.model},
          {"family", meta.info.family},
          {"layers", meta.info.layers},
          {"heads", meta.info.heads},
          {"hidden", meta.info.hidden},
          {"max_positions", meta.info.max_positions}}},
        {"corpus",
         {{"path", meta.corpus},
          {"lines", c.lines},
          {"texts", c.texts},
          {"tokens", c.tokens},
          {"blank_lines", c.blank_lines},
          {"skipped_lines", c.skipped_lines},
          {"empty_texts", c.empty_texts},
          {"truncated_texts", c.truncated_texts},
          {"truncated_tokens", c.truncated_tokens},
          {"errors", errors}}},
        {"options",
         {{"format", format_name(o.format)},
          {"field", o.field},
          {"on_error", o.on_error == OnError::fail ? "fail" : "skip"},
          {"limit", o.limit},
          {"max_tokens", o.max_tokens},
          {"batch_size", o.batch_size},
          {"batch_tokens", o.batch_tokens},
          {"window_bytes", o.window_bytes}}},
        {"statistics", stats},
        {"query_types", types},
        {"heads", heads},
        {"top_heads", top},
        {"texts", example_texts}};
    return doc.dump(1, ' ', false, nlohmann::json::error_handler_t::replace) + "\n";
}

}  // namespace gaze
