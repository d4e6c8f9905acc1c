// The views: figures are well-formed SVG with the expected labels, PNGs are
// PNGs, the HTML page keeps hostile tokens inside its data, and the view
// commands write what they say (or fail with one clear line).
#include <gtest/gtest.h>

#include <cctype>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <set>
#include <sstream>

#include "gaze/analysis.hpp"
#include "gaze/views.hpp"
#include "test_support.hpp"

namespace gaze::test {
namespace {

namespace fs = std::filesystem;

// A small XML well-formedness check: one root element, balanced and properly
// nested tags, quoted unique attributes without '<', and only known entities.
// Returns an empty string when well-formed, else what is wrong and where.
std::string xml_problem(const std::string& s) {
    size_t i = 0;
    std::vector<std::string> stack;
    bool root_done = false, root_seen = false;
    auto name_char = [](char c) { return std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == ':' || c == '-' || c == '.'; };
    auto at = [&](const std::string& what) { return what + " at byte " + std::to_string(i); };
    auto entity_ok = [&](size_t p, size_t* end) {
        const size_t semi = s.find(';', p);
        if (semi == std::string::npos || semi - p > 10) return false;
        const std::string e = s.substr(p + 1, semi - p - 1);
        static const std::set<std::string> named = {"amp", "lt", "gt", "quot", "apos"};
        bool ok = named.count(e) > 0;
        if (!ok && e.size() > 1 && e[0] == '#') {
            const bool hex = e[1] == 'x';
            ok = e.size() > (hex ? 2u : 1u);
            for (size_t k = hex ? 2 : 1; ok && k < e.size(); ++k) {
                ok = hex ? std::isxdigit(static_cast<unsigned char>(e[k])) != 0 : std::isdigit(static_cast<unsigned char>(e[k])) != 0;
            }
        }
        *end = semi + 1;
        return ok;
    };
    while (i < s.size()) {
        if (s[i] != '<') {
            if (s[i] == '&') {
                size_t end;
                if (!entity_ok(i, &end)) return at("bad entity");
                i = end;
                continue;
            }
            if (stack.empty() && !std::isspace(static_cast<unsigned char>(s[i]))) return at("text outside the root");
            ++i;
            continue;
        }
        if (s.compare(i, 4, "<!--") == 0) {
            const size_t end = s.find("-->", i);
            if (end == std::string::npos) return at("unclosed comment");
            i = end + 3;
            continue;
        }
        if (s.compare(i, 2, "<?") == 0) {
            const size_t end = s.find("?>", i);
            if (end == std::string::npos) return at("unclosed declaration");
            i = end + 2;
            continue;
        }
        const bool closing = s.compare(i, 2, "</") == 0;
        i += closing ? 2 : 1;
        const size_t start = i;
        while (i < s.size() && name_char(s[i])) ++i;
        const std::string name = s.substr(start, i - start);
        if (name.empty() || std::isdigit(static_cast<unsigned char>(name[0]))) return at("bad tag name");
        if (closing) {
            while (i < s.size() && std::isspace(static_cast<unsigned char>(s[i]))) ++i;
            if (i >= s.size() || s[i] != '>') return at("bad closing tag");
            ++i;
            if (stack.empty() || stack.back() != name) return at("mismatched </" + name + ">");
            stack.pop_back();
            if (stack.empty()) root_done = true;
            continue;
        }
        if (root_done) return at("a second root element");
        std::set<std::string> attributes;
        bool self_closing = false;
        while (true) {
            const size_t before = i;
            while (i < s.size() && std::isspace(static_cast<unsigned char>(s[i]))) ++i;
            if (i >= s.size()) return at("unclosed tag <" + name);
            if (s[i] == '>') {
                ++i;
                break;
            }
            if (s.compare(i, 2, "/>") == 0) {
                i += 2;
                self_closing = true;
                break;
            }
            if (i == before) return at("attributes must be separated by spaces");
            const size_t a = i;
            while (i < s.size() && name_char(s[i])) ++i;
            const std::string attribute = s.substr(a, i - a);
            if (attribute.empty() || i >= s.size() || s[i] != '=') return at("bad attribute in <" + name);
            if (!attributes.insert(attribute).second) return at("duplicate attribute " + attribute);
            ++i;
            if (i >= s.size() || (s[i] != '"' && s[i] != '\'')) return at("unquoted attribute " + attribute);
            const char quote = s[i++];
            while (i < s.size() && s[i] != quote) {
                if (s[i] == '<') return at("'<' in attribute " + attribute);
                if (s[i] == '&') {
                    size_t end;
                    if (!entity_ok(i, &end)) return at("bad entity in attribute " + attribute);
                    i = end;
                } else {
                    ++i;
                }
            }
            if (i >= s.size()) return at("unterminated attribute " + attribute);
            ++i;
        }
        root_seen = true;
        if (self_closing) {
            if (stack.empty()) root_done = true;
        } else {
            stack.push_back(name);
        }
    }
    if (!stack.empty()) return "unclosed <" + stack.back() + ">";
    if (!root_seen) return "no root element";
    return {};
}

TEST(XmlCheck, TellsWellFormedFromBroken) {
    EXPECT_EQ(xml_problem("<?xml version=\"1.0\"?>\n<svg a=\"1\"><g><text x='2'>a &amp; b</text></g><rect/></svg>\n"), "");
    EXPECT_NE(xml_problem("<svg><g></svg></g>"), "");
    EXPECT_NE(xml_problem("<svg><text>a < b</text></svg>"), "");
    EXPECT_NE(xml_problem("<svg a=1></svg>"), "");
    EXPECT_NE(xml_problem("<svg a=\"1\" a=\"2\"></svg>"), "");
    EXPECT_NE(xml_problem("<svg>&nbsp;</svg>"), "");
    EXPECT_NE(xml_problem("<svg></svg><svg></svg>"), "");
    EXPECT_NE(xml_problem("<svg>"), "");
}

const std::vector<std::string> kTokens = {"[CLS]", "the", "<script>alert(1)</script>", "&", "mouse", "\"q\"", "[SEP]"};

SequenceAttention synthetic(AttentionKind kind = AttentionKind::self, int layers = 2, int heads = 3) {
    SequenceAttention a;
    AttentionBlock b;
    b.kind = kind;
    b.stack = kind == AttentionKind::self ? Stack::encoder : Stack::decoder;
    for (const auto& t : kTokens) {
        b.queries.text.push_back(t);
        b.queries.special.push_back(t[0] == '[' ? 1 : 0);
        b.queries.valid.push_back(1);
    }
    b.keys = b.queries;
    const auto s = static_cast<int64_t>(kTokens.size());
    std::mt19937 rng(7);
    for (int l = 0; l < layers; ++l) {
        Tensor t({heads, s, s});
        for (int h = 0; h < heads; ++h) {
            for (int64_t i = 0; i < s; ++i) {
                double sum = 0;
                std::vector<double> row(static_cast<size_t>(s));
                for (int64_t j = 0; j < s; ++j) {
                    row[static_cast<size_t>(j)] = b.masked(i, j) ? 0.0 : std::uniform_real_distribution<double>(0.05, 1)(rng);
                    sum += row[static_cast<size_t>(j)];
                }
                for (int64_t j = 0; j < s; ++j) t.at({h, i, j}) = static_cast<float>(row[static_cast<size_t>(j)] / sum);
            }
        }
        b.layers.push_back(std::move(t));
    }
    a.blocks.push_back(std::move(b));
    return a;
}

void expect_svg(const views::Figure& f, const std::vector<std::string>& texts) {
    const std::string svg = views::to_svg(f);
    EXPECT_EQ(xml_problem(svg), "") << svg.substr(0, 400);
    for (const auto& t : texts) EXPECT_NE(svg.find(t), std::string::npos) << "missing " << t;
    EXPECT_EQ(svg.find("<script"), std::string::npos);
}

TEST(Figures, HeadHeatmapIsWellFormedAndLabelled) {
    const auto a = synthetic();
    expect_svg(views::head_figure(a.primary(), 1, 2),
               {"Layer 1, Head 2", "Query (attending from)", "Key (attended to)", "attention weight", "mouse",
                "&lt;script&gt;alert(1\xE2\x80\xA6", "&amp;", "&quot;q&quot;"});
}

TEST(Figures, GridsMeansComparisonsAndMatrices) {
    const auto a = synthetic();
    const AttentionBlock& b = a.primary();
    expect_svg(views::layer_heads_figure(b, 0), {"Head 0", "Head 2", "Layer 0: every head", "Query (attending from)"});
    expect_svg(views::layer_means_figure(b), {"Layer 0", "Layer 1", "averaged over heads"});
    expect_svg(views::compare_heads_figure(b, {{0, 1}, {1, 2}}), {"Layer 0, Head 1", "Layer 1, Head 2", "one colour scale"});
    expect_svg(views::matrix_figure(attention_rollout(b).back(), b.queries, b.keys, "Rollout"), {"Rollout", "mouse"});
    views::HeatmapStyle log;
    log.log_scale = true;
    expect_svg(views::head_figure(b, 0, -1, log), {"Layer 0, mean of heads", "1e-4"});
    EXPECT_THROW(views::head_figure(b, 2, 0), Error);
    EXPECT_THROW(views::compare_heads_figure(b, {{0, 3}}), Error);
}

TEST(Figures, WordLevelPanelsMergePieces) {
    auto a = synthetic();
    AttentionBlock& b = a.blocks[0];
    b.queries.text[4] = b.keys.text[4] = "mo";
    b.queries.text[5] = b.keys.text[5] = "##use";
    const views::Panel p = views::head_panel(b, 0, 0, true);
    ASSERT_EQ(p.values.dim(0), 6);
    EXPECT_EQ(p.row_labels[4], "mouse");
    for (int64_t i = 0; i < 6; ++i) EXPECT_NEAR(p.values.matrix().row(i).sum(), 1.0, 1e-5);
}

TEST(Figures, CausalBlocksDrawMaskedCells) {
    const auto a = synthetic(AttentionKind::causal_self);
    const std::string svg = views::to_svg(views::head_figure(a.primary(), 0, 0));
    EXPECT_EQ(xml_problem(svg), "");
    EXPECT_NE(svg.find("masked"), std::string::npos);
    EXPECT_NE(svg.find("#dedede"), std::string::npos);  // the masked colour
}

TEST(Figures, ExplanatoryFigures) {
    expect_svg(views::position_encoding_figure(40, 32), {"Sinusoidal position encoding", "Position", "Dimension", "position 10"});
    LayerQKV qkv;
    qkv.layer = 1;
    qkv.heads = 2;
    qkv.head_dim = 4;
    qkv.scale = 0.5f;
    std::mt19937 rng(2);
    qkv.q = random_tensor({5, 8}, rng);
    qkv.k = random_tensor({5, 8}, rng);
    qkv.v = random_tensor({5, 8}, rng);
    const HeadComputation hc = compute_head(qkv, 1);
    const std::vector<std::string> tokens = {"a", "b", "<c>", "d", "e"};
    expect_svg(views::causal_mask_figure(hc, tokens), {"Layer 1, Head 1", "Causal mask applied", "-inf", "&lt;c&gt;"});  // 5 tokens: wide cells
    expect_svg(views::step_figure(hc, 2, tokens), {"softmax weight", "sum = output of the head", "weight"});
    EXPECT_THROW(views::step_figure(hc, 5, tokens), Error);
    EXPECT_THROW(views::position_encoding_figure(10, 7), Error);
}

TEST(Figures, PngIsAPngOfTheFigureSize) {
    const auto a = synthetic();
    const views::Figure f = views::head_figure(a.primary(), 0, 0);
    const std::string path = (fs::temp_directory_path() / "gaze_test_head.png").string();
    views::write_png(f, path, 2.0);
    std::ifstream in(path, std::ios::binary);
    std::string bytes((std::istreambuf_iterator<char>(in)), {});
    fs::remove(path);
    ASSERT_GT(bytes.size(), 1000u);
    EXPECT_EQ(bytes.substr(0, 8), std::string("\x89PNG\r\n\x1a\n", 8));
    auto be32 = [&](size_t at) {
        return (static_cast<uint32_t>(static_cast<uint8_t>(bytes[at])) << 24) | (static_cast<uint8_t>(bytes[at + 1]) << 16) |
               (static_cast<uint8_t>(bytes[at + 2]) << 8) | static_cast<uint8_t>(bytes[at + 3]);
    };
    EXPECT_EQ(be32(16), static_cast<uint32_t>(std::ceil(f.width * 2)));
    EXPECT_EQ(be32(20), static_cast<uint32_t>(std::ceil(f.height * 2)));
    EXPECT_THROW(views::save_figure(f, "/tmp/figure.bmp"), Error);
}

TEST(Escaping, JsonCannotCloseTheScriptBlock) {
    const std::string json = nlohmann::json{{"t", "</script><script>alert(1)</script>\xE2\x80\xA8&"}}.dump();
    const std::string safe = views::escape_json_for_script(json);
    EXPECT_EQ(safe.find('<'), std::string::npos);
    EXPECT_EQ(safe.find('>'), std::string::npos);
    EXPECT_EQ(safe.find('&'), std::string::npos);
    EXPECT_EQ(nlohmann::json::parse(safe)["t"], nlohmann::json::parse(json)["t"]);
    EXPECT_EQ(views::escape_xml("a<b>&\"'\x01\xFF"), "a&lt;b&gt;&amp;&quot;&#39;\xEF\xBF\xBD\xEF\xBF\xBD");
}

size_t count(const std::string& s, const std::string& what) {
    size_t n = 0;
    for (size_t at = s.find(what); at != std::string::npos; at = s.find(what, at + 1)) ++n;
    return n;
}

TEST(Page, HostileTokensStayInsideTheData) {
    views::PageData data{synthetic()};
    views::PageOptions options;
    options.title = "<b>title</b>";
    const std::string html = views::render_page(data, options);
    EXPECT_EQ(count(html, "</script"), 2u);  // the data block and the code block
    EXPECT_EQ(count(html, "<script"), 2u);
    EXPECT_EQ(html.find("alert(1)</"), std::string::npos);
    EXPECT_NE(html.find("&lt;b&gt;title"), std::string::npos);
    EXPECT_EQ(count(html, "http://"), count(html, "http://www.w3.org/2000/svg"));  // nothing to fetch
    EXPECT_EQ(html.find("https://"), std::string::npos);
    EXPECT_NE(html.find("Content-Security-Policy"), std::string::npos);
    // The data block parses back to the tokens.
    const size_t start = html.find("id=\"gz-data\">") + 13;
    const std::string json = html.substr(start, html.find("</script>", start) - start);
    const auto j = nlohmann::json::parse(json);
    EXPECT_EQ(j["blocks"][0]["queries"]["tokens"][2], "<script>alert(1)</script>");
    EXPECT_EQ(j["blocks"][0]["layers"], 2);
    EXPECT_EQ(j["blocks"][0]["heads"], 3);
    const std::string b64 = j["blocks"][0]["data"];
    EXPECT_EQ(b64.size(), (2u * 3 * 7 * 7 * 2 + 2) / 3 * 4);  // uint16 per probability
    EXPECT_FALSE(j["analysis"]["heads"].empty());
    EXPECT_FALSE(j["analysis"]["flow"].is_null());
    EXPECT_TRUE(j["explain"].is_null());
    EXPECT_EQ(j["position"]["dim"], 64);
}

TEST(Page, EncoderDecoderPagesListEveryBlock) {
    auto a = synthetic();
    auto dec = synthetic(AttentionKind::causal_self);
    a.blocks.push_back(dec.blocks[0]);
    auto cross = synthetic();
    cross.blocks[0].kind = AttentionKind::cross;
    cross.blocks[0].stack = Stack::decoder;
    a.blocks.push_back(cross.blocks[0]);
    const auto j = nlohmann::json::parse(views::page_data_json({a}, {}));
    ASSERT_EQ(j["blocks"].size(), 3u);
    EXPECT_EQ(j["blocks"][1]["label"], "decoder self");
    EXPECT_EQ(j["blocks"][1]["causal"], true);
    EXPECT_EQ(j["blocks"][2]["label"], "cross");
}

// ---- the commands ----------------------------------------------------------------

std::string cli() { return GAZE_CLI_PATH; }

std::string read(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    return std::string((std::istreambuf_iterator<char>(in)), {});
}

#define GAZE_REQUIRE_CLI()                                        \
    if (cli().empty()) GTEST_SKIP() << "the gaze CLI is not built"

TEST(ViewCommands, ViewWritesThePageAndFigures) {
    GAZE_REQUIRE_CLI();
    const fs::path dir = fs::temp_directory_path() / "gaze_test_view";
    fs::remove_all(dir);
    std::string out;
    const int rc = run_command(cli() + " view --model auto --text 'The cat chased the mouse.' --out " + (dir / "v.html").string() +
                                   " --svg " + (dir / "svg").string() + " --png " + (dir / "png").string() + " --layer 1 --head 2",
                               &out);
    ASSERT_EQ(rc, 0) << out;
    EXPECT_NE(read((dir / "v.html").string()).find("gz-data"), std::string::npos);
    for (const char* name : {"head_L1_H2", "layer_L1_heads", "layer_means", "compare_heads", "rollout", "flow",
                             "position_encoding", "causal_mask_L0_H2", "step_L0_H2_T1"}) {
        const std::string svg = read((dir / "svg" / (std::string(name) + ".svg")).string());
        EXPECT_EQ(xml_problem(svg), "") << name;
        EXPECT_TRUE(fs::exists(dir / "png" / (std::string(name) + ".png"))) << name;
    }
    const std::string head = read((dir / "svg" / "head_L1_H2.svg").string());
    for (const char* label : {"Layer 1, Head 2", "Query (attending from)", "Key (attended to)", "mouse", "[CLS]"}) {
        EXPECT_NE(head.find(label), std::string::npos) << label;
    }
    fs::remove_all(dir);
}

TEST(ViewCommands, FindHeadHeadsAndPe) {
    GAZE_REQUIRE_CLI();
    std::string out;
    ASSERT_EQ(run_command(cli() + " find-head --model auto --text 'The cat chased the mouse.' --from cat --to mouse", &out), 0) << out;
    EXPECT_NE(out.find("best:"), std::string::npos) << out;
    EXPECT_NE(out.find("from->to"), std::string::npos) << out;
    ASSERT_EQ(run_command(cli() + " heads --model auto --text 'The cat chased the mouse.' --rollout --flow", &out), 0) << out;
    EXPECT_NE(out.find("role"), std::string::npos) << out;
    EXPECT_NE(out.find("per layer"), std::string::npos) << out;
    EXPECT_NE(out.find("attention flow"), std::string::npos) << out;
    const std::string svg = (fs::temp_directory_path() / "gaze_test_pe.svg").string();
    ASSERT_EQ(run_command(cli() + " pe --dim 16 --positions 20 --svg " + svg, &out), 0) << out;
    EXPECT_EQ(xml_problem(read(svg)), "");
    fs::remove(svg);
}

TEST(ViewCommands, BadInputGivesOneClearLine) {
    GAZE_REQUIRE_CLI();
    const std::pair<std::string, std::string> cases[] = {
        {" find-head --model auto --text 'The cat sat.' --from dog --to cat", "'dog' is not a word of the text"},
        {" pe --dim 15 --positions 10 --svg /tmp/x.svg", "--dim must be even"},
        {" view --model auto --text 'a b' ", "nothing to write"},
        {" view --model auto --text 'a b' --out /tmp/gaze_x.html --explain-layer 7", "--explain-layer 7"},
        {" serve --model auto --host 0.0.0.0", "not a loopback address"},
        {" pe --dim 16 --positions 10 --svg /tmp/x.bmp", "written as .svg or .png"},
    };
    for (const auto& [args, expected] : cases) {
        std::string out;
        EXPECT_EQ(run_command(cli() + args, &out), 1) << args << "\n" << out;
        EXPECT_NE(out.find("gaze: error: "), std::string::npos) << out;
        EXPECT_NE(out.find(expected), std::string::npos) << args << "\n" << out;
        EXPECT_LE(count(out, "gaze: error"), 1u) << out;
    }
    for (const char* command : {"view", "find-head", "heads", "pe", "serve"}) {
        std::string out;
        EXPECT_EQ(run_command(cli() + " " + command + " --help", &out), 0) << command;
        EXPECT_NE(out.find("--"), std::string::npos);
    }
}

}  // namespace
}  // namespace gaze::test
