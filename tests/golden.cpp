#include "golden.hpp"

#include <gtest/gtest.h>

#include <unistd.h>

#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "gaze/observers/recorder.hpp"

namespace gaze::test {
namespace {

// prefix "" reads input_ids / attention_mask / tokens, "decoder_" the decoder's.
Tokens tokens_from_json(const nlohmann::json& j, const std::string& prefix = "") {
    Tokens t;
    const auto& ids = j.at(prefix + "input_ids");
    t.batch = static_cast<int64_t>(ids.size());
    t.length = static_cast<int64_t>(ids.at(0).size());
    for (const auto& row : ids)
        for (const auto& v : row) t.ids.push_back(v.get<int32_t>());
    if (j.contains(prefix + "attention_mask"))
        for (const auto& row : j[prefix + "attention_mask"])
            for (const auto& v : row) t.mask.push_back(static_cast<uint8_t>(v.get<int>()));
    if (j.contains(prefix + "token_type_ids"))
        for (const auto& row : j[prefix + "token_type_ids"])
            for (const auto& v : row) t.type_ids.push_back(v.get<int32_t>());
    if (j.contains(prefix + "tokens"))
        for (const auto& row : j[prefix + "tokens"])
            for (const auto& v : row) t.text.push_back(v.get<std::string>());
    return t;
}

}  // namespace

std::vector<GoldenCase> golden_cases(const std::string& model_dir) {
    namespace fs = std::filesystem;
    std::vector<GoldenCase> cases;
    for (const auto& entry : fs::directory_iterator(fs::path(model_dir) / "cases")) {
        if (entry.path().extension() != ".json") continue;
        GoldenCase c;
        c.name = entry.path().stem().string();
        c.json_path = entry.path().string();
        c.tensors_path = (entry.path().parent_path() / (c.name + ".safetensors")).string();
        std::ifstream in(c.json_path);
        const nlohmann::json json = nlohmann::json::parse(in);
        c.input = tokens_from_json(json);
        if (json.contains("decoder_input_ids")) c.target = tokens_from_json(json, "decoder_");
        cases.push_back(std::move(c));
    }
    std::sort(cases.begin(), cases.end(), [](const GoldenCase& a, const GoldenCase& b) { return a.name < b.name; });
    return cases;
}

double golden_tolerance(const std::string& name) {
    return name.find("attentions") != std::string::npos ? 1e-5 : 1e-4;
}

double masked_max_diff(const Tensor& expected, const Tensor& actual, const Tokens& query, const Tokens& key) {
    if (expected.shape() != actual.shape()) return INFINITY;
    double worst = 0;
    auto take = [&](float e, float a) {
        const double d = std::fabs(static_cast<double>(e) - a);
        worst = std::isnan(d) ? INFINITY : std::max(worst, d);
    };
    const int64_t batch = expected.dim(0);
    for (int64_t b = 0; b < batch; ++b) {
        if (expected.rank() == 2) {
            if (!query.valid(b, query.length - 1)) continue;
            for (int64_t v = 0; v < expected.dim(1); ++v) take(expected.at({b, v}), actual.at({b, v}));
        } else if (expected.rank() == 3) {
            for (int64_t s = 0; s < expected.dim(1); ++s) {
                if (!query.valid(b, s)) continue;
                for (int64_t x = 0; x < expected.dim(2); ++x) take(expected.at({b, s, x}), actual.at({b, s, x}));
            }
        } else if (expected.rank() == 4) {
            for (int64_t h = 0; h < expected.dim(1); ++h)
                for (int64_t i = 0; i < expected.dim(2); ++i) {
                    if (!query.valid(b, i)) continue;
                    for (int64_t j = 0; j < expected.dim(3); ++j) {
                        if (key.valid(b, j)) take(expected.at({b, h, i, j}), actual.at({b, h, i, j}));
                    }
                }
        }
    }
    return worst;
}

void expect_matches_golden(const GoldenCase& c, const std::map<std::string, Tensor>& actual, const Tokens& query,
                           const Tokens& key) {
    const SafetensorsFile golden = SafetensorsFile::open(c.tensors_path);
    for (const auto& entry : golden.entries()) {
        auto it = actual.find(entry.name);
        if (it == actual.end()) {
            ADD_FAILURE() << c.name << ": gaze did not produce '" << entry.name << "'";
            continue;
        }
        const Tensor expected = golden.load(entry);
        if (expected.shape() != it->second.shape()) {
            ADD_FAILURE() << c.name << ": '" << entry.name << "' shape " << it->second.shape().str() << ", golden "
                          << expected.shape().str();
            continue;
        }
        const double diff = masked_max_diff(expected, it->second, query, key);
        const double tol = golden_tolerance(entry.name);
        std::printf("    %-14s %-34s max |diff| = %.3g (tolerance %.0e)\n", c.name.c_str(), entry.name.c_str(), diff, tol);
        EXPECT_LE(diff, tol) << c.name << ": " << entry.name;
    }
}

std::map<std::string, Tensor> golden_forward(Model& model, const GoldenCase& c, ForwardResult* result) {
    AttentionRecorder recorder;
    AttentionObserver* observers[] = {&recorder};
    ForwardOptions options;
    options.output_hidden_states = true;
    options.observers = observers;
    const SafetensorsFile golden = SafetensorsFile::open(c.tensors_path);
    const bool full_logits = golden.find("logits") != nullptr;
    options.logits_last_only = !full_logits;
    ForwardResult out = model.forward(c.input, options);

    std::map<std::string, Tensor> actual;
    for (size_t i = 0; i < out.hidden_states.size(); ++i) actual["hidden_states." + std::to_string(i)] = out.hidden_states[i];
    for (const auto& r : recorder.records()) actual[recorder.tensor_name(r)] = r.probabilities;
    if (!out.logits.empty()) actual[full_logits ? "logits" : "logits_last"] = out.logits;
    if (!out.pooler_output.empty()) actual["pooler_output"] = out.pooler_output;
    if (result) *result = std::move(out);
    return actual;
}

}  // namespace gaze::test

