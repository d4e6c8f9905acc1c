// Scaled dot-product attention on the CPU, one (batch, head, tile of query
// rows) per task. Heads are read in place from [B, S, heads*d] rows (no split
// copy): a head is a strided matrix view. With grouped-query attention query
// head h reads kv head h / (heads / kv_heads), so k and v are never repeated. A tile's [rows, Sk] scores live in a
// thread-local buffer, so memory stays O(threads * kRowTile * Sk) however long
// the input, causal tiles skip the keys past their diagonal, and only the
// probabilities a capture asks for are copied out (a streaming capture gets
// them one tile of rows at a time).
#include <algorithm>
#include <cmath>
#include <limits>
#include <utility>
#include <vector>

#include "gaze/ops.hpp"

#ifdef GAZE_USE_BLAS
#include <cblas.h>
#endif

namespace gaze::ops {
namespace {

constexpr int64_t kRowTile = 64;  // query rows per task: a 4,096-key tile's scores are 1 MB

#ifdef GAZE_USE_BLAS
// The BLAS leading dimension of a head of t [B, S, heads*d]: the row stride
// (BLAS wants at least d even when S = 1 and the stride is never used).
int leading(const Tensor& t, int64_t d) { return static_cast<int>(std::max<int64_t>(t.stride(1), d)); }
#endif

ConstMatrixMap head_view(const Tensor& t, int64_t b, int64_t h, int64_t d) {  // h: this tensor's head
    return ConstMatrixMap(t.data() + b * t.stride(0) + h * d, t.dim(1), d, Eigen::OuterStride<>(t.stride(1)));
}

void check_attention_args(const Tensor& q, const Tensor& k, const Tensor& v, const AttentionOptions& o) {
    auto fail = [&](const std::string& why) {
        throw Error("attention: " + why + " (q " + q.shape().str() + ", k " + k.shape().str() + ", v " +
                    v.shape().str() + ", heads " + std::to_string(o.heads) + ")");
    };
    if (q.rank() != 3 || k.rank() != 3 || v.rank() != 3) fail("q, k, v must be [B, S, heads*d]");
    if (o.heads <= 0 || q.dim(2) % o.heads != 0) fail("width is not a multiple of heads");
    const int64_t kv_heads = o.kv_heads == 0 ? o.heads : o.kv_heads;
    if (kv_heads <= 0 || o.heads % kv_heads != 0) {
        fail("heads must be a multiple of kv_heads " + std::to_string(o.kv_heads));
    }
    if (o.window < 0) fail("window must be >= 0, got " + std::to_string(o.window));
    if (k.dim(0) != q.dim(0) || v.dim(0) != q.dim(0)) fail("batch sizes differ");
    if (k.dim(2) * o.heads != q.dim(2) * kv_heads || v.dim(2) != k.dim(2)) {
        fail("k and v widths must be kv_heads * d");
    }
    if (v.dim(1) != k.dim(1)) fail("k and v lengths differ");
    if (q.stride(2) != 1 || k.stride(2) != 1 || v.stride(2) != 1) fail("last dim must be dense");
    if (o.key_mask && o.key_mask->shape() != Shape{q.dim(0), k.dim(1)}) fail("key_mask must be [B, Sk]");
    if (o.bias) {
        const Tensor& bias = *o.bias;
        if (bias.rank() != 3 || (bias.dim(0) != 1 && bias.dim(0) != o.heads) || bias.dim(1) != q.dim(1) ||
            bias.dim(2) != k.dim(1)) {
            fail("bias must be [1 or heads, Sq, Sk], got " + bias.shape().str());
        }
    }
}

// Softmax of a row over keys [first, limit); keys outside get exactly 0.
void masked_softmax_row(float* row, int64_t first, int64_t limit, int64_t sk) {
    first = std::clamp<int64_t>(first, 0, limit);
    std::fill(row, row + first, 0.0f);
    row += first;
    limit -= first;
    sk -= first;
    Eigen::Map<Eigen::ArrayXf> valid(row, std::max<int64_t>(limit, 0));
    const float max = limit > 0 ? valid.maxCoeff() : -std::numeric_limits<float>::infinity();
    if (max == -std::numeric_limits<float>::infinity()) {
        std::fill(row, row + sk, 0.0f);  // every key masked: attend to nothing
        return;
    }
    valid = (valid - max).exp();  // vectorised (a select() around it would make Eigen call expf per element)
    // Masked keys (-inf) must get exactly 0, but Eigen's vectorised exp clamps
    // its input to about -88.4 and returns ~4e-39 there: zero everything below
    // float's smallest normal number (an unmasked key that far below the row's
    // maximum has a weight under 1e-38 anyway).
    for (int64_t j = 0; j < limit; ++j) row[j] = row[j] < std::numeric_limits<float>::min() ? 0.0f : row[j];
    valid *= 1.0f / valid.sum();
    std::fill(row + limit, row + sk, 0.0f);
}

// One tile: query rows [r0, r1) of head h of sequence b. Scores live in
// `scores` ([rows, keys seen], row-major); `visible` keys are computed (a
// causal tile needs none past its last row's diagonal). Probabilities of the
// captured rows go to `dst` (rows [c0, c1) of `rows`, each as Sk values; keys
// not computed get 0).
struct Tile {
    int64_t b, h, r0, r1;
};

void attend_tile(const Tensor& q, const Tensor& k, const Tensor& v, const AttentionOptions& o, Tensor& out,
                 const Tile& t, RowMatrix& scores, const ProbabilityCapture* capture, int64_t c0, int64_t c1,
                 float* dst) {
    const int64_t sk = k.dim(1), heads = o.heads, d = q.dim(2) / heads, b = t.b, h = t.h;
    const int64_t kvh = h / (heads / (o.kv_heads == 0 ? heads : o.kv_heads));  // the kv head query head h reads
    const int64_t rows = t.r1 - t.r0;
    const int64_t visible = o.causal ? std::clamp<int64_t>(t.r1 + o.causal_offset, 0, sk) : sk;
    scores.resize(rows, std::max<int64_t>(visible, 1));
    float* oh = out.data() + b * out.stride(0) + t.r0 * heads * d + h * d;  // [rows, d], row stride heads * d
    const float* qh = q.data() + b * q.stride(0) + t.r0 * q.stride(1) + h * d;
#ifdef GAZE_USE_BLAS
    // Single-threaded inside the parallel loop (OpenBLAS's OpenMP build does
    // not nest); its small-matrix kernels beat Eigen's here.
    const bool use_blas = visible > 0 && d > 0;
#else
    const bool use_blas = false;
#endif
    if (visible > 0) {
        if (use_blas) {
#ifdef GAZE_USE_BLAS
            // scores = scale * q_h k_h^T (the scale applied as alpha).
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, static_cast<int>(rows), static_cast<int>(visible),
                        static_cast<int>(d), o.scale, qh, leading(q, d), k.data() + b * k.stride(0) + kvh * d, leading(k, d),
                        0.0f, scores.data(), static_cast<int>(visible));
#endif
        } else {
            const ConstMatrixMap qt(qh, rows, d, Eigen::OuterStride<>(q.stride(1)));
            scores.noalias() = qt * head_view(k, b, kvh, d).topRows(visible).transpose();
            if (o.scale != 1.0f) scores *= o.scale;
        }
    }
    // Bias, key mask and softmax row by row, while the row is in L1.
    const float* bias_plane = o.bias ? o.bias->data() + (o.bias->dim(0) == 1 ? 0 : h) * o.bias->stride(0) : nullptr;
    const float* mask = o.key_mask ? o.key_mask->data() + b * sk : nullptr;
    for (int64_t r = 0; r < rows && visible > 0; ++r) {
        const int64_t i = t.r0 + r;
        Eigen::Map<Eigen::ArrayXf> row(scores.data() + r * visible, visible);
        if (bias_plane) row += Eigen::Map<const Eigen::ArrayXf>(bias_plane + i * o.bias->stride(1), visible);
        if (mask) row += Eigen::Map<const Eigen::ArrayXf>(mask, visible);
        const int64_t limit = o.causal ? std::clamp<int64_t>(i + o.causal_offset + 1, 0, visible) : visible;
        // Sliding window: key j is visible while j > (i + causal_offset) - window.
        const int64_t first = o.window > 0 ? i + o.causal_offset - o.window + 1 : 0;
        masked_softmax_row(row.data(), first, limit, visible);
    }
    if (visible == 0) {
        for (int64_t r = 0; r < rows; ++r) std::fill_n(oh + r * heads * d, d, 0.0f);  // no key: attend to nothing
    } else if (use_blas) {
#ifdef GAZE_USE_BLAS
        // out_h = p v_h
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, static_cast<int>(rows), static_cast<int>(d),
                    static_cast<int>(visible), 1.0f, scores.data(), static_cast<int>(visible),
                    v.data() + b * v.stride(0) + kvh * d, leading(v, d), 0.0f, oh, static_cast<int>(heads * d));
#endif
    } else {
        MatrixMap(oh, rows, d, Eigen::OuterStride<>(heads * d)).noalias() = scores * head_view(v, b, kvh, d).topRows(visible);
    }
    if (!dst) return;
    for (int64_t c = c0; c < c1; ++c) {
        const int64_t r = (capture->rows.empty() ? c : capture->rows[static_cast<size_t>(c)]) - t.r0;
        float* to = dst + (c - c0) * sk;
        if (visible > 0) std::copy_n(scores.data() + r * visible, visible, to);
        std::fill(to + visible, to + sk, 0.0f);
    }
}

