// tokenizer.json post-processors (TemplateProcessing, BertProcessing,
// RobertaProcessing, ByteLevel, Sequence) and decoders (ByteLevel, Metaspace,
// ByteFallback, Fuse, Strip, Replace, WordPiece, BPEDecoder, Sequence).
#include "gaze/error.hpp"
#include "tokenizer_json_components.hpp"
#include "utf8_check.hpp"

namespace gaze::detail {
namespace {

// ---- post-processors -----------------------------------------------------------------

void push_special(Encoding& out, const SpecialToken& t, int32_t type_id) {
    out.ids.push_back(t.id);
    out.tokens.push_back(t.token);
    out.type_ids.push_back(type_id);
    out.special.push_back(1);
}

void push_sequence(Encoding& out, const Encoding& seq, int32_t type_id) {
    out.ids.insert(out.ids.end(), seq.ids.begin(), seq.ids.end());
    out.tokens.insert(out.tokens.end(), seq.tokens.begin(), seq.tokens.end());
    out.type_ids.insert(out.type_ids.end(), seq.ids.size(), type_id);
    out.special.insert(out.special.end(), seq.special.begin(), seq.special.end());
}

// One item of a template: a special token (its ids) or sequence A/B.
struct TemplateItem {
    std::vector<SpecialToken> special;  // empty: a sequence
    size_t sequence = 0;                // 0 = A, 1 = B
    int32_t type_id = 0;
};
using Template = std::vector<TemplateItem>;

void apply_template(const Template& t, std::vector<Encoding>& segments) {
    Encoding out;
    for (const TemplateItem& item : t) {
        if (item.special.empty()) {
            if (item.sequence < segments.size()) push_sequence(out, segments[item.sequence], item.type_id);
        } else {
            for (const SpecialToken& s : item.special) push_special(out, s, item.type_id);
        }
    }
    segments.assign(1, std::move(out));
}

class TemplateProcessing final : public PostProcessor {
public:
    TemplateProcessing(Template single, Template pair) : single_(std::move(single)), pair_(std::move(pair)) {}
    void process(std::vector<Encoding>& segments) const override {
        apply_template(segments.size() > 1 ? pair_ : single_, segments);
    }

private:
    Template single_, pair_;
};

class Passthrough final : public PostProcessor {  // ByteLevel: offsets only
public:
    void process(std::vector<Encoding>&) const override {}
};

class SequenceProcessor final : public PostProcessor {
public:
    explicit SequenceProcessor(std::vector<std::unique_ptr<PostProcessor>> parts) : parts_(std::move(parts)) {}
    void process(std::vector<Encoding>& segments) const override {
        for (const auto& p : parts_) p->process(segments);
    }

private:
    std::vector<std::unique_ptr<PostProcessor>> parts_;
};

Template parse_template(const Json& items, const Json& special_tokens, const JsonPlace& at) {
    if (!items.is_array()) at.fail("expected an array of template items");
    Template t;
    for (size_t i = 0; i < items.size(); ++i) {
        const JsonPlace here = at[i];
        const Json& item = items[i];
        TemplateItem parsed;
        if (const Json* seq = item.is_object() ? find_field(item, "Sequence") : nullptr) {
            const std::string id = string_field(*seq, "id", here / "Sequence");
            if (id != "A" && id != "B") (here / "Sequence" / "id").fail("expected \"A\" or \"B\", got \"" + id + "\"");
            parsed.sequence = id == "A" ? 0 : 1;
            parsed.type_id = static_cast<int32_t>(int_field(*seq, "type_id", here / "Sequence", 0));
        } else if (const Json* sp = item.is_object() ? find_field(item, "SpecialToken") : nullptr) {
            const std::string name = string_field(*sp, "id", here / "SpecialToken");
            parsed.type_id = static_cast<int32_t>(int_field(*sp, "type_id", here / "SpecialToken", 0));
            const Json* def = special_tokens.is_object() ? find_field(special_tokens, name.c_str()) : nullptr;
            if (!def) (here / "SpecialToken").fail("\"" + name + "\" is not in post_processor.special_tokens");
            const JsonPlace def_at = JsonPlace{at.file, "post_processor.special_tokens"} / name;
            const Json& ids = array_field(*def, "ids", def_at);
            const Json& tokens = array_field(*def, "tokens", def_at);
            if (ids.size() != tokens.size()) def_at.fail("\"ids\" and \"tokens\" differ in length");
            for (size_t k = 0; k < ids.size(); ++k) {
                if (!ids[k].is_number_integer() || !tokens[k].is_string()) def_at.fail("expected integer ids and string tokens");
                parsed.special.push_back({tokens[k].get<std::string>(), ids[k].get<int32_t>()});
            }
            if (parsed.special.empty()) def_at.fail("has no ids");
        } else {
            here.fail("expected {\"Sequence\": ...} or {\"SpecialToken\": ...}, got " + item.dump());
        }
        t.push_back(std::move(parsed));
    }
    return t;
}

SpecialToken token_pair(const Json& json, const char* key, const JsonPlace& at) {
    const Json& v = require_field(json, key, at);
    if (!v.is_array() || v.size() != 2 || !v[0].is_string() || !v[1].is_number_integer())
        (at / key).fail("expected [\"token\", id], got " + v.dump());
    return {v[0].get<std::string>(), v[1].get<int32_t>()};
}

// ---- decoders --------------------------------------------------------------------------

class ByteLevelDecoder final : public Decoder {
public:
    void decode_chain(std::vector<std::string>& tokens) const override {
        std::string bytes;
        for (const std::string& t : tokens) {
            if (!append_spelled_bytes(t, bytes)) bytes += t;  // an added token outside the alphabet stands for itself
        }
        tokens.assign(1, replace_invalid_utf8(bytes));
    }
};

void replace_all(std::string& s, std::string_view from, std::string_view to) {
    if (from.empty() || s.find(from) == std::string::npos) return;
    std::string out;
    size_t last = 0;
    for (size_t at = s.find(from); at != std::string::npos; at = s.find(from, last)) {
        out.append(s, last, at - last).append(to);
        last = at + from.size();
    }
    out.append(s, last, std::string::npos);
    s = std::move(out);
}

class MetaspaceDecoder final : public Decoder {
public:
    MetaspaceDecoder(std::string replacement, bool strip_first) : replacement_(std::move(replacement)), strip_first_(strip_first) {}
    void decode_chain(std::vector<std::string>& tokens) const override {
        for (size_t i = 0; i < tokens.size(); ++i) {
            replace_all(tokens[i], replacement_, " ");
            if (i == 0 && strip_first_ && !tokens[i].empty() && tokens[i][0] == ' ') tokens[i].erase(0, 1);
        }
    }

private:
    std::string replacement_;
    bool strip_first_;
};

// <0xXX> tokens -> their bytes; a run that is not valid UTF-8 becomes one
// U+FFFD per byte, as in HF.
class ByteFallbackDecoder final : public Decoder {
public:
    void decode_chain(std::vector<std::string>& tokens) const override {
        std::vector<std::string> out;
        std::string run;
        size_t run_tokens = 0;
        auto flush = [&] {
            if (!run_tokens) return;
            if (find_invalid_utf8(run) == std::string_view::npos) out.push_back(run);
            else
                for (size_t i = 0; i < run_tokens; ++i) out.emplace_back("\xEF\xBF\xBD");
            run.clear(), run_tokens = 0;
        };
        for (std::string& t : tokens) {
            int byte = -1;
            if (t.size() == 6 && t.compare(0, 3, "<0x") == 0 && t[5] == '>') {
                const auto hex = [](char c) { return c >= '0' && c <= '9' ? c - '0' : c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1; };
                const int hi = hex(t[3]), lo = hex(t[4]);
                if (hi >= 0 && lo >= 0) byte = hi * 16 + lo;
            }
            if (byte < 0) {
                flush();
                out.push_back(std::move(t));
            } else {
                run += static_cast<char>(byte), ++run_tokens;
            }
        }
        flush();
        tokens = std::move(out);
    }
};

class FuseDecoder final : public Decoder {
public:
    void decode_chain(std::vector<std::string>& tokens) const override {
        std::string all;
        for (const auto& t : tokens) all += t;
        tokens.assign(1, std::move(all));
    }
};

// Removes up to `start` leading and `stop` trailing copies of one character.
class StripDecoder final : public Decoder {
public:
    StripDecoder(std::string content, int64_t start, int64_t stop) : content_(std::move(content)), start_(start), stop_(stop) {}
    void decode_chain(std::vector<std::string>& tokens) const override {
        for (std::string& t : tokens) {
            for (int64_t i = 0; i < start_ && t.compare(0, content_.size(), content_) == 0 && !content_.empty(); ++i) t.erase(0, content_.size());
            for (int64_t i = 0; i < stop_ && !content_.empty() && t.size() >= content_.size() &&
                                t.compare(t.size() - content_.size(), content_.size(), content_) == 0; ++i)
                t.erase(t.size() - content_.size());
        }
    }

private:
    std::string content_;
    int64_t start_, stop_;
};

class ReplaceDecoder final : public Decoder {
public:
    ReplaceDecoder(Pattern pattern, std::string content) : pattern_(std::move(pattern)), content_(std::move(content)) {}
    void decode_chain(std::vector<std::string>& tokens) const override {
        for (std::string& t : tokens) t = pattern_.replace_all(t, content_);
    }

private:
    Pattern pattern_;
    std::string content_;
};

class WordPieceDecoder final : public Decoder {
public:
    WordPieceDecoder(std::string prefix, bool cleanup) : prefix_(std::move(prefix)), cleanup_(cleanup) {}
    void decode_chain(std::vector<std::string>& tokens) const override {
        for (size_t i = 0; i < tokens.size(); ++i) {
            std::string& t = tokens[i];
            if (i > 0) {
                if (t.compare(0, prefix_.size(), prefix_) == 0) t.erase(0, prefix_.size());
                else t.insert(t.begin(), ' ');
            }
            if (cleanup_) {
                t = clean_up_tokenization(std::move(t));
                replace_all(t, " do not", " don't");
            }
        }
    }

private:
    std::string prefix_;
    bool cleanup_;
};

class BpeSuffixDecoder final : public Decoder {  // BPEDecoder: "</w>" ends a word
public:
    explicit BpeSuffixDecoder(std::string suffix) : suffix_(std::move(suffix)) {}
    void decode_chain(std::vector<std::string>& tokens) const override {
        for (size_t i = 0; i < tokens.size(); ++i) replace_all(tokens[i], suffix_, i + 1 == tokens.size() ? "" : " ");
    }

private:
    std::string suffix_;
};

class SequenceDecoder final : public Decoder {
public:
    explicit SequenceDecoder(std::vector<std::unique_ptr<Decoder>> parts) : parts_(std::move(parts)) {}
    void decode_chain(std::vector<std::string>& tokens) const override {
        for (const auto& p : parts_) p->decode_chain(tokens);
    }

private:
    std::vector<std::unique_ptr<Decoder>> parts_;
};

}  // namespace

std::string clean_up_tokenization(std::string text) {
    static const std::pair<const char*, const char*> kRules[] = {
        {" .", "."}, {" ?", "?"}, {" !", "!"}, {" ,", ","}, {" ' ", "'"}, {" n't", "n't"},
        {" 'm", "'m"}, {" 's", "'s"}, {" 've", "'ve"}, {" 're", "'re"}};
    for (const auto& [from, to] : kRules) replace_all(text, from, to);
    return text;
}

std::unique_ptr<PostProcessor> make_bos_eos_processor(std::optional<SpecialToken> bos, std::optional<SpecialToken> eos) {
    Template single, pair;
    for (size_t seq = 0; seq < 2; ++seq) {
        const auto type_id = static_cast<int32_t>(seq);
        Template part;
        if (bos) part.push_back({{*bos}, 0, type_id});
        part.push_back({{}, seq, type_id});
        if (eos) part.push_back({{*eos}, 0, type_id});
        if (seq == 0) single = part;
        pair.insert(pair.end(), part.begin(), part.end());
    }
    return std::make_unique<TemplateProcessing>(std::move(single), std::move(pair));
}

std::unique_ptr<PostProcessor> make_post_processor(const Json& json, const JsonPlace& at) {
    if (json.is_null()) return nullptr;
    const std::string type = component_type(json, at);
    if (type == "TemplateProcessing") {
        const Json* special = find_field(json, "special_tokens");
        const Json empty = Json::object();
        return std::make_unique<TemplateProcessing>(
            parse_template(require_field(json, "single", at), special ? *special : empty, at / "single"),
            parse_template(require_field(json, "pair", at), special ? *special : empty, at / "pair"));
    }
    if (type == "BertProcessing" || type == "RobertaProcessing") {
        const SpecialToken cls = token_pair(json, "cls", at), sep = token_pair(json, "sep", at);
        const bool roberta = type == "RobertaProcessing";
        Template single = {{{cls}, 0, 0}, {{}, 0, 0}, {{sep}, 0, 0}};
        Template pair = single;
        if (roberta) pair.push_back({{sep}, 0, 1});
        pair.push_back({{}, 1, 1});
        pair.push_back({{sep}, 0, 1});
        return std::make_unique<TemplateProcessing>(std::move(single), std::move(pair));
    }
    if (type == "ByteLevel") return std::make_unique<Passthrough>();
    if (type == "Sequence") {
        return std::make_unique<SequenceProcessor>(sequence_parts<PostProcessor>(json, "processors", at, make_post_processor));
    }
    unknown_component(type, at, "TemplateProcessing, BertProcessing, RobertaProcessing, ByteLevel, Sequence");
}

std::unique_ptr<Decoder> make_decoder(const Json& json, const JsonPlace& at) {
    if (json.is_null()) return nullptr;
    const std::string type = component_type(json, at);
    if (type == "ByteLevel") return std::make_unique<ByteLevelDecoder>();
    if (type == "Metaspace") {
        bool strip_first = bool_field(json, "add_prefix_space", at, true);
        if (find_field(json, "prepend_scheme")) strip_first = string_field(json, "prepend_scheme", at) != "never";
        return std::make_unique<MetaspaceDecoder>(string_field(json, "replacement", at, "\xE2\x96\x81"), strip_first);
    }
    if (type == "ByteFallback") return std::make_unique<ByteFallbackDecoder>();
    if (type == "Fuse") return std::make_unique<FuseDecoder>();
    if (type == "Strip") {
        return std::make_unique<StripDecoder>(string_field(json, "content", at, " "), int_field(json, "start", at, 0),
                                              int_field(json, "stop", at, 0));
    }
    if (type == "Replace") {
        return std::make_unique<ReplaceDecoder>(Pattern(require_field(json, "pattern", at), at / "pattern"),
                                                string_field(json, "content", at));
    }
    if (type == "WordPiece") {
        return std::make_unique<WordPieceDecoder>(string_field(json, "prefix", at, "##"), bool_field(json, "cleanup", at, true));
    }
    if (type == "BPEDecoder") return std::make_unique<BpeSuffixDecoder>(string_field(json, "suffix", at, "</w>"));
    if (type == "Sequence") {
        return std::make_unique<SequenceDecoder>(sequence_parts<Decoder>(json, "decoders", at, make_decoder));
    }
    unknown_component(type, at, "ByteLevel, Metaspace, ByteFallback, Fuse, Strip, Replace, WordPiece, BPEDecoder, Sequence");
}

}  // namespace gaze::detail
