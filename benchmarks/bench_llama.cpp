// Long-context attention at TinyLlama-1.1B's shape (32 query heads of 64,
// hidden 2048), random activations, and the memory the observers cost:
//   BM_LongAttention/n                 one layer's attention over an n-token prompt, no observer
//   BM_LongAttentionStatistics/n       the same with AttentionStatistics on every head
//                                      (rows streamed a tile at a time: no [heads, n, n] buffer)
//   BM_LongAttentionRecorder/n         the same with an AttentionRecorder on every head
//                                      (it keeps [heads, n, n]: 2 GiB at 4,096 tokens)
// Counters (MiB): peak_MB, the process's peak resident memory during the
// benchmark above what it held before (VmHWM, reset through
// /proc/self/clear_refs), and inputs_MB, what q, k, v and the output take.
//   OMP_NUM_THREADS=2 ./gaze_benchmarks --benchmark_filter=BM_LongAttention --benchmark_repetitions=1
//
// The whole TinyLlama-1.1B shape (22 layers, hidden 2048, 32 heads, 4 kv heads,
// FFN 5632, vocab 32000, untied head), random weights made in memory, in f32,
// bf16 and int8 (BM_TinyLlamaDecode/bf16/1024):
//   BM_TinyLlamaPrefill/128             one forward over a 128-token prompt
//   BM_TinyLlamaDecode/ctx              one token with ctx positions cached (128, 1024)
//   BM_TinyLlama{Prefill,Decode}Observed  the same with an AttentionRecorder on every head
// One model per dtype stays loaded (about 10 GiB for the three: run it on a
// machine with 12 GiB free). Peak resident memory of a real load (a bf16
// checkpoint on disk, memory-mapped) is measured by benchmarks/tinyllama_memory.sh.
//   OMP_NUM_THREADS=2 ./gaze_benchmarks --benchmark_filter=BM_TinyLlama
#include <benchmark/benchmark.h>

#include <random>
#include <string>

#include "bench_support.hpp"
#include "gaze/models/llama.hpp"
#include "gaze/observer.hpp"
#include "gaze/observers/recorder.hpp"
#include "gaze/observers/statistics.hpp"

namespace {

constexpr int kHeads = 32, kHeadDim = 64;

using gaze::bench::reset_peak;
using gaze::bench::resident_mb;

gaze::Tokens tokens_of_length(int64_t n) { return gaze::Tokens::from_ids(std::vector<int32_t>(static_cast<size_t>(n), 1)); }

gaze::Tensor random_activations(int64_t n, uint32_t seed) {
    std::mt19937 rng(seed);
    std::normal_distribution<float> normal(0.0f, 1.0f);
    gaze::Tensor t({1, n, kHeads * kHeadDim});
    for (int64_t i = 0; i < t.numel(); ++i) t.data()[i] = normal(rng);
    return t;
}

void run_long_attention(benchmark::State& state, gaze::AttentionObserver* observer) {
    const int64_t n = state.range(0);
    const gaze::Tensor q = random_activations(n, 1), k = random_activations(n, 2), v = random_activations(n, 3);
    const gaze::Tokens tokens = tokens_of_length(n);
    gaze::AttentionObserver* observers[] = {observer};
    gaze::ObserverHub hub(observers);  // a null observer is no observer
    gaze::ops::AttentionOptions o;
    o.heads = kHeads;
    o.scale = 0.125f;
    o.causal = true;
    gaze::Tensor out;
    const double before = resident_mb("VmRSS");
    reset_peak();
    const gaze::AttentionSite site{gaze::Stack::decoder, gaze::AttentionKind::causal_self, 0, kHeads};
    for (auto _ : state) {
        hub.begin({"llama", 0, 1, kHeads, &tokens});
        hub.attention(site, q, k, v, o, out, tokens, tokens);
        hub.end();
        benchmark::DoNotOptimize(out.data());
        if (auto* recorder = dynamic_cast<gaze::AttentionRecorder*>(observer)) recorder->clear();
    }
    state.counters["peak_MB"] = resident_mb("VmHWM") - before;
    state.counters["inputs_MB"] = 4.0 * static_cast<double>(q.numel()) * sizeof(float) / (1024.0 * 1024.0);
}

void BM_LongAttention(benchmark::State& state) { run_long_attention(state, nullptr); }

void BM_LongAttentionStatistics(benchmark::State& state) {
    gaze::AttentionStatistics statistics;
    run_long_attention(state, &statistics);
    benchmark::DoNotOptimize(statistics.results().size());
}

void BM_LongAttentionRecorder(benchmark::State& state) {
    gaze::AttentionRecorder recorder;
    run_long_attention(state, &recorder);
}

// TinyLlama-1.1B's shape, built once per dtype on first use (random init of
// 1.1 B parameters takes ~20 s).
constexpr int32_t kTinyLlamaVocab = 32000;

gaze::CausalLM& tinyllama(gaze::DType dtype) {
    const gaze::LlamaShape shape{.vocab = kTinyLlamaVocab, .hidden = 2048, .intermediate = 5632, .layers = 22,
                                 .heads = 32, .kv_heads = 4, .positions = 2048};
    return gaze::as_causal_lm(gaze::bench::cached_model("tinyllama", dtype, [&] { return gaze::llama_config(shape); },
                                                        [&] { return gaze::random_llama_weights(shape, 11); }));
}

const bool tinyllama_registered = [] {
    for (const gaze::DType dtype : gaze::bench::kDtypes) {
        for (const bool observed : {false, true}) {
            const char* prefill = observed ? "BM_TinyLlamaPrefillObserved" : "BM_TinyLlamaPrefill";
            benchmark::RegisterBenchmark(gaze::bench::named(prefill, dtype).c_str(), [dtype, observed](benchmark::State& s) {
                gaze::bench::time_prefill(s, tinyllama(dtype), kTinyLlamaVocab, observed);
            })->Arg(128)->Unit(benchmark::kMillisecond)->UseRealTime()->Iterations(3);
            const char* decode = observed ? "BM_TinyLlamaDecodeObserved" : "BM_TinyLlamaDecode";
            benchmark::RegisterBenchmark(gaze::bench::named(decode, dtype).c_str(), [dtype, observed](benchmark::State& s) {
                gaze::bench::time_decode(s, tinyllama(dtype), kTinyLlamaVocab, observed, dtype);
            })->Arg(128)->Arg(1024)->Unit(benchmark::kMillisecond)->UseRealTime()->Iterations(8);
        }
    }
    return true;
}();

BENCHMARK(BM_LongAttention)->Arg(1024)->Arg(4096)->Unit(benchmark::kMillisecond)->Iterations(1);
BENCHMARK(BM_LongAttentionStatistics)->Arg(1024)->Arg(4096)->Unit(benchmark::kMillisecond)->Iterations(1);
BENCHMARK(BM_LongAttentionRecorder)->Arg(1024)->Unit(benchmark::kMillisecond)->Iterations(1);

}  // namespace
