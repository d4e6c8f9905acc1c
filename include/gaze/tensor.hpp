#pragma once
// Tensor: an n-d array with a dtype (gaze/dtype.hpp), shape and strides (in
// elements). Activations are always f32; weights may be bf16, f16 or int8.
//
// A tensor either owns its storage (a growable, 64-byte aligned buffer:
// resize() keeps the capacity, so activations are reused across forward passes
// without reallocating) or views memory owned elsewhere (a memory-mapped
// weight file, a slice of another tensor). Views keep their owner alive
// through a shared_ptr, so a weight view stays valid after the file object is
// dropped.
//
// data() and matrix() are the f32 accessors and throw for any other dtype, so
// an op that only knows f32 can never read bf16 bytes as floats; raw() and
// data_as<T>() reach the other dtypes. An int8 tensor carries its
// per-row (per output channel) f32 scales: quant_scales().
#include <Eigen/Core>
#include <array>
#include <cstdint>
#include <initializer_list>
#include <memory>
#include <string>
#include <vector>

#include "gaze/dtype.hpp"
#include "gaze/error.hpp"

namespace gaze {

inline constexpr int kMaxRank = 6;

// A small fixed-capacity shape: no heap allocation when shapes change.
class Shape {
public:
    Shape() = default;
    Shape(std::initializer_list<int64_t> dims);
    explicit Shape(const std::vector<int64_t>& dims);

    int rank() const { return rank_; }
    int64_t operator[](int i) const { return dims_[static_cast<size_t>(i)]; }
    int64_t& operator[](int i) { return dims_[static_cast<size_t>(i)]; }
    int64_t numel() const;
    std::vector<int64_t> to_vector() const { return {dims_.begin(), dims_.begin() + rank_}; }
    std::string str() const;  // "[2, 3, 4]"
    bool operator==(const Shape& other) const;
    bool operator!=(const Shape& other) const { return !(*this == other); }

private:
    std::array<int64_t, kMaxRank> dims_{};
    int rank_ = 0;
};

using RowMatrix = Eigen::Matrix<float, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
using MatrixMap = Eigen::Map<RowMatrix, 0, Eigen::OuterStride<>>;
using ConstMatrixMap = Eigen::Map<const RowMatrix, 0, Eigen::OuterStride<>>;
using VectorMap = Eigen::Map<Eigen::VectorXf>;
using ConstVectorMap = Eigen::Map<const Eigen::VectorXf>;

class Tensor {
public:
    Tensor() = default;
    // An owned, zero-filled tensor.
    explicit Tensor(const Shape& shape, DType dtype = DType::f32);
    Tensor(std::initializer_list<int64_t> dims) : Tensor(Shape(dims)) {}

    // A contiguous view of memory owned by `owner` (which may be null when the
    // caller guarantees the lifetime).
    static Tensor view(float* data, const Shape& shape, std::shared_ptr<const void> owner = {});
    // The same for any dtype (read-only memory such as a mapped file is fine
    // as long as nothing writes through the view).
    static Tensor view_raw(const void* data, DType dtype, const Shape& shape, std::shared_ptr<const void> owner = {});
    static Tensor from_vector(const Shape& shape, const std::vector<float>& values);

    DType dtype() const { return dtype_; }
    const Shape& shape() const { return shape_; }
    int rank() const { return shape_.rank(); }
    int64_t dim(int i) const { return shape_[i < 0 ? i + rank() : i]; }
    int64_t stride(int i) const { return strides_[static_cast<size_t>(i < 0 ? i + rank() : i)]; }
    int64_t numel() const { return shape_.numel(); }
    size_t nbytes() const { return static_cast<size_t>(numel()) * dtype_size(dtype_); }
    // A default-constructed tensor (no storage) is empty; so is one with a zero dim.
    bool empty() const { return data_ == nullptr || numel() == 0; }
    bool is_contiguous() const;
    bool owns_storage() const { return owned_ != nullptr; }
    // Owned storage that no other tensor (copy or view) shares: safe to reuse.
    bool storage_unique() const { return owned_ != nullptr && owned_.use_count() == 1; }
    // For a view of a memory-mapped checkpoint whose bytes have been copied or
    // converted: drops its pages from the process's resident set (MADV_PAGEOUT;
    // clean file pages, so nothing is lost and a later read faults them back).
    // Does nothing for owned storage, small tensors (< 1 MiB) or kernels
    // before Linux 5.4; returns whether the kernel took the advice.
    bool release_mapped_pages() const;

