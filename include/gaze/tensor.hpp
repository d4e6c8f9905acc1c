#pragma once
// Tensor: a float32 n-d array with shape and strides (in elements).
//
// A tensor either owns its storage (a growable buffer: resize() keeps the
// capacity, so activations are reused across forward passes without
// reallocating) or views memory owned elsewhere (a memory-mapped weight file,
// a slice of another tensor). Views keep their owner alive through a
// shared_ptr, so a weight view stays valid after the file object is dropped.
#include <Eigen/Core>
#include <array>
#include <cstdint>
#include <initializer_list>
#include <memory>
#include <string>
#include <vector>

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
    explicit Tensor(const Shape& shape);
    Tensor(std::initializer_list<int64_t> dims) : Tensor(Shape(dims)) {}

    // A contiguous view of memory owned by `owner` (which may be null when the
    // caller guarantees the lifetime).
    static Tensor view(float* data, const Shape& shape, std::shared_ptr<const void> owner = {});
    static Tensor from_vector(const Shape& shape, const std::vector<float>& values);

    const Shape& shape() const { return shape_; }
    int rank() const { return shape_.rank(); }
    int64_t dim(int i) const { return shape_[i < 0 ? i + rank() : i]; }
    int64_t stride(int i) const { return strides_[static_cast<size_t>(i < 0 ? i + rank() : i)]; }
    int64_t numel() const { return shape_.numel(); }
    // A default-constructed tensor (no storage) is empty; so is one with a zero dim.
    bool empty() const { return data_ == nullptr || numel() == 0; }
    bool is_contiguous() const;
    bool owns_storage() const { return owned_ != nullptr; }
    // Owned storage that no other tensor (copy or view) shares: safe to reuse.
    bool storage_unique() const { return owned_ != nullptr && owned_.use_count() == 1; }

    float* data() { return data_; }
    const float* data() const { return data_; }

    // Owned tensors only: change the shape, keeping the allocation when it is
    // large enough. Contents are unspecified afterwards.
    void resize(const Shape& shape);
    void fill(float value);

    // Views sharing this tensor's memory.
    Tensor reshape(const Shape& shape) const;               // contiguous only
    Tensor narrow(int dim, int64_t start, int64_t length) const;  // a slice along one dim
    Tensor select(int dim, int64_t index) const;            // drops the dim
    Tensor clone() const;                                   // owned, contiguous copy

    // Element access by full index (bounds are checked in debug builds).
    float& at(std::initializer_list<int64_t> index);
    float at(std::initializer_list<int64_t> index) const;
    // Pointer to an element (e.g. the start of a row), bounds-checked.
    float* ptr(std::initializer_list<int64_t> index) { return data_ + offset_of(index); }
    const float* ptr(std::initializer_list<int64_t> index) const { return data_ + offset_of(index); }

    // The tensor as a matrix [rows, last dim]: all leading dims flattened.
    // Requires the last dim to be dense and the leading dims to be collapsible.
    MatrixMap matrix();
    ConstMatrixMap matrix() const;
    int64_t rows() const { return rank() == 0 ? 1 : numel() / dim(-1); }
    int64_t row_stride() const;

    std::vector<float> to_vector() const;  // contiguous copy of the elements

private:
    std::shared_ptr<std::vector<float>> owned_;  // set when this tensor owns memory
    std::shared_ptr<const void> owner_;          // keeps viewed memory alive
    float* data_ = nullptr;
    Shape shape_;
    std::array<int64_t, kMaxRank> strides_{};

    void set_contiguous_strides();
    int64_t offset_of(std::initializer_list<int64_t> index) const;
};

// Throws gaze::Error naming `what` unless `t` has exactly `expected` shape.
void check_shape(const Tensor& t, const Shape& expected, const std::string& what);

}  // namespace gaze
