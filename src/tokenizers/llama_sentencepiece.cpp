// The Llama tokenizer (tokenizer.model), matching Hugging Face's slow
// LlamaTokenizer: see include/gaze/tokenizers/llama_sentencepiece.hpp.
#include "gaze/tokenizers/llama_sentencepiece.hpp"

#include <sentencepiece_processor.h>

#include <filesystem>
#include <fstream>
#include <iterator>
#include <nlohmann/json.hpp>

#include "utf8_check.hpp"

namespace gaze {
namespace {

namespace fs = std::filesystem;

constexpr std::string_view kUnderline = "\xE2\x96\x81";  // "▁", SentencePiece's space

// ---- a few bytes of protobuf: turning the model's dummy prefix off ----------------

bool read_varint(std::string_view data, size_t& pos, uint64_t& value) {
    value = 0;
    for (int shift = 0; shift < 64 && pos < data.size(); shift += 7) {
        const auto byte = static_cast<uint8_t>(data[pos++]);
        value |= static_cast<uint64_t>(byte & 0x7F) << shift;
        if (!(byte & 0x80)) return true;
    }
    return false;
}

void write_varint(std::string& out, uint64_t value) {
    do {
        const auto byte = static_cast<uint8_t>(value & 0x7F);
        value >>= 7;
        out.push_back(static_cast<char>(value ? byte | 0x80 : byte));
    } while (value);
}

// The serialized ModelProto with normalizer_spec (field 3) followed by
// add_dummy_prefix (its field 3) = false, which protobuf reads as the last
// word: what HF does for legacy = false (get_spm_processor). Empty when the
// bytes are not a protobuf message as expected.
std::string without_dummy_prefix(std::string_view model) {
    std::string out;
    size_t pos = 0;
    bool patched = false;
    while (pos < model.size()) {
        const size_t field_start = pos;
        uint64_t tag = 0;
        if (!read_varint(model, pos, tag)) return {};
        const uint64_t wire = tag & 7, field = tag >> 3;
        uint64_t value = 0;
        if (wire == 0) {
            if (!read_varint(model, pos, value)) return {};
        } else if (wire == 1 || wire == 5) {
            pos += wire == 1 ? 8 : 4;
        } else if (wire == 2) {
            if (!read_varint(model, pos, value) || value > model.size() - pos) return {};
            if (field == 3) {
                std::string spec(model.substr(pos, value));
                spec += std::string("\x18\x00", 2);  // field 3, varint 0
                write_varint(out, tag);
                write_varint(out, spec.size());
                out += spec;
                pos += value;
                patched = true;
                continue;
            }
            pos += value;
        } else {
            return {};
        }
        if (pos > model.size()) return {};
        out.append(model.substr(field_start, pos - field_start));
    }
    return patched ? out : std::string();
}

std::string read_file(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    if (!in) throw Error(path + ": SentencePiece model not found");
    return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

// s with every `from` replaced by `to` (a new string: GCC 12 warns, wrongly, on in-place replace).
std::string replace_all(std::string_view s, std::string_view from, std::string_view to) {
    std::string out;
    for (size_t at; (at = s.find(from)) != std::string_view::npos; s.remove_prefix(at + from.size())) {
        out.append(s.substr(0, at)).append(to);
    }
    return out.append(s);
}

bool starts_with(std::string_view s, std::string_view prefix) { return s.substr(0, prefix.size()) == prefix; }

}  // namespace

LlamaTokenizer::LlamaTokenizer(const std::string& model_path, LlamaTokenizerOptions options)
    : sp_(std::make_unique<sentencepiece::SentencePieceProcessor>()), path_(model_path), options_(options) {
    if (!fs::is_regular_file(model_path)) throw Error(model_path + ": SentencePiece model not found");
    std::string model = read_file(model_path);
    if (!options.legacy) {
        model = without_dummy_prefix(model);
        if (model.empty()) throw Error(model_path + ": not a SentencePiece model (no normalizer spec)");
    }
    const auto status = sp_->LoadFromSerializedProto(model);
    if (!status.ok()) throw Error(model_path + ": cannot load SentencePiece model (" + status.ToString() + ")");
    pieces_ = sp_->GetPieceSize();
    bos_id_ = sp_->bos_id();
    eos_id_ = sp_->eos_id();
    unk_id_ = sp_->unk_id();
    if (bos_id_ < 0 || eos_id_ < 0) throw Error(model_path + ": the SentencePiece model has no <s> or </s>");
    pad_id_ = sp_->pad_id() >= 0 ? sp_->pad_id() : std::max(unk_id_, 0);
    std::vector<int> unk;
    if (unk_id_ >= 0) sp_->Encode(sp_->IdToPiece(unk_id_), &unk).IgnoreError();
    unk_pieces_ = unk.size();
}

LlamaTokenizer::~LlamaTokenizer() = default;

std::unique_ptr<LlamaTokenizer> LlamaTokenizer::open(const std::string& dir) {
    LlamaTokenizerOptions options;
    const fs::path config_path = fs::path(dir) / "tokenizer_config.json";
    if (fs::exists(config_path)) {
        std::ifstream in(config_path);
        const auto config = nlohmann::json::parse(in, nullptr, /*allow_exceptions=*/false);
        if (config.is_discarded() || !config.is_object()) throw Error(config_path.string() + ": invalid JSON object");
        auto flag = [&](const char* key, bool& value) {
            const auto it = config.find(key);
            if (it == config.end() || it->is_null()) return;
            if (!it->is_boolean()) throw Error(config_path.string() + ": \"" + key + "\" must be true, false or null");
            value = it->get<bool>();
        };
        flag("add_bos_token", options.add_bos);
        flag("add_eos_token", options.add_eos);
        flag("legacy", options.legacy);
        flag("add_prefix_space", options.add_prefix_space);
    }
    return std::make_unique<LlamaTokenizer>((fs::path(dir) / "tokenizer.model").string(), options);
}

// One stretch of text between special tokens. Without the model's dummy
// prefix SentencePiece would still drop leading spaces, so (as HF does) a
// stretch starting with a space is encoded behind "<unk>" and those pieces dropped.
void LlamaTokenizer::encode_stretch(std::string_view text, std::vector<int32_t>& out) const {
    if (text.empty()) return;
    std::vector<int> ids;
    const bool behind_unk = !options_.legacy && (starts_with(text, kUnderline) || text[0] == ' ');
    const std::string input = behind_unk ? sp_->IdToPiece(unk_id_) + std::string(text) : std::string(text);
    const auto status = sp_->Encode(input, &ids);
    if (!status.ok()) throw Error(path_ + ": SentencePiece could not encode the text (" + status.ToString() + ")");
    const size_t skip = behind_unk && ids.size() >= unk_pieces_ ? unk_pieces_ : 0;
    out.insert(out.end(), ids.begin() + static_cast<std::ptrdiff_t>(skip), ids.end());
}

// HF's LlamaTokenizer.tokenize: special tokens split out first (leftmost,
// longest), then each stretch encoded.
std::vector<int32_t> LlamaTokenizer::tokenize(std::string_view raw) const {
    std::vector<int32_t> ids;
    if (raw.empty()) return ids;
    std::string text(raw);
    if (!options_.legacy) {
        text = replace_all(raw, kUnderline, " ");
        if (options_.add_prefix_space) text.insert(0, kUnderline);
    }
    size_t start = 0;
    for (size_t pos = 0; pos < text.size();) {
        int32_t found = -1;
        size_t length = 0;
        for (int32_t id : {bos_id_, eos_id_, unk_id_}) {
            const std::string& piece = sp_->IdToPiece(id);
            if (id >= 0 && piece.size() > length && std::string_view(text).substr(pos, piece.size()) == piece) {
                found = id;
                length = piece.size();
            }
        }
        if (found < 0) {
            ++pos;
            continue;
        }
        encode_stretch(std::string_view(text).substr(start, pos - start), ids);
        ids.push_back(found);
        pos += length;
        start = pos;
    }
    encode_stretch(std::string_view(text).substr(start), ids);
    // The prefix "▁" alone before a special token is dropped.
    if (!options_.legacy && ids.size() > 1 && sp_->IdToPiece(ids[0]) == kUnderline && is_special(ids[1])) {
        ids.erase(ids.begin());
    }
    return ids;
}

Encoding LlamaTokenizer::to_encoding(const std::vector<int32_t>& ids) const {
    Encoding out;
    for (int32_t id : ids) {
        out.ids.push_back(id);
        out.tokens.push_back(id_to_token(id));
        out.special.push_back(id == bos_id_ || id == eos_id_ ? 1 : 0);
    }
    return out;
}

Encoding LlamaTokenizer::encode(std::string_view text, bool add_special_tokens) const {
    detail::require_utf8(text, "input text");
    std::vector<int32_t> ids;
    if (add_special_tokens && options_.add_bos) ids.push_back(bos_id_);
    for (int32_t id : tokenize(text)) ids.push_back(id);
    if (add_special_tokens && options_.add_eos) ids.push_back(eos_id_);
    return to_encoding(ids);
}

Encoding LlamaTokenizer::encode_pair(std::string_view first, std::string_view second, bool add_special_tokens) const {
    Encoding a = encode(first, add_special_tokens);
    a.append(encode(second, add_special_tokens));
    return a;
}

std::string LlamaTokenizer::decode(const std::vector<int32_t>& ids, bool skip_special_tokens) const {
    std::vector<int32_t> kept;
    for (int32_t id : ids) {
        id_to_token(id);  // validates the id
        if (!(skip_special_tokens && is_special(id))) kept.push_back(id);
    }
    // convert_tokens_to_string: runs of ordinary pieces decoded by SentencePiece,
    // special tokens written as they are.
    std::string out;
    std::vector<int> run;
    bool previous_special = false;
    for (size_t i = 0; i < kept.size(); ++i) {
        const int32_t id = kept[i];
        const std::string& piece = sp_->IdToPiece(id);
        if (is_special(id)) {
            if (!previous_special && i != 0 && options_.legacy) out += ' ';
            out += sp_->DecodeIds(run) + piece;
            run.clear();
            previous_special = true;
            continue;
        }
        if (previous_special && i == 1 && options_.add_prefix_space && !starts_with(piece, kUnderline)) {
            out += ' ';
        }
        run.push_back(id);
        previous_special = false;
    }
    // The prefix space encode added: tokens[0] loses its leading "▁" (a space once decoded).
    const bool strip_prefix = options_.add_prefix_space && !kept.empty() &&
                              starts_with(sp_->IdToPiece(kept[0]), kUnderline);
    out += sp_->DecodeIds(run);
    if (strip_prefix && !out.empty() && out[0] == ' ') out.erase(0, 1);
    return out;
}

std::string LlamaTokenizer::id_to_token(int32_t id) const {
    if (id < 0 || id >= pieces_) {
        throw Error("token id " + std::to_string(id) + " is outside the vocabulary of " + std::to_string(pieces_) + " (" +
                    path_ + ")");
    }
    return sp_->IdToPiece(id);
}

std::optional<int32_t> LlamaTokenizer::token_to_id(std::string_view token) const {
    const int id = sp_->PieceToId(std::string(token));
    if (id == unk_id_ && token != sp_->IdToPiece(unk_id_)) return std::nullopt;
    return id;
}

}  // namespace gaze
