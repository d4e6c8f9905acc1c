// Tokenizer speed: byte-level BPE with a 128k vocabulary (Llama 3's
// tokenizer.json from ../shared/tokenizers/llama3) and Qwen2.5's 151k, on
// English text: every licence in /usr/share/common-licenses (Debian's
// base-files package, ~250 KB), concatenated.
//   BM_TokenizerJsonEncode/llama3   encode() of the whole corpus, one thread
//   BM_TokenizerJsonEncode/qwen2.5
// Reported as bytes/s of input text per CPU second (Google Benchmark's default).
// The per-piece merge cache is warm after the first iteration; the counter
// first_pass_MBps is the first encode of the corpus with a cold cache (timed
// once, in thread CPU time).
//   cd build && ./benchmarks/gaze_benchmarks --benchmark_filter=BM_TokenizerJson   (or set GAZE_SHARED_DIR)
#include <benchmark/benchmark.h>

#include <ctime>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <string>

#include "gaze/tokenizers/tokenizer_json.hpp"

namespace {

namespace fs = std::filesystem;

const std::string& corpus() {
    static const std::string text = [] {
        std::map<std::string, std::string> files;  // sorted by name: the same corpus every run
        std::error_code ec;
        for (const auto& entry : fs::directory_iterator("/usr/share/common-licenses", ec)) {
            if (!entry.is_regular_file()) continue;
            std::ifstream in(entry.path(), std::ios::binary);
            files[entry.path().filename().string()] = {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
        }
        std::string all;
        for (const auto& [name, body] : files) all += body;
        return all;
    }();
    return text;
}

fs::path shared_tokenizers() {
    if (const char* env = std::getenv("GAZE_SHARED_DIR")) return fs::path(env) / "tokenizers";
    // Else the first shared/tokenizers found walking up from the working directory
    // (build/ -> the worktree -> its parent holds shared/).
    std::error_code ec;
    for (fs::path p = fs::current_path(ec); !p.empty(); p = p.parent_path()) {
        if (fs::is_directory(p / "shared" / "tokenizers", ec)) return p / "shared" / "tokenizers";
        if (p == p.parent_path()) break;
    }
    return {};
}

// CPU time of this thread (the machine may be shared: wall time would count others' work).
double thread_cpu_seconds() {
    timespec ts{};
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return static_cast<double>(ts.tv_sec) + static_cast<double>(ts.tv_nsec) * 1e-9;
}

void BM_TokenizerJsonEncode(benchmark::State& state, const char* name) {
    const fs::path dir = shared_tokenizers() / name;
    if (!fs::exists(dir / "tokenizer.json") || corpus().empty()) {
        state.SkipWithError("needs ../shared/tokenizers/<name>/tokenizer.json and /usr/share/common-licenses");
        return;
    }
    const auto tokenizer = gaze::JsonTokenizer::open(dir.string());
    const std::string& text = corpus();
    const double start = thread_cpu_seconds();
    size_t tokens = tokenizer->encode(text, false).ids.size();
    const double first_s = thread_cpu_seconds() - start;
    for (auto _ : state) {
        auto e = tokenizer->encode(text, false);
        benchmark::DoNotOptimize(e.ids.data());
        tokens = e.ids.size();
    }
    state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * text.size()));
    state.counters["first_pass_MBps"] = static_cast<double>(text.size()) / first_s / 1e6;
    state.counters["tokens"] = static_cast<double>(tokens);
    state.counters["bytes"] = static_cast<double>(text.size());
}

BENCHMARK_CAPTURE(BM_TokenizerJsonEncode, llama3, "llama3")->Unit(benchmark::kMillisecond);
BENCHMARK_CAPTURE(BM_TokenizerJsonEncode, qwen2.5, "qwen2.5")->Unit(benchmark::kMillisecond);

}  // namespace
