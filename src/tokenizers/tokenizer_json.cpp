// JsonTokenizer: a tokenizer.json pipeline (see include/gaze/tokenizers/tokenizer_json.hpp).
// This file holds the added-token matching and the order the stages run in;
// the stages themselves are in tokenizer_json_{normalizers,pretokenizers,models,processors}.cpp.
#include "gaze/tokenizers/tokenizer_json.hpp"

#include <algorithm>
#include <array>
#include <filesystem>

#include <utf8proc.h>

#include "gaze/error.hpp"
#include "tokenizer_json_components.hpp"
#include "utf8_check.hpp"

namespace gaze {

using detail::Json;
using detail::JsonPlace;

namespace {

namespace fs = std::filesystem;

struct AddedToken {
    std::string content;
    int32_t id = 0;
    bool special = false, single_word = false, lstrip = false, rstrip = false, normalized = false;
};

bool is_word_char(int32_t cp) {
    const auto c = utf8proc_category(cp);
    return cp == '_' || (c >= UTF8PROC_CATEGORY_LU && c <= UTF8PROC_CATEGORY_LO) ||
           (c >= UTF8PROC_CATEGORY_ND && c <= UTF8PROC_CATEGORY_NO);
}

int32_t char_before(std::string_view text, size_t pos) {
    size_t start = pos;
    while (start > 0 && (static_cast<unsigned char>(text[--start]) & 0xC0) == 0x80) {
    }
    int32_t cp = -1;
    detail::for_each_char(text.substr(start, pos - start), [&](int32_t c, size_t, size_t) { cp = c; });
    return cp;
}

int32_t char_at(std::string_view text, size_t pos) {
    int32_t cp = -1;
    const size_t len = std::min(detail::utf8_length(static_cast<unsigned char>(text[pos])), text.size() - pos);
    detail::for_each_char(text.substr(pos, len), [&](int32_t c, size_t, size_t) { cp = c; });
    return cp;
}

// The added tokens of one kind (normalized or not), bucketed by first byte,
// longest first: a leftmost-longest matcher.
class AddedMatcher {
public:
    void add(const AddedToken* t) { buckets_[static_cast<unsigned char>(t->content[0])].push_back(t); }
    void finish() {
        for (auto& b : buckets_)
            std::stable_sort(b.begin(), b.end(), [](const AddedToken* x, const AddedToken* y) { return x->content.size() > y->content.size(); });
    }
    bool empty() const {
        return std::all_of(buckets_.begin(), buckets_.end(), [](const auto& b) { return b.empty(); });
    }

