// The attention figures: heads, layers, comparisons, and the explanatory
// figures (position encoding, causal mask, one attention step).
#include <algorithm>
#include <cmath>
#include <set>

#include "draw.hpp"
#include "gaze/error.hpp"

namespace gaze::views {

using namespace draw;

namespace {

void check_layer_head(const AttentionBlock& block, int layer, int head) {
    if (layer < 0 || layer >= block.num_layers()) {
        throw Error("layer " + std::to_string(layer) + " is outside 0-" + std::to_string(block.num_layers() - 1));
    }
    if (head < -1 || head >= block.heads()) {
        throw Error("head " + std::to_string(head) + " is outside 0-" + std::to_string(block.heads() - 1));
    }
}

std::string head_title(int layer, int head) {
    return "Layer " + std::to_string(layer) + (head < 0 ? ", mean of heads" : ", Head " + std::to_string(head));
}

Tensor head_matrix(const AttentionBlock& block, int layer, int head) {
    const Tensor& all = block.layers[static_cast<size_t>(layer)];
    if (head >= 0) return all.select(0, head).clone();
    Tensor mean({all.dim(1), all.dim(2)});
    mean.fill(0);
    for (int64_t h = 0; h < all.dim(0); ++h) mean.matrix() += all.select(0, h).matrix() / static_cast<float>(all.dim(0));
    return mean;
}

std::vector<uint8_t> mask_of(const AttentionBlock& block) {
    std::vector<uint8_t> m;
    for (int64_t i = 0; i < block.queries.size(); ++i) {
        for (int64_t j = 0; j < block.keys.size(); ++j) m.push_back(block.masked(i, j) ? 1 : 0);
    }
    return m;
}

}  // namespace

Panel head_panel(const AttentionBlock& block, int layer, int head, bool words) {
    check_layer_head(block, layer, head);
    Panel p;
    p.title = head_title(layer, head);
    const Tensor m = head_matrix(block, layer, head);
    if (!words) {
        p.values = m;
        p.row_labels = block.queries.text;
        p.col_labels = block.keys.text;
        p.masked = mask_of(block);
        return p;
    }
    const auto qw = group_words(block.queries.text, block.queries.special);
    const auto kw = group_words(block.keys.text, block.keys.special);
    p.values = merge_word_attention(m, qw, kw);
    for (const auto& w : qw) p.row_labels.push_back(w.text);
    for (const auto& w : kw) p.col_labels.push_back(w.text);
    for (const auto& a : qw) {
        for (const auto& b : kw) {
            bool all = true;
            for (int64_t i = a.first; i <= a.last && all; ++i) {
                for (int64_t j = b.first; j <= b.last && all; ++j) all = block.masked(i, j);
            }
            p.masked.push_back(all ? 1 : 0);
        }
    }
    return p;
}

Figure head_figure(const AttentionBlock& block, int layer, int head, const HeatmapStyle& style) {
    HeatmapStyle s = style;
    Panel p = head_panel(block, layer, head);
    if (s.title.empty()) s.title = p.title;
    p.title.clear();
    return heatmap_figure({p}, s);
}

Figure layer_heads_figure(const AttentionBlock& block, int layer, const HeatmapStyle& style) {
    check_layer_head(block, layer, 0);
    HeatmapStyle s = style;
    if (s.title.empty()) s.title = "Layer " + std::to_string(layer) + ": every head (" + block.label() + ")";
    std::vector<Panel> panels;
    for (int h = 0; h < block.heads(); ++h) {
        panels.push_back(head_panel(block, layer, h));
        panels.back().title = "Head " + std::to_string(h);
    }
    return heatmap_figure(panels, s);
}

Figure layer_means_figure(const AttentionBlock& block, const HeatmapStyle& style) {
    HeatmapStyle s = style;
    if (s.title.empty()) s.title = "Each layer, averaged over heads (" + block.label() + ")";
    std::vector<Panel> panels;
    for (int l = 0; l < block.num_layers(); ++l) {
        panels.push_back(head_panel(block, l, -1));
        panels.back().title = "Layer " + std::to_string(l);
    }
    return heatmap_figure(panels, s);
}

Figure compare_heads_figure(const AttentionBlock& block, const std::vector<std::pair<int, int>>& heads,
                            const HeatmapStyle& style) {
    if (heads.empty()) throw Error("compare_heads_figure: no heads chosen");
    HeatmapStyle s = style;
    if (s.title.empty()) s.title = "Chosen heads on one colour scale (" + block.label() + ")";
    if (s.columns == 0) s.columns = static_cast<int>(std::min<size_t>(heads.size(), 4));
    std::vector<Panel> panels;
    for (const auto& [layer, head] : heads) panels.push_back(head_panel(block, layer, head));
    return heatmap_figure(panels, s);
}

Figure matrix_figure(const Tensor& m, const TokenSide& queries, const TokenSide& keys, const std::string& title,
                     const HeatmapStyle& style) {
    HeatmapStyle s = style;
    if (s.title.empty()) s.title = title;
    Panel p;
    p.values = m;
    p.row_labels = queries.text;
    p.col_labels = keys.text;
    return heatmap_figure({p}, s);
}

Figure position_encoding_figure(int64_t positions, int64_t dim, const std::vector<int64_t>& plotted,
                                ops::SinusoidLayout layout, ops::SinusoidSpacing spacing) {
    if (positions < 1 || positions > 100000) throw Error("position encoding: positions must be in 1-100000");
    if (dim < 2 || dim % 2 != 0 || dim > 100000) throw Error("position encoding: the dimension must be even, 2-100000");
    Tensor pe;
    ops::sinusoidal_position_encoding(positions, dim, 0, layout, pe, 10000.0, spacing);
    Panel p;
    p.values = pe;
    const int64_t row_step = std::max<int64_t>(1, positions / 10), col_step = std::max<int64_t>(1, dim / 16);
    for (int64_t i = 0; i < positions; ++i) p.row_labels.push_back(i % row_step == 0 ? std::to_string(i) : "");
    for (int64_t j = 0; j < dim; ++j) p.col_labels.push_back(j % col_step == 0 ? std::to_string(j) : "");
    HeatmapStyle s;
    s.title = "Sinusoidal position encoding: " + std::to_string(positions) + " positions x " + std::to_string(dim) +
              " dimensions";
    s.x_label = "Dimension";
    s.y_label = "Position";
    s.colorbar_label = "value";
    s.diverging = true;
    s.vmax = 1.0;
    s.cell = std::clamp(640.0 / static_cast<double>(dim), 0.5, 12.0);
    s.cell_height = std::clamp(360.0 / static_cast<double>(positions), 0.5, 12.0);
    Figure f = heatmap_figure({p}, s);

    // A few positions' vectors as lines: value against dimension.
    std::vector<int64_t> chosen = plotted;
    if (chosen.empty()) chosen = {0, 1, std::min<int64_t>(10, positions - 1), positions - 1};
    std::set<int64_t> unique;
    std::vector<int64_t> lines;
    for (int64_t c : chosen) {
        if (c < 0 || c >= positions) throw Error("position encoding: position " + std::to_string(c) + " is not shown");
        if (unique.insert(c).second) lines.push_back(c);
    }
    const double x0 = 60, w = std::max(320.0, f.width - 200), y0 = f.height + 40, h = 160;
    f.text({x0 + w / 2, y0 - 14, "Position vectors", 13, 0, 0, true, kBlack});
    f.line({{{x0, y0}, {x0, y0 + h}, {x0 + w, y0 + h}}, kBlack, 1, 1});
    for (double v : {-1.0, 0.0, 1.0}) {
        const double y = y0 + (1 - (v + 1) / 2) * h;
        f.line({{{x0 - 4, y}, {x0, y}}, kBlack, 1, 1});
        if (v == 0) f.line({{{x0, y}, {x0 + w, y}}, kMasked, 1, 1});
        f.text({x0 - 6, y + 3.5, number(v, 0), 10, 1, 0, false, kBlack});
    }
    for (int64_t j = 0; j < dim; j += std::max<int64_t>(1, dim / 8)) {
        const double x = x0 + w * static_cast<double>(j) / static_cast<double>(std::max<int64_t>(dim - 1, 1));
        f.line({{{x, y0 + h}, {x, y0 + h + 4}}, kBlack, 1, 1});
        f.text({x, y0 + h + 15, std::to_string(j), 10, 0, 0, false, kBlack});
    }
    f.text({x0 + w / 2, y0 + h + 32, "Dimension", 12, 0, 0, false, kBlack});
    f.text({x0 - 34, y0 + h / 2, "value", 12, 0, -90, false, kBlack});
    static const Color palette[] = {{31, 119, 180}, {255, 127, 14}, {44, 160, 44}, {214, 39, 40},
                                    {148, 103, 189}, {140, 86, 75}, {227, 119, 194}, {127, 127, 127}};
    for (size_t n = 0; n < lines.size(); ++n) {
        Figure::Line l;
        l.stroke = palette[n % 8];
        l.width = 1.4;
        for (int64_t j = 0; j < dim; ++j) {
            const double x = x0 + w * static_cast<double>(j) / static_cast<double>(std::max<int64_t>(dim - 1, 1));
            l.points.emplace_back(x, y0 + (1 - (pe.at({lines[n], j}) + 1) / 2) * h);
        }
        f.line(std::move(l));
        const double ly = y0 + 6 + static_cast<double>(n) * 16;
        f.line({{{x0 + w + 14, ly}, {x0 + w + 34, ly}}, palette[n % 8], 2, 1});
        f.text({x0 + w + 38, ly + 4, "position " + std::to_string(lines[n]), 11, -1, 0, false, kBlack});
    }
    f.width = std::max(f.width, x0 + w + 130);
    f.height = y0 + h + 44;
    return f;
}

Figure causal_mask_figure(const HeadComputation& head, const std::vector<std::string>& tokens) {
    const int64_t s = head.scores.dim(0), sk = head.scores.dim(1);
    Panel raw, masked;
    raw.title = "Raw scores q\xC2\xB7k/\xE2\x88\x9A" "d";
    raw.values = head.scores;
    masked.title = "Causal mask applied";
    masked.values = head.masked_scores.clone();
    for (int64_t i = 0; i < s; ++i) {
        for (int64_t j = 0; j < sk; ++j) {
            const bool m = j > i + (sk - s) || !std::isfinite(head.masked_scores.at({i, j}));
            masked.masked.push_back(m ? 1 : 0);
            if (m) masked.values.at({i, j}) = -INFINITY;
        }
    }
    raw.row_labels = masked.row_labels = tokens;
    raw.col_labels = masked.col_labels = tokens;
    HeatmapStyle style;
    style.title = "Layer " + std::to_string(head.layer) + ", Head " + std::to_string(head.head) +
                  ": masking keys after the query (-inf before the softmax)";
    style.diverging = true;
    style.colorbar_label = "score";
    style.mark_masked = true;
    style.columns = 2;
    return heatmap_figure({raw, masked}, style);
}

Figure step_figure(const HeadComputation& head, int64_t focus, const std::vector<std::string>& tokens) {
    const int64_t s = head.scores.dim(0), sk = head.scores.dim(1), d = head.v.dim(1);
    if (focus < 0 || focus >= s) throw Error("focus token " + std::to_string(focus) + " is outside 0-" + std::to_string(s - 1));
    auto token = [&tokens](int64_t j) {
        return static_cast<size_t>(j) < tokens.size() ? label(tokens[static_cast<size_t>(j)]) : std::to_string(j);
    };
    Figure f;
    const double row_h = 18, top = 70, name_w = 120, score_w = 110, weight_w = 130;
    const double cell = std::clamp(300.0 / static_cast<double>(d), 3.0, 14.0);
    const double vx = 20 + name_w + score_w + weight_w;
    double vmax = 1e-9, smax = 1e-9;
    for (int64_t j = 0; j < sk; ++j) {
        const float sc = head.masked_scores.at({focus, j});
        if (std::isfinite(sc)) smax = std::max(smax, std::fabs(static_cast<double>(sc)));
        for (int64_t c = 0; c < d; ++c) {
            vmax = std::max(vmax, std::fabs(static_cast<double>(head.weights.at({focus, j}) * head.v.at({j, c}))));
        }
    }
    for (int64_t c = 0; c < d; ++c) vmax = std::max(vmax, std::fabs(static_cast<double>(head.context.at({focus, c}))));
    f.width = vx + d * cell + 30;
    f.text({20, 24, "Layer " + std::to_string(head.layer) + ", Head " + std::to_string(head.head) + ": how \xE2\x80\x9C" +
                        token(focus) + "\xE2\x80\x9D attends, step by step",
            15, -1, 0, true, kBlack});
    const double hy = top - 12;
    f.text({20 + name_w - 6, hy, "key", 11, 1, 0, true, kBlack});
    f.text({20 + name_w + 4, hy, "score q\xC2\xB7k/\xE2\x88\x9A" "d", 11, -1, 0, true, kBlack});
    f.text({20 + name_w + score_w + 4, hy, "softmax weight", 11, -1, 0, true, kBlack});
    f.text({vx, hy, "weight \xC3\x97 value (" + std::to_string(d) + " dims)", 11, -1, 0, true, kBlack});
    for (int64_t j = 0; j < sk; ++j) {
        const double y = top + j * row_h;
        const float sc = head.masked_scores.at({focus, j}), w = head.weights.at({focus, j});
        const bool masked = !std::isfinite(sc);
        f.text({20 + name_w - 6, y + 12, token(j), 11, 1, 0, j == focus, kBlack});
        // Score: a diverging bar around a centre line, and its value.
        const double cx = 20 + name_w + 40;
        if (masked) {
            masked_cell(f, 20 + name_w + 4, y + 3, 72, row_h - 6);
            f.text({20 + name_w + 80, y + 12, "-inf", 10, -1, 0, false, kGrey});
        } else {
            const double len = 34 * std::fabs(sc) / smax;
            f.rect({sc >= 0 ? cx : cx - len, y + 4, len, row_h - 8, diverging(sc / smax), 0, {}, {}});
            f.line({{{cx, y + 2}, {cx, y + row_h - 2}}, kGrey, 0.6, 1});
            f.text({20 + name_w + 80, y + 12, number(sc, 2), 10, -1, 0, false, kBlack});
        }
        // Weight: a bar of the probability.
        const double wx = 20 + name_w + score_w + 4;
        f.rect({wx, y + 4, 80, row_h - 8, {236, 236, 236}, 0, {}, {}});
        f.rect({wx, y + 4, 80 * w, row_h - 8, viridis(0.35), 0, {}, {}});
        f.text({wx + 84, y + 12, number(w, 3), 10, -1, 0, false, kBlack});
        for (int64_t c = 0; c < d; ++c) {
            const double v = static_cast<double>(w) * head.v.at({j, c});
            f.rect({vx + c * cell, y + 2, cell, row_h - 4, diverging(v / vmax), 0, {}, {}});
        }
    }
    const double sy = top + sk * row_h + 10;
    f.line({{{vx, sy - 4}, {vx + d * cell, sy - 4}}, kBlack, 1, 1});
    f.text({vx - 6, sy + 12, "sum = output of the head", 11, 1, 0, true, kBlack});
    for (int64_t c = 0; c < d; ++c) {
        f.rect({vx + c * cell, sy + 2, cell, row_h - 4, diverging(head.context.at({focus, c}) / vmax), 0, {}, {}});
    }
    f.height = sy + row_h + 20;
    return f;
}

}  // namespace gaze::views
