// Observers for Python: gaze.Observer subclasses, gaze.Request, and the
// built-in recorder, statistics and top-k observers.
#include "gaze/ops.hpp"
#include "py_observer.hpp"

namespace gaze::python {

PyEvent make_event(const AttentionEvent& e) {
    PyEvent ev;
    ev.stack = to_string(e.site.stack);
    ev.kind = to_string(e.site.kind);
    ev.layer = e.site.layer;
    ev.step = e.step;
    ev.heads.assign(e.heads.begin(), e.heads.end());
    ev.query_positions.assign(e.query_positions.begin(), e.query_positions.end());
    Tensor p;
    if (e.keep) {
        std::swap(*e.keep, p);  // the engine's own buffer, no copy; it refills what it gets back
    } else {
        ops::copy(e.probabilities, p);  // another observer still reads this buffer
    }
    ev.probabilities = to_numpy(p);
    for (int64_t b = 0; b < p.dim(0); ++b) {
        std::vector<std::string> q, k;
        for (int64_t pos : ev.query_positions) q.emplace_back(e.queries.str(b, pos));
        for (int64_t j = 0; j < e.keys.length; ++j) k.emplace_back(e.keys.str(b, j));
        ev.query_tokens.push_back(std::move(q));
        ev.key_tokens.push_back(std::move(k));
    }
    return ev;
}

AttentionRequest PyObserver::request() const {
    py::gil_scoped_acquire gil;
    const py::function f = py::get_override(static_cast<const AttentionObserver*>(this), "request");
    if (!f) return {};
    const py::object r = f();
    if (r.is_none()) return {};
    try {
        return r.cast<AttentionRequest>();
    } catch (const py::cast_error&) {
        throw Error("Observer.request() must return a gaze.Request or None, got " + py::repr(r).cast<std::string>());
    }
}

void PyObserver::on_forward_begin(const ForwardInfo& info) {
    py::gil_scoped_acquire gil;
    const py::function f = py::get_override(static_cast<const AttentionObserver*>(this), "on_forward_begin");
    if (!f) return;
    py::dict d;
    d["family"] = info.family;
    d["encoder_layers"] = info.encoder_layers;
    d["decoder_layers"] = info.decoder_layers;
    d["heads"] = info.heads;
    d["step"] = info.step;
    f(d);
}

void PyObserver::on_attention(const AttentionEvent& event) {
    py::gil_scoped_acquire gil;
    const py::function f = py::get_override(static_cast<const AttentionObserver*>(this), "on_attention");
    if (!f) throw Error("a gaze.Observer subclass must define on_attention(self, event)");
    f(make_event(event));
}

void PyObserver::on_forward_end() {
    py::gil_scoped_acquire gil;
    const py::function f = py::get_override(static_cast<const AttentionObserver*>(this), "on_forward_end");
    if (f) f();
}

namespace {

template <typename T>
std::vector<T> parse_list(const std::vector<std::string>& names, T (*parse)(const std::string&)) {
    std::vector<T> out;
    for (const auto& n : names) out.push_back(parse(n));
    return out;
}

AttentionRequest make_request(std::vector<int> layers, std::vector<int> heads, const std::vector<std::string>& kinds,
                              const std::vector<std::string>& stacks, std::vector<int64_t> query_positions) {
    AttentionRequest r;
    r.layers = std::move(layers);
    r.heads = std::move(heads);
    r.kinds = parse_list(kinds, parse_kind);
    r.stacks = parse_list(stacks, parse_stack);
    r.query_positions = std::move(query_positions);
    return r;
}

template <typename Enum>
std::vector<std::string> names(const std::vector<Enum>& values) {
    std::vector<std::string> out;
    for (auto v : values) out.emplace_back(to_string(v));
    return out;
}

py::dict site_dict(const AttentionSite& site) {
    py::dict d;
    d["stack"] = to_string(site.stack);
    d["kind"] = to_string(site.kind);
    d["layer"] = site.layer;
    return d;
}

py::dict record_dict(const AttentionRecorder& rec, const RecordedAttention& r) {
    py::dict d = site_dict(r.site);
    d["name"] = rec.tensor_name(r);
    d["step"] = r.step;
    d["heads"] = r.heads;
    d["query_positions"] = r.query_positions;
    d["probabilities"] = to_numpy(r.probabilities);
    d["query_tokens"] = r.query_tokens;
    d["key_tokens"] = r.key_tokens;
    return d;
}

py::dict statistics_dict(const HeadStatistics& s) {
    py::dict d = site_dict(s.site);
    d["head"] = s.head;
    d["rows"] = s.rows;
    d["entropy"] = s.entropy;
    d["mean_distance"] = s.mean_distance;
    d["max_weight"] = s.max_weight;
    d["first_token"] = s.first_token;
    d["special_tokens"] = s.special_tokens;
    d["diagonal"] = s.diagonal;
    d["previous_token"] = s.previous_token;
    return d;
}

}  // namespace

py::dict targets_dict(const TokenTargets& t) {
    py::dict d = site_dict(t.site);
    d["step"] = t.step;
    d["head"] = t.head;
    d["query_position"] = t.query_position;
    d["query_token"] = t.query_token;
    d["key_positions"] = t.key_positions;
    d["key_tokens"] = t.key_tokens;
    d["weights"] = t.weights;
    return d;
}

void bind_observers(py::module_& m) {
    py::class_<AttentionRequest>(m, "Request", "Which attention an observer wants; empty lists mean all")
        .def(py::init(&make_request), py::arg("layers") = std::vector<int>{}, py::arg("heads") = std::vector<int>{},
             py::arg("kinds") = std::vector<std::string>{}, py::arg("stacks") = std::vector<std::string>{},
             py::arg("query_positions") = std::vector<int64_t>{})
        .def_static("none", &AttentionRequest::none, "An observer that wants nothing (this pass)")
        .def_readonly("layers", &AttentionRequest::layers)
        .def_readonly("heads", &AttentionRequest::heads)
        .def_property_readonly("kinds", [](const AttentionRequest& r) { return names(r.kinds); })
        .def_property_readonly("stacks", [](const AttentionRequest& r) { return names(r.stacks); })
        .def_readonly("query_positions", &AttentionRequest::query_positions)
        .def_readonly("disabled", &AttentionRequest::disabled);

    py::class_<PyEvent>(m, "AttentionEvent")
        .def_readonly("stack", &PyEvent::stack)
        .def_readonly("kind", &PyEvent::kind)
        .def_readonly("layer", &PyEvent::layer)
        .def_readonly("step", &PyEvent::step)
        .def_readonly("heads", &PyEvent::heads)
        .def_readonly("query_positions", &PyEvent::query_positions)
        .def_readonly("probabilities", &PyEvent::probabilities)
        .def_readonly("query_tokens", &PyEvent::query_tokens)
        .def_readonly("key_tokens", &PyEvent::key_tokens)
        .def("__repr__", [](const PyEvent& e) {
            return "<gaze.AttentionEvent " + e.stack + " " + e.kind + " layer " + std::to_string(e.layer) +
                   " step " + std::to_string(e.step) + ">";
        });

    py::class_<AttentionObserver, PyObserver>(m, "Observer",
                                              "Subclass and define on_attention(self, event); optionally request(self), "
                                              "on_forward_begin(self, info), on_forward_end(self)")
        .def(py::init<>());

    py::class_<AttentionRecorder, AttentionObserver>(m, "Recorder", "Keeps every attention event it sees")
        .def(py::init<AttentionRequest>(), py::arg("request") = AttentionRequest{})
        .def_property_readonly("records", [](const AttentionRecorder& r) {
            py::list out;
            for (const auto& rec : r.records()) out.append(record_dict(r, rec));
            return out;
        })
        .def("clear", &AttentionRecorder::clear)
        .def("save_safetensors", &AttentionRecorder::save_safetensors, py::arg("path"))
        .def("save_json", &AttentionRecorder::save_json, py::arg("path"));

    py::class_<AttentionStatistics, AttentionObserver>(m, "Statistics", "Streaming per-head summaries (O(layers x heads) memory)")
        .def(py::init<AttentionRequest>(), py::arg("request") = AttentionRequest{})
        .def("results", [](const AttentionStatistics& s) {
            py::list out;
            for (const auto& h : s.results()) out.append(statistics_dict(h));
            return out;
        })
        .def("reset", &AttentionStatistics::reset);

    py::class_<TopTargets, AttentionObserver>(m, "TopTargets", "For each query token, the k keys it attends to most")
        .def(py::init([](int k, AttentionRequest request, bool average_heads) {
                 if (k < 1) throw Error("k: must be at least 1, got " + std::to_string(k));
                 return std::make_unique<TopTargets>(k, std::move(request), average_heads);
             }),
             py::arg("k") = 3, py::arg("request") = AttentionRequest{},
             py::arg("average_heads") = false)
        .def("results", [](const TopTargets& t) {
            py::list out;
            for (const auto& r : t.results()) out.append(targets_dict(r));
            return out;
        })
        .def("clear", &TopTargets::clear);
}

}  // namespace gaze::python
