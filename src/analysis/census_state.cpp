// The census's exact sums, their merge, and their serialisation (checkpoints, MPI).
#include <algorithm>
#include <cmath>
#include <limits>
#include <nlohmann/json.hpp>

#include "gaze/census.hpp"
#include "gaze/error.hpp"

namespace gaze {
namespace {

constexpr double kScale = 4294967296.0;  // 2^32: values are summed in units of 2^-32

const char* const kStatNames[kCensusStats] = {"entropy",      "distance",       "max_weight", "first_token",
                                              "leading_special", "later_special", "punctuation", "self",
                                              "previous_token", "same_token",   "induction"};
const char* const kQueryTypeNames[kQueryTypes] = {"word", "punctuation", "special"};

CensusInt to_units(double value) {
    const double scaled = value * kScale;
    // The common case in one instruction (llrint: round to nearest even, like
    // nearbyint); a 128-bit conversion is a library call, kept for huge values.
    if (std::fabs(scaled) < 9.0e18) return static_cast<CensusInt>(std::llrint(scaled));
    if (!std::isfinite(scaled) || std::fabs(scaled) > 1e36) {
        throw Error("census: statistic value " + std::to_string(value) + " is out of range");
    }
    return static_cast<CensusInt>(std::nearbyint(scaled));
}

std::string int128_string(CensusInt v) {
    if (v == 0) return "0";
    const bool negative = v < 0;
    std::string digits;
    // Negate digit by digit so the most negative value never overflows.
    while (v != 0) {
        const int digit = static_cast<int>(v % 10);
        digits.push_back(static_cast<char>('0' + (negative ? -digit : digit)));
        v /= 10;
    }
    if (negative) digits.push_back('-');
    std::reverse(digits.begin(), digits.end());
    return digits;
}

CensusInt parse_int128(const std::string& s, const std::string& what) {
    size_t i = 0;
    const bool negative = !s.empty() && s[0] == '-';
    if (negative) i = 1;
    if (i >= s.size() || s.size() - i > 38) throw Error(what + ": bad integer '" + s + "'");
    CensusInt v = 0;
    for (; i < s.size(); ++i) {
        if (s[i] < '0' || s[i] > '9') throw Error(what + ": bad integer '" + s + "'");
        v = v * 10 + (negative ? -(s[i] - '0') : (s[i] - '0'));
    }
    return v;
}

nlohmann::json moments_json(const ExactMoments& m) {
    return nlohmann::json::array({m.count, int128_string(m.sum), int128_string(m.sum_squares)});
}

// An integer field. Checked first: nlohmann's get<int64_t>() of a float such
// as 8e125 is a float-to-integer cast out of range, which is undefined.
int64_t integer_of(const nlohmann::json& v, const std::string& what) {
    if (!v.is_number_integer()) throw Error(what + ": expected an integer, found " + std::string(v.type_name()));
    return v.get<int64_t>();
}

ExactMoments moments_from(const nlohmann::json& j, const std::string& what) {
    if (!j.is_array() || j.size() != 3 || !j[0].is_number_integer() || !j[1].is_string() || !j[2].is_string()) {
        throw Error(what + ": malformed moments");
    }
    ExactMoments m;
    m.count = j[0].get<int64_t>();
    m.sum = parse_int128(j[1].get<std::string>(), what);
    m.sum_squares = parse_int128(j[2].get<std::string>(), what);
    // Far beyond any real corpus, and far enough from the integer limits that merges cannot overflow.
    constexpr CensusInt kMaxSum = static_cast<CensusInt>(1) << 118;
    if (m.count < 0 || m.count > (int64_t{1} << 56) || m.sum > kMaxSum || m.sum < -kMaxSum || m.sum_squares < 0 ||
        m.sum_squares > kMaxSum) {
        throw Error(what + ": moments out of range");
    }
    return m;
}

}  // namespace

const char* census_stat_name(int stat) { return stat >= 0 && stat < kCensusStats ? kStatNames[stat] : "?"; }
const char* query_type_name(int type) { return type >= 0 && type < kQueryTypes ? kQueryTypeNames[type] : "?"; }

void ExactMoments::add(double value) {
    ++count;
    sum += to_units(value);
    sum_squares += to_units(value * value);
}

void ExactMoments::merge(const ExactMoments& other) {
    count += other.count;
    sum += other.sum;
    sum_squares += other.sum_squares;
}

double ExactMoments::mean() const {
    if (count == 0) return std::numeric_limits<double>::quiet_NaN();
    return static_cast<double>(static_cast<long double>(sum) / kScale / static_cast<long double>(count));
}

double ExactMoments::variance() const {
    if (count == 0) return std::numeric_limits<double>::quiet_NaN();
    const long double n = static_cast<long double>(count);
    const long double mean = static_cast<long double>(sum) / kScale / n;
    const long double second = static_cast<long double>(sum_squares) / kScale / n;
    return static_cast<double>(std::max<long double>(0, second - mean * mean));
}

bool CensusExample::better_than(const CensusExample& other) const {
    if (score != other.score) return score > other.score;
    return other.score >= 0 && line < other.line;
}

void HeadCensus::merge(const HeadCensus& other) {
    for (int s = 0; s < kCensusStats; ++s) {
        all[static_cast<size_t>(s)].merge(other.all[static_cast<size_t>(s)]);
        for (int t = 0; t < kQueryTypes; ++t) {
            by_query_type[static_cast<size_t>(t)][static_cast<size_t>(s)].merge(
                other.by_query_type[static_cast<size_t>(t)][static_cast<size_t>(s)]);
        }
        if (other.examples[static_cast<size_t>(s)].better_than(examples[static_cast<size_t>(s)])) {
            examples[static_cast<size_t>(s)] = other.examples[static_cast<size_t>(s)];
        }
    }
}

void CorpusCounts::merge(const CorpusCounts& other) {
    lines += other.lines;
    texts += other.texts;
    blank_lines += other.blank_lines;
    skipped_lines += other.skipped_lines;
    empty_texts += other.empty_texts;
    tokens += other.tokens;
    truncated_texts += other.truncated_texts;
    truncated_tokens += other.truncated_tokens;
    errors.insert(errors.end(), other.errors.begin(), other.errors.end());
    std::sort(errors.begin(), errors.end());
    errors.erase(std::unique(errors.begin(), errors.end()), errors.end());
    if (errors.size() > kCensusReportedErrors) errors.resize(kCensusReportedErrors);
}

void CensusState::merge(const CensusState& other) {
    for (const auto& [key, head] : other.heads) {
        auto [it, inserted] = heads.try_emplace(key, head);
        if (!inserted) it->second.merge(head);
    }
    corpus.merge(other.corpus);
}

std::string CensusState::serialize() const {
    nlohmann::json heads_json = nlohmann::json::array();
    for (const auto& [key, h] : heads) {
        nlohmann::json all = nlohmann::json::array(), types = nlohmann::json::array(), examples = nlohmann::json::array();
        for (int s = 0; s < kCensusStats; ++s) {
            all.push_back(moments_json(h.all[static_cast<size_t>(s)]));
            const CensusExample& e = h.examples[static_cast<size_t>(s)];
            examples.push_back({e.score, e.line, e.text, e.cut});
        }
        for (int t = 0; t < kQueryTypes; ++t) {
            nlohmann::json type = nlohmann::json::array();
            for (int s = 0; s < kCensusStats; ++s) type.push_back(moments_json(h.by_query_type[static_cast<size_t>(t)][static_cast<size_t>(s)]));
            types.push_back(type);
        }
        heads_json.push_back({{"site", {static_cast<int>(h.stack), static_cast<int>(h.kind), h.layer, h.head}},
                              {"all", all},
                              {"types", types},
                              {"examples", examples}});
    }
    nlohmann::json errors = nlohmann::json::array();
    for (const auto& [line, message] : corpus.errors) errors.push_back({line, message});
    const nlohmann::json j = {{"heads", heads_json},
                              {"corpus",
                               {corpus.lines, corpus.texts, corpus.blank_lines, corpus.skipped_lines, corpus.empty_texts,
                                corpus.tokens, corpus.truncated_texts, corpus.truncated_tokens}},
                              {"errors", errors}};
    return j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

CensusState CensusState::deserialize(std::string_view bytes, const std::string& what) {
    CensusState state;
    try {
        const nlohmann::json j = nlohmann::json::parse(bytes);
        for (const auto& hj : j.at("heads")) {
            const auto& site = hj.at("site");
            HeadCensus h;
            const int64_t stack = integer_of(site.at(0), what), kind = integer_of(site.at(1), what);
            if (stack < 0 || stack > 1 || kind < 0 || kind > 2) throw Error(what + ": bad head site");
            h.stack = static_cast<Stack>(stack);
            h.kind = static_cast<AttentionKind>(kind);
            h.layer = static_cast<int>(integer_of(site.at(2), what));
            h.head = static_cast<int>(integer_of(site.at(3), what));
            const auto& all = hj.at("all");
            const auto& types = hj.at("types");
            const auto& examples = hj.at("examples");
            if (all.size() != kCensusStats || types.size() != kQueryTypes || examples.size() != kCensusStats) {
                throw Error(what + ": a head has the wrong number of statistics");
            }
            for (int s = 0; s < kCensusStats; ++s) {
                h.all[static_cast<size_t>(s)] = moments_from(all[static_cast<size_t>(s)], what);
                for (int t = 0; t < kQueryTypes; ++t) {
                    h.by_query_type[static_cast<size_t>(t)][static_cast<size_t>(s)] =
                        moments_from(types[static_cast<size_t>(t)].at(static_cast<size_t>(s)), what);
                }
                const auto& e = examples[static_cast<size_t>(s)];
                CensusExample& x = h.examples[static_cast<size_t>(s)];
                x.score = e.at(0).get<double>();
                x.line = integer_of(e.at(1), what);
                x.text = e.at(2).get<std::string>();
                x.cut = e.at(3).get<bool>();
            }
            state.heads[{static_cast<int>(stack), static_cast<int>(kind), h.layer, h.head}] = std::move(h);
        }
        const auto& c = j.at("corpus");
        int64_t* fields[] = {&state.corpus.lines,       &state.corpus.texts,           &state.corpus.blank_lines,
                             &state.corpus.skipped_lines, &state.corpus.empty_texts,   &state.corpus.tokens,
                             &state.corpus.truncated_texts, &state.corpus.truncated_tokens};
        if (c.size() != std::size(fields)) throw Error(what + ": bad corpus counts");
        for (size_t i = 0; i < std::size(fields); ++i) {
            *fields[i] = integer_of(c.at(i), what);
            if (*fields[i] < 0 || *fields[i] > (int64_t{1} << 56)) throw Error(what + ": corpus count out of range");
        }
        for (const auto& e : j.at("errors")) state.corpus.errors.emplace_back(integer_of(e.at(0), what), e.at(1).get<std::string>());
    } catch (const nlohmann::json::exception& e) {
        throw Error(what + ": not a census state (" + e.what() + ")");
    }
    return state;
}

}  // namespace gaze
