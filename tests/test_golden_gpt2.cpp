// GPT-2 against Hugging Face transformers' outputs (../shared/golden/gpt2-tiny):
// hidden states, attention probabilities, logits, the padded batch, the greedy
// continuation and the attention of its last step, through the library API and
// through `gaze run --dump` / `gaze generate --dump`. Then the KV cache against
// full recomputation, sampling, the model built in code, and the error paths.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "gaze/gaze.hpp"
#include "gaze/generation.hpp"
#include "gaze/models/gpt2.hpp"
#include "gaze/tokenizers/bpe.hpp"
#include "golden.hpp"
#include "test_support.hpp"

namespace gaze::test {
namespace {

namespace fs = std::filesystem;
using TensorMap = std::map<std::string, Tensor>;

nlohmann::json case_json(const GoldenCase& c) {
    std::ifstream in(c.json_path);
    return nlohmann::json::parse(in);
}

std::string temp_path(const std::string& name) { return golden_temp_path("gpt2_" + name); }

// ---- through the API -------------------------------------------------------------

TEST(GoldenGpt2, ForwardMatchesHuggingFace) {
    GAZE_REQUIRE_FIXTURE(dir, "golden/gpt2-tiny");
    auto model = load_model(dir);
    EXPECT_EQ(model->info().family, "gpt2");
    EXPECT_TRUE(model->info().is_causal);
    const auto cases = golden_cases(dir);
    ASSERT_EQ(cases.size(), 4u);
    for (const auto& c : cases) {
        ForwardResult out;
        const TensorMap actual = golden_forward(*model, c, &out);
        ASSERT_EQ(out.hidden_states.size(), 3u);
        compare_prompt_pass(c, actual);
    }
}

TEST(GoldenGpt2, GreedyGenerationMatchesHuggingFace) {
    GAZE_REQUIRE_FIXTURE(dir, "golden/gpt2-tiny");
    auto model = load_model(dir);
    const auto tokenizer = load_tokenizer(dir);
    int checked = 0;
    for (const auto& c : golden_cases(dir)) {
        const auto json = case_json(c);
        if (!json.contains("max_new_tokens")) continue;
        AttentionRecorder recorder;
        AttentionObserver* observers[] = {&recorder};
        GenerationOptions options;
        options.max_new_tokens = json["max_new_tokens"].get<int64_t>();
        options.observers = observers;
        options.tokenizer = tokenizer.get();
        std::vector<int32_t> streamed;
        options.on_token = [&](int64_t, std::span<const int32_t> ids) {
            streamed.push_back(ids[0]);
            return true;
        };
        const GenerationResult r = generate(as_causal_lm(*model), c.input, options);
        ASSERT_EQ(r.steps, options.max_new_tokens);
        EXPECT_EQ(streamed, r.ids);

        TensorMap actual;
        const int last = static_cast<int>(r.steps - 1);
        for (const auto& rec : recorder.records()) {
            if (rec.step == last) actual["generate_last_step_attentions." + std::to_string(rec.site.layer)] = rec.probabilities;
        }
        compare_generation(c, std::vector<int64_t>(r.ids.begin(), r.ids.end()), actual);
        // HF's decode replaces broken UTF-8 with U+FFFD; decode_text does the same.
        const auto& bpe = dynamic_cast<const BpeTokenizer&>(*tokenizer);
        EXPECT_EQ(bpe.decode_text(r.ids), json["generated_text"].get<std::string>()) << c.name;
        ++checked;
    }
    EXPECT_EQ(checked, 3);
}

// ---- through the CLI -------------------------------------------------------------

std::string cli() { return GAZE_CLI_PATH; }
std::string quoted(const std::string& s) {
    std::string q = "'";
    for (char ch : s) q += ch == '\'' ? std::string("'\\''") : std::string(1, ch);
    return q + "'";
}

TEST(GoldenGpt2, CliRunAndGenerateDumpsMatchHuggingFace) {
    GAZE_REQUIRE_FIXTURE(dir, "golden/gpt2-tiny");
    if (cli().empty()) GTEST_SKIP() << "the gaze CLI is not built";
    for (const auto& c : golden_cases(dir)) {
        const auto json = case_json(c);
        std::string texts;
        for (const auto& t : json.contains("texts") ? json["texts"] : nlohmann::json::array({json["text"]})) {
            texts += " --text " + quoted(t.get<std::string>());
        }
        const std::string run_dump = temp_path(c.name + "_run.safetensors");
        std::string out;
        ASSERT_EQ(run_command(cli() + " run --model " + quoted(dir) + texts + " --dump " + run_dump, &out), 0) << out;
        compare_prompt_pass(c, read_dump(run_dump));
        fs::remove(run_dump);
        if (!json.contains("max_new_tokens")) continue;

        const std::string gen_dump = temp_path(c.name + "_generate.safetensors");
        const std::string n = std::to_string(json["max_new_tokens"].get<int>());
        ASSERT_EQ(run_command(cli() + " generate --model " + quoted(dir) + texts + " --max-new-tokens " + n +
                                  " --greedy --ignore-eos --dump " + gen_dump,
                              &out),
                  0)
            << out;
        // The streamed text is the exact bytes; HF's generated_text replaced broken UTF-8.
        const auto dumped = read_dump(gen_dump);
        std::vector<int64_t> ids;
        for (float v : dumped.at("generated_ids").to_vector()) ids.push_back(static_cast<int64_t>(v));
        compare_generation(c, ids, dumped);
        fs::remove(gen_dump);
    }
}

// ---- the KV cache, batches, observers --------------------------------------------

GPT2Shape tiny_shape() { return {.vocab = 97, .context = 32, .width = 32, .heads = 4, .layers = 2}; }

std::unique_ptr<Model> tiny_gpt(uint32_t seed = 7) {
    return make_model(gpt2_config(tiny_shape()), random_gpt2_weights(tiny_shape(), seed));
}

// Greedy decoding by recomputing the whole sequence each step, no cache.
std::vector<int32_t> greedy_without_cache(Model& model, std::vector<int32_t> ids, int steps) {
    std::vector<int32_t> out;
    for (int i = 0; i < steps; ++i) {
        ForwardOptions o;
        o.logits_last_only = true;
        const ForwardResult r = model.forward(Tokens::from_ids(ids), o);
        const auto row = r.logits.to_vector();
        const int32_t next = static_cast<int32_t>(std::max_element(row.begin(), row.end()) - row.begin());
        out.push_back(next);
        ids.push_back(next);
    }
    return out;
}

TEST(Gpt2Generation, CachedDecodingEqualsRecomputation) {
    auto model = tiny_gpt();
    const std::vector<int32_t> prompt = {5, 17, 3, 90, 41};
    GenerationOptions o;
    o.max_new_tokens = 12;
    const GenerationResult r = generate(as_causal_lm(*model), Tokens::from_ids(prompt), o);
    EXPECT_EQ(r.ids, greedy_without_cache(*model, prompt, 12));
    EXPECT_EQ(r.context.length, 5 + 11);
}

TEST(Gpt2Generation, PaddedBatchDecodesLikeEachSequenceAlone) {
    auto model = tiny_gpt();
    const std::vector<int32_t> a = {5, 17, 3}, b = {8, 1, 60, 33, 2, 71};
    GenerationOptions o;
    o.max_new_tokens = 6;
    Encoding ea, eb;
    ea.ids = a;
    eb.ids = b;
    const Tokens batch = Tokens::from_encodings({ea, eb}, 96);  // right padded
    const GenerationResult r = generate(as_causal_lm(*model), batch, o);
    EXPECT_EQ(r.sequence(0), generate(as_causal_lm(*model), Tokens::from_ids(a), o).ids);
    EXPECT_EQ(r.sequence(1), generate(as_causal_lm(*model), Tokens::from_ids(b), o).ids);
}

TEST(Gpt2Generation, ObserversSeeEachStepsNewRowOverTheCache) {
    auto model = tiny_gpt();
    AttentionRecorder recorder;
    AttentionObserver* observers[] = {&recorder};
    GenerationOptions o;
    o.max_new_tokens = 4;
    o.observers = observers;
    generate(as_causal_lm(*model), Tokens::from_ids({1, 2, 3}), o);
    ASSERT_EQ(recorder.records().size(), 4u * 2);  // steps x layers
    for (const auto& r : recorder.records()) {
        EXPECT_EQ(r.site.stack, Stack::decoder);
        EXPECT_EQ(r.site.kind, AttentionKind::causal_self);
        const int64_t rows = r.step == 0 ? 3 : 1, keys = 3 + r.step;
        EXPECT_EQ(r.probabilities.shape(), (Shape{1, 4, rows, keys})) << "step " << r.step;
        EXPECT_EQ(r.query_positions.back(), 2 + r.step);
        // Each row is a distribution over the keys it may see.
        for (int64_t h = 0; h < 4; ++h) {
            double sum = 0;
            for (int64_t j = 0; j < keys; ++j) sum += r.probabilities.at({0, h, rows - 1, j});
            EXPECT_NEAR(sum, 1.0, 1e-5);
        }
    }
    EXPECT_EQ(recorder.tensor_name(*recorder.find(Stack::decoder, AttentionKind::causal_self, 1, 3)), "step.3.attentions.1");
}

TEST(Gpt2Generation, StopTokensAndCallbackEndGeneration) {
    auto model = tiny_gpt();
    GenerationOptions o;
    o.max_new_tokens = 10;
    const auto free_run = generate(as_causal_lm(*model), Tokens::from_ids({4, 5}), o);
    o.stop_tokens = {free_run.ids[2]};
    const auto stopped = generate(as_causal_lm(*model), Tokens::from_ids({4, 5}), o);
    EXPECT_TRUE(stopped.stopped[0]);
    EXPECT_LE(stopped.steps, 3);
    o.stop_tokens.clear();
    o.on_token = [](int64_t step, std::span<const int32_t>) { return step < 1; };
    EXPECT_EQ(generate(as_causal_lm(*model), Tokens::from_ids({4, 5}), o).steps, 2);
}

// ---- sampling ----------------------------------------------------------------------

TEST(Sampling, GreedyTopKAndTopP) {
    const std::vector<float> logits = {0.5f, 3.0f, 3.0f, -1.0f, 2.9f};
    std::mt19937_64 rng(1);
    EXPECT_EQ(choose_next_token(logits, {}, rng), 1);  // first of the tied maxima
    SamplingOptions s{.greedy = false, .temperature = 1.0f, .top_k = 1};
    for (int i = 0; i < 20; ++i) {
        const int32_t id = choose_next_token(logits, s, rng);  // top-k keeps ties at the k-th score
        EXPECT_TRUE(id == 1 || id == 2) << id;
    }
    s = {.greedy = false, .temperature = 0.7f, .top_k = 0, .top_p = 0.01f};
    for (int i = 0; i < 20; ++i) EXPECT_NE(choose_next_token(logits, s, rng), 4);
    s = {.greedy = false, .temperature = 1.0f, .top_k = 3};
    std::vector<int> counts(5);
    for (int i = 0; i < 3000; ++i) ++counts[static_cast<size_t>(choose_next_token(logits, s, rng))];
    EXPECT_EQ(counts[0] + counts[3], 0);
    EXPECT_NEAR(counts[4] / 3000.0, std::exp(2.9) / (2 * std::exp(3.0) + std::exp(2.9)), 0.03);
}

TEST(Sampling, SameSeedSameTokens) {
    auto model = tiny_gpt();
    GenerationOptions o;
    o.max_new_tokens = 8;
    o.sampling = {.greedy = false, .temperature = 1.5f, .top_k = 20, .top_p = 0.95f, .seed = 42};
    const auto a = generate(as_causal_lm(*model), Tokens::from_ids({1, 2}), o);
    const auto b = generate(as_causal_lm(*model), Tokens::from_ids({1, 2}), o);
    EXPECT_EQ(a.ids, b.ids);
}

TEST(Sampling, BadValuesAreRejected) {
    std::mt19937_64 rng;
    const std::vector<float> logits = {1, 2};
    EXPECT_THROW(choose_next_token(logits, {.greedy = false, .temperature = 0.0f}, rng), Error);
    EXPECT_THROW(choose_next_token(logits, {.greedy = false, .top_k = -1}, rng), Error);
    EXPECT_THROW(choose_next_token(logits, {.greedy = false, .top_p = 1.5f}, rng), Error);
}

// ---- the model built in code and the weight layouts ------------------------------------

TEST(Gpt2Model, BuiltInCodeLoadsBothLayoutsAndIgnoresMaskBuffers) {
    const GPT2Shape shape = tiny_shape();
    Weights plain = random_gpt2_weights(shape, 3);
    Weights prefixed;
    for (const auto& [name, t] : plain.tensors()) prefixed.add("transformer." + name, t);
    prefixed.add("transformer.h.0.attn.bias", Tensor({1, 1, 32, 32}));  // HF's causal-mask buffer
    prefixed.add("transformer.h.0.attn.masked_bias", Tensor({1}));
    auto a = make_model(gpt2_config(shape), plain);
    auto b = make_model(gpt2_config(shape), prefixed);
    EXPECT_EQ(a->info().parameters, b->info().parameters);
    const int64_t h = 32, f = 128, per_layer = 4 * h + 3 * h * h + 3 * h + h * h + h + h * f + f + f * h + h;
    EXPECT_EQ(a->info().parameters, 97 * h + 32 * h + 2 * per_layer + 2 * h);
    const Tokens t = Tokens::from_ids({1, 2, 3});
    EXPECT_LE(max_abs_diff(a->forward(t).logits, b->forward(t).logits), 1e-6);  // same weights; BLAS may split sums differently
}

// ---- bad input ------------------------------------------------------------------------

std::string error_of(const std::function<void()>& f) {
    try {
        f();
    } catch (const Error& e) {
        return e.what();
    }
    return "(no error)";
}

TEST(Gpt2Errors, PromptLongerThanTheContextAndUnknownIds) {
    auto model = tiny_gpt();
    GenerationOptions o;
    o.max_new_tokens = 4;
    std::vector<int32_t> long_prompt(33, 1);
    EXPECT_NE(error_of([&] { generate(as_causal_lm(*model), Tokens::from_ids(long_prompt), o); })
                  .find("prompt of 33 tokens is longer than the model's context of 32 positions"),
              std::string::npos);
    std::vector<int32_t> near_full(30, 1);
    EXPECT_NE(error_of([&] { generate(as_causal_lm(*model), Tokens::from_ids(near_full), o); }).find("at most 3 new tokens"),
              std::string::npos);
    EXPECT_NE(error_of([&] { generate(as_causal_lm(*model), Tokens::from_ids({1, 97}), o); })
                  .find("token id 97 is outside the vocabulary of 97"),
              std::string::npos);
    EXPECT_NE(error_of([&] { model->forward(Tokens::from_ids(long_prompt)); }).find("longer than"), std::string::npos);
    o.stop_tokens = {-3};
    EXPECT_NE(error_of([&] { generate(as_causal_lm(*model), Tokens::from_ids({1}), o); }).find("stop token id -3"),
              std::string::npos);
}

TEST(Gpt2Errors, CliGivesOneClearLine) {
    if (cli().empty()) GTEST_SKIP() << "the gaze CLI is not built";
    const std::pair<std::string, std::string> cases[] = {
        {" generate --random-gpt ctx=4 --text 'one two three four five six'", "longer than the model's context of 4"},
        {" generate --random-gpt vocab=257 --ids 1,300", "token id 300 is outside the vocabulary of 257"},
        {" generate --random-gpt ctx=8 --ids 1,2 --max-new-tokens 0", "--max-new-tokens"},
        {" generate --random-gpt ctx=8 --ids 1,2 --temperature 0", "temperature must be a positive number"},
        {" generate --random-gpt ctx=8 --ids 1,2 --top-p 1.5", "top-p must be in (0, 1]"},
        {" generate --random-gpt ctx=8,bogus=1 --ids 1", "unknown key 'bogus'"},
        {" generate --random-gpt width=30,heads=4 --ids 1", "multiple of"},
        {" generate --random-gpt ctx=8 --ids 1,x", "--ids"},
    };
    for (const auto& [args, expected] : cases) {
        std::string out;
        const int rc = run_command(cli() + args, &out);
        EXPECT_NE(rc, 0) << args;
        EXPECT_NE(out.find(expected), std::string::npos) << args << "\n" << out;
        EXPECT_LE(std::count(out.begin(), out.end(), '\n'), 2) << args << "\n" << out;
    }
}

TEST(Gpt2Cli, RandomGptGeneratesWithoutACheckpoint) {
    if (cli().empty()) GTEST_SKIP() << "the gaze CLI is not built";
    // stdout only: the timings on stderr differ from run to run.
    const std::string command = "(" + cli() +
                                " generate --random-gpt ctx=64,width=32,heads=2,layers=2,seed=5 --text 'Hi there'"
                                " --max-new-tokens 5 --temperature 0.8 --top-k 40 --top-p 0.9 --seed 1 2>/dev/null)";
    std::string out, again;
    ASSERT_EQ(run_command(command, &out), 0) << out;
    ASSERT_EQ(run_command(command, &again), 0) << again;
    EXPECT_EQ(out, again);  // seeded: reproducible
    EXPECT_EQ(out.rfind("Hi there", 0), 0u) << out;  // the prompt, then the continuation
    EXPECT_GT(out.size(), std::string("Hi there\n").size());
}

}  // namespace
}  // namespace gaze::test
