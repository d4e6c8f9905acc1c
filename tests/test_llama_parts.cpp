// The pieces of the Llama families: the rotary op and its frequencies against
// a double-precision reference, SwiGLU, the Llama SentencePiece tokenizer
// (Hugging Face's golden rows and llama.cpp's llama-spm suite), and the bad
// inputs (rope configs, head counts, sharded checkpoints, over-long prompts).
#include <gtest/gtest.h>
#include <unistd.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <functional>
#include <iterator>
#include <nlohmann/json.hpp>
#include <numbers>
#include <random>
#include <sstream>
#include <tuple>

#include "gaze/gaze.hpp"
#include "gaze/generation.hpp"
#include "gaze/models/llama.hpp"
#include "gaze/ops.hpp"
#include "gaze/tokenizers/llama_sentencepiece.hpp"
#include "ops_reference.hpp"
#include "test_support.hpp"

namespace gaze::test {
namespace {

namespace fs = std::filesystem;

// ---- rotary embeddings -----------------------------------------------------------

// x [B, S, heads*d], in HF's rotate_half layout, in doubles.
std::vector<double> reference_rotary(const Tensor& x, int64_t heads, const std::vector<int64_t>& positions,
                                     const std::vector<double>& inv_freq) {
    const int64_t batch = x.dim(0), seq = x.dim(1), d = x.dim(2) / heads, half = d / 2;
    const std::vector<double> in = values(x);
    std::vector<double> out(in.size());
    for (int64_t b = 0; b < batch; ++b)
        for (int64_t s = 0; s < seq; ++s)
            for (int64_t h = 0; h < heads; ++h)
                for (int64_t i = 0; i < d; ++i) {
                    const size_t at = static_cast<size_t>(((b * seq + s) * heads + h) * d);
                    const double angle = static_cast<double>(positions[static_cast<size_t>(b * seq + s)]) *
                                         inv_freq[static_cast<size_t>(i % half)];
                    const double rotated = i < half ? -in[at + static_cast<size_t>(i + half)] : in[at + static_cast<size_t>(i - half)];
                    out[at + static_cast<size_t>(i)] = in[at + static_cast<size_t>(i)] * std::cos(angle) + rotated * std::sin(angle);
                }
    return out;
}

TEST(OpsRotary, MatchesReferenceOnStridedSlices) {
    std::mt19937 rng(70);
    for (const auto& [heads, d, seq] : {std::tuple<int64_t, int64_t, int64_t>{1, 2, 1}, {4, 16, 7}, {3, 8, 33}, {2, 64, 5}}) {
        Tensor fused = random_tensor({2, seq, 3 * heads * d}, rng, -2.0f, 2.0f);
        Tensor q = fused.narrow(2, heads * d, heads * d);  // a strided slice, like k of a fused QKV
        std::vector<int64_t> positions;
        for (int64_t i = 0; i < 2 * seq; ++i) positions.push_back((i * 37) % 500);
        const auto inv_freq = ops::rotary_inverse_frequencies(d, 10000.0, {}, 0);
        std::vector<double> freq_ref;
        for (int64_t i = 0; i < d / 2; ++i) freq_ref.push_back(1.0 / std::pow(10000.0, 2.0 * static_cast<double>(i) / static_cast<double>(d)));
        const auto expected = reference_rotary(q, heads, positions, freq_ref);
        ops::rotary_embedding(q, heads, positions, inv_freq);
        // Angles up to 500 rad are rounded to float: the error grows with the angle.
        expect_close(q, expected, 1e-4, nullptr, "rotary heads " + std::to_string(heads) + " d " + std::to_string(d));
    }
    Tensor odd({1, 1, 6});
    const std::vector<int64_t> one = {0};
    const std::vector<float> three(3, 1.0f);
    EXPECT_THROW(ops::rotary_embedding(odd, 2, one, three), Error);  // head size 3 is odd
    EXPECT_THROW(ops::rotary_inverse_frequencies(3, 10000.0, {}, 0), Error);
}

TEST(OpsRotary, ScaledFrequencies) {
    const int64_t d = 16;
    const auto plain = ops::rotary_inverse_frequencies(d, 500000.0, {}, 0);
    ops::RopeScaling linear{.type = ops::RopeScaling::Type::linear, .factor = 4.0};
    const auto slow = ops::rotary_inverse_frequencies(d, 500000.0, linear, 0);
    for (size_t i = 0; i < plain.size(); ++i) EXPECT_FLOAT_EQ(slow[i], plain[i] / 4.0f);
    // llama3: wavelengths past old_context / low_freq_factor slowed by factor, under
    // old_context / high_freq_factor kept, smoothly interpolated between.
    ops::RopeScaling llama3{.type = ops::RopeScaling::Type::llama3, .factor = 8.0, .low_freq_factor = 1.0,
                            .high_freq_factor = 4.0, .original_max_positions = 16};
    const auto scaled = ops::rotary_inverse_frequencies(d, 500000.0, llama3, 0);
    for (size_t i = 0; i < plain.size(); ++i) {
        const double wavelen = 2 * std::numbers::pi / plain[i];
        if (wavelen < 4.0) EXPECT_FLOAT_EQ(scaled[i], plain[i]);
        if (wavelen > 16.0) EXPECT_FLOAT_EQ(scaled[i], plain[i] / 8.0f);
        if (wavelen >= 4.0 && wavelen <= 16.0) {
            const double smooth = (16.0 / wavelen - 1.0) / 3.0;
            EXPECT_NEAR(scaled[i], (1 - smooth) * plain[i] / 8.0 + smooth * plain[i], 1e-6 * plain[i]);
        }
    }
    // dynamic: unchanged within the trained length, a larger base beyond it.
    ops::RopeScaling dynamic{.type = ops::RopeScaling::Type::dynamic, .factor = 2.0, .original_max_positions = 64};
    EXPECT_EQ(ops::rotary_inverse_frequencies(d, 10000.0, dynamic, 64), ops::rotary_inverse_frequencies(d, 10000.0, {}, 0));
    const double base = 10000.0 * std::pow(2.0 * 128 / 64 - 1.0, 16.0 / 14.0);
    EXPECT_NEAR(ops::rotary_inverse_frequencies(d, 10000.0, dynamic, 128)[1], 1.0 / std::pow(base, 2.0 / 16.0), 1e-7);
}

TEST(OpsSwiglu, MatchesReference) {
    std::mt19937 rng(71);
    for (int64_t f : kSizes) {
        const Tensor x = random_tensor({3, 2 * f}, rng, -4.0f, 4.0f);
        const auto v = values(x);
        std::vector<double> expected;
        for (int64_t r = 0; r < 3; ++r)
            for (int64_t i = 0; i < f; ++i) {
                const double g = v[static_cast<size_t>(r * 2 * f + i)], u = v[static_cast<size_t>(r * 2 * f + f + i)];
                expected.push_back(g / (1 + std::exp(-g)) * u);
            }
        Tensor out;  // the halves of one fused [gate | up] projection: strided rows
        ops::swiglu(x.narrow(1, 0, f), x.narrow(1, f, f), out);
        EXPECT_EQ(out.shape(), (Shape{3, f}));
        expect_close(out, expected, 1e-6, nullptr, "swiglu F " + std::to_string(f));
    }
}

// ---- the tokenizer ------------------------------------------------------------------

TEST(LlamaTokenizer, MatchesHuggingFaceLlamaTokenizer) {
    GAZE_REQUIRE_FIXTURE(dir, "golden/llama-tiny");
    GAZE_REQUIRE_FIXTURE(jsonl, "golden/tokenizers/llama2-spm.jsonl");
    const auto tokenizer = load_tokenizer(dir);
    ASSERT_NE(dynamic_cast<const LlamaTokenizer*>(tokenizer.get()), nullptr);
    expect_tokenizer_matches_jsonl(jsonl, *tokenizer);
}

// llama.cpp's suite: texts separated by "\n__ggml_vocab_test__\n", one line of ids
// per text, no special tokens.
TEST(LlamaTokenizer, MatchesLlamaCppVocabSuite) {
    GAZE_REQUIRE_FIXTURE(suite, "tokenizers/llamacpp-vocab-tests/ggml-vocab-llama-spm.gguf.inp");
    GAZE_REQUIRE_FIXTURE(dir, "tokenizers/llama2");
    const auto tokenizer = LlamaTokenizer::open(dir);
    std::ifstream inp(suite), out(suite.substr(0, suite.size() - 4) + ".out");
    const std::string all((std::istreambuf_iterator<char>(inp)), std::istreambuf_iterator<char>());
    constexpr std::string_view kSeparator = "\n__ggml_vocab_test__\n";
    int checked = 0;
    for (size_t start = 0; start < all.size();) {
        size_t end = all.find(kSeparator, start);
        if (end == std::string::npos) end = all.size();
        const std::string text = all.substr(start, end - start);
        start = end + kSeparator.size();
        std::string line;
        ASSERT_TRUE(std::getline(out, line)) << "no ids for text " << checked;
        std::istringstream ids_line(line);
        std::vector<int32_t> expected;
        for (int32_t id; ids_line >> id;) expected.push_back(id);
        EXPECT_EQ(tokenizer->encode(text, /*add_special_tokens=*/false).ids, expected) << "text: \"" << text << "\"";
        ++checked;
    }
    EXPECT_GE(checked, 40);
}

TEST(LlamaTokenizer, Stories260KAddsBosAndDecodesWithoutIt) {
    GAZE_REQUIRE_FIXTURE(dir, "models/stories260K");
    const auto tokenizer = load_tokenizer(dir);
    const Encoding e = tokenizer->encode("Once upon a time");
    ASSERT_FALSE(e.ids.empty());
    EXPECT_EQ(e.ids[0], 1);
    EXPECT_EQ(e.tokens[1], "\xE2\x96\x81Once");
    EXPECT_EQ(tokenizer->decode(e.ids, true), "Once upon a time");
    EXPECT_EQ(tokenizer->encode("").ids, std::vector<int32_t>{1});  // BOS alone
}

// ---- bad input ----------------------------------------------------------------------

std::string error_of(const std::function<void()>& f) {
    try {
        f();
    } catch (const Error& e) {
        return e.what();
    }
    return "(no error)";
}

const LlamaShape kShape{.vocab = 50, .hidden = 32, .intermediate = 40, .layers = 1, .heads = 4, .kv_heads = 2, .positions = 16};

std::string model_error(const std::function<void(nlohmann::json&)>& edit) {
    nlohmann::json config = nlohmann::json::parse(llama_config(kShape).dump());
    edit(config);
    return error_of([&] { make_model(Config::parse(config.dump(), "cfg.json"), random_llama_weights(kShape, 1)); });
}

void expect_has(const std::string& message, const std::string& part) {
    EXPECT_NE(message.find(part), std::string::npos) << "expected \"" << part << "\" in: " << message;
}

TEST(LlamaErrors, ConfigsNamedInTheError) {
    expect_has(model_error([](auto& c) { c["rope_scaling"] = {{"rope_type", "yarn"}, {"factor", 4.0}}; }),
               "unsupported rope type 'yarn'");
    expect_has(model_error([](auto& c) { c["rope_scaling"] = {{"rope_type", "linear"}}; }), "\"factor\"");
    expect_has(model_error([](auto& c) { c["rope_scaling"] = {{"rope_type", "llama3"}, {"factor", 8.0}}; }),
               "low_freq_factor");
    expect_has(model_error([](auto& c) { c["rope_scaling"] = {{"factor", 8.0}}; }), "no rope_type");
    expect_has(model_error([](auto& c) { c["partial_rotary_factor"] = 0.5; }), "partial_rotary_factor");
    expect_has(model_error([](auto& c) { c["num_key_value_heads"] = 3; }),
               "num_attention_heads 4 is not a multiple of num_key_value_heads 3");
    expect_has(model_error([](auto& c) { c["hidden_size"] = 30; }), "hidden_size 30 is not a multiple of num_attention_heads 4");
    expect_has(model_error([](auto& c) { c["hidden_act"] = "gelu"; }), "hidden_act 'gelu'");
    expect_has(model_error([](auto& c) { c["tie_word_embeddings"] = false; c["vocab_size"] = 51; }), "embed_tokens");
    EXPECT_EQ(model_error([](auto& c) { c["rope_scaling"] = {{"type", "dynamic"}, {"factor", 2.0}}; }), "(no error)");
}

TEST(LlamaErrors, PromptLongerThanMaxPositions) {
    auto model = make_model(llama_config(kShape), random_llama_weights(kShape, 1));
    const std::vector<int32_t> long_prompt(17, 3);
    expect_has(error_of([&] { model->forward(Tokens::from_ids(long_prompt)); }),
               "input of 17 tokens is longer than the model's maximum of 16 positions");
    GenerationOptions o;
    o.max_new_tokens = 4;
    expect_has(error_of([&] { generate(as_causal_lm(*model), Tokens::from_ids(long_prompt), o); }), "longer than");
}

// A sharded folder: two shards of the tiny model and an index; `edit` breaks it.
std::string sharded_error(const std::function<void(const fs::path&, nlohmann::json&)>& edit) {
    const fs::path dir = fs::temp_directory_path() / ("gaze_llama_shards_" + std::to_string(::getpid()));
    fs::remove_all(dir);
    fs::create_directories(dir);
    const Weights w = random_llama_weights(kShape, 2);
    std::vector<std::pair<std::string, Tensor>> first, second;
    nlohmann::json index = {{"metadata", {{"total_size", 0}}}, {"weight_map", nlohmann::json::object()}};
    for (const auto& [name, t] : w.tensors()) {
        const bool in_first = name.find("layers.0.mlp") == std::string::npos;
        (in_first ? first : second).emplace_back(name, t);
        index["weight_map"][name] = in_first ? "model-00001-of-00002.safetensors" : "model-00002-of-00002.safetensors";
    }
    write_safetensors((dir / "model-00001-of-00002.safetensors").string(), first);
    write_safetensors((dir / "model-00002-of-00002.safetensors").string(), second);
    std::ofstream(dir / "config.json") << llama_config(kShape).dump();
    edit(dir, index);
    std::ofstream(dir / "model.safetensors.index.json") << index.dump();
    const std::string message = error_of([&] { load_model(dir.string()); });
    fs::remove_all(dir);
    return message;
}

TEST(LlamaErrors, ShardedCheckpoints) {
    EXPECT_EQ(sharded_error([](const fs::path&, nlohmann::json&) {}), "(no error)");
    expect_has(sharded_error([](const fs::path& d, nlohmann::json&) { fs::remove(d / "model-00002-of-00002.safetensors"); }),
               "shard 'model-00002-of-00002.safetensors' (holding tensor 'model.layers.0.mlp.down_proj.weight') is missing");
    expect_has(sharded_error([](const fs::path&, nlohmann::json& i) { i["weight_map"]["lm_head.weight"] = "absent.safetensors"; }),
               "shard 'absent.safetensors' (holding tensor 'lm_head.weight') is missing");
    expect_has(sharded_error([](const fs::path&, nlohmann::json& i) { i["weight_map"]["x"] = "../model.safetensors"; }),
               "must be a plain file name");
    expect_has(sharded_error([](const fs::path&, nlohmann::json& i) { i = {{"metadata", {}}}; }), "no weight_map");
    // A tensor in both shards (the index maps it once).
    expect_has(sharded_error([](const fs::path& d, nlohmann::json&) {
                   Weights w = random_llama_weights(kShape, 3);
                   write_safetensors((d / "model-00002-of-00002.safetensors").string(),
                                     {{"model.norm.weight", *w.find("model.norm.weight")},
                                      {"model.layers.0.mlp.up_proj.weight", *w.find("model.layers.0.mlp.up_proj.weight")},
                                      {"model.layers.0.mlp.gate_proj.weight", *w.find("model.layers.0.mlp.gate_proj.weight")},
                                      {"model.layers.0.mlp.down_proj.weight", *w.find("model.layers.0.mlp.down_proj.weight")}});
               }),
               "tensor 'model.norm.weight' is also in another shard");
    // A tensor listed twice in the index's own text.
    const std::string twice = R"({"weight_map": {"a": "x.safetensors", "a": "y.safetensors"}})";
    expect_has(error_of([&] { parse_safetensors_index(twice, "index.json", ""); }), "tensor 'a' is listed twice");
    expect_has(error_of([&] { parse_safetensors_index("{\"weight_map\": [", "index.json", ""); }), "index.json: invalid JSON");
}

}  // namespace
}  // namespace gaze::test
