// Element-wise and gather kernels: bias + activation, SwiGLU, embedding sums,
// rotary embedding, KV-cache append, float32 -> bfloat16. One thread per
// output element (or element pair), grid-stride loops; each kernel's CPU
// reference is named in include/gaze/cuda.hpp.
#include <cuda_bf16.h>

#include "check.cuh"
#include "gaze/cuda.hpp"

namespace gaze::cuda {
namespace {

constexpr int kThreads = 256;

__device__ float activate(float v, Activation act) {
    switch (act) {
        case Activation::gelu_erf: return 0.5f * v * (1.f + erff(v * 0.70710678118654752f));
        case Activation::gelu_tanh: {
            const float k = 0.7978845608028654f;  // sqrt(2 / pi)
            return 0.5f * v * (1.f + tanhf(k * (v + 0.044715f * v * v * v)));
        }
        case Activation::relu: return fmaxf(v, 0.f);
        case Activation::identity: break;
    }
    return v;
}

// Grid-stride loop over `count` items.
#define GAZE_FOR_EACH(index, count) \
    for (long long index = blockIdx.x * (long long)blockDim.x + threadIdx.x; index < (count); index += (long long)gridDim.x * blockDim.x)

unsigned grid_for(long long count) { return std::min<unsigned>(blocks_for(count, kThreads), 65535u * 8u); }

__global__ void bias_activation_kernel(DeviceMatrix x, const float* bias, Activation act) {
    GAZE_FOR_EACH(e, x.rows * x.cols) {
        const long long r = e / x.cols, c = e % x.cols;
        float& v = x.data[r * x.stride + c];
        v = activate(bias ? v + bias[c] : v, act);
    }
}

__global__ void swiglu_kernel(const float* gate_up, float* out, long long rows, long long width) {
    GAZE_FOR_EACH(e, rows * width) {
        const long long r = e / width, c = e % width;
        const float g = gate_up[r * 2 * width + c], u = gate_up[r * 2 * width + width + c];
        out[e] = g / (1.f + expf(-g)) * u;
    }
}

constexpr int kMaxGathers = 3;
struct Gathers {
    const float* table[kMaxGathers];
    const int32_t* ids[kMaxGathers];
    int count;
};

__global__ void embedding_sum_kernel(Gathers g, float* out, long long n, long long hidden) {
    GAZE_FOR_EACH(e, n * hidden) {
        const long long row = e / hidden, c = e % hidden;
        float v = 0.f;
        for (int t = 0; t < g.count; ++t) v += g.table[t][(long long)g.ids[t][row] * hidden + c];
        out[e] = v;
    }
}

// One thread per (row, head, pair i): pairs (i, i + d/2) of the HF layout.
__global__ void rotary_kernel(DeviceMatrix x, long long head_dim, const int32_t* positions, const float* inv_freq) {
    const long long half = head_dim / 2, heads = x.cols / head_dim;
    GAZE_FOR_EACH(e, x.rows * heads * half) {
        const long long row = e / (heads * half), h = (e / half) % heads, i = e % half;
        const float angle = static_cast<float>(positions[row]) * inv_freq[i];
        float s, c;
        sincosf(angle, &s, &c);
        float* p = x.data + row * x.stride + h * head_dim;
        const float a = p[i], b = p[i + half];
        p[i] = a * c - b * s;
        p[i + half] = b * c + a * s;
    }
}

__global__ void kv_append_kernel(DeviceMatrix rows, long long per_batch, float* cache, long long capacity,
                                 long long start) {
    GAZE_FOR_EACH(e, rows.rows * rows.cols) {
        const long long r = e / rows.cols, c = e % rows.cols;
        const long long b = r / per_batch, i = r % per_batch;
        cache[(b * capacity + start + i) * rows.cols + c] = rows.data[r * rows.stride + c];
    }
}

__global__ void round_to_bf16_kernel(DeviceMatrix x, __nv_bfloat16* out) {
    GAZE_FOR_EACH(e, x.rows * x.cols) {
        const long long r = e / x.cols, c = e % x.cols;
        out[e] = __float2bfloat16_rn(x.data[r * x.stride + c]);
    }
}

void check_matrix(const char* op, const DeviceMatrix& m) {
    if (m.rows < 0 || m.cols < 0 || (m.rows > 0 && m.stride < m.cols)) {
        throw Error(std::string(op) + ": bad matrix view (" + std::to_string(m.rows) + " x " + std::to_string(m.cols) +
                    ", stride " + std::to_string(m.stride) + ")");
    }
}

}  // namespace

void bias_activation(DeviceMatrix x, const DeviceTensor* bias, Activation act) {
    check_matrix("cuda::bias_activation", x);
    if (bias && bias->numel() != x.cols) {
        throw Error("cuda::bias_activation: bias " + bias->shape().str() + " for " + std::to_string(x.cols) + " columns");
    }
    if (x.rows * x.cols == 0) return;
    bias_activation_kernel<<<grid_for(x.rows * x.cols), kThreads, 0, stream()>>>(x, bias ? bias->f32() : nullptr, act);
    GAZE_CUDA_CHECK_LAUNCH("bias_activation_kernel");
}

void swiglu(const DeviceTensor& gate_up, DeviceTensor& out) {
    const Shape& s = gate_up.shape();
    if (s.rank() < 1 || s[s.rank() - 1] % 2 != 0) {
        throw Error("cuda::swiglu: gate_up must be [rows, 2F], got " + s.str());
    }
    Shape half = s;
    half[s.rank() - 1] /= 2;
    out.resize(half);
    const long long width = half[s.rank() - 1], rows = width ? half.numel() / width : 0;
    if (rows * width == 0) return;
    swiglu_kernel<<<grid_for(rows * width), kThreads, 0, stream()>>>(gate_up.f32(), out.f32(), rows, width);
    GAZE_CUDA_CHECK_LAUNCH("swiglu_kernel");
}

void embedding_sum(std::span<const Gather> gathers, DeviceTensor& out) {
    if (gathers.empty() || gathers.size() > kMaxGathers) {
        throw Error("cuda::embedding_sum: 1 to " + std::to_string(kMaxGathers) + " tables, got " +
                    std::to_string(gathers.size()));
    }
    for (const Gather& x : gathers) {
        if (!x.table || !x.ids) throw Error("cuda::embedding_sum: a gather without its table or ids");
    }
    Gathers g{};
    const int64_t n = gathers[0].ids->numel(), hidden = gathers[0].table->dim(-1);
    for (size_t t = 0; t < gathers.size(); ++t) {
        const Gather& x = gathers[t];
        if (x.table->shape().rank() != 2 || x.table->dim(1) != hidden || x.ids->dtype() != DType::i32 ||
            x.ids->numel() != n) {
            throw Error("cuda::embedding_sum: table " + std::to_string(t) + " " + x.table->shape().str() + " with " +
                        std::to_string(x.ids->numel()) + " ids does not match [V, " + std::to_string(hidden) +
                        "] with " + std::to_string(n) + " int32 ids");
        }
        g.table[t] = x.table->f32();
        g.ids[t] = x.ids->i32();
    }
    g.count = static_cast<int>(gathers.size());
    out.resize({n, hidden});
    if (n * hidden == 0) return;
    embedding_sum_kernel<<<grid_for(n * hidden), kThreads, 0, stream()>>>(g, out.f32(), n, hidden);
    GAZE_CUDA_CHECK_LAUNCH("embedding_sum_kernel");
}

void rotary_embedding(DeviceMatrix x, int64_t head_dim, const DeviceTensor& positions, const DeviceTensor& inv_freq) {
    check_matrix("cuda::rotary_embedding", x);
    if (head_dim <= 0 || head_dim % 2 != 0 || x.cols % head_dim != 0 || inv_freq.numel() != head_dim / 2 ||
        positions.dtype() != DType::i32 || positions.numel() != x.rows) {
        throw Error("cuda::rotary_embedding: x [" + std::to_string(x.rows) + ", " + std::to_string(x.cols) +
                    "], head_dim " + std::to_string(head_dim) + ", " + std::to_string(positions.numel()) +
                    " positions and " + std::to_string(inv_freq.numel()) + " frequencies do not fit together");
    }
    const long long pairs = x.rows * (x.cols / head_dim) * (head_dim / 2);
    if (pairs == 0) return;
    rotary_kernel<<<grid_for(pairs), kThreads, 0, stream()>>>(x, head_dim, positions.i32(), inv_freq.f32());
    GAZE_CUDA_CHECK_LAUNCH("rotary_kernel");
}

void kv_cache_append(DeviceMatrix rows, int64_t batch, DeviceTensor& cache, int64_t start) {
    check_matrix("cuda::kv_cache_append", rows);
    const Shape& c = cache.shape();
    if (batch <= 0 || rows.rows % batch != 0 || c.rank() != 3 || c[0] != batch || c[2] != rows.cols || start < 0 ||
        start + rows.rows / batch > c[1]) {
        throw Error("cuda::kv_cache_append: " + std::to_string(rows.rows) + " rows of " + std::to_string(rows.cols) +
                    " for batch " + std::to_string(batch) + " at position " + std::to_string(start) +
                    " do not fit the cache " + c.str());
    }
    if (rows.rows * rows.cols == 0) return;
    kv_append_kernel<<<grid_for(rows.rows * rows.cols), kThreads, 0, stream()>>>(rows, rows.rows / batch, cache.f32(),
                                                                                  c[1], start);
    GAZE_CUDA_CHECK_LAUNCH("kv_append_kernel");
}

namespace detail {
void round_to_bf16(const DeviceMatrix& x, uint16_t* out) {
    if (x.rows * x.cols == 0) return;
    round_to_bf16_kernel<<<grid_for(x.rows * x.cols), kThreads, 0, stream()>>>(x, reinterpret_cast<__nv_bfloat16*>(out));
    GAZE_CUDA_CHECK_LAUNCH("round_to_bf16_kernel");
}
}  // namespace detail

}  // namespace gaze::cuda
