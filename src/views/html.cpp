// The HTML viewer: the data the page draws (JSON), and the page around it.
#include <algorithm>
#include <cmath>
#include <cstring>
#include <nlohmann/json.hpp>

#include "draw.hpp"
#include "gaze/error.hpp"
#include "gaze_view_assets.inc"

namespace gaze::views {
namespace {

using nlohmann::json;

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
    return base64(bytes.data(), bytes.size());
}

std::string u16(const std::vector<Tensor>& ts) {
    std::vector<uint8_t> bytes;
    for (const auto& t : ts) append_u16(bytes, t);
    return base64(bytes.data(), bytes.size());
}

json side_json(const TokenSide& s) {
    json words = json::array();
    for (const auto& w : group_words(s.text, s.special)) words.push_back({w.first, w.last, w.text, w.special});
    return {{"tokens", s.text}, {"special", s.special}, {"valid", s.valid}, {"words", words}};
}

int block_index(const SequenceAttention& a, Stack stack, AttentionKind kind) {
    for (size_t i = 0; i < a.blocks.size(); ++i) {
        if (a.blocks[i].stack == stack && a.blocks[i].kind == kind) return static_cast<int>(i);
    }
    return -1;
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

std::string page_data_json(const PageData& data, const PageOptions& options) {
    const SequenceAttention& a = data.attention;
    if (a.blocks.empty()) throw Error("the page needs recorded attention (no blocks)");
    json blocks = json::array();
    for (const auto& b : a.blocks) {
        blocks.push_back({{"label", b.label()},
                          {"stack", to_string(b.stack)},
                          {"kind", to_string(b.kind)},
                          {"causal", b.kind == AttentionKind::causal_self},
                          {"layers", b.num_layers()},
                          {"heads", b.heads()},
                          {"queries", side_json(b.queries)},
                          {"keys", side_json(b.keys)},
                          {"data", u16(b.layers)}});
    }
    json heads = json::array();
    for (const auto& h : classify_heads(a)) {
        heads.push_back({{"block", block_index(a, h.stack, h.kind)},
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
    json layers = json::array();
    for (const auto& s : summarize_layers(a)) {
        layers.push_back({{"block", block_index(a, s.stack, s.kind)},
                          {"layer", s.layer},
                          {"self", s.self},
                          {"previous", s.previous},
                          {"next", s.next},
                          {"first", s.first},
                          {"separator", s.separator},
                          {"broad", s.broad}});
    }
    json analysis = {{"heads", heads}, {"layers", layers}};
    const AttentionBlock& primary = a.primary();
    const int primary_index = block_index(a, primary.stack, primary.kind);
    analysis["rollout"] = {{"block", primary_index}, {"data", u16(attention_rollout(primary))}};
    if (primary.queries.size() <= options.flow_max_tokens) {
        analysis["flow"] = {{"block", primary_index}, {"data", u16({attention_flow(primary)})}};
    } else {
        analysis["flow"] = nullptr;
    }

    json explain = nullptr;
    if (data.explain) {
        const LayerQKV& e = *data.explain;
        if (e.q.dim(0) != primary.queries.size()) throw Error("the explained layer's q/k/v do not match the tokens");
        explain = {{"block", primary_index}, {"layer", e.layer},    {"heads", e.heads}, {"head_dim", e.head_dim},
                   {"scale", e.scale},       {"causal", e.causal},  {"q", f32(e.q)},    {"k", f32(e.k)},
                   {"v", f32(e.v)}};
    }
    int64_t dim = data.position_dim;
    if (dim <= 0) dim = data.explain ? data.explain->q.dim(1) : 64;
    dim = std::clamp<int64_t>(dim + dim % 2, 2, 1024);
    int64_t count = data.position_count > 0 ? data.position_count : std::max<int64_t>(50, primary.queries.size());
    count = std::clamp<int64_t>(count, 1, 512);
    Tensor pe;
    ops::sinusoidal_position_encoding(count, dim, 0, ops::SinusoidLayout::interleaved, pe);

    json page = {{"version", 1},
                 {"title", options.title},
                 {"model", options.model},
                 {"text", options.text},
                 {"family", a.family},
                 {"serve", options.serve},
                 {"examples", options.examples},
                 {"blocks", blocks},
                 {"analysis", analysis},
                 {"explain", explain},
                 {"position", {{"dim", dim}, {"positions", count}, {"layout", "interleaved"}, {"data", f32(pe)}}}};
    // Token strings can hold any bytes: invalid UTF-8 becomes U+FFFD.
    return page.dump(-1, ' ', false, json::error_handler_t::replace);
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
