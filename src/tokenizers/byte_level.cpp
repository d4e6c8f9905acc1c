// Shared byte-level BPE pieces; see byte_level.hpp.
#include "byte_level.hpp"

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>
#include <utf8proc.h>

#include <algorithm>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "gaze/error.hpp"

namespace gaze::detail {

std::string utf8_of(int32_t code_point) {
    utf8proc_uint8_t buf[4];
    const auto n = utf8proc_encode_char(code_point, buf);
    return {reinterpret_cast<const char*>(buf), static_cast<size_t>(n)};
}

ByteAlphabet::ByteAlphabet() {
    byte_of.fill(-1);
    int next = 256;
    for (int b = 0; b < 256; ++b) {
        const bool printable = (b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF);
        const int cp = printable ? b : next++;
        spelling[static_cast<size_t>(b)] = utf8_of(cp);
        byte_of[static_cast<size_t>(cp)] = b;
    }
}

const ByteAlphabet& byte_alphabet() {
    static const ByteAlphabet a;
    return a;
}

void append_byte_spelling(std::string_view bytes, std::string& out) {
    const auto& spelling = byte_alphabet().spelling;
    for (unsigned char b : bytes) out += spelling[b];
}

bool append_spelled_bytes(std::string_view token, std::string& out) {
    const size_t start = out.size();
    size_t pos = 0;
    while (pos < token.size()) {
        utf8proc_int32_t cp = -1;
        const auto n = utf8proc_iterate(reinterpret_cast<const utf8proc_uint8_t*>(token.data() + pos),
                                        static_cast<utf8proc_ssize_t>(token.size() - pos), &cp);
        const int byte = n > 0 && cp >= 0 && cp < 512 ? byte_alphabet().byte_of[static_cast<size_t>(cp)] : -1;
        if (byte < 0) {
            out.resize(start);
            return false;
        }
        out += static_cast<char>(byte);
        pos += static_cast<size_t>(n);
    }
    return true;
}

std::string replace_invalid_utf8(std::string_view s) {
    static const std::string kReplacement = "\xEF\xBF\xBD";
    std::string out;
    size_t i = 0;
    while (i < s.size()) {
        const auto b = static_cast<unsigned char>(s[i]);
        if (b < 0x80) {
            out += static_cast<char>(b);
            ++i;
            continue;
        }
        // Length and the allowed range of the second byte (Unicode table 3-7).
        int len = 0;
        unsigned char lo = 0x80, hi = 0xBF;
        if (b >= 0xC2 && b <= 0xDF) len = 2;
        else if (b == 0xE0) len = 3, lo = 0xA0;
        else if ((b >= 0xE1 && b <= 0xEC) || b == 0xEE || b == 0xEF) len = 3;
        else if (b == 0xED) len = 3, hi = 0x9F;
        else if (b == 0xF0) len = 4, lo = 0x90;
        else if (b >= 0xF1 && b <= 0xF3) len = 4;
        else if (b == 0xF4) len = 4, hi = 0x8F;
        size_t j = i + 1;
        for (int k = 1; k < len && j < s.size(); ++k, ++j) {
            const auto c = static_cast<unsigned char>(s[j]);
            if (c < (k == 1 ? lo : 0x80) || c > (k == 1 ? hi : 0xBF)) break;
        }
        if (len > 0 && j - i == static_cast<size_t>(len)) {
            out.append(s.substr(i, j - i));
        } else {
            out += kReplacement;
        }
        i = j;
    }
    return out;
}

std::string read_text_file(const std::string& path, const char* what) {
    std::ifstream in(path, std::ios::binary);
    if (!in) throw Error(path + ": cannot open " + what);
    std::stringstream buffer;
    buffer << in.rdbuf();
    if (in.bad()) throw Error(path + ": cannot read " + what);
    return buffer.str();
}

std::vector<std::string> read_vocab_json(const std::string& path) {
    nlohmann::json json;
    try {
        json = nlohmann::json::parse(read_text_file(path, "vocabulary"));
    } catch (const nlohmann::json::exception& e) {
        throw Error(path + ": invalid JSON (" + e.what() + ")");
    }
    if (!json.is_object() || json.empty()) throw Error(path + ": expected a non-empty JSON object {\"token\": id}");
    std::vector<std::string> tokens(json.size());
    std::vector<bool> seen(json.size());
    for (const auto& [token, id] : json.items()) {
        if (!id.is_number_integer() || id.get<int64_t>() < 0 || id.get<int64_t>() >= static_cast<int64_t>(json.size())) {
            throw Error(path + ": token \"" + token + "\" has id " + id.dump() + ", expected an integer in [0, " +
                        std::to_string(json.size()) + ")");
        }
        const auto i = id.get<size_t>();
        if (seen[i]) throw Error(path + ": id " + std::to_string(i) + " is given to two tokens");
        seen[i] = true;
        tokens[i] = token;
    }
    return tokens;
}

std::vector<std::pair<std::string, std::string>> read_merges(const std::string& path) {
    std::istringstream in(read_text_file(path, "merges file"));
    std::vector<std::pair<std::string, std::string>> merges;
    std::string line;
    size_t blank_run_start = 0;  // a blank line is only an error if a merge follows it
    for (size_t number = 1; std::getline(in, line); ++number) {
        if (!line.empty() && line.back() == '\r') line.pop_back();
        if (number == 1 && line.rfind("#version", 0) == 0) continue;
        if (line.find_first_not_of(" \t") == std::string::npos) {
            if (!blank_run_start) blank_run_start = number;
            continue;
        }
        std::istringstream fields(line);
        std::string left, right, extra;
        if (blank_run_start || !(fields >> left >> right) || (fields >> extra)) {
            const size_t bad = blank_run_start ? blank_run_start : number;
            throw Error(path + ":" + std::to_string(bad) + ": expected a merge \"left right\", got \"" +
                        (blank_run_start ? std::string() : line) + "\"");
        }
        merges.emplace_back(std::move(left), std::move(right));
    }
    return merges;
}

// ---- Regex ------------------------------------------------------------------------

Regex::Regex(std::string_view pattern, const std::string& where) : where_(where) {
    int error = 0;
    PCRE2_SIZE offset = 0;
    pcre2_code* code = pcre2_compile(reinterpret_cast<PCRE2_SPTR>(pattern.data()), pattern.size(),
                                     PCRE2_UTF | PCRE2_UCP, &error, &offset, nullptr);
    if (!code) {
        PCRE2_UCHAR message[256];
        pcre2_get_error_message(error, message, sizeof message);
        throw Error(where + ": invalid regex \"" + std::string(pattern) + "\" (PCRE2: " +
                    reinterpret_cast<const char*>(message) + " at offset " + std::to_string(offset) + ")");
    }
    pcre2_jit_compile(code, PCRE2_JIT_COMPLETE);  // the interpreter is the fallback if JIT is unavailable
    code_ = code;
}

Regex::~Regex() { pcre2_code_free(static_cast<pcre2_code*>(code_)); }

Regex::Matcher::Matcher(const Regex& re, std::string_view text)
    : re_(re), text_(text),
      match_data_(pcre2_match_data_create_from_pattern(static_cast<pcre2_code*>(re.code_), nullptr)) {
    if (!match_data_) throw Error(re.where_ + ": out of memory for regex match data");
}

Regex::Matcher::~Matcher() { pcre2_match_data_free(static_cast<pcre2_match_data*>(match_data_)); }

bool Regex::Matcher::next(size_t& begin, size_t& end) {
    auto* md = static_cast<pcre2_match_data*>(match_data_);
    const auto* subject = reinterpret_cast<PCRE2_SPTR>(text_.data());
    while (pos_ < text_.size()) {
        const int rc = pcre2_match(static_cast<pcre2_code*>(re_.code_), subject, text_.size(), pos_,
                                   PCRE2_NO_UTF_CHECK, md, nullptr);
        if (rc == PCRE2_ERROR_NOMATCH) return false;
        if (rc < 0) {
            PCRE2_UCHAR message[256];
            pcre2_get_error_message(rc, message, sizeof message);
            throw Error(re_.where_ + ": regex match failed (PCRE2: " + reinterpret_cast<const char*>(message) + ")");
        }
        const PCRE2_SIZE* ov = pcre2_get_ovector_pointer(md);
        if (ov[1] <= ov[0] || ov[0] < pos_) {  // an empty match (or \K trickery): step over one character
            const size_t at = std::max<size_t>(ov[0], pos_);
            if (at >= text_.size()) return false;
            pos_ = std::min(text_.size(), at + utf8_length(static_cast<unsigned char>(text_[at])));
            continue;
        }
        begin = ov[0];
        end = ov[1];
        pos_ = end;
        return true;
    }
    return false;
}

}  // namespace gaze::detail
