// Sub-word pieces -> words, and word-level attention.
#include <utf8proc.h>

#include <algorithm>
#include <cctype>
#include <cstdio>
#include <optional>
#include <string>

#include "gaze/analysis.hpp"
#include "gaze/error.hpp"

namespace gaze {
namespace {

constexpr std::string_view kSpaceMarker = "\xC4\xA0";      // "Ġ": GPT-2's byte-level space
constexpr std::string_view kNewlineMarker = "\xC4\x8A";    // "Ċ": GPT-2's byte-level newline
constexpr std::string_view kSentencePiece = "\xE2\x96\x81";  // "▁": SentencePiece's space

bool starts_with(std::string_view s, std::string_view prefix) { return s.substr(0, prefix.size()) == prefix; }

std::string_view strip_marker(std::string_view p) {
    if (starts_with(p, "##") && p.size() > 2) return p.substr(2);
    for (auto m : {kSpaceMarker, kNewlineMarker, kSentencePiece}) {
        while (starts_with(p, m)) p.remove_prefix(m.size());
    }
    return p;
}

}  // namespace

bool is_punctuation(std::string_view piece) {
    piece = strip_marker(piece);
    if (piece.empty()) return false;
    static const std::string_view unicode_marks[] = {"\xE2\x80\xA6", "\xE2\x80\x9C", "\xE2\x80\x9D", "\xE2\x80\x98",
                                                     "\xE2\x80\x99", "\xE2\x80\x93", "\xE2\x80\x94", "\xC2\xAB",
                                                     "\xC2\xBB", "\xC2\xBF", "\xC2\xA1"};
    size_t i = 0;
    while (i < piece.size()) {
        const auto c = static_cast<unsigned char>(piece[i]);
        if (c < 0x80) {
            if (!std::ispunct(c)) return false;
            ++i;
            continue;
        }
        bool matched = false;
        for (auto m : unicode_marks) {
            if (piece.substr(i, m.size()) == m) {
                i += m.size();
                matched = true;
                break;
            }
        }
        if (!matched) return false;
    }
    return true;
}

std::string normalize_word(std::string_view word) {
    std::string out;
    for (char c : strip_marker(word)) out += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    // A typed word may carry stray spaces.
    const auto first = out.find_first_not_of(' ');
    if (first == std::string::npos) return {};
    return out.substr(first, out.find_last_not_of(' ') - first + 1);
}

PieceStyle detect_piece_style(const std::vector<std::string>& pieces) {
    bool space = false, sentencepiece = false;
    for (const auto& p : pieces) {
        if (p.size() > 2 && starts_with(p, "##")) return PieceStyle::wordpiece;
        space = space || starts_with(p, kSpaceMarker);
        sentencepiece = sentencepiece || starts_with(p, kSentencePiece);
    }
    if (space) return PieceStyle::byte_bpe;
    if (sentencepiece) return PieceStyle::sentencepiece;
    return PieceStyle::none;
}

std::vector<WordSpan> group_words(const std::vector<std::string>& pieces, const std::vector<uint8_t>& special,
                                  PieceStyle style) {
    if (style == PieceStyle::automatic) style = detect_piece_style(pieces);
    std::vector<WordSpan> words;
    bool previous_closed = true;  // the previous piece ends a word (special, punctuation)
    for (size_t i = 0; i < pieces.size(); ++i) {
        const std::string& p = pieces[i];
        const bool sp = i < special.size() && special[i] != 0;
        const bool punct = !sp && is_punctuation(p);
        bool starts = previous_closed || sp || words.empty();
        switch (style) {
            case PieceStyle::wordpiece:
                // "##" continues the word before it, whatever that was (not a special token).
                starts = sp || words.empty() || words.back().special || !(starts_with(p, "##") && p.size() > 2);
                break;
            case PieceStyle::byte_bpe:
                starts = starts || punct || starts_with(p, kSpaceMarker) || starts_with(p, kNewlineMarker);
                break;
            case PieceStyle::sentencepiece: starts = starts || punct || starts_with(p, kSentencePiece); break;
            case PieceStyle::none:
            case PieceStyle::automatic: starts = true; break;
        }
        const std::string_view text = sp ? std::string_view(p) : strip_marker(p);
        if (starts) {
            words.push_back({std::string(text), static_cast<int64_t>(i), static_cast<int64_t>(i), sp});
        } else {
            words.back().text += text;
            words.back().last = static_cast<int64_t>(i);
        }
        previous_closed = sp || (punct && style != PieceStyle::wordpiece);
    }
    return words;
}

Tensor merge_word_attention(const Tensor& m, const std::vector<WordSpan>& query_words,
                            const std::vector<WordSpan>& key_words) {
    if (m.rank() != 2) throw Error("merge_word_attention: expected a [queries, keys] matrix, got " + m.shape().str());
    const auto nq = static_cast<int64_t>(query_words.size()), nk = static_cast<int64_t>(key_words.size());
    Tensor out({nq, nk});
    for (int64_t a = 0; a < nq; ++a) {
        const WordSpan& q = query_words[static_cast<size_t>(a)];
        if (q.first < 0 || q.last >= m.dim(0) || q.last < q.first) throw Error("merge_word_attention: bad query word");
        const double pieces = static_cast<double>(q.last - q.first + 1);
        for (int64_t c = 0; c < nk; ++c) {
            const WordSpan& k = key_words[static_cast<size_t>(c)];
            if (k.first < 0 || k.last >= m.dim(1) || k.last < k.first) throw Error("merge_word_attention: bad key word");
            double sum = 0;
            for (int64_t i = q.first; i <= q.last; ++i) {
                for (int64_t j = k.first; j <= k.last; ++j) sum += m.at({i, j});
            }
            out.at({a, c}) = static_cast<float>(sum / pieces);
        }
    }
    return out;
}

}  // namespace gaze

