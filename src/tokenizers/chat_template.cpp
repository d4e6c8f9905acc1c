// Chat templates: see include/gaze/chat_template.hpp. Each format's apply_*
// writes what its Jinja template text produces.
#include "gaze/chat_template.hpp"

#include <filesystem>
#include <nlohmann/json.hpp>

#include "byte_level.hpp"
#include "gaze/error.hpp"

namespace gaze {
namespace {

bool contains(const std::string& s, const char* part) { return s.find(part) != std::string::npos; }

// Jinja's trim / Python's str.strip(): ASCII whitespace at both ends.
std::string strip(const std::string& s) {
    const char* ws = " \t\n\r\f\v";
    const size_t b = s.find_first_not_of(ws);
    if (b == std::string::npos) return "";
    return s.substr(b, s.find_last_not_of(ws) - b + 1);
}

// The default system message of a ChatML template: the literal between
// "<|im_start|>system\n" and "<|im_end|>" that is one Jinja string (no quote
// inside), with Jinja's \n escapes undone. Empty when the template has none.
std::string chatml_default_system(const std::string& text) {
    const std::string start = "<|im_start|>system";
    for (size_t at = text.find(start); at != std::string::npos; at = text.find(start, at + 1)) {
        size_t pos = at + start.size();
        if (text.compare(pos, 1, "\n") == 0) pos += 1;
        else if (text.compare(pos, 2, "\\n") == 0) pos += 2;
        else continue;
        const size_t end = text.find("<|im_end|>", pos);
        if (end == std::string::npos) break;
        const std::string literal = text.substr(pos, end - pos);
        if (literal.empty() || literal.find_first_of("'\"{}") != std::string::npos) continue;
        std::string out;
        for (size_t i = 0; i < literal.size(); ++i) {
            if (literal[i] == '\\' && i + 1 < literal.size() && literal[i + 1] == 'n') out += '\n', ++i;
            else out += literal[i];
        }
        return out;
    }
    return "";
}

std::string quote_start(const std::string& text) {
    std::string head = text.substr(0, 120);
    for (char& c : head)
        if (c == '\n') c = ' ';
    return "\"" + head + (text.size() > 120 ? "...\"" : "\"");
}

// Llama 2 and Mistral: the messages after an optional leading system message
// must go user, assistant, user, ...
void require_alternating(const std::vector<ChatMessage>& messages, size_t first, const std::string& source) {
    for (size_t i = first; i < messages.size(); ++i) {
        const bool user_turn = (i - first) % 2 == 0;
        if (messages[i].role != (user_turn ? "user" : "assistant")) {
            throw Error(source + ": chat_template: conversation roles must alternate user/assistant/user/... (message " +
                        std::to_string(i) + " is \"" + messages[i].role + "\")");
        }
    }
}

}  // namespace

ChatTemplate::ChatTemplate(std::string template_text, std::string bos_token, std::string eos_token, std::string source)
    : text_(std::move(template_text)), bos_(std::move(bos_token)), eos_(std::move(eos_token)), source_(std::move(source)) {
    const char* known = " (gaze knows Llama 2 [INST] <<SYS>>, Llama 3 header tokens, ChatML as in Qwen2/SmolLM2, "
                        "Mistral [INST]; use --raw to give the prompt as it is)";
    if (contains(text_, "<|start_header_id|>") && contains(text_, "<|eot_id|>") && !contains(text_, "Cutting Knowledge")) {
        format_ = ChatFormat::Llama3;
    } else if (contains(text_, "<|im_start|>") && contains(text_, "<|im_end|>")) {
        format_ = ChatFormat::ChatML;
        default_system_ = chatml_default_system(text_);
    } else if (contains(text_, "[INST]") && contains(text_, "<<SYS>>")) {
        format_ = ChatFormat::Llama2;
    } else if (contains(text_, "[INST]") && contains(text_, "[/INST]") && !contains(text_, "[SYSTEM_PROMPT]") &&
               !contains(text_, "[AVAILABLE_TOOLS]")) {
        format_ = ChatFormat::Mistral;
    } else {
        throw Error(source_ + ": chat_template is not one gaze recognises: " + quote_start(text_) + known);
    }
    generation_prompt_optional_ = contains(text_, "add_generation_prompt");
}

ChatTemplate ChatTemplate::from_config(const std::string& dir) {
    const std::string path = (std::filesystem::path(dir) / "tokenizer_config.json").string();
    nlohmann::json config;
    try {
        config = nlohmann::json::parse(detail::read_text_file(path, "tokenizer config"));
    } catch (const nlohmann::json::exception& e) {
        throw Error(path + ": invalid JSON (" + e.what() + ")");
    }
    auto token = [&](const char* key) -> std::string {
        if (!config.is_object() || !config.contains(key) || config[key].is_null()) return "";
        const auto& v = config[key];
        if (v.is_string()) return v.get<std::string>();
        if (v.is_object() && v.contains("content") && v["content"].is_string()) return v["content"].get<std::string>();
        throw Error(path + ": " + key + ": expected a string or an object with \"content\"");
    };
    if (!config.is_object() || !config.contains("chat_template") || config["chat_template"].is_null())
        throw Error(path + ": no chat_template (a base model?): give the prompt without --chat, or with --raw");
    const auto& t = config["chat_template"];
    std::string text;
    if (t.is_string()) {
        text = t.get<std::string>();
    } else if (t.is_array()) {  // [{"name": "default", "template": "..."}, {"name": "tool_use", ...}]
        for (const auto& entry : t)
            // Compared as JSON, not read with value(): a "name" that is not a string is no match, not a type_error.
            if (entry.is_object() && entry.contains("name") && entry["name"] == "default" && entry.contains("template") &&
                entry["template"].is_string())
                text = entry["template"].get<std::string>();
        if (text.empty()) throw Error(path + ": chat_template: no template named \"default\"");
    } else {
        throw Error(path + ": chat_template: expected a string or a list of {\"name\", \"template\"}");
    }
    return ChatTemplate(std::move(text), token("bos_token"), token("eos_token"), path);
}

const char* ChatTemplate::name() const {
    switch (format_) {
        case ChatFormat::Llama2: return "Llama 2";
        case ChatFormat::Llama3: return "Llama 3";
        case ChatFormat::ChatML: return "ChatML";
        case ChatFormat::Mistral: return "Mistral";
    }
    return "?";
}

std::string ChatTemplate::end_of_turn() const {
    switch (format_) {
        case ChatFormat::Llama3: return "<|eot_id|>";
        case ChatFormat::ChatML: return "<|im_end|>";
        default: return eos_;
    }
}

std::string ChatTemplate::apply(const std::vector<ChatMessage>& messages, bool add_generation_prompt) const {
    if (messages.empty()) throw Error(source_ + ": chat_template: no messages to format");
    const bool prompt = add_generation_prompt || !generation_prompt_optional_;
    std::string out;
    switch (format_) {
        case ChatFormat::Llama3:
            // content = '<|start_header_id|>' + role + '<|end_header_id|>\n\n' + content | trim + '<|eot_id|>', BOS first
            out = bos_;
            for (const ChatMessage& m : messages)
                out += "<|start_header_id|>" + m.role + "<|end_header_id|>\n\n" + strip(m.content) + "<|eot_id|>";
            if (prompt) out += "<|start_header_id|>assistant<|end_header_id|>\n\n";
            return out;
        case ChatFormat::ChatML:
            // Qwen2/2.5 and SmolLM2: the default system message when the first is not one.
            if (messages[0].role != "system" && !default_system_.empty())
                out += "<|im_start|>system\n" + default_system_ + "<|im_end|>\n";
            for (const ChatMessage& m : messages) out += "<|im_start|>" + m.role + "\n" + m.content + "<|im_end|>\n";
            if (prompt) out += "<|im_start|>assistant\n";
            return out;
        case ChatFormat::Llama2: {
            // A leading system message goes inside the first [INST] between <<SYS>> markers.
            const bool has_system = messages[0].role == "system";
            // The template puts the system message inside the first user turn: alone it would vanish.
            if (has_system && messages.size() == 1)
                throw Error(source_ + ": chat_template: a Llama 2 system message needs a user message after it");
            require_alternating(messages, has_system ? 1 : 0, source_);
            for (size_t i = has_system ? 1 : 0; i < messages.size(); ++i) {
                std::string content = messages[i].content;
                if (has_system && i == 1) content = "<<SYS>>\n" + messages[0].content + "\n<</SYS>>\n\n" + content;
                if (messages[i].role == "user") out += bos_ + "[INST] " + strip(content) + " [/INST]";
                else out.append(" ").append(strip(content)).append(" ").append(eos_);
            }
            return out;
        }
        case ChatFormat::Mistral: {
            if (messages[0].role == "system")
                throw Error(source_ + ": chat_template: this Mistral template has no system role (only user and assistant)");
            require_alternating(messages, 0, source_);
            // The variants differ in spaces around the turns; read them off the text.
            const bool space_after_eos = contains(text_, "eos_token + ' '");
            const std::string inst = contains(text_, "' [INST] '") ? " [INST] " : "[INST] ";
            const std::string reply_prefix = contains(text_, "' ' + message['content'] + eos_token") ? " " : "";
            out = bos_;
            for (const ChatMessage& m : messages) {
                if (m.role == "user") out += inst + m.content + " [/INST]";
                else out += reply_prefix + m.content + eos_ + (space_after_eos ? " " : "");
            }
            return out;
        }
    }
    return out;
}

}  // namespace gaze
