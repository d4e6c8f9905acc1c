// A bounded load test of `gaze serve` (loopback, golden tiny BERT): 2,000
// requests from 32 clients, a mix of valid texts, malformed bodies, forged
// headers, over-long texts and oversize bodies. The server must not crash,
// answer nothing 5xx but 503 (a full queue), keep its memory within 10% of
// what it held after a warm-up round, and stop with exit status 0. The latency
// figures it prints go to benchmarks/README.md (no timing target here).
#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <map>
#include <mutex>
#include <thread>

#include "serve_process.hpp"
#include "test_support.hpp"
// Last: httplib pulls in <resolv.h>, whose `_res` macro breaks Eigen's headers.
#include <httplib.h>

#if defined(__has_feature)
#if __has_feature(address_sanitizer)
#define GAZE_TEST_ASAN 1
#endif
#endif

namespace gaze::test {
namespace {

constexpr int kClients = 32;
constexpr int kRequests = 2000;

struct Outcome {
    int status = 0;  // 0: no HTTP answer at all
    double ms = 0;
};

// A text far over --max-tokens 128 but well within --max-bytes.
const std::string& long_text() {
    static const std::string text = [] {
        std::string s;
        for (int k = 0; k < 600; ++k) s += "again ";
        return s;
    }();
    return text;
}

// Request `i` of the mix: 9 kinds, most of them cheap to refuse.
httplib::Result request(httplib::Client& c, int i, const std::string& self) {
    switch (i % 9) {
        case 0:
        case 1:
        case 2:  // valid, different texts
            return c.Post("/api/run", {{"Origin", self}}, R"({"text": "Request )" + std::to_string(i) + R"( saw a dog."})",
                          "application/json");
        case 3:  // malformed JSON
            return c.Post("/api/run", "{\"text\": ", "application/json");
        case 4:  // an HTML form's content type
            return c.Post("/api/run", "text=hello", "application/x-www-form-urlencoded");
        case 5:  // DNS rebinding
            return c.Get("/", {{"Host", "rebind.example:80"}});
        case 6:  // a cross-site page
            return c.Post("/api/run", {{"Origin", "http://evil.example"}, {"Sec-Fetch-Site", "cross-site"}},
                          R"({"text": "x"})", "application/json");
        case 7:  // over the token limit
            return c.Post("/api/run", R"({"text": ")" + long_text() + R"("})", "application/json");
        default:  // over the byte limit
            return c.Post("/api/run", std::string(70 * 1024, 'x'), "application/json");
    }
}

Outcome send(httplib::Client& c, int i, const std::string& self) {
    const auto start = std::chrono::steady_clock::now();
    const httplib::Result r = request(c, i, self);
    const double ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count();
    return {r ? r->status : 0, ms};
}

double percentile(std::vector<double> v, double p) {
    if (v.empty()) return 0;
    std::sort(v.begin(), v.end());
    return v[std::min(v.size() - 1, static_cast<size_t>(p * static_cast<double>(v.size())))];
}

TEST(ServeLoad, MixedRequestsFrom32Clients) {
    GAZE_REQUIRE_FIXTURE(dir, "golden/bert-tiny");
    ServeProcess server({"--model", dir, "--queue", "4", "--max-tokens", "128"});
    ASSERT_TRUE(server.ok()) << server.output();
    const std::string self = "http://127.0.0.1:" + std::to_string(server.port());

    auto run_clients = [&](int requests) {
        std::vector<Outcome> outcomes(static_cast<size_t>(requests));
        std::atomic<int> next{0};
        std::vector<std::thread> clients;
        for (int t = 0; t < kClients; ++t) {
            clients.emplace_back([&] {
                httplib::Client c("127.0.0.1", server.port());
                c.set_connection_timeout(10);
                c.set_read_timeout(30);
                for (int i = next++; i < requests; i = next++) outcomes[static_cast<size_t>(i)] = send(c, i, self);
            });
        }
        for (auto& t : clients) t.join();
        return outcomes;
    };
    // Warm-up, the same mix: every worker thread and the allocator's arenas exist
    // after it (RSS then stays within ~1% over further rounds of 2,000).
    run_clients(kRequests);
    const long rss_before = server.rss_kib();
    const auto start = std::chrono::steady_clock::now();
    const std::vector<Outcome> outcomes = run_clients(kRequests);
    const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    const long rss_after = server.rss_kib();

    std::map<int, int> by_status;
    std::vector<double> all_ms, ok_ms;
    for (const auto& o : outcomes) {
        ++by_status[o.status];
        all_ms.push_back(o.ms);
        if (o.status == 200) ok_ms.push_back(o.ms);
    }
    std::string summary;
    for (const auto& [status, n] : by_status) summary += " " + std::to_string(status) + ":" + std::to_string(n);
    std::printf("serve load: %d requests, %d clients, %.2f s (%.0f req/s); status counts%s\n", kRequests, kClients, seconds,
                kRequests / seconds, summary.c_str());
    std::printf("serve load: latency all p50 %.2f ms p99 %.2f ms; 200s p50 %.2f ms p99 %.2f ms; RSS %ld -> %ld KiB\n",
                percentile(all_ms, 0.5), percentile(all_ms, 0.99), percentile(ok_ms, 0.5), percentile(ok_ms, 0.99),
                rss_before, rss_after);

    EXPECT_EQ(by_status[0], 0) << "requests without an answer (crash or hang?):" << summary;
    for (const auto& [status, n] : by_status) {
        EXPECT_TRUE(status < 500 || status == 503) << n << " answers with status " << status;
    }
    EXPECT_GT(by_status[200], 0) << summary;
    for (int refused : {400, 403, 413, 415}) EXPECT_GT(by_status[refused], 0) << refused << " never seen:" << summary;
    ASSERT_GT(rss_before, 0);
#if defined(__SANITIZE_ADDRESS__) || defined(GAZE_TEST_ASAN)
    // Under AddressSanitizer (the server is built the same way) freed memory
    // sits in ASan's quarantine (256 MB by default), so resident memory says
    // nothing about leaks; LeakSanitizer checks those instead. The bound is
    // held by the Release run.
    std::printf("serve load: RSS bound not checked under AddressSanitizer\n");
#else
    EXPECT_LE(rss_after, rss_before * 11 / 10) << "RSS grew from " << rss_before << " to " << rss_after << " KiB";
#endif
    EXPECT_EQ(server.stop(SIGTERM), 0) << server.output();
}

}  // namespace
}  // namespace gaze::test
