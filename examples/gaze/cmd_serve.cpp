// gaze serve: the viewer on a local web server with a text box; each new
// text reruns the model and the page redraws. Serves 127.0.0.1 only unless
// --allow-remote. Defences (docs/reliability.md):
//   * requests for another Host (DNS rebinding), cross-origin POSTs and POSTs
//     that are not application/json are refused (serve_request.hpp);
//   * requests over --max-bytes get 413, texts over --max-tokens (or the
//     model's maximum) 413;
//   * one model run at a time, behind a bounded queue: with --queue requests
//     already waiting or running, the next gets 503 with Retry-After, as does
//     one that cannot get the model within --timeout seconds;
//   * SIGINT/SIGTERM stop the server: the run in progress is answered,
//     requests still waiting get 503, and the command exits 0.
#include <signal.h>
#include <sys/socket.h>

#include <atomic>
#include <functional>
#include <chrono>
#include <iostream>
#include <mutex>
#include <thread>

#include "serve_request.hpp"
#include "view_support.hpp"
// Last: httplib pulls in <resolv.h>, whose `_res` macro breaks Eigen's headers.
#include <httplib.h>

namespace gaze::cli {
namespace {

const std::vector<std::string> kExamples = {"Alice went to the park. She saw a dog.",
                                            "The cat chased the mouse because it was hungry.", "She will play the piano."};

struct ServeOptions {
    std::string model = "auto";
    std::string host = "127.0.0.1";
    int port = 8000;
    bool allow_remote = false;
    std::vector<std::string> allow_hosts;
    size_t max_bytes = 64 * 1024;
    int max_tokens = 512;
    int queue = 8;
    double timeout_s = 30.0;
};

bool is_loopback(const std::string& host) {
    return host == "localhost" || host == "::1" || host.rfind("127.", 0) == 0;
}

// Admission to the model: at most `capacity` requests hold a ticket (waiting
// for the model or running it); the rest are refused at once instead of
// piling up as waiting threads.
class ModelQueue {
public:
    explicit ModelQueue(int capacity) : capacity_(capacity) {}
    bool try_enter() {
        int held = held_.load();
        while (held < capacity_) {
            if (held_.compare_exchange_weak(held, held + 1)) return true;
        }
        return false;
    }
    // Given back when the request is done (answered or refused).
    struct Ticket {
        explicit Ticket(ModelQueue& q) : queue(q) {}
        ~Ticket() { queue.held_.fetch_sub(1); }
        ModelQueue& queue;
    };
    std::timed_mutex& model() { return model_; }

private:
    const int capacity_;
    std::atomic<int> held_{0};
    std::timed_mutex model_;  // one forward pass at a time: a Model is not re-entrant
};

// SIGINT/SIGTERM, taken from the moment serve starts: blocked in every
// thread (created before the model's OpenMP threads, which inherit the mask)
// and waited for on a thread of its own. Before the server listens a signal
// ends the process at once (exit 0: nothing is in flight); afterwards it runs
// the stop function, which stops the server.
class SignalWatch {
public:
    SignalWatch() {
        sigemptyset(&signals_);
        sigaddset(&signals_, SIGINT);
        sigaddset(&signals_, SIGTERM);
        pthread_sigmask(SIG_BLOCK, &signals_, nullptr);
        watcher_ = std::thread([this] { watch(); });
    }
    ~SignalWatch() {
        done_.store(true);
        watcher_.join();
    }
    void on_signal(std::function<void()> stop) {
        std::lock_guard<std::mutex> lock(mutex_);
        stop_ = std::move(stop);
    }

private:
    void watch() {
        const timespec tick{0, 100'000'000};
        while (!done_.load()) {
            const int sig = sigtimedwait(&signals_, nullptr, &tick);
            if (sig != SIGINT && sig != SIGTERM) continue;
            std::lock_guard<std::mutex> lock(mutex_);
            std::cerr << "gaze serve: " << (sig == SIGINT ? "SIGINT" : "SIGTERM") << ": stopping"
                      << (stop_ ? " (the run in progress is answered)" : "") << std::endl;
            if (!stop_) std::_Exit(0);
            stop_();
            return;
        }
    }

