#pragma once
// UTF-8 validation shared by every tokenizer (internal).
#include <utf8proc.h>

#include <cstdio>
#include <string>
#include <string_view>

#include "gaze/error.hpp"

namespace gaze::detail {

// Byte offset of the first byte that does not start a valid UTF-8 sequence, or
// npos (utf8proc also rejects overlong forms, surrogates and code points past
// U+10FFFF).
inline size_t find_invalid_utf8(std::string_view text) {
    size_t pos = 0;
    while (pos < text.size()) {
        if (static_cast<unsigned char>(text[pos]) < 0x80) {
            ++pos;
            continue;
        }
        utf8proc_int32_t cp = 0;
        const utf8proc_ssize_t n = utf8proc_iterate(reinterpret_cast<const utf8proc_uint8_t*>(text.data() + pos),
                                                    static_cast<utf8proc_ssize_t>(text.size() - pos), &cp);
        if (n < 0) return pos;
        pos += static_cast<size_t>(n);
    }
    return std::string_view::npos;
}

// Throws gaze::Error naming `what`, the bad byte and its offset unless `text`
// is valid UTF-8.
inline void require_utf8(std::string_view text, const std::string& what) {
    const size_t bad = find_invalid_utf8(text);
    if (bad == std::string_view::npos) return;
    char byte[8];
    std::snprintf(byte, sizeof byte, "0x%02x", static_cast<unsigned>(static_cast<unsigned char>(text[bad])));
    throw Error(what + " is not valid UTF-8 (bad byte " + byte + " at byte offset " + std::to_string(bad) + ")");
}

}  // namespace gaze::detail
