#include "gaze/tokens.hpp"

#include <algorithm>
#include <cstdio>

#include "gaze/error.hpp"

namespace gaze {

Tokens Tokens::from_encodings(const std::vector<Encoding>& seqs, int32_t pad_id, const std::string& pad_text) {
    Tokens t;
    t.batch = static_cast<int64_t>(seqs.size());
    for (const auto& s : seqs) t.length = std::max<int64_t>(t.length, static_cast<int64_t>(s.ids.size()));
    const size_t n = static_cast<size_t>(t.batch * t.length);
    t.ids.assign(n, pad_id);
    t.type_ids.assign(n, 0);
    t.mask.assign(n, 0);
    t.text.assign(n, pad_text);
    t.special.assign(n, 1);
    for (size_t b = 0; b < seqs.size(); ++b) {
        const auto& s = seqs[b];
        if (!s.tokens.empty() && s.tokens.size() != s.ids.size()) throw Error("encoding: tokens and ids differ in length");
        for (size_t i = 0; i < s.ids.size(); ++i) {
            const size_t k = b * static_cast<size_t>(t.length) + i;
            t.ids[k] = s.ids[i];
            t.type_ids[k] = s.type_ids.empty() ? 0 : s.type_ids[i];
            t.mask[k] = 1;
            t.text[k] = s.tokens.empty() ? std::to_string(s.ids[i]) : s.tokens[i];
            t.special[k] = s.special.empty() ? 0 : s.special[i];
        }
    }
    return t;
}

Tokens Tokens::from_ids(const std::vector<int32_t>& ids) {
    Encoding e;
    e.ids = ids;
    return from_encodings({e}, 0);
}

int64_t Tokens::valid_length(int64_t b) const {
    if (mask.empty()) return length;
    int64_t n = 0;
    for (int64_t i = 0; i < length; ++i) n += valid(b, i) ? 1 : 0;
    return n;
}

void Tokens::append(const std::vector<int32_t>& next_ids, const std::vector<std::string>& next_text) {
    if (static_cast<int64_t>(next_ids.size()) != batch) throw Error("append: one id per sequence expected");
    auto grow = [&](auto& v, auto fill_of) {
        if (v.empty()) return;
        std::remove_reference_t<decltype(v)> out;
        out.reserve(static_cast<size_t>(batch * (length + 1)));
        for (int64_t b = 0; b < batch; ++b) {
            out.insert(out.end(), v.begin() + b * length, v.begin() + (b + 1) * length);
            out.push_back(fill_of(b));
        }
        v = std::move(out);
    };
    grow(ids, [&](int64_t b) { return next_ids[static_cast<size_t>(b)]; });
    grow(type_ids, [](int64_t) { return int32_t{0}; });
    grow(mask, [](int64_t) { return uint8_t{1}; });
    grow(text, [&](int64_t b) {
        return next_text.empty() ? std::to_string(next_ids[static_cast<size_t>(b)]) : next_text[static_cast<size_t>(b)];
    });
    grow(special, [](int64_t) { return uint8_t{0}; });
    ++length;
}

namespace {
// Appends `more` (per-token values of `more_size` tokens) to `values` (of
// `size` tokens); an empty side stands for all zeros, and both stay empty
// when both are.
template <typename T>
void append_per_token(std::vector<T>& values, size_t size, const std::vector<T>& more, size_t more_size) {
    if (values.empty() && more.empty()) return;
    values.resize(size, T{0});
    if (more.empty()) {
        values.resize(size + more_size, T{0});
    } else {
        values.insert(values.end(), more.begin(), more.end());
    }
}
}  // namespace

void Encoding::append(const Encoding& other) {
    append_per_token(type_ids, ids.size(), other.type_ids, other.ids.size());
    append_per_token(special, ids.size(), other.special, other.ids.size());
    ids.insert(ids.end(), other.ids.begin(), other.ids.end());
    tokens.insert(tokens.end(), other.tokens.begin(), other.tokens.end());
}

std::string printable_token(std::string_view token) {
    std::string out;
    for (unsigned char c : token) {
        if (c < 0x20 || c == 0x7f) {
            char buf[8];
            std::snprintf(buf, sizeof buf, "\\x%02x", c);
            out += buf;
        } else {
            out += static_cast<char>(c);
        }
    }
    return out;
}

}  // namespace gaze
