// Every op in gaze/ops.hpp against a naive double-precision reference written
// straight from the math (plain loops, no Eigen), on random inputs of awkward
// sizes (1, 3, 7, 33, 65 ...) so that vectorised tails and blocking edges are
// exercised. Views (narrow()) are used where an op promises to read strided rows.
#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <random>
#include <string>
#include <vector>

#include "gaze/error.hpp"
#include "gaze/ops.hpp"
#include "test_support.hpp"

namespace gaze::test {
namespace {

constexpr double kInf = std::numeric_limits<double>::infinity();
const std::vector<int64_t> kSizes = {1, 3, 7, 33, 65};

// ---- helpers -------------------------------------------------------------------

// The logical elements of a tensor in row-major order, as doubles, read
// through its strides (any view, without relying on Tensor::clone()).
std::vector<double> values(const Tensor& t) {
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
void expect_close(const Tensor& actual, const std::vector<double>& expected, double tol,
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

bool all_finite(const Tensor& t) {
    for (double v : values(t)) {
        if (!std::isfinite(v)) return false;
    }
    return true;
}

// ---- embeddings ------------------------------------------------------------------

TEST(OpsEmbedding, LookupCopiesRows) {
    std::mt19937 rng(1);
    for (int64_t vocab : {1, 7, 65}) {
        for (int64_t hidden : {1, 3, 33}) {
            const Tensor table = random_tensor({vocab, hidden}, rng);
            std::uniform_int_distribution<int32_t> pick(0, static_cast<int32_t>(vocab - 1));
            std::vector<int32_t> ids(9);
            for (auto& id : ids) id = pick(rng);
            ids.back() = static_cast<int32_t>(vocab - 1);
            Tensor out;
            ops::embedding_lookup(table, ids, out);
            ASSERT_EQ(out.shape(), (Shape{9, hidden}));
            const auto t = values(table);
            std::vector<double> expected;
            for (int32_t id : ids)
                for (int64_t j = 0; j < hidden; ++j) expected.push_back(t[static_cast<size_t>(id * hidden + j)]);
            expect_close(out, expected, 0.0);
        }
    }
}

TEST(OpsEmbedding, EmptyIdsGiveEmptyOutput) {
    std::mt19937 rng(2);
    const Tensor table = random_tensor({5, 3}, rng);
    Tensor out;
    ops::embedding_lookup(table, std::span<const int32_t>{}, out);
    EXPECT_EQ(out.shape(), (Shape{0, 3}));
}

TEST(OpsEmbedding, OutOfRangeIdThrowsNamingIt) {
    std::mt19937 rng(3);
    const Tensor table = random_tensor({7, 3}, rng);
    Tensor out;
    for (int32_t bad : {7, -1, 1000}) {
        const std::vector<int32_t> ids = {0, 6, bad};
        try {
            ops::embedding_lookup(table, ids, out, "word id");
            ADD_FAILURE() << "no error for id " << bad;
        } catch (const Error& e) {
            const std::string msg = e.what();
            EXPECT_NE(msg.find("word id"), std::string::npos) << msg;
            EXPECT_NE(msg.find(std::to_string(bad)), std::string::npos) << msg;
        }
    }
    EXPECT_THROW(ops::embedding_lookup(Tensor({7}), std::vector<int32_t>{0}, out), Error);
}

// paper: w_i = 1 / base^(2i/D); tensor2tensor: w_i = base^(-i / max(1, D/2 - 1)).
std::vector<double> reference_sinusoids(int64_t n, int64_t dim, int64_t first, ops::SinusoidLayout layout,
                                        double base, ops::SinusoidSpacing spacing = ops::SinusoidSpacing::paper) {
    std::vector<double> out(static_cast<size_t>(n * dim));
    const int64_t half = dim / 2;
    for (int64_t p = 0; p < n; ++p) {
        for (int64_t i = 0; i < half; ++i) {
            const double w =
                spacing == ops::SinusoidSpacing::paper
                    ? 1.0 / std::pow(base, 2.0 * static_cast<double>(i) / static_cast<double>(dim))
                    : std::pow(base, -static_cast<double>(i) / std::max<double>(1.0, static_cast<double>(half - 1)));
            const double angle = static_cast<double>(first + p) * w;
            const size_t s = static_cast<size_t>(p * dim + (layout == ops::SinusoidLayout::interleaved ? 2 * i : i));
            const size_t c =
                static_cast<size_t>(p * dim + (layout == ops::SinusoidLayout::interleaved ? 2 * i + 1 : half + i));
            out[s] = std::sin(angle);
            out[c] = std::cos(angle);
        }
    }
    return out;
}

TEST(OpsEmbedding, SinusoidalPositionEncodingBothLayouts) {
    for (auto layout : {ops::SinusoidLayout::interleaved, ops::SinusoidLayout::sin_then_cos}) {
        for (int64_t first : {0, 5}) {
            for (int64_t n : {1, 7, 65}) {
                for (int64_t dim : {2, 6, 34, 64}) {
                    Tensor out;
                    ops::sinusoidal_position_encoding(n, dim, first, layout, out);
                    ASSERT_EQ(out.shape(), (Shape{n, dim}));
                    expect_close(out, reference_sinusoids(n, dim, first, layout, 10000.0), 1e-6, nullptr,
                                 "layout " + std::to_string(static_cast<int>(layout)) + " first " +
                                     std::to_string(first));
                }
            }
        }
    }
    // Position 0 is [0, 1, 0, 1, ...] interleaved and [0 ... 0, 1 ... 1] sin_then_cos.
    Tensor out;
    ops::sinusoidal_position_encoding(1, 4, 0, ops::SinusoidLayout::sin_then_cos, out);
    EXPECT_EQ(out.to_vector(), (std::vector<float>{0, 0, 1, 1}));
    // A different base.
    ops::sinusoidal_position_encoding(3, 8, 5, ops::SinusoidLayout::interleaved, out, 500.0);
    expect_close(out, reference_sinusoids(3, 8, 5, ops::SinusoidLayout::interleaved, 500.0), 1e-6);
}

TEST(OpsEmbedding, SinusoidalTensor2TensorSpacing) {
    for (auto layout : {ops::SinusoidLayout::interleaved, ops::SinusoidLayout::sin_then_cos}) {
        for (int64_t first : {0, 5}) {
            for (int64_t n : {1, 7, 33}) {
                for (int64_t dim : {2, 4, 34, 512}) {
                    Tensor out;
                    ops::sinusoidal_position_encoding(n, dim, first, layout, out, 10000.0,
                                                      ops::SinusoidSpacing::tensor2tensor);
                    expect_close(out,
                                 reference_sinusoids(n, dim, first, layout, 10000.0, ops::SinusoidSpacing::tensor2tensor),
                                 1e-6, nullptr, "t2t dim " + std::to_string(dim));
                }
            }
        }
    }
    // The last frequency is 1/base exactly (the paper's spacing stops short of it).
    Tensor out;
    ops::sinusoidal_position_encoding(1, 8, 10000, ops::SinusoidLayout::sin_then_cos, out, 10000.0,
                                      ops::SinusoidSpacing::tensor2tensor);
    EXPECT_NEAR(out.at({0, 3}), std::sin(1.0), 1e-6);
    EXPECT_THROW(ops::sinusoidal_position_encoding(2, 5, 0, ops::SinusoidLayout::interleaved, out, 10000.0,
                                                   ops::SinusoidSpacing::tensor2tensor),
                 Error);
}

TEST(OpsEmbedding, SinusoidalOddOrZeroDimThrows) {
    Tensor out;
    EXPECT_THROW(ops::sinusoidal_position_encoding(4, 7, 0, ops::SinusoidLayout::interleaved, out), Error);
    EXPECT_THROW(ops::sinusoidal_position_encoding(4, 1, 0, ops::SinusoidLayout::sin_then_cos, out), Error);
    EXPECT_THROW(ops::sinusoidal_position_encoding(4, 0, 0, ops::SinusoidLayout::sin_then_cos, out), Error);
}

// ---- element-wise ------------------------------------------------------------------

TEST(OpsElementwise, AddAndInPlace) {
    std::mt19937 rng(10);
    for (int64_t rows : kSizes) {
        for (int64_t width : kSizes) {
            const Tensor a = random_tensor({rows, width}, rng), b = random_tensor({rows, width}, rng);
            const auto va = values(a), vb = values(b);
            std::vector<double> expected(va.size());
            for (size_t i = 0; i < va.size(); ++i) expected[i] = va[i] + vb[i];
            Tensor out;
            ops::add(a, b, out);
            expect_close(out, expected, 1e-6);
            Tensor in_place = a.clone();
            ops::add(in_place, b, in_place);
            expect_close(in_place, expected, 1e-6);
        }
    }
    Tensor out;
    EXPECT_THROW(ops::add(Tensor({2, 3}), Tensor({3, 2}), out), Error);
}

TEST(OpsElementwise, CopyOfStridedViews) {
    std::mt19937 rng(12);
    for (int64_t rows : kSizes) {
        for (int64_t width : kSizes) {
            const Tensor full = random_tensor({rows, width + 3}, rng);
            const Tensor view = full.narrow(1, 2, width);  // rows strided by width + 3
            std::vector<double> expected;
            for (int64_t r = 0; r < rows; ++r)
                for (int64_t c = 0; c < width; ++c) expected.push_back(full.at({r, c + 2}));
            Tensor out;
            ops::copy(view, out);
            ASSERT_EQ(out.shape(), view.shape());
            EXPECT_TRUE(out.is_contiguous());
            expect_close(out, expected, 0.0);
        }
    }
}

TEST(OpsElementwise, AddRowBroadcast) {
    std::mt19937 rng(11);
    for (const Shape& shape : {Shape{1, 1}, Shape{7, 3}, Shape{65, 33}, Shape{2, 33, 65}, Shape{3, 1, 7}}) {
        Tensor x = random_tensor(shape, rng);
        const int64_t width = shape[shape.rank() - 1];
        const Tensor row = random_tensor({width}, rng);
        const auto vx = values(x), vr = values(row);
        std::vector<double> expected(vx.size());
        for (size_t i = 0; i < vx.size(); ++i) expected[i] = vx[i] + vr[i % static_cast<size_t>(width)];
        ops::add_row_broadcast(x, row);
        expect_close(x, expected, 1e-6, nullptr, shape.str());
    }
    Tensor x({2, 3});
    EXPECT_THROW(ops::add_row_broadcast(x, Tensor({4})), Error);
}

TEST(OpsElementwise, Scale) {
    std::mt19937 rng(12);
    for (int64_t rows : kSizes) {
        for (int64_t width : {1, 33, 768}) {
            Tensor x = random_tensor({rows, width}, rng);
            const auto vx = values(x);
            std::vector<double> expected(vx.size());
            for (size_t i = 0; i < vx.size(); ++i) expected[i] = vx[i] * -0.37;
            ops::scale(x, -0.37f);
            expect_close(x, expected, 1e-6);
        }
    }
}

template <typename Op, typename Ref>
void check_unary(Op op, Ref ref, float lo, float hi, double tol, uint32_t seed) {
    std::mt19937 rng(seed);
    for (int64_t rows : kSizes) {
        for (int64_t width : {1, 3, 7, 33, 65, 3072}) {
            if (rows * width > 70000) continue;
            Tensor x = random_tensor({rows, width}, rng, lo, hi);
            const auto vx = values(x);
            std::vector<double> expected(vx.size());
            for (size_t i = 0; i < vx.size(); ++i) expected[i] = ref(vx[i]);
            op(x);
            expect_close(x, expected, tol, nullptr, "[" + std::to_string(rows) + ", " + std::to_string(width) + "]");
        }
    }
    // Special points: zero, large magnitudes, and a 3-d tensor (rows = leading dims flattened).
    Tensor special = Tensor::from_vector({1, 2, 5}, {0.0f, -0.0f, 1.0f, -1.0f, 20.0f, -20.0f, 1e-3f, -1e-3f, 8.5f, -8.5f});
    const auto vs = values(special);
    std::vector<double> expected(vs.size());
    for (size_t i = 0; i < vs.size(); ++i) expected[i] = ref(vs[i]);
    op(special);
    expect_close(special, expected, tol, nullptr, "special points");
}

TEST(OpsElementwise, GeluErf) {
    check_unary([](Tensor& x) { ops::gelu_erf(x); },
                [](double x) { return 0.5 * x * (1.0 + std::erf(x / std::sqrt(2.0))); }, -6.0f, 6.0f, 1e-5, 13);
}

TEST(OpsElementwise, GeluTanh) {
    check_unary([](Tensor& x) { ops::gelu_tanh(x); },
                [](double x) {
                    return 0.5 * x * (1.0 + std::tanh(std::sqrt(2.0 / M_PI) * (x + 0.044715 * x * x * x)));
                },
                -6.0f, 6.0f, 1e-5, 14);
}

TEST(OpsElementwise, Relu) {
    check_unary([](Tensor& x) { ops::relu(x); }, [](double x) { return x > 0 ? x : 0.0; }, -2.0f, 2.0f, 0.0, 15);
}

TEST(OpsElementwise, Multiply) {
    std::mt19937 rng(16);
    for (int64_t rows : kSizes) {
        for (int64_t width : kSizes) {
            Tensor x = random_tensor({rows, width}, rng);
            const Tensor g = random_tensor({rows, width}, rng);
            const auto vx = values(x), vg = values(g);
            std::vector<double> expected(vx.size());
            for (size_t i = 0; i < vx.size(); ++i) expected[i] = vx[i] * vg[i];
            ops::multiply(x, g);
            expect_close(x, expected, 1e-6);
        }
    }
    Tensor x({2, 3});
    EXPECT_THROW(ops::multiply(x, Tensor({2, 4})), Error);
}

// ---- normalisation ---------------------------------------------------------------

std::vector<double> reference_layer_norm(const std::vector<double>& x, const std::vector<double>& g,
                                         const std::vector<double>& b, int64_t width, double eps) {
    std::vector<double> out(x.size());
    const int64_t rows = static_cast<int64_t>(x.size()) / width;
    for (int64_t r = 0; r < rows; ++r) {
        const double* row = x.data() + r * width;
        double mean = 0, var = 0;
        for (int64_t j = 0; j < width; ++j) mean += row[j];
        mean /= static_cast<double>(width);
        for (int64_t j = 0; j < width; ++j) var += (row[j] - mean) * (row[j] - mean);
        var /= static_cast<double>(width);
        for (int64_t j = 0; j < width; ++j) {
            out[static_cast<size_t>(r * width + j)] =
                (row[j] - mean) / std::sqrt(var + eps) * g[static_cast<size_t>(j)] + b[static_cast<size_t>(j)];
        }
    }
    return out;
}

TEST(OpsNorm, LayerNorm) {
    std::mt19937 rng(20);
    for (double eps : {1e-12, 1e-5}) {
        for (int64_t rows : kSizes) {
            for (int64_t width : {1, 3, 7, 33, 65, 768}) {
                // Offset inputs: the mean is far from 0, as in residual streams.
                const Tensor x = random_tensor({rows, width}, rng, 2.0f, 5.0f);
                const Tensor g = random_tensor({width}, rng, 0.5f, 1.5f), b = random_tensor({width}, rng);
                const auto expected = reference_layer_norm(values(x), values(g), values(b), width, eps);
                Tensor out;
                ops::layer_norm(x, g, b, static_cast<float>(eps), out);
                ASSERT_EQ(out.shape(), x.shape());
                expect_close(out, expected, 2e-5, nullptr, "[" + std::to_string(rows) + ", " + std::to_string(width) + "]");
                Tensor in_place = x.clone();
                ops::layer_norm(in_place, g, b, static_cast<float>(eps), in_place);
                expect_close(in_place, expected, 2e-5, nullptr, "in place");
            }
        }
    }
    // 3-d input, and a constant row (variance 0: the output is beta).
    const Tensor g = random_tensor({5}, rng), b = random_tensor({5}, rng);
    const Tensor x = random_tensor({2, 3, 5}, rng);
    Tensor out;
    ops::layer_norm(x, g, b, 1e-5f, out);
    expect_close(out, reference_layer_norm(values(x), values(g), values(b), 5, 1e-5), 2e-5);
    Tensor constant({1, 5});
    constant.fill(3.25f);
    ops::layer_norm(constant, g, b, 1e-12f, out);
    expect_close(out, values(b), 1e-6);
    EXPECT_THROW(ops::layer_norm(x, Tensor({4}), b, 1e-5f, out), Error);
    EXPECT_THROW(ops::layer_norm(x, g, Tensor({6}), 1e-5f, out), Error);
}

TEST(OpsNorm, RmsNorm) {
    std::mt19937 rng(21);
    for (double eps : {1e-6, 1e-2}) {
        for (int64_t rows : kSizes) {
            for (int64_t width : {1, 3, 7, 33, 65, 512}) {
                const Tensor x = random_tensor({rows, width}, rng, -3.0f, 3.0f);
                const Tensor w = random_tensor({width}, rng, 0.5f, 1.5f);
                const auto vx = values(x), vw = values(w);
                std::vector<double> expected(vx.size());
                for (int64_t r = 0; r < rows; ++r) {
                    double ms = 0;
                    for (int64_t j = 0; j < width; ++j) ms += vx[static_cast<size_t>(r * width + j)] * vx[static_cast<size_t>(r * width + j)];
                    ms /= static_cast<double>(width);
                    for (int64_t j = 0; j < width; ++j) {
                        const size_t i = static_cast<size_t>(r * width + j);
                        expected[i] = vx[i] / std::sqrt(ms + eps) * vw[static_cast<size_t>(j)];
                    }
                }
                Tensor out;
                ops::rms_norm(x, w, static_cast<float>(eps), out);
                expect_close(out, expected, 1e-5);
                Tensor in_place = x.clone();
                ops::rms_norm(in_place, w, static_cast<float>(eps), in_place);
                expect_close(in_place, expected, 1e-5, nullptr, "in place");
            }
        }
    }
    Tensor out;
    EXPECT_THROW(ops::rms_norm(Tensor({2, 3}), Tensor({2}), 1e-6f, out), Error);
}

// ---- linear ------------------------------------------------------------------------

// out[r][o] = sum_i x[r][i] W(o, i) + bias[o]; also returns sum |terms| per element.
void reference_linear(const Tensor& x, const Tensor& weight, const Tensor& bias, ops::WeightLayout layout,
                      std::vector<double>& out, std::vector<double>& magnitude) {
    const auto vx = values(x), vw = values(weight);
    const auto vb = values(bias);  // empty when there is no bias
    const int64_t in = x.dim(-1), rows = x.numel() / in;
    const int64_t out_f = layout == ops::WeightLayout::out_in ? weight.dim(0) : weight.dim(1);
    out.assign(static_cast<size_t>(rows * out_f), 0.0);
    magnitude.assign(out.size(), 0.0);
    for (int64_t r = 0; r < rows; ++r) {
        for (int64_t o = 0; o < out_f; ++o) {
            double sum = vb.empty() ? 0.0 : vb[static_cast<size_t>(o)], mag = std::fabs(sum);
            for (int64_t i = 0; i < in; ++i) {
                const double w = layout == ops::WeightLayout::out_in ? vw[static_cast<size_t>(o * in + i)]
                                                                     : vw[static_cast<size_t>(i * out_f + o)];
                const double term = vx[static_cast<size_t>(r * in + i)] * w;
                sum += term;
                mag += std::fabs(term);
            }
            out[static_cast<size_t>(r * out_f + o)] = sum;
            magnitude[static_cast<size_t>(r * out_f + o)] = mag;
        }
    }
}

void check_linear(const Tensor& x, int64_t out_f, ops::WeightLayout layout, bool with_bias, std::mt19937& rng) {
    const int64_t in = x.dim(-1);
    const Tensor weight = random_tensor(layout == ops::WeightLayout::out_in ? Shape{out_f, in} : Shape{in, out_f}, rng);
    // "No bias" is an empty tensor; a [0] tensor here (a default-constructed one
    // is covered by DefaultConstructedBiasMeansNoBias below).
    const Tensor bias = with_bias ? random_tensor({out_f}, rng) : Tensor(Shape{0});
    std::vector<double> expected, magnitude;
    reference_linear(x, weight, bias, layout, expected, magnitude);
    Tensor out;
    ops::linear(x, weight, bias, layout, out);
    Shape expected_shape = x.shape();
    expected_shape[x.rank() - 1] = out_f;
    ASSERT_EQ(out.shape(), expected_shape);
    expect_close(out, expected, 1e-5, &magnitude,
                 "x " + x.shape().str() + " out " + std::to_string(out_f) + " layout " +
                     std::to_string(static_cast<int>(layout)) + (with_bias ? " bias" : " no bias"));
}

TEST(OpsLinear, BothLayoutsWithAndWithoutBias) {
    std::mt19937 rng(30);
    for (auto layout : {ops::WeightLayout::out_in, ops::WeightLayout::in_out}) {
        for (bool with_bias : {true, false}) {
            for (int64_t rows : kSizes) {
                for (int64_t in : {1, 7, 65}) {
                    for (int64_t out_f : {1, 3, 33}) {
                        check_linear(random_tensor({rows, in}, rng), out_f, layout, with_bias, rng);
                    }
                }
            }
            check_linear(random_tensor({2, 7, 33}, rng), 65, layout, with_bias, rng);  // 3-d input
            check_linear(random_tensor({33, 768}, rng), 129, layout, with_bias, rng);   // a long reduction
        }
    }
}

TEST(OpsLinear, StridedInputFromNarrowView) {
    std::mt19937 rng(31);
    for (auto layout : {ops::WeightLayout::out_in, ops::WeightLayout::in_out}) {
        for (bool with_bias : {true, false}) {
            // Columns [5, 5+33) of a [7, 50] tensor: rows 50 floats apart.
            const Tensor wide = random_tensor({7, 50}, rng);
            const Tensor x = wide.narrow(1, 5, 33);
            ASSERT_FALSE(x.is_contiguous());
            check_linear(x, 17, layout, with_bias, rng);
            // The middle third of a fused [2, 3, 3*65] tensor, as a QKV slice.
            const Tensor fused = random_tensor({2, 3, 3 * 65}, rng);
            check_linear(fused.narrow(2, 65, 65), 3, layout, with_bias, rng);
        }
    }
}

// Linear::load(..., with_bias = false) leaves the bias default-constructed,
// so that is what "no bias" looks like to linear() in the models (T5).
TEST(OpsLinear, DefaultConstructedBiasMeansNoBias) {
    std::mt19937 rng(33);
    const Tensor x = random_tensor({3, 7}, rng), w = random_tensor({4, 7}, rng);
    const Tensor no_bias;
    EXPECT_TRUE(no_bias.empty()) << "Tensor() is not empty(): rank " << no_bias.rank() << ", numel " << no_bias.numel();
    std::vector<double> expected, magnitude;
    reference_linear(x, w, Tensor(Shape{0}), ops::WeightLayout::out_in, expected, magnitude);
    Tensor out;
    // (An [out=1] weight is not tried: with a non-empty() default bias that reads a null pointer.)
    ASSERT_NO_THROW(ops::linear(x, w, no_bias, ops::WeightLayout::out_in, out));
    expect_close(out, expected, 1e-5, &magnitude);
}

TEST(OpsLinear, ReusesOutputAndRejectsMismatches) {
    std::mt19937 rng(32);
    const Tensor x = random_tensor({3, 7}, rng), w = random_tensor({5, 7}, rng), b = random_tensor({5}, rng);
    Tensor out = random_tensor({100}, rng);  // an owned buffer of another shape is resized
    std::vector<double> expected, magnitude;
    reference_linear(x, w, b, ops::WeightLayout::out_in, expected, magnitude);
    ops::linear(x, w, b, ops::WeightLayout::out_in, out);
    expect_close(out, expected, 1e-5, &magnitude);
    EXPECT_THROW(ops::linear(x, random_tensor({5, 6}, rng), b, ops::WeightLayout::out_in, out), Error);
    EXPECT_THROW(ops::linear(x, w, random_tensor({4}, rng), ops::WeightLayout::out_in, out), Error);
    EXPECT_THROW(ops::linear(x, w, b, ops::WeightLayout::in_out, out), Error);  // [5, 7] read as [in=5, out=7]
    EXPECT_THROW(ops::linear(x, random_tensor({35}, rng), b, ops::WeightLayout::out_in, out), Error);
}

// ---- softmax, heads --------------------------------------------------------------

TEST(OpsSoftmax, RowsMatchReference) {
    std::mt19937 rng(40);
    for (int64_t rows : kSizes) {
        for (int64_t width : {1, 3, 7, 33, 65, 512}) {
            // Large logits: a naive exp without the max shift would overflow.
            Tensor x = random_tensor({rows, width}, rng, -40.0f, 90.0f);
            const auto vx = values(x);
            std::vector<double> expected(vx.size());
            for (int64_t r = 0; r < rows; ++r) {
                double max = -kInf, sum = 0;
                for (int64_t j = 0; j < width; ++j) max = std::max(max, vx[static_cast<size_t>(r * width + j)]);
                for (int64_t j = 0; j < width; ++j) sum += std::exp(vx[static_cast<size_t>(r * width + j)] - max);
                for (int64_t j = 0; j < width; ++j) {
                    const size_t i = static_cast<size_t>(r * width + j);
                    expected[i] = std::exp(vx[i] - max) / sum;
                }
            }
            ops::softmax_rows(x);
            expect_close(x, expected, 1e-6);
        }
    }
    // 3-d: rows are the leading dims flattened.
    Tensor x = Tensor::from_vector({2, 1, 2}, {0.0f, 0.0f, 0.0f, std::log(3.0f)});
    ops::softmax_rows(x);
    expect_close(x, {0.5, 0.5, 0.25, 0.75}, 1e-6);
}

TEST(OpsLastPosition, TakesEachSequencesLastRow) {
    std::mt19937 rng(43);
    for (int64_t batch : {1, 3}) {
        for (int64_t seq : {1, 7, 33}) {
            for (int64_t width : {1, 65}) {
                const Tensor x = random_tensor({batch, seq, width}, rng);
                const auto vx = values(x);
                std::vector<double> expected;
                for (int64_t b = 0; b < batch; ++b)
                    for (int64_t j = 0; j < width; ++j)
                        expected.push_back(vx[static_cast<size_t>((b * seq + seq - 1) * width + j)]);
                Tensor out;
                ops::last_position(x, out);
                ASSERT_EQ(out.shape(), (Shape{batch, width}));
                expect_close(out, expected, 0.0);
            }
        }
    }
    // A strided input: the middle third of a fused tensor.
    const Tensor fused = random_tensor({2, 5, 9}, rng);
    Tensor out;
    ops::last_position(fused.narrow(2, 3, 3), out);
    for (int64_t b = 0; b < 2; ++b)
        for (int64_t j = 0; j < 3; ++j) EXPECT_EQ(out.at({b, j}), fused.at({b, 4, 3 + j}));
    EXPECT_THROW(ops::last_position(random_tensor({2, 5}, rng), out), Error);
    EXPECT_THROW(ops::last_position(Tensor({2, 0, 4}), out), Error);
}

TEST(OpsHeads, SplitMatchesLoopAndMergeInverts) {
    std::mt19937 rng(41);
    for (int64_t batch : {1, 3}) {
        for (int64_t seq : {1, 7, 33}) {
            for (int64_t heads : {1, 3, 12}) {
                for (int64_t d : {1, 5, 64}) {
                    const Tensor x = random_tensor({batch, seq, heads * d}, rng);
                    const auto vx = values(x);
                    Tensor split;
                    ops::split_heads(x, heads, split);
                    ASSERT_EQ(split.shape(), (Shape{batch, heads, seq, d}));
                    std::vector<double> expected(vx.size());
                    for (int64_t b = 0; b < batch; ++b)
                        for (int64_t h = 0; h < heads; ++h)
                            for (int64_t s = 0; s < seq; ++s)
                                for (int64_t i = 0; i < d; ++i)
                                    expected[static_cast<size_t>(((b * heads + h) * seq + s) * d + i)] =
                                        vx[static_cast<size_t>((b * seq + s) * heads * d + h * d + i)];
                    expect_close(split, expected, 0.0);
                    Tensor merged;
                    ops::merge_heads(split, merged);
                    ASSERT_EQ(merged.shape(), x.shape());
                    EXPECT_EQ(max_abs_diff(merged, x), 0.0);
                }
            }
        }
    }
}

TEST(OpsHeads, StridedInputsAndErrors) {
    std::mt19937 rng(42);
    // split_heads reads strided rows: the K third of a fused QKV tensor.
    const Tensor fused = random_tensor({2, 7, 3 * 15}, rng);
    const Tensor k = fused.narrow(2, 15, 15);
    Tensor split, merged;
    ops::split_heads(k, 3, split);
    ops::merge_heads(split, merged);
    EXPECT_EQ(max_abs_diff(merged, k.clone()), 0.0);
    // merge_heads of a non-contiguous [B, heads, S, d] view (a slice along S).
    const Tensor heads4 = random_tensor({2, 3, 9, 5}, rng);
    const Tensor part = heads4.narrow(2, 2, 4);
    ASSERT_FALSE(part.is_contiguous());
    ops::merge_heads(part, merged);
    ASSERT_EQ(merged.shape(), (Shape{2, 4, 15}));
    const auto vp = values(part);
    std::vector<double> expected;
    for (int64_t b = 0; b < 2; ++b)
        for (int64_t s = 0; s < 4; ++s)
            for (int64_t h = 0; h < 3; ++h)
                for (int64_t i = 0; i < 5; ++i) expected.push_back(vp[static_cast<size_t>(((b * 3 + h) * 4 + s) * 5 + i)]);
    expect_close(merged, expected, 0.0);
    EXPECT_THROW(ops::split_heads(random_tensor({1, 2, 10}, rng), 3, split), Error);
    EXPECT_THROW(ops::split_heads(random_tensor({2, 10}, rng), 2, split), Error);
    EXPECT_THROW(ops::split_heads(random_tensor({1, 2, 10}, rng), 0, split), Error);
    EXPECT_THROW(ops::merge_heads(random_tensor({2, 3, 4}, rng), merged), Error);
}

// ---- attention -------------------------------------------------------------------

struct AttentionReference {
    std::vector<double> out;    // [B, Sq, heads*d]
    std::vector<double> probs;  // [B, heads, Sq, Sk]
};

// p = softmax over the visible keys of scale q.k + bias + key_mask; keys that
// are causally hidden or have a -inf logit get 0; no visible key -> all 0.
AttentionReference reference_attention(const Tensor& q, const Tensor& k, const Tensor& v,
                                       const ops::AttentionOptions& o) {
    const int64_t batch = q.dim(0), sq = q.dim(1), sk = k.dim(1), heads = o.heads, width = q.dim(2),
                  d = width / heads;
    const auto vq = values(q), vk = values(k), vv = values(v);
    const std::vector<double> mask = o.key_mask ? values(*o.key_mask) : std::vector<double>();
    const std::vector<double> bias = o.bias ? values(*o.bias) : std::vector<double>();
    AttentionReference ref;
    ref.out.assign(static_cast<size_t>(batch * sq * width), 0.0);
    ref.probs.assign(static_cast<size_t>(batch * heads * sq * sk), 0.0);
    std::vector<double> logits(static_cast<size_t>(sk));
    for (int64_t b = 0; b < batch; ++b) {
        for (int64_t h = 0; h < heads; ++h) {
            for (int64_t i = 0; i < sq; ++i) {
                double max = -kInf;
                for (int64_t j = 0; j < sk; ++j) {
                    double s = 0;
                    for (int64_t c = 0; c < d; ++c) {
                        s += vq[static_cast<size_t>((b * sq + i) * width + h * d + c)] *
                             vk[static_cast<size_t>((b * sk + j) * width + h * d + c)];
                    }
                    s *= o.scale;
                    if (o.bias) {
                        const int64_t bh = o.bias->dim(0) == 1 ? 0 : h;
                        s += bias[static_cast<size_t>((bh * sq + i) * sk + j)];
                    }
                    if (o.key_mask) s += mask[static_cast<size_t>(b * sk + j)];
                    if (o.causal && j > i + o.causal_offset) s = -kInf;
                    logits[static_cast<size_t>(j)] = s;
                    max = std::max(max, s);
                }
                if (max == -kInf) continue;  // nothing visible: zeros
                double sum = 0;
                for (int64_t j = 0; j < sk; ++j) sum += std::exp(logits[static_cast<size_t>(j)] - max);
                for (int64_t j = 0; j < sk; ++j) {
                    const double p = std::exp(logits[static_cast<size_t>(j)] - max) / sum;
                    ref.probs[static_cast<size_t>(((b * heads + h) * sq + i) * sk + j)] = p;
                    for (int64_t c = 0; c < d; ++c) {
                        ref.out[static_cast<size_t>((b * sq + i) * width + h * d + c)] +=
                            p * vv[static_cast<size_t>((b * sk + j) * width + h * d + c)];
                    }
                }
            }
        }
    }
    return ref;
}

// The same masking rules applied to given raw scores [B, H, Sq, Sk].
std::vector<double> reference_masked_softmax(const Tensor& scores, const ops::SoftmaxMasking& m) {
    const int64_t batch = scores.dim(0), heads = scores.dim(1), sq = scores.dim(2), sk = scores.dim(3);
    const auto vs = values(scores);
    const std::vector<double> mask = m.key_mask ? values(*m.key_mask) : std::vector<double>();
    const std::vector<double> bias = m.bias ? values(*m.bias) : std::vector<double>();
    std::vector<double> out(vs.size(), 0.0), logits(static_cast<size_t>(sk));
    for (int64_t b = 0; b < batch; ++b)
        for (int64_t h = 0; h < heads; ++h)
            for (int64_t i = 0; i < sq; ++i) {
                const size_t row = static_cast<size_t>(((b * heads + h) * sq + i) * sk);
                double max = -kInf;
                for (int64_t j = 0; j < sk; ++j) {
                    double s = m.scale * vs[row + static_cast<size_t>(j)];
                    if (m.bias) s += bias[static_cast<size_t>(((m.bias->dim(0) == 1 ? 0 : h) * sq + i) * sk + j)];
                    if (m.key_mask) s += mask[static_cast<size_t>(b * sk + j)];
                    if (m.causal && j > i + m.causal_offset) s = -kInf;
                    logits[static_cast<size_t>(j)] = s;
                    max = std::max(max, s);
                }
                if (max == -kInf) continue;
                double sum = 0;
                for (double s : logits) sum += std::exp(s - max);
                for (int64_t j = 0; j < sk; ++j) out[row + static_cast<size_t>(j)] = std::exp(logits[static_cast<size_t>(j)] - max) / sum;
            }
    return out;
}

struct AttentionCase {
    int64_t batch = 2, sq = 7, sk = 7, heads = 3, d = 5;
};

// Runs attention on q, k, v and checks out (and the full capture) against the reference.
void check_attention(const Tensor& q, const Tensor& k, const Tensor& v, const ops::AttentionOptions& o,
                     const std::string& what) {
    SCOPED_TRACE(what);
    const AttentionReference ref = reference_attention(q, k, v, o);
    Tensor out;
    ops::attention(q, k, v, o, out);
    ASSERT_EQ(out.shape(), (Shape{q.dim(0), q.dim(1), q.dim(2)}));
    EXPECT_TRUE(all_finite(out));
    expect_close(out, ref.out, 1e-5, nullptr, what + " out");

    // All heads, all rows captured: the probabilities themselves.
    std::vector<int> all_heads(static_cast<size_t>(o.heads));
    for (int h = 0; h < o.heads; ++h) all_heads[static_cast<size_t>(h)] = h;
    Tensor probs, out2;
    ops::ProbabilityCapture capture{all_heads, {}, &probs};
    ops::attention(q, k, v, o, out2, &capture);
    ASSERT_EQ(probs.shape(), (Shape{q.dim(0), o.heads, q.dim(1), k.dim(1)}));
    expect_close(probs, ref.probs, 1e-5, nullptr, what + " probabilities");
    EXPECT_EQ(max_abs_diff(out, out2), 0.0) << "capture changed the output";
}

void check_attention(const AttentionCase& c, ops::AttentionOptions o, std::mt19937& rng, const std::string& what,
                     const Tensor* key_mask = nullptr, const Tensor* bias = nullptr) {
    const Tensor q = random_tensor({c.batch, c.sq, c.heads * c.d}, rng, -2.0f, 2.0f);
    const Tensor k = random_tensor({c.batch, c.sk, c.heads * c.d}, rng, -2.0f, 2.0f);
    const Tensor v = random_tensor({c.batch, c.sk, c.heads * c.d}, rng);
    o.heads = c.heads;
    o.key_mask = key_mask;
    o.bias = bias;
    check_attention(q, k, v, o, what);
}

std::vector<AttentionCase> attention_cases() {
    return {{1, 1, 1, 1, 1}, {2, 7, 7, 3, 5}, {1, 33, 33, 2, 11}, {3, 3, 3, 4, 64}, {1, 65, 65, 12, 7}};
}

TEST(OpsAttention, NoMask) {
    std::mt19937 rng(50);
    for (const auto& c : attention_cases()) {
        ops::AttentionOptions o;
        o.scale = 1.0f / std::sqrt(static_cast<float>(c.d));
        check_attention(c, o, rng, "S " + std::to_string(c.sq) + " heads " + std::to_string(c.heads));
        o.scale = 1.0f;  // T5: no scaling
        check_attention(c, o, rng, "scale 1, S " + std::to_string(c.sq));
    }
}

// A 0/1 padding mask: sequence b keeps its first `keep[b]` tokens.
Tensor padding_mask(int64_t batch, int64_t seq, const std::vector<int64_t>& keep) {
    std::vector<uint8_t> m(static_cast<size_t>(batch * seq), 0);
    for (int64_t b = 0; b < batch; ++b)
        for (int64_t j = 0; j < keep[static_cast<size_t>(b)]; ++j) m[static_cast<size_t>(b * seq + j)] = 1;
    Tensor mask;
    ops::additive_key_mask(m, batch, seq, mask);
    return mask;
}

TEST(OpsAttention, PaddingKeyMask) {
    std::mt19937 rng(51);
    for (const auto& c : attention_cases()) {
        std::vector<int64_t> keep;
        for (int64_t b = 0; b < c.batch; ++b) keep.push_back(std::max<int64_t>(1, c.sk - 3 * b));
        const Tensor mask = padding_mask(c.batch, c.sk, keep);
        ops::AttentionOptions o;
        o.scale = 0.5f;
        check_attention(c, o, rng, "padding S " + std::to_string(c.sq), &mask);
    }
}

TEST(OpsAttention, Causal) {
    std::mt19937 rng(52);
    for (const auto& c : attention_cases()) {
        ops::AttentionOptions o;
        o.scale = 1.0f / std::sqrt(static_cast<float>(c.d));
        o.causal = true;
        check_attention(c, o, rng, "causal S " + std::to_string(c.sq));
    }
}

TEST(OpsAttention, CausalOffsetForCachedDecoding) {
    std::mt19937 rng(53);
    ops::AttentionOptions o;
    o.scale = 0.4f;
    o.causal = true;
    // One new token after 8 cached ones: sees all 9 keys.
    o.causal_offset = 8;
    check_attention({2, 1, 9, 3, 5}, o, rng, "Sq 1, offset Sk-1");
    o.causal_offset = 32;
    check_attention({1, 1, 33, 2, 7}, o, rng, "Sq 1, Sk 33, offset 32");
    // Three new tokens after 4 cached: query i sees keys 0 .. 4+i.
    o.causal_offset = 4;
    check_attention({2, 3, 7, 3, 5}, o, rng, "Sq 3, offset 4");
    // The causal structure is really applied: with offset 4, query 0 ignores keys 5 and 6.
    const Tensor q = random_tensor({1, 3, 4}, rng), k = random_tensor({1, 7, 4}, rng);
    Tensor v = random_tensor({1, 7, 4}, rng), out_a, out_b;
    o.heads = 1;
    ops::attention(q, k, v, o, out_a);
    for (int64_t j = 5; j < 7; ++j)
        for (int64_t i = 0; i < 4; ++i) v.at({0, j, i}) = 1000.0f;
    ops::attention(q, k, v, o, out_b);
    for (int64_t i = 0; i < 4; ++i) EXPECT_EQ(out_a.at({0, 0, i}), out_b.at({0, 0, i}));
    EXPECT_NE(out_a.at({0, 2, 0}), out_b.at({0, 2, 0}));
}

TEST(OpsAttention, CausalAndPaddingMasks) {
    std::mt19937 rng(54);
    for (const auto& c : attention_cases()) {
        std::vector<int64_t> keep;
        for (int64_t b = 0; b < c.batch; ++b) keep.push_back(std::max<int64_t>(1, c.sk - 2 - b));
        const Tensor mask = padding_mask(c.batch, c.sk, keep);
        ops::AttentionOptions o;
        o.scale = 1.0f / std::sqrt(static_cast<float>(c.d));
        o.causal = true;
        check_attention(c, o, rng, "causal+padding S " + std::to_string(c.sq), &mask);
    }
    // With an offset too (decoding with a padded cache).
    const AttentionCase c{2, 3, 9, 3, 5};
    const Tensor mask = padding_mask(2, 9, {9, 5});
    ops::AttentionOptions o;
    o.scale = 0.3f;
    o.causal = true;
    o.causal_offset = 6;
    check_attention(c, o, rng, "causal offset + padding", &mask);
}

TEST(OpsAttention, AdditiveBiasSharedAndPerHead) {
    std::mt19937 rng(55);
    for (const auto& c : attention_cases()) {
        for (int64_t planes : {int64_t{1}, c.heads}) {
            const Tensor bias = random_tensor({planes, c.sq, c.sk}, rng, -3.0f, 3.0f);
            ops::AttentionOptions o;  // T5: scale 1, bias added
            check_attention(c, o, rng, "bias planes " + std::to_string(planes) + " S " + std::to_string(c.sq),
                            nullptr, &bias);
            o.causal = true;
            const Tensor mask = padding_mask(c.batch, c.sk, std::vector<int64_t>(static_cast<size_t>(c.batch), c.sk));
            check_attention(c, o, rng, "bias + causal + mask, planes " + std::to_string(planes), &mask, &bias);
        }
    }
    // The bias may itself be a strided view: rows of a wider tensor.
    const Tensor wide = random_tensor({3, 7, 12}, rng);
    const Tensor bias = wide.narrow(2, 2, 7);
    ops::AttentionOptions o;
    check_attention({2, 7, 7, 3, 5}, o, rng, "strided bias", nullptr, &bias);
}

TEST(OpsAttention, CrossAttention) {
    std::mt19937 rng(56);
    for (const AttentionCase& c : {AttentionCase{2, 5, 11, 3, 5}, AttentionCase{1, 1, 33, 2, 8},
                                   AttentionCase{3, 33, 7, 4, 3}, AttentionCase{1, 65, 1, 1, 16}}) {
        ops::AttentionOptions o;
        o.scale = 1.0f / std::sqrt(static_cast<float>(c.d));
        check_attention(c, o, rng, "cross Sq " + std::to_string(c.sq) + " Sk " + std::to_string(c.sk));
        std::vector<int64_t> keep;
        for (int64_t b = 0; b < c.batch; ++b) keep.push_back(std::max<int64_t>(1, c.sk - 2 * b));
        const Tensor mask = padding_mask(c.batch, c.sk, keep);
        check_attention(c, o, rng, "cross + encoder padding Sq " + std::to_string(c.sq), &mask);
    }
}

TEST(OpsAttention, StridedSlicesOfFusedQkv) {
    std::mt19937 rng(57);
    for (const auto& c : attention_cases()) {
        const int64_t w = c.heads * c.d;
        const Tensor qkv = random_tensor({c.batch, c.sq, 3 * w}, rng, -2.0f, 2.0f);
        const Tensor q = qkv.narrow(2, 0, w), k = qkv.narrow(2, w, w), v = qkv.narrow(2, 2 * w, w);
        ASSERT_EQ(q.stride(1), 3 * w);
        std::vector<int64_t> keep;
        for (int64_t b = 0; b < c.batch; ++b) keep.push_back(std::max<int64_t>(1, c.sq - b));
        const Tensor mask = padding_mask(c.batch, c.sq, keep);
        ops::AttentionOptions o;
        o.heads = c.heads;
        o.scale = 1.0f / std::sqrt(static_cast<float>(c.d));
        o.key_mask = &mask;
        check_attention(q, k, v, o, "fused qkv S " + std::to_string(c.sq));
        // The same as with contiguous copies.
        Tensor strided, contiguous;
        ops::attention(q, k, v, o, strided);
        ops::attention(q.clone(), k.clone(), v.clone(), o, contiguous);
        EXPECT_LE(max_abs_diff(strided, contiguous), 1e-6);
    }
}

TEST(OpsAttention, ProbabilityCaptureSubsetOfHeadsAndRows) {
    std::mt19937 rng(58);
    const AttentionCase c{2, 9, 9, 4, 6};
    const int64_t w = c.heads * c.d;
    const Tensor qkv = random_tensor({c.batch, c.sq, 3 * w}, rng, -2.0f, 2.0f);
    const Tensor q = qkv.narrow(2, 0, w), k = qkv.narrow(2, w, w), v = qkv.narrow(2, 2 * w, w);
    const Tensor mask = padding_mask(c.batch, c.sk, {9, 6});
    for (bool causal : {false, true}) {
        ops::AttentionOptions o;
        o.heads = c.heads;
        o.scale = 1.0f / std::sqrt(static_cast<float>(c.d));
        o.key_mask = &mask;
        o.causal = causal;
        const AttentionReference ref = reference_attention(q, k, v, o);
        Tensor plain;
        ops::attention(q, k, v, o, plain);

        const std::vector<int> heads = {1, 3};
        for (const std::vector<int64_t>& rows : {std::vector<int64_t>{0, 4, 8}, std::vector<int64_t>{7},
                                                 std::vector<int64_t>{}}) {
            Tensor probs({5}), out;  // a stale buffer of another shape is resized
            ops::ProbabilityCapture capture{heads, rows, &probs};
            ops::attention(q, k, v, o, out, &capture);
            const int64_t n_rows = rows.empty() ? c.sq : static_cast<int64_t>(rows.size());
            ASSERT_EQ(probs.shape(), (Shape{c.batch, 2, n_rows, c.sk}));
            std::vector<double> expected;
            for (int64_t b = 0; b < c.batch; ++b)
                for (int h : heads)
                    for (int64_t r = 0; r < n_rows; ++r) {
                        const int64_t i = rows.empty() ? r : rows[static_cast<size_t>(r)];
                        for (int64_t j = 0; j < c.sk; ++j)
                            expected.push_back(ref.probs[static_cast<size_t>(((b * c.heads + h) * c.sq + i) * c.sk + j)]);
                    }
            expect_close(probs, expected, 1e-5, nullptr, causal ? "causal capture" : "capture");
            EXPECT_EQ(max_abs_diff(out, plain), 0.0) << "capture changed the output";
            // Each captured row is a distribution; padded keys (batch 1, keys 6..8) get exactly 0.
            for (int64_t h = 0; h < 2; ++h)
                for (int64_t r = 0; r < n_rows; ++r) {
                    double sum = 0;
                    for (int64_t j = 0; j < c.sk; ++j) sum += probs.at({1, h, r, j});
                    EXPECT_NEAR(sum, 1.0, 1e-5);
                    for (int64_t j = 6; j < c.sk; ++j) EXPECT_EQ(probs.at({1, h, r, j}), 0.0f);
                }
        }
    }
    // A null out captures nothing; bad heads and rows are rejected.
    ops::AttentionOptions o;
    o.heads = c.heads;
    Tensor out;
    const std::vector<int> heads_ok = {0};
    ops::ProbabilityCapture no_out{heads_ok, {}, nullptr};
    EXPECT_NO_THROW(ops::attention(q, k, v, o, out, &no_out));
    Tensor probs;
    const std::vector<int> bad_head = {4};
    ops::ProbabilityCapture c1{bad_head, {}, &probs};
    EXPECT_THROW(ops::attention(q, k, v, o, out, &c1), Error);
    const std::vector<int64_t> bad_row = {9};
    ops::ProbabilityCapture c2{heads_ok, bad_row, &probs};
    EXPECT_THROW(ops::attention(q, k, v, o, out, &c2), Error);
}

TEST(OpsAttention, FullyMaskedRowGivesZerosNotNaN) {
    std::mt19937 rng(59);
    const AttentionCase c{2, 5, 5, 3, 4};
    const int64_t w = c.heads * c.d;
    const Tensor q = random_tensor({2, 5, w}, rng), k = random_tensor({2, 5, w}, rng), v = random_tensor({2, 5, w}, rng);
    // Sequence 1 is all padding.
    const Tensor mask = padding_mask(2, 5, {5, 0});
    ops::AttentionOptions o;
    o.heads = c.heads;
    o.scale = 0.5f;
    o.key_mask = &mask;
    check_attention(q, k, v, o, "all keys of batch 1 masked");
    Tensor out;
    ops::attention(q, k, v, o, out);
    for (int64_t s = 0; s < 5; ++s)
        for (int64_t i = 0; i < w; ++i) EXPECT_EQ(out.at({1, s, i}), 0.0f);
    // A bias that hides every key from query row 2 of head 1.
    Tensor bias = random_tensor({c.heads, 5, 5}, rng);
    for (int64_t j = 0; j < 5; ++j) bias.at({1, 2, j}) = -std::numeric_limits<float>::infinity();
    o.key_mask = nullptr;
    o.bias = &bias;
    check_attention(q, k, v, o, "one row hidden by the bias");
    // Causal with a padded first key: query 0 sees only key 0, which is masked.
    const Tensor first_masked = [] {
        Tensor m;
        ops::additive_key_mask(std::vector<uint8_t>{0, 1, 1, 1, 1, 0, 1, 1, 1, 1}, 2, 5, m);
        return m;
    }();
    o.bias = nullptr;
    o.key_mask = &first_masked;
    o.causal = true;
    check_attention(q, k, v, o, "causal, first key masked");
    ops::attention(q, k, v, o, out);
    for (int64_t i = 0; i < w; ++i) EXPECT_EQ(out.at({0, 0, i}), 0.0f);
}

TEST(OpsAttention, RejectsBadArguments) {
    std::mt19937 rng(60);
    const Tensor q = random_tensor({2, 5, 12}, rng), k = random_tensor({2, 6, 12}, rng), v = random_tensor({2, 6, 12}, rng);
    Tensor out;
    ops::AttentionOptions o;
    o.heads = 5;  // 12 not divisible
    EXPECT_THROW(ops::attention(q, k, v, o, out), Error);
    o.heads = 3;
    EXPECT_NO_THROW(ops::attention(q, k, v, o, out));
    EXPECT_THROW(ops::attention(q, k, random_tensor({2, 5, 12}, rng), o, out), Error);  // k, v lengths
    EXPECT_THROW(ops::attention(q, random_tensor({1, 6, 12}, rng), random_tensor({1, 6, 12}, rng), o, out), Error);
    EXPECT_THROW(ops::attention(q, random_tensor({2, 6, 9}, rng), random_tensor({2, 6, 9}, rng), o, out), Error);
    EXPECT_THROW(ops::attention(random_tensor({10, 12}, rng), k, v, o, out), Error);
    const Tensor bad_mask = random_tensor({2, 5}, rng);  // [B, Sq] instead of [B, Sk]
    o.key_mask = &bad_mask;
    EXPECT_THROW(ops::attention(q, k, v, o, out), Error);
    o.key_mask = nullptr;
    const Tensor bad_bias = random_tensor({2, 5, 6}, rng);  // 2 planes for 3 heads
    o.bias = &bad_bias;
    EXPECT_THROW(ops::attention(q, k, v, o, out), Error);
}

TEST(OpsAttention, ScaledMaskedSoftmax) {
    std::mt19937 rng(61);
    for (const AttentionCase& c : {AttentionCase{1, 1, 1, 1, 0}, AttentionCase{2, 7, 7, 3, 0},
                                   AttentionCase{1, 3, 9, 2, 0}, AttentionCase{2, 33, 65, 4, 0}}) {
        for (int variant = 0; variant < 6; ++variant) {
            const Tensor scores = random_tensor({c.batch, c.heads, c.sq, c.sk}, rng, -8.0f, 8.0f);
            std::vector<int64_t> keep;
            for (int64_t b = 0; b < c.batch; ++b) keep.push_back(std::max<int64_t>(1, c.sk - 3 * b));
            const Tensor mask = padding_mask(c.batch, c.sk, keep);
            const Tensor bias = random_tensor({variant == 4 ? c.heads : 1, c.sq, c.sk}, rng, -2.0f, 2.0f);
            ops::SoftmaxMasking m;
            m.scale = variant == 0 ? 1.0f : 0.125f;
            m.key_mask = variant == 1 || variant >= 3 ? &mask : nullptr;
            m.causal = variant == 2 || variant == 5;
            m.causal_offset = variant == 5 ? c.sk - c.sq : 0;  // cached decoding
            m.bias = variant >= 3 ? &bias : nullptr;
            const auto expected = reference_masked_softmax(scores, m);
            Tensor out = scores.clone();
            ops::scaled_masked_softmax(out, m);
            EXPECT_TRUE(all_finite(out));
            expect_close(out, expected, 1e-6, nullptr,
                         "variant " + std::to_string(variant) + " " + scores.shape().str());
        }
    }
    // A fully masked row becomes zeros; bad shapes are rejected.
    Tensor scores = random_tensor({2, 1, 2, 3}, rng);
    const Tensor mask = padding_mask(2, 3, {3, 0});
    ops::SoftmaxMasking m;
    m.key_mask = &mask;
    ops::scaled_masked_softmax(scores, m);
    for (int64_t i = 0; i < 2; ++i)
        for (int64_t j = 0; j < 3; ++j) EXPECT_EQ(scores.at({1, 0, i, j}), 0.0f);
    Tensor flat({6, 3});
    EXPECT_THROW(ops::scaled_masked_softmax(flat, {}), Error);
    const Tensor wrong_mask = padding_mask(2, 2, {2, 2});
    m.key_mask = &wrong_mask;
    EXPECT_THROW(ops::scaled_masked_softmax(scores, m), Error);
}

TEST(OpsAttention, AdditiveKeyMask) {
    const std::vector<uint8_t> m = {1, 1, 0, 1, 0, 0, 1, 1, 1};
    Tensor out;
    ops::additive_key_mask(m, 3, 3, out);
    ASSERT_EQ(out.shape(), (Shape{3, 3}));
    for (size_t i = 0; i < m.size(); ++i) {
        if (m[i]) {
            EXPECT_EQ(out.data()[i], 0.0f);
        } else {
            EXPECT_EQ(out.data()[i], -std::numeric_limits<float>::infinity());
        }
    }
    ops::additive_key_mask(std::vector<uint8_t>{7}, 1, 1, out);  // any nonzero keeps
    EXPECT_EQ(out.to_vector(), std::vector<float>{0.0f});
    EXPECT_THROW(ops::additive_key_mask(m, 2, 3, out), Error);
    EXPECT_THROW(ops::additive_key_mask(m, 3, 4, out), Error);
}

}  // namespace
}  // namespace gaze::test
