// Ops of decoder-only blocks: the SwiGLU gate and the KV-cache append (also
// the CPU references of the CUDA kernels swiglu and kv_cache_append).
#include <algorithm>
#include <cmath>

#include "gaze/ops.hpp"

namespace gaze::ops {

void swiglu(const Tensor& gate, const Tensor& up, Tensor& out) {
    if (gate.shape() != up.shape()) {
        throw Error("swiglu: gate " + gate.shape().str() + " and up " + up.shape().str() + " differ");
    }
    out.resize(gate.shape());
    const auto g = gate.matrix(), u = up.matrix();
    auto o = out.matrix();
    const int64_t rows = o.rows();
#pragma omp parallel for schedule(static) if (out.numel() > (1 << 15))
    for (int64_t r = 0; r < rows; ++r) {
        const auto gr = g.row(r).array();
        o.row(r).array() = gr / (1.0f + (-gr).exp()) * u.row(r).array();
    }
}

void kv_cache_append(const Tensor& rows, int64_t start, Tensor& cache) {
    if (rows.rank() != 3 || cache.rank() != 3 || rows.dim(0) != cache.dim(0) || rows.dim(2) != cache.dim(2) ||
        start < 0 || start + rows.dim(1) > cache.dim(1) || rows.stride(2) != 1) {
        throw Error("kv_cache_append: rows " + rows.shape().str() + " at position " + std::to_string(start) +
                    " do not fit the cache " + cache.shape().str());
    }
    const int64_t width = rows.dim(2);
    if (width == 0) return;
    for (int64_t b = 0; b < rows.dim(0); ++b)
        for (int64_t i = 0; i < rows.dim(1); ++i) std::copy_n(rows.ptr({b, i, 0}), width, cache.ptr({b, start + i, 0}));
}

}  // namespace gaze::ops
