#pragma once
// Shared helpers for the test suite: where the fixtures live, how to skip
// (or fail, under CI) when one is missing, and tensor comparison.
#include <gtest/gtest.h>

#include <random>
#include <string>

#include "gaze/tensor.hpp"
#include "gaze/tokenizer.hpp"

namespace gaze::test {

// ../shared beside the project root, or $GAZE_SHARED_DIR.
std::string shared_dir();
// Path of a fixture under shared_dir(); empty when it is missing.
std::string fixture(const std::string& relative);
bool running_in_ci();

// Maximum absolute difference between two tensors of the same shape.
double max_abs_diff(const Tensor& a, const Tensor& b);

Tensor random_tensor(const Shape& shape, std::mt19937& rng, float lo = -1.0f, float hi = 1.0f);

// The gaze CLI binary built with the tests, and a string quoted for /bin/sh.
std::string cli_path();
std::string shell_quote(const std::string& s);

// Runs a command, returning its exit status and capturing stdout+stderr.
int run_command(const std::string& command, std::string* output);

// Checks every row of a golden tokenizer file (../shared/golden/tokenizers/*.jsonl:
// {"text", "ids", "tokens", "decoded"}) against `tokenizer`: encode and decode.
void expect_tokenizer_matches_jsonl(const std::string& jsonl, const Tokenizer& tokenizer);

}  // namespace gaze::test

// Skips the test (or fails it under CI=true) when the fixture is absent.
#define GAZE_REQUIRE_FIXTURE(var, relative)                                                      \
    const std::string var = ::gaze::test::fixture(relative);                                     \
    if (var.empty()) {                                                                           \
        if (::gaze::test::running_in_ci()) FAIL() << "missing fixture " << (relative) << " under " \
                                                 << ::gaze::test::shared_dir();                    \
        GTEST_SKIP() << "fixture " << (relative) << " not found under " << ::gaze::test::shared_dir(); \
    }
