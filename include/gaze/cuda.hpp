#pragma once
// The CUDA backend's host API (built when nvcc is found: GAZE_HAVE_CUDA).
//
// Device memory lives in DeviceTensor (allocated once, reused: resize keeps the
// capacity), every kernel and copy runs on the one stream of this process, and
// every CUDA/cuBLAS call and launch is checked: a failure throws gaze::Error
// naming the call. Without a GPU at run time the first call throws such an
// error; available() says so up front.
//
// Each kernel has its CPU reference in gaze::ops (named in its comment) and a
// comparison test (tests/test_cuda_*.cpp) on random inputs of awkward sizes
// with poisoned outputs. Shapes: "rows" means all leading dims flattened.
// The .cu files include it through nvcc (C++20, host code only).
#include <cstdint>
#include <span>
#include <string>

#include "gaze/ops.hpp"
#include "gaze/tensor.hpp"

namespace gaze::cuda {

// True when a CUDA device is usable; otherwise `why` (if given) says why not.
bool available(std::string* why = nullptr);
std::string device_name();
// Waits for all work queued on the stream (and rethrows a kernel fault, named).
void synchronize();

enum class DType { f32, bf16, i32 };

// A rows x cols window of float32 device memory, rows `stride` elements apart
// (a slice of a fused QKV projection is one).
struct DeviceMatrix {
    float* data = nullptr;
    int64_t rows = 0, cols = 0, stride = 0;
    DeviceMatrix columns(int64_t first, int64_t count) const { return {data + first, rows, count, stride}; }
};

// Contiguous device memory with a shape: owned, reused across calls.
class DeviceTensor {
public:
    DeviceTensor() = default;
    explicit DeviceTensor(const Shape& shape, DType dtype = DType::f32) { resize(shape, dtype); }
    ~DeviceTensor();
    DeviceTensor(DeviceTensor&& other) noexcept;
    DeviceTensor& operator=(DeviceTensor&& other) noexcept;
    DeviceTensor(const DeviceTensor&) = delete;
    DeviceTensor& operator=(const DeviceTensor&) = delete;

    // Reallocates only when the new size exceeds the capacity.
    void resize(const Shape& shape, DType dtype = DType::f32);
    const Shape& shape() const { return shape_; }
    int64_t dim(int i) const { return shape_[i < 0 ? i + shape_.rank() : i]; }
    int64_t numel() const { return shape_.numel(); }
    DType dtype() const { return dtype_; }
    size_t bytes() const;
    bool empty() const { return numel() == 0; }

    float* f32();
    const float* f32() const;
    uint16_t* bf16();
    const uint16_t* bf16() const;
    int32_t* i32();
    const int32_t* i32() const;
    void* raw() { return data_; }
    const void* raw() const { return data_; }
    // The float32 tensor as a matrix [rows, last dim].
    DeviceMatrix matrix();

