// Writes the viewer page of a long causal input, encoded row by row through
// views::PageRecorder from attention shaped like a trained model's (running a
// TinyLlama-sized model over 2,048 tokens would take minutes, and the page
// only depends on the shape and the rows):
//   gaze_long_view OUT.html [tokens [layers [heads]]]     (default 2048 22 32)
// Head h of every layer: h % 4 == 0 a sink on token 0, 1 the previous token,
// 2 a local window of 8 tokens, 3 diffuse; every row with some noise.
// Tokens are SentencePiece pieces, with byte-fallback newlines ("<0x0A>") and
// a hostile "<script>" piece.
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <iostream>
#include <numeric>
#include <string>
#include <vector>

#include "gaze/views.hpp"

namespace {

// A cheap reproducible noise in [0, 1).
float noise(uint64_t x) {
    x ^= x >> 33;
    x *= 0xff51afd7ed558ccdULL;
    x ^= x >> 33;
    x *= 0xc4ceb9fe1a85ec53ULL;
    x ^= x >> 33;
    return static_cast<float>(x >> 40) / static_cast<float>(1 << 24);
}

void fill_row(float* row, int64_t i, int64_t keys, int64_t layer, int64_t head) {
    double sum = 0;
    for (int64_t j = 0; j < keys; ++j) {
        if (j > i) {
            row[j] = 0;
            continue;
        }
        // Noise of total mass ~0.25 whatever the row's length.
        double w = 0.5 / static_cast<double>(i + 1) * noise(static_cast<uint64_t>(((layer * 64 + head) * 4096 + i) * 4096 + j));
        switch (head % 4) {
            case 0: w += j == 0 ? 20.0 : 0.0; break;
            case 1: w += j == i - 1 ? 6.0 : 0.0; break;
            case 2: w += i - j < 8 ? 0.5 : 0.0; break;
            default: break;
        }
        row[j] = static_cast<float>(w);
        sum += w;
    }
    for (int64_t j = 0; j <= i && j < keys; ++j) row[j] = static_cast<float>(row[j] / sum);
}

}  // namespace

int main(int argc, char** argv) {
    if (argc < 2) {
        std::cerr << "usage: gaze_long_view OUT.html [tokens [layers [heads]]]\n";
        return 2;
    }
    const int64_t n = argc > 2 ? std::atoll(argv[2]) : 2048;
    const int layers = argc > 3 ? std::atoi(argv[3]) : 22;
    const int heads = argc > 4 ? std::atoi(argv[4]) : 32;
    if (n < 2 || layers < 1 || heads < 1) {
        std::cerr << "gaze_long_view: tokens >= 2, layers >= 1 and heads >= 1\n";
        return 2;
    }
    // SentencePiece's word mark U+2581 as its own literal: "\x81a" or "\x81f"
    // would read on as one out-of-range hex escape.
    const std::string mark = "\xE2\x96\x81";
    const std::vector<std::string> words = {mark + "Once", mark + "upon", mark + "a", mark + "time", ",",
                                            mark + "the", mark + "quick", mark + "fox", "<0x0A>",
                                            mark + "<script>alert(1)</script>", mark + "ran", "."};
    gaze::Tokens tokens = gaze::Tokens::from_ids(std::vector<int32_t>(static_cast<size_t>(n), 0));
    tokens.text.clear();  // from_ids may name tokens by their ids
    tokens.special.clear();
    tokens.text.push_back("<s>");
    tokens.special.push_back(1);
    for (int64_t i = 1; i < n; ++i) {
        tokens.text.push_back(words[static_cast<size_t>(i - 1) % words.size()]);
        tokens.special.push_back(0);
    }
    gaze::views::PageRecorder recorder;
    recorder.on_forward_begin({"llama", 0, layers, heads, &tokens});
    std::vector<int> head_list(static_cast<size_t>(heads));
    std::iota(head_list.begin(), head_list.end(), 0);
    const int64_t block = 64;  // query rows per event, as the tiled attention sends them
    gaze::Tensor p;
    for (int layer = 0; layer < layers; ++layer) {
        for (int64_t first = 0; first < n; first += block) {
            const int64_t rows = std::min(block, n - first);
            p.resize({1, heads, rows, n});
            std::vector<int64_t> positions(static_cast<size_t>(rows));
            std::iota(positions.begin(), positions.end(), first);
#pragma omp parallel for collapse(2)
            for (int h = 0; h < heads; ++h)
                for (int64_t r = 0; r < rows; ++r) fill_row(p.ptr({0, h, r, 0}), first + r, n, layer, h);
            const gaze::AttentionSite site{gaze::Stack::decoder, gaze::AttentionKind::causal_self, layer, heads};
            recorder.on_attention(gaze::AttentionEvent{site, -1, p, head_list, positions, tokens, tokens});
        }
    }
    recorder.on_forward_end();
    gaze::views::PageOptions options;
    options.title = "gaze: long view (" + std::to_string(n) + " tokens, " + std::to_string(layers) + " layers x " +
                    std::to_string(heads) + " heads)";
    options.model = "synthetic attention, TinyLlama-shaped";
    const std::string html = gaze::views::render_page(recorder.page_data_json(options), options);
    gaze::views::write_text_file(argv[1], html);
    std::printf("%s: %.1f MB, %lld tokens, %d layers x %d heads\n", argv[1], static_cast<double>(html.size()) / 1e6,
                static_cast<long long>(n), layers, heads);
    return 0;
}
