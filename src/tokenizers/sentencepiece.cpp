// SentencePiece tokenizer for T5, matching Hugging Face's slow T5Tokenizer.
#include "gaze/tokenizers/sentencepiece.hpp"

#include <sentencepiece_processor.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "utf8_check.hpp"

namespace gaze {
namespace {

namespace fs = std::filesystem;

bool is_space(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f'; }

std::string_view strip_left(std::string_view s) {
    while (!s.empty() && is_space(s.front())) s.remove_prefix(1);
    return s;
}
std::string_view strip_right(std::string_view s) {
    while (!s.empty() && is_space(s.back())) s.remove_suffix(1);
    return s;
}

void replace_all(std::string& s, std::string_view from, std::string_view to) {
    for (size_t at = s.find(from); at != std::string::npos; at = s.find(from, at + to.size())) {
        s.replace(at, from.size(), to);
    }
}

// HF's clean_up_tokenization (on by default in transformers 4.31): no space
// before punctuation and English contractions.
std::string clean_up_tokenization(std::string s) {
    for (const auto& [from, to] : {std::pair{" .", "."}, {" ?", "?"}, {" !", "!"}, {" ,", ","}, {" ' ", "'"},
                                   {" n't", "n't"}, {" 'm", "'m"}, {" 's", "'s"}, {" 've", "'ve"}, {" 're", "'re"}}) {
        replace_all(s, from, to);
    }
    return s;
}

}  // namespace

SentencePieceTokenizer::SentencePieceTokenizer(const std::string& model_path, int extra_ids)
    : sp_(std::make_unique<sentencepiece::SentencePieceProcessor>()), path_(model_path), extra_ids_(extra_ids) {
    if (!fs::is_regular_file(model_path)) throw Error(model_path + ": SentencePiece model not found");
    const auto status = sp_->Load(model_path);
    if (!status.ok()) throw Error(model_path + ": cannot load SentencePiece model (" + status.ToString() + ")");
    if (extra_ids < 0) throw Error(model_path + ": negative extra_ids");
    pieces_ = sp_->GetPieceSize();
    pad_id_ = std::max(sp_->pad_id(), 0);
    eos_id_ = sp_->eos_id();
    unk_id_ = sp_->unk_id();
    if (eos_id_ < 0) throw Error(model_path + ": the SentencePiece model has no </s>");
}

SentencePieceTokenizer::~SentencePieceTokenizer() = default;

std::unique_ptr<SentencePieceTokenizer> SentencePieceTokenizer::open(const std::string& dir) {
    int extra_ids = 100;
    const fs::path config_path = fs::path(dir) / "tokenizer_config.json";
    if (fs::exists(config_path)) {
        std::ifstream in(config_path);
        const auto config = nlohmann::json::parse(in, nullptr, /*allow_exceptions=*/false);
        if (config.is_discarded() || !config.is_object()) throw Error(config_path.string() + ": invalid JSON object");
        if (config.contains("extra_ids")) {
            if (!config["extra_ids"].is_number_integer()) throw Error(config_path.string() + ": extra_ids must be an integer");
            extra_ids = config["extra_ids"].get<int>();
        }
    }
    return std::make_unique<SentencePieceTokenizer>((fs::path(dir) / "spiece.model").string(), extra_ids);
}

std::optional<std::pair<int32_t, size_t>> SentencePieceTokenizer::special_at(std::string_view text, size_t pos) const {
    const std::string_view rest = text.substr(pos);
    if (rest.empty() || rest[0] != '<') return std::nullopt;
    for (int32_t id : {eos_id_, pad_id_, unk_id_}) {
        const std::string& piece = sp_->IdToPiece(id);
        if (id >= 0 && rest.substr(0, piece.size()) == piece) return std::pair{id, piece.size()};
    }
    constexpr std::string_view kSentinel = "<extra_id_";
    if (rest.substr(0, kSentinel.size()) != kSentinel) return std::nullopt;
    size_t end = kSentinel.size();
    int64_t n = 0;
    while (end < rest.size() && end < kSentinel.size() + 9 && rest[end] >= '0' && rest[end] <= '9') {
        n = n * 10 + (rest[end++] - '0');
    }
    if (end == kSentinel.size() || end >= rest.size() || rest[end] != '>' || n >= extra_ids_) return std::nullopt;
    return std::pair{static_cast<int32_t>(vocab_size() - 1 - n), end + 1};
}

void SentencePieceTokenizer::push(Encoding& out, int32_t id) const {
    out.ids.push_back(id);
    out.tokens.push_back(id_to_token(id));
    out.special.push_back(is_special_id(id) && id != unk_id_ ? 1 : 0);
}

void SentencePieceTokenizer::encode_piece(std::string_view text, Encoding& out) const {
    if (text.empty()) return;
    std::vector<int> ids;
    const auto status = sp_->Encode(std::string(text), &ids);
    if (!status.ok()) throw Error(path_ + ": SentencePiece could not encode the text (" + status.ToString() + ")");
    for (int id : ids) push(out, id);
}

Encoding SentencePieceTokenizer::encode(std::string_view text, bool add_special_tokens) const {
    detail::require_utf8(text, "input text");
    Encoding out;
    // Special tokens written in the text stay whole; the spaces around them go.
    size_t start = 0;
    bool after_special = false;
    for (size_t pos = 0; pos < text.size();) {
        const auto special = special_at(text, pos);
        if (!special) {
            ++pos;
            continue;
        }
        std::string_view before = strip_right(text.substr(start, pos - start));
        encode_piece(after_special ? strip_left(before) : before, out);
        push(out, special->first);
        pos += special->second;
        start = pos;
        after_special = true;
    }
    const std::string_view tail = text.substr(start);
    encode_piece(after_special ? strip_left(tail) : tail, out);
    if (add_special_tokens && (out.ids.empty() || out.ids.back() != eos_id_)) push(out, eos_id_);
    return out;
}

Encoding SentencePieceTokenizer::encode_pair(std::string_view first, std::string_view second,
                                             bool add_special_tokens) const {
    Encoding a = encode(first, add_special_tokens);
    a.append(encode(second, add_special_tokens));
    return a;
}

bool SentencePieceTokenizer::is_special_id(int32_t id) const {
    return id == pad_id_ || id == eos_id_ || id == unk_id_ || id >= pieces_;
}

std::string SentencePieceTokenizer::decode(const std::vector<int32_t>& ids, bool skip_special_tokens) const {
    // Runs of ordinary pieces are joined by SentencePiece (which turns "▁"
    // into spaces); special tokens are written as they are, a space before
    // the first of a run, as T5Tokenizer.convert_tokens_to_string does.
    std::string out;
    std::vector<int> run;
    bool previous_special = false;
    for (int32_t id : ids) {
        const std::string token = id_to_token(id);  // validates the id
        if (!is_special_id(id)) {
            run.push_back(id);
            previous_special = false;
            continue;
        }
        if (skip_special_tokens) continue;
        if (!previous_special) out += ' ';
        out += sp_->DecodeIds(run) + token;
        run.clear();
        previous_special = true;
    }
    out += sp_->DecodeIds(run);
    return clean_up_tokenization(std::string(strip_right(strip_left(out))));
}

std::string SentencePieceTokenizer::id_to_token(int32_t id) const {
    if (id < 0 || id >= vocab_size()) {
        throw Error("token id " + std::to_string(id) + " is outside the vocabulary of " + std::to_string(vocab_size()) +
                    " (" + path_ + " plus " + std::to_string(extra_ids_) + " sentinels)");
    }
    if (id < pieces_) return sp_->IdToPiece(id);
    return "<extra_id_" + std::to_string(vocab_size() - 1 - id) + ">";
}

std::optional<int32_t> SentencePieceTokenizer::token_to_id(std::string_view token) const {
    if (auto special = special_at(token, 0); special && special->second == token.size()) return special->first;
    const int id = sp_->PieceToId(std::string(token));
    if (id == unk_id_ && token != sp_->IdToPiece(unk_id_)) return std::nullopt;
    return id;
}

}  // namespace gaze
