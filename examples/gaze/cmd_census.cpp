// gaze census: streaming statistics of every head over a corpus (one text a
// line, or JSONL), resumable, and split across processes under mpirun/srun.
#include <omp.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <csignal>
#include <ctime>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <sstream>

#include "census_mpi.hpp"
#include "cli.hpp"
#include "gaze/census.hpp"

namespace gaze::cli {
namespace {

struct CensusCommand {
    std::string model, corpus, out, checkpoint, format = "auto", on_error = "fail";
    CensusOptions options;
    bool quiet = false, no_statistics = false;
    int kill_after_checkpoints = 0;  // testing: SIGKILL itself after this many checkpoints
};

std::atomic<bool> interrupted{false};
extern "C" void on_interrupt(int) { interrupted = true; }

std::string duration(double seconds) {
    const long s = static_cast<long>(seconds + 0.5);
    char buf[32];
    std::snprintf(buf, sizeof buf, "%ld:%02ld:%02ld", s / 3600, s / 60 % 60, s % 60);
    return buf;
}

// One line, redrawn in place, on a terminal only.
class ProgressBar {
public:
    explicit ProgressBar(bool enabled) : enabled_(enabled), start_(std::chrono::steady_clock::now()) {}
    void update(const CensusProgress& p, bool force = false) {
        if (!enabled_) return;
        const auto now = std::chrono::steady_clock::now();
        if (!force && now - last_ < std::chrono::milliseconds(250)) return;
        last_ = now;
        const double t = std::chrono::duration<double>(now - start_).count();
        const double done = p.bytes_total > 0 ? static_cast<double>(p.bytes_done) / static_cast<double>(p.bytes_total) : 1.0;
        const int width = 24, filled = static_cast<int>(done * width);
        std::string bar(static_cast<size_t>(filled), '#');
        bar.resize(width, '.');
        char line[200];
        std::snprintf(line, sizeof line, "\r[%s] %3.0f%%  %lld texts  %.1f texts/s  %.0f tokens/s  ETA %s ", bar.c_str(),
                      done * 100, static_cast<long long>(p.texts), t > 0 ? p.texts / t : 0.0, t > 0 ? p.tokens / t : 0.0,
                      done > 0 ? duration(t / done - t).c_str() : "?");
        std::cerr << line << std::flush;
        drawn_ = true;
    }
    void finish() {
        if (drawn_) std::cerr << "\n";
    }

private:
    bool enabled_, drawn_ = false;
    std::chrono::steady_clock::time_point start_, last_{};
};

std::string model_fingerprint(const std::string& dir, const ModelInfo& info) {
    std::ostringstream s;
    s << dir << ":" << info.family << ":" << info.layers << "x" << info.heads << "x" << info.hidden << ":" << info.vocab << ":"
      << info.parameters;
    return s.str();
}

void write_atomically(const std::string& path, const std::string& content) {
    const std::string tmp = path + ".tmp";
    {
        std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
        out << content;
        if (!out.flush()) throw Error("cannot write " + tmp);
    }
    std::error_code ec;
    std::filesystem::rename(tmp, path, ec);
    if (ec) throw Error("cannot write " + path + ": " + ec.message());
}

int run_ranked(CensusCommand& c, const Ranks& ranks) {
    CensusOptions& o = c.options;
    o.format = c.format == "text" ? CorpusFormat::text : c.format == "jsonl" ? CorpusFormat::jsonl : CorpusFormat::automatic;
    o.on_error = c.on_error == "skip" ? OnError::skip : OnError::fail;
    o.statistics = !c.no_statistics;
    LoadedModel m = open_model(c.model);
    o.model_fingerprint = model_fingerprint(c.model, m.model->info());

    const int64_t bytes = corpus_size(c.corpus);
    CorpusRange range = split_corpus(bytes, ranks.size, o.window_bytes)[static_cast<size_t>(ranks.rank)];
    if (ranks.size > 1) {  // line numbers and --limit count from the start of the file
        const RangeCounts mine = count_corpus_range(c.corpus, range, o);
        range.first_line = 1 + sum_over_lower_ranks(mine.lines);
        range.first_text = sum_over_lower_ranks(mine.texts);
    }
    const std::string base = c.checkpoint.empty() ? c.out + ".checkpoint" : c.checkpoint;
    o.checkpoint_path = ranks.size > 1 ? base + ".rank" + std::to_string(ranks.rank) + "of" + std::to_string(ranks.size) : base;
    if (o.resume && !std::filesystem::exists(o.checkpoint_path) && !c.quiet) {
        std::cerr << "gaze census: no checkpoint at " << o.checkpoint_path << ": starting from the beginning\n";
    }

    ProgressBar bar(ranks.rank == 0 && !c.quiet && isatty(STDERR_FILENO));
    int checkpoints = 0;
    CensusCallbacks callbacks;
    callbacks.progress = [&](const CensusProgress& p) { bar.update(p); };
    callbacks.stop_requested = [] { return interrupted.load(); };
    callbacks.checkpoint_written = [&](int64_t) {
        if (c.kill_after_checkpoints > 0 && ++checkpoints >= c.kill_after_checkpoints) std::raise(SIGKILL);
    };
    std::signal(SIGINT, on_interrupt);
    std::signal(SIGTERM, on_interrupt);

    const auto start = std::chrono::steady_clock::now();
    const std::clock_t cpu_start = std::clock();  // process CPU time: steadier than wall time on a shared machine
    CensusState state;
    const bool finished = run_census(*m.model, *m.tokenizer, c.corpus, range, o, state, callbacks);
    bar.finish();
    if (!finished) {
        std::cerr << "gaze census: interrupted; checkpoint " << o.checkpoint_path << " written, rerun with --resume\n";
        if (ranks.size > 1) abort_all_ranks(130);
        return 130;
    }
    const std::vector<std::string> parts = gather_on_rank0(state.serialize());
    const double seconds = max_over_ranks(std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count());
    const double cpu = static_cast<double>(std::clock() - cpu_start) / CLOCKS_PER_SEC;
    if (ranks.rank == 0) {
        CensusState total;
        for (size_t r = 0; r < parts.size(); ++r) total.merge(CensusState::deserialize(parts[r], "rank " + std::to_string(r)));
        write_atomically(c.out, census_json(total, {c.model, m.model->info(), c.corpus, o}));
        if (!c.quiet) {
            const CorpusCounts& k = total.corpus;
            std::fprintf(stderr,
                         "gaze census: %lld texts, %lld tokens in %.2f s (rank 0 cpu %.2f s): %.1f texts/s, %.0f tokens/s "
                         "(%d process%s x %d thread%s); %lld skipped, %lld truncated; wrote %s\n",
                         static_cast<long long>(k.texts), static_cast<long long>(k.tokens), seconds, cpu,
                         seconds > 0 ? k.texts / seconds : 0.0, seconds > 0 ? k.tokens / seconds : 0.0, ranks.size,
                         ranks.size == 1 ? "" : "es", omp_get_max_threads(), omp_get_max_threads() == 1 ? "" : "s",
                         static_cast<long long>(k.skipped_lines), static_cast<long long>(k.truncated_texts), c.out.c_str());
            if (k.texts == 0) std::cerr << "gaze census: warning: " << c.corpus << " has no texts; the census is empty\n";
        }
    }
    wait_for_all_ranks();  // census.json is written: the checkpoints are no longer needed
    std::error_code ec;
    std::filesystem::remove(o.checkpoint_path, ec);
    return 0;
}

int run(CensusCommand& c) {
    const Ranks ranks = start_ranks();
    int status = 0;
    try {
        status = run_ranked(c, ranks);
    } catch (const std::exception& e) {
        if (ranks.size <= 1) throw;
        std::cerr << "gaze: error: (rank " << ranks.rank << " of " << ranks.size << ") " << e.what() << "\n";
        abort_all_ranks(1);
    }
    stop_ranks();
    return status;
}

const RegisterCommand registration{
    {"census", "Statistics of every head over a corpus (text per line or JSONL), resumable, MPI-parallel",
     [](CLI::App& app) {
         auto c = std::make_shared<CensusCommand>();
         CensusOptions& o = c->options;
         app.add_option("--model", c->model, "Model folder")->required();
         app.add_option("--corpus", c->corpus, "Corpus: one text a line, or JSONL (.jsonl/.ndjson)")->required()->check(CLI::ExistingFile);
         app.add_option("--out", c->out, "census.json to write")->required();
         app.add_option("--format", c->format, "auto (by extension), text or jsonl")
             ->check(CLI::IsMember({"auto", "text", "jsonl"}))->capture_default_str();
         app.add_option("--field", o.field, "JSONL field holding the text")->capture_default_str();
         app.add_option("--on-error", c->on_error, "A malformed JSONL line: fail, or skip it (counted, with its line number)")
             ->check(CLI::IsMember({"fail", "skip"}))->capture_default_str();
         app.add_option("--limit", o.limit, "Only the first N texts")->check(CLI::NonNegativeNumber);
         app.add_option("--max-tokens", o.max_tokens, "Truncate longer texts (default: the model's maximum); counted in the result")
             ->check(CLI::PositiveNumber);
         app.add_option("--batch-size", o.batch_size, "Texts per forward pass")->check(CLI::PositiveNumber)->capture_default_str();
         app.add_option("--batch-tokens", o.batch_tokens, "Padded tokens per forward pass")->check(CLI::PositiveNumber)->capture_default_str();
         app.add_option("--window-bytes", o.window_bytes, "Texts are batched within windows of this many bytes of the corpus")
             ->check(CLI::PositiveNumber)->capture_default_str();
         app.add_option("--checkpoint-every", o.checkpoint_every, "Write a checkpoint every N texts (0: never)")
             ->check(CLI::NonNegativeNumber)->capture_default_str();
         app.add_option("--checkpoint", c->checkpoint, "Checkpoint file (default: OUT.checkpoint)");
         app.add_flag("--resume", o.resume, "Continue from the checkpoint (refused if the corpus or options changed)");
         app.add_flag("--quiet", c->quiet, "No progress bar or summary");
         app.add_flag("--no-statistics", c->no_statistics, "Forward passes only, no observer (to measure the census's cost)");
         app.add_option("--kill-after-checkpoint", c->kill_after_checkpoints, "Testing: SIGKILL this process after N checkpoints")
             ->group("");
         return [c] { return run(*c); };
     }}};

}  // namespace
}  // namespace gaze::cli
