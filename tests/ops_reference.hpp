#pragma once
// Shared by the op tests (test_ops.cpp, test_ops_attention.cpp): reading any
// tensor view as doubles and comparing it with a double-precision reference.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <string>
#include <vector>

#include "gaze/tensor.hpp"

namespace gaze::test {

inline constexpr double kInf = std::numeric_limits<double>::infinity();
// Awkward sizes: vectorised tails and blocking edges.
inline const std::vector<int64_t> kSizes = {1, 3, 7, 33, 65};

// The logical elements of a tensor in row-major order, as doubles, read
// through its strides (any view, without relying on Tensor::clone()).
inline std::vector<double> values(const Tensor& t) {
    std::vector<double> out;
    if (t.data() == nullptr || t.empty()) return out;
    out.reserve(static_cast<size_t>(t.numel()));
    std::vector<int64_t> index(static_cast<size_t>(t.rank()), 0);
    for (int64_t n = 0; n < t.numel(); ++n) {
        int64_t offset = 0;
        for (int i = 0; i < t.rank(); ++i) offset += index[static_cast<size_t>(i)] * t.stride(i);
        out.push_back(t.data()[offset]);
        for (int i = t.rank() - 1; i >= 0; --i) {  // odometer increment
            if (++index[static_cast<size_t>(i)] < t.dim(i)) break;
            index[static_cast<size_t>(i)] = 0;
        }
    }
    return out;
}

// Expects |actual - expected| <= tol * max(1, |scale|) element-wise. `scale`
// defaults to |expected|; pass e.g. sum |terms| for dot products, where the
// float rounding error scales with the terms, not with the (possibly
// cancelled) result.
inline void expect_close(const Tensor& actual, const std::vector<double>& expected, double tol,
                  const std::vector<double>* scale = nullptr, const std::string& what = "") {
    const std::vector<double> a = values(actual);
    ASSERT_EQ(a.size(), expected.size()) << what << " shape " << actual.shape().str();
    int reported = 0;
    for (size_t i = 0; i < a.size(); ++i) {
        const double s = scale ? (*scale)[i] : std::fabs(expected[i]);
        const double bound = tol * std::max(1.0, s);
        const bool ok = std::isfinite(a[i]) ? std::fabs(a[i] - expected[i]) <= bound : a[i] == expected[i];
        if (!ok && reported++ < 5) {
            ADD_FAILURE() << what << " element " << i << " of " << actual.shape().str() << ": got " << a[i]
                          << ", expected " << expected[i] << " (bound " << bound << ")";
        }
    }
}

inline bool all_finite(const Tensor& t) {
    for (double v : values(t)) {
        if (!std::isfinite(v)) return false;
    }
    return true;
}

}  // namespace gaze::test
