// Tokenizer speed: byte-level BPE with a 128k vocabulary (Llama 3's
// tokenizer.json from ../shared/tokenizers/llama3) and Qwen2.5's 151k, on
// English text: every licence in /usr/share/common-licenses (Debian's
// base-files package, ~250 KB), concatenated.
//   BM_TokenizerJsonEncode/llama3   encode() of the whole corpus, one thread
//   BM_TokenizerJsonEncode/qwen2.5
// Reported as bytes/s of input text. The per-piece merge cache is warm after
// the first iteration; the counter first_pass_MBps is the first encode of the
// corpus with a cold cache (timed once, in setup).
//   ./gaze_benchmarks --benchmark_filter=BM_TokenizerJson
#include <benchmark/benchmark.h>

#include <chrono>
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
    return fs::path(__FILE__).parent_path().parent_path().parent_path() / "shared" / "tokenizers";  // ../shared of the tree
}

void BM_TokenizerJsonEncode(benchmark::State& state, const char* name) {
    const fs::path dir = shared_tokenizers() / name;
    if (!fs::exists(dir / "tokenizer.json") || corpus().empty()) {
        state.SkipWithError("needs ../shared/tokenizers/<name>/tokenizer.json and /usr/share/common-licenses");
        return;
    }
    const auto tokenizer = gaze::JsonTokenizer::open(dir.string());
    const std::string& text = corpus();
    const auto start = std::chrono::steady_clock::now();
    size_t tokens = tokenizer->encode(text, false).ids.size();
    const double first_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
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
