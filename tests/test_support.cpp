#include "test_support.hpp"

#include <array>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <fstream>

namespace gaze::test {

std::string shared_dir() {
    if (const char* env = std::getenv("GAZE_SHARED_DIR"); env && *env) return env;
    return (std::filesystem::path(GAZE_SOURCE_DIR) / ".." / "shared").lexically_normal().string();
}

std::string fixture(const std::string& relative) {
    const auto path = std::filesystem::path(shared_dir()) / relative;
    return std::filesystem::exists(path) ? path.string() : std::string();
}

bool running_in_ci() {
    const char* ci = std::getenv("CI");
    return ci && std::string(ci) == "true";
}

double max_abs_diff(const Tensor& a, const Tensor& b) {
    if (a.shape() != b.shape()) return INFINITY;
    const auto va = a.to_vector(), vb = b.to_vector();
    double m = 0;
    for (size_t i = 0; i < va.size(); ++i) {
        const double d = std::fabs(static_cast<double>(va[i]) - vb[i]);
        if (std::isnan(d)) return NAN;
        m = std::max(m, d);
    }
    return m;
}

Tensor random_tensor(const Shape& shape, std::mt19937& rng, float lo, float hi) {
    Tensor t(shape);
    std::uniform_real_distribution<float> dist(lo, hi);
    for (int64_t i = 0; i < t.numel(); ++i) t.data()[i] = dist(rng);
    return t;
}

std::string cli_path() { return GAZE_CLI_PATH; }

std::string shell_quote(const std::string& s) {
    std::string out = "'";
    for (char c : s) out += c == '\'' ? std::string("'\\''") : std::string(1, c);
    return out + "'";
}

int run_command(const std::string& command, std::string* output) {
    FILE* pipe = popen((command + " 2>&1").c_str(), "r");
    if (!pipe) return -1;
    std::array<char, 4096> buffer{};
    std::string out;
    size_t n;
    while ((n = fread(buffer.data(), 1, buffer.size(), pipe)) > 0) out.append(buffer.data(), n);
    const int status = pclose(pipe);
    if (output) *output = out;
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

void expect_tokenizer_matches_jsonl(const std::string& jsonl, const Tokenizer& tokenizer) {
    std::ifstream in(jsonl);
    ASSERT_TRUE(in) << jsonl;
    std::string line;
    int checked = 0;
    while (std::getline(in, line)) {
        if (line.empty()) continue;
        const auto row = nlohmann::json::parse(line);
        const std::string text = row.at("text");
        SCOPED_TRACE("text: \"" + text + "\"");
        const Encoding enc = tokenizer.encode(text);
        EXPECT_EQ(enc.ids, row.at("ids").get<std::vector<int32_t>>());
        EXPECT_EQ(enc.tokens, row.at("tokens").get<std::vector<std::string>>());
        EXPECT_EQ(tokenizer.decode(enc.ids), row.at("decoded").get<std::string>());
        ++checked;
    }
    EXPECT_GT(checked, 0) << jsonl << " has no rows";
}

}  // namespace gaze::test
