// gaze view: the HTML viewer (one self-contained file) and static figures.
#include <filesystem>
#include <iomanip>
#include <iostream>

#include "view_support.hpp"

namespace gaze::cli {
namespace {

struct ViewOptions {
    std::string model = "auto";
    AttentionInput input;
    std::string recorded;
    std::string out, svg_dir, png_dir, title, heads;
    int layer = -1, head = -1, explain_layer = 0, focus = -1;
};

std::string file_prefix(const SequenceAttention& a, const AttentionBlock& b) {
    if (a.blocks.size() == 1) return "";
    std::string s = b.label();
    for (char& c : s) c = c == ' ' ? '_' : c;
    return s + "_";
}

// Writes each figure as .svg into svg_dir and/or .png into png_dir.
class FigureWriter {
public:
    FigureWriter(std::string svg, std::string png) : svg_(std::move(svg)), png_(std::move(png)) {
        for (const auto& d : {svg_, png_}) {
            if (!d.empty()) std::filesystem::create_directories(d);
        }
    }
    void operator()(const std::string& name, const views::Figure& f) {
        namespace fs = std::filesystem;
        if (!svg_.empty()) written_.push_back(save(f, (fs::path(svg_) / (name + ".svg")).string()));
        if (!png_.empty()) written_.push_back(save(f, (fs::path(png_) / (name + ".png")).string()));
    }
    const std::vector<std::string>& written() const { return written_; }

private:
    std::string svg_, png_;
    std::vector<std::string> written_;
    static std::string save(const views::Figure& f, const std::string& path) {
        views::save_figure(f, path);
        return path;
    }
};

void write_page(const std::string& path, const std::string& html) {
    const auto parent = std::filesystem::path(path).parent_path();
    if (!parent.empty()) std::filesystem::create_directories(parent);
    views::write_text_file(path, html);
    std::cout << "view:    " << path << "  (" << std::fixed << std::setprecision(1) << static_cast<double>(html.size()) / 1e6
              << " MB; open it in any browser, it needs no network)\n";
}

void write_figures(const ViewOptions& o, const views::PageData& data, const ViewRun* run, FigureWriter& write) {
    const SequenceAttention& a = data.attention;
    const auto ranked = classify_heads(a);
    for (const auto& b : a.blocks) {
        const std::string p = file_prefix(a, b);
        const int layer = o.layer < 0 ? static_cast<int>(b.num_layers()) - 1 : o.layer;
        const int head = o.head < 0 ? 0 : o.head;
        if (layer >= b.num_layers()) {
            throw Error("--layer " + std::to_string(layer) + ": " + b.label() + " has layers 0-" + std::to_string(b.num_layers() - 1));
        }
        if (head >= b.heads()) throw Error("--head " + std::to_string(head) + ": the model has heads 0-" + std::to_string(b.heads() - 1));
        views::HeatmapStyle style;
        if (a.blocks.size() > 1) style.title = "Layer " + std::to_string(layer) + ", Head " + std::to_string(head) + " (" + b.label() + ")";
        write(p + "head_L" + std::to_string(layer) + "_H" + std::to_string(head), views::head_figure(b, layer, head, style));
        write(p + "layer_L" + std::to_string(layer) + "_heads", views::layer_heads_figure(b, layer));
        write(p + "layer_means", views::layer_means_figure(b));
        std::vector<std::pair<int, int>> chosen;
        if (!o.heads.empty()) {
            chosen = parse_head_list(o.heads);
        } else {
            for (const auto& h : ranked) {
                if (h.stack == b.stack && h.kind == b.kind && chosen.size() < 4) chosen.emplace_back(h.layer, h.head);
            }
            if (chosen.empty()) chosen = {{layer, head}};
        }
        write(p + "compare_heads", views::compare_heads_figure(b, chosen));
    }
    const AttentionBlock& primary = a.primary();
    const auto rollout = attention_rollout(primary);
    write("rollout", views::matrix_figure(rollout.back(), primary.queries, primary.keys,
                                          "Attention rollout through all " + std::to_string(rollout.size()) + " layers"));
    if (primary.queries.size() <= 40) {
        write("flow", views::matrix_figure(attention_flow(primary), primary.queries, primary.keys, "Attention flow to the top layer"));
    }
    write("position_encoding", views::position_encoding_figure(std::max<int64_t>(50, primary.queries.size()),
                                                               data.explain ? data.explain->q.dim(1) : 64));
    if (data.explain && run) {
        const int head = o.head < 0 ? 0 : o.head;
        const std::vector<uint8_t> valid = primary.keys.valid;
        const HeadComputation c = compute_head(*data.explain, head, valid);
        const std::string tag = "_L" + std::to_string(c.layer) + "_H" + std::to_string(head);
        write("causal_mask" + tag, views::causal_mask_figure(c, primary.queries.text));
        const int64_t focus = o.focus >= 0 ? o.focus : std::min<int64_t>(1, primary.queries.size() - 1);
        if (focus >= primary.queries.size()) {
            throw Error("--focus " + std::to_string(focus) + ": the text has tokens 0-" + std::to_string(primary.queries.size() - 1));
        }
        write("step" + tag + "_T" + std::to_string(focus), views::step_figure(c, focus, primary.queries.text));
    }
}

// Long inputs with only the page asked for: the page straight from the running
// model (views::PageRecorder encodes each row as it comes), so the full
// [layers, heads, n, n] probabilities are never held. Empty otherwise.
std::optional<std::string> streamed_page(LoadedModel& m, const ViewOptions& o, const std::string& text,
                                         const views::PageOptions& page) {
    const ModelInfo& info = m.model->info();
    if (info.is_encoder_decoder || !o.svg_dir.empty() || !o.png_dir.empty() || !o.input.target.empty()) return std::nullopt;
    const Tokens input = tokenize_batch(*m.tokenizer, {text}, o.input.pair);
    if (input.length <= page.rollout_max_tokens) return std::nullopt;
    check_input(info, input);
    views::PageRecorder recorder(page.max_probability_bytes);
    AttentionObserver* observers[] = {&recorder};
    ForwardOptions options;
    options.observers = observers;
    options.compute_logits = false;
    m.model->forward(input, options);
    std::cerr << "gaze: note: " << input.length << " tokens: the page is recorded row by row (no rollout, flow or explain views)\n";
    return views::render_page(recorder.page_data_json(page), page);
}

int run(const ViewOptions& o) {
    if (o.out.empty() && o.svg_dir.empty() && o.png_dir.empty()) throw Error("nothing to write: give --out, --svg or --png");
    views::PageData data;
    views::PageOptions page;
    std::optional<ViewRun> view_run;
    std::optional<AttentionProbe> probe;
    std::string text;
    page.title = o.title.empty() ? "gaze: attention view" : o.title;
    if (!o.recorded.empty()) {
        data.attention = load_recorded_attention(o.recorded);
        page.model = "recorded attention from " + std::filesystem::path(o.recorded).filename().string();
    } else {
        text = o.input.read_one();
        LoadedModel m = open_model(o.model, {text});
        page.model = m.description;
        page.text = text + (o.input.pair.empty() ? "" : " || " + o.input.pair) + (o.input.target.empty() ? "" : " => " + o.input.target);
        if (!o.out.empty()) {
            if (auto html = streamed_page(m, o, text, page)) {
                write_page(o.out, *html);
                return 0;
            }
        }
        view_run = run_for_view(m, o.model, text, o.input.pair, o.input.target);
        std::string why;
        probe = open_probe(o.model, m, &why);
        if (!probe) std::cerr << "gaze: note: no step-by-step view: " << why << "\n";
        data = page_data(*view_run, probe ? &*probe : nullptr, o.explain_layer);
    }
    if (!o.out.empty()) write_page(o.out, views::render_page(data, page));
    FigureWriter writer(o.svg_dir, o.png_dir);
    if (!o.svg_dir.empty() || !o.png_dir.empty()) write_figures(o, data, view_run ? &*view_run : nullptr, writer);
    for (const auto& f : writer.written()) std::cout << "figure:  " << f << "\n";
    return 0;
}

const RegisterCommand registration{
    {"view", "Write the attention viewer (one HTML file: head, model, heatmap and explain views) and SVG/PNG figures",
     [](CLI::App& app) {
         auto o = std::make_shared<ViewOptions>();
         app.add_option("--model", o->model, "Model folder, or 'auto'")->capture_default_str();
         o->input.add_options(app);
         app.add_option("--recorded", o->recorded, "View a JSON file written by AttentionRecorder::save_json instead of running a model")
             ->check(CLI::ExistingFile);
         app.add_option("--out", o->out, "The HTML file to write");
         app.add_option("--svg", o->svg_dir, "Write SVG figures into this folder");
         app.add_option("--png", o->png_dir, "Write PNG figures into this folder");
         app.add_option("--title", o->title, "Page title");
         app.add_option("--layer", o->layer, "Layer of the single-head figures (default: the last)");
         app.add_option("--head", o->head, "Head of the single-head and step figures (default: 0)");
         app.add_option("--heads", o->heads, "Heads to compare side by side, LAYER:HEAD,... (default: the top recommended)");
         app.add_option("--explain-layer", o->explain_layer, "Layer whose q/k/v feed the step-by-step and causal-mask views")
             ->capture_default_str();
         app.add_option("--focus", o->focus, "Token index of the step-by-step figure (default: 1)");
         return [o] { return run(*o); };
     }}};

}  // namespace
}  // namespace gaze::cli
