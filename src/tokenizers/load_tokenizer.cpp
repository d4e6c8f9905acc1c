// load_tokenizer(): picks the tokenizer family from the files in a model
// folder, one branch per family (tokenizer.json first, then WordPiece: vocab.txt).
#include <filesystem>
#include <fstream>
#include <memory>
#include <string>

#include <nlohmann/json.hpp>

#include "gaze/error.hpp"
#include "gaze/tokenizer.hpp"
#include "gaze/tokenizers/bpe.hpp"
#include "gaze/tokenizers/llama_sentencepiece.hpp"
#include "gaze/tokenizers/sentencepiece.hpp"
#include "gaze/tokenizers/tokenizer_json.hpp"
#include "gaze/tokenizers/vocabulary.hpp"
#include "gaze/tokenizers/wordpiece.hpp"

namespace gaze {
namespace {

namespace fs = std::filesystem;

bool has_file(const fs::path& dir, const char* name) {
    std::error_code ec;
    return fs::is_regular_file(dir / name, ec);
}

// tokenizer_config.json as a JSON object; an empty object when the file is absent.
nlohmann::json read_tokenizer_config(const fs::path& dir) {
    const fs::path path = dir / "tokenizer_config.json";
    if (!has_file(dir, "tokenizer_config.json")) return nlohmann::json::object();
    std::ifstream in(path);
    if (!in) throw Error(path.string() + ": cannot open file");
    nlohmann::json config;
    try {
        config = nlohmann::json::parse(in);
    } catch (const nlohmann::json::exception& e) {
        throw Error(path.string() + ": invalid JSON (" + e.what() + ")");
    }
    if (!config.is_object()) throw Error(path.string() + ": expected a JSON object");
    return config;
}

// A boolean setting; `fallback` when the key is absent (or null).
bool config_bool(const nlohmann::json& config, const fs::path& path, const char* key, bool fallback) {
    const auto it = config.find(key);
    if (it == config.end() || it->is_null()) return fallback;
    if (!it->is_boolean()) throw Error(path.string() + ": \"" + key + "\" must be true, false or null");
    return it->get<bool>();
}

std::unique_ptr<Tokenizer> load_wordpiece(const fs::path& dir) {
    const nlohmann::json config = read_tokenizer_config(dir);
    const fs::path config_path = dir / "tokenizer_config.json";
    WordPieceOptions options;
    options.lower_case = config_bool(config, config_path, "do_lower_case", true);
    options.tokenize_chinese_chars = config_bool(config, config_path, "tokenize_chinese_chars", true);
    // null or absent: strip accents follows do_lower_case, as in HF.
    const auto strip = config.find("strip_accents");
    if (strip != config.end() && !strip->is_null())
        options.strip_accents = config_bool(config, config_path, "strip_accents", false);
    return std::make_unique<WordPieceTokenizer>((dir / "vocab.txt").string(), options);
}

}  // namespace

std::unique_ptr<Tokenizer> load_tokenizer(const std::string& dir) {
    const fs::path root(dir);
    // tokenizer.json first, as transformers' AutoTokenizer does (the fast tokenizer).
    if (has_file(root, "tokenizer.json")) return JsonTokenizer::open(dir);
    if (has_file(root, "vocab.txt")) return load_wordpiece(root);
    if (has_file(root, "vocab.json") && has_file(root, "merges.txt")) {
        // Qwen's byte-level BPE differs from GPT-2's in its split regex, NFC and added tokens.
        const nlohmann::json config = read_tokenizer_config(root);
        if (config.value("tokenizer_class", nlohmann::json()) == "Qwen2Tokenizer") return JsonTokenizer::open_qwen2_vocab(dir);
        return std::make_unique<BpeTokenizer>((root / "vocab.json").string(), (root / "merges.txt").string());
    }
    if (has_file(root, "spiece.model")) return SentencePieceTokenizer::open(dir);
    if (has_file(root, "tokenizer.model")) return LlamaTokenizer::open(dir);  // Llama, Mistral (SentencePiece)
    if (has_file(root, "source_vocabulary.txt")) return VocabularyTokenizer::open_source(dir);  // the source side
    throw Error(dir + ": no tokenizer files found (expected tokenizer.json, vocab.txt, vocab.json + merges.txt, "
                      "spiece.model, tokenizer.model or source_vocabulary.txt)");
}

}  // namespace gaze
