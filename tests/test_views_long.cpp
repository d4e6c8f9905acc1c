// Views of long inputs: the page's compact probability layouts decode (with an
// independent decoder written from the documented layout) to within the error
// the page states, the streaming PageRecorder writes the same page data as the
// whole-tensor path, and tokens are shown readably.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <numeric>
#include <random>

#include "gaze/analysis.hpp"
#include "gaze/views.hpp"
#include "test_support.hpp"

namespace gaze::test {
namespace {

using nlohmann::json;

std::vector<uint8_t> unbase64(const std::string& s) {
    auto value = [](char c) -> int {
        if (c >= 'A' && c <= 'Z') return c - 'A';
        if (c >= 'a' && c <= 'z') return c - 'a' + 26;
        if (c >= '0' && c <= '9') return c - '0' + 52;
        return c == '+' ? 62 : c == '/' ? 63 : -1;
    };
    std::vector<uint8_t> out;
    uint32_t acc = 0;
    int bits = 0;
    for (char c : s) {
        const int v = value(c);
        if (v < 0) break;  // '=' padding
        acc = (acc << 6) | static_cast<uint32_t>(v);
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            out.push_back(static_cast<uint8_t>((acc >> bits) & 0xFF));
        }
    }
    return out;
}

// The page's block decoded as the layout in page_encoding.hpp says: [layers][heads][Q][K].
std::vector<float> decode_block(const json& b) {
    const std::vector<uint8_t> bytes = unbase64(b["data"]);
    const int64_t layers = b["layers"], heads = b["heads"];
    const auto valid_q = b["queries"]["valid"].get<std::vector<int>>();
    const auto valid_k = b["keys"]["valid"].get<std::vector<int>>();
    const auto q = static_cast<int64_t>(valid_q.size()), k = static_cast<int64_t>(valid_k.size());
    const std::string layout = b["encoding"]["layout"];
    const int top_k = b["encoding"]["k"];
    const bool causal = b["causal"];
    auto u16 = [&](size_t at) { return bytes.at(at) | (bytes.at(at + 1) << 8); };
    std::vector<float> out(static_cast<size_t>(layers * heads * q * k), 0.0f);
    size_t at = 0;
    for (int64_t plane = 0; plane < layers * heads; ++plane) {
        for (int64_t i = 0; i < q; ++i) {
            float* row = out.data() + (plane * q + i) * k;
            const int64_t limit = causal ? std::clamp<int64_t>(i + 1, 0, k) : k;
            if (layout == "dense16") {
                for (int64_t j = 0; j < limit; ++j, at += 2) row[j] = static_cast<float>(u16(at) / 65535.0);
            } else if (layout == "dense8") {
                const double m = u16(at) / 65535.0;
                at += 2;
                for (int64_t j = 0; j < limit; ++j, ++at) row[j] = static_cast<float>(bytes.at(at) / 255.0 * m);
            } else {
                EXPECT_EQ(layout, "top_k");
                const double m = u16(at) / 65535.0, rest = u16(at + 2) / 65535.0;
                std::vector<std::pair<int, double>> kept;
                for (int e = 0; e < top_k; ++e) {
                    const size_t entry = at + 4 + 3 * static_cast<size_t>(e);
                    if (u16(entry) != 0xFFFF) kept.emplace_back(u16(entry), bytes.at(entry + 2) / 255.0 * m);
                }
                at += 4 + 3 * static_cast<size_t>(top_k);
                if (!valid_q[static_cast<size_t>(i)]) continue;
                int64_t open = 0;
                for (int64_t j = 0; j < limit; ++j) open += valid_k[static_cast<size_t>(j)];
                const int64_t others = open - static_cast<int64_t>(kept.size());
                for (int64_t j = 0; j < limit; ++j) {
                    if (valid_k[static_cast<size_t>(j)] && others > 0) row[j] = static_cast<float>(rest / static_cast<double>(others));
                }
                for (const auto& [key, v] : kept) row[key] = static_cast<float>(v);
            }
        }
    }
    EXPECT_EQ(at, bytes.size());
    return out;
}

// One block of `layers` x `heads` heads over `n` tokens whose rows look like
// trained attention: a sink on token 0, a previous-token spike, a diffuse rest.
SequenceAttention peaked(int layers, int heads, int64_t n, bool causal, uint32_t seed = 3) {
    SequenceAttention a;
    AttentionBlock b;
    b.kind = causal ? AttentionKind::causal_self : AttentionKind::self;
    b.stack = causal ? Stack::decoder : Stack::encoder;
    for (int64_t i = 0; i < n; ++i) {
        b.queries.text.push_back(i == 0 ? "<s>" : "\xE2\x96\x81w" + std::to_string(i));
        b.queries.special.push_back(i == 0 ? 1 : 0);
        b.queries.valid.push_back(1);
    }
    b.keys = b.queries;
    std::mt19937 rng(seed);
    std::uniform_real_distribution<double> noise(0.0, 1.0);
    for (int l = 0; l < layers; ++l) {
        Tensor t({heads, n, n});
        for (int h = 0; h < heads; ++h) {
            for (int64_t i = 0; i < n; ++i) {
                std::vector<double> row(static_cast<size_t>(n), 0.0);
                double sum = 0;
                for (int64_t j = 0; j < n; ++j) {
                    if (b.masked(i, j)) continue;
                    double w = 0.2 * noise(rng);
                    if (j == 0) w += 3.0 * (h % 2);
                    if (j == i - 1) w += 4.0 * ((h + 1) % 2);
                    row[static_cast<size_t>(j)] = w;
                    sum += w;
                }
                for (int64_t j = 0; j < n; ++j) t.at({h, i, j}) = static_cast<float>(row[static_cast<size_t>(j)] / sum);
            }
        }
        b.layers.push_back(std::move(t));
    }
    a.blocks.push_back(std::move(b));
    return a;
}

double max_error(const std::vector<float>& decoded, const AttentionBlock& b) {
    double e = 0;
    const int64_t n = b.queries.size(), k = b.keys.size();
    for (int64_t l = 0; l < b.num_layers(); ++l)
        for (int64_t h = 0; h < b.heads(); ++h)
            for (int64_t i = 0; i < n; ++i)
                for (int64_t j = 0; j < k; ++j) {
                    if (b.masked(i, j)) continue;
                    const double d = decoded[static_cast<size_t>(((l * b.heads() + h) * n + i) * k + j)];
                    e = std::max(e, std::abs(d - b.layers[static_cast<size_t>(l)].at({h, i, j})));
                }
    return e;
}

struct LayoutCase {
    int64_t budget;
    const char* layout;
    double bound;  // the most the layout may be off on these rows
};

TEST(PageEncoding, EachLayoutDecodesToWithinItsStatedError) {
    for (bool causal : {false, true}) {
        const auto a = peaked(2, 3, 40, causal);
        for (const LayoutCase c : {LayoutCase{32'000'000, "dense16", 1.0 / 131070 + 1e-7},
                                   LayoutCase{30'000, "dense8", 1.0 / 510 + 1e-5},
                                   LayoutCase{2'000, "top_k", 0.1}}) {
            views::PageOptions options;
            options.max_probability_bytes = c.budget;
            const json page = json::parse(views::page_data_json({a}, options));
            const json& b = page["blocks"][0];
            EXPECT_EQ(b["encoding"]["layout"], c.layout) << c.budget;
            const auto decoded = decode_block(b);
            const double truth = max_error(decoded, a.blocks[0]);
            EXPECT_NEAR(b["encoding"]["error"].get<double>(), truth, 1e-6) << c.layout << " causal " << causal;
            EXPECT_LE(truth, c.bound) << c.layout;
            EXPECT_FALSE(b["encoding"]["text"].get<std::string>().empty());
            if (std::string(c.layout) != "dense16") {
                EXPECT_LE(static_cast<int64_t>(unbase64(b["data"]).size()), c.budget) << c.layout;
            }
        }
    }
}

TEST(PageEncoding, TopKKeepsTheLargestWeightsAndTheRowMass) {
    const auto a = peaked(1, 2, 300, true);
    views::PageOptions options;
    options.max_probability_bytes = 2 * 300 * (4 + 3 * 4);  // exactly k = 4
    const json page = json::parse(views::page_data_json({a}, options));
    const json& b = page["blocks"][0];
    ASSERT_EQ(b["encoding"]["layout"], "top_k");
    EXPECT_EQ(b["encoding"]["k"], 4);
    const auto decoded = decode_block(b);
    const Tensor& t = a.blocks[0].layers[0];
    for (int64_t h = 0; h < 2; ++h) {
        for (int64_t i = 1; i < 300; ++i) {
            const float* row = decoded.data() + (h * 300 + i) * 300;
            double sum = 0;
            for (int64_t j = 0; j <= i; ++j) sum += row[j];
            EXPECT_NEAR(sum, 1.0, 4 * 6e-3) << "row " << i;  // 4 kept weights off by <= m/510 each, rest by 1/131070
            // The spike (sink or previous token) is kept to 8 bits of the row maximum.
            const int64_t spike = h % 2 ? 0 : i - 1;
            EXPECT_NEAR(row[spike], t.at({h, i, spike}), t.at({h, i, spike}) / 500.0) << "row " << i;
        }
    }
    // The rollout is only computed for short inputs.
    EXPECT_TRUE(page["analysis"]["rollout"].is_null());
}

TEST(PageEncoding, LongViewsStayWithinTheBudget) {
    // Past the budget the page drops to top_k with as many entries as fit.
    const auto a = peaked(2, 4, 600, true);
    views::PageOptions options;
    options.max_probability_bytes = 500'000;
    const json page = json::parse(views::page_data_json({a}, options));
    const json& b = page["blocks"][0];
    EXPECT_EQ(b["encoding"]["layout"], "top_k");
    EXPECT_EQ(b["encoding"]["k"], (500'000 / (2 * 4 * 600) - 4) / 3);
    EXPECT_LE(unbase64(b["data"]).size(), 500'000u);
}

// Feeds a SequenceAttention to a PageRecorder as a model would: one event per
// layer, the rows in blocks of `rows_per_event`.
void stream(const SequenceAttention& a, views::PageRecorder& recorder, int64_t rows_per_event) {
    const AttentionBlock& b = a.blocks[0];
    Tokens tokens;
    tokens.batch = 1;
    tokens.length = b.queries.size();
    tokens.ids.assign(static_cast<size_t>(tokens.length), 0);
    tokens.text = b.queries.text;
    tokens.special = b.queries.special;
    tokens.mask = b.queries.valid;
    const bool causal = b.kind == AttentionKind::causal_self;
    ForwardInfo info{"synthetic", causal ? 0 : static_cast<int>(b.num_layers()), causal ? static_cast<int>(b.num_layers()) : 0,
                     static_cast<int>(b.heads()), &tokens};
    recorder.on_forward_begin(info);
    std::vector<int> heads(static_cast<size_t>(b.heads()));
    std::iota(heads.begin(), heads.end(), 0);
    for (int layer = 0; layer < b.num_layers(); ++layer) {
        for (int64_t first = 0; first < tokens.length; first += rows_per_event) {
            const int64_t rows = std::min(rows_per_event, tokens.length - first);
            Tensor p({1, b.heads(), rows, tokens.length});
            std::vector<int64_t> positions;
            for (int64_t r = 0; r < rows; ++r) positions.push_back(first + r);
            for (int64_t h = 0; h < b.heads(); ++h)
                for (int64_t r = 0; r < rows; ++r)
                    std::copy_n(b.layers[static_cast<size_t>(layer)].ptr({h, first + r, 0}), tokens.length, p.ptr({0, h, r, 0}));
            const AttentionSite site{b.stack, b.kind, layer, static_cast<int>(b.heads())};
            recorder.on_attention(AttentionEvent{site, -1, p, heads, positions, tokens, tokens});
        }
    }
    recorder.on_forward_end();
}

TEST(PageRecorder, StreamedRowsMakeTheSamePageAsWholeTensors) {
    for (bool causal : {false, true}) {
        const auto a = peaked(3, 2, 70, causal);
        for (int64_t budget : {int64_t{32'000'000}, int64_t{20'000}, int64_t{3'000}}) {
            views::PageOptions options;
            options.max_probability_bytes = budget;
            views::PageRecorder recorder(budget);
            stream(a, recorder, 17);  // blocks of rows that do not divide 70
            const json streamed = json::parse(recorder.page_data_json(options));
            const json whole = json::parse(views::page_data_json({a}, options));
            EXPECT_EQ(streamed["blocks"][0]["data"], whole["blocks"][0]["data"]) << budget;
            EXPECT_EQ(streamed["blocks"][0]["encoding"], whole["blocks"][0]["encoding"]) << budget;
            EXPECT_EQ(streamed["blocks"][0]["queries"], whole["blocks"][0]["queries"]);
            ASSERT_EQ(streamed["analysis"]["heads"].size(), whole["analysis"]["heads"].size());
            for (size_t h = 0; h < whole["analysis"]["heads"].size(); ++h) {
                const json &x = streamed["analysis"]["heads"][h], &y = whole["analysis"]["heads"][h];
                EXPECT_EQ(x["layer"], y["layer"]);
                EXPECT_EQ(x["head"], y["head"]);
                EXPECT_EQ(x["role"], y["role"]);
                EXPECT_NEAR(x["first"].get<double>(), y["first"].get<double>(), 1e-12);
            }
        }
    }
}

TEST(PageRecorder, MissingRowsAndForeignEventsAreErrors) {
    const auto a = peaked(2, 2, 10, true);
    views::PageRecorder recorder;
    EXPECT_THROW(recorder.page_data_json({}), Error);  // nothing recorded
    Tokens tokens = Tokens::from_ids(std::vector<int32_t>(10, 0));
    tokens.text = a.blocks[0].queries.text;
    recorder.on_forward_begin({"synthetic", 0, 2, 2, &tokens});
    Tensor p({1, 2, 10, 10});
    const std::vector<int> heads{0, 1};
    std::vector<int64_t> rows(10);
    std::iota(rows.begin(), rows.end(), 0);
    recorder.on_attention({{Stack::decoder, AttentionKind::causal_self, 0, 2}, -1, p, heads, rows, tokens, tokens});  // layer 1 never comes
    try {
        recorder.page_data_json({});
        FAIL() << "a missing layer must be an error";
    } catch (const Error& e) {
        EXPECT_NE(std::string(e.what()).find("layer 1"), std::string::npos) << e.what();
    }
    const AttentionEvent cross{{Stack::decoder, AttentionKind::cross, 0, 2}, -1, p, heads, rows, tokens, tokens};
    EXPECT_THROW(recorder.on_attention(cross), Error);
    const std::vector<int64_t> outside{10};
    Tensor one({1, 2, 1, 10});
    EXPECT_THROW(recorder.on_attention({{Stack::decoder, AttentionKind::causal_self, 1, 2}, -1, one, heads, outside, tokens, tokens}),
                 Error);
}

TEST(TokenDisplay, ByteLevelAndSentencePiecePiecesReadAsText) {
    // GPT-2: "Ġ" is a space, "Ċ" a newline, "Ã©" the two bytes of "é".
    EXPECT_EQ(display_tokens({"The", "\xC4\xA0quick", "\xC4\x8A", "caf", "\xC3\x83\xC2\xA9", "<|endoftext|>"}, {0, 0, 0, 0, 0, 1}),
              (std::vector<std::string>{"The", " quick", "\xE2\x86\xB5", "caf", "\xC3\xA9", "<|endoftext|>"}));
    // Without any "Ġ" the newline stand-in still marks byte-level text.
    EXPECT_EQ(display_tokens({"a", "\xC4\x8A\xC4\x8A"}), (std::vector<std::string>{"a", "\xE2\x86\xB5\xE2\x86\xB5"}));
    // Half of a multi-byte character: its byte, escaped.
    EXPECT_EQ(display_tokens({"\xC4\xA0x", "\xC3\xA2"}), (std::vector<std::string>{" x", "\\xe2"}));
    // SentencePiece: "▁" is a space; byte fallback "<0x0A>" a newline, "<0x09>" a tab.
    EXPECT_EQ(display_tokens({"<s>", "\xE2\x96\x81quick", "<0x0A>", "<0x09>", "<0xE2>", "\xE2\x96\x81<script>"}, {1, 0, 0, 0, 0, 0}),
              (std::vector<std::string>{"<s>", " quick", "\xE2\x86\xB5", "\xE2\x87\xA5", "<0xE2>", " <script>"}));
    // WordPiece and special tokens stay as they are; control bytes never pass.
    EXPECT_EQ(display_tokens({"[CLS]", "play", "##ing", "a\x1b[2J"}, {1, 0, 0, 0}),
              (std::vector<std::string>{"[CLS]", "play", "##ing", "a\\x1b[2J"}));
}

TEST(TokenDisplay, ThePageCarriesShownTokensAndWords) {
    auto a = peaked(1, 1, 5, true);
    a.blocks[0].queries.text = {"<|endoftext|>", "The", "\xC4\xA0qu", "ick", "\xC4\x8A"};
    a.blocks[0].keys = a.blocks[0].queries;
    const json page = json::parse(views::page_data_json({a}, {}));
    const json& q = page["blocks"][0]["queries"];
    EXPECT_EQ(q["tokens"][2], "\xC4\xA0qu");
    EXPECT_EQ(q["shown"][2], " qu");
    EXPECT_EQ(q["shown"][4], "\xE2\x86\xB5");
    bool quick = false;
    for (const auto& w : q["words"]) quick = quick || w[2] == "quick";
    EXPECT_TRUE(quick) << q["words"].dump();
}

}  // namespace
}  // namespace gaze::test
