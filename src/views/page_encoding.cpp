// The page's compact probability layouts (see page_encoding.hpp).
#include "page_encoding.hpp"

#include <algorithm>
#include <cmath>
#include <numeric>

#include "gaze/error.hpp"

namespace gaze::views {
namespace {

constexpr uint16_t kUnused = 0xFFFF;  // top_k: an entry slot with no key

uint16_t unit16(double v) {
    const double c = std::isfinite(v) ? std::clamp(v, 0.0, 1.0) : 0.0;
    return static_cast<uint16_t>(std::lround(c * 65535.0));
}

uint8_t relative8(double v, double max) {
    if (!(max > 0) || !std::isfinite(v)) return 0;
    return static_cast<uint8_t>(std::lround(std::clamp(v / max, 0.0, 1.0) * 255.0));
}

void put16(uint8_t* at, uint16_t v) {
    at[0] = static_cast<uint8_t>(v & 0xFF);
    at[1] = static_cast<uint8_t>(v >> 8);
}

uint16_t get16(const uint8_t* at) { return static_cast<uint16_t>(at[0] | (at[1] << 8)); }

int64_t limit_of(bool causal, int64_t i, int64_t queries, int64_t keys) {
    return causal ? std::clamp<int64_t>(i + keys - queries + 1, 0, keys) : keys;
}

int64_t dense_cells(const BlockShape& s) {
    int64_t cells = 0;
    for (int64_t i = 0; i < s.queries; ++i) cells += limit_of(s.causal, i, s.queries, s.keys);
    return cells;
}

}  // namespace

const char* to_string(ProbabilityLayout layout) {
    switch (layout) {
        case ProbabilityLayout::dense16: return "dense16";
        case ProbabilityLayout::dense8: return "dense8";
        case ProbabilityLayout::top_k: return "top_k";
    }
    return "?";
}

ProbabilityEncoding choose_encoding(const std::vector<BlockShape>& blocks, int64_t budget) {
    int64_t cells = 0, rows = 0;
    for (const auto& b : blocks) {
        cells += b.layers * b.heads * dense_cells(b);
        rows += b.layers * b.heads * b.queries;
    }
    if (2 * cells <= budget / 4) return {ProbabilityLayout::dense16, 0};
    if (cells + 2 * rows <= budget) return {ProbabilityLayout::dense8, 0};
    const int64_t per_row = rows > 0 ? budget / rows : 0;
    return {ProbabilityLayout::top_k, static_cast<int>(std::clamp<int64_t>((per_row - 4) / 3, 1, 64))};
}

std::string describe(ProbabilityEncoding e) {
    switch (e.layout) {
        case ProbabilityLayout::dense16: return "every weight in 16 bits (steps of 1/65535)";
        case ProbabilityLayout::dense8:
            return "every weight in 8 bits relative to its row's largest (error at most that weight / 510)";
        case ProbabilityLayout::top_k:
            return "each row's " + std::to_string(e.top_k) +
                   " largest weights (8 bits relative to the row's largest), and the rest's mass spread evenly over "
                   "the row's other visible keys";
    }
    return "?";
}

BlockEncoder::BlockEncoder(const AttentionBlock& block, int64_t layers, int64_t heads, ProbabilityEncoding encoding)
    : block_(block),
      layers_(layers),
      heads_(heads),
      queries_(block.queries.size()),
      keys_(block.keys.size()),
      encoding_(encoding) {
    if (keys_ >= kUnused) throw Error("the page stores at most 65534 keys per row, got " + std::to_string(keys_));
    if (encoding_.layout == ProbabilityLayout::top_k && encoding_.top_k < 1) throw Error("page encoding: top_k needs k >= 1");
    row_start_.resize(static_cast<size_t>(queries_) + 1, 0);
    for (int64_t i = 0; i < queries_; ++i) {
        const int64_t bytes = encoding_.layout == ProbabilityLayout::dense16 ? 2 * visible(i)
                              : encoding_.layout == ProbabilityLayout::dense8 ? 2 + visible(i)
                                                                               : 4 + 3 * int64_t{encoding_.top_k};
        row_start_[static_cast<size_t>(i) + 1] = row_start_[static_cast<size_t>(i)] + static_cast<size_t>(bytes);
    }
    open_before_.resize(static_cast<size_t>(keys_) + 1, 0);
    for (int64_t j = 0; j < keys_; ++j) {
        open_before_[static_cast<size_t>(j) + 1] = open_before_[static_cast<size_t>(j)] + (block.keys.valid[static_cast<size_t>(j)] ? 1 : 0);
    }
    bytes_.assign(static_cast<size_t>(layers_ * heads_) * row_start_.back(), 0);
}

int64_t BlockEncoder::visible(int64_t i) const {
    return limit_of(block_.kind == AttentionKind::causal_self, i, queries_, keys_);
}

size_t BlockEncoder::row_offset(int64_t layer, int64_t head, int64_t i) const {
    if (layer < 0 || layer >= layers_ || head < 0 || head >= heads_ || i < 0 || i >= queries_) {
        throw Error("page encoding: row (layer " + std::to_string(layer) + ", head " + std::to_string(head) + ", row " +
                    std::to_string(i) + ") is outside the block");
    }
    return static_cast<size_t>(layer * heads_ + head) * row_start_.back() + row_start_[static_cast<size_t>(i)];
}

double BlockEncoder::add_row(int64_t layer, int64_t head, int64_t i, const float* row) {
    uint8_t* at = bytes_.data() + row_offset(layer, head, i);
    const int64_t limit = visible(i);
    const bool open_row = block_.queries.valid[static_cast<size_t>(i)] != 0;
    auto masked = [&](int64_t j) { return !open_row || j >= limit || !block_.keys.valid[static_cast<size_t>(j)]; };
    switch (encoding_.layout) {
        case ProbabilityLayout::dense16:
            for (int64_t j = 0; j < limit; ++j) put16(at + 2 * j, unit16(row[j]));
            break;
        case ProbabilityLayout::dense8: {
            double max = 0;
            for (int64_t j = 0; j < limit; ++j) max = std::max(max, static_cast<double>(row[j]));
            const uint16_t m = unit16(max);
            put16(at, m);
            for (int64_t j = 0; j < limit; ++j) at[2 + j] = relative8(row[j], m / 65535.0);
            break;
        }
        case ProbabilityLayout::top_k: {
            // One pass keeping the k largest, largest first (ties: the earlier key).
            thread_local std::vector<int64_t> open;
            open.clear();
            const auto capacity = static_cast<size_t>(encoding_.top_k);
            double total = 0;
            for (int64_t j = 0; j < limit; ++j) {
                if (masked(j)) continue;
                total += row[j];
                if (open.size() == capacity && !(row[j] > row[open.back()])) continue;
                if (open.size() == capacity) open.pop_back();
                auto at_rank = open.end();
                while (at_rank != open.begin() && row[*(at_rank - 1)] < row[j]) --at_rank;
                open.insert(at_rank, j);
            }
            const size_t k = open.size();
            const double max = k > 0 ? row[open[0]] : 0.0;
            double kept = 0;
            for (size_t e = 0; e < k; ++e) kept += row[open[e]];
            const uint16_t m = unit16(max);
            put16(at, m);
            put16(at + 2, unit16(total - kept));
            for (size_t e = 0; e < static_cast<size_t>(encoding_.top_k); ++e) {
                uint8_t* entry = at + 4 + 3 * e;
                put16(entry, e < k ? static_cast<uint16_t>(open[e]) : kUnused);
                entry[2] = e < k ? relative8(row[open[e]], m / 65535.0) : 0;
            }
            break;
        }
    }
    // The error over the cells the page draws (masked ones are drawn hatched).
    thread_local std::vector<float> decoded;
    decoded.resize(static_cast<size_t>(keys_));
    decode(at, i, decoded.data());
    double error = 0;
    for (int64_t j = 0; j < keys_; ++j) {
        if (masked(j)) continue;
        const double truth = std::isfinite(row[j]) ? row[j] : 0.0;
        error = std::max(error, std::abs(truth - decoded[static_cast<size_t>(j)]));
    }
    return error;
}

void BlockEncoder::decode(const uint8_t* at, int64_t i, float* row) const {
    std::fill(row, row + keys_, 0.0f);
    const int64_t limit = visible(i);
    switch (encoding_.layout) {
        case ProbabilityLayout::dense16:
            for (int64_t j = 0; j < limit; ++j) row[j] = static_cast<float>(get16(at + 2 * j) / 65535.0);
            return;
        case ProbabilityLayout::dense8: {
            const double m = get16(at) / 65535.0;
            for (int64_t j = 0; j < limit; ++j) row[j] = static_cast<float>(at[2 + j] / 255.0 * m);
            return;
        }
        case ProbabilityLayout::top_k: {
            if (!block_.queries.valid[static_cast<size_t>(i)]) return;
            const double m = get16(at) / 65535.0, rest = get16(at + 2) / 65535.0;
            int64_t kept = 0;
            for (int e = 0; e < encoding_.top_k; ++e) kept += get16(at + 4 + 3 * e) != kUnused ? 1 : 0;
            const int64_t others = open_before_[static_cast<size_t>(limit)] - kept;
            const float spread = others > 0 ? static_cast<float>(rest / static_cast<double>(others)) : 0.0f;
            for (int64_t j = 0; j < limit; ++j) row[j] = block_.keys.valid[static_cast<size_t>(j)] ? spread : 0.0f;
            for (int e = 0; e < encoding_.top_k; ++e) {
                const uint16_t key = get16(at + 4 + 3 * e);
                if (key != kUnused && key < limit) row[key] = static_cast<float>(at[4 + 3 * e + 2] / 255.0 * m);
            }
            return;
        }
    }
}

std::vector<float> BlockEncoder::decode_row(int64_t layer, int64_t head, int64_t i) const {
    std::vector<float> row(static_cast<size_t>(keys_));
    decode(bytes_.data() + row_offset(layer, head, i), i, row.data());
    return row;
}

}  // namespace gaze::views
