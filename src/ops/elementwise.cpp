// Element-wise ops. Activations use Eigen's vectorised erf/tanh: a scalar
// std::erf per element would cost more than BERT-base's attention does.
#include <unsupported/Eigen/SpecialFunctions>

#include "gaze/ops.hpp"

namespace gaze::ops {
namespace {

// Applies f(first_row, row_count) to blocks of rows in parallel. The static
// schedule gives each thread the same rows as layer_norm's (for rows a
// multiple of 32 with 2 threads), so a residual add and the norm after it
// find their rows in the same core's cache.
template <typename F>
void for_row_ranges(int64_t rows, int64_t numel, F&& f) {
    const int64_t block = 16;
#pragma omp parallel for schedule(static) if (numel > (1 << 15))
    for (int64_t r0 = 0; r0 < rows; r0 += block) f(r0, std::min(block, rows - r0));
}

// Applies f to blocks of rows of x (as matrix [rows, H]) in parallel.
template <typename F>
void for_row_blocks(Tensor& x, F&& f) {
    auto m = x.matrix();
    for_row_ranges(m.rows(), x.numel(), [&](int64_t r0, int64_t n) {
        auto part = m.middleRows(r0, n);
        f(part);
    });
}

}  // namespace

void add(const Tensor& a, const Tensor& b, Tensor& out) {
    if (a.shape() != b.shape()) throw Error("add: shapes " + a.shape().str() + " and " + b.shape().str() + " differ");
    if (&out != &a) out.resize(a.shape());
    const auto ma = a.matrix(), mb = b.matrix();
    auto mo = out.matrix();
    for_row_ranges(mo.rows(), out.numel(), [&](int64_t r0, int64_t n) {
        mo.middleRows(r0, n) = ma.middleRows(r0, n) + mb.middleRows(r0, n);
    });
}

void copy(const Tensor& x, Tensor& out) {
    if (&out == &x) return;
    out.resize(x.shape());
    if (x.numel() == 0) return;
    const auto mx = x.matrix();
    auto mo = out.matrix();
    for_row_ranges(mo.rows(), out.numel(), [&](int64_t r0, int64_t n) { mo.middleRows(r0, n) = mx.middleRows(r0, n); });
}

void add_row_broadcast(Tensor& x, const Tensor& row) {
    if (row.numel() != x.dim(-1)) throw Error("add_row_broadcast: row of " + row.shape().str() + " for " + x.shape().str());
    const auto r = row.reshape({1, row.numel()}).matrix();
    for_row_blocks(x, [&](auto m) { m.rowwise() += r.row(0); });
}

void scale(Tensor& x, float s) {
    for_row_blocks(x, [&](auto m) { m *= s; });
}

void gelu_erf(Tensor& x) {
    for_row_blocks(x, [](auto m) {
        auto a = m.array();
        a = 0.5f * a * (1.0f + (a * static_cast<float>(M_SQRT1_2)).erf());
    });
}

void gelu_tanh(Tensor& x) {
    const float k = 0.7978845608028654f;  // sqrt(2 / pi)
    for_row_blocks(x, [&](auto m) {
        auto a = m.array();
        a = 0.5f * a * (1.0f + (k * (a + 0.044715f * a.cube())).tanh());
    });
}

void relu(Tensor& x) {
    for_row_blocks(x, [](auto m) { m = m.cwiseMax(0.0f); });
}

void multiply(Tensor& x, const Tensor& g) {
    if (x.shape() != g.shape()) throw Error("multiply: shapes " + x.shape().str() + " and " + g.shape().str() + " differ");
    const auto mg = g.matrix();
    auto mx = x.matrix();
    for_row_ranges(mx.rows(), x.numel(), [&](int64_t r0, int64_t n) {
        mx.middleRows(r0, n).array() *= mg.middleRows(r0, n).array();
    });
}

}  // namespace gaze::ops