    float* data() { return static_cast<float*>(checked_f32()); }
    const float* data() const { return static_cast<const float*>(const_cast<Tensor*>(this)->checked_f32()); }
    void* raw() { return data_; }
    const void* raw() const { return data_; }
    // Typed access to a non-f32 tensor (T must have the dtype's size).
    template <class T>
    const T* data_as() const {
        static_assert(sizeof(T) == 1 || sizeof(T) == 2 || sizeof(T) == 4);
        check_element_size(sizeof(T));
        return reinterpret_cast<const T*>(data_);
    }
    template <class T>
    T* data_as() {
        check_element_size(sizeof(T));
        return reinterpret_cast<T*>(data_);
    }
    // int8 tensors: the f32 scale of each row (element = scale * int8 value).
    const Tensor* quant_scales() const { return scales_.get(); }
    void set_quant_scales(Tensor scales);

    // Owned tensors only: change the shape (the dtype stays), keeping the
    // allocation when it is large enough. Contents are unspecified afterwards.
    void resize(const Shape& shape);
    void fill(float value);

    // Views sharing this tensor's memory.
    Tensor reshape(const Shape& shape) const;               // contiguous only
    Tensor narrow(int dim, int64_t start, int64_t length) const;  // a slice along one dim
    Tensor select(int dim, int64_t index) const;            // drops the dim
    Tensor clone() const;                                   // owned, contiguous copy (same dtype)
    // An owned contiguous f32 copy (or, for an f32 tensor, the tensor itself).
    Tensor to_float() const;
    // An owned copy in `dtype` (f32 or bf16; int8 goes through quantize_rows).
    Tensor to(DType dtype) const;

    // Element access by full index (bounds are checked in debug builds).
    float& at(std::initializer_list<int64_t> index);
    float at(std::initializer_list<int64_t> index) const;
    // Pointer to an element (e.g. the start of a row), bounds-checked.
    float* ptr(std::initializer_list<int64_t> index) { return data() + offset_of(index); }
    const float* ptr(std::initializer_list<int64_t> index) const { return data() + offset_of(index); }

    // The tensor as a matrix [rows, last dim]: all leading dims flattened.
    // Requires the last dim to be dense and the leading dims to be collapsible.
    MatrixMap matrix();
    ConstMatrixMap matrix() const;
    int64_t rows() const { return rank() == 0 ? 1 : numel() / dim(-1); }
    int64_t row_stride() const;

    std::vector<float> to_vector() const;  // contiguous f32 copy of the elements

private:
    struct Storage;
    std::shared_ptr<Storage> owned_;     // set when this tensor owns memory
    std::shared_ptr<const void> owner_;  // keeps viewed memory alive
    std::shared_ptr<const Tensor> scales_;
    std::byte* data_ = nullptr;
    DType dtype_ = DType::f32;
    Shape shape_;
    std::array<int64_t, kMaxRank> strides_{};

    void set_contiguous_strides();
    int64_t offset_of(std::initializer_list<int64_t> index) const;
    void* checked_f32() {
        if (dtype_ != DType::f32) [[unlikely]] throw_not_f32();
        return data_;
    }
    [[noreturn]] void throw_not_f32() const;
    void check_element_size(size_t size) const;
};

// [rows, cols] f32 weights -> int8 with one scale a row: scale = max|w| / 127,
// q = round(w / scale). Throws naming `what` when a value is not finite.
Tensor quantize_rows(const Tensor& weights, const std::string& what);

// Throws gaze::Error naming `what` unless `t` has exactly `expected` shape.
void check_shape(const Tensor& t, const Shape& expected, const std::string& what);

}  // namespace gaze
