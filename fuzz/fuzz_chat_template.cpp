// libFuzzer target: chat templates (include/gaze/chat_template.hpp).
// The input is split at 0x1e (record separator) bytes into
//   template | message | message | ...
// The first record is a chat_template text, or, when it starts with '{' or
// '[', a whole tokenizer_config.json read by ChatTemplate::from_config. Each
// later record is one message: its first byte picks the role (system, user,
// assistant or another name), the rest is the content. The template renders
// that conversation (when there is one) and two fixed ones. Recognising or
// rendering may throw gaze::Error; anything else is a bug, and so is an
// output that breaks what every recognised family promises:
//   - each message's content (trimmed) is in the prompt,
//   - the prompt without the generation prompt is a prefix of the one with it,
//   - Llama 3 and ChatML prompts hold their end-of-turn token.
#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "fuzz_check.hpp"
#include "gaze/chat_template.hpp"
#include "gaze/error.hpp"

namespace {

namespace fs = std::filesystem;

const fs::path& scratch() {
    static const fs::path dir = [] {
        const fs::path d = fs::temp_directory_path() / ("gaze_fuzz_chat_template_" + std::to_string(::getpid()));
        fs::create_directories(d);
        return d;
    }();
    return dir;
}

std::optional<gaze::ChatTemplate> recognise(std::string_view record) {
    try {
        if (!record.empty() && (record[0] == '{' || record[0] == '[')) {
            std::ofstream(scratch() / "tokenizer_config.json", std::ios::binary | std::ios::trunc)
                .write(record.data(), static_cast<std::streamsize>(record.size()));
            return gaze::ChatTemplate::from_config(scratch().string());
        }
        return gaze::ChatTemplate(std::string(record), "<s>", "</s>", "fuzz/template");
    } catch (const gaze::Error&) {
        return std::nullopt;
    }
}

// Python's str.strip() of ASCII whitespace, as the templates trim contents.
std::string_view trimmed(std::string_view s) {
    const char* ws = " \t\n\r\f\v";
    const size_t b = s.find_first_not_of(ws);
    if (b == std::string_view::npos) return {};
    return s.substr(b, s.find_last_not_of(ws) - b + 1);
}

void render(const gaze::ChatTemplate& t, const std::vector<gaze::ChatMessage>& messages) {
    std::string with, without;
    try {
        with = t.apply(messages, true);
        without = t.apply(messages, false);
    } catch (const gaze::Error&) {
        return;  // a conversation this family refuses (roles, a system message)
    }
    FUZZ_CHECK(with.compare(0, without.size(), without) == 0);
    for (const gaze::ChatMessage& m : messages) FUZZ_CHECK(with.find(trimmed(m.content)) != std::string::npos);
    if (t.format() == gaze::ChatFormat::Llama3 || t.format() == gaze::ChatFormat::ChatML) {
        FUZZ_CHECK(with.find(t.end_of_turn()) != std::string::npos);
    }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    const std::string_view input(reinterpret_cast<const char*>(data), size);
    std::vector<std::string_view> records;
    for (size_t at = 0;;) {
        const size_t cut = input.find('\x1e', at);
        records.push_back(input.substr(at, cut == std::string_view::npos ? std::string_view::npos : cut - at));
        if (cut == std::string_view::npos) break;
        at = cut + 1;
    }
    const std::optional<gaze::ChatTemplate> t = recognise(records[0]);
    if (!t) return 0;
    FUZZ_CHECK(t->name() != nullptr);

    static const char* const kRoles[] = {"system", "user", "assistant", "tool"};
    std::vector<gaze::ChatMessage> messages;
    for (size_t i = 1; i < records.size(); ++i) {
        const std::string_view r = records[i];
        if (r.empty()) continue;
        messages.push_back({kRoles[static_cast<unsigned char>(r[0]) % 4], std::string(r.substr(1))});
    }
    if (messages.empty()) {  // nothing to format: refused with gaze::Error
        bool refused = false;
        try {
            (void)t->apply(messages);
        } catch (const gaze::Error&) {
            refused = true;
        }
        FUZZ_CHECK(refused);
    } else {
        render(*t, messages);
    }
    render(*t, {{"user", "Hi"}});
    render(*t, {{"system", " Be brief. "}, {"user", "a\n"}, {"assistant", " b"}, {"user", "c"}});
    return 0;
}
