#pragma once
// Shared pieces of the `gaze` CLI. Each subcommand lives in its own
// cmd_<name>.cpp and registers itself with a static RegisterCommand.
#include <CLI/CLI.hpp>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "gaze/gaze.hpp"

namespace gaze::cli {

// setup() declares the subcommand's options on `app` and returns the function
// that runs it (returning the exit status) once the command line is parsed.
struct Command {
    std::string name;
    std::string description;
    std::function<std::function<int()>(CLI::App& app)> setup;
};

void register_command(Command command);
const std::vector<Command>& commands();

struct RegisterCommand {
    explicit RegisterCommand(Command command) { register_command(std::move(command)); }
};

// --text T (repeatable: a batch) | --text-file F (the file's bytes, exactly, as one text).
struct TextInput {
    std::vector<std::string> texts;
    std::string text_file;
    void add_options(CLI::App& app);
    std::vector<std::string> read() const;  // throws gaze::Error when neither is given
};

// Options every command takes (declared on the top-level app, accepted after
// the subcommand too): --dtype, --threads, --device, --allow-swap.
struct EngineOptions {
    std::string dtype = "f32";
    std::string device = "cpu";
    int threads = 0;  // 0: GAZE_THREADS, else the CPUs this process may use
    bool allow_swap = false;
};
EngineOptions& engine_options();
void add_engine_options(CLI::App& app);
// Applies --threads (before any model runs).
void apply_engine_options();
// What load_model gets from the options above.
LoadOptions load_options();

// A model with its tokenizer. `dir` may be "auto": the golden BERT from
// ../shared when present, else a randomly initialised BERT built in memory.
struct LoadedModel {
    std::unique_ptr<Model> model;
    std::unique_ptr<Tokenizer> tokenizer;
    std::string description;  // which model was used, for the user
};
LoadedModel open_model(const std::string& dir, const std::vector<std::string>& texts_for_random_vocab = {});

// Tokenizes texts (and an optional pair segment) into a padded batch.
Tokens tokenize_batch(const Tokenizer& tokenizer, const std::vector<std::string>& texts, const std::string& pair);

// The shared fixtures folder: $GAZE_SHARED_DIR, else ../shared of the source tree.
std::string shared_dir();

// Formatting helpers for terminal output.
std::string shape_string(const Tensor& t);
using gaze::printable_token;  // control bytes escaped (gaze/tokens.hpp)

}  // namespace gaze::cli
