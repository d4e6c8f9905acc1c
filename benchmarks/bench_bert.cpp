// BERT-base forward passes (12 layers, hidden 768, 12 heads, FFN 3072, vocab
// 30522), randomly initialised in memory: batch 1 at 8 / 32 / 128 / 512
// tokens, without observers and with an AttentionRecorder capturing every
// layer and head, hidden states only (compute_logits = false); plus the MLM
// logits at 128 tokens; each in f32, bf16 and int8 (BM_BertBase/bf16/tokens:128).
// Reported in ms per forward (wall clock); the label names the linear kernel.
//   GAZE_THREADS=2 ./gaze_benchmarks --benchmark_filter=BM_Bert
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

#include "bench_support.hpp"
#include "gaze/cpu.hpp"
#include "gaze/model.hpp"
#include "gaze/ops.hpp"
#include "gaze/models/bert.hpp"
#include "gaze/observers/recorder.hpp"

namespace {

// Built once per dtype, on first use (random init of 110M parameters takes a few seconds).
gaze::Model& bert_base(gaze::DType dtype) {
    const gaze::BertShape shape;  // BERT-base by default
    return gaze::bench::cached_model("bert-base", dtype, [&] { return gaze::bert_config(shape); },
                                     [&] { return gaze::random_bert_weights(shape, 1234); });
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

enum class Variant { plain, recorder, logits, busy_core, one_thread };

void run_bert(benchmark::State& state, Variant variant, gaze::DType dtype) {
    gaze::Model& model = bert_base(dtype);
    const gaze::Tokens input = input_of_length(state.range(0));
    gaze::AttentionRecorder recorder;  // empty request: every layer, head and row
    gaze::AttentionObserver* observers[] = {&recorder};
    gaze::ForwardOptions options;
    options.compute_logits = variant == Variant::logits;
    if (variant == Variant::recorder) options.observers = observers;

    const bool fixed = gaze::thread_count_was_set();  // GAZE_THREADS, or automatic (load-adaptive)
    const int threads = gaze::thread_count();
    if (variant == Variant::one_thread) gaze::set_thread_count(1);
    model.forward(input, options);  // warm-up: sizes the reused buffers
    std::unique_ptr<gaze::bench::BusyCore> busy;
    if (variant == Variant::busy_core) {
        // Steady state under load: automatic mode measures the load over the window since its
        // last look (>= 100 ms), so the first pass after the spinner starts still runs the old
        // count. Let one window see the spinner, then one untimed pass adopt the new count.
        busy = std::make_unique<gaze::bench::BusyCore>();
        std::this_thread::sleep_for(std::chrono::milliseconds(200));
        model.forward(input, options);
    }
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
    busy.reset();
    if (fixed) {
        gaze::set_thread_count(threads);
    } else {
        gaze::set_automatic_threads();
    }
    state.counters["tokens/s"] =
        benchmark::Counter(static_cast<double>(state.range(0)), benchmark::Counter::kIsIterationInvariantRate);
    state.SetLabel(gaze::ops::linear_kernel_name(dtype, state.range(0)));
}

// BM_BertBase/<dtype>/tokens:N and the variants: with a recorder on every
// layer and head, with the MLM logits, with another process spinning on one
// core (BusyCore), and on one thread (what BusyCore is compared with).
const bool registered = [] {
    struct Registration {
        const char* name;
        Variant variant;
        std::vector<int64_t> tokens;
    };
    const Registration all[] = {{"BM_BertBase", Variant::plain, {8, 32, 128, 512}},
                                {"BM_BertBaseRecorder", Variant::recorder, {8, 32, 128, 512}},
                                {"BM_BertBaseLogits", Variant::logits, {128}},
                                {"BM_BertBaseBusyCore", Variant::busy_core, {128}},
                                {"BM_BertBaseOneThread", Variant::one_thread, {128}}};
    for (const auto& r : all) {
        for (const gaze::DType dtype : gaze::bench::kDtypes) {
            auto* b = benchmark::RegisterBenchmark(gaze::bench::named(r.name, dtype).c_str(),
                                                   [variant = r.variant, dtype](benchmark::State& state) {
                                                       run_bert(state, variant, dtype);
                                                   });
            b->ArgName("tokens")->UseRealTime()->Unit(benchmark::kMillisecond);
            for (int64_t n : r.tokens) b->Arg(n);
        }
    }
    return true;
}();

}  // namespace
