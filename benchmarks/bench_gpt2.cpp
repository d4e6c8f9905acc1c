// GPT-2 small (124M parameters: 12 layers, width 768, 12 heads, context 1024,
// vocab 50257), randomly initialised in memory:
// each in f32, bf16 and int8 (BM_Gpt2Decode/int8/128; the label names the kernel):
//   BM_Gpt2Prefill/128            one forward over a 128-token prompt, next-token logits
//   BM_Gpt2Decode/ctx             one generated token with the KV cache holding ctx
//                                 positions (batch 1: GEMV-bound, the tied lm_head
//                                 [50257, 768] is a third of the weights read per token)
//   BM_Gpt2DecodeObserved/ctx     the same with an AttentionRecorder capturing every
//                                 layer and head of the step
//   BM_Gpt2Generate               gaze::generate() end to end: 128-token prompt + 64 greedy tokens
// Reported in ms per iteration and tokens/s (wall clock).
//   OMP_NUM_THREADS=2 ./gaze_benchmarks --benchmark_filter=BM_Gpt2
#include <benchmark/benchmark.h>

#include "bench_support.hpp"
#include "gaze/generation.hpp"
#include "gaze/models/gpt2.hpp"

namespace {

// Built once per dtype, on first use (random init of 124M parameters takes a few seconds).
gaze::CausalLM& gpt2_small(gaze::DType dtype) {
    const gaze::GPT2Shape shape;  // GPT-2 small by default
    return gaze::as_causal_lm(gaze::bench::cached_model("gpt2-small", dtype, [&] { return gaze::gpt2_config(shape); },
                                                        [&] { return gaze::random_gpt2_weights(shape, 1234); }));
}

constexpr int32_t kVocab = 50257;

void BM_Gpt2Generate(benchmark::State& state) {
    gaze::CausalLM& model = gpt2_small(gaze::DType::f32);
    const gaze::Tokens prompt = gaze::bench::random_prompt(128, kVocab);
    gaze::GenerationOptions options;
    options.max_new_tokens = 64;
    double decode_ms = 0;
    int64_t decoded = 0;
    for (auto _ : state) {
        const gaze::GenerationResult r = gaze::generate(model, prompt, options);
        decode_ms += r.decode_ms;
        decoded += r.steps - 1;
        benchmark::DoNotOptimize(r.ids.data());
    }
    state.counters["decode tokens/s"] = benchmark::Counter(1000.0 * static_cast<double>(decoded) / decode_ms);
}

// BM_Gpt2Prefill/<dtype>/128, BM_Gpt2Decode/<dtype>/ctx, BM_Gpt2DecodeObserved/<dtype>/ctx.
const bool registered = [] {
    for (const gaze::DType dtype : gaze::bench::kDtypes) {
        benchmark::RegisterBenchmark(gaze::bench::named("BM_Gpt2Prefill", dtype).c_str(),
                                     [dtype](benchmark::State& s) { gaze::bench::time_prefill(s, gpt2_small(dtype), kVocab, false); })
            ->Arg(128)->Unit(benchmark::kMillisecond)->UseRealTime()->MinTime(2.0);
        for (const bool observed : {false, true}) {
            benchmark::RegisterBenchmark(gaze::bench::named(observed ? "BM_Gpt2DecodeObserved" : "BM_Gpt2Decode", dtype).c_str(),
                                         [dtype, observed](benchmark::State& s) {
                                             gaze::bench::time_decode(s, gpt2_small(dtype), kVocab, observed, dtype);
                                         })
                ->Arg(128)->Arg(512)->Unit(benchmark::kMillisecond)->UseRealTime()->MinTime(2.0);
        }
    }
    return true;
}();
BENCHMARK(BM_Gpt2Generate)->Unit(benchmark::kMillisecond)->UseRealTime()->Iterations(2);

}  // namespace
