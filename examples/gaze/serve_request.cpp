// The request checks of `gaze serve` (see serve_request.hpp for the threats).
#include "serve_request.hpp"

#include <algorithm>
#include <cctype>
#include <nlohmann/json.hpp>

namespace gaze::cli {
namespace {

std::string lower(std::string_view s) {
    std::string out(s);
    std::transform(out.begin(), out.end(), out.begin(), [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
    return out;
}

std::string_view trim(std::string_view s) {
    while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
    while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
    return s;
}

bool is_loopback_bind(const std::string& host) {
    return host == "localhost" || host == "::1" || host.rfind("127.", 0) == 0;
}

// "name" or "name:port" or "[v6]" or "[v6]:port": does it carry a port?
bool has_port(std::string_view host) {
    const size_t colon = host.rfind(':');
    return colon != std::string_view::npos && host.find(']', colon) == std::string_view::npos &&
           (host.front() == '[' || host.find(':') == colon);
}

// Reasons printed to the client name the header, never echo it whole (it is
// attacker-chosen; the JSON reply escapes it anyway, but keep it short).
std::string shown(std::string_view value) {
    return value.size() <= 80 ? std::string(value) : std::string(value.substr(0, 80)) + "...";
}

bool is_allowed(const std::string& value, const std::vector<std::string>& allowed) {
    return std::find(allowed.begin(), allowed.end(), lower(value)) != allowed.end();
}

}  // namespace

std::vector<std::string> allowed_hosts(const std::string& bind_host, int port, const std::vector<std::string>& extra) {
    const std::string suffix = ":" + std::to_string(port);
    std::vector<std::string> names;
    if (is_loopback_bind(bind_host)) {
        names = {"127.0.0.1", "localhost", "[::1]"};
        if (bind_host != "127.0.0.1" && bind_host != "localhost" && bind_host != "::1") names.push_back(bind_host);
    } else {
        names = {bind_host.find(':') != std::string::npos ? "[" + bind_host + "]" : bind_host};
    }
    std::vector<std::string> out;
    for (const auto& name : names) {
        out.push_back(lower(name) + suffix);
        if (port == 80) out.push_back(lower(name));
    }
    for (const auto& name : extra) out.push_back(lower(has_port(name) ? name : name + suffix));
    return out;
}

std::optional<Refusal> check_headers(const RequestHeaders& h, const std::vector<std::string>& allowed) {
    if (h.host.empty()) return Refusal{400, "the request has no Host header"};
    if (!is_allowed(std::string(trim(h.host)), allowed)) {
        return Refusal{403, "Host '" + shown(h.host) + "' is not this server's address (only " + allowed.front() +
                                " and its loopback names are answered; see --allow-host)"};
    }
    if (h.method != "POST") return std::nullopt;
    // A browser names the page that sent the request; it must be ours.
    if (!h.origin.empty()) {
        const std::string origin = lower(trim(h.origin));
        constexpr std::string_view kScheme = "http://";
        if (origin.rfind(kScheme, 0) != 0 || !is_allowed(origin.substr(kScheme.size()), allowed)) {
            return Refusal{403, "cross-origin request from '" + shown(h.origin) + "' refused"};
        }
    }
    if (!h.sec_fetch_site.empty()) {
        const std::string site = lower(trim(h.sec_fetch_site));
        if (site != "same-origin" && site != "none") {
            return Refusal{403, "cross-origin request refused (Sec-Fetch-Site: " + shown(h.sec_fetch_site) + ")"};
        }
    }
    const std::string_view type = trim(std::string_view(h.content_type).substr(0, h.content_type.find(';')));
    if (lower(type) != "application/json") {
        return Refusal{415, "send Content-Type: application/json (got '" + shown(h.content_type) + "')"};
    }
    return std::nullopt;
}

ParsedRunRequest parse_run_request(std::string_view body) {
    auto refuse = [](std::string message) { return ParsedRunRequest{std::nullopt, Refusal{400, std::move(message)}}; };
    const nlohmann::json json = nlohmann::json::parse(body, nullptr, /*allow_exceptions=*/false);
    if (json.is_discarded() || !json.is_object()) return refuse("send a JSON object {\"text\": \"...\"}");
    const auto text = json.find("text");
    if (text == json.end() || !text->is_string()) return refuse("send a JSON object {\"text\": \"...\"}");
    RunRequest request{text->get<std::string>(), 0};
    if (request.text.find_first_not_of(" \t\r\n") == std::string::npos) return refuse("the text is empty");
    if (const auto layer = json.find("explain_layer"); layer != json.end()) {
        if (!layer->is_number_integer() || layer->get<int64_t>() < 0 || layer->get<int64_t>() > 1'000'000) {
            return refuse("explain_layer must be a non-negative integer");
        }
        request.explain_layer = static_cast<int>(layer->get<int64_t>());
    }
    return {std::move(request), std::nullopt};
}

std::string error_json(const std::string& message) {
    return nlohmann::json{{"error", message}}.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

}  // namespace gaze::cli