    sigset_t signals_;
    std::atomic<bool> done_{false};
    std::mutex mutex_;
    std::function<void()> stop_;
    std::thread watcher_;
};

// cpp-httplib 0.11 listens with a backlog of 5: a burst of new connections
// overflows it and the kernel drops SYNs, which clients resend only after a
// second. listen() again on the bound socket raises the backlog.
class Server : public httplib::Server {
public:
    void raise_backlog(int backlog) { ::listen(svr_sock_, backlog); }
};

void reply_error(httplib::Response& res, int status, const std::string& message) {
    res.status = status;
    res.set_content(error_json(message), "application/json");
}

void reply_busy(httplib::Response& res, const std::string& message) {
    res.set_header("Retry-After", "1");
    reply_error(res, 503, message);
}

int run(const ServeOptions& o) {
    if (!is_loopback(o.host) && !o.allow_remote) {
        throw Error("--host " + o.host + " is not a loopback address: anyone who can reach it could run the model; "
                    "add --allow-remote if that is what you want");
    }
    if (o.port < 0 || o.port > 65535) throw Error("--port must be 0-65535 (0: any free port)");
    if (o.max_bytes < 256) throw Error("--max-bytes must be at least 256");
    if (o.max_tokens < 1) throw Error("--max-tokens must be at least 1");
    if (o.queue < 1 || o.queue > 1024) throw Error("--queue must be 1-1024");
    if (!(o.timeout_s > 0.0 && o.timeout_s <= 3600.0)) throw Error("--timeout must be in (0, 3600] seconds");
    SignalWatch signals;  // first: every thread started from here on has the signals blocked
    LoadedModel m = open_model(o.model, kExamples);
    std::string why;
    const std::optional<AttentionProbe> probe = open_probe(o.model, m, &why);
    if (!probe) std::cerr << "gaze: note: no step-by-step view: " << why << "\n";
    const int64_t model_max = m.model->info().max_positions;
    const int64_t token_limit = model_max > 0 ? std::min<int64_t>(o.max_tokens, model_max) : o.max_tokens;

    // Runs the model; the caller holds the model lock.
    auto data_for = [&](const std::string& text, int explain_layer) {
        const ViewRun r = run_for_view(m, o.model, text, "", "");
        const int layer = probe ? std::clamp<int>(explain_layer, 0, static_cast<int>(probe->layers()) - 1) : 0;
        views::PageOptions page{"gaze serve", m.description, text, true, kExamples};
        return views::page_data_json(page_data(r, probe ? &*probe : nullptr, layer), page);
    };
    const views::PageOptions page_options{"gaze serve", m.description, kExamples[0], true, kExamples};
    const std::string page = views::render_page(data_for(kExamples[0], 0), page_options);

    Server server;
    ModelQueue queue(o.queue);
    std::atomic<bool> stopping{false};
    // Workers beyond the queue answer refusals and the page while the model is busy.
    const size_t workers = static_cast<size_t>(o.queue) + 4;
    server.new_task_queue = [workers] { return new httplib::ThreadPool(workers); };
    server.set_payload_max_length(o.max_bytes);
    server.set_keep_alive_timeout(1);  // an idle keep-alive connection holds a worker
    server.set_read_timeout(5);
    std::vector<std::string> allowed;  // filled once the port is known

    server.set_pre_routing_handler([&](const httplib::Request& req, httplib::Response& res) {
        const RequestHeaders headers{req.method, req.get_header_value("Host"), req.get_header_value("Origin"),
                                     req.get_header_value("Sec-Fetch-Site"), req.get_header_value("Content-Type")};
        if (const auto refusal = check_headers(headers, allowed)) {
            reply_error(res, refusal->status, refusal->message);
            return httplib::Server::HandlerResponse::Handled;
        }
        return httplib::Server::HandlerResponse::Unhandled;
    });
    server.Get("/", [&](const httplib::Request&, httplib::Response& res) {
        res.set_header("Cache-Control", "no-store");
        res.set_content(page, "text/html; charset=utf-8");
    });
    server.Get("/api/health", [](const httplib::Request&, httplib::Response& res) { res.set_content("ok\n", "text/plain"); });
    server.Post("/api/run", [&](const httplib::Request& req, httplib::Response& res) {
        const auto deadline = std::chrono::steady_clock::now() + std::chrono::duration<double>(o.timeout_s);
        const ParsedRunRequest parsed = parse_run_request(req.body);
        if (parsed.refusal) return reply_error(res, parsed.refusal->status, parsed.refusal->message);
        const RunRequest& run = *parsed.request;
        try {
            // Tokens first, outside the lock: an over-long text never waits for the model.
            const int64_t tokens = m.tokenizer ? tokenize_batch(*m.tokenizer, {run.text}, "").length : 0;
            if (tokens > token_limit) {
                return reply_error(res, 413, "the text is " + std::to_string(tokens) + " tokens; the limit is " +
                                                 std::to_string(token_limit) +
                                                 (token_limit == model_max ? " (the model's maximum)" : " (--max-tokens)"));
            }
            if (stopping.load()) return reply_busy(res, "the server is stopping");
            if (!queue.try_enter()) return reply_busy(res, "busy: " + std::to_string(o.queue) + " requests are queued; retry");
            const ModelQueue::Ticket ticket(queue);
            std::unique_lock<std::timed_mutex> lock(queue.model(), std::defer_lock);
            if (!lock.try_lock_until(deadline)) return reply_busy(res, "busy: the model was not free within --timeout");
            if (stopping.load()) return reply_busy(res, "the server is stopping");
            res.set_content(data_for(run.text, run.explain_layer), "application/json");
        } catch (const Error& e) {
            reply_error(res, 400, e.what());
        } catch (const std::exception& e) {
            reply_error(res, 500, std::string("internal error: ") + e.what());
        }
    });
    server.set_error_handler([&o](const httplib::Request&, httplib::Response& res) {
        if (!res.body.empty()) return;
        const std::string message = res.status == 413 ? "request too large (the limit is " + std::to_string(o.max_bytes) + " bytes)"
                                                      : "HTTP " + std::to_string(res.status);
        res.set_content(error_json(message), "application/json");
    });

    int port = o.port;
    if (port == 0) {
        port = server.bind_to_any_port(o.host);
        if (port < 0) throw Error("cannot listen on " + o.host);
    } else if (!server.bind_to_port(o.host, port)) {
        throw Error("cannot listen on " + o.host + ":" + std::to_string(port) + " (in use? try --port 0)");
    }
    server.raise_backlog(SOMAXCONN);
    allowed = allowed_hosts(o.host, port, o.allow_hosts);
    const std::string shown = o.host.find(':') != std::string::npos ? "[" + o.host + "]" : o.host;
    std::cout << "model:   " << m.description << "\n"
              << "limits:  " << o.max_bytes << " bytes, " << token_limit << " tokens, queue " << o.queue << ", timeout "
              << o.timeout_s << " s\n"
              << "serving: http://" << shown << ":" << port << "/  (Ctrl-C to stop)" << std::endl;
    signals.on_signal([&] {
        stopping.store(true);
        server.stop();
    });
    const bool listened = server.listen_after_bind();
    signals.on_signal(nullptr);
    if (!listened && !stopping.load()) throw Error("the server stopped unexpectedly");
    std::cout << "gaze serve: stopped" << std::endl;
    return 0;
}

const RegisterCommand registration{{"serve", "Serve the attention viewer on 127.0.0.1 with a text box that reruns the model",
                                    [](CLI::App& app) {
                                        auto o = std::make_shared<ServeOptions>();
                                        app.add_option("--model", o->model, "Model folder, or 'auto'")->capture_default_str();
                                        app.add_option("--port", o->port, "Port (0: any free port)")->capture_default_str();
                                        app.add_option("--host", o->host, "Address to listen on")->capture_default_str();
                                        app.add_flag("--allow-remote", o->allow_remote, "Allow a non-loopback --host");
                                        app.add_option("--allow-host", o->allow_hosts,
                                                       "Another Host header to answer (a name the server is reached by; "
                                                       "repeatable). Others get 403: DNS-rebinding defence");
                                        app.add_option("--max-bytes", o->max_bytes, "Largest request accepted (bigger: 413)")
                                            ->capture_default_str();
                                        app.add_option("--max-tokens", o->max_tokens,
                                                       "Longest text in tokens (bigger: 413; the model's maximum applies too)")
                                            ->capture_default_str();
                                        app.add_option("--queue", o->queue,
                                                       "Requests that may wait for or run the model at once (more: 503)")
                                            ->capture_default_str();
                                        app.add_option("--timeout", o->timeout_s,
                                                       "Seconds a request may wait for the model (longer: 503)")
                                            ->capture_default_str();
                                        return [o] { return run(*o); };
                                    }}};

}  // namespace
}  // namespace gaze::cli
