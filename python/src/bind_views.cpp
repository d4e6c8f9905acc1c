// The views for Python: the self-contained HTML viewer page and the static
// figures (SVG text, PNG bytes) of include/gaze/views.hpp, plus one head's
// q/k/v computation for the step-by-step notebooks.
#include <atomic>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <thread>
#include <unistd.h>

#include "bindings.hpp"
#include "gaze/views.hpp"

namespace gaze::python {

std::shared_ptr<const AttentionProbe> PyModel::probe() {
    std::lock_guard<std::mutex> lock(probe_mutex_);
    if (!probe_) {
        if (!open_probe) {
            throw Error("the step-by-step views recompute q/k/v from a layer's weights, which gaze knows for bert, "
                        "distilbert, gpt2 and transformer, not " + info().family);
        }
        probe_ = std::make_shared<const AttentionProbe>(open_probe());
    }
    return probe_;
}

LayerQKV layer_qkv(const RunResult& r, int layer) {
    if (!r.source) throw Error("this result has no model to recompute q/k/v from");
    const auto probe = r.source->probe();
    if (layer < 0 || layer >= probe->layers()) {
        throw Error("layer " + std::to_string(layer) + ": the model has layers 0-" + std::to_string(probe->layers() - 1));
    }
    if (static_cast<size_t>(layer) >= r.hidden_states.size()) {
        throw Error("the step-by-step views need the layers' inputs: run with hidden_states=True");
    }
    return probe->project(r.hidden_states[static_cast<size_t>(layer)], layer);
}

namespace {

// PNG bytes through a private temporary file (cairo writes files).
py::bytes png_bytes(const views::Figure& f, double scale) {
    static std::atomic<int> counter{0};
    namespace fs = std::filesystem;
    std::ostringstream name;
    name << "gaze-" << ::getpid() << "-" << std::hash<std::thread::id>{}(std::this_thread::get_id()) << "-" << counter++ << ".png";
    const fs::path path = fs::temp_directory_path() / name.str();
    std::string data;
    {
        py::gil_scoped_release release;
        views::write_png(f, path.string(), scale);
        std::ifstream in(path, std::ios::binary);
        std::ostringstream s;
        s << in.rdbuf();
        data = s.str();
        std::error_code ignored;
        fs::remove(path, ignored);
    }
    if (data.empty()) throw Error("could not render the figure as PNG");
    return py::bytes(data);
}

// The <svg> element without the XML declaration: what goes inline into HTML
// (and what nbconvert's SVG handling accepts).
std::string inline_svg(const views::Figure& f) {
    const std::string svg = views::to_svg(f);
    const size_t start = svg.find("<svg");
    return start == std::string::npos ? svg : svg.substr(start);
}

int layer_index(const AttentionBlock& b, int layer) {
    const int l = layer < 0 ? layer + static_cast<int>(b.num_layers()) : layer;
    if (l < 0 || l >= b.num_layers()) {
        throw Error("layer " + std::to_string(layer) + ": " + b.label() + " has layers 0-" + std::to_string(b.num_layers() - 1));
    }
    return l;
}

void check_head(const AttentionBlock& b, int head, bool mean_allowed) {
    if (head < (mean_allowed ? -1 : 0) || head >= b.heads()) {
        throw Error("head " + std::to_string(head) + ": " + b.label() + " has heads 0-" + std::to_string(b.heads() - 1) +
                    (mean_allowed ? " (-1: the mean over heads)" : ""));
    }
}

views::HeatmapStyle style_of(const std::string& title, bool log_scale) {
    views::HeatmapStyle s;
    s.title = title;
    s.log_scale = log_scale;
    return s;
}

// A 2-D user array as a Tensor copy (figures keep their own data).
Tensor matrix_of(py::array_t<float, py::array::c_style | py::array::forcecast> a, const char* what) {
    if (a.ndim() != 2) throw Error(std::string(what) + ": expected a 2-D array, got " + std::to_string(a.ndim()) + " dims");
    return tensor_view(a, what).clone();
}

HeadComputation head_computation(const RunResult& r, int layer, int head) {
    const LayerQKV qkv = layer_qkv(r, layer);
    if (head < 0 || head >= qkv.heads) {
        throw Error("head " + std::to_string(head) + ": the model has heads 0-" + std::to_string(qkv.heads - 1));
    }
    const AttentionBlock& b = r.block("");
    return compute_head(qkv, head, b.keys.valid);
}

std::string page_html(const RunResult& r, const std::string& title, int explain_layer) {
    views::PageData data;
    data.attention = r.attention;
    if (explain_layer >= 0 && r.source && r.source->open_probe && !r.hidden_states.empty()) data.explain = layer_qkv(r, explain_layer);
    views::PageOptions options;
    options.title = title;
    options.model = r.model;
    options.text = r.text;
    py::gil_scoped_release release;
    return views::render_page(data, options);
}

}  // namespace

void bind_views(py::module_& m) {
    py::class_<views::Figure>(m, "Figure", "A static figure: .to_svg(), .to_png(), .save(path); shows inline in notebooks")
        .def_readonly("width", &views::Figure::width)
        .def_readonly("height", &views::Figure::height)
        .def("to_svg", [](const views::Figure& f) { return views::to_svg(f); })
        .def("to_png", &png_bytes, py::arg("scale") = 2.0, "PNG bytes")
        .def("save", [](const views::Figure& f, const std::string& path) { views::save_figure(f, path); }, py::arg("path"),
             "Writes .svg or .png, by the extension")
        .def("_repr_svg_", &inline_svg)
        .def("_repr_png_", [](const views::Figure& f) { return png_bytes(f, 1.0); });

    m.def("_page_html", &page_html, py::arg("result"), py::arg("title"), py::arg("explain_layer"));
    m.def("_head_figure", [](const RunResult& r, int layer, int head, const std::string& block, bool words, bool log_scale) {
        const AttentionBlock& b = r.block(block);
        layer = layer_index(b, layer);
        check_head(b, head, true);
        views::HeatmapStyle style = style_of("", log_scale);
        if (!words) return views::head_figure(b, layer, head, style);
        style.title = "Layer " + std::to_string(layer) + ", " + (head < 0 ? std::string("mean of heads") : "Head " + std::to_string(head)) + " (words)";
        return views::heatmap_figure({views::head_panel(b, layer, head, true)}, style);
    });
    m.def("_layer_heads_figure", [](const RunResult& r, int layer, const std::string& block) {
        const AttentionBlock& b = r.block(block);
        return views::layer_heads_figure(b, layer_index(b, layer));
    });
    m.def("_layer_means_figure", [](const RunResult& r, const std::string& block) { return views::layer_means_figure(r.block(block)); });
    m.def("_compare_heads_figure", [](const RunResult& r, const std::vector<std::pair<int, int>>& heads, const std::string& block) {
        const AttentionBlock& b = r.block(block);
        if (heads.empty()) throw Error("heads: give (layer, head) pairs to compare");
        std::vector<std::pair<int, int>> checked;
        for (auto [layer, head] : heads) {
            check_head(b, head, false);
            checked.emplace_back(layer_index(b, layer), head);
        }
        return views::compare_heads_figure(b, checked);
    });
    m.def("_token_matrix_figure", [](const RunResult& r, py::array_t<float, py::array::c_style | py::array::forcecast> values,
                                     const std::string& title, const std::string& block) {
        const AttentionBlock& b = r.block(block);
        const Tensor t = matrix_of(values, "matrix");
        if (t.dim(0) != b.queries.size() || t.dim(1) != b.keys.size()) {
            throw Error("matrix: " + t.shape().str() + " does not match the " + std::to_string(b.queries.size()) + " x " +
                        std::to_string(b.keys.size()) + " tokens of " + b.label());
        }
        return views::matrix_figure(t, b.queries, b.keys, title);
    });
    m.def("_array_figure", [](const std::vector<py::array_t<float, py::array::c_style | py::array::forcecast>>& values,
                              const std::vector<std::string>& titles, const std::vector<std::string>& row_labels,
                              const std::vector<std::string>& col_labels, const std::string& title, bool diverging) {
        std::vector<views::Panel> panels;
        for (size_t i = 0; i < values.size(); ++i) {
            views::Panel p;
            p.values = matrix_of(values[i], "values");
            p.title = i < titles.size() ? titles[i] : "";
            p.row_labels = row_labels;
            p.col_labels = col_labels;
            p.row_labels.resize(static_cast<size_t>(p.values.dim(0)));
            p.col_labels.resize(static_cast<size_t>(p.values.dim(1)));
            panels.push_back(std::move(p));
        }
        if (panels.empty()) throw Error("heatmap: no matrix given");
        views::HeatmapStyle style = style_of(title, false);
        style.diverging = diverging;
        if (diverging) style.colorbar_label = "value";
        return views::heatmap_figure(panels, style);
    });
    m.def("_position_encoding_figure", [](int64_t positions, int64_t dim, const std::vector<int64_t>& plotted) {
        if (positions < 1 || dim < 2 || dim % 2) throw Error("position encoding: give positions >= 1 and an even dim >= 2");
        return views::position_encoding_figure(positions, dim, plotted);
    });
    m.def("_causal_mask_figure", [](const RunResult& r, int layer, int head) {
        return views::causal_mask_figure(head_computation(r, layer, head), r.block("").queries.text);
    });
    m.def("_step_figure", [](const RunResult& r, int layer, int head, int64_t focus) {
        const auto& tokens = r.block("").queries.text;
        if (focus < 0 || focus >= static_cast<int64_t>(tokens.size())) {
            throw Error("focus " + std::to_string(focus) + ": the text has tokens 0-" + std::to_string(tokens.size() - 1));
        }
        return views::step_figure(head_computation(r, layer, head), focus, tokens);
    });
    m.def("qkv", [](const RunResult& r, int layer, int head) {
        const HeadComputation c = head_computation(r, layer, head);
        py::dict d;
        d["layer"] = c.layer;
        d["head"] = c.head;
        d["scale"] = c.scale;
        d["causal"] = c.causal;
        for (const auto& [name, t] : {std::pair<const char*, const Tensor*>{"q", &c.q}, {"k", &c.k}, {"v", &c.v},
                                      {"scores", &c.scores}, {"masked_scores", &c.masked_scores},
                                      {"weights", &c.weights}, {"context", &c.context}}) {
            d[name] = to_numpy(*t);
        }
        return d;
    }, py::arg("result"), py::arg("layer") = 0, py::arg("head") = 0,
       "One head's attention step by step: q, k, v [S, d], scores, masked_scores, weights [S, S], context [S, d]");
}

}  // namespace gaze::python
