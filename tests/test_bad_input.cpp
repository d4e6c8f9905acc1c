// Broken model folders and model input: every one must end in a gaze::Error
// whose message names the file, tensor or key, never in a crash or a silently
// wrong result. Model folders copy the golden bert-tiny config.json and weights
// (edited). Broken safetensors files themselves: test_bad_safetensors.cpp.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <limits>
#include <map>
#include <nlohmann/json.hpp>
#include <random>
#include <string>
#include <vector>

#include "bad_input_support.hpp"
#include "gaze/gaze.hpp"
#include "test_support.hpp"

namespace gaze::test {
namespace {

namespace fs = std::filesystem;
using json = nlohmann::json;
using ::testing::AllOf;
using ::testing::HasSubstr;
using ::testing::Not;

// ---- model folders ----------------------------------------------------------------

// A model folder: golden bert-tiny's config.json (optionally edited) plus a
// model.safetensors written from the golden tensors after `edit`.
class BadModelFolder : public ::testing::Test {
protected:
    void SetUp() override {
        golden_ = fixture("golden/bert-tiny");
        if (golden_.empty()) {
            if (running_in_ci()) FAIL() << "missing fixture golden/bert-tiny under " << shared_dir();
            GTEST_SKIP() << "fixture golden/bert-tiny not found under " << shared_dir();
        }
    }

    json golden_config() const {
        std::ifstream in(fs::path(golden_) / "config.json");
        return json::parse(in);
    }
    void write_config(const json& config) const { write_bytes(dir_.file("config.json"), config.dump(2)); }

    // All golden tensors, in file order, for editing.
    std::vector<std::pair<std::string, Tensor>> golden_tensors() const {
        const SafetensorsFile file = SafetensorsFile::open((fs::path(golden_) / "model.safetensors").string());
        std::vector<std::pair<std::string, Tensor>> out;
        for (const auto& e : file.entries()) out.emplace_back(e.name, file.load(e).clone());
        return out;
    }
    std::string weights_path() const { return dir_.file("model.safetensors"); }
    void copy_golden_weights() const {
        fs::copy_file(fs::path(golden_) / "model.safetensors", weights_path(), fs::copy_options::overwrite_existing);
    }

