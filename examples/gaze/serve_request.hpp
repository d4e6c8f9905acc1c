#pragma once
// What `gaze serve` checks in a request before the model sees it, kept apart
// from the HTTP server so tests and the fuzz_serve_request target call it
// directly. Threats (docs/reliability.md): any web page the user visits can
// make the browser send requests to http://127.0.0.1:PORT/ -
//   * DNS rebinding: a page on evil.example whose name later resolves to
//     127.0.0.1 reads our answers; its requests carry Host: evil.example.
//     Every request whose Host is not the served address is refused (403).
//   * Cross-site POSTs: a page elsewhere posts to /api/run. Browsers name the
//     page in Origin and Sec-Fetch-Site; a POST from another origin is
//     refused (403), and a POST must be Content-Type: application/json (415),
//     which a plain HTML form cannot send without a CORS preflight, which we
//     never grant.
// Clients that send neither Origin nor Sec-Fetch-Site (curl, scripts) are not
// browsers and pass; they still need the right Host and Content-Type.
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace gaze::cli {

// The Host header values the server answers to: "127.0.0.1:8000",
// "localhost:8000", "[::1]:8000" for a loopback bind (and the same without
// the port when it is 80), "HOST:PORT" otherwise, plus every extra name
// (--allow-host; ":PORT" appended when it has no port). Lower case.
std::vector<std::string> allowed_hosts(const std::string& bind_host, int port, const std::vector<std::string>& extra = {});

// A refused request: the HTTP status and the one-line reason for the client.
struct Refusal {
    int status = 400;
    std::string message;
};

// The request headers the checks read (an absent header is empty).
struct RequestHeaders {
    std::string method;  // "GET", "POST", ...
    std::string host;
    std::string origin;
    std::string sec_fetch_site;
    std::string content_type;
};

// Host for every request; Origin, Sec-Fetch-Site and Content-Type for POSTs.
std::optional<Refusal> check_headers(const RequestHeaders& headers, const std::vector<std::string>& allowed);

// The body of POST /api/run: {"text": "...", "explain_layer": 0}.
struct RunRequest {
    std::string text;
    int explain_layer = 0;
};

// A RunRequest, or the 400 that says what is wrong with the body (not JSON,
// not an object, no string "text", an empty text, explain_layer not a
// non-negative integer).
struct ParsedRunRequest {
    std::optional<RunRequest> request;
    std::optional<Refusal> refusal;
};
ParsedRunRequest parse_run_request(std::string_view body);

// {"error": message} with invalid UTF-8 replaced, as every error reply.
std::string error_json(const std::string& message);

}  // namespace gaze::cli
