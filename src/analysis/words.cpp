// Sub-word pieces -> words, and word-level attention.
#include <cctype>
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
