#pragma once
// Chat prompts: the messages of a conversation formatted the way a model's
// tokenizer_config.json "chat_template" (a Jinja template) formats them.
// gaze has no Jinja engine; it recognises the template families in common use
// from their text and writes their output itself:
//   Llama 2   "[INST]" with "<<SYS>>":  <s>[INST] <<SYS>>\n{system}\n<</SYS>>\n\n{user} [/INST] {reply} </s>...
//   Llama 3   header tokens:            <|begin_of_text|><|start_header_id|>{role}<|end_header_id|>\n\n{content}<|eot_id|>...
//   ChatML    Qwen2/2.5, SmolLM2:       <|im_start|>{role}\n{content}<|im_end|>\n...  (with the template's default system)
//   Mistral   "[INST]" without <<SYS>>: <s>[INST] {user} [/INST]{reply}</s> ...
// Any other template (or a Llama 3.1 one, with its dated system header) is a
// gaze::Error that quotes it. The result is text: encode it with
// add_special_tokens = false, since the template already holds BOS.
#include <string>
#include <vector>

namespace gaze {

struct ChatMessage {
    std::string role;  // "system", "user" or "assistant"
    std::string content;
};

enum class ChatFormat { Llama2, Llama3, ChatML, Mistral };

class ChatTemplate {
public:
    // Recognises `template_text`; `source` names where it came from in errors.
    ChatTemplate(std::string template_text, std::string bos_token, std::string eos_token, std::string source);
    // The chat_template of `dir`/tokenizer_config.json (a string, or a list of
    // {"name", "template"} where "default" is used).
    static ChatTemplate from_config(const std::string& dir);

    // Throws gaze::Error for a conversation the template refuses (roles that do
    // not alternate user/assistant, a system message Mistral has no place for).
    std::string apply(const std::vector<ChatMessage>& messages, bool add_generation_prompt = true) const;

    ChatFormat format() const { return format_; }
    const char* name() const;
    // The token that ends a reply ("<|eot_id|>", "<|im_end|>", "</s>"): where generation stops.
    std::string end_of_turn() const;

private:
    std::string text_, bos_, eos_, source_;
    ChatFormat format_ = ChatFormat::ChatML;
    std::string default_system_;       // ChatML: the system message the template adds when none is given
    bool generation_prompt_optional_ = false;  // the template tests add_generation_prompt
};

}  // namespace gaze