    std::string golden_;
    TempDir dir_;
};

TEST_F(BadModelFolder, GoldenCopyLoads) {
    // The base every other case edits is itself fine.
    write_config(golden_config());
    write_safetensors(weights_path(), golden_tensors());
    EXPECT_NO_THROW(load_model(dir_.str()));
}

TEST_F(BadModelFolder, MissingTensorIsNamed) {
    write_config(golden_config());
    auto tensors = golden_tensors();
    const std::string dropped = "bert.encoder.layer.1.output.dense.weight";
    const auto before = tensors.size();
    std::erase_if(tensors, [&](const auto& p) { return p.first == dropped; });
    ASSERT_EQ(tensors.size(), before - 1);
    write_safetensors(weights_path(), tensors);
    EXPECT_THAT(error_of([&] { load_model(dir_.str()); }),
                AllOf(HasSubstr(weights_path()), HasSubstr("missing tensor"),
                      HasSubstr("encoder.layer.1.output.dense.weight")));
}

TEST_F(BadModelFolder, WrongShapeNamesTensorAndBothShapes) {
    write_config(golden_config());
    auto tensors = golden_tensors();
    const std::string target = "bert.encoder.layer.0.attention.self.query.weight";
    bool replaced = false;
    for (auto& [name, t] : tensors) {
        if (name == target) {
            t = iota_tensor({64, 32});
            replaced = true;
        }
    }
    ASSERT_TRUE(replaced);
    write_safetensors(weights_path(), tensors);
    EXPECT_THAT(error_of([&] { load_model(dir_.str()); }),
                AllOf(HasSubstr(weights_path()), HasSubstr("tensor '" + target + "'"), HasSubstr("[64, 32]"),
                      HasSubstr("expected [64, 64]")));
}

TEST_F(BadModelFolder, WrongShapeOfTheEmbeddingsNamesBothShapes) {
    // A vocabulary that disagrees with config.json (a common mix-up of folders).
    auto config = golden_config();
    config["vocab_size"] = 30000;
    write_config(config);
    copy_golden_weights();
    EXPECT_THAT(error_of([&] { load_model(dir_.str()); }),
                AllOf(HasSubstr("word_embeddings.weight"), HasSubstr("[30522, 64]"), HasSubstr("expected [30000, 64]")));
}

TEST_F(BadModelFolder, IntegerTensorWhereFloatIsNeeded) {
    write_config(golden_config());
    // The golden tensors, with the token-type table stored as I32.
    json header = json::object();
    std::string data;
    for (const auto& [name, t] : golden_tensors()) {
        const std::vector<float> v = t.to_vector();
        const std::string dtype = name == "bert.embeddings.token_type_embeddings.weight" ? "I32" : "F32";
        header[name] = entry(dtype, t.shape().to_vector(), data.size(), data.size() + v.size() * 4);
        data.append(reinterpret_cast<const char*>(v.data()), v.size() * 4);
    }
    std::string text = header.dump();
    text.append((8 - text.size() % 8) % 8, ' ');
    write_bytes(weights_path(), image(text, data));
    EXPECT_THAT(error_of([&] { load_model(dir_.str()); }),
                AllOf(HasSubstr(weights_path()), HasSubstr("token_type_embeddings.weight"), HasSubstr("I32")));
}

TEST_F(BadModelFolder, CorruptWeightsFileIsNamed) {
    write_config(golden_config());
    std::string bytes = read_bytes((fs::path(golden_) / "model.safetensors").string());
    bytes.resize(bytes.size() / 2);
    write_bytes(weights_path(), bytes);
    EXPECT_THAT(error_of([&] { load_model(dir_.str()); }),
                AllOf(HasSubstr(weights_path()), HasSubstr("past the data section")));
}

TEST_F(BadModelFolder, UnknownModelTypeListsSupportedTypes) {
    auto config = golden_config();
    config["model_type"] = "gpt_neox_japanese";
    write_config(config);
    copy_golden_weights();
    const std::string message = error_of([&] { load_model(dir_.str()); });
    EXPECT_THAT(message, AllOf(HasSubstr(dir_.file("config.json")), HasSubstr("unknown model_type 'gpt_neox_japanese'"),
                               HasSubstr("supported")));
    const auto types = known_model_types();
    ASSERT_FALSE(types.empty());
    for (const auto& t : types) EXPECT_THAT(message, HasSubstr(t));
    // make_model says the same without a folder.
    EXPECT_THAT(error_of([&] { make_model(Config::parse(config.dump(), "cfg"), Weights()); }),
                AllOf(HasSubstr("cfg"), HasSubstr("unknown model_type 'gpt_neox_japanese'")));
}

TEST_F(BadModelFolder, MissingOrMistypedModelType) {
    auto config = golden_config();
    config.erase("model_type");
    write_config(config);
    copy_golden_weights();
    EXPECT_THAT(error_of([&] { load_model(dir_.str()); }),
                AllOf(HasSubstr(dir_.file("config.json")), HasSubstr("model_type")));
    config["model_type"] = 7;
    write_config(config);
    EXPECT_THAT(error_of([&] { load_model(dir_.str()); }),
                AllOf(HasSubstr(dir_.file("config.json")), HasSubstr("'model_type' must be a string")));
}

TEST_F(BadModelFolder, ConfigNotJson) {
    write_bytes(dir_.file("config.json"), "{\"model_type\": \"bert\", \"hidden_size\": 64,");
    copy_golden_weights();
    EXPECT_THAT(error_of([&] { load_model(dir_.str()); }),
                AllOf(HasSubstr(dir_.file("config.json")), HasSubstr("not valid JSON")));
    write_bytes(dir_.file("config.json"), "[\"bert\"]");
    EXPECT_THAT(error_of([&] { load_model(dir_.str()); }),
                AllOf(HasSubstr(dir_.file("config.json")), HasSubstr("expected a JSON object")));
}

TEST_F(BadModelFolder, ConfigMissingHiddenSize) {
    auto config = golden_config();
    config.erase("hidden_size");
    write_config(config);
    copy_golden_weights();
    EXPECT_THAT(error_of([&] { load_model(dir_.str()); }),
                AllOf(HasSubstr(dir_.file("config.json")), HasSubstr("missing integer"), HasSubstr("'hidden_size'")));
}

TEST_F(BadModelFolder, ConfigHiddenSizeOfTheWrongType) {
    auto config = golden_config();
    for (const json& bad : {json("64"), json(64.5), json(true), json::array({64})}) {
        config["hidden_size"] = bad;
        write_config(config);
        copy_golden_weights();
        EXPECT_THAT(error_of([&] { load_model(dir_.str()); }),
                    AllOf(HasSubstr(dir_.file("config.json")), HasSubstr("'hidden_size' must be an integer")))
            << bad.dump();
    }
}

TEST_F(BadModelFolder, ConfigIntegerPastInt64) {
    // 2^64 - 1 parses as an unsigned integer; it must not wrap to -1.
    auto config = golden_config();
    config["vocab_size"] = std::numeric_limits<uint64_t>::max();
    write_config(config);
    copy_golden_weights();
    EXPECT_THAT(error_of([&] { load_model(dir_.str()); }),
                AllOf(HasSubstr(dir_.file("config.json")), HasSubstr("'vocab_size' is out of range")));
    // Larger still: JSON parses it as a float, which is not an integer.
    config = golden_config();
    config["hidden_size"] = 1e30;
    write_config(config);
    EXPECT_THAT(error_of([&] { load_model(dir_.str()); }),
                AllOf(HasSubstr(dir_.file("config.json")), HasSubstr("'hidden_size' must be an integer")));
}

TEST_F(BadModelFolder, ConfigHeadsDoNotDivideHidden) {
    auto config = golden_config();
    config["num_attention_heads"] = 5;
    write_config(config);
    copy_golden_weights();
    EXPECT_THAT(error_of([&] { load_model(dir_.str()); }),
                AllOf(HasSubstr(dir_.file("config.json")), HasSubstr("num_attention_heads 5")));
}

TEST_F(BadModelFolder, ConfigSizesMustBePositive) {
    copy_golden_weights();
    for (const char* key : {"num_attention_heads", "num_hidden_layers", "hidden_size", "vocab_size"}) {
        for (const int64_t bad : {int64_t{0}, int64_t{-4}, int64_t{1} << 40}) {
            auto config = golden_config();
            config[key] = bad;
            write_config(config);
            EXPECT_THAT(error_of([&] { load_model(dir_.str()); }),
                        AllOf(HasSubstr(dir_.file("config.json")), HasSubstr(std::string("'") + key + "'"),
                              HasSubstr("must be a positive size"), HasSubstr("got " + std::to_string(bad))))
                << key << " = " << bad;
        }
    }
}

TEST_F(BadModelFolder, ConfigUnsupportedActivation) {
    auto config = golden_config();
    config["hidden_act"] = "swish_v9";
    write_config(config);
    copy_golden_weights();
    EXPECT_THAT(error_of([&] { load_model(dir_.str()); }),
                AllOf(HasSubstr(dir_.file("config.json")), HasSubstr("'swish_v9'")));
}

TEST_F(BadModelFolder, NoConfigJson) {
    copy_golden_weights();
    EXPECT_THAT(error_of([&] { load_model(dir_.str()); }),
                AllOf(HasSubstr(dir_.file("config.json")), HasSubstr("cannot open")));
}

TEST_F(BadModelFolder, OnlyPytorchBin) {
    write_config(golden_config());
    write_bytes(dir_.file("pytorch_model.bin"), std::string("PK\x03\x04", 4));
    EXPECT_THAT(error_of([&] { load_model(dir_.str()); }),
                AllOf(HasSubstr(dir_.str()), HasSubstr("pytorch_model.bin"), HasSubstr("weights/convert_pytorch_bin.py")));
}

TEST_F(BadModelFolder, NoWeightsAtAll) {
    write_config(golden_config());
    EXPECT_THAT(error_of([&] { load_model(dir_.str()); }),
                AllOf(HasSubstr(dir_.str()), HasSubstr("no model.safetensors")));
}

TEST_F(BadModelFolder, BadShardIndex) {
    write_config(golden_config());
    const std::string index = dir_.file("model.safetensors.index.json");
    write_bytes(index, "{\"metadata\": {}}");
    EXPECT_THAT(error_of([&] { load_model(dir_.str()); }), AllOf(HasSubstr(index), HasSubstr("weight_map")));
    write_bytes(index, "{\"weight_map\": {\"a\": \"../../etc/passwd\"}}");
    EXPECT_THAT(error_of([&] { load_model(dir_.str()); }), AllOf(HasSubstr(index), HasSubstr("plain file name")));
    write_bytes(index, "{\"weight_map\": {\"a\": \"model-00001-of-00002.safetensors\"}}");
    EXPECT_THAT(error_of([&] { load_model(dir_.str()); }),
                AllOf(HasSubstr("model-00001-of-00002.safetensors"), HasSubstr("is missing")));
}

TEST(BadModel, FolderMissing) {
    TempDir dir;
    const std::string missing = dir.file("no-such-model");
    EXPECT_THAT(error_of([&] { load_model(missing); }), AllOf(HasSubstr(missing), HasSubstr("not found")));
    EXPECT_THAT(error_of([&] { Weights::open_folder(missing); }), HasSubstr(missing));
}

TEST(BadModel, EmptyWeightsNameTheMissingTensor) {
    const Config config = bert_config(BertShape{1, 8, 2, 16, 50, 16, 2});
    EXPECT_THAT(error_of([&] { make_model(config, Weights()); }),
                AllOf(HasSubstr("<memory>"), HasSubstr("missing tensor"), HasSubstr("word_embeddings")));
}

// ---- model input ------------------------------------------------------------------

TEST(BadModelInput, LongerThanMaxPositions) {
    GAZE_REQUIRE_FIXTURE(dir, "golden/bert-tiny");
    auto model = load_model(dir);
    ASSERT_EQ(model->info().max_positions, 512);
    const Tokens tokens = Tokens::from_ids(std::vector<int32_t>(513, 100));
    EXPECT_THAT(error_of([&] { model->forward(tokens); }),
                AllOf(HasSubstr("513 tokens"), HasSubstr("maximum of 512 positions")));
    // The longest allowed input runs.
    EXPECT_NO_THROW(model->forward(Tokens::from_ids(std::vector<int32_t>(512, 100))));
}

TEST(BadModelInput, TokenIdOutsideTheVocabulary) {
    GAZE_REQUIRE_FIXTURE(dir, "golden/bert-tiny");
    auto model = load_model(dir);
    const int64_t vocab = model->info().vocab;
    ASSERT_EQ(vocab, 30522);
    for (int32_t bad : {static_cast<int32_t>(vocab), static_cast<int32_t>(vocab + 1000), -1,
                        std::numeric_limits<int32_t>::min(), std::numeric_limits<int32_t>::max()}) {
        const Tokens tokens = Tokens::from_ids({101, 2000, bad, 102});
        EXPECT_THAT(error_of([&] { model->forward(tokens); }),
                    AllOf(HasSubstr("token id " + std::to_string(bad)), HasSubstr("vocabulary of 30522")))
            << bad;
    }
    // The last valid id is fine.
    EXPECT_NO_THROW(model->forward(Tokens::from_ids({101, static_cast<int32_t>(vocab - 1), 102})));
}

TEST(BadModelInput, InconsistentBatch) {
    GAZE_REQUIRE_FIXTURE(dir, "golden/bert-tiny");
    auto model = load_model(dir);
    Tokens tokens = Tokens::from_ids({101, 2000, 102});
    tokens.batch = 2;  // claims 6 ids, has 3
    EXPECT_THAT(error_of([&] { model->forward(tokens); }), HasSubstr("3 ids for a batch of 2 x 3"));
    Tokens masked = Tokens::from_ids({101, 2000, 102});
    masked.mask.pop_back();
    EXPECT_THAT(error_of([&] { model->forward(masked); }), HasSubstr("mask"));
    EXPECT_THAT(error_of([&] { model->forward(Tokens{}); }), HasSubstr("empty input"));
}

}  // namespace
}  // namespace gaze::test
