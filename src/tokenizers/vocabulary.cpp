// Whitespace vocabulary tokenizer (OpenNMT / CTranslate2 vocabulary files).
#include "gaze/tokenizers/vocabulary.hpp"

#include <algorithm>
#include <filesystem>
#include <fstream>

#include "gaze/config.hpp"
#include "utf8_check.hpp"

namespace gaze {
namespace {

namespace fs = std::filesystem;

std::vector<std::string> read_lines(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    if (!in) throw Error(path + ": cannot open vocabulary file");
    std::vector<std::string> lines;
    std::string line;
    while (std::getline(in, line)) {
        if (!line.empty() && line.back() == '\r') line.pop_back();
        lines.push_back(line);
    }
    return lines;
}

bool is_space(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f'; }

}  // namespace

VocabularyTokenizer::VocabularyTokenizer(const std::string& path, VocabularyOptions options)
    : VocabularyTokenizer(read_lines(path), options, path) {}

VocabularyTokenizer::VocabularyTokenizer(std::vector<std::string> tokens, VocabularyOptions options, std::string source)
    : tokens_(std::move(tokens)), options_(options), source_(std::move(source)) {
    if (tokens_.empty()) throw Error(source_ + ": empty vocabulary");
    unk_listed_ = std::find(tokens_.begin(), tokens_.end(), "<unk>") != tokens_.end();
    const auto lines = static_cast<int64_t>(tokens_.size());
    if (options_.model_vocab_size == lines + 1 && !unk_listed_) {
        tokens_.emplace_back("<unk>");  // OpenNMT-tf's out-of-vocabulary id
    } else if (options_.model_vocab_size > 0 && options_.model_vocab_size != lines) {
        throw Error(source_ + ": " + std::to_string(lines) + " tokens, but the model's vocabulary has " +
                    std::to_string(options_.model_vocab_size));
    }
    for (size_t i = 0; i < tokens_.size(); ++i) {
        detail::require_utf8(tokens_[i], source_ + " line " + std::to_string(i + 1));
        ids_.emplace(tokens_[i], static_cast<int32_t>(i));  // the first of duplicates wins
    }
    const auto find = [&](std::initializer_list<const char*> names) {
        for (const char* n : names) {
            if (auto id = token_to_id(n)) return *id;
        }
        return -1;
    };
    pad_id_ = std::max(find({"<blank>", "<pad>"}), 0);
    bos_id_ = find({"<s>"});
    eos_id_ = find({"</s>"});
    unk_id_ = find({"<unk>"});
    if (options_.append_eos && eos_id_ < 0) throw Error(source_ + ": no </s> in the vocabulary to append");
}

namespace {

// One side of a folder; config.json (when present) gives the model's size.
std::unique_ptr<VocabularyTokenizer> open_side(const std::string& dir, const char* file, const char* size_key,
                                               VocabularyOptions options) {
    const fs::path config_path = fs::path(dir) / "config.json";
    if (fs::exists(config_path)) {
        const Config config = Config::load(config_path.string());
        options.model_vocab_size = config.get_int(size_key, 0);
        if (std::string_view(file) == "source_vocabulary.txt") {
            options.append_eos = config.get_bool("append_source_eos", options.append_eos);
        }
    }
    return std::make_unique<VocabularyTokenizer>((fs::path(dir) / file).string(), options);
}

}  // namespace

std::unique_ptr<VocabularyTokenizer> VocabularyTokenizer::open_source(const std::string& dir) {
    return open_side(dir, "source_vocabulary.txt", "source_vocab_size", {});
}

std::unique_ptr<VocabularyTokenizer> VocabularyTokenizer::open_target(const std::string& dir) {
    return open_side(dir, "target_vocabulary.txt", "target_vocab_size", {.append_eos = true});
}

Encoding VocabularyTokenizer::encode(std::string_view text, bool add_special_tokens) const {
    detail::require_utf8(text, "input text");
    Encoding out;
    size_t pos = 0;
    while (pos < text.size()) {
        if (is_space(text[pos])) {
            ++pos;
            continue;
        }
        size_t end = pos;
        while (end < text.size() && !is_space(text[end])) ++end;
        const std::string_view token = text.substr(pos, end - pos);
        std::optional<int32_t> id = token_to_id(token);
        if (!id && !unk_listed_) {
            throw Error("unknown token '" + std::string(token) + "' (token " + std::to_string(out.ids.size()) +
                        ", byte offset " + std::to_string(pos) + ") is not in " + source_ +
                        " (tokens are separated by spaces)");
        }
        out.ids.push_back(id.value_or(unk_id_));
        out.tokens.emplace_back(id ? std::string(token) : "<unk>");
        out.special.push_back(0);
        pos = end;
    }
    if (add_special_tokens && options_.append_eos) {
        out.ids.push_back(eos_id_);
        out.tokens.push_back(tokens_[static_cast<size_t>(eos_id_)]);
        out.special.push_back(1);
    }
    return out;
}

Encoding VocabularyTokenizer::encode_pair(std::string_view, std::string_view, bool) const {
    throw Error(source_ + ": a vocabulary tokenizer encodes single texts, not pairs");
}

bool VocabularyTokenizer::is_special_id(int32_t id) const {
    return id == pad_id_ || id == bos_id_ || id == eos_id_;
}

std::string VocabularyTokenizer::decode(const std::vector<int32_t>& ids, bool skip_special_tokens) const {
    std::string out;
    for (int32_t id : ids) {
        if (skip_special_tokens && is_special_id(id)) continue;
        if (!out.empty()) out += ' ';
        out += id_to_token(id);
    }
    return out;
}

std::string VocabularyTokenizer::id_to_token(int32_t id) const {
    if (id < 0 || id >= vocab_size()) {
        throw Error("token id " + std::to_string(id) + " is outside " + source_ + " (" + std::to_string(vocab_size()) +
                    " entries)");
    }
    return tokens_[static_cast<size_t>(id)];
}

std::optional<int32_t> VocabularyTokenizer::token_to_id(std::string_view token) const {
    const auto it = ids_.find(std::string(token));
    if (it == ids_.end()) return std::nullopt;
    return it->second;
}

}  // namespace gaze
