// The CUDA runtime side of the backend: device discovery, the one stream and
// cuBLAS handle, device tensors, host<->device copies, event timing. Host code
// only (compiled by the C++ compiler, linked against cudart and cuBLAS).
#include <cmath>
#include <cstring>
#include <utility>
#include <vector>

#include "check.cuh"
#include "gaze/cuda.hpp"

namespace gaze::cuda {
namespace {

struct Context {
    cudaStream_t stream = nullptr;
    cublasHandle_t cublas = nullptr;
    Context() {
        GAZE_CUDA_CHECK(cudaStreamCreateWithFlags(&stream, cudaStreamNonBlocking));
        GAZE_CUDA_CHECK(cublasCreate(&cublas));
        GAZE_CUDA_CHECK(cublasSetStream(cublas, stream));
    }
    ~Context() {  // at exit; errors here (driver already shutting down) are moot
        cublasDestroy(cublas);
        cudaStreamDestroy(stream);
    }
};

Context& context() {
    static Context c;
    return c;
}

size_t dtype_size(DType t) { return t == DType::bf16 ? 2 : 4; }

const char* dtype_name(DType t) {
    switch (t) {
        case DType::f32: return "float32";
        case DType::bf16: return "bfloat16";
        case DType::i32: return "int32";
    }
    return "?";
}

// float32 -> bfloat16, round to nearest even; NaN stays NaN.
uint16_t to_bf16(float f) {
    uint32_t u;
    std::memcpy(&u, &f, 4);
    if ((u & 0x7fffffffu) > 0x7f800000u) return static_cast<uint16_t>((u >> 16) | 0x40u);
    u += 0x7fffu + ((u >> 16) & 1u);
    return static_cast<uint16_t>(u >> 16);
}

}  // namespace

cudaStream_t stream() { return context().stream; }
cublasHandle_t cublas() { return context().cublas; }

bool available(std::string* why) {
    int count = 0;
    const cudaError_t status = cudaGetDeviceCount(&count);
    if (status != cudaSuccess || count == 0) {
        if (why) *why = status != cudaSuccess ? cudaGetErrorString(status) : "no CUDA device";
        cudaGetLastError();  // clear the error so later calls start clean
        return false;
    }
    return true;
}

std::string device_name() {
    cudaDeviceProp prop{};
    GAZE_CUDA_CHECK(cudaGetDeviceProperties(&prop, 0));
    return prop.name;
}

void synchronize() { GAZE_CUDA_CHECK(cudaStreamSynchronize(stream())); }

// ---- DeviceTensor ----------------------------------------------------------------

DeviceTensor::~DeviceTensor() {
    if (data_) cudaFree(data_);
}

DeviceTensor::DeviceTensor(DeviceTensor&& o) noexcept
    : data_(std::exchange(o.data_, nullptr)), capacity_(std::exchange(o.capacity_, 0)), shape_(o.shape_),
      dtype_(o.dtype_) {}

DeviceTensor& DeviceTensor::operator=(DeviceTensor&& o) noexcept {
    if (this != &o) {
        if (data_) cudaFree(data_);
        data_ = std::exchange(o.data_, nullptr);
        capacity_ = std::exchange(o.capacity_, 0);
        shape_ = o.shape_;
        dtype_ = o.dtype_;
    }
    return *this;
}

size_t DeviceTensor::bytes() const { return static_cast<size_t>(numel()) * dtype_size(dtype_); }

void DeviceTensor::resize(const Shape& shape, DType dtype) {
    const size_t need = static_cast<size_t>(shape.numel()) * dtype_size(dtype);
    if (need > capacity_) {
        if (data_) {
            // Work queued on the stream may still read the old buffer.
            GAZE_CUDA_CHECK(cudaStreamSynchronize(stream()));
            GAZE_CUDA_CHECK(cudaFree(data_));
            data_ = nullptr;
            capacity_ = 0;
        }
        GAZE_CUDA_CHECK(cudaMalloc(&data_, need));
        capacity_ = need;
    }
    shape_ = shape;
    dtype_ = dtype;
}

namespace {
template <typename T>
T* typed(void* data, DType have, DType want) {
    if (have != want) {
        throw Error(std::string("DeviceTensor holds ") + dtype_name(have) + ", read as " + dtype_name(want));
    }
    return static_cast<T*>(data);
}
}  // namespace

float* DeviceTensor::f32() { return typed<float>(data_, dtype_, DType::f32); }
const float* DeviceTensor::f32() const { return typed<float>(data_, dtype_, DType::f32); }
uint16_t* DeviceTensor::bf16() { return typed<uint16_t>(data_, dtype_, DType::bf16); }
const uint16_t* DeviceTensor::bf16() const { return typed<uint16_t>(data_, dtype_, DType::bf16); }
int32_t* DeviceTensor::i32() { return typed<int32_t>(data_, dtype_, DType::i32); }
const int32_t* DeviceTensor::i32() const { return typed<int32_t>(data_, dtype_, DType::i32); }

DeviceMatrix DeviceTensor::matrix() {
    const int64_t cols = shape_.rank() == 0 ? 1 : dim(-1);
    return {f32(), cols ? numel() / cols : 0, cols, cols};
}

void DeviceTensor::upload(const Tensor& host) {
    const Tensor dense = host.is_contiguous() ? host : host.clone();
    resize(host.shape(), DType::f32);
    if (bytes()) GAZE_CUDA_CHECK(cudaMemcpyAsync(data_, dense.data(), bytes(), cudaMemcpyHostToDevice, stream()));
}

void DeviceTensor::upload_bf16(const Tensor& host) {
    const std::vector<float> values = host.to_vector();
    std::vector<uint16_t> rounded(values.size());
    for (size_t i = 0; i < values.size(); ++i) rounded[i] = to_bf16(values[i]);
    resize(host.shape(), DType::bf16);
    // From pageable memory the copy is staged before the call returns, so
    // `rounded` may die with this scope.
    if (bytes()) GAZE_CUDA_CHECK(cudaMemcpyAsync(data_, rounded.data(), bytes(), cudaMemcpyHostToDevice, stream()));
}

void DeviceTensor::upload_ints(std::span<const int32_t> values) {
    resize(Shape{static_cast<int64_t>(values.size())}, DType::i32);
    if (bytes()) GAZE_CUDA_CHECK(cudaMemcpyAsync(data_, values.data(), bytes(), cudaMemcpyHostToDevice, stream()));
}

void DeviceTensor::download(Tensor& host) const {
    if (dtype_ != DType::f32) throw Error(std::string("DeviceTensor::download: holds ") + dtype_name(dtype_));
    if (host.shape() != shape_ || host.data() == nullptr) host.resize(shape_);  // a view of the right shape is kept
    if (!host.is_contiguous()) throw Error("DeviceTensor::download: host tensor is not contiguous");
    if (bytes()) GAZE_CUDA_CHECK(cudaMemcpyAsync(host.data(), data_, bytes(), cudaMemcpyDeviceToHost, stream()));
    synchronize();
}

void DeviceTensor::poison() {
    if (bytes()) GAZE_CUDA_CHECK(cudaMemsetAsync(data_, 0xFF, bytes(), stream()));
}

// ---- timing --------------------------------------------------------------------

EventTimer::EventTimer() {
    GAZE_CUDA_CHECK(cudaEventCreate(reinterpret_cast<cudaEvent_t*>(&start_)));
    GAZE_CUDA_CHECK(cudaEventCreate(reinterpret_cast<cudaEvent_t*>(&stop_)));
}
EventTimer::~EventTimer() {
    cudaEventDestroy(static_cast<cudaEvent_t>(start_));
    cudaEventDestroy(static_cast<cudaEvent_t>(stop_));
}
void EventTimer::start() { GAZE_CUDA_CHECK(cudaEventRecord(static_cast<cudaEvent_t>(start_), stream())); }
double EventTimer::stop_ms() {
    GAZE_CUDA_CHECK(cudaEventRecord(static_cast<cudaEvent_t>(stop_), stream()));
    GAZE_CUDA_CHECK(cudaEventSynchronize(static_cast<cudaEvent_t>(stop_)));
    float ms = 0.f;
    GAZE_CUDA_CHECK(cudaEventElapsedTime(&ms, static_cast<cudaEvent_t>(start_), static_cast<cudaEvent_t>(stop_)));
    return ms;
}

void copy_device(void* dst, const void* src, size_t bytes) {
    GAZE_CUDA_CHECK(cudaMemcpyAsync(dst, src, bytes, cudaMemcpyDeviceToDevice, stream()));
}

// ---- host-side helpers of the kernels ---------------------------------------------

void upload_checked_ids(std::span<const int32_t> ids, int64_t vocab, const char* what, DeviceTensor& out) {
    for (size_t i = 0; i < ids.size(); ++i) {
        if (ids[i] < 0 || ids[i] >= vocab) {
            throw Error(std::string(what) + " " + std::to_string(ids[i]) + " at position " + std::to_string(i) +
                        " is outside the table of " + std::to_string(vocab) + " entries");
        }
    }
    out.upload_ints(ids);
}

Tensor rotary_inverse_frequencies(int64_t head_dim, double theta) {
    if (head_dim <= 0 || head_dim % 2 != 0) {
        throw Error("rotary_inverse_frequencies: head_dim must be even, got " + std::to_string(head_dim));
    }
    Tensor inv({head_dim / 2});
    for (int64_t i = 0; i < head_dim / 2; ++i) {
        // transformers: 1.0 / (base ** (arange(0, d, 2).float() / d)), in float32.
        const float exponent = static_cast<float>(2 * i) / static_cast<float>(head_dim);
        inv.data()[i] = 1.0f / std::pow(static_cast<float>(theta), exponent);
    }
    return inv;
}

}  // namespace gaze::cuda
