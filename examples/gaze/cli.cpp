#include "cli.hpp"

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <set>
#include <sstream>

#include "gaze/tokenizers/wordpiece.hpp"

namespace gaze::cli {
namespace {

std::vector<Command>& command_table() {
    static std::vector<Command> table;
    return table;
}

// A vocabulary for the random model: the special tokens, then each lower-cased
// word and punctuation mark of the texts, so every token of them is known.
std::vector<std::string> vocabulary_from_texts(const std::vector<std::string>& texts) {
    std::vector<std::string> vocab = {"[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"};
    const std::set<std::string> specials(vocab.begin(), vocab.end());
    std::set<std::string> seen;
    WordPieceTokenizer bootstrap(vocab);  // splits words and punctuation like BERT does
    for (const auto& text : texts) {
        for (const auto& word : bootstrap.basic_tokenize(text)) {
            if (!specials.count(word) && seen.insert(word).second) vocab.push_back(word);
        }
    }
    return vocab;
}

}  // namespace

void register_command(Command command) { command_table().push_back(std::move(command)); }

EngineOptions& engine_options() {
    static EngineOptions options;
    return options;
}

void add_engine_options(CLI::App& app) {
    EngineOptions& o = engine_options();
    app.add_option("--dtype", o.dtype, "Weights of the linear layers: f32 (exact), bf16 or int8 (activations stay f32)")
        ->check(CLI::IsMember({"f32", "bf16", "int8"}))
        ->capture_default_str();
    app.add_option("--device", o.device, "cpu, or cuda (not yet for whole models)")
        ->check(CLI::IsMember({"cpu", "cuda"}))
        ->capture_default_str();
    app.add_option("--threads", o.threads, "Threads (default: $GAZE_THREADS, else the CPUs this process may use)")
        ->check(CLI::Range(1, 4096));
    app.add_flag("--allow-swap", o.allow_swap, "Load a model even when its weights exceed the available memory");
}

void apply_engine_options() {
    const EngineOptions& o = engine_options();
    const char* env = std::getenv("GAZE_THREADS");
    const char* omp_env = std::getenv("OMP_NUM_THREADS");
    if (o.threads > 0) {
        set_thread_count(o.threads);
    } else if ((env && *env) || (omp_env && *omp_env)) {
        set_thread_count(default_thread_count());  // validates it: a bad value is an error naming GAZE_THREADS
    } else {
        (void)default_thread_count();
        set_automatic_threads();
    }
}

LoadOptions load_options() {
    const EngineOptions& o = engine_options();
    LoadOptions options;
    options.dtype = parse_compute_dtype(o.dtype, "--dtype");
    options.device = o.device == "cuda" ? Device::cuda : Device::cpu;
    options.allow_swap = o.allow_swap;
    return options;
}
const std::vector<Command>& commands() { return command_table(); }

void TextInput::add_options(CLI::App& app) {
    auto* text = app.add_option("--text", texts, "Input text (repeat for a batch)");
    auto* file = app.add_option("--text-file", text_file, "Read the input text from a file (its bytes, exactly)")
                     ->check(CLI::ExistingFile);
    text->excludes(file);
}

std::vector<std::string> TextInput::read() const {
    if (!text_file.empty()) {
        std::ifstream in(text_file, std::ios::binary);
        if (!in) throw Error("--text-file: cannot read " + text_file);
        std::stringstream buffer;
        buffer << in.rdbuf();
        return {buffer.str()};
    }
    if (texts.empty()) throw Error("no input: give --text or --text-file");
    return texts;
}

std::string shared_dir() {
    if (const char* env = std::getenv("GAZE_SHARED_DIR"); env && *env) return env;
    return GAZE_DEFAULT_SHARED_DIR;
}

LoadedModel open_model(const std::string& dir, const std::vector<std::string>& texts_for_random_vocab) {
    namespace fs = std::filesystem;
    LoadedModel m;
    if (dir != "auto") {
        m.model = load_model(dir, load_options());
        m.tokenizer = load_tokenizer(dir);
        m.description = dir + " (" + m.model->info().family + ")";
        return m;
    }
    const fs::path golden = fs::path(shared_dir()) / "golden" / "bert-tiny";
    if (fs::exists(golden / "config.json")) {
        m.model = load_model(golden.string(), load_options());
        m.tokenizer = load_tokenizer(golden.string());
        m.description = golden.lexically_normal().string() +
                        " (the golden BERT from ../shared: random weights, real bert-base-uncased vocabulary)";
        return m;
    }
    const auto vocab = vocabulary_from_texts(texts_for_random_vocab);
    BertShape shape{2, 64, 4, 128, static_cast<int64_t>(vocab.size()), 512, 2};
    m.model = make_model(bert_config(shape), random_bert_weights(shape, 0));
    m.tokenizer = std::make_unique<WordPieceTokenizer>(vocab);
    m.description = "a randomly initialised BERT built in memory (2 layers, 4 heads, seed 0; " + golden.string() +
                    " not found), with a vocabulary made from the input's words";
    return m;
}

Tokens tokenize_batch(const Tokenizer& tokenizer, const std::vector<std::string>& texts, const std::string& pair) {
    std::vector<Encoding> encodings;
    for (const auto& t : texts) {
        encodings.push_back(pair.empty() ? tokenizer.encode(t) : tokenizer.encode_pair(t, pair));
    }
    return Tokens::from_encodings(encodings, tokenizer.pad_id(), tokenizer.pad_token());
}

std::string shape_string(const Tensor& t) { return t.shape().str(); }

}  // namespace gaze::cli
