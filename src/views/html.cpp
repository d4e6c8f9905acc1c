// The HTML viewer: the data the page draws (JSON), and the page around it.
#include <algorithm>
#include <cmath>
#include <cstring>
#include <nlohmann/json.hpp>

#include "draw.hpp"
#include "gaze/error.hpp"
#include "page_parts.hpp"
#include "gaze_view_assets.inc"

namespace gaze::views {
namespace {

using nlohmann::json;

// Probabilities in [0, 1] as little-endian uint16 (steps of 1/65535).
void append_u16(std::vector<uint8_t>& bytes, const Tensor& t) {
    for (float v : t.to_vector()) {
        const double c = std::isfinite(v) ? std::clamp(static_cast<double>(v), 0.0, 1.0) : 0.0;
        const auto q = static_cast<uint16_t>(std::lround(c * 65535.0));
        bytes.push_back(static_cast<uint8_t>(q & 0xFF));
        bytes.push_back(static_cast<uint8_t>(q >> 8));
    }
}

// float32, little-endian.
std::string f32(const Tensor& t) {
    std::vector<uint8_t> bytes;
    for (float v : t.to_vector()) {
        uint32_t bits;
        std::memcpy(&bits, &v, 4);
        for (int k = 0; k < 4; ++k) bytes.push_back(static_cast<uint8_t>(bits >> (8 * k)));
    }
    return detail::base64(bytes.data(), bytes.size());
}

std::string u16(const std::vector<Tensor>& ts) {
    std::vector<uint8_t> bytes;
    for (const auto& t : ts) append_u16(bytes, t);
    return detail::base64(bytes.data(), bytes.size());
}

// Every block's rows through the page encoding, heads in parallel.
json encoded_blocks(const SequenceAttention& a, int64_t budget) {
    std::vector<BlockShape> shapes;
    for (const auto& b : a.blocks) {
        shapes.push_back({b.num_layers(), b.heads(), b.queries.size(), b.keys.size(), b.kind == AttentionKind::causal_self});
    }
    const ProbabilityEncoding encoding = choose_encoding(shapes, budget);
    json blocks = json::array();
    for (const auto& b : a.blocks) {
        BlockEncoder encoder(b, b.num_layers(), b.heads(), encoding);
        const int64_t planes = b.num_layers() * b.heads();
        double error = 0;
#pragma omp parallel for schedule(dynamic) reduction(max : error)
        for (int64_t plane = 0; plane < planes; ++plane) {
            const int64_t layer = plane / b.heads(), head = plane % b.heads();
            const Tensor& t = b.layers[static_cast<size_t>(layer)];
            for (int64_t i = 0; i < b.queries.size(); ++i) error = std::max(error, encoder.add_row(layer, head, i, t.ptr({head, i, 0})));
        }
        blocks.push_back(detail::block_json(b, encoder, b.num_layers(), b.heads(), error));
    }
    return blocks;
}

}  // namespace

std::string escape_json_for_script(const std::string& text) {
    std::string out;
    out.reserve(text.size());
    for (size_t i = 0; i < text.size(); ++i) {
        const char c = text[i];
        if (c == '<') {
            out += "\\u003c";
        } else if (c == '>') {
            out += "\\u003e";
        } else if (c == '&') {
            out += "\\u0026";
        } else if (c == '\xE2' && i + 2 < text.size() && text[i + 1] == '\x80' && (text[i + 2] == '\xA8' || text[i + 2] == '\xA9')) {
            out += text[i + 2] == '\xA8' ? "\\u2028" : "\\u2029";
            i += 2;
        } else {
            out += c;
        }
    }
    return out;
}

namespace detail {

std::string base64(const uint8_t* data, size_t size) {
    static const char* table = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    std::string out;
    out.reserve((size + 2) / 3 * 4);
    for (size_t i = 0; i < size; i += 3) {
        const uint32_t n = (static_cast<uint32_t>(data[i]) << 16) | (i + 1 < size ? data[i + 1] << 8 : 0) |
                           (i + 2 < size ? data[i + 2] : 0);
        out += table[(n >> 18) & 63];
        out += table[(n >> 12) & 63];
        out += i + 1 < size ? table[(n >> 6) & 63] : '=';
        out += i + 2 < size ? table[n & 63] : '=';
    }
    return out;
}

json side_json(const TokenSide& s) {
    const std::vector<std::string> shown = display_tokens(s.text, s.special);
    json words = json::array();
    for (const auto& w : group_words(s.text, s.special)) {
        // A word as shown: its pieces as shown, joined, without the leading space.
        std::string text;
        for (int64_t i = w.first; i <= w.last; ++i) text += shown[static_cast<size_t>(i)];
        const auto first = text.find_first_not_of(' ');
        words.push_back({w.first, w.last, first == std::string::npos ? text : text.substr(first), w.special});
    }
    return {{"tokens", s.text}, {"shown", shown}, {"special", s.special}, {"valid", s.valid}, {"words", words}};
}

json block_json(const AttentionBlock& block, const BlockEncoder& encoder, int64_t layers, int64_t heads, double error) {
    const ProbabilityEncoding e = encoder.encoding();
    return {{"label", block.label()},
            {"stack", to_string(block.stack)},
            {"kind", to_string(block.kind)},
            {"causal", block.kind == AttentionKind::causal_self},
            {"layers", layers},
            {"heads", heads},
            {"queries", side_json(block.queries)},
            {"keys", side_json(block.keys)},
            {"encoding", {{"layout", to_string(e.layout)}, {"k", e.top_k}, {"error", error}, {"text", describe(e)}}},
            {"data", base64(encoder.bytes().data(), encoder.bytes().size())}};
}

json analysis_json(const std::vector<std::pair<Stack, AttentionKind>>& order, std::vector<HeadProfile> profiles) {
    auto index = [&](Stack s, AttentionKind k) {
        const auto it = std::find(order.begin(), order.end(), std::make_pair(s, k));
        return it == order.end() ? -1 : static_cast<int>(it - order.begin());
    };
    json layers = json::array();
    for (const auto& s : summarize_layers(profiles)) {
        layers.push_back({{"block", index(s.stack, s.kind)},
                          {"layer", s.layer},
                          {"self", s.self},
                          {"previous", s.previous},
                          {"next", s.next},
                          {"first", s.first},
                          {"separator", s.separator},
                          {"broad", s.broad}});
    }
    rank_heads(profiles);
    json heads = json::array();
    for (const auto& h : profiles) {
        heads.push_back({{"block", index(h.stack, h.kind)},
                         {"layer", h.layer},
                         {"head", h.head},
                         {"role", to_string(h.role)},
                         {"score", h.score},
                         {"self", h.self},
                         {"previous", h.previous},
                         {"next", h.next},
                         {"first", h.first},
                         {"separator", h.separator},
                         {"broad", h.broad}});
    }
    return {{"heads", heads}, {"layers", layers}, {"rollout", nullptr}, {"flow", nullptr}};
}

json position_json(int64_t dim, int64_t count) {
    dim = std::clamp<int64_t>(dim + dim % 2, 2, 1024);
    count = std::clamp<int64_t>(count, 1, 512);
    Tensor pe;
    ops::sinusoidal_position_encoding(count, dim, 0, ops::SinusoidLayout::interleaved, pe);
    return {{"dim", dim}, {"positions", count}, {"layout", "interleaved"}, {"data", f32(pe)}};
}

std::string page_json(const std::string& family, json blocks, json analysis, json explain, json position,
                      const PageOptions& options) {
    json page = {{"version", 2},
                 {"title", options.title},
                 {"model", options.model},
                 {"text", options.text},
                 {"family", family},
                 {"serve", options.serve},
                 {"examples", options.examples},
                 {"blocks", std::move(blocks)},
                 {"analysis", std::move(analysis)},
                 {"explain", std::move(explain)},
                 {"position", std::move(position)}};
    // Token strings can hold any bytes: invalid UTF-8 becomes U+FFFD.
    return page.dump(-1, ' ', false, json::error_handler_t::replace);
}

}  // namespace detail

std::string page_data_json(const PageData& data, const PageOptions& options) {
    const SequenceAttention& a = data.attention;
    if (a.blocks.empty()) throw Error("the page needs recorded attention (no blocks)");
    std::vector<std::pair<Stack, AttentionKind>> order;
    std::vector<HeadProfile> profiles;
    for (const auto& b : a.blocks) {
        order.emplace_back(b.stack, b.kind);
        const auto p = profile_heads(b);
        profiles.insert(profiles.end(), p.begin(), p.end());
    }
    json analysis = detail::analysis_json(order, profiles);
    const AttentionBlock& primary = a.primary();
    const int primary_index = static_cast<int>(std::find(order.begin(), order.end(), std::make_pair(primary.stack, primary.kind)) - order.begin());
    if (primary.queries.size() <= options.rollout_max_tokens) {
        analysis["rollout"] = {{"block", primary_index}, {"data", u16(attention_rollout(primary))}};
    }
    if (primary.queries.size() <= options.flow_max_tokens) {
        analysis["flow"] = {{"block", primary_index}, {"data", u16({attention_flow(primary)})}};
    }
    json explain = nullptr;
    if (data.explain) {
        const LayerQKV& e = *data.explain;
        if (e.q.dim(0) != primary.queries.size()) throw Error("the explained layer's q/k/v do not match the tokens");
        explain = {{"block", primary_index}, {"layer", e.layer},    {"heads", e.heads}, {"head_dim", e.head_dim},
                   {"scale", e.scale},       {"causal", e.causal},  {"q", f32(e.q)},    {"k", f32(e.k)},
                   {"v", f32(e.v)}};
    }
    const int64_t dim = data.position_dim > 0 ? data.position_dim : data.explain ? data.explain->q.dim(1) : 64;
    const int64_t count = data.position_count > 0 ? data.position_count : std::max<int64_t>(50, primary.queries.size());
    return detail::page_json(a.family, encoded_blocks(a, options.max_probability_bytes), std::move(analysis),
                             std::move(explain), detail::position_json(dim, count), options);
}

std::string render_page(const std::string& data_json, const PageOptions& options) {
    std::string html;
    html.reserve(data_json.size() + 200000);
    html += "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n";
    html += "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n";
    // Nothing may be fetched from anywhere; a served page may talk to its own server.
    html += "<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; script-src 'unsafe-inline'; "
            "style-src 'unsafe-inline'; img-src data:; connect-src ";
    html += options.serve ? "'self'" : "'none'";
    html += "\">\n<title>" + escape_xml(options.title) + "</title>\n<style>\n";
    html += assets::viewer_css;
    html += "</style>\n</head>\n<body>\n<div id=\"gz-app\"></div>\n";
    html += "<script type=\"application/json\" id=\"gz-data\">";
    html += escape_json_for_script(data_json);
    html += "</script>\n<script>\n";
    for (std::string_view js : {assets::core_js, assets::head_view_js, assets::model_view_js, assets::heatmap_view_js,
                                assets::explain_view_js, assets::main_js}) {
        html += js;
        html += "\n";
    }
    html += "</script>\n</body>\n</html>\n";
    return html;
}

std::string render_page(const PageData& data, const PageOptions& options) {
    return render_page(page_data_json(data, options), options);
}

}  // namespace gaze::views
