// The parts of the encoder-decoder stack (see encoder_decoder.hpp): norms,
// and token embeddings.
#include "gaze/models/encoder_decoder.hpp"

namespace gaze {

void Norm::forward(const Tensor& x, Tensor& y) const {
    if (!is_present(bias)) {
        ops::rms_norm(x, weight, eps, y);
    } else {
        ops::layer_norm(x, weight, bias, eps, y);
    }
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


}  // namespace gaze
