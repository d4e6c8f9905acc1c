// T5-small (60M parameters: 6+6 layers, d_model 512, 8 heads, FFN 2048, vocab
// 32128, tied lm_head), randomly initialised in memory: the encoder over 32
// tokens (including each decoder layer's cross-attention keys/values, computed
// once per input), and decoder steps with the KV cache (one new token over a
// cache of 0..31 positions, logits over the whole vocabulary), without
// observers and with an AttentionRecorder taking every decoder attention.
// Reported in ms per encoder pass / per decoder step (wall clock).
//   OMP_NUM_THREADS=2 ./gaze_benchmarks --benchmark_filter=BM_T5
#include <benchmark/benchmark.h>

#include <memory>
#include <random>
#include <vector>

#include "bench_support.hpp"
#include "gaze/models/t5.hpp"
#include "gaze/observers/recorder.hpp"
#include "gaze/seq2seq.hpp"

namespace {

constexpr int64_t kSourceTokens = 32;
constexpr int64_t kDecoderSteps = 32;

gaze::Seq2SeqModel& t5_small(gaze::DType dtype) {
    const gaze::T5Shape shape;  // t5-small by default
    return gaze::as_seq2seq(gaze::bench::cached_model("t5-small", dtype, [&] { return gaze::t5_config(shape); },
                                                      [&] { return gaze::random_t5_weights(shape, 1234); }));
}

// 31 ordinary pieces and </s>.
gaze::Tokens source_tokens() {
    std::mt19937 rng(7);
    std::uniform_int_distribution<int32_t> piece(100, 30000);
    std::vector<int32_t> ids(kSourceTokens);
    for (auto& id : ids) id = piece(rng);
    ids.back() = 1;
    return gaze::Tokens::from_ids(ids);
}

void run_encoder(benchmark::State& state, gaze::DType dtype) {
    gaze::Seq2SeqModel& model = t5_small(dtype);
    const gaze::Tokens source = source_tokens();
    model.encode(source);  // warm-up
    for (auto _ : state) {
        gaze::DecoderState s = model.encode(source);
        benchmark::DoNotOptimize(s.encoder_output.data());
    }
}

// One iteration = one decoder step; every kDecoderSteps steps the cache is
// started again (untimed), so the average covers cache lengths 0 .. 31.
void run_decoder_steps(benchmark::State& state, bool record, gaze::DType dtype) {
    gaze::Seq2SeqModel& model = t5_small(dtype);
    const gaze::Tokens source = source_tokens();
    gaze::AttentionRequest decoder_only;
    decoder_only.stacks = {gaze::Stack::decoder};
    gaze::AttentionRecorder recorder(decoder_only);
    gaze::AttentionObserver* observers[] = {&recorder};
    const std::span<gaze::AttentionObserver* const> watching =
        record ? std::span<gaze::AttentionObserver* const>(observers) : std::span<gaze::AttentionObserver* const>();
    gaze::DecoderState s = model.encode(source, {}, kDecoderSteps);
    gaze::Tensor logits;
    int32_t next = model.decoder_start_id();
    int64_t steps = 0;
    for (auto _ : state) {
        if (steps == kDecoderSteps) {
            state.PauseTiming();
            s = model.encode(source, {}, kDecoderSteps);
            next = model.decoder_start_id();
            steps = 0;
            recorder.clear();
            state.ResumeTiming();
        }
        model.decode_step(s, {&next, 1}, logits, watching);
        next = static_cast<int32_t>(100 + steps);  // the token fed does not change the cost
        ++steps;
    }
    benchmark::DoNotOptimize(logits.data());
}


// Greedy decoding of 32 tokens end to end (encoder once + 32 steps).
void BM_T5SmallGreedy32(benchmark::State& state) {
    gaze::Seq2SeqModel& model = t5_small(gaze::DType::f32);
    const gaze::Tokens source = source_tokens();
    gaze::DecodeOptions options;
    options.max_length = kDecoderSteps;
    options.stop_at_eos = false;
    for (auto _ : state) {
        const gaze::DecodeResult r = gaze::decode(model, source, options);
        benchmark::DoNotOptimize(r.sequences.data());
    }
}

// BM_T5SmallEncoder/<dtype>, BM_T5SmallDecoderStep/<dtype>, BM_T5SmallDecoderStepRecorder/<dtype>.
const bool registered = [] {
    for (const gaze::DType dtype : gaze::bench::kDtypes) {
        benchmark::RegisterBenchmark(gaze::bench::named("BM_T5SmallEncoder", dtype).c_str(),
                                     [dtype](benchmark::State& s) { run_encoder(s, dtype); })
            ->UseRealTime()->Unit(benchmark::kMillisecond);
        for (const bool record : {false, true}) {
            benchmark::RegisterBenchmark(
                gaze::bench::named(record ? "BM_T5SmallDecoderStepRecorder" : "BM_T5SmallDecoderStep", dtype).c_str(),
                [dtype, record](benchmark::State& s) { run_decoder_steps(s, record, dtype); })
                ->UseRealTime()->Unit(benchmark::kMillisecond);
        }
    }
    return true;
}();
BENCHMARK(BM_T5SmallGreedy32)->UseRealTime()->Unit(benchmark::kMillisecond);

}  // namespace
