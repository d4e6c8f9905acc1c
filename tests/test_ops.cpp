// Every op in gaze/ops.hpp against a naive double-precision reference written
// straight from the math (plain loops, no Eigen), on random inputs of awkward
// sizes (1, 3, 7, 33, 65 ...) so that vectorised tails and blocking edges are
// exercised. Views (narrow()) are used where an op promises to read strided rows.
// Attention has its own file: test_ops_attention.cpp.
#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <random>
#include <string>
#include <vector>

#include "gaze/error.hpp"
#include "gaze/ops.hpp"
#include "ops_reference.hpp"
#include "test_support.hpp"

namespace gaze::test {
namespace {

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

}  // namespace
}  // namespace gaze::test
