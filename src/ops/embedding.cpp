// Embedding lookup and sinusoidal position encodings.
#include <cmath>
#include <algorithm>
#include <cstring>

#include "gaze/ops.hpp"

namespace gaze::ops {

void embedding_lookup(const Tensor& table, std::span<const int32_t> ids, Tensor& out, const char* what) {
    if (table.rank() != 2) throw Error("embedding_lookup: table must be [V, H], got " + table.shape().str());
    const int64_t vocab = table.dim(0), hidden = table.dim(1);
    const int64_t n = static_cast<int64_t>(ids.size());
    for (int64_t i = 0; i < n; ++i) {
        if (ids[i] < 0 || ids[i] >= vocab) {
            throw Error(std::string(what) + " " + std::to_string(ids[i]) + " at position " + std::to_string(i) +
                        " is outside the table of " + std::to_string(vocab) + " entries");
        }
    }
    out.resize({n, hidden});
    if (table.dtype() != DType::f32) {  // a bf16 / f16 table (weights kept as stored): widen the gathered rows
        if (!table.is_contiguous() || table.dtype() == DType::i8) {
            throw Error(std::string("embedding_lookup: a ") + dtype_name(table.dtype()) + " table must be contiguous bf16 or f16");
        }
        const auto* rows = static_cast<const uint16_t*>(table.raw());
        for (int64_t i = 0; i < n; ++i) {
            convert_to_float(rows + ids[i] * hidden, table.dtype(), out.data() + i * hidden, static_cast<size_t>(hidden));
        }
        return;
    }
    const auto src = table.matrix();
    auto dst = out.matrix();
    for (int64_t i = 0; i < n; ++i) dst.row(i) = src.row(ids[i]);
}

void embedding_row(const Tensor& table, int64_t id, float* out) {
    const int64_t hidden = table.dim(1);
    if (table.dtype() == DType::f32) {
        std::memcpy(out, table.ptr({id, 0}), sizeof(float) * static_cast<size_t>(hidden));
    } else {
        const auto* rows = static_cast<const uint16_t*>(table.raw());
        convert_to_float(rows + id * hidden, table.dtype(), out, static_cast<size_t>(hidden));
    }
}

void sinusoidal_position_encoding(int64_t num_positions, int64_t dim, int64_t first_position,
                                  SinusoidLayout layout, Tensor& out, double base, SinusoidSpacing spacing) {
    if (dim <= 0 || dim % 2 != 0) throw Error("sinusoidal_position_encoding: dim must be even, got " + std::to_string(dim));
    out.resize({num_positions, dim});
    const int64_t half = dim / 2;
    for (int64_t p = 0; p < num_positions; ++p) {
        float* row = out.data() + p * dim;
        const double pos = static_cast<double>(first_position + p);
        for (int64_t i = 0; i < half; ++i) {
            const double frequency =
                spacing == SinusoidSpacing::paper
                    ? 1.0 / std::pow(base, static_cast<double>(2 * i) / static_cast<double>(dim))
                    : std::exp(-static_cast<double>(i) * std::log(base) / std::max<double>(1.0, static_cast<double>(half - 1)));
            const double angle = pos * frequency;
            const float s = static_cast<float>(std::sin(angle)), c = static_cast<float>(std::cos(angle));
            if (layout == SinusoidLayout::interleaved) {
                row[2 * i] = s;
                row[2 * i + 1] = c;
            } else {
                row[i] = s;
                row[half + i] = c;
            }
        }
    }
}

void last_position(const Tensor& x, Tensor& out) {
    if (x.rank() != 3 || x.dim(1) == 0) throw Error("last_position: expected [B, S>0, X], got " + x.shape().str());
    const int64_t batch = x.dim(0), seq = x.dim(1);
    out.resize({batch, x.dim(2)});
    for (int64_t b = 0; b < batch; ++b) out.matrix().row(b) = x.select(0, b).matrix().row(seq - 1);
}

}  // namespace gaze::ops
