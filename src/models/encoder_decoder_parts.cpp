// The parts of the encoder-decoder stack (see encoder_decoder.hpp): norms,
// stacked projections, token embeddings and the one-row projection decoding uses.
#include <omp.h>

#include "gaze/models/encoder_decoder.hpp"

namespace gaze {

void Norm::forward(const Tensor& x, Tensor& y) const {
    if (!is_present(bias)) {
        ops::rms_norm(x, weight, eps, y);
    } else {
        ops::layer_norm(x, weight, bias, eps, y);
    }
}

Linear stack_linears(const std::vector<Linear>& parts) {
    if (is_present(parts.at(0).bias)) return Linear::concat_outputs(parts);
    int64_t out = 0;
    const int64_t in = parts[0].weight.dim(1);
    for (const auto& p : parts) {
        if (p.layout != ops::WeightLayout::out_in || p.weight.dim(1) != in || is_present(p.bias)) {
            throw Error("stack_linears: parts must be [out, in] linears of the same input width, all without bias");
        }
        out += p.weight.dim(0);
    }
    Linear fused;
    fused.weight = Tensor({out, in});
    fused.bias = absent();
    int64_t row = 0;
    for (const auto& p : parts) {
        fused.weight.narrow(0, row, p.weight.dim(0)).matrix() = p.weight.matrix();
        row += p.weight.dim(0);
    }
    return fused;
}

void TokenEmbedding::forward(std::span<const int32_t> ids, int64_t batch, int64_t offset, Tensor& out) const {
    const int64_t seq = static_cast<int64_t>(ids.size()) / batch, h = table.dim(1);
    ops::embedding_lookup(table, ids, out, "token id");  // [B*S, H]
    out = out.reshape({batch, seq, h});
    if (scale != 1.0f) ops::scale(out, scale);
    if (!positions) return;
    Tensor pe;  // [S, H], recomputed per call: S is the chunk length, often 1
    ops::sinusoidal_position_encoding(seq, h, positions->first_position + offset, positions->layout, pe, 10000.0,
                                      positions->spacing);
    for (int64_t b = 0; b < batch; ++b) out.select(0, b).matrix() += pe.matrix();
}

// One row: each thread takes a block of output features (rows of W).
void project(const Linear& l, const Tensor& x, Tensor& y) {
    if (x.rows() != 1 || l.layout != ops::WeightLayout::out_in) {
        l.forward(x, y);
        return;
    }
    const int64_t out = l.weight.dim(0), in = l.weight.dim(1);
    if (x.dim(-1) != in) throw Error("linear: input " + x.shape().str() + " does not match weight " + l.weight.shape().str());
    Shape shape = x.shape();
    shape[x.rank() - 1] = out;
    y.resize(shape);
    const ConstVectorMap input(x.data(), in);
    VectorMap output(y.data(), out);
    const auto w = l.weight.matrix();
#pragma omp parallel
    {
        const int64_t threads = omp_get_num_threads(), t = omp_get_thread_num();
        const int64_t block = (out + threads - 1) / threads;
        const int64_t begin = std::min(out, t * block), n = std::min(out, begin + block) - begin;
        if (n > 0) output.segment(begin, n).noalias() = w.middleRows(begin, n) * input;
    }
    if (is_present(l.bias)) output += ConstVectorMap(l.bias.data(), out);
}

}  // namespace gaze
