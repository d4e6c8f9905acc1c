#pragma once
// Attention views: a self-contained HTML viewer (head view, model view,
// heatmaps, the explanatory views) and static figures (SVG, PNG).
//
//   PageData data{collect_attention(recorder, tokens)};
//   views::write_text_file("view.html", views::render_page(data, {.title = "my sentence"}));
//   views::save_figure(views::head_figure(data.attention.primary(), 0, 1), "l0h1.svg");
//
// The page is one file: styles, scripts and data inline, no network. Token
// strings reach the page as JSON (with <, >, & escaped so "</script>" cannot
// close the data block) and are drawn with textContent only.
#include <cmath>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <variant>
#include <vector>

#include "gaze/analysis.hpp"
#include "gaze/attention_probe.hpp"
#include "gaze/ops.hpp"

namespace gaze::views {

// ---- figures ------------------------------------------------------------------

struct Color {
    uint8_t r = 0, g = 0, b = 0;
};

// A figure is a list of primitives in drawing order, rendered to SVG or PNG.
struct Figure {
    struct Rect {
        double x = 0, y = 0, w = 0, h = 0;
        Color fill;
        double stroke_width = 0;  // 0: no outline
        Color stroke;
        std::string tooltip;      // SVG <title> (hover text)
    };
    struct Text {
        double x = 0, y = 0;      // anchor point on the baseline
        std::string text;
        double size = 11;
        int anchor = -1;          // -1 start, 0 middle, 1 end
        double rotate = 0;        // degrees, clockwise, about (x, y)
        bool bold = false;
        Color fill;
    };
    struct Line {  // a polyline
        std::vector<std::pair<double, double>> points;
        Color stroke;
        double width = 1;
        double opacity = 1;
    };
    double width = 0, height = 0;
    std::vector<std::variant<Rect, Text, Line>> items;