    struct Match {
        size_t begin, end;
        const AddedToken* token;
    };
    // HF's AddedVocabulary::find_matches: leftmost-longest; a single_word token
    // needs non-word characters (or the text's ends) on both sides; lstrip/rstrip
    // take the whitespace beside the token into the match.
    std::vector<Match> find(std::string_view text) const {
        std::vector<Match> matches;
        size_t previous_end = 0;
        for (size_t pos = 0; pos < text.size();) {
            const AddedToken* hit = nullptr;
            for (const AddedToken* t : buckets_[static_cast<unsigned char>(text[pos])]) {
                if (text.compare(pos, t->content.size(), t->content) == 0) {
                    hit = t;
                    break;
                }
            }
            if (!hit) {
                ++pos;
                continue;
            }
            size_t begin = pos, end = pos + hit->content.size();
            pos = end;
            if (hit->single_word) {
                const bool left_ok = begin == 0 || !is_word_char(char_before(text, begin));
                const bool right_ok = end == text.size() || !is_word_char(char_at(text, end));
                if (!left_ok || !right_ok) continue;
            }
            if (hit->lstrip) {
                while (begin > previous_end && detail::is_unicode_whitespace(char_before(text, begin))) {
                    do --begin;
                    while (begin > previous_end && (static_cast<unsigned char>(text[begin]) & 0xC0) == 0x80);
                }
            }
            if (hit->rstrip) {
                while (end < text.size() && detail::is_unicode_whitespace(char_at(text, end)))
                    end += detail::utf8_length(static_cast<unsigned char>(text[end]));
                pos = end;
            }
            matches.push_back({begin, end, hit});
            previous_end = end;
        }
        return matches;
    }

private:
    std::array<std::vector<const AddedToken*>, 256> buckets_;
};

// A stretch of the input: an added token's id, or text still to tokenize.
struct Segment {
    std::string text;
    const AddedToken* added = nullptr;
    bool at_start = false;
};

std::vector<Segment> split_added(std::vector<Segment> in, const AddedMatcher& matcher) {
    if (matcher.empty()) return in;
    std::vector<Segment> out;
    for (Segment& s : in) {
        if (s.added) {
            out.push_back(std::move(s));
            continue;
        }
        size_t last = 0;
        for (const auto& m : matcher.find(s.text)) {
            if (m.begin > last) out.push_back({s.text.substr(last, m.begin - last), nullptr, s.at_start && last == 0});
            out.push_back({s.text.substr(m.begin, m.end - m.begin), m.token, false});
            last = m.end;
        }
        if (last < s.text.size()) out.push_back({s.text.substr(last), nullptr, s.at_start && last == 0});
    }
    return out;
}

Json parse_json(std::string_view text, const std::string& source) {
    try {
        return Json::parse(text);
    } catch (const Json::exception& e) {
        throw Error(source + ": invalid JSON (" + e.what() + ")");
    }
}

// A config token: "<s>" or {"content": "<s>", ...} (AddedToken objects).
std::string config_token(const Json& config, const char* key, const JsonPlace& at) {
    const Json* v = detail::find_field(config, key);
    if (!v) return "";
    if (v->is_string()) return v->get<std::string>();
    if (v->is_object()) return detail::string_field(*v, "content", at / key);
    (at / key).fail("expected a string or an object with \"content\"");
}

// Whether a (valid) post_processor adds any token: a template naming a special
// token, or BERT's / RoBERTa's processors, alone or inside a Sequence.
bool adds_special_tokens(const Json& processor) {
    if (!processor.is_object()) return false;
    const std::string type = processor.value("type", "");
    if (type == "BertProcessing" || type == "RobertaProcessing") return true;
    if (type == "TemplateProcessing") return processor.dump().find("\"SpecialToken\"") != std::string::npos;
    if (type == "Sequence" && processor.contains("processors") && processor["processors"].is_array())
        return std::any_of(processor["processors"].begin(), processor["processors"].end(), adds_special_tokens);
    return false;
}

bool is_llama_class(const std::string& c) {
    for (const char* name : {"LlamaTokenizer", "LlamaTokenizerFast", "CodeLlamaTokenizer", "CodeLlamaTokenizerFast",
                             "GemmaTokenizer", "GemmaTokenizerFast"})
        if (c == name) return true;
    return false;
}

}  // namespace

TokenizerJsonOptions TokenizerJsonOptions::from_config_file(const std::string& path) {
    const Json config = parse_json(detail::read_text_file(path, "tokenizer config"), path);
    const JsonPlace at{path, ""};
    if (!config.is_object()) at.fail("expected a JSON object");
    TokenizerJsonOptions o;
    o.tokenizer_class = detail::string_field(config, "tokenizer_class", at, "");
    if (detail::find_field(config, "add_bos_token")) o.add_bos_token = detail::bool_field(config, "add_bos_token", at);
    if (detail::find_field(config, "add_eos_token")) o.add_eos_token = detail::bool_field(config, "add_eos_token", at);
    o.bos_token = config_token(config, "bos_token", at);
    o.eos_token = config_token(config, "eos_token", at);
    o.pad_token = config_token(config, "pad_token", at);
    o.unk_token = config_token(config, "unk_token", at);
    o.clean_up_tokenization_spaces = detail::bool_field(config, "clean_up_tokenization_spaces", at, false);
    return o;
}

struct JsonTokenizer::Impl {
    std::string source;
    TokenizerJsonOptions options;
    std::vector<AddedToken> added;  // in file order
    detail::StringMap<size_t> added_by_content;
    std::unordered_map<int32_t, size_t> added_by_id;
    AddedMatcher raw_matcher, normalized_matcher;
    std::unique_ptr<detail::Normalizer> normalizer;
    std::unique_ptr<detail::PreTokenizer> pre_tokenizer;
    std::unique_ptr<detail::Model> model;
    std::unique_ptr<detail::PostProcessor> post_processor;
    std::unique_ptr<detail::Decoder> decoder;

