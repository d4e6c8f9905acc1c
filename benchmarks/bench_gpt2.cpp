// GPT-2 small (124M parameters: 12 layers, width 768, 12 heads, context 1024,
// vocab 50257), randomly initialised in memory:
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

#include <memory>
#include <random>
#include <vector>

#include "gaze/generation.hpp"
#include "gaze/models/gpt2.hpp"
#include "gaze/observers/recorder.hpp"

namespace {

// Built once, on first use (random init of 124M parameters takes a few seconds).
gaze::CausalLM& gpt2_small() {
    static const std::unique_ptr<gaze::Model> model = [] {
        const gaze::GPT2Shape shape;  // GPT-2 small by default
        return gaze::make_model(gaze::gpt2_config(shape), gaze::random_gpt2_weights(shape, 1234));
    }();
    return gaze::as_causal_lm(*model);
}

gaze::Tokens prompt_of_length(int64_t n) {
    std::mt19937 rng(static_cast<uint32_t>(n));
    std::uniform_int_distribution<int32_t> word(0, 50000);
    std::vector<int32_t> ids(static_cast<size_t>(n));
    for (auto& id : ids) id = word(rng);
    return gaze::Tokens::from_ids(ids);
}

void BM_Gpt2Prefill(benchmark::State& state) {
    gaze::CausalLM& model = gpt2_small();
    const gaze::Tokens prompt = prompt_of_length(state.range(0));
    gaze::KVCache cache = model.make_cache(1, prompt.length);
    gaze::Tensor logits;
    for (auto _ : state) {
        cache.length = 0;
        model.extend(prompt, cache, {}, logits);
        benchmark::DoNotOptimize(logits.data());
    }
    state.counters["tokens/s"] =
        benchmark::Counter(static_cast<double>(state.range(0)), benchmark::Counter::kIsIterationInvariantRate);
}

// One decode step on top of a cache of `ctx` positions: the context is built
// once; each iteration rewinds the cache by one position and feeds the last token.
void run_decode(benchmark::State& state, bool observed) {
    gaze::CausalLM& model = gpt2_small();
    const int64_t ctx = state.range(0);
    const gaze::Tokens context = prompt_of_length(ctx + 1);
    gaze::KVCache cache = model.make_cache(1, ctx + 1);
    gaze::Tensor logits;
    std::vector<int32_t> prefix = context.ids;
    prefix.pop_back();
    model.extend(gaze::Tokens::from_ids(prefix), cache, {}, logits);

    gaze::AttentionRecorder recorder;  // empty request: every layer and head
    gaze::AttentionObserver* observers[] = {&recorder};
    gaze::StepOptions options;
    if (observed) options.observers = observers;
    int step = 1;
    for (auto _ : state) {
        cache.length = ctx;
        options.step = step++;
        model.extend(context, cache, options, logits);
        benchmark::DoNotOptimize(logits.data());
        recorder.clear();
    }
    state.counters["tokens/s"] = benchmark::Counter(1.0, benchmark::Counter::kIsIterationInvariantRate);
}

void BM_Gpt2Decode(benchmark::State& state) { run_decode(state, false); }
void BM_Gpt2DecodeObserved(benchmark::State& state) { run_decode(state, true); }

void BM_Gpt2Generate(benchmark::State& state) {
    gaze::CausalLM& model = gpt2_small();
    const gaze::Tokens prompt = prompt_of_length(128);
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

BENCHMARK(BM_Gpt2Prefill)->Arg(128)->Unit(benchmark::kMillisecond)->UseRealTime()->MinTime(2.0);
BENCHMARK(BM_Gpt2Decode)->Arg(128)->Arg(512)->Unit(benchmark::kMillisecond)->UseRealTime()->MinTime(2.0);
BENCHMARK(BM_Gpt2DecodeObserved)->Arg(128)->Arg(512)->Unit(benchmark::kMillisecond)->UseRealTime()->MinTime(2.0);
BENCHMARK(BM_Gpt2Generate)->Unit(benchmark::kMillisecond)->UseRealTime()->Iterations(2);

}  // namespace
