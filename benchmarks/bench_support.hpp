#pragma once
// Shared by the benchmark files: the dtypes every model benchmark runs in, a
// model cache keyed by dtype, the prefill and decode loops of the causal LMs
// (GPT-2, TinyLlama), resident memory, and a process that keeps one core busy.
#include <benchmark/benchmark.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <array>
#include <fstream>
#include <functional>
#include <map>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "gaze/dtype.hpp"
#include "gaze/generation.hpp"
#include "gaze/model.hpp"
#include "gaze/observers/recorder.hpp"
#include "gaze/ops.hpp"

namespace gaze::bench {

inline constexpr std::array<DType, 3> kDtypes = {DType::f32, DType::bf16, DType::i8};

// "BM_BertBase/bf16": the name Google Benchmark extends with the arguments.
inline std::string named(const char* base, DType dtype) { return std::string(base) + "/" + dtype_name(dtype); }

// One model per (name, dtype), built on first use from f32 weights (random
// init takes seconds) and kept for the whole run.
inline Model& cached_model(const std::string& name, DType dtype, const std::function<Config()>& config,
                           const std::function<Weights()>& weights) {
    static std::map<std::pair<std::string, DType>, std::unique_ptr<Model>> models;
    auto& slot = models[{name, dtype}];
    if (!slot) {
        Weights w = weights();
        w.set_matrix_dtype(dtype);
        slot = make_model(config(), std::move(w));
    }
    return *slot;
}

// Resident memory in MiB: "VmRSS" now or "VmHWM" (the peak since the last reset_peak()).
inline double resident_mb(const std::string& field) {
    std::ifstream status("/proc/self/status");
    std::string line;
    while (std::getline(status, line)) {
        if (line.rfind(field + ":", 0) == 0) return std::stod(line.substr(field.size() + 1)) / 1024.0;
    }
    return 0;
}
inline void reset_peak() { std::ofstream("/proc/self/clear_refs") << "5"; }

// n token ids drawn uniformly from [0, vocab), the same for the same n.
inline Tokens random_prompt(int64_t n, int32_t vocab) {
    std::mt19937 rng(static_cast<uint32_t>(n));
    std::uniform_int_distribution<int32_t> word(0, vocab - 1);
    std::vector<int32_t> ids(static_cast<size_t>(n));
    for (auto& id : ids) id = word(rng);
    return Tokens::from_ids(ids);
}

// Prefill: one forward over a state.range(0)-token prompt from an empty cache,
// next-token logits; with `observed`, an AttentionRecorder on every layer and head.
inline void time_prefill(benchmark::State& state, CausalLM& model, int32_t vocab, bool observed) {
    const Tokens prompt = random_prompt(state.range(0), vocab);
    KVCache cache = model.make_cache(1, prompt.length);
    Tensor logits;
    AttentionRecorder recorder;  // empty request: every layer and head
    AttentionObserver* observers[] = {&recorder};
    StepOptions options;
    if (observed) options.observers = observers;
    for (auto _ : state) {
        cache.length = 0;
        model.extend(prompt, cache, options, logits);
        benchmark::DoNotOptimize(logits.data());
        recorder.clear();
    }
    state.counters["tokens/s"] =
        benchmark::Counter(static_cast<double>(state.range(0)), benchmark::Counter::kIsIterationInvariantRate);
}

// One decode step on top of a cache of ctx = state.range(0) positions: the
// context is built once; each iteration rewinds the cache by one position and
// feeds the last token. The label names the linear kernel of one row.
inline void time_decode(benchmark::State& state, CausalLM& model, int32_t vocab, bool observed, DType dtype) {
    const int64_t ctx = state.range(0);
    const Tokens context = random_prompt(ctx + 1, vocab);
    KVCache cache = model.make_cache(1, ctx + 1);
    Tensor logits;
    std::vector<int32_t> prefix = context.ids;
    prefix.pop_back();
    model.extend(Tokens::from_ids(prefix), cache, {}, logits);

    AttentionRecorder recorder;  // empty request: every layer and head
    AttentionObserver* observers[] = {&recorder};
    StepOptions options;
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
    state.SetLabel(ops::linear_kernel_name(dtype, 1));
}

// A child process spinning on one core for the guard's lifetime: "another
// process takes one of the two cores" (issue 9's load test).
class BusyCore {
public:
    BusyCore() {
        pid_ = fork();
        if (pid_ == 0) {
            volatile unsigned long spin = 0;
            for (;;) spin = spin + 1;
        }
    }
    ~BusyCore() {
        if (pid_ > 0) {
            kill(pid_, SIGKILL);
            waitpid(pid_, nullptr, 0);
        }
    }
    BusyCore(const BusyCore&) = delete;
    BusyCore& operator=(const BusyCore&) = delete;

private:
    pid_t pid_ = -1;
};

}  // namespace gaze::bench
