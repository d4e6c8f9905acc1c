#include "gaze/tensor.hpp"

#include <algorithm>
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

Tensor::Tensor(const Shape& shape) : owned_(std::make_shared<std::vector<float>>(shape.numel(), 0.0f)) {
    data_ = owned_->data();
    shape_ = shape;
    set_contiguous_strides();
}

Tensor Tensor::view(float* data, const Shape& shape, std::shared_ptr<const void> owner) {
    Tensor t;
    t.data_ = data;
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
    if (!owned_) {
        if (data_ == nullptr && shape_.rank() == 0) {
            owned_ = std::make_shared<std::vector<float>>();
        } else {
            throw Error("resize: tensor " + shape_.str() + " is a view and cannot be resized");
        }
    }
    if (owned_->size() < static_cast<size_t>(shape.numel())) owned_->resize(static_cast<size_t>(shape.numel()));
    data_ = owned_->data();
    shape_ = shape;
    set_contiguous_strides();
}

void Tensor::fill(float value) {
    if (is_contiguous()) {
        std::fill(data_, data_ + numel(), value);
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
    t.data_ = data_ + start * strides_[static_cast<size_t>(d)];
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
    Tensor t(shape_);
    if (numel() == 0) return t;
    if (is_contiguous()) {
        std::memcpy(t.data_, data_, sizeof(float) * static_cast<size_t>(numel()));
    } else {
        t.matrix() = matrix();
    }
    return t;
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

float& Tensor::at(std::initializer_list<int64_t> index) { return data_[offset_of(index)]; }
float Tensor::at(std::initializer_list<int64_t> index) const { return data_[offset_of(index)]; }

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
    return MatrixMap(data_, rows(), cols, Eigen::OuterStride<>(std::max<int64_t>(row_stride(), cols)));
}

ConstMatrixMap Tensor::matrix() const {
    if (rank() > 0 && dim(-1) > 1 && stride(-1) != 1) throw Error("matrix: last dim of " + shape_.str() + " is strided");
    int64_t cols = rank() == 0 ? 1 : dim(-1);
    return ConstMatrixMap(data_, rows(), cols, Eigen::OuterStride<>(std::max<int64_t>(row_stride(), cols)));
}

std::vector<float> Tensor::to_vector() const {
    Tensor c = is_contiguous() ? *this : clone();
    return std::vector<float>(c.data(), c.data() + c.numel());
}

void check_shape(const Tensor& t, const Shape& expected, const std::string& what) {
    if (t.shape() != expected) {
        throw Error(what + ": shape " + t.shape().str() + ", expected " + expected.str());
    }
}

}  // namespace gaze
