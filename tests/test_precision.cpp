// Lower precisions: dtype conversions, the linear kernels of every dtype
// against an f32 reference on awkward sizes (with a rigorous error bound), and
// a bf16 checkpoint used without an f32 copy.
#include <gtest/gtest.h>

#include <cmath>
#include <fstream>
#include <random>

#include "bad_input_support.hpp"
#include "gaze/cpu.hpp"
#include "gaze/gaze.hpp"
#include "test_support.hpp"

namespace gaze::test {
namespace {

TEST(DType, Bf16RoundsToNearestEvenAndKeepsSpecials) {
    EXPECT_EQ(float_to_bf16(1.0f), 0x3f80);
    // 1 + 2^-8 is halfway between bf16 1.0 and 1.0078125: ties go to the even mantissa (1.0).
    EXPECT_EQ(float_to_bf16(1.00390625f), 0x3f80);
    // 1 + 3 * 2^-8 is halfway between 1.0078125 (odd) and 1.015625 (even): up.
    EXPECT_EQ(float_to_bf16(1.01171875f), 0x3f82);
    EXPECT_EQ(float_to_bf16(-2.0f), 0xc000);
    EXPECT_EQ(float_to_bf16(INFINITY), 0x7f80);
    EXPECT_TRUE(std::isnan(bf16_to_float(float_to_bf16(NAN))));
    std::mt19937 rng(1);
    std::uniform_real_distribution<float> dist(-100.0f, 100.0f);
    for (int i = 0; i < 1000; ++i) {
        const float v = dist(rng);
        EXPECT_LE(std::fabs(bf16_to_float(float_to_bf16(v)) - v), std::fabs(v) * 0x1p-8f) << v;
    }
}

TEST(DType, ParseNamesTheArgumentAndTheChoices) {
    EXPECT_EQ(parse_compute_dtype("bf16", "--dtype"), DType::bf16);
    EXPECT_EQ(parse_compute_dtype("int8", "--dtype"), DType::i8);
    try {
        parse_compute_dtype("f64", "--dtype");
        FAIL() << "f64 accepted";
    } catch (const Error& e) {
        EXPECT_NE(std::string(e.what()).find("--dtype: unknown dtype 'f64' (choose f32, bf16 or int8)"), std::string::npos) << e.what();
    }
}

TEST(TensorDType, F32AccessorsRefuseOtherDtypesAndStorageIsAligned) {
    Tensor b({3, 5}, DType::bf16);
    EXPECT_EQ(b.nbytes(), 30u);
    EXPECT_THROW(b.data(), Error);
    EXPECT_THROW(b.matrix(), Error);
    EXPECT_THROW(b.data_as<float>(), Error);
    EXPECT_NO_THROW(b.data_as<uint16_t>());
    for (int64_t n : {1, 7, 100, 4097}) {
        Tensor t({n});
        EXPECT_EQ(reinterpret_cast<uintptr_t>(t.data()) % 64, 0u) << n;
        t.resize({3 * n});
        EXPECT_EQ(reinterpret_cast<uintptr_t>(t.data()) % 64, 0u) << n;
    }
    // A narrowed bf16 view steps by 2-byte elements.
    Tensor f = Tensor::from_vector({2, 3}, {1, 2, 3, 4, 5, 6}).to(DType::bf16);
    EXPECT_EQ(f.narrow(0, 1, 1).to_vector(), (std::vector<float>{4, 5, 6}));
}

TEST(TensorDType, QuantizeRowsBoundsEachElementByHalfItsRowScale) {
    std::mt19937 rng(2);
    const Tensor w = random_tensor({9, 33}, rng, -3.0f, 3.0f);
    const Tensor q = quantize_rows(w, "w");
    ASSERT_EQ(q.dtype(), DType::i8);
    ASSERT_NE(q.quant_scales(), nullptr);
    const Tensor back = q.to_float();
    for (int64_t r = 0; r < 9; ++r) {
        const float scale = q.quant_scales()->data()[r];
        for (int64_t j = 0; j < 33; ++j) EXPECT_LE(std::fabs(back.at({r, j}) - w.at({r, j})), scale / 2 + 1e-6f);
    }
    Tensor bad = w.clone();
    bad.at({4, 7}) = INFINITY;
    try {
        quantize_rows(bad, "model.safetensors: tensor 'x.weight'");
        FAIL() << "inf quantised";
    } catch (const Error& e) {
        EXPECT_NE(std::string(e.what()).find("tensor 'x.weight': cannot quantise to int8: element [4, 7] is not finite"),
                  std::string::npos)
            << e.what();
    }
}

// y = x W^T + b in double, and the bound sum_k |x_k| |w_k| (the scale of the rounding errors).
void reference_linear(const Tensor& x, const Tensor& w, const Tensor& bias, Tensor& y, Tensor& magnitude) {
    const int64_t m = x.dim(0), n = w.dim(0), k = w.dim(1);
    y = Tensor({m, n});
    magnitude = Tensor({m, n});
    for (int64_t r = 0; r < m; ++r) {
        for (int64_t c = 0; c < n; ++c) {
            double s = bias.empty() ? 0.0 : bias.data()[c], a = 0.0;
            for (int64_t j = 0; j < k; ++j) {
                s += static_cast<double>(x.at({r, j})) * w.at({c, j});
                a += std::fabs(static_cast<double>(x.at({r, j})) * w.at({c, j}));
            }
            y.at({r, c}) = static_cast<float>(s);
            magnitude.at({r, c}) = static_cast<float>(a);
        }
    }
}

Tensor transposed(const Tensor& w) {
    Tensor t({w.dim(1), w.dim(0)});
    t.matrix() = w.matrix().transpose();
    return t;
}

struct LinearCase {
    int64_t m, n, k;
};

class LinearDType : public ::testing::TestWithParam<LinearCase> {};

// Awkward sizes: one row (the GEMV kernels), rows and widths off every vector
// width and panel size, K below one vector.
TEST_P(LinearDType, EveryDtypeMatchesTheF32ReferenceWithinItsRoundingBound) {
    // Plain variables, not a structured binding: clang 14 cannot capture those in the lambda below.
    const int64_t m = GetParam().m, n = GetParam().n, k = GetParam().k;
    std::mt19937 rng(static_cast<uint32_t>(m * 1000 + n * 10 + k));
    const Tensor x = random_tensor({m, k}, rng), w = random_tensor({n, k}, rng), bias = random_tensor({n}, rng);
    for (const bool with_bias : {true, false}) {
        Tensor expected, magnitude;
        reference_linear(x, w, with_bias ? bias : Tensor(), expected, magnitude);
        auto check = [&](const Tensor& weight, ops::WeightLayout layout, double relative, const char* what) {
            Tensor y;
            ops::linear(x, weight, with_bias ? bias : Tensor(), layout, y);
            ASSERT_EQ(y.shape(), expected.shape()) << what;
            for (int64_t r = 0; r < m; ++r) {
                for (int64_t c = 0; c < n; ++c) {
                    const double bound = relative * magnitude.at({r, c}) + 1e-5;
                    ASSERT_LE(std::fabs(y.at({r, c}) - expected.at({r, c})), bound)
                        << what << " at [" << r << ", " << c << "] of " << m << "x" << n << "x" << k << ", kernel "
                        << ops::linear_kernel_name(weight.dtype(), m);
                }
            }
        };
        check(w, ops::WeightLayout::out_in, 1e-5, "f32 [out, in]");
        check(transposed(w), ops::WeightLayout::in_out, 1e-5, "f32 [in, out]");
        // bf16 rounds x and W (2^-9 relative each) and accumulates in f32.
        check(w.to(DType::bf16), ops::WeightLayout::out_in, 2.5 * 0x1p-9, "bf16 [out, in]");
        check(transposed(w).to(DType::bf16), ops::WeightLayout::in_out, 2.5 * 0x1p-9, "bf16 [in, out]");
        // int8: |x| and |w| are at most 1 here, so each product is off by at
        // most (sx + sw) / 2 with scales <= 1/127: relative to sum |x||w| that
        // is loose, so bound the absolute error directly.
        Tensor y;
        const Tensor q = quantize_rows(w, "w");
        ops::linear(x, q, with_bias ? bias : Tensor(), ops::WeightLayout::out_in, y);
        for (int64_t r = 0; r < m; ++r) {
            double largest = 0;
            for (int64_t j = 0; j < k; ++j) largest = std::max(largest, std::fabs(static_cast<double>(x.at({r, j}))));
            const double sx = largest / 127.0;
            for (int64_t c = 0; c < n; ++c) {
                const double sw = q.quant_scales()->data()[c];
                double sum_w = 0, sum_x = 0;
                for (int64_t j = 0; j < k; ++j) sum_w += std::fabs(w.at({c, j})), sum_x += std::fabs(x.at({r, j}));
                const double bound = sx / 2 * sum_w + sw / 2 * sum_x + k * sx * sw / 4 + 1e-4;
                ASSERT_LE(std::fabs(y.at({r, c}) - expected.at({r, c})), bound)
                    << "int8 at [" << r << ", " << c << "] of " << m << "x" << n << "x" << k;
            }
        }
    }
}

INSTANTIATE_TEST_SUITE_P(Sizes, LinearDType,
                         ::testing::Values(LinearCase{1, 5, 3}, LinearCase{1, 37, 70}, LinearCase{1, 300, 129},
                                           LinearCase{3, 17, 33}, LinearCase{8, 64, 768}, LinearCase{17, 257, 65},
                                           LinearCase{64, 48, 96}),
                         [](const auto& info) {
                             return std::to_string(info.param.m) + "x" + std::to_string(info.param.n) + "x" +
                                    std::to_string(info.param.k);
                         });

// One int8 row (gemv-int8-vnni on a VNNI CPU) against the same row inside a
// two-row product (onednn-int8): both sum x8 * w8 exactly in int32 and scale
// alike, so decoding computes what prefill computes, to the last bit. K runs
// past one 64-byte vector with a tail; N leaves rows after the last group of 4.
TEST(LinearDType, Int8OneRowEqualsTheSameRowOfAGemmExactly) {
    if (!cpu_features().avx512_vnni) GTEST_SKIP() << "no AVX512-VNNI: one int8 row takes the f32 fallback here";
    std::mt19937 rng(5);
    for (const int64_t k : {int64_t{1}, int64_t{63}, int64_t{64}, int64_t{200}, int64_t{2048}}) {
        const Tensor q = quantize_rows(random_tensor({203, k}, rng), "w"), bias = random_tensor({203}, rng);
        const Tensor row = random_tensor({1, k}, rng);
        Tensor two({2, k});
        for (int64_t j = 0; j < k; ++j) two.at({0, j}) = two.at({1, j}) = row.at({0, j});
        Tensor one_out, two_out;
        ops::linear(row, q, bias, ops::WeightLayout::out_in, one_out);
        ops::linear(two, q, bias, ops::WeightLayout::out_in, two_out);
        EXPECT_EQ(ops::linear_kernel_name(DType::i8, 1), "gemv-int8-vnni");
        for (int64_t c = 0; c < 203; ++c) ASSERT_EQ(one_out.at({0, c}), two_out.at({0, c})) << "K " << k << ", column " << c;
    }
    Tensor bad = random_tensor({1, 70}, rng);
    bad.at({0, 69}) = INFINITY;
    Tensor y;
    ops::linear(bad, quantize_rows(random_tensor({9, 70}, rng), "w"), Tensor(), ops::WeightLayout::out_in, y);
    for (int64_t c = 0; c < 9; ++c) EXPECT_TRUE(std::isnan(y.at({0, c}))) << "an infinite activation must give NaN, column " << c;
}

TEST(LinearDType, NaNActivationsGiveNaNRowsInInt8NotGarbage) {
    std::mt19937 rng(3);
    Tensor x = random_tensor({2, 16}, rng);
    x.at({1, 3}) = NAN;
    const Tensor q = quantize_rows(random_tensor({4, 16}, rng), "w");
    Tensor y;
    ops::linear(x, q, Tensor(), ops::WeightLayout::out_in, y);
    for (int64_t c = 0; c < 4; ++c) {
        EXPECT_TRUE(std::isfinite(y.at({0, c})));
        EXPECT_TRUE(std::isnan(y.at({1, c})));
    }
}

TEST(CpuFeatures, TheChosenIsaIsOneTheCpuHas) {
    const CpuFeatures& cpu = cpu_features();
    EXPECT_TRUE(cpu.avx2 && cpu.fma) << "gaze's baseline (x86-64-v3) needs AVX2 + FMA";
    if (cpu.isa == "amx") EXPECT_TRUE(cpu.amx);
    if (cpu.isa == "avx512_bf16") EXPECT_TRUE(cpu.avx512_bf16);
    if (cpu.avx512_bf16) EXPECT_TRUE(cpu.avx512);
    EXPECT_GE(default_thread_count(), 1);
}

// Resident memory (kB) from /proc/self/status: "RssAnon:" is what copies
// cost, "RssFile:" the file-backed pages of the mappings.
int64_t rss_kb(const std::string& field) {
    std::ifstream in("/proc/self/status");
    std::string key;
    int64_t value = -1;
    while (in >> key) {
        if (key == field) {
            in >> value;
            return value;
        }
        in.ignore(1 << 12, '\n');
    }
    return value;
}
int64_t rss_anon_kb() { return rss_kb("RssAnon:"); }

// A BERT-shaped bf16 checkpoint of ~190 MB (12 layers of width 768, a small
// vocabulary): loaded as bf16 it must stay mapped, not copied to f32.
TEST(Bf16Checkpoint, LoadsWithoutAnF32Copy) {
    TempDir tmp;
    BertShape shape{12, 768, 12, 3072, 1000, 128, 2};
    {
        const Weights random = random_bert_weights(shape, 7);
        std::vector<std::pair<std::string, Tensor>> tensors;
        for (const auto& [name, t] : random.tensors()) tensors.emplace_back(name, t.to(DType::bf16));
        write_safetensors(tmp.file("model.safetensors"), tensors);
        std::ofstream(tmp.file("config.json")) << bert_config(shape).dump();
    }
    const auto file_kb = static_cast<int64_t>(std::filesystem::file_size(tmp.file("model.safetensors")) / 1024);
    ASSERT_GT(file_kb, 150 * 1024);
    const int64_t before = rss_anon_kb();
    ASSERT_GT(before, 0) << "no RssAnon in /proc/self/status";
    LoadOptions bf16;
    bf16.dtype = DType::bf16;
    auto model = load_model(tmp.path().string(), bf16);
    EXPECT_EQ(model->info().dtype, DType::bf16);
    const Tokens input = Tokens::from_ids({2, 10, 20, 30, 3});
    const ForwardResult out = model->forward(input);
    EXPECT_TRUE(std::isfinite(out.last_hidden_state.to_vector()[0]));
    const int64_t bf16_growth = rss_anon_kb() - before;
    // An f32 copy would add twice the file; the fused Q/K/V rows (a quarter of
    // each layer) are the only copy, in bf16.
    EXPECT_LT(bf16_growth, file_kb * 35 / 100) << "RssAnon grew " << bf16_growth << " kB for a " << file_kb << " kB file";
    model.reset();
    // The measurement itself can see a copy: f32 converts every tensor.
    const int64_t before_f32 = rss_anon_kb();
    auto f32 = load_model(tmp.path().string());
    EXPECT_GT(rss_anon_kb() - before_f32, file_kb * 3 / 2) << "the f32 load should hold an f32 copy";
}

// A matrix converted from a memory-mapped file (here bf16 -> int8) no longer
// needs the file's pages: the load drops them from the resident set.
TEST(Bf16Checkpoint, ConvertedTensorsReleaseTheFilePages) {
    TempDir tmp;
    std::mt19937 rng(3);
    Weights random;
    random.add_random("w", {2048, 4096}, rng, 0.02f);  // 16 MiB in bf16
    write_safetensors(tmp.file("w.safetensors"), {{"w", random.get("w", {2048, 4096}).to(DType::bf16)}});
    Weights w = Weights::open_file(tmp.file("w.safetensors"));
    w.set_matrix_dtype(DType::bf16);
    const Tensor stored = w.get_matrix("w", {2048, 4096});  // bf16: the mapping itself
    ASSERT_EQ(stored.dtype(), DType::bf16);
    ASSERT_FALSE(stored.owns_storage());
    double sum = 0;
    for (int64_t i = 0; i < stored.numel(); i += 1024) sum += static_cast<double>(stored.data_as<uint16_t>()[i]);
    EXPECT_GT(sum, 0);  // every page touched: resident
    const int64_t touched = rss_kb("RssFile:");
    w.set_matrix_dtype(DType::i8);
    const Tensor quantised = w.get_matrix("w", {2048, 4096});
    EXPECT_EQ(quantised.dtype(), DType::i8);
    const int64_t after = rss_kb("RssFile:");
    // Asked again only to learn whether this kernel takes the advice at all.
    if (!stored.release_mapped_pages()) GTEST_SKIP() << "this kernel refuses MADV_PAGEOUT (Linux < 5.4): nothing to check";
    EXPECT_LT(after, touched - 12 * 1024) << "get_matrix(int8) left the 16 MiB of file pages resident";
    EXPECT_EQ(stored.data_as<uint16_t>()[5], random.get("w", {2048, 4096}).to(DType::bf16).data_as<uint16_t>()[5])
        << "a released page reads back the file's bytes";
}

}  // namespace
}  // namespace gaze::test