    void read_added_tokens(const Json& list, const JsonPlace& at) {
        added.reserve(list.size());  // the matchers keep pointers into it
        for (size_t i = 0; i < list.size(); ++i) {
            const JsonPlace here = at[i];
            const Json& t = list[i];
            AddedToken a;
            a.id = static_cast<int32_t>(detail::int_field(t, "id", here));
            if (a.id < 0) (here / "id").fail("must not be negative");
            a.content = detail::string_field(t, "content", here);
            if (a.content.empty()) (here / "content").fail("must not be empty");
            detail::require_utf8(a.content, here.file + ": " + (here / "content").field);
            a.special = detail::bool_field(t, "special", here, false);
            a.single_word = detail::bool_field(t, "single_word", here, false);
            a.lstrip = detail::bool_field(t, "lstrip", here, false);
            a.rstrip = detail::bool_field(t, "rstrip", here, false);
            a.normalized = detail::bool_field(t, "normalized", here, !a.special);
            added_by_content.insert_or_assign(a.content, added.size());
            added_by_id.insert_or_assign(a.id, added.size());
            added.push_back(std::move(a));
        }
        for (const AddedToken& a : added) (a.normalized ? normalized_matcher : raw_matcher).add(&a);
        raw_matcher.finish();
        normalized_matcher.finish();
    }

    std::optional<int32_t> find_id(std::string_view token) const {
        if (auto it = added_by_content.find(token); it != added_by_content.end()) return added[it->second].id;
        return model->token_to_id(token);
    }

    std::optional<detail::SpecialToken> special(const std::string& token) const {
        if (token.empty()) return std::nullopt;
        auto id = find_id(token);
        if (!id) throw Error(source + ": the config's special token \"" + token + "\" is not in the vocabulary");
        return detail::SpecialToken{token, *id};
    }

    // tokenizer_config.json's add_bos_token / add_eos_token, where they decide.
    void apply_bos_eos_options(bool file_adds_specials) {
        const bool llama = is_llama_class(options.tokenizer_class);
        if (llama) {  // transformers' LlamaTokenizerFast.update_post_processor (defaults: BOS yes, EOS no)
            const bool bos = options.add_bos_token.value_or(true), eos = options.add_eos_token.value_or(false);
            post_processor = detail::make_bos_eos_processor(bos ? special(options.bos_token) : std::nullopt,
                                                            eos ? special(options.eos_token) : std::nullopt);
        } else if (!file_adds_specials && (options.add_bos_token.value_or(false) || options.add_eos_token.value_or(false))) {
            post_processor = detail::make_bos_eos_processor(
                options.add_bos_token.value_or(false) ? special(options.bos_token) : std::nullopt,
                options.add_eos_token.value_or(false) ? special(options.eos_token) : std::nullopt);
        }
    }

    void build(const Json& root) {
        const JsonPlace top{source, ""};
        if (!root.is_object()) top.fail("expected a JSON object");
        if (const Json* list = detail::find_field(root, "added_tokens")) {
            if (!list->is_array()) (top / "added_tokens").fail("expected an array");
            read_added_tokens(*list, top / "added_tokens");
        }
        normalizer = detail::make_normalizer(root.value("normalizer", Json()), top / "normalizer");
        pre_tokenizer = detail::make_pre_tokenizer(root.value("pre_tokenizer", Json()), top / "pre_tokenizer");
        model = detail::make_model(detail::require_field(root, "model", top), top / "model");
        const Json processor = root.value("post_processor", Json());
        post_processor = detail::make_post_processor(processor, top / "post_processor");
        decoder = detail::make_decoder(root.value("decoder", Json()), top / "decoder");
        apply_bos_eos_options(adds_special_tokens(processor));
    }

