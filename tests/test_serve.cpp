// `gaze serve` against hostile pages: the request checks on their own
// (serve_request.hpp), then the running server with forged headers, the
// token limit, and a clean stop on SIGTERM/SIGINT. Loopback only.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <thread>

#include "serve_process.hpp"
#include "../examples/gaze/serve_request.hpp"
#include "test_support.hpp"
// Last: httplib pulls in <resolv.h>, whose `_res` macro breaks Eigen's headers.
#include <httplib.h>

namespace gaze::test {
namespace {

using cli::allowed_hosts;
using cli::check_headers;
using cli::parse_run_request;
using cli::RequestHeaders;

const std::vector<std::string> kAllowed = allowed_hosts("127.0.0.1", 8000);

RequestHeaders page_post() {
    return {"POST", "127.0.0.1:8000", "http://127.0.0.1:8000", "same-origin", "application/json"};
}

int refused_status(const RequestHeaders& h) {
    const auto r = check_headers(h, kAllowed);
    return r ? r->status : 0;
}

TEST(ServeRequest, AllowedHostsCoverTheLoopbackNames) {
    EXPECT_EQ(kAllowed, (std::vector<std::string>{"127.0.0.1:8000", "localhost:8000", "[::1]:8000"}));
    EXPECT_EQ(allowed_hosts("127.0.0.1", 80).size(), 6u);  // with and without ":80"
    EXPECT_EQ(allowed_hosts("::1", 9000, {"Gaze.Local", "box:81"}),
              (std::vector<std::string>{"127.0.0.1:9000", "localhost:9000", "[::1]:9000", "gaze.local:9000", "box:81"}));
}

TEST(ServeRequest, ThePagesOwnRequestsPass) {
    EXPECT_EQ(refused_status(page_post()), 0);
    RequestHeaders h = page_post();
    h.host = "LOCALHOST:8000";
    h.origin = "http://localhost:8000";
    h.content_type = "application/json; charset=utf-8";
    EXPECT_EQ(refused_status(h), 0);
    EXPECT_EQ(refused_status({"GET", "127.0.0.1:8000", "", "none", ""}), 0);  // typed into the address bar
    EXPECT_EQ(refused_status({"POST", "127.0.0.1:8000", "", "", "application/json"}), 0);  // curl
}

TEST(ServeRequest, RebindingHostsAreRefused) {
    for (const char* host : {"evil.example:8000", "evil.example", "127.0.0.1:8001", "127.0.0.1", "127.0.0.1:8000.evil",
                             "localhost.evil:8000", ""}) {
        RequestHeaders h = page_post();
        h.host = host;
        EXPECT_EQ(refused_status(h), *host ? 403 : 400) << host;
        h.method = "GET";
        EXPECT_EQ(refused_status(h), *host ? 403 : 400) << host;
    }
}

TEST(ServeRequest, CrossOriginPostsAreRefused) {
    for (const char* origin : {"http://evil.example", "null", "https://127.0.0.1:8000", "http://127.0.0.1:9999",
                               "file://", "http://127.0.0.1:8000.evil.example"}) {
        RequestHeaders h = page_post();
        h.origin = origin;
        EXPECT_EQ(refused_status(h), 403) << origin;
    }
    for (const char* site : {"cross-site", "same-site", "bogus"}) {
        RequestHeaders h = page_post();
        h.sec_fetch_site = site;
        EXPECT_EQ(refused_status(h), 403) << site;
        h.origin.clear();  // Sec-Fetch-Site alone is enough
        EXPECT_EQ(refused_status(h), 403) << site;
    }
    const auto r = check_headers({"POST", "127.0.0.1:8000", "http://evil.example", "cross-site", "application/json"}, kAllowed);
    ASSERT_TRUE(r);
    EXPECT_NE(r->message.find("evil.example"), std::string::npos) << r->message;
}

TEST(ServeRequest, PostsMustBeJson) {
    // What an HTML form (or a "simple" cross-origin fetch) can send without a preflight.
    for (const char* type : {"text/plain", "text/plain;charset=UTF-8", "application/x-www-form-urlencoded",
                             "multipart/form-data; boundary=x", "", "application/jsonx", "application/json-seq"}) {
        RequestHeaders h = page_post();
        h.content_type = type;
        EXPECT_EQ(refused_status(h), 415) << type;
    }
}

TEST(ServeRequest, BodiesAreParsedStrictly) {
    const auto ok = parse_run_request(R"({"text": "Alice saw a dog.", "explain_layer": 1})");
    ASSERT_TRUE(ok.request);
    EXPECT_EQ(ok.request->text, "Alice saw a dog.");
    EXPECT_EQ(ok.request->explain_layer, 1);
    for (const char* body : {"not json", "[]", "{}", R"({"text": 3})", R"({"text": "  \n"})",
                             R"({"text": "x", "explain_layer": -1})", R"({"text": "x", "explain_layer": "1"})",
                             R"({"text": "x", "explain_layer": 1.5})", R"({"text": "\ud800"})", "{\"text\": \"\xff\"}"}) {
        const auto bad = parse_run_request(body);
        EXPECT_FALSE(bad.request) << body;
        ASSERT_TRUE(bad.refusal) << body;
        EXPECT_EQ(bad.refusal->status, 400) << body;
    }
    EXPECT_EQ(nlohmann::json::parse(cli::error_json("bad \xff byte"))["error"], "bad \xef\xbf\xbd byte");
}

// ---- the running server ---------------------------------------------------------------

std::vector<std::string> serve_args(const std::string& model_dir, std::vector<std::string> more = {}) {
    std::vector<std::string> args = {"--model", model_dir};
    args.insert(args.end(), more.begin(), more.end());
    return args;
}

httplib::Result post(httplib::Client& c, const httplib::Headers& headers, const std::string& body,
                     const char* type = "application/json") {
    return c.Post("/api/run", headers, body, type);
}

TEST(Serve, ForgedHeadersAreRefusedAndThePageWorks) {
    GAZE_REQUIRE_FIXTURE(dir, "golden/bert-tiny");
    ServeProcess server(serve_args(dir));
    ASSERT_TRUE(server.ok()) << server.output();
    httplib::Client c("127.0.0.1", server.port());
    const std::string self = "http://127.0.0.1:" + std::to_string(server.port());

    auto page = c.Get("/");
    ASSERT_TRUE(page) << httplib::to_string(page.error());
    EXPECT_EQ(page->status, 200);
    auto run = post(c, {{"Origin", self}, {"Sec-Fetch-Site", "same-origin"}}, R"({"text": "Alice saw a dog."})");
    ASSERT_TRUE(run);
    EXPECT_EQ(run->status, 200) << run->body;
    EXPECT_TRUE(nlohmann::json::parse(run->body).contains("blocks")) << run->body.substr(0, 200);

    auto rebound = c.Get("/", {{"Host", "evil.example:" + std::to_string(server.port())}});
    ASSERT_TRUE(rebound);
    EXPECT_EQ(rebound->status, 403);
    EXPECT_NE(rebound->body.find("evil.example"), std::string::npos) << rebound->body;
    EXPECT_EQ(rebound->body.find("<html"), std::string::npos);
    auto cross = post(c, {{"Origin", "http://evil.example"}, {"Sec-Fetch-Site", "cross-site"}}, R"({"text": "x"})");
    ASSERT_TRUE(cross);
    EXPECT_EQ(cross->status, 403) << cross->body;
    auto form = post(c, {{"Origin", self}}, "text=x", "application/x-www-form-urlencoded");
    ASSERT_TRUE(form);
    EXPECT_EQ(form->status, 415) << form->body;
    auto bad = post(c, {}, "not json");
    ASSERT_TRUE(bad);
    EXPECT_EQ(bad->status, 400);
    EXPECT_EQ(server.stop(SIGTERM), 0) << server.output();
}

TEST(Serve, LongTextsAreRefusedBeforeTheModelRuns) {
    GAZE_REQUIRE_FIXTURE(dir, "golden/bert-tiny");
    ServeProcess server(serve_args(dir, {"--max-tokens", "16"}));
    ASSERT_TRUE(server.ok()) << server.output();
    httplib::Client c("127.0.0.1", server.port());
    auto fits = post(c, {}, R"({"text": "one two three"})");
    ASSERT_TRUE(fits);
    EXPECT_EQ(fits->status, 200);
    auto longer = post(c, {}, R"({"text": "one two three four five six seven eight nine ten eleven twelve thirteen fourteen fifteen"})");
    ASSERT_TRUE(longer);
    EXPECT_EQ(longer->status, 413);
    EXPECT_NE(longer->body.find("--max-tokens"), std::string::npos) << longer->body;
    EXPECT_EQ(server.stop(SIGINT), 0) << server.output();
}

TEST(Serve, SigtermWhileBusyAnswersOrRefusesEveryRequestAndExitsZero) {
    GAZE_REQUIRE_FIXTURE(dir, "golden/bert-tiny");
    ServeProcess server(serve_args(dir, {"--queue", "2"}));
    ASSERT_TRUE(server.ok()) << server.output();
    // Eight clients keep the model busy; the signal arrives mid-load.
    std::atomic<int> answered{0}, refused{0}, other{0};
    std::vector<std::thread> clients;
    for (int i = 0; i < 8; ++i) {
        clients.emplace_back([&, i] {
            httplib::Client c("127.0.0.1", server.port());
            c.set_read_timeout(30);
            for (int k = 0; k < 20; ++k) {
                auto r = post(c, {}, R"({"text": "The cat chased the mouse because it was hungry, said client )" +
                                         std::to_string(i) + "\"}");
                if (!r) return;  // the server has closed: stopped
                (r->status == 200 ? answered : r->status == 503 ? refused : other)++;
            }
        });
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(300));
    const int status = server.stop(SIGTERM);
    for (auto& t : clients) t.join();
    EXPECT_EQ(status, 0) << server.output();
    EXPECT_GT(answered.load(), 0);
    EXPECT_EQ(other.load(), 0);
    EXPECT_NE(server.output().find("SIGTERM"), std::string::npos) << server.output();
}

}  // namespace
}  // namespace gaze::test
