#include "gaze/tensor.hpp"

#include <sys/mman.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <new>
#include <cstring>
#include <sstream>

namespace gaze {

Shape::Shape(std::initializer_list<int64_t> dims) : Shape(std::vector<int64_t>(dims)) {}

Shape::Shape(const std::vector<int64_t>& dims) {
    if (dims.size() > kMaxRank) throw Error("tensor rank " + std::to_string(dims.size()) + " exceeds the maximum of 6");
    for (int64_t d : dims) {
        if (d < 0) throw Error("negative tensor dimension " + std::to_string(d));
    }
    std::copy(dims.begin(), dims.end(), dims_.begin());
    rank_ = static_cast<int>(dims.size());
}

int64_t Shape::numel() const {
    int64_t n = 1;
    for (int i = 0; i < rank_; ++i) n *= dims_[static_cast<size_t>(i)];
    return n;
}

std::string Shape::str() const {
    std::ostringstream out;
    out << '[';
    for (int i = 0; i < rank_; ++i) out << (i ? ", " : "") << dims_[static_cast<size_t>(i)];
    out << ']';
    return out.str();
}

bool Shape::operator==(const Shape& other) const {
    if (rank_ != other.rank_) return false;
    for (int i = 0; i < rank_; ++i) {
        if (dims_[static_cast<size_t>(i)] != other.dims_[static_cast<size_t>(i)]) return false;
    }
    return true;
}

// Owned storage: 64-byte aligned (a cache line, one AVX-512 register), so
// vector loads of a row start never straddle lines.
struct Tensor::Storage {
    static constexpr std::align_val_t kAlignment{64};
    std::byte* bytes = nullptr;
    size_t capacity = 0;