// The captured rows (indices into capture->rows, or rows themselves when it
// is empty) that fall in query rows [r0, r1): [first, second).
std::pair<int64_t, int64_t> captured_in(const ProbabilityCapture* capture, int64_t r0, int64_t r1) {
    if (capture->rows.empty()) return {r0, r1};
    const auto lo = std::lower_bound(capture->rows.begin(), capture->rows.end(), r0);
    const auto hi = std::lower_bound(lo, capture->rows.end(), r1);
    return {lo - capture->rows.begin(), hi - capture->rows.begin()};
}

}  // namespace

void attention(const Tensor& q, const Tensor& k, const Tensor& v, const AttentionOptions& o, Tensor& out,
               const ProbabilityCapture* capture) {
    check_attention_args(q, k, v, o);
    const int64_t batch = q.dim(0), sq = q.dim(1), sk = k.dim(1), heads = o.heads, d = q.dim(2) / heads;
    out.resize({batch, sq, heads * d});

    // Map model head -> slot in the capture tensor (-1: not captured).
    std::vector<int> slot(static_cast<size_t>(heads), -1);
    const bool capturing = capture && capture->out;
    int64_t captured_rows = 0;
    if (capturing) {
        for (size_t i = 0; i < capture->heads.size(); ++i) {
            const int h = capture->heads[i];
            if (h < 0 || h >= heads) throw Error("attention: captured head " + std::to_string(h) + " out of range");
            slot[static_cast<size_t>(h)] = static_cast<int>(i);
        }
        for (size_t i = 0; i < capture->rows.size(); ++i) {
            const int64_t r = capture->rows[i];
            if (r < 0 || r >= sq) throw Error("attention: captured query row " + std::to_string(r) + " out of range");
            if (i > 0 && r <= capture->rows[i - 1]) throw Error("attention: captured query rows must ascend");
        }
        captured_rows = capture->rows.empty() ? sq : static_cast<int64_t>(capture->rows.size());
    }
    const auto captured_heads = capturing ? static_cast<int64_t>(capture->heads.size()) : 0;
    const int64_t tiles = (sq + kRowTile - 1) / kRowTile;
    // Where (b, h)'s captured rows [c0, c1) go: rows of a [B, heads, n, Sk] capture buffer.
    auto destination = [&](int64_t b, int64_t h, int64_t c0, int64_t n) -> float* {
        const int s = slot[static_cast<size_t>(h)];
        if (s < 0) return nullptr;
        return capture->out->data() + ((b * captured_heads + s) * n + c0) * sk;
    };

    if (capturing && capture->on_block) {
        // One tile of rows at a time: the capture buffer holds only its rows,
        // handed over before the next tile overwrites them.
        for (int64_t tile = 0; tile < tiles; ++tile) {
            const int64_t r0 = tile * kRowTile, r1 = std::min(sq, r0 + kRowTile);
            // Plain variables, not a structured binding: clang 14 cannot
            // capture those into the OpenMP region below.
            const std::pair<int64_t, int64_t> captured = captured_in(capture, r0, r1);
            const int64_t c0 = captured.first, c1 = captured.second;
            if (c1 > c0) capture->out->resize({batch, captured_heads, c1 - c0, sk});
#pragma omp parallel
            {
                thread_local RowMatrix scores;
#pragma omp for collapse(2) schedule(static)
                for (int64_t b = 0; b < batch; ++b) {
                    for (int64_t h = 0; h < heads; ++h) {
                        float* dst = c1 > c0 ? destination(b, h, 0, c1 - c0) : nullptr;
                        attend_tile(q, k, v, o, out, {b, h, r0, r1}, scores, capture, c0, c1, dst);
                    }
                }
            }
            if (c1 > c0) capture->on_block(static_cast<size_t>(c0), static_cast<size_t>(c1 - c0));
        }
        return;
    }
    if (capturing) capture->out->resize({batch, captured_heads, captured_rows, sk});
#pragma omp parallel
    {
        thread_local RowMatrix scores;
#pragma omp for collapse(3) schedule(dynamic)
        for (int64_t b = 0; b < batch; ++b) {
            for (int64_t h = 0; h < heads; ++h) {
                for (int64_t tile = 0; tile < tiles; ++tile) {
                    const int64_t r0 = tile * kRowTile, r1 = std::min(sq, r0 + kRowTile);
                    const auto [c0, c1] = capturing ? captured_in(capture, r0, r1) : std::pair<int64_t, int64_t>{0, 0};
                    float* dst = c1 > c0 ? destination(b, h, c0, captured_rows) : nullptr;
                    attend_tile(q, k, v, o, out, {b, h, r0, r1}, scores, capture, c0, c1, dst);
                }
            }
        }
    }
}

