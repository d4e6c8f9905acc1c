// BERT-base forward passes (12 layers, hidden 768, 12 heads, FFN 3072, vocab
// 30522), randomly initialised in memory: batch 1 at 8 / 32 / 128 / 512
// tokens, without observers and with an AttentionRecorder capturing every
// layer and head, hidden states only (compute_logits = false); plus the MLM
// logits at 128 tokens. Reported in ms per forward (wall clock).
//   OMP_NUM_THREADS=2 ./gaze_benchmarks --benchmark_filter=BM_Bert
//
// GAZE_BENCH_PAUSE_MS=N sleeps N ms, untimed, after each pass. It is for
// measuring on a shared machine under `chrt -f 1` (see README.md): the
// kernel's real-time throttling (95% of each second) would otherwise stall
// the passes that run into the last 50 ms of a second.
#include <benchmark/benchmark.h>

#include <chrono>
#include <cstdlib>
#include <memory>
#include <random>
#include <thread>
#include <vector>

#include "gaze/model.hpp"
#include "gaze/models/bert.hpp"
#include "gaze/observers/recorder.hpp"

namespace {

// Built once, on first use (random init of 110M parameters takes a few seconds).
gaze::Model& bert_base() {
    static const std::unique_ptr<gaze::Model> model = [] {
        const gaze::BertShape shape;  // BERT-base by default
        return gaze::make_model(gaze::bert_config(shape), gaze::random_bert_weights(shape, 1234));
    }();
    return *model;
}

// [CLS] w1 .. w_{n-2} [SEP], ids drawn from the ordinary word-piece range.
gaze::Tokens input_of_length(int64_t n) {
    std::mt19937 rng(static_cast<uint32_t>(n));
    std::uniform_int_distribution<int32_t> word(1000, 29000);
    std::vector<int32_t> ids(static_cast<size_t>(n));
    for (auto& id : ids) id = word(rng);
    ids.front() = 101;
    ids.back() = 102;
    return gaze::Tokens::from_ids(ids);
}

int pause_ms() {
    static const int ms = [] {
        const char* env = std::getenv("GAZE_BENCH_PAUSE_MS");
        return env ? std::atoi(env) : 0;
    }();
    return ms;
}

enum class Variant { plain, recorder, logits };

void run_bert(benchmark::State& state, Variant variant) {
    gaze::Model& model = bert_base();
    const gaze::Tokens input = input_of_length(state.range(0));
    gaze::AttentionRecorder recorder;  // empty request: every layer, head and row
    gaze::AttentionObserver* observers[] = {&recorder};
    gaze::ForwardOptions options;
    options.compute_logits = variant == Variant::logits;
    if (variant == Variant::recorder) options.observers = observers;

    model.forward(input, options);  // warm-up: sizes the reused buffers
    for (auto _ : state) {
        gaze::ForwardResult result = model.forward(input, options);
        benchmark::DoNotOptimize(result.last_hidden_state.data());
        // A recorder keeps one forward's records; dropping them is part of its cost.
        recorder.clear();
        if (pause_ms() > 0) {
            state.PauseTiming();
            std::this_thread::sleep_for(std::chrono::milliseconds(pause_ms()));
            state.ResumeTiming();
        }
    }
    state.counters["tokens/s"] =
        benchmark::Counter(static_cast<double>(state.range(0)), benchmark::Counter::kIsIterationInvariantRate);
}

void BM_BertBase(benchmark::State& state) { run_bert(state, Variant::plain); }
void BM_BertBaseRecorder(benchmark::State& state) { run_bert(state, Variant::recorder); }
void BM_BertBaseLogits(benchmark::State& state) { run_bert(state, Variant::logits); }

BENCHMARK(BM_BertBase)->ArgName("tokens")->Arg(8)->Arg(32)->Arg(128)->Arg(512)->UseRealTime()->Unit(benchmark::kMillisecond);
BENCHMARK(BM_BertBaseRecorder)
    ->ArgName("tokens")
    ->Arg(8)
    ->Arg(32)
    ->Arg(128)
    ->Arg(512)
    ->UseRealTime()
    ->Unit(benchmark::kMillisecond);
BENCHMARK(BM_BertBaseLogits)->ArgName("tokens")->Arg(128)->UseRealTime()->Unit(benchmark::kMillisecond);

}  // namespace