namespace gaze {
namespace {

// GPT-2's byte-level alphabet (bytes_to_unicode): printable Latin-1 bytes
// stand for themselves, the other 68 bytes for U+0100.. in ascending order.
bool printable_latin1(uint32_t c) { return (c >= 33 && c <= 126) || (c >= 161 && c <= 172) || (c >= 174 && c <= 255); }

int byte_of_codepoint(uint32_t c) {
    if (c < 256) return printable_latin1(c) ? static_cast<int>(c) : -1;
    if (c >= 256 + 68) return -1;
    int n = static_cast<int>(c - 256);
    for (int b = 0; b < 256; ++b) {
        if (printable_latin1(static_cast<uint32_t>(b))) continue;
        if (n-- == 0) return b;
    }
    return -1;
}

// The codepoints of valid UTF-8 text; empty optional on invalid input.
std::optional<std::vector<uint32_t>> codepoints(std::string_view s) {
    std::vector<uint32_t> out;
    size_t i = 0;
    while (i < s.size()) {
        utf8proc_int32_t cp = 0;
        const auto n = utf8proc_iterate(reinterpret_cast<const utf8proc_uint8_t*>(s.data() + i),
                                        static_cast<utf8proc_ssize_t>(s.size() - i), &cp);
        if (n <= 0) return std::nullopt;
        out.push_back(static_cast<uint32_t>(cp));
        i += static_cast<size_t>(n);
    }
    return out;
}

// Raw bytes -> readable UTF-8: valid characters kept, newline/tab as arrows,
// other control bytes and bytes of broken sequences as "\xNN".
std::string readable_bytes(std::string_view bytes) {
    std::string out;
    size_t i = 0;
    auto hex = [&](unsigned char c) {
        char buf[8];
        std::snprintf(buf, sizeof buf, "\\x%02x", c);
        out += buf;
    };
    while (i < bytes.size()) {
        const auto c = static_cast<unsigned char>(bytes[i]);
        if (c == '\n') {
            out += "\xE2\x86\xB5";  // ↵
            ++i;
        } else if (c == '\t') {
            out += "\xE2\x87\xA5";  // ⇥
            ++i;
        } else if (c < 0x20 || c == 0x7f) {
            hex(c);
            ++i;
        } else if (c < 0x80) {
            out += static_cast<char>(c);
            ++i;
        } else {
            utf8proc_int32_t cp = 0;
            const auto n = utf8proc_iterate(reinterpret_cast<const utf8proc_uint8_t*>(bytes.data() + i),
                                            static_cast<utf8proc_ssize_t>(bytes.size() - i), &cp);
            if (n <= 0 || cp < 0xA0) {  // broken sequence, or a C1 control character
                hex(c);
                ++i;
            } else {
                out.append(bytes.substr(i, static_cast<size_t>(n)));
                i += static_cast<size_t>(n);
            }
        }
    }
    return out;
}

// The bytes a byte-level BPE piece stands for; empty optional when a
// character is outside the byte alphabet (then it is not such a piece).
std::optional<std::string> byte_level_bytes(std::string_view piece) {
    const auto cps = codepoints(piece);
    if (!cps) return std::nullopt;
    std::string bytes;
    for (uint32_t c : *cps) {
        const int b = byte_of_codepoint(c);
        if (b < 0) return std::nullopt;
        bytes += static_cast<char>(b);
    }
    return bytes;
}

// "<0x0A>" -> the byte 0x0A (SentencePiece byte fallback).
std::optional<char> fallback_byte(std::string_view piece) {
    if (piece.size() != 6 || piece.substr(0, 3) != "<0x" || piece[5] != '>') return std::nullopt;
    int v = 0;
    for (char c : piece.substr(3, 2)) {
        if (!std::isxdigit(static_cast<unsigned char>(c))) return std::nullopt;
        v = v * 16 + (std::isdigit(static_cast<unsigned char>(c)) ? c - '0' : std::tolower(c) - 'a' + 10);
    }
    return static_cast<char>(v);
}

std::string replace_all(std::string_view s, std::string_view from, std::string_view to) {
    std::string out;
    size_t start = 0;
    for (size_t at = s.find(from); at != std::string_view::npos; at = s.find(from, start)) {
        out.append(s.substr(start, at - start)).append(to);
        start = at + from.size();
    }
    return out.append(s.substr(start));
}

}  // namespace

std::vector<std::string> display_tokens(const std::vector<std::string>& pieces, const std::vector<uint8_t>& special,
                                        PieceStyle style) {
    if (style == PieceStyle::automatic) style = detect_piece_style(pieces);
    // GPT-2 text without a space still is byte-level when a piece holds one of
    // the stand-ins for bytes that are not printable (newline "Ċ", ...).
    bool byte_level = style == PieceStyle::byte_bpe;
    for (size_t i = 0; !byte_level && style == PieceStyle::none && i < pieces.size(); ++i) {
        const auto cps = codepoints(pieces[i]);
        byte_level = cps && std::any_of(cps->begin(), cps->end(), [](uint32_t c) { return c >= 256 && c < 256 + 68; }) &&
                     byte_level_bytes(pieces[i]).has_value();
    }
    std::vector<std::string> out;
    out.reserve(pieces.size());
    for (size_t i = 0; i < pieces.size(); ++i) {
        const std::string& p = pieces[i];
        const bool sp = i < special.size() && special[i] != 0;
        if (sp || style == PieceStyle::wordpiece) {
            out.push_back(readable_bytes(p));
            continue;
        }
        if (byte_level) {
            if (auto bytes = byte_level_bytes(p)) {
                out.push_back(readable_bytes(*bytes));
                continue;
            }
        }
        if (auto b = fallback_byte(p)) {
            // A lone byte of a multi-byte character says nothing as text: keep its name.
            out.push_back(static_cast<unsigned char>(*b) < 0x80 ? readable_bytes(std::string(1, *b)) : p);
            continue;
        }
        out.push_back(readable_bytes(replace_all(p, kSentencePiece, " ")));
    }
    return out;
}

}  // namespace gaze