    // Text -> ids of one sequence (no special tokens added).
    Encoding encode_sequence(std::string_view text) const {
        std::vector<Segment> segments = split_added({{std::string(text), nullptr, true}}, raw_matcher);
        if (normalizer) {
            for (Segment& s : segments)
                if (!s.added) normalizer->normalize(s.text);
        }
        segments = split_added(std::move(segments), normalized_matcher);
        Encoding out;
        std::vector<detail::Piece> pieces;
        std::vector<int32_t> ids;
        for (const Segment& s : segments) {
            if (s.added) {
                push(out, s.added->id);
                continue;
            }
            if (s.text.empty()) continue;
            pieces.assign(1, {s.text, s.at_start});
            if (pre_tokenizer) pre_tokenizer->split(pieces);
            for (const detail::Piece& p : pieces) {
                ids.clear();
                model->tokenize(p.text, ids);
                for (int32_t id : ids) push(out, id);
            }
        }
        return out;
    }

    void push(Encoding& out, int32_t id) const {
        out.ids.push_back(id);
        out.tokens.push_back(token_of(id));
        out.special.push_back(is_special(id) ? 1 : 0);
    }

    const AddedToken* added_of(int32_t id) const {
        auto it = added_by_id.find(id);
        return it == added_by_id.end() ? nullptr : &added[it->second];
    }
    bool is_special(int32_t id) const {
        const AddedToken* a = added_of(id);
        return a && a->special;
    }
    std::string token_of(int32_t id) const {
        if (const AddedToken* a = added_of(id)) return a->content;
        if (const std::string* t = model->id_to_token(id)) return *t;
        throw Error("token id " + std::to_string(id) + " is outside the vocabulary of " + std::to_string(size()) + " (" +
                    source + ")");
    }
    int64_t size() const {
        int64_t n = model->size();
        for (const AddedToken& a : added) n = std::max<int64_t>(n, int64_t{a.id} + 1);
        return n;
    }

