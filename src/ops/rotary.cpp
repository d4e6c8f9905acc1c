// Rotary position embeddings (Su et al., RoFormer, 2021) in Hugging Face's
// rotate_half layout, and the SwiGLU gate of Llama-style feed-forwards.
#include <algorithm>
#include <cmath>
#include <numbers>
#include <string>
#include <vector>

#include "gaze/ops.hpp"

namespace gaze::ops {

std::vector<float> rotary_inverse_frequencies(int64_t head_dim, double theta, const RopeScaling& scaling,
                                              int64_t seq_len) {
    if (head_dim <= 0 || head_dim % 2 != 0) throw Error("rotary: head size " + std::to_string(head_dim) + " must be even");
    if (!(theta > 1.0)) throw Error("rotary: rope_theta must be > 1, got " + std::to_string(theta));
    double base = theta;
    if (scaling.type == RopeScaling::Type::dynamic && seq_len > scaling.original_max_positions) {
        // Dynamic NTK: the base grows once the context passes the trained length.
        const double f = scaling.factor, n = static_cast<double>(seq_len) / static_cast<double>(scaling.original_max_positions);
        base *= std::pow(f * n - (f - 1.0), static_cast<double>(head_dim) / static_cast<double>(head_dim - 2));
    }
    std::vector<float> inv_freq(static_cast<size_t>(head_dim / 2));
    for (int64_t i = 0; i < head_dim / 2; ++i) {
        double f = 1.0 / std::pow(base, static_cast<double>(2 * i) / static_cast<double>(head_dim));
        if (scaling.type == RopeScaling::Type::linear) f /= scaling.factor;
        if (scaling.type == RopeScaling::Type::llama3) {
            // Llama 3.1: long wavelengths are slowed by `factor`, short ones kept,
            // the band between interpolated smoothly.
            const double old_context = static_cast<double>(scaling.original_max_positions);
            const double low_wavelen = old_context / scaling.low_freq_factor;
            const double high_wavelen = old_context / scaling.high_freq_factor;
            const double wavelen = 2.0 * std::numbers::pi / f;
            if (wavelen > low_wavelen) {
                f /= scaling.factor;
            } else if (wavelen >= high_wavelen) {
                const double smooth = (old_context / wavelen - scaling.low_freq_factor) /
                                      (scaling.high_freq_factor - scaling.low_freq_factor);
                f = (1.0 - smooth) * f / scaling.factor + smooth * f;
            }
        }
        inv_freq[static_cast<size_t>(i)] = static_cast<float>(f);
    }
    return inv_freq;
}

void rotary_embedding(Tensor& x, int64_t heads, std::span<const int64_t> positions, std::span<const float> inv_freq,
                      float attention_scaling) {
    if (x.rank() != 3 || heads <= 0 || x.dim(2) % heads != 0 || x.stride(2) != 1) {
        throw Error("rotary_embedding: x must be [B, S, heads*d] with a dense last dim, got " + x.shape().str() +
                    " for " + std::to_string(heads) + " heads");
    }
    const int64_t batch = x.dim(0), seq = x.dim(1), d = x.dim(2) / heads, half = d / 2;
    if (d % 2 != 0 || static_cast<int64_t>(inv_freq.size()) != half) {
        throw Error("rotary_embedding: head size " + std::to_string(d) + " needs " + std::to_string(half) +
                    " frequencies (an even head size), got " + std::to_string(inv_freq.size()));
    }
    if (static_cast<int64_t>(positions.size()) != batch * seq) {
        throw Error("rotary_embedding: " + std::to_string(positions.size()) + " positions for " +
                    std::to_string(batch * seq) + " rows");
    }
#pragma omp parallel if (batch * seq * d > (1 << 14))
    {
        std::vector<float> cos_row(static_cast<size_t>(half)), sin_row(static_cast<size_t>(half));
#pragma omp for collapse(2) schedule(static)
        for (int64_t b = 0; b < batch; ++b) {
            for (int64_t s = 0; s < seq; ++s) {
                // The angle is rounded to float first, as Hugging Face computes
                // position * inv_freq in float32 before cos and sin.
                const auto p = static_cast<float>(positions[static_cast<size_t>(b * seq + s)]);
                for (int64_t i = 0; i < half; ++i) {
                    const double angle = p * inv_freq[static_cast<size_t>(i)];
                    cos_row[static_cast<size_t>(i)] = static_cast<float>(std::cos(angle)) * attention_scaling;
                    sin_row[static_cast<size_t>(i)] = static_cast<float>(std::sin(angle)) * attention_scaling;
                }
                float* row = x.data() + b * x.stride(0) + s * x.stride(1);
                for (int64_t h = 0; h < heads; ++h) {
                    float* lo = row + h * d;  // dims [0, d/2)
                    float* hi = lo + half;    // dims [d/2, d)
                    for (int64_t i = 0; i < half; ++i) {
                        const float c = cos_row[static_cast<size_t>(i)], sn = sin_row[static_cast<size_t>(i)];
                        const float a = lo[i], bb = hi[i];
                        lo[i] = a * c - bb * sn;  // x * cos + rotate_half(x) * sin, rotate_half = [-hi, lo]
                        hi[i] = bb * c + a * sn;
                    }
                }
            }
        }
    }
}

}  // namespace gaze::ops
