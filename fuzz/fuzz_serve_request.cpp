// libFuzzer target: the request checks of `gaze serve` (serve_request.hpp).
// The input is split at 0x1e bytes into
//   method | Host | Origin | Sec-Fetch-Site | Content-Type | body
// check_headers() and parse_run_request() must return (never throw); a
// refusal carries a 4xx status and a message; an accepted request has a
// non-blank text that nlohmann::json can write again (valid UTF-8), and
// error_json() of any message is valid JSON.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>

#include "fuzz_check.hpp"
#include "serve_request.hpp"

namespace {

// The next field of `rest` up to a 0x1e byte (all of it for the last field).
std::string next_field(std::string_view& rest) {
    const size_t cut = rest.find('\x1e');
    const std::string field(rest.substr(0, cut));
    rest = cut == std::string_view::npos ? std::string_view() : rest.substr(cut + 1);
    return field;
}

void check_refusal(const gaze::cli::Refusal& r) {
    FUZZ_CHECK(r.status >= 400 && r.status < 500);
    FUZZ_CHECK(!r.message.empty());
    const auto reply = nlohmann::json::parse(gaze::cli::error_json(r.message), nullptr, false);
    FUZZ_CHECK(reply.is_object() && reply["error"].is_string());
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    std::string_view rest(reinterpret_cast<const char*>(data), size);
    gaze::cli::RequestHeaders headers;
    headers.method = next_field(rest);
    headers.host = next_field(rest);
    headers.origin = next_field(rest);
    headers.sec_fetch_site = next_field(rest);
    headers.content_type = next_field(rest);
    const std::string body(rest);

    static const auto allowed = gaze::cli::allowed_hosts("127.0.0.1", 8000, {"gaze.local", "[::1]:9000"});
    if (const auto refusal = gaze::cli::check_headers(headers, allowed)) check_refusal(*refusal);

    const gaze::cli::ParsedRunRequest parsed = gaze::cli::parse_run_request(body);
    FUZZ_CHECK(parsed.request.has_value() != parsed.refusal.has_value());
    if (parsed.refusal) {
        check_refusal(*parsed.refusal);
    } else {
        FUZZ_CHECK(parsed.request->text.find_first_not_of(" \t\r\n") != std::string::npos);
        FUZZ_CHECK(parsed.request->explain_layer >= 0);
        (void)nlohmann::json(parsed.request->text).dump();  // throws (a finding) on invalid UTF-8
    }
    return 0;
}
