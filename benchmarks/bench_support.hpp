#pragma once
// Shared by the benchmark files: the dtypes every model benchmark runs in, a
// model cache keyed by dtype, and a process that keeps one core busy.
#include <benchmark/benchmark.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <array>
#include <functional>
#include <map>
#include <memory>
#include <string>

#include "gaze/dtype.hpp"
#include "gaze/model.hpp"

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
