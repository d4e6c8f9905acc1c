// The CPU ops at BERT-base sizes (hidden 768, 12 heads of 64, FFN 3072) for
// 128 and 512 tokens. GEMM-shaped ops report GFLOP/s; element-wise ops report
// bytes/s (one read + one write of the tensor).
//   OMP_NUM_THREADS=2 ./gaze_benchmarks --benchmark_filter=BM_Op
#include <benchmark/benchmark.h>

#include <cmath>
#include <random>
#include <vector>

#include "bench_support.hpp"
#include "gaze/ops.hpp"
#include "gaze/tensor.hpp"

namespace {

using gaze::Shape;
using gaze::Tensor;
namespace ops = gaze::ops;

Tensor random_tensor(const Shape& shape, uint32_t seed, float lo = -1.0f, float hi = 1.0f) {
    std::mt19937 rng(seed);
    std::uniform_real_distribution<float> dist(lo, hi);
    Tensor t(shape);
    for (int64_t i = 0; i < t.numel(); ++i) t.data()[i] = dist(rng);
    return t;
}

void set_flops(benchmark::State& state, double flops_per_iteration) {
    state.counters["GFLOP/s"] = benchmark::Counter(flops_per_iteration * 1e-9, benchmark::Counter::kIsIterationInvariantRate);
}

// ---- linear: x [rows, in] W^T + bias, W [out, in] (torch.nn.Linear layout) ----
// In f32, bf16 and int8 (BM_OpLinear/<dtype>/rows:R/in:I/out:O): GFLOP/s, and
// for one row (decoding: W is read once per token) the GB/s of weights read,
// to hold against BM_MemoryRead's bandwidth. The label names the kernel.
// BM_OpLinearInOut/f32: GPT-2's Conv1D layout [in, out].
void run_linear(benchmark::State& state, ops::WeightLayout layout, gaze::DType dtype) {
    const int64_t rows = state.range(0), in = state.range(1), out_f = state.range(2);
    const Tensor x = random_tensor({rows, in}, 1);
    const Tensor f = layout == ops::WeightLayout::out_in ? random_tensor({out_f, in}, 2, -0.05f, 0.05f)
                                                         : random_tensor({in, out_f}, 2, -0.05f, 0.05f);
    const Tensor w = dtype == gaze::DType::i8 ? gaze::quantize_rows(f, "w") : f.to(dtype);
    const Tensor b = random_tensor({out_f}, 3);
    Tensor out;
    ops::linear(x, w, b, layout, out);
    for (auto _ : state) {
        ops::linear(x, w, b, layout, out);
        benchmark::DoNotOptimize(out.data());
        benchmark::ClobberMemory();
    }
    set_flops(state, 2.0 * static_cast<double>(rows * in * out_f));
    if (rows == 1) {
        state.counters["GB/s"] =
            benchmark::Counter(static_cast<double>(w.nbytes()) * 1e-9, benchmark::Counter::kIsIterationInvariantRate);
    }
    state.SetLabel(ops::linear_kernel_name(dtype, rows));
}
// BERT-base: attention output (768x768), fused QKV (768 -> 2304), FFN in (768 -> 3072),
// FFN out (3072 -> 768); GPT-2 small's tied head (768 -> 50257); TinyLlama (hidden
// 2048, 4 kv heads of 64, FFN 5632): Q/O (2048 -> 2048), K/V (2048 -> 256), fused
// gate+up (2048 -> 11264), down (5632 -> 2048). Rows: 1 (decoding), 8, 128, 512.
void linear_sizes(benchmark::internal::Benchmark* b) {
    b->ArgNames({"rows", "in", "out"});
    const std::pair<int64_t, int64_t> bert[] = {{768, 768}, {768, 2304}, {768, 3072}, {3072, 768}};
    const std::pair<int64_t, int64_t> decoders[] = {{768, 50257}, {2048, 2048}, {2048, 256}, {2048, 11264}, {5632, 2048}};
    for (const int64_t rows : {1, 8, 128, 512})
        for (const auto& [in, out] : bert)
            if (rows != 512 || in == 768) b->Args({rows, in, out});
    for (const int64_t rows : {1, 128})
        for (const auto& [in, out] : decoders) b->Args({rows, in, out});
    b->UseRealTime()->Unit(benchmark::kMicrosecond);
}
const bool linear_registered = [] {
    for (const gaze::DType dtype : gaze::bench::kDtypes) {
        benchmark::RegisterBenchmark(gaze::bench::named("BM_OpLinear", dtype).c_str(), [dtype](benchmark::State& s) {
            run_linear(s, ops::WeightLayout::out_in, dtype);
        })->Apply(linear_sizes);
    }
    benchmark::RegisterBenchmark("BM_OpLinearInOut/f32", [](benchmark::State& s) {
        run_linear(s, ops::WeightLayout::in_out, gaze::DType::f32);
    })->Apply(linear_sizes);
    return true;
}();

// The machine's read bandwidth: the sum of a 512 MB array (GEMV's ceiling).
void BM_MemoryRead(benchmark::State& state) {
    const size_t n = size_t{128} << 20;  // floats
    std::vector<float> data(n, 1.0f);
    for (auto _ : state) {
        float total = 0;  // f32 and simd: the loop must be bound by memory, not by the adds
#pragma omp parallel for simd reduction(+ : total) schedule(static)
        for (size_t i = 0; i < n; ++i) total += data[i];
        benchmark::DoNotOptimize(total);
    }
    state.counters["GB/s"] = benchmark::Counter(static_cast<double>(n * sizeof(float)) * 1e-9,
                                                benchmark::Counter::kIsIterationInvariantRate);
}
BENCHMARK(BM_MemoryRead)->UseRealTime()->Unit(benchmark::kMillisecond);

// ---- normalisation, activations, softmax ----------------------------------------
void set_bytes(benchmark::State& state, int64_t elements) {
    state.SetBytesProcessed(state.iterations() * elements * 2 * static_cast<int64_t>(sizeof(float)));
}

void BM_OpLayerNorm(benchmark::State& state) {
    const int64_t rows = state.range(0), h = 768;
    const Tensor x = random_tensor({rows, h}, 4, 1.0f, 3.0f);
    const Tensor g = random_tensor({h}, 5), b = random_tensor({h}, 6);
    Tensor out;
    for (auto _ : state) {
        ops::layer_norm(x, g, b, 1e-12f, out);
        benchmark::DoNotOptimize(out.data());
        benchmark::ClobberMemory();
    }
    set_bytes(state, rows * h);
}
BENCHMARK(BM_OpLayerNorm)->ArgName("rows")->Arg(128)->Arg(512)->UseRealTime()->Unit(benchmark::kMicrosecond);

// The activation runs in place, so each iteration restores the input first
// (a memcpy, timed too: it is small next to erf/tanh).
template <void (*Activation)(Tensor&)>
void BM_OpActivation(benchmark::State& state) {
    const int64_t rows = state.range(0), f = 3072;
    const Tensor x = random_tensor({rows, f}, 7, -4.0f, 4.0f);
    Tensor y = x.clone();
    for (auto _ : state) {
        std::copy_n(x.data(), x.numel(), y.data());
        Activation(y);
        benchmark::DoNotOptimize(y.data());
        benchmark::ClobberMemory();
    }
    set_bytes(state, rows * f);
}
BENCHMARK(BM_OpActivation<ops::gelu_erf>)
    ->Name("BM_OpGeluErf")
    ->ArgName("rows")
    ->Arg(128)
    ->Arg(512)
    ->UseRealTime()
    ->Unit(benchmark::kMicrosecond);
BENCHMARK(BM_OpActivation<ops::gelu_tanh>)
    ->Name("BM_OpGeluTanh")
    ->ArgName("rows")
    ->Arg(128)
    ->Arg(512)
    ->UseRealTime()
    ->Unit(benchmark::kMicrosecond);

// softmax over [12 heads * S, S] (the score matrices of one BERT-base layer).
void BM_OpSoftmax(benchmark::State& state) {
    const int64_t s = state.range(0), heads = 12;
    const Tensor x = random_tensor({heads * s, s}, 8, -5.0f, 5.0f);
    Tensor y = x.clone();
    for (auto _ : state) {
        std::copy_n(x.data(), x.numel(), y.data());
        ops::softmax_rows(y);
        benchmark::DoNotOptimize(y.data());
        benchmark::ClobberMemory();
    }
    set_bytes(state, heads * s * s);
}
BENCHMARK(BM_OpSoftmax)->ArgName("tokens")->Arg(128)->Arg(512)->UseRealTime()->Unit(benchmark::kMicrosecond);

// ---- attention: one BERT-base layer (12 heads of 64), q/k/v strided slices of
// a fused [1, S, 3*768] projection, padding mask attached; optionally capturing
// every head's probabilities (what an attached AttentionRecorder asks for).
void BM_OpAttention(benchmark::State& state) {
    const int64_t s = state.range(0), heads = 12, d = 64, w = heads * d;
    const bool capture_all = state.range(1) != 0;
    const Tensor qkv = random_tensor({1, s, 3 * w}, 9, -1.0f, 1.0f);
    const Tensor q = qkv.narrow(2, 0, w), k = qkv.narrow(2, w, w), v = qkv.narrow(2, 2 * w, w);
    Tensor mask;
    ops::additive_key_mask(std::vector<uint8_t>(static_cast<size_t>(s), 1), 1, s, mask);
    ops::AttentionOptions o;
    o.heads = heads;
    o.scale = 1.0f / std::sqrt(static_cast<float>(d));
    o.key_mask = &mask;
    std::vector<int> all_heads(static_cast<size_t>(heads));
    for (int h = 0; h < heads; ++h) all_heads[static_cast<size_t>(h)] = h;
    Tensor probs, out;
    ops::ProbabilityCapture capture{all_heads, {}, &probs};
    for (auto _ : state) {
        ops::attention(q, k, v, o, out, capture_all ? &capture : nullptr);
        benchmark::DoNotOptimize(out.data());
        benchmark::ClobberMemory();
    }
    set_flops(state, 4.0 * static_cast<double>(heads * s * s * d));  // QK^T and PV
}
BENCHMARK(BM_OpAttention)
    ->ArgNames({"tokens", "capture"})
    ->Args({128, 0})
    ->Args({128, 1})
    ->Args({512, 0})
    ->Args({512, 1})
    ->UseRealTime()
    ->Unit(benchmark::kMicrosecond);

}  // namespace