    // Host -> device (resizing to the host shape). Strided host tensors are
    // copied contiguous first. upload_bf16 rounds to nearest even.
    void upload(const Tensor& host);
    void upload_bf16(const Tensor& host);
    void upload_ints(std::span<const int32_t> values);
    // Device -> host, waits for the stream (float32 tensors only).
    void download(Tensor& host) const;
    // Fills every byte with 0xFF (NaN in float32 and bfloat16): tests poison
    // outputs so that an element a kernel fails to write cannot pass.
    void poison();

private:
    void* data_ = nullptr;
    size_t capacity_ = 0;
    Shape shape_;
    DType dtype_ = DType::f32;
};

// ---- timing and bandwidth (benchmarks) ---------------------------------------

// Events recorded on the stream: milliseconds between start() and stop().
class EventTimer {
public:
    EventTimer();
    ~EventTimer();
    EventTimer(const EventTimer&) = delete;
    EventTimer& operator=(const EventTimer&) = delete;
    void start();
    double stop_ms();  // waits for the stop event
private:
    void* start_ = nullptr;
    void* stop_ = nullptr;
};
// Device-to-device copy of `bytes` bytes from src to dst on the stream.
void copy_device(void* dst, const void* src, size_t bytes);

// ---- softmax -------------------------------------------------------------------

// How scores are scaled and masked; the tensors live on the device.
struct DeviceMasking {
    float scale = 1.0f;
    bool causal = false;
    int64_t causal_offset = 0;  // query row i is position i + causal_offset
    int64_t window = 0;         // > 0: query i sees keys j > i + causal_offset - window (Mistral)
    const DeviceTensor* key_mask = nullptr;  // [B, Sk] additive (0 keep, -inf drop)
    const DeviceTensor* bias = nullptr;      // [1 or H, Sq, Sk] additive (T5 relative position bias)
};

// In place on scores [B, H, Sq, Sk]: p = softmax(scale * s + bias_h + key_mask_b)
// over the keys the causal/window masks leave; others get exactly 0, a row with
// every key masked becomes zeros. One read and one write of each score.
// CPU reference: ops::scaled_masked_softmax.
void scaled_masked_softmax(DeviceTensor& scores, const DeviceMasking& masking);

// ---- normalisation (fused with the residual add) ------------------------------

// sum = x + residual (residual may be null: sum = x), out = LayerNorm(sum) * gamma + beta.
// x, residual, out, sum [rows, H]; `sum` may be null (not stored) or alias x.
// CPU reference: ops::add, then ops::layer_norm.
void add_layer_norm(const DeviceTensor& x, const DeviceTensor* residual, const DeviceTensor& gamma,
                    const DeviceTensor& beta, float eps, DeviceTensor& out, DeviceTensor* sum = nullptr);
// The same with RMS norm: out = sum / sqrt(mean(sum^2) + eps) * weight.
// CPU reference: ops::add, then ops::rms_norm.
void add_rms_norm(const DeviceTensor& x, const DeviceTensor* residual, const DeviceTensor& weight, float eps,
                  DeviceTensor& out, DeviceTensor* sum = nullptr);

// ---- element-wise --------------------------------------------------------------

enum class Activation { identity, gelu_erf, gelu_tanh, relu };

// In place on x [rows, N]: x = act(x + bias), bias [N] or null.
// CPU reference: ops::add_row_broadcast, then ops::gelu_erf / gelu_tanh / relu.
void bias_activation(DeviceMatrix x, const DeviceTensor* bias, Activation act);
// gate_up [rows, 2F] (gate columns first) -> out [rows, F] = silu(gate) * up.
// CPU reference: ops::swiglu.
void swiglu(const DeviceTensor& gate_up, DeviceTensor& out);

// One embedding table and the ids to gather from it: table [V, H], ids [N] int32.
struct Gather {
    const DeviceTensor* table = nullptr;
    const DeviceTensor* ids = nullptr;
};
// out [N, H] = sum over the given gathers of table[ids[n]] (token + position
// (+ token type) embeddings in one pass). Ids must have been checked on the
// host (upload_checked_ids). CPU reference: ops::embedding_lookup, then ops::add.
void embedding_sum(std::span<const Gather> gathers, DeviceTensor& out);
// Checks every id against [0, vocab) (a gaze::Error naming `what` and the
// position otherwise) and uploads them.
void upload_checked_ids(std::span<const int32_t> ids, int64_t vocab, const char* what, DeviceTensor& out);

// In place on x [B*S, heads*head_dim] (strided rows allowed): HF rotate-half
// rotary embedding. For pair (i, i + d/2) of every head at position p:
//   angle = p * inv_freq[i]; (a, b) -> (a cos - b sin, b cos + a sin).
// positions [B*S] int32, inv_freq [d/2] (rotary_inverse_frequencies).
// CPU reference: the formula of ../shared/golden/README.md (test_cuda_kernels.cpp).
void rotary_embedding(DeviceMatrix x, int64_t head_dim, const DeviceTensor& positions, const DeviceTensor& inv_freq);
// inv_freq[i] = 1 / theta^(2i / d) in float32, as transformers computes it.
Tensor rotary_inverse_frequencies(int64_t head_dim, double theta);

// Copies new [B*n, W] rows (strided allowed) into cache [B, capacity, W] at
// positions [start, start + n). CPU reference: ops::kv_cache_append.
void kv_cache_append(DeviceMatrix rows, int64_t batch, DeviceTensor& cache, int64_t start);

// ---- attention -----------------------------------------------------------------

struct AttentionParams {
    int64_t batch = 1;
    int64_t heads = 1;     // query heads
    int64_t kv_heads = 0;  // 0 = heads; query head h reads kv head h / (heads / kv_heads)
    DeviceMasking masking;
};

// Fused attention: q [B*Sq, heads*d], k, v [B*Sk, kv_heads*d] (strided rows
// allowed) -> out [B, Sq, heads*d], and lse [B, heads, Sq] (each row's
// log-sum-exp of the masked scores, -inf for a row with every key masked) when
// given. Q K^T, online softmax and P V in one kernel, keys streamed through
// shared memory in tiles: nothing of size Sq x Sk is stored. head_dim <= 128.
// CPU reference: ops::attention.
void attention(DeviceMatrix q, DeviceMatrix k, DeviceMatrix v, const AttentionParams& params, DeviceTensor& out,
               DeviceTensor* lse = nullptr);
// Which probabilities to recompute: model head indices and query rows (empty
// rows = all), checked on the host and kept on the device for reuse.
struct ProbabilityRequest {
    DeviceTensor heads, rows;  // int32
    int64_t head_count = 0, row_count = 0;
    // Throws naming the index when a head is outside [0, heads) or a row outside [0, sq).
    void set(std::span<const int> head_indices, std::span<const int64_t> row_indices, int64_t heads, int64_t sq);
};
// The exact probabilities of the requested heads and rows, recomputed from q,
// k and the lse that attention() kept: out [B, heads, rows, Sk] =
// exp(masked score - lse). CPU reference: ops::attention's ProbabilityCapture.
void attention_probabilities(DeviceMatrix q, DeviceMatrix k, const AttentionParams& params, const DeviceTensor& lse,
                             const ProbabilityRequest& request, DeviceTensor& out);

// ---- GEMMs (cuBLAS) ------------------------------------------------------------

enum class Precision {
    fp32,  // float32 in, float32 arithmetic
    tf32,  // float32 in, tensor cores with 10-bit mantissa products, float32 accumulation
    bf16   // bfloat16 weights (and activations, rounded on the fly), float32 accumulation
};
const char* precision_name(Precision p);

// A linear layer's weight on the device: float32 (fp32/tf32) or bfloat16.
struct DeviceLinear {
    DeviceTensor weight;  // [out, in] (out_in) or [in, out] (in_out)
    DeviceTensor bias;    // [out] or empty
    ops::WeightLayout layout = ops::WeightLayout::out_in;
    // Uploads once; bf16 weights when `precision` is bf16.
    static DeviceLinear upload(const Tensor& weight, const Tensor& bias, ops::WeightLayout layout, Precision precision);
    int64_t in_features() const;
    int64_t out_features() const;
};

// x [rows, in] (strided rows allowed) -> out [rows, out] = act(x W^T + bias).
// `scratch` holds x in bfloat16 for Precision::bf16 (resized as needed).
// CPU reference: ops::linear (then the activation).
void linear(DeviceMatrix x, const DeviceLinear& layer, Precision precision, DeviceMatrix out, DeviceTensor& scratch,
            Activation act = Activation::identity);
// Batched row-major GEMM over heads for the materialising attention baseline
// (benchmarks): c_i [m, n] = alpha a_i [m, k] b_i^T (b_transposed) or a_i b_i.
void batched_gemm(const float* a, const float* b, float* c, int64_t batch, int64_t m, int64_t n, int64_t k,
                  bool b_transposed, float alpha, Precision precision);

}  // namespace gaze::cuda