void scaled_masked_softmax(Tensor& scores, const SoftmaxMasking& m) {
    if (scores.rank() != 4 || !scores.is_contiguous()) {
        throw Error("scaled_masked_softmax: expected contiguous [B, H, Sq, Sk], got " + scores.shape().str());
    }
    const int64_t batch = scores.dim(0), heads = scores.dim(1), sq = scores.dim(2), sk = scores.dim(3);
    if (m.key_mask && m.key_mask->shape() != Shape{batch, sk}) throw Error("scaled_masked_softmax: key_mask must be [B, Sk]");
    if (m.window < 0) throw Error("scaled_masked_softmax: window must be >= 0, got " + std::to_string(m.window));
    if (m.bias && (m.bias->rank() != 3 || (m.bias->dim(0) != 1 && m.bias->dim(0) != heads) || m.bias->dim(1) != sq ||
                   m.bias->dim(2) != sk)) {
        throw Error("scaled_masked_softmax: bias must be [1 or H, Sq, Sk], got " + m.bias->shape().str());
    }
#pragma omp parallel for collapse(2) schedule(static) if (scores.numel() > (1 << 15))
    for (int64_t b = 0; b < batch; ++b) {
        for (int64_t h = 0; h < heads; ++h) {
            MatrixMap plane(scores.ptr({b, h, 0, 0}), sq, sk, Eigen::OuterStride<>(sk));
            if (m.scale != 1.0f) plane *= m.scale;
            if (m.bias) plane += m.bias->select(0, m.bias->dim(0) == 1 ? 0 : h).matrix();
            if (m.key_mask) plane.rowwise() += m.key_mask->select(0, b).reshape({1, sk}).matrix().row(0);
            for (int64_t i = 0; i < sq; ++i) {
                const int64_t limit = m.causal ? std::clamp<int64_t>(i + m.causal_offset + 1, 0, sk) : sk;
                // Sliding window (Mistral): keys j <= i + causal_offset - window get 0.
                const int64_t first = m.window > 0 ? i + m.causal_offset - m.window + 1 : 0;
                masked_softmax_row(plane.data() + i * sk, first, limit, sk);
            }
        }
    }
}

