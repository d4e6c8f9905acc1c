// The gaze CLI end to end: `gaze run --dump` reproduces the golden tensors,
// `gaze tokenize --json` the reference tokenizations, and every bad input
// ends with a non-zero status and one clear line.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <unistd.h>

#include "gaze/gaze.hpp"
#include "golden.hpp"
#include "test_support.hpp"

namespace gaze::test {
namespace {

namespace fs = std::filesystem;

fs::path scratch_dir() {
    const fs::path dir = fs::temp_directory_path() / ("gaze_cli_test_" + std::to_string(::getpid()));
    fs::create_directories(dir);
    return dir;
}

// The CLI arguments that reproduce a golden case's input.
std::string text_arguments(const GoldenCase& c) {
    std::ifstream in(c.json_path);
    const auto j = nlohmann::json::parse(in);
    std::string args;
    if (j.contains("texts")) {
        for (const auto& t : j["texts"]) args += " --text " + shell_quote(t.get<std::string>());
    } else {
        args += " --text " + shell_quote(j["text"].get<std::string>());
    }
    if (j.contains("text_pair")) args += " --pair " + shell_quote(j["text_pair"].get<std::string>());
    return args;
}

void check_cli_dumps(const std::string& model_dir) {
    const fs::path dir = scratch_dir();
    for (const auto& c : golden_cases(model_dir)) {
        const std::string dump = (dir / (c.name + ".safetensors")).string();
        std::string out;
        const int rc = run_command(cli_path() + " run --model " + shell_quote(model_dir) + text_arguments(c) +
                                       " --dump " + shell_quote(dump),
                                   &out);
        ASSERT_EQ(rc, 0) << out;
        EXPECT_NE(out.find("time:"), std::string::npos) << out;
        const SafetensorsFile file = SafetensorsFile::open(dump);
        std::map<std::string, Tensor> actual;
        for (const auto& e : file.entries()) actual[e.name] = file.load(e);
        expect_matches_golden(c, actual, c.input, c.input);
    }
    fs::remove_all(dir);
}

TEST(Cli, RunDumpMatchesGoldenBert) {
    GAZE_REQUIRE_FIXTURE(dir, "golden/bert-tiny");
    check_cli_dumps(dir);
}

TEST(Cli, RunDumpMatchesGoldenDistilBert) {
    GAZE_REQUIRE_FIXTURE(dir, "golden/distilbert-tiny");
    check_cli_dumps(dir);
}

TEST(Cli, TokenizeJsonMatchesReference) {
    GAZE_REQUIRE_FIXTURE(dir, "golden/bert-tiny");
    GAZE_REQUIRE_FIXTURE(jsonl, "golden/tokenizers/bert-uncased.jsonl");
    const fs::path scratch = scratch_dir();
    std::ifstream in(jsonl);
    std::string line;
    int checked = 0;
    while (std::getline(in, line)) {
        const auto expected = nlohmann::json::parse(line);
        // --text-file passes the text's bytes exactly (leading spaces, empty text).
        const fs::path file = scratch / "input.txt";
        std::ofstream(file, std::ios::binary) << expected["text"].get<std::string>();
        std::string out;
        ASSERT_EQ(run_command(cli_path() + " tokenize --json --model " + shell_quote(dir) + " --text-file " +
                                  shell_quote(file.string()),
                              &out),
                  0)
            << out;
        const auto actual = nlohmann::json::parse(out);
        EXPECT_EQ(actual["ids"], expected["ids"]) << expected["text"];
        EXPECT_EQ(actual["tokens"], expected["tokens"]) << expected["text"];
        ++checked;
    }
    EXPECT_GE(checked, 10);
    fs::remove_all(scratch);
}

TEST(Cli, TopListsEveryToken) {
    GAZE_REQUIRE_FIXTURE(dir, "golden/bert-tiny");
    std::string out;
    ASSERT_EQ(run_command(cli_path() + " top --model " + shell_quote(dir) + " --text 'The cat sat.' --layer 0 --head 2", &out), 0)
        << out;
    for (const char* token : {"[CLS]", "the", "cat", "sat", ".", "[SEP]"}) EXPECT_NE(out.find(token), std::string::npos) << out;
    EXPECT_NE(out.find("attends most to"), std::string::npos);
}

TEST(Cli, InspectShowsFamilyAndParameters) {
    GAZE_REQUIRE_FIXTURE(dir, "golden/bert-tiny");
    std::string out;
    ASSERT_EQ(run_command(cli_path() + " inspect --model " + shell_quote(dir), &out), 0) << out;
    EXPECT_NE(out.find("family:         bert"), std::string::npos) << out;
    EXPECT_NE(out.find("bert.encoder.layer.1.output.dense.weight"), std::string::npos);
}

TEST(Cli, RandomModelWhenNoFixtures) {
    // With GAZE_SHARED_DIR pointing nowhere, --model auto builds a random BERT and says so.
    std::string out;
    ASSERT_EQ(run_command("GAZE_SHARED_DIR=/nonexistent " + cli_path() + " top --text 'Hello there, world.'", &out), 0)
        << out;
    EXPECT_NE(out.find("randomly initialised BERT"), std::string::npos) << out;
    EXPECT_NE(out.find("world"), std::string::npos) << out;
}

// Each bad input: non-zero status, one line of output naming the culprit.
void expect_one_line_error(const std::string& args, const std::string& must_mention) {
    std::string out;
    const int rc = run_command(cli_path() + args, &out);
    EXPECT_NE(rc, 0) << args;
    while (!out.empty() && out.back() == '\n') out.pop_back();
    EXPECT_EQ(out.find('\n'), std::string::npos) << "more than one line for" << args << ":\n" << out;
    EXPECT_NE(out.find(must_mention), std::string::npos) << args << ": " << out;
}

TEST(Cli, BadInputGivesOneClearLine) {
    GAZE_REQUIRE_FIXTURE(dir, "golden/bert-tiny");
    const fs::path scratch = scratch_dir();
    const std::string model = " --model " + shell_quote(dir);
    std::ofstream(scratch / "bad.txt", std::ios::binary) << "caf\xc3";  // truncated UTF-8
    std::string long_text;
    for (int i = 0; i < 600; ++i) long_text += "word ";
    std::ofstream(scratch / "long.txt") << long_text;

    expect_one_line_error(" run --bogus-flag" + model + " --text hi", "--bogus-flag");
    expect_one_line_error(" run --model /nonexistent/model --text hi", "/nonexistent/model");
    expect_one_line_error(" run" + model + " --text-file " + shell_quote((scratch / "bad.txt").string()), "UTF-8");
    expect_one_line_error(" run" + model + " --text-file " + shell_quote((scratch / "long.txt").string()), "512");
    expect_one_line_error(" top" + model + " --text hi --layer 7", "--layer");
    expect_one_line_error(" top" + model + " --text hi --head 9", "--head");
    expect_one_line_error(" tokenize --model /nonexistent --text hi", "/nonexistent");
    expect_one_line_error(" run" + model, "--text");
    fs::remove_all(scratch);
}

}  // namespace
}  // namespace gaze::test