    Encoding finish(std::vector<Encoding> segments, bool add_special_tokens) const {
        if (add_special_tokens && post_processor) post_processor->process(segments);
        Encoding out;
        for (size_t i = 0; i < segments.size(); ++i) {
            Encoding& s = segments[i];
            if (s.type_ids.empty()) s.type_ids.assign(s.ids.size(), static_cast<int32_t>(i));
            out.append(s);
        }
        if (std::all_of(out.type_ids.begin(), out.type_ids.end(), [](int32_t t) { return t == 0; })) out.type_ids.clear();
        return out;
    }
};

JsonTokenizer::JsonTokenizer(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
JsonTokenizer::~JsonTokenizer() = default;

std::unique_ptr<JsonTokenizer> JsonTokenizer::from_string(std::string_view json, const std::string& source,
                                                          const TokenizerJsonOptions& options) {
    auto impl = std::make_unique<Impl>();
    impl->source = source;
    impl->options = options;
    impl->build(parse_json(json, source));
    return std::unique_ptr<JsonTokenizer>(new JsonTokenizer(std::move(impl)));
}

std::unique_ptr<JsonTokenizer> JsonTokenizer::open(const std::string& path) {
    std::error_code ec;
    const fs::path file = fs::is_directory(path, ec) ? fs::path(path) / "tokenizer.json" : fs::path(path);
    const fs::path config = file.parent_path() / "tokenizer_config.json";
    TokenizerJsonOptions options;
    if (fs::is_regular_file(config, ec)) options = TokenizerJsonOptions::from_config_file(config.string());
    return from_string(detail::read_text_file(file.string(), "tokenizer.json"), file.string(), options);
}

std::unique_ptr<JsonTokenizer> JsonTokenizer::open_qwen2_vocab(const std::string& dir) {
    const fs::path root(dir);
    const std::string config_path = (root / "tokenizer_config.json").string();
    const TokenizerJsonOptions options = TokenizerJsonOptions::from_config_file(config_path);
    // What transformers' Qwen2Converter writes for this folder.
    Json tokenizer = {
        {"normalizer", {{"type", "NFC"}}},
        {"pre_tokenizer",
         {{"type", "Sequence"},
          {"pretokenizers",
           Json::array({{{"type", "Split"},
                         {"pattern", {{"Regex", R"((?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+)"}}},
                         {"behavior", "Isolated"},
                         {"invert", false}},
                        {{"type", "ByteLevel"}, {"add_prefix_space", false}, {"use_regex", false}}})}}},
        {"decoder", {{"type", "ByteLevel"}}},
        {"added_tokens", Json::array()}};
    const std::string vocab_path = (root / "vocab.json").string();
    Json model = {{"type", "BPE"}, {"merges", Json::array()}};
    model["vocab"] = parse_json(detail::read_text_file(vocab_path, "vocabulary"), vocab_path);
    for (auto& [left, right] : detail::read_merges((root / "merges.txt").string())) model["merges"].push_back({left, right});
    tokenizer["model"] = std::move(model);
    const Json config = parse_json(detail::read_text_file(config_path, "tokenizer config"), config_path);
    if (const Json* decoder = detail::find_field(config, "added_tokens_decoder")) {
        const JsonPlace at{config_path, "added_tokens_decoder"};
        if (!decoder->is_object()) at.fail("expected an object {\"id\": {...}}");
        for (const auto& [id, token] : decoder->items()) {
            if (!token.is_object()) (at / id).fail("expected an object");
            Json entry = token;
            try {
                entry["id"] = std::stoi(id);
            } catch (const std::exception&) {
                (at / id).fail("the key is not an id");
            }
            tokenizer["added_tokens"].push_back(std::move(entry));
        }
    }
    auto impl = std::make_unique<Impl>();
    impl->source = vocab_path;
    impl->options = options;
    impl->build(tokenizer);
    return std::unique_ptr<JsonTokenizer>(new JsonTokenizer(std::move(impl)));
}

Encoding JsonTokenizer::encode(std::string_view text, bool add_special_tokens) const {
    detail::require_utf8(text, "text");
    std::vector<Encoding> segments;
    segments.push_back(impl_->encode_sequence(text));
    return impl_->finish(std::move(segments), add_special_tokens);
}

Encoding JsonTokenizer::encode_pair(std::string_view first, std::string_view second, bool add_special_tokens) const {
    detail::require_utf8(first, "first text");
    detail::require_utf8(second, "second text");
    std::vector<Encoding> segments;
    segments.push_back(impl_->encode_sequence(first));
    segments.push_back(impl_->encode_sequence(second));
    return impl_->finish(std::move(segments), add_special_tokens);
}

std::string JsonTokenizer::decode(const std::vector<int32_t>& ids, bool skip_special_tokens) const {
    std::vector<std::string> tokens;
    tokens.reserve(ids.size());
    for (int32_t id : ids) {
        if (skip_special_tokens && impl_->is_special(id)) continue;
        tokens.push_back(impl_->token_of(id));
    }
    std::string text;
    if (impl_->decoder) {
        impl_->decoder->decode_chain(tokens);
        for (const auto& t : tokens) text += t;
    } else {  // HF joins the tokens with spaces when the file has no decoder
        for (size_t i = 0; i < tokens.size(); ++i) text.append(i ? " " : "").append(tokens[i]);
    }
    if (impl_->options.clean_up_tokenization_spaces) text = detail::clean_up_tokenization(std::move(text));
    return text;
}

std::string JsonTokenizer::id_to_token(int32_t id) const { return impl_->token_of(id); }
std::optional<int32_t> JsonTokenizer::token_to_id(std::string_view token) const { return impl_->find_id(token); }
int64_t JsonTokenizer::vocab_size() const { return impl_->size(); }
bool JsonTokenizer::is_special_id(int32_t id) const { return impl_->is_special(id); }
const TokenizerJsonOptions& JsonTokenizer::options() const { return impl_->options; }

std::optional<int32_t> JsonTokenizer::bos_id() const {
    return impl_->options.bos_token.empty() ? std::nullopt : impl_->find_id(impl_->options.bos_token);
}
std::optional<int32_t> JsonTokenizer::eos_id() const {
    return impl_->options.eos_token.empty() ? std::nullopt : impl_->find_id(impl_->options.eos_token);
}

int32_t JsonTokenizer::pad_id() const {
    for (const std::string* t : {&impl_->options.pad_token, &impl_->options.eos_token, &impl_->options.bos_token})
        if (!t->empty())
            if (auto id = impl_->find_id(*t)) return *id;
    if (auto unk = impl_->model->unk_id()) return *unk;
    return 0;
}

std::string JsonTokenizer::pad_token() const { return impl_->token_of(pad_id()); }

}  // namespace gaze