    explicit Storage(size_t n) { grow(n); }
    Storage(const Storage&) = delete;
    Storage& operator=(const Storage&) = delete;
    ~Storage() { ::operator delete[](bytes, kAlignment); }
    // At least n bytes; the old contents are kept and new bytes zeroed.
    void grow(size_t n) {
        if (n <= capacity && bytes) return;
        auto* fresh = static_cast<std::byte*>(::operator new[](std::max<size_t>(n, 1), kAlignment));
        if (bytes) std::memcpy(fresh, bytes, capacity);
        std::memset(fresh + capacity, 0, std::max<size_t>(n, 1) - capacity);
        ::operator delete[](bytes, kAlignment);
        bytes = fresh;
        capacity = std::max<size_t>(n, 1);
    }
};

Tensor::Tensor(const Shape& shape, DType dtype)
    : owned_(std::make_shared<Storage>(static_cast<size_t>(shape.numel()) * dtype_size(dtype))), dtype_(dtype) {
    data_ = owned_->bytes;
    shape_ = shape;
    set_contiguous_strides();
}

Tensor Tensor::view(float* data, const Shape& shape, std::shared_ptr<const void> owner) {
    return view_raw(data, DType::f32, shape, std::move(owner));
}

Tensor Tensor::view_raw(const void* data, DType dtype, const Shape& shape, std::shared_ptr<const void> owner) {
    Tensor t;
    t.data_ = static_cast<std::byte*>(const_cast<void*>(data));
    t.dtype_ = dtype;
    t.shape_ = shape;
    t.owner_ = std::move(owner);
    t.set_contiguous_strides();
    return t;
}

Tensor Tensor::from_vector(const Shape& shape, const std::vector<float>& values) {
    if (static_cast<int64_t>(values.size()) != shape.numel()) {
        throw Error("from_vector: " + std::to_string(values.size()) + " values do not fill shape " + shape.str());
    }
    Tensor t(shape);
    std::copy(values.begin(), values.end(), t.data());
    return t;
}

void Tensor::throw_not_f32() const {
    throw Error(std::string("tensor ") + shape_.str() + " holds " + dtype_name(dtype_) +
                ", read as f32 (this op has no " + dtype_name(dtype_) + " kernel)");
}

void Tensor::check_element_size(size_t size) const {
    if (size != dtype_size(dtype_)) {
        throw Error(std::string("tensor ") + shape_.str() + " holds " + dtype_name(dtype_) + ", read with " +
                    std::to_string(size) + "-byte elements");
    }
}

void Tensor::set_quant_scales(Tensor scales) {
    if (dtype_ != DType::i8) throw Error("set_quant_scales: tensor " + shape_.str() + " is not int8");
    if (scales.dtype() != DType::f32 || scales.numel() != rows()) {
        throw Error("set_quant_scales: " + std::to_string(rows()) + " f32 scales needed, got " + scales.shape().str());
    }
    scales_ = std::make_shared<const Tensor>(std::move(scales));
}

void Tensor::set_contiguous_strides() {
    int64_t s = 1;
    for (int i = shape_.rank() - 1; i >= 0; --i) {
        strides_[static_cast<size_t>(i)] = s;
        s *= shape_[i];
    }
}

bool Tensor::is_contiguous() const {
    int64_t s = 1;
    for (int i = rank() - 1; i >= 0; --i) {
        if (shape_[i] != 1 && strides_[static_cast<size_t>(i)] != s) return false;
        s *= shape_[i];
    }
    return true;
}

void Tensor::resize(const Shape& shape) {
    const size_t need = static_cast<size_t>(shape.numel()) * dtype_size(dtype_);
    if (!owned_) {
        if (data_ == nullptr && shape_.rank() == 0) {
            owned_ = std::make_shared<Storage>(need);
        } else {
            throw Error("resize: tensor " + shape_.str() + " is a view and cannot be resized");
        }
    }
    owned_->grow(need);
    data_ = owned_->bytes;
    shape_ = shape;
    set_contiguous_strides();
}

void Tensor::fill(float value) {
    if (is_contiguous()) {
        std::fill(data(), data() + numel(), value);
        return;
    }
    auto m = matrix();
    m.setConstant(value);
}

Tensor Tensor::reshape(const Shape& shape) const {
    if (!is_contiguous()) throw Error("reshape: tensor " + shape_.str() + " is not contiguous");
    if (shape.numel() != numel()) throw Error("reshape: cannot view " + shape_.str() + " as " + shape.str());
    Tensor t = *this;
    t.shape_ = shape;
    t.set_contiguous_strides();
    return t;
}

Tensor Tensor::narrow(int d, int64_t start, int64_t length) const {
    if (d < 0) d += rank();
    if (d < 0 || d >= rank() || start < 0 || length < 0 || start + length > shape_[d]) {
        throw Error("narrow: slice [" + std::to_string(start) + ", " + std::to_string(start + length) +
                    ") out of range for dim " + std::to_string(d) + " of " + shape_.str());
    }
    Tensor t = *this;
    t.data_ = data_ + start * strides_[static_cast<size_t>(d)] * static_cast<int64_t>(dtype_size(dtype_));
    t.shape_[d] = length;
    return t;
}

Tensor Tensor::select(int d, int64_t index) const {
    if (d < 0) d += rank();
    Tensor t = narrow(d, index, 1);
    std::vector<int64_t> dims;
    std::array<int64_t, kMaxRank> strides{};
    int r = 0;
    for (int i = 0; i < rank(); ++i) {
        if (i == d) continue;
        dims.push_back(t.shape_[i]);
        strides[static_cast<size_t>(r++)] = t.strides_[static_cast<size_t>(i)];
    }
    t.shape_ = Shape(dims);
    t.strides_ = strides;
    return t;
}

Tensor Tensor::clone() const {
    Tensor t(shape_, dtype_);
    t.scales_ = scales_;
    if (numel() == 0) return t;
    if (is_contiguous()) {
        std::memcpy(t.data_, data_, nbytes());
    } else if (dtype_ == DType::f32) {
        t.matrix() = matrix();
    } else {  // a strided view of 2-byte or 1-byte elements: row by row
        const size_t row_bytes = static_cast<size_t>(dim(-1)) * dtype_size(dtype_);
        const int64_t stride_bytes = row_stride() * static_cast<int64_t>(dtype_size(dtype_));
        for (int64_t r = 0; r < rows(); ++r) std::memcpy(t.data_ + r * static_cast<int64_t>(row_bytes), data_ + r * stride_bytes, row_bytes);
    }
    return t;
}

Tensor Tensor::to_float() const {
    if (dtype_ == DType::f32) return *this;
    const Tensor c = is_contiguous() ? *this : clone();
    Tensor out(shape_);
    if (dtype_ == DType::i8) {
        const int8_t* q = c.data_as<int8_t>();
        const float* scale = scales_ ? scales_->data() : nullptr;
        const int64_t cols = rank() == 0 ? 1 : dim(-1);
        for (int64_t r = 0; r < rows(); ++r) {
            const float s = scale ? scale[r] : 1.0f;
            for (int64_t j = 0; j < cols; ++j) out.data()[r * cols + j] = s * q[r * cols + j];
        }
        return out;
    }
    convert_to_float(c.raw(), dtype_, out.data(), static_cast<size_t>(numel()));
    return out;
}

Tensor Tensor::to(DType dtype) const {
    if (dtype == dtype_) return clone();
    if (dtype == DType::f32) return to_float();
    if (dtype == DType::bf16) {
        const Tensor f = to_float();
        const Tensor c = f.is_contiguous() ? f : f.clone();
        Tensor out(shape_, DType::bf16);
        convert_to_bf16(c.data(), out.data_as<uint16_t>(), static_cast<size_t>(numel()));
        return out;
    }
    throw Error(std::string("Tensor::to: no conversion from ") + dtype_name(dtype_) + " to " + dtype_name(dtype) +
                " (int8 weights come from quantize_rows)");
}

Tensor quantize_rows(const Tensor& weights, const std::string& what) {
    if (weights.rank() != 2) throw Error(what + ": int8 quantisation needs a matrix, got " + weights.shape().str());
    const Tensor f = weights.to_float();
    const Tensor w = f.is_contiguous() ? f : f.clone();
    const int64_t rows = w.dim(0), cols = w.dim(1);
    Tensor q(w.shape(), DType::i8);
    Tensor scales({rows});
    int8_t* out = q.data_as<int8_t>();
    for (int64_t r = 0; r < rows; ++r) {
        const float* row = w.data() + r * cols;
        float largest = 0.0f;
        for (int64_t j = 0; j < cols; ++j) {
            if (!std::isfinite(row[j])) {
                throw Error(what + ": cannot quantise to int8: element [" + std::to_string(r) + ", " + std::to_string(j) +
                            "] is not finite");
            }
            largest = std::max(largest, std::fabs(row[j]));
        }
        const float scale = largest > 0.0f ? largest / 127.0f : 1.0f;
        scales.data()[r] = scale;
        for (int64_t j = 0; j < cols; ++j) {
            out[r * cols + j] = static_cast<int8_t>(std::clamp(std::nearbyint(row[j] / scale), -127.0f, 127.0f));
        }
    }
    q.set_quant_scales(std::move(scales));
    return q;
}

int64_t Tensor::offset_of(std::initializer_list<int64_t> index) const {
    if (static_cast<int>(index.size()) != rank()) {
        throw Error("at: index of rank " + std::to_string(index.size()) + " for tensor " + shape_.str());
    }
    int64_t off = 0;
    int i = 0;
    for (int64_t v : index) {
        if (v < 0 || v >= shape_[i]) throw Error("at: index out of range for tensor " + shape_.str());
        off += v * strides_[static_cast<size_t>(i)];
        ++i;
    }
    return off;
}

float& Tensor::at(std::initializer_list<int64_t> index) { return data()[offset_of(index)]; }
float Tensor::at(std::initializer_list<int64_t> index) const { return data()[offset_of(index)]; }

int64_t Tensor::row_stride() const {
    if (rank() <= 1) return rank() == 0 ? 1 : dim(0);
    // Leading dims must collapse into one row index with a single stride.
    for (int i = 0; i + 2 < rank(); ++i) {
        if (shape_[i + 1] != 1 && strides_[static_cast<size_t>(i)] !=
                                      strides_[static_cast<size_t>(i + 1)] * shape_[i + 1]) {
            throw Error("matrix: leading dims of " + shape_.str() + " cannot be flattened");
        }
    }
    return strides_[static_cast<size_t>(rank() - 2)];
}

MatrixMap Tensor::matrix() {
    if (rank() > 0 && dim(-1) > 1 && stride(-1) != 1) throw Error("matrix: last dim of " + shape_.str() + " is strided");
    int64_t cols = rank() == 0 ? 1 : dim(-1);
    return MatrixMap(data(), rows(), cols, Eigen::OuterStride<>(std::max<int64_t>(row_stride(), cols)));
}

ConstMatrixMap Tensor::matrix() const {
    if (rank() > 0 && dim(-1) > 1 && stride(-1) != 1) throw Error("matrix: last dim of " + shape_.str() + " is strided");
    int64_t cols = rank() == 0 ? 1 : dim(-1);
    return ConstMatrixMap(data(), rows(), cols, Eigen::OuterStride<>(std::max<int64_t>(row_stride(), cols)));
}

std::vector<float> Tensor::to_vector() const {
    Tensor c = dtype_ != DType::f32 ? to_float() : is_contiguous() ? *this : clone();
    return std::vector<float>(c.data(), c.data() + c.numel());
}

void check_shape(const Tensor& t, const Shape& expected, const std::string& what) {
    if (t.shape() != expected) {
        throw Error(what + ": shape " + t.shape().str() + ", expected " + expected.str());
    }
}

bool Tensor::release_mapped_pages() const {
#ifdef MADV_PAGEOUT
    if (owns_storage() || !is_contiguous() || nbytes() < (size_t{1} << 20)) return false;
    const auto page = static_cast<uintptr_t>(sysconf(_SC_PAGESIZE));
    if (page == 0) return false;
    // Whole pages inside the tensor only: its neighbours in the file are left alone.
    const auto begin = (reinterpret_cast<uintptr_t>(data_) + page - 1) / page * page;
    const auto end = (reinterpret_cast<uintptr_t>(data_) + nbytes()) / page * page;
    return end > begin && madvise(reinterpret_cast<void*>(begin), end - begin, MADV_PAGEOUT) == 0;  // EINVAL before Linux 5.4
#else
    return false;
#endif
}

}  // namespace gaze