namespace gaze::test {
namespace {

constexpr const char* kGenerated = "generated_ids";
bool is_generation_tensor(const std::string& name) { return name.rfind("generate_", 0) == 0; }

// The case's float tensors of one part (prompt pass or generation), written to `path`.
GoldenCase golden_subset(const GoldenCase& c, bool generation_part, const std::string& path) {
    const SafetensorsFile file = SafetensorsFile::open(c.tensors_path);
    std::vector<std::pair<std::string, Tensor>> kept;
    for (const auto& e : file.entries()) {
        if (dtype_is_float(e.dtype) && is_generation_tensor(e.name) == generation_part) kept.emplace_back(e.name, file.load(e));
    }
    write_safetensors(path, kept);
    GoldenCase subset = c;
    subset.tensors_path = path;
    return subset;
}

// The prompt tokens plus N-1 fed-back ids: the key side of the last step.
Tokens generated_context(const GoldenCase& c, const std::vector<int64_t>& ids, int64_t batch) {
    Tokens t = c.input;
    const int64_t steps = batch > 0 ? static_cast<int64_t>(ids.size()) / batch : 0;
    for (int64_t i = 0; i + 1 < steps; ++i) {
        std::vector<int32_t> column;
        for (int64_t b = 0; b < batch; ++b) column.push_back(static_cast<int32_t>(ids[static_cast<size_t>(b * steps + i)]));
        t.append(column);
    }
    return t;
}

}  // namespace

std::string golden_temp_path(const std::string& name) {
    return (std::filesystem::temp_directory_path() / ("gaze_" + std::to_string(::getpid()) + "_" + name)).string();
}

std::vector<int64_t> golden_generated_ids(const GoldenCase& c) {
    const SafetensorsFile file = SafetensorsFile::open(c.tensors_path);
    const TensorEntry* e = file.find(kGenerated);
    if (!e) return {};
    EXPECT_EQ(e->dtype, FileDType::I64);
    const auto bytes = file.bytes(*e);
    std::vector<int64_t> ids(bytes.size() / sizeof(int64_t));
    std::memcpy(ids.data(), bytes.data(), bytes.size());
    return ids;
}

void compare_prompt_pass(const GoldenCase& c, const std::map<std::string, Tensor>& actual) {
    const std::string path = golden_temp_path(c.name + "_prompt.safetensors");
    expect_matches_golden(golden_subset(c, false, path), actual, c.input, c.input);
    std::filesystem::remove(path);
}

void compare_generation(const GoldenCase& c, const std::vector<int64_t>& generated,
                        const std::map<std::string, Tensor>& actual) {
    const auto expected = golden_generated_ids(c);
    EXPECT_EQ(generated, expected) << c.name << ": generated_ids";
    std::printf("    %-14s %-34s %s\n", c.name.c_str(), kGenerated, generated == expected ? "equal" : "DIFFERENT");
    const Tokens context = generated_context(c, expected, c.input.batch);
    // The last step has one query row per sequence, always a real token (its keys
    // are the context, padding included).
    Tokens last_row;
    last_row.batch = c.input.batch;
    last_row.length = 1;
    last_row.ids.assign(static_cast<size_t>(last_row.batch), 0);
    last_row.mask.assign(static_cast<size_t>(last_row.batch), 1);
    const std::string path = golden_temp_path(c.name + "_gen.safetensors");
    expect_matches_golden(golden_subset(c, true, path), actual, last_row, context);
    std::filesystem::remove(path);
}

std::map<std::string, Tensor> read_dump(const std::string& path) {
    const SafetensorsFile f = SafetensorsFile::open(path);
    std::map<std::string, Tensor> m;
    for (const auto& e : f.entries()) m[e.name] = f.load(e).clone();
    return m;
}

}  // namespace gaze::test
