// Chat templates: the prompt strings each recognised family writes, checked
// against strings written by hand from the template texts (the real
// tokenizer_config.json files in ../shared/tokenizers, and the published
// Llama 2 / Mistral / SmolLM2 templates quoted below), and the errors.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <unistd.h>

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
    // Alone, the system message has no user turn to go into: refused, not dropped (found by fuzz_chat_template).
    EXPECT_THROW(t.apply({{"system", "Be brief."}}), Error);
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
}

TEST(ChatTemplate, Llama3Config) {
    GAZE_REQUIRE_FIXTURE(dir, "tokenizers/llama3");
    const ChatTemplate t = ChatTemplate::from_config(dir);
    EXPECT_EQ(t.format(), ChatFormat::Llama3);
    EXPECT_EQ(t.apply({{"system", "Be kind."}, {"user", "  Hi\n"}}),
              "<|begin_of_text|><|start_header_id|>system<|end_header_id|>\n\nBe kind.<|eot_id|>"
              "<|start_header_id|>user<|end_header_id|>\n\nHi<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n\n");
    EXPECT_EQ(t.end_of_turn(), "<|eot_id|>");
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

// Found while writing fuzz_chat_template (a hand-made input to it): a list
// entry whose "name" is not a string threw nlohmann's type_error out of
// from_config instead of a gaze::Error.
TEST(ChatTemplate, MalformedTemplateListInConfigIsAnError) {
    const std::filesystem::path dir = std::filesystem::temp_directory_path() / ("gaze-chat-list-" + std::to_string(::getpid()));
    std::filesystem::create_directories(dir);
    for (const char* list : {R"([{"name": 1, "template": "x"}])", R"([{"name": "default", "template": 2}])", R"(["default"])"}) {
        std::ofstream(dir / "tokenizer_config.json") << R"({"chat_template": )" << list << "}";
        try {
            ChatTemplate::from_config(dir.string());
            ADD_FAILURE() << list << " was accepted";
        } catch (const Error& e) {
            EXPECT_NE(std::string(e.what()).find("no template named \"default\""), std::string::npos) << e.what();
        }
    }
    std::filesystem::remove_all(dir);
}

// A folder with a byte-level tokenizer.json of the 256 bytes plus the ChatML
// markers, and SmolLM2's template: small enough for a random GPT to load fast.
struct ChatFolder {
    std::filesystem::path path = std::filesystem::temp_directory_path() / ("gaze-chat-" + std::to_string(::getpid()));
    ChatFolder() {
        nlohmann::json vocab = nlohmann::json::object();
        int id = 0;
        // GPT-2's bytes-to-unicode: printable bytes spell themselves, the rest U+0100...
        for (int b = 0, next = 256; b < 256; ++b) {
            const bool printable = (b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF);
            const int cp = printable ? b : next++;
            std::string utf8;
            if (cp < 0x80) utf8 = std::string(1, static_cast<char>(cp));
            else utf8 = {static_cast<char>(0xC0 | (cp >> 6)), static_cast<char>(0x80 | (cp & 0x3F))};
            vocab[utf8] = id++;
        }
        const nlohmann::json tokenizer = {
            {"added_tokens", nlohmann::json::array({{{"id", 256}, {"content", "<|im_start|>"}, {"special", true}},
                                                    {{"id", 257}, {"content", "<|im_end|>"}, {"special", true}}})},
            {"pre_tokenizer", {{"type", "ByteLevel"}, {"add_prefix_space", false}}},
            {"decoder", {{"type", "ByteLevel"}}},
            {"model", {{"type", "BPE"}, {"vocab", vocab}, {"merges", nlohmann::json::array()}}}};
        std::filesystem::create_directories(path);
        std::ofstream(path / "tokenizer.json") << tokenizer.dump();
        std::ofstream(path / "tokenizer_config.json")
            << nlohmann::json{{"chat_template", kSmolLM2Template}, {"eos_token", "<|im_end|>"}}.dump();
    }
    ~ChatFolder() { std::filesystem::remove_all(path); }
};

TEST(ChatTemplate, GenerateChatUsesTheTemplate) {
    const ChatFolder folder;
    const std::string base = test::cli_path() + " generate --random-gpt width=16,heads=2,layers=1 --tokenizer " +
                             test::shell_quote(folder.path.string()) + " --max-new-tokens 1 --chat " +
                             test::shell_quote("Hi there");
    std::string out;
    ASSERT_EQ(test::run_command(base + " --system " + test::shell_quote("Terse."), &out), 0) << out;
    EXPECT_NE(out.find("<|im_start|>system\nTerse.<|im_end|>\n<|im_start|>user\nHi there<|im_end|>\n<|im_start|>assistant\n"),
              std::string::npos)
        << out;
    ASSERT_EQ(test::run_command(base, &out), 0) << out;  // the template's own system message
    EXPECT_NE(out.find("<|im_start|>system\nYou are a helpful AI assistant named SmolLM"), std::string::npos) << out;
    ASSERT_EQ(test::run_command(base + " --raw", &out), 0) << out;
    EXPECT_EQ(out.find("<|im_start|>"), std::string::npos) << out;
    EXPECT_NE(out.find("Hi there"), std::string::npos) << out;
    EXPECT_NE(test::run_command(base + " --raw --system x", &out), 0);
}

}  // namespace
}  // namespace gaze
