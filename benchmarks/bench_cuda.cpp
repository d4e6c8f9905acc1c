// CPU vs GPU, op by op, across sizes (issue 11). Each BM_Cuda* has a CPU twin
// run on the same inputs; GPU times come from CUDA events around each
// iteration (UseManualTime), so they count device time, not launch queues.
//   ./gaze_benchmarks --benchmark_filter=BM_Cuda --benchmark_out=cuda.json --benchmark_out_format=json
// Without a GPU every GPU benchmark stops with "no GPU: ..." (a skip, not a number).
#ifdef GAZE_HAVE_CUDA
#include <benchmark/benchmark.h>

#include <cmath>
#include <random>

#include "gaze/cuda.hpp"
#include "gaze/ops.hpp"

namespace {

using gaze::Shape;
using gaze::Tensor;
namespace ops = gaze::ops;
namespace cuda = gaze::cuda;

Tensor random_tensor(const Shape& shape, uint32_t seed, float lo = -1.0f, float hi = 1.0f) {
    std::mt19937 rng(seed);
    std::uniform_real_distribution<float> dist(lo, hi);
    Tensor t(shape);
    for (int64_t i = 0; i < t.numel(); ++i) t.data()[i] = dist(rng);
    return t;
}

bool skip_without_gpu(benchmark::State& state) {
    std::string why;
    if (cuda::available(&why)) return false;
    state.SkipWithError(("no GPU: " + why).c_str());
    return true;
}

// Times `step` (which queues device work) with events, once per iteration.
template <typename F>
void time_on_device(benchmark::State& state, F&& step) {
    step();  // warm-up: module load, cuBLAS workspace, first-touch
    cuda::synchronize();
    cuda::EventTimer timer;
    for (auto _ : state) {
        timer.start();
        step();
        state.SetIterationTime(timer.stop_ms() * 1e-3);
    }
}

void set_bytes(benchmark::State& state, double bytes) {
    state.SetBytesProcessed(static_cast<int64_t>(bytes) * state.iterations());
}
void set_flops(benchmark::State& state, double flops) {
    state.counters["GFLOP/s"] = benchmark::Counter(flops * 1e-9, benchmark::Counter::kIsIterationInvariantRate);
}

// ---- device copy bandwidth: the ceiling the softmax is measured against ------------

// Median-free quick measure: best of 5 copies of `bytes` (read + write counted).
double measured_copy_bandwidth(size_t bytes) {
    cuda::DeviceTensor a(Shape{static_cast<int64_t>(bytes / 4)}), b(Shape{static_cast<int64_t>(bytes / 4)});
    a.poison();
    cuda::EventTimer timer;
    double best = 0;
    for (int i = 0; i < 6; ++i) {
        timer.start();
        cuda::copy_device(b.raw(), a.raw(), bytes);
        const double s = timer.stop_ms() * 1e-3;
        if (i > 0) best = std::max(best, 2.0 * static_cast<double>(bytes) / s);
    }
    return best;
}

void BM_CudaDeviceCopy(benchmark::State& state) {
    if (skip_without_gpu(state)) return;
    const size_t bytes = static_cast<size_t>(state.range(0)) << 20;
    cuda::DeviceTensor a(Shape{static_cast<int64_t>(bytes / 4)}), b(Shape{static_cast<int64_t>(bytes / 4)});
    a.poison();
    time_on_device(state, [&] { cuda::copy_device(b.raw(), a.raw(), bytes); });
    set_bytes(state, 2.0 * static_cast<double>(bytes));
}
BENCHMARK(BM_CudaDeviceCopy)->ArgName("MiB")->Arg(64)->Arg(1024)->UseManualTime()->Unit(benchmark::kMicrosecond);

// ---- fused softmax: scores [B, H, S, S], causal + padding mask ------------------------

void BM_CudaSoftmaxCpu(benchmark::State& state) {
    const int64_t heads = state.range(0), s = state.range(1);
    const Tensor scores = random_tensor({1, heads, s, s}, 1, -4.f, 4.f);
    const Tensor mask = random_tensor({1, s}, 2, 0.f, 0.f);
    Tensor work = scores.clone();
    for (auto _ : state) {
        ops::copy(scores, work);
        ops::scaled_masked_softmax(work, {0.125f, true, 0, 0, &mask, nullptr});
        benchmark::ClobberMemory();
    }
    set_bytes(state, 2.0 * 4.0 * static_cast<double>(scores.numel()));
}
void BM_CudaSoftmaxGpu(benchmark::State& state) {
    if (skip_without_gpu(state)) return;
    const int64_t heads = state.range(0), s = state.range(1);
    cuda::DeviceTensor scores, mask;
    scores.upload(random_tensor({1, heads, s, s}, 1, -4.f, 4.f));
    mask.upload(random_tensor({1, s}, 2, 0.f, 0.f));
    // In place: iterations re-normalise probabilities, the same work as fresh scores.
    time_on_device(state, [&] { cuda::scaled_masked_softmax(scores, {0.125f, true, 0, 0, &mask, nullptr}); });
    const double bytes = 2.0 * 4.0 * static_cast<double>(scores.numel());
    set_bytes(state, bytes);
    const double copy = measured_copy_bandwidth(scores.bytes());
    state.counters["copy_GB/s"] = copy * 1e-9;
    state.counters["of_copy"] =
        benchmark::Counter(bytes / copy, benchmark::Counter::kIsIterationInvariantRate);  // (bytes/s) / copy
}
// 16 x 4096 x 4096 scores are 1 GiB: several times the L2, the size the 80%-of-copy target is for.
void softmax_sizes(benchmark::internal::Benchmark* b) {
    b->ArgNames({"heads", "S"});
    for (const int64_t s : {128, 512, 1024, 2048, 4096}) b->Args({16, s});
    b->Unit(benchmark::kMicrosecond);
}
BENCHMARK(BM_CudaSoftmaxCpu)->ArgNames({"heads", "S"})->Args({16, 128})->Args({16, 512})->Args({16, 2048})
    ->UseRealTime()->Unit(benchmark::kMicrosecond);
BENCHMARK(BM_CudaSoftmaxGpu)->Apply(softmax_sizes)->UseManualTime();

// ---- layer norm fused with the residual add: [rows, 768] -----------------------------

void BM_CudaAddLayerNormCpu(benchmark::State& state) {
    const int64_t rows = state.range(0), h = 768;
    const Tensor x = random_tensor({rows, h}, 1), r = random_tensor({rows, h}, 2), g = random_tensor({h}, 3),
                 b = random_tensor({h}, 4);
    Tensor sum, out;
    for (auto _ : state) {
        ops::add(x, r, sum);
        ops::layer_norm(sum, g, b, 1e-5f, out);
        benchmark::ClobberMemory();
    }
    set_bytes(state, 4.0 * 4.0 * static_cast<double>(rows * h));  // read x, r; write sum, out
}
void BM_CudaAddLayerNormGpu(benchmark::State& state) {
    if (skip_without_gpu(state)) return;
    const int64_t rows = state.range(0), h = 768;
    cuda::DeviceTensor x, r, g, b, sum, out;
    x.upload(random_tensor({rows, h}, 1));
    r.upload(random_tensor({rows, h}, 2));
    g.upload(random_tensor({h}, 3));
    b.upload(random_tensor({h}, 4));
    time_on_device(state, [&] { cuda::add_layer_norm(x, &r, g, b, 1e-5f, out, &sum); });
    set_bytes(state, 4.0 * 4.0 * static_cast<double>(rows * h));
}
BENCHMARK(BM_CudaAddLayerNormCpu)->ArgName("rows")->Arg(128)->Arg(4096)->Arg(65536)->UseRealTime()->Unit(benchmark::kMicrosecond);
BENCHMARK(BM_CudaAddLayerNormGpu)->ArgName("rows")->Arg(128)->Arg(4096)->Arg(65536)->UseManualTime()->Unit(benchmark::kMicrosecond);

// ---- linear layers: x [rows, in] W^T + bias, then GELU ---------------------------------

void BM_CudaLinearCpu(benchmark::State& state) {
    const int64_t rows = state.range(0), in = state.range(1), out_f = state.range(2);
    const Tensor x = random_tensor({rows, in}, 1), w = random_tensor({out_f, in}, 2, -0.05f, 0.05f),
                 b = random_tensor({out_f}, 3);
    Tensor out;
    for (auto _ : state) {
        ops::linear(x, w, b, ops::WeightLayout::out_in, out);
        ops::gelu_erf(out);
        benchmark::ClobberMemory();
    }
    set_flops(state, 2.0 * static_cast<double>(rows * in * out_f));
}
void run_linear_gpu(benchmark::State& state, cuda::Precision precision) {
    if (skip_without_gpu(state)) return;
    const int64_t rows = state.range(0), in = state.range(1), out_f = state.range(2);
    const cuda::DeviceLinear layer = cuda::DeviceLinear::upload(random_tensor({out_f, in}, 2, -0.05f, 0.05f),
                                                                random_tensor({out_f}, 3), ops::WeightLayout::out_in,
                                                                precision);
    cuda::DeviceTensor x, out(Shape{rows, out_f}), scratch;
    x.upload(random_tensor({rows, in}, 1));
    time_on_device(state, [&] {
        cuda::linear(x.matrix(), layer, precision, out.matrix(), scratch, cuda::Activation::gelu_erf);
    });
    set_flops(state, 2.0 * static_cast<double>(rows * in * out_f));
}
void BM_CudaLinearGpuFp32(benchmark::State& s) { run_linear_gpu(s, cuda::Precision::fp32); }
void BM_CudaLinearGpuTf32(benchmark::State& s) { run_linear_gpu(s, cuda::Precision::tf32); }
void BM_CudaLinearGpuBf16(benchmark::State& s) { run_linear_gpu(s, cuda::Precision::bf16); }
void linear_sizes(benchmark::internal::Benchmark* b) {
    b->ArgNames({"rows", "in", "out"});
    for (const int64_t rows : {1, 128, 2048, 8192}) b->Args({rows, 768, 3072});
    b->Args({4096, 4096, 4096});
    b->Unit(benchmark::kMicrosecond);
}
BENCHMARK(BM_CudaLinearCpu)->Apply(linear_sizes)->UseRealTime();
BENCHMARK(BM_CudaLinearGpuFp32)->Apply(linear_sizes)->UseManualTime();
BENCHMARK(BM_CudaLinearGpuTf32)->Apply(linear_sizes)->UseManualTime();
BENCHMARK(BM_CudaLinearGpuBf16)->Apply(linear_sizes)->UseManualTime();

// ---- attention: fused (no S x S) vs materialising (GEMM, softmax, GEMM) vs CPU ------------
// 12 heads of 64 (BERT-base / GPT-2 small), causal, batch 1.

constexpr int64_t kHeads = 12, kHeadDim = 64;

void BM_CudaAttentionCpu(benchmark::State& state) {
    const int64_t s = state.range(0);
    const Tensor q = random_tensor({1, s, kHeads * kHeadDim}, 1), k = random_tensor({1, s, kHeads * kHeadDim}, 2),
                 v = random_tensor({1, s, kHeads * kHeadDim}, 3);
    ops::AttentionOptions o;
    o.heads = kHeads;
    o.scale = 0.125f;
    o.causal = true;
    Tensor out;
    for (auto _ : state) {
        ops::attention(q, k, v, o, out);
        benchmark::ClobberMemory();
    }
    set_flops(state, 4.0 * static_cast<double>(kHeads * s * s * kHeadDim));
}
void BM_CudaAttentionFusedGpu(benchmark::State& state) {
    if (skip_without_gpu(state)) return;
    const int64_t s = state.range(0);
    cuda::DeviceTensor q, k, v, out, lse;
    q.upload(random_tensor({s, kHeads * kHeadDim}, 1));
    k.upload(random_tensor({s, kHeads * kHeadDim}, 2));
    v.upload(random_tensor({s, kHeads * kHeadDim}, 3));
    cuda::AttentionParams p;
    p.heads = kHeads;
    p.masking.scale = 0.125f;
    p.masking.causal = true;
    time_on_device(state, [&] { cuda::attention(q.matrix(), k.matrix(), v.matrix(), p, out, &lse); });
    set_flops(state, 4.0 * static_cast<double>(kHeads * s * s * kHeadDim));
}
// Per head: scores = q k^T (cuBLAS), the fused softmax kernel, out = p v (cuBLAS);
// q, k, v as [heads, S, d] (the head split is not timed).
void run_materialising(benchmark::State& state, cuda::Precision precision) {
    if (skip_without_gpu(state)) return;
    const int64_t s = state.range(0);
    cuda::DeviceTensor q, k, v, scores(Shape{1, kHeads, s, s}), out(Shape{kHeads, s, kHeadDim});
    q.upload(random_tensor({kHeads, s, kHeadDim}, 1));
    k.upload(random_tensor({kHeads, s, kHeadDim}, 2));
    v.upload(random_tensor({kHeads, s, kHeadDim}, 3));
    time_on_device(state, [&] {
        cuda::batched_gemm(q.f32(), k.f32(), scores.f32(), kHeads, s, s, kHeadDim, true, 0.125f, precision);
        cuda::scaled_masked_softmax(scores, {1.0f, true, 0, 0, nullptr, nullptr});
        cuda::batched_gemm(scores.f32(), v.f32(), out.f32(), kHeads, s, kHeadDim, s, false, 1.0f, precision);
    });
    set_flops(state, 4.0 * static_cast<double>(kHeads * s * s * kHeadDim));
    state.counters["scores_MiB"] = static_cast<double>(scores.bytes()) / (1 << 20);
}
void BM_CudaAttentionMaterialisingGpuFp32(benchmark::State& s) { run_materialising(s, cuda::Precision::fp32); }
void BM_CudaAttentionMaterialisingGpuTf32(benchmark::State& s) { run_materialising(s, cuda::Precision::tf32); }
void attention_sizes(benchmark::internal::Benchmark* b) {
    b->ArgName("S");
    for (const int64_t s : {128, 512, 2048, 4096}) b->Arg(s);
    b->Unit(benchmark::kMicrosecond);
}
BENCHMARK(BM_CudaAttentionCpu)->ArgName("S")->Arg(128)->Arg(512)->Arg(2048)->UseRealTime()->Unit(benchmark::kMicrosecond);
BENCHMARK(BM_CudaAttentionFusedGpu)->Apply(attention_sizes)->UseManualTime();
BENCHMARK(BM_CudaAttentionMaterialisingGpuFp32)->Apply(attention_sizes)->UseManualTime();
BENCHMARK(BM_CudaAttentionMaterialisingGpuTf32)->Apply(attention_sizes)->UseManualTime();

}  // namespace
#endif  // GAZE_HAVE_CUDA
