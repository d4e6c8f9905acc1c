#pragma once
// The checks every tokenizer's encoding must pass (fuzz targets).
#include <cstdio>
#include <cstdlib>
#include <string>

#include "fuzz_check.hpp"
#include "gaze/error.hpp"
#include "gaze/tokenizer.hpp"

namespace gaze::fuzz {

// One id, token and special flag per position, every id inside the
// vocabulary, and decode() (with and without special tokens) gives text that
// encode() accepts again (no invalid UTF-8 out of a valid input).
inline void check_encoding(const Tokenizer& tok, const Encoding& e) {
    FUZZ_CHECK(e.tokens.size() == e.ids.size());
    FUZZ_CHECK(e.special.size() == e.ids.size());
    FUZZ_CHECK(e.type_ids.empty() || e.type_ids.size() == e.ids.size());
    for (int32_t id : e.ids) FUZZ_CHECK(id >= 0 && id < tok.vocab_size());
    for (bool skip : {false, true}) {
        const std::string text = tok.decode(e.ids, skip);
        try {
            (void)tok.encode(text, false);
        } catch (const Error& err) {
            std::fprintf(stderr, "fuzz: decode produced text that encode rejects: %s\n", err.what());
            std::abort();
        }
    }
}

}  // namespace gaze::fuzz
