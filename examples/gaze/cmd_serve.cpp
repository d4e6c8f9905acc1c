// gaze serve: the viewer on a local web server with a text box; each new
// text reruns the model and the page redraws. Serves 127.0.0.1 only unless
// --allow-remote; requests over --max-bytes are refused with 413.
#include <iostream>
#include <mutex>
#include <nlohmann/json.hpp>

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
    size_t max_bytes = 64 * 1024;
};

bool is_loopback(const std::string& host) {
    return host == "localhost" || host == "::1" || host.rfind("127.", 0) == 0;
}

int run(const ServeOptions& o) {
    if (!is_loopback(o.host) && !o.allow_remote) {
        throw Error("--host " + o.host + " is not a loopback address: anyone who can reach it could run the model; "
                    "add --allow-remote if that is what you want");
    }
    if (o.port < 0 || o.port > 65535) throw Error("--port must be 0-65535 (0: any free port)");
    if (o.max_bytes < 256) throw Error("--max-bytes must be at least 256");
    LoadedModel m = open_model(o.model, kExamples);
    std::string why;
    const std::optional<AttentionProbe> probe = open_probe(o.model, m, &why);
    if (!probe) std::cerr << "gaze: note: no step-by-step view: " << why << "\n";
    std::mutex model_mutex;  // one forward pass at a time: a Model is not re-entrant

    auto data_for = [&](const std::string& text, int explain_layer) {
        std::lock_guard<std::mutex> lock(model_mutex);
        const ViewRun r = run_for_view(m, o.model, text, "", "");
        const int layer = probe ? std::clamp<int>(explain_layer, 0, static_cast<int>(probe->layers()) - 1) : 0;
        views::PageOptions page{"gaze serve", m.description, text, true, kExamples};
        return views::page_data_json(page_data(r, probe ? &*probe : nullptr, layer), page);
    };
    const views::PageOptions page_options{"gaze serve", m.description, kExamples[0], true, kExamples};
    const std::string page = views::render_page(data_for(kExamples[0], 0), page_options);

    httplib::Server server;
    server.set_payload_max_length(o.max_bytes);
    server.Get("/", [&](const httplib::Request&, httplib::Response& res) {
        res.set_header("Cache-Control", "no-store");
        res.set_content(page, "text/html; charset=utf-8");
    });
    server.Get("/api/health", [](const httplib::Request&, httplib::Response& res) { res.set_content("ok\n", "text/plain"); });
    server.Post("/api/run", [&](const httplib::Request& req, httplib::Response& res) {
        auto fail = [&res](int status, const std::string& message) {
            res.status = status;
            res.set_content(nlohmann::json{{"error", message}}.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace),
                            "application/json");
        };
        nlohmann::json body = nlohmann::json::parse(req.body, nullptr, false);
        if (body.is_discarded() || !body.is_object() || !body.contains("text") || !body["text"].is_string()) {
            return fail(400, "send a JSON object {\"text\": \"...\"}");
        }
        const std::string text = body["text"];
        const int layer = body.contains("explain_layer") && body["explain_layer"].is_number_integer() ? body["explain_layer"].get<int>() : 0;
        try {
            if (text.find_first_not_of(" \t\r\n") == std::string::npos) return fail(400, "the text is empty");
            res.set_content(data_for(text, layer), "application/json");
        } catch (const Error& e) {
            fail(400, e.what());
        } catch (const std::exception& e) {
            fail(500, std::string("internal error: ") + e.what());
        }
    });
    server.set_error_handler([&o](const httplib::Request&, httplib::Response& res) {
        if (!res.body.empty()) return;
        const std::string message = res.status == 413 ? "request too large (the limit is " + std::to_string(o.max_bytes) + " bytes)"
                                                      : "HTTP " + std::to_string(res.status);
        res.set_content(nlohmann::json{{"error", message}}.dump(), "application/json");
    });

    int port = o.port;
    if (port == 0) {
        port = server.bind_to_any_port(o.host);
        if (port < 0) throw Error("cannot listen on " + o.host);
    } else if (!server.bind_to_port(o.host, port)) {
        throw Error("cannot listen on " + o.host + ":" + std::to_string(port) + " (in use? try --port 0)");
    }
    const std::string shown = o.host.find(':') != std::string::npos ? "[" + o.host + "]" : o.host;
    std::cout << "model:   " << m.description << "\n"
              << "serving: http://" << shown << ":" << port << "/  (Ctrl-C to stop)" << std::endl;
    if (!server.listen_after_bind()) throw Error("the server stopped unexpectedly");
    return 0;
}

const RegisterCommand registration{{"serve", "Serve the attention viewer on 127.0.0.1 with a text box that reruns the model",
                                    [](CLI::App& app) {
                                        auto o = std::make_shared<ServeOptions>();
                                        app.add_option("--model", o->model, "Model folder, or 'auto'")->capture_default_str();
                                        app.add_option("--port", o->port, "Port (0: any free port)")->capture_default_str();
                                        app.add_option("--host", o->host, "Address to listen on")->capture_default_str();
                                        app.add_flag("--allow-remote", o->allow_remote, "Allow a non-loopback --host");
                                        app.add_option("--max-bytes", o->max_bytes, "Largest request accepted (bigger: 413)")
                                            ->capture_default_str();
                                        return [o] { return run(*o); };
                                    }}};

}  // namespace
}  // namespace gaze::cli