    void rect(Rect r) { items.emplace_back(std::move(r)); }
    void text(Text t) { items.emplace_back(std::move(t)); }
    void line(Line l) { items.emplace_back(std::move(l)); }
};

std::string to_svg(const Figure& figure);
// Rasterises with cairo; `scale` multiplies the pixel size (2 = sharp on HiDPI).
void write_png(const Figure& figure, const std::string& path, double scale = 2.0);
// .svg or .png, by the path's extension.
void save_figure(const Figure& figure, const std::string& path);

// One matrix of a heatmap figure.
struct Panel {
    std::string title;
    Tensor values;                       // [rows, cols]
    std::vector<std::string> row_labels;  // empty strings are not drawn
    std::vector<std::string> col_labels;
    std::vector<uint8_t> masked;          // rows*cols, 1 = masked (drawn hatched); empty = none
};

struct HeatmapStyle {
    std::string title;
    std::string x_label = "Key (attended to)";
    std::string y_label = "Query (attending from)";
    std::string colorbar_label = "attention weight";
    bool log_scale = false;        // colours by log10, from 1e-4
    bool diverging = false;        // blue-white-red around 0 (scores, encodings)
    double vmin = NAN, vmax = NAN; // one colour scale for every panel (NaN: from the data)
    int columns = 0;               // panels per row (0: automatic)
    double cell = 0;               // cell width in pixels (0: automatic)
    double cell_height = 0;        // 0: square cells
    bool mark_masked = false;      // write "-inf" in masked cells large enough to hold it
};

// Panels on one colour scale, with labels, axis titles and a colour bar.
Figure heatmap_figure(const std::vector<Panel>& panels, const HeatmapStyle& style = {});

// A head (head -1: the layer's mean over heads) as a panel; `words` merges
// sub-word pieces (sum over key pieces, mean over query pieces).
Panel head_panel(const AttentionBlock& block, int layer, int head, bool words = false);
// "Layer l, Head h".
Figure head_figure(const AttentionBlock& block, int layer, int head, const HeatmapStyle& style = {});
// Every head of a layer in a grid.
Figure layer_heads_figure(const AttentionBlock& block, int layer, const HeatmapStyle& style = {});
// Each layer averaged over its heads.
Figure layer_means_figure(const AttentionBlock& block, const HeatmapStyle& style = {});
// Chosen (layer, head) pairs side by side on one colour scale.
Figure compare_heads_figure(const AttentionBlock& block, const std::vector<std::pair<int, int>>& heads,
                            const HeatmapStyle& style = {});
// A token x token matrix such as a rollout or flow.
Figure matrix_figure(const Tensor& m, const TokenSide& queries, const TokenSide& keys, const std::string& title,
                     const HeatmapStyle& style = {});

// Sinusoidal position encoding (ops::sinusoidal_position_encoding): a
// positions x dimensions heatmap above a plot of a few positions' vectors.
Figure position_encoding_figure(int64_t positions, int64_t dim, const std::vector<int64_t>& plotted = {},
                                ops::SinusoidLayout layout = ops::SinusoidLayout::interleaved,
                                ops::SinusoidSpacing spacing = ops::SinusoidSpacing::paper);
// Raw scores next to causally masked scores (masked cells -inf).
Figure causal_mask_figure(const HeadComputation& head, const std::vector<std::string>& tokens);
// One focus token in one head: scores, softmax weights, weighted values, their sum.
Figure step_figure(const HeadComputation& head, int64_t focus, const std::vector<std::string>& tokens);

// ---- the HTML viewer -------------------------------------------------------------

struct PageOptions {
    std::string title = "gaze attention";
    std::string model;                   // which model, for the header
    std::string text;                    // the input, for the header and the serve text box
    bool serve = false;                  // text box, examples; reruns through POST /api/run
    std::vector<std::string> examples;   // example sentences (serve)
    int64_t flow_max_tokens = 40;        // attention flow only up to this many tokens
    int64_t rollout_max_tokens = 256;    // attention rollout only up to this many tokens
    // Bytes the probabilities may take before base64 (which adds a third): the
    // page picks the most precise layout that fits (16 bits per weight, 8 bits
    // relative to each row's largest, or each row's top k plus the rest's
    // mass) and states it, with its largest error, above the views.
    int64_t max_probability_bytes = 32'000'000;
};

struct PageData {
    SequenceAttention attention;
    std::optional<LayerQKV> explain;     // one layer's q/k/v: step-by-step and causal-mask views
    int64_t position_dim = 0;            // position-encoding view width (0: the model's q/k/v width, or 64)
    int64_t position_count = 0;          // positions shown (0: max(50, tokens))
};

// The JSON object the page draws (also what `gaze serve` answers on /api/run).
std::string page_data_json(const PageData& data, const PageOptions& options);
// The complete page around a page_data_json() object.
std::string render_page(const std::string& data_json, const PageOptions& options);
std::string render_page(const PageData& data, const PageOptions& options);
// Builds the page's attention while a model runs, each row encoded as it
// arrives, so a long input never holds its [heads, n, n] probabilities: a
// 2,048-token pass of a 22-layer, 32-head model keeps ~32 MB, not 12 GB. Keeps
// the first sequence of the batch and full passes (step -1); accepts row
// blocks. The page it makes has no rollout, flow or explain views.
class PageRecorder : public AttentionObserver {
public:
    explicit PageRecorder(int64_t max_probability_bytes = PageOptions{}.max_probability_bytes);
    ~PageRecorder() override;
    AttentionRequest request() const override;
    void on_forward_begin(const ForwardInfo& info) override;
    void on_attention(const AttentionEvent& event) override;
    // Throws when some layer, head or row was never sent.
    std::string page_data_json(const PageOptions& options) const;

private:
    struct Block;
    Block& block_for(const AttentionEvent& event);
    int64_t budget_;
    std::string family_;
    std::vector<std::unique_ptr<Block>> blocks_;
    struct Expected {
        Stack stack;
        AttentionKind kind;
        int64_t layers, queries, keys;
    };
    std::vector<Expected> expected_;
    int heads_ = 0;
};

// JSON made safe inside <script>: <, >, &, U+2028, U+2029 as \u escapes.
std::string escape_json_for_script(const std::string& json);
// Text made safe for XML/HTML character data and attributes (also repairs
// invalid UTF-8 and control bytes, which XML does not allow).
std::string escape_xml(std::string_view text);

void write_text_file(const std::string& path, const std::string& content);

}  // namespace gaze::views
