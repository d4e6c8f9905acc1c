// oneDNN matmul kernels for ops::linear. oneDNN picks its code at run time
// (AMX, AVX512-BF16/VNNI, AVX-512, AVX2), so the library is built for a
// baseline and still runs each CPU's fastest GEMM.
//
// A primitive is built once per problem shape (M, N, K, strides, dtype, bias)
// and cached: creating one JITs code (~1 ms), executing one does not. Decoding
// reuses the M = 1 primitives, so no step creates anything.
#include <algorithm>
#include <cmath>
#include <limits>
#include <map>
#include <mutex>
#include <omp.h>

#include <oneapi/dnnl/dnnl.hpp>
#include <tuple>
#include <unordered_map>
#include <vector>

#include "linear_kernels.hpp"

namespace gaze::ops::kernels {
namespace {

using dt = dnnl::memory::data_type;

struct Key {
    dt src, weights, dst;
    int64_t m, n, k, ldx, ldw, ldy;
    bool transposed, bias;
    int threads;  // oneDNN sizes its work split when the primitive is made
    auto tie() const { return std::tie(src, weights, dst, m, n, k, ldx, ldw, ldy, transposed, bias, threads); }
    bool operator<(const Key& o) const { return tie() < o.tie(); }
};

struct Entry {
    bool available = false;  // oneDNN has an implementation for this CPU
    dnnl::matmul matmul;
    dnnl::memory::desc src, weights, bias, dst;
};

struct Context {
    dnnl::engine engine{dnnl::engine::kind::cpu, 0};
    dnnl::stream stream{engine};
    std::mutex mutex;
    std::map<Key, Entry> cache;
};

Context& context() {
    static Context* c = new Context();  // outlives every model (never destroyed at exit)
    return *c;
}

// The primitive for `key`, built on first use. Cached even when unavailable,
// so a CPU without the ISA asks oneDNN once per shape, not once per call.
const Entry& primitive(const Key& key) {
    Context& c = context();
    std::lock_guard<std::mutex> lock(c.mutex);
    auto it = c.cache.find(key);
    if (it != c.cache.end()) return it->second;
    Entry e;
    using dims = dnnl::memory::dims;
    e.src = dnnl::memory::desc(dims{key.m, key.k}, key.src, dims{key.ldx, 1});
    // out_in W [N, K] is the K x N operand with strides {1, K}; in_out W [K, N] is {N, 1}.
    e.weights = dnnl::memory::desc(dims{key.k, key.n}, key.weights, key.transposed ? dims{1, key.ldw} : dims{key.ldw, 1});
    e.bias = key.bias ? dnnl::memory::desc(dims{1, key.n}, dt::f32, dims{key.n, 1}) : dnnl::memory::desc();
    e.dst = dnnl::memory::desc(dims{key.m, key.n}, key.dst, dims{key.ldy, 1});
    try {
        const dnnl::matmul::desc d = key.bias ? dnnl::matmul::desc(e.src, e.weights, e.bias, e.dst)
                                              : dnnl::matmul::desc(e.src, e.weights, e.dst);
        e.matmul = dnnl::matmul(dnnl::matmul::primitive_desc(d, c.engine));
        e.available = true;
    } catch (const dnnl::error&) {
        e.available = false;  // unimplemented here: the caller falls back
    }
    return c.cache.emplace(key, std::move(e)).first->second;
}

void execute(const Entry& e, const void* src, const void* weights, const float* bias, void* dst) {
    Context& c = context();
    const dnnl::memory s(e.src, c.engine, const_cast<void*>(src));
    const dnnl::memory w(e.weights, c.engine, const_cast<void*>(weights));
    const dnnl::memory d(e.dst, c.engine, dst);
    std::unordered_map<int, dnnl::memory> args{{DNNL_ARG_SRC, s}, {DNNL_ARG_WEIGHTS, w}, {DNNL_ARG_DST, d}};
    if (bias) args.emplace(DNNL_ARG_BIAS, dnnl::memory(e.bias, c.engine, const_cast<float*>(bias)));
    e.matmul.execute(c.stream, args);
    c.stream.wait();
}

Key key_for(const LinearProblem& p, dt src, dt weights, dt dst, int64_t ldx, int64_t ldy, bool bias) {
    return {src, weights, dst, p.m, p.n, p.k, ldx, p.ldw, ldy, p.layout == WeightLayout::out_in, bias, omp_get_max_threads()};
}

// Scratch reused across calls on one thread (activations are small next to W).
template <class T>
T* scratch(std::vector<T>& buffer, size_t n) {
    if (buffer.size() < n) buffer.resize(n);
    return buffer.data();
}

}  // namespace

float quantize_row_int8(const float* row, int64_t k, int8_t* out) {
    float largest = 0.0f;
    bool finite = true;
    for (int64_t j = 0; j < k; ++j) {
        finite = finite && std::isfinite(row[j]);
        largest = std::max(largest, std::fabs(row[j]));
    }
    if (!finite) {
        std::fill_n(out, k, int8_t{0});
        return std::numeric_limits<float>::quiet_NaN();
    }
    const float scale = largest > 0.0f ? largest / 127.0f : 1.0f;
    const float inverse = 1.0f / scale;
    for (int64_t j = 0; j < k; ++j) out[j] = static_cast<int8_t>(std::nearbyint(row[j] * inverse));
    return scale;
}

bool onednn_f32(const LinearProblem& p) {
    const Entry& e = primitive(key_for(p, dt::f32, dt::f32, dt::f32, p.ldx, p.ldy, p.bias != nullptr));
    if (!e.available) return false;
    execute(e, p.x, p.weight->raw(), p.bias, p.y);
    return true;
}

bool onednn_bf16(const LinearProblem& p) {
    const Entry& e = primitive(key_for(p, dt::bf16, dt::bf16, dt::f32, p.k, p.ldy, p.bias != nullptr));
    if (!e.available) return false;
    thread_local std::vector<uint16_t> x16;
    uint16_t* x = scratch(x16, static_cast<size_t>(p.m * p.k));
#pragma omp parallel for schedule(static) if (p.m * p.k > (1 << 16))
    for (int64_t r = 0; r < p.m; ++r) convert_to_bf16(p.x + r * p.ldx, x + r * p.k, static_cast<size_t>(p.k));
    execute(e, x, p.weight->raw(), p.bias, p.y);
    return true;
}

// int8: each row of x gets its own scale (max |x| / 127), so one outlier token
// does not crush the resolution of the others; oneDNN 2.6 takes only one
// source scale, so it returns the int32 sums and the scales (row x channel)
// and the bias are applied here.
bool onednn_int8(const LinearProblem& p) {
    const Entry& e = primitive(key_for(p, dt::s8, dt::s8, dt::s32, p.k, p.n, false));
    if (!e.available) return false;
    thread_local std::vector<int8_t> x8;
    thread_local std::vector<float> row_scales;
    thread_local std::vector<int32_t> sums;
    int8_t* x = scratch(x8, static_cast<size_t>(p.m * p.k));
    float* sx = scratch(row_scales, static_cast<size_t>(p.m));
    int32_t* acc = scratch(sums, static_cast<size_t>(p.m * p.n));
#pragma omp parallel for schedule(static) if (p.m * p.k > (1 << 16))
    for (int64_t r = 0; r < p.m; ++r) sx[r] = quantize_row_int8(p.x + r * p.ldx, p.k, x + r * p.k);
    execute(e, x, p.weight->raw(), nullptr, acc);
    const float* sw = p.weight->quant_scales()->data();
#pragma omp parallel for schedule(static) if (p.m * p.n > (1 << 15))
    for (int64_t r = 0; r < p.m; ++r) {
        float* y = p.y + r * p.ldy;
        const int32_t* a = acc + r * p.n;
        for (int64_t j = 0; j < p.n; ++j) y[j] = scale_int8_sum(a[j], sx[r], sw[j], p.bias ? p.bias[j] : 0.0f);
    }
    return true;
}

}  // namespace gaze::ops::kernels