void softmax_rows(Tensor& x) {
    auto m = x.matrix();
    for (int64_t r = 0; r < m.rows(); ++r) {
        auto row = m.row(r).array();
        const float max = row.maxCoeff();
        row = (row - max).exp();
        row /= row.sum();
    }
}

void split_heads(const Tensor& x, int64_t heads, Tensor& out) {
    if (x.rank() != 3 || heads <= 0 || x.dim(2) % heads != 0) {
        throw Error("split_heads: cannot split " + x.shape().str() + " into " + std::to_string(heads) + " heads");
    }
    const int64_t batch = x.dim(0), seq = x.dim(1), d = x.dim(2) / heads;
    out.resize({batch, heads, seq, d});
    for (int64_t b = 0; b < batch; ++b)
        for (int64_t h = 0; h < heads; ++h)
            for (int64_t s = 0; s < seq; ++s)
                std::copy_n(x.data() + b * x.stride(0) + s * x.stride(1) + h * d, d,
                            out.data() + ((b * heads + h) * seq + s) * d);
}

void merge_heads(const Tensor& x, Tensor& out) {
    if (x.rank() != 4) throw Error("merge_heads: expected [B, heads, S, d], got " + x.shape().str());
    const int64_t batch = x.dim(0), heads = x.dim(1), seq = x.dim(2), d = x.dim(3);
    // Read through the strides: no contiguous copy first (and views whose
    // leading dims do not collapse, e.g. a slice along S, work too).
    out.resize({batch, seq, heads * d});
    for (int64_t b = 0; b < batch; ++b)
        for (int64_t h = 0; h < heads; ++h)
            for (int64_t s = 0; s < seq; ++s) {
                const float* src = x.data() + b * x.stride(0) + h * x.stride(1) + s * x.stride(2);
                float* dst = out.data() + (b * seq + s) * heads * d + h * d;
                if (x.stride(3) == 1) {
                    std::copy_n(src, d, dst);
                } else {
                    for (int64_t i = 0; i < d; ++i) dst[i] = src[i * x.stride(3)];
                }
            }
}

void additive_key_mask(std::span<const uint8_t> mask, int64_t batch, int64_t seq, Tensor& out) {
    if (static_cast<int64_t>(mask.size()) != batch * seq) {
        throw Error("attention mask has " + std::to_string(mask.size()) + " entries, expected " +
                    std::to_string(batch * seq));
    }
    out.resize({batch, seq});
    for (int64_t i = 0; i < batch * seq; ++i) {
        out.data()[i] = mask[static_cast<size_t>(i)] ? 0.0f : -std::numeric_limits<float>::infinity();
    }
}

}  // namespace gaze::ops
