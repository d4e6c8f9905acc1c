// Chat templates: the prompt strings each recognised family writes, checked
// against strings written by hand from the template texts (the real
// tokenizer_config.json files in ../shared/tokenizers, and the published
// Llama 2 / Mistral / SmolLM2 templates quoted below), and the errors.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "gaze/chat_template.hpp"
#include "gaze/error.hpp"
#include "gaze/tokenizer.hpp"
#include "test_support.hpp"

namespace gaze {
namespace {

// meta-llama/Llama-2-7b-chat-hf's chat_template.
const char* kLlama2Template =
    R"({% if messages[0]['role'] == 'system' %}{% set loop_messages = messages[1:] %}{% set system_message = messages[0]['content'] %}{% else %}{% set loop_messages = messages %}{% set system_message = false %}{% endif %}{% for message in loop_messages %}{% if (message['role'] == 'user') != (loop.index0 % 2 == 0) %}{{ raise_exception('Conversation roles must alternate user/assistant/user/assistant/...') }}{% endif %}{% if loop.index0 == 0 and system_message != false %}{% set content = '<<SYS>>\n' + system_message + '\n<</SYS>>\n\n' + message['content'] %}{% else %}{% set content = message['content'] %}{% endif %}{% if message['role'] == 'user' %}{{ bos_token + '[INST] ' + content.strip() + ' [/INST]' }}{% elif message['role'] == 'assistant' %}{{ ' '  + content.strip() + ' ' + eos_token }}{% endif %}{% endfor %})";
// mistralai/Mistral-7B-Instruct-v0.1's chat_template.
const char* kMistralTemplate =
    R"({{ bos_token }}{% for message in messages %}{% if (message['role'] == 'user') != (loop.index0 % 2 == 0) %}{{ raise_exception('Conversation roles must alternate user/assistant/user/assistant/...') }}{% endif %}{% if message['role'] == 'user' %}{{ '[INST] ' + message['content'] + ' [/INST]' }}{% elif message['role'] == 'assistant' %}{{ message['content'] + eos_token + ' ' }}{% else %}{{ raise_exception('Only user and assistant roles are supported!') }}{% endif %}{% endfor %})";
// HuggingFaceTB/SmolLM2-135M-Instruct's chat_template (ChatML, real newlines).
const char* kSmolLM2Template =
    "{% for message in messages %}{% if loop.first and messages[0]['role'] != 'system' %}{{ '<|im_start|>system\n"
    "You are a helpful AI assistant named SmolLM, trained by Hugging Face<|im_end|>\n' }}{% endif %}{{'<|im_start|>' + "
    "message['role'] + '\n' + message['content'] + '<|im_end|>' + '\n'}}{% endfor %}{% if add_generation_prompt %}{{ "
    "'<|im_start|>assistant\n' }}{% endif %}";

TEST(ChatTemplate, Llama2WithAndWithoutSystem) {
    const ChatTemplate t(kLlama2Template, "<s>", "</s>", "llama2");
    EXPECT_EQ(t.format(), ChatFormat::Llama2);
    EXPECT_EQ(t.apply({{"user", "Hello"}}), "<s>[INST] Hello [/INST]");
    EXPECT_EQ(t.apply({{"system", "Be brief."}, {"user", " Hi there "}, {"assistant", " Hello! "}, {"user", "Bye"}}),
              // content.strip() trims the joined "<<SYS>>...\n\n" + content, not the user text inside it
              "<s>[INST] <<SYS>>\nBe brief.\n<</SYS>>\n\n Hi there [/INST] Hello! </s><s>[INST] Bye [/INST]");
    EXPECT_THROW(t.apply({{"user", "a"}, {"user", "b"}}), Error);
}

TEST(ChatTemplate, MistralInst) {
    const ChatTemplate t(kMistralTemplate, "<s>", "</s>", "mistral");
    EXPECT_EQ(t.format(), ChatFormat::Mistral);
    EXPECT_EQ(t.apply({{"user", "Hello"}, {"assistant", "Hi"}, {"user", "Again"}}),
              "<s>[INST] Hello [/INST]Hi</s> [INST] Again [/INST]");
    EXPECT_THROW(t.apply({{"system", "s"}, {"user", "u"}}), Error);  // raise_exception in the template
}

TEST(ChatTemplate, SmolLM2ChatML) {
    const ChatTemplate t(kSmolLM2Template, "", "<|im_end|>", "smollm2");
    EXPECT_EQ(t.format(), ChatFormat::ChatML);
    EXPECT_EQ(t.apply({{"user", "Hi"}}),
              "<|im_start|>system\nYou are a helpful AI assistant named SmolLM, trained by Hugging Face<|im_end|>\n"
              "<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n");
    EXPECT_EQ(t.apply({{"system", "S"}, {"user", "Hi"}}, false), "<|im_start|>system\nS<|im_end|>\n<|im_start|>user\nHi<|im_end|>\n");
    EXPECT_EQ(t.end_of_turn(), "<|im_end|>");
}

TEST(ChatTemplate, Qwen2AndQwen25Configs) {
    GAZE_REQUIRE_FIXTURE(qwen2, "tokenizers/qwen2");
    GAZE_REQUIRE_FIXTURE(qwen25, "tokenizers/qwen2.5");
    EXPECT_EQ(ChatTemplate::from_config(qwen2).apply({{"user", "Hi"}}),
              "<|im_start|>system\nYou are a helpful assistant<|im_end|>\n<|im_start|>user\nHi<|im_end|>\n"
              "<|im_start|>assistant\n");
    const ChatTemplate t = ChatTemplate::from_config(qwen25);
    EXPECT_EQ(t.apply({{"user", "Hi"}}),
              "<|im_start|>system\nYou are Qwen, created by Alibaba Cloud. You are a helpful assistant.<|im_end|>\n"
              "<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n");
    EXPECT_EQ(t.apply({{"system", "Terse."}, {"user", "Hi"}}),
              "<|im_start|>system\nTerse.<|im_end|>\n<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n");
    // The prompt tokenizes with the ChatML markers as single special tokens.
    const Encoding e = load_tokenizer(qwen25)->encode(t.apply({{"user", "Hi"}}), false);
    ASSERT_GE(e.ids.size(), 3u);
    EXPECT_EQ(e.ids.front(), 151644);  // <|im_start|>
    EXPECT_EQ(e.ids[e.ids.size() - 3], 151644);
}

TEST(ChatTemplate, Llama3Config) {
    GAZE_REQUIRE_FIXTURE(dir, "tokenizers/llama3");
    const ChatTemplate t = ChatTemplate::from_config(dir);
    EXPECT_EQ(t.format(), ChatFormat::Llama3);
    EXPECT_EQ(t.apply({{"system", "Be kind."}, {"user", "  Hi\n"}}),
              "<|begin_of_text|><|start_header_id|>system<|end_header_id|>\n\nBe kind.<|eot_id|>"
              "<|start_header_id|>user<|end_header_id|>\n\nHi<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n\n");
    EXPECT_EQ(t.end_of_turn(), "<|eot_id|>");
    const Encoding e = load_tokenizer(dir)->encode(t.apply({{"user", "Hi"}}), false);
    EXPECT_EQ(e.ids.front(), 128000);  // <|begin_of_text|>, once
    EXPECT_NE(e.ids[1], 128000);
}

TEST(ChatTemplate, UnknownOrMissingTemplateIsAnError) {
    GAZE_REQUIRE_FIXTURE(phi3, "tokenizers/phi-3-mini");
    GAZE_REQUIRE_FIXTURE(mistral, "tokenizers/mistral-7b");
    try {
        ChatTemplate::from_config(phi3);
        FAIL() << "Phi-3's <|user|> template is not a known family";
    } catch (const Error& e) {
        EXPECT_NE(std::string(e.what()).find("<|system|>"), std::string::npos) << e.what();  // quotes the template
        EXPECT_NE(std::string(e.what()).find("tokenizer_config.json"), std::string::npos) << e.what();
    }
    EXPECT_THROW(ChatTemplate::from_config(mistral), Error);  // a base model: no chat_template
    EXPECT_THROW(ChatTemplate("{{ messages }}", "", "", "x"), Error);
}

TEST(ChatTemplate, GenerateChatUsesTheTemplate) {
    GAZE_REQUIRE_FIXTURE(dir, "tokenizers/qwen2.5");
    const std::string base = test::cli_path() + " generate --random-gpt vocab=151665,width=16,heads=2,layers=1 --tokenizer " +
                             test::shell_quote(dir) + " --max-new-tokens 1 --chat " + test::shell_quote("Hi there");
    std::string out;
    ASSERT_EQ(test::run_command(base + " --system " + test::shell_quote("Terse."), &out), 0) << out;
    EXPECT_NE(out.find("<|im_start|>system\nTerse.<|im_end|>\n<|im_start|>user\nHi there<|im_end|>\n<|im_start|>assistant\n"),
              std::string::npos)
        << out;
    ASSERT_EQ(test::run_command(base + " --raw", &out), 0) << out;
    EXPECT_EQ(out.find("<|im_start|>"), std::string::npos) << out;
    EXPECT_NE(out.find("Hi there"), std::string::npos) << out;
    EXPECT_NE(test::run_command(base + " --raw --system x", &out), 0);
}

}  // namespace
}  // namespace gaze
