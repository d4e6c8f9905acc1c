// Figures: colour maps, the generic heatmap layout and the SVG writer.
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <sstream>

#include "draw.hpp"
#include "gaze/error.hpp"
#include "gaze/tokens.hpp"

namespace gaze::views {
namespace draw {
namespace {

Color interpolate(const Color* stops, int n, double t) {
    t = std::clamp(t, 0.0, 1.0) * (n - 1);
    const int i = std::min(static_cast<int>(t), n - 2);
    const double f = t - i;
    auto mix = [f](uint8_t a, uint8_t b) { return static_cast<uint8_t>(std::lround(a + (b - a) * f)); };
    return {mix(stops[i].r, stops[i + 1].r), mix(stops[i].g, stops[i + 1].g), mix(stops[i].b, stops[i + 1].b)};
}

}  // namespace

Color viridis(double t) {
    static const Color stops[] = {{68, 1, 84},    {71, 44, 122},  {59, 81, 139},  {44, 113, 142}, {33, 144, 141},
                                  {39, 173, 129}, {92, 200, 99},  {170, 220, 50}, {253, 231, 37}};
    return interpolate(stops, 9, std::isfinite(t) ? t : 0.0);
}

Color diverging(double t) {
    static const Color stops[] = {{33, 102, 172}, {103, 169, 207}, {247, 247, 247}, {239, 138, 98}, {178, 24, 43}};
    return interpolate(stops, 5, std::isfinite(t) ? (t + 1.0) / 2.0 : 0.5);
}

size_t code_points(std::string_view text) {
    size_t n = 0;
    for (unsigned char c : text) n += (c & 0xC0) != 0x80;
    return n;
}

double text_width(std::string_view text, double size) { return 0.6 * size * static_cast<double>(code_points(text)); }

std::string truncate(std::string_view text, size_t max) {
    if (code_points(text) <= max) return std::string(text);
    std::string out;
    size_t n = 0;
    for (size_t i = 0; i < text.size(); ++i) {
        const auto c = static_cast<unsigned char>(text[i]);
        if ((c & 0xC0) != 0x80 && ++n > max - 1) break;
        out += text[i];
    }
    return out + "\xE2\x80\xA6";
}

std::string label(std::string_view token) { return truncate(printable_token(token), 16); }

std::string number(double v, int precision) {
    if (std::isinf(v)) return v < 0 ? "-inf" : "inf";
    if (std::isnan(v)) return "nan";
    char buf[32];
    if (v != 0 && std::fabs(v) < 1e-3) {
        std::snprintf(buf, sizeof buf, "%.0e", v);
    } else {
        std::snprintf(buf, sizeof buf, "%.*f", precision, v);
        std::string s = buf;
        if (s.find('.') != std::string::npos) {
            while (s.back() == '0') s.pop_back();
            if (s.back() == '.') s.pop_back();
        }
        if (s == "-0") s = "0";
        return s;
    }
    return buf;
}

std::string hex(Color c) {
    char buf[8];
    std::snprintf(buf, sizeof buf, "#%02x%02x%02x", c.r, c.g, c.b);
    return buf;
}

void masked_cell(Figure& f, double x, double y, double w, double h, const std::string& tooltip) {
    f.rect({x, y, w, h, kMasked, 0, {}, tooltip});
    if (w >= 4 && h >= 4) f.line({{{x, y + h}, {x + w, y}}, kHatch, std::max(0.5, std::min(w, h) / 10.0), 1.0});
}

}  // namespace draw

using namespace draw;

namespace draw {

std::string repair_utf8(std::string_view text) {
    std::string out;
    size_t i = 0;
    auto replacement = [&out] { out += "\xEF\xBF\xBD"; };
    while (i < text.size()) {
        const auto c = static_cast<unsigned char>(text[i]);
        if (c < 0x80) {
            if ((c < 0x20 && c != '\t' && c != '\n' && c != '\r') || c == 0x7f) {
                replacement();
            } else {
                out += static_cast<char>(c);
            }
            ++i;
            continue;
        }
        // Validate one UTF-8 sequence; anything malformed becomes U+FFFD.
        const int len = (c >> 5) == 0x6 ? 2 : (c >> 4) == 0xE ? 3 : (c >> 3) == 0x1E ? 4 : 0;
        bool ok = len > 0 && i + static_cast<size_t>(len) <= text.size();
        uint32_t cp = len == 2 ? (c & 0x1F) : len == 3 ? (c & 0x0F) : (c & 0x07);
        for (int k = 1; ok && k < len; ++k) {
            const auto cc = static_cast<unsigned char>(text[i + static_cast<size_t>(k)]);
            ok = (cc & 0xC0) == 0x80;
            cp = (cp << 6) | (cc & 0x3F);
        }
        ok = ok && !(len == 2 && cp < 0x80) && !(len == 3 && cp < 0x800) &&
             !(len == 4 && (cp < 0x10000 || cp > 0x10FFFF)) && !(cp >= 0xD800 && cp <= 0xDFFF) && cp != 0xFFFE &&
             cp != 0xFFFF;
        if (ok) {
            out.append(text.substr(i, static_cast<size_t>(len)));
            i += static_cast<size_t>(len);
        } else {
            replacement();
            ++i;
        }
    }
    return out;
}

}  // namespace draw

std::string escape_xml(std::string_view text) {
    std::string out;
    for (char c : repair_utf8(text)) {
        switch (c) {
            case '&': out += "&amp;"; break;
            case '<': out += "&lt;"; break;
            case '>': out += "&gt;"; break;
            case '"': out += "&quot;"; break;
            case '\'': out += "&#39;"; break;
            default: out += c;
        }
    }
    return out;
}

namespace {

std::string fmt(double v) {
    char buf[32];
    std::snprintf(buf, sizeof buf, "%.2f", v);
    std::string s = buf;
    while (s.back() == '0') s.pop_back();
    if (s.back() == '.') s.pop_back();
    return s == "-0" ? "0" : s;
}

struct Scale {
    double lo = 0, hi = 1;
    bool log = false, div = false;
    double t(double v) const {
        if (div) return hi > 0 ? std::clamp(v / hi, -1.0, 1.0) : 0.0;
        if (log) {
            const double l = std::log10(std::max(lo, 1e-4)), h = std::log10(std::max(hi, 1e-4));
            return h > l ? (std::log10(std::max(v, 1e-4)) - l) / (h - l) : 0.0;
        }
        return hi > lo ? (v - lo) / (hi - lo) : 0.0;
    }
    Color color(double v) const { return div ? diverging(t(v)) : viridis(t(v)); }
};

bool cell_masked(const Panel& p, int64_t i, int64_t j) {
    const float v = p.values.at({i, j});
    if (!std::isfinite(v)) return true;
    return !p.masked.empty() && p.masked[static_cast<size_t>(i * p.values.dim(1) + j)] != 0;
}

// Font size for labels spaced `cell` apart (sparse labels get more room).
double label_font(const std::vector<std::string>& labels, double cell) {
    int gap = 1 << 30, last = -1;
    for (size_t i = 0; i < labels.size(); ++i) {
        if (labels[i].empty()) continue;
        if (last >= 0) gap = std::min(gap, static_cast<int>(i) - last);
        last = static_cast<int>(i);
    }
    if (last < 0) return 0;
    if (gap == (1 << 30)) gap = 1;
    const double f = std::min(11.0, gap * cell * 0.8);
    return f >= 6 ? f : 0;
}

double longest(const std::vector<std::string>& labels, double font) {
    double w = 0;
    for (const auto& l : labels) w = std::max(w, text_width(label(l), font));
    return w;
}

}  // namespace

Figure heatmap_figure(const std::vector<Panel>& panels, const HeatmapStyle& style) {
    if (panels.empty()) throw Error("heatmap_figure: no panels");
    int64_t max_rows = 0, max_cols = 0;
    Scale scale;
    scale.log = style.log_scale;
    scale.div = style.diverging;
    double lo = INFINITY, hi = -INFINITY, abs_max = 0;
    bool any_masked = false;
    for (const auto& p : panels) {
        if (p.values.rank() != 2) throw Error("heatmap_figure: panel '" + p.title + "' is not a matrix");
        max_rows = std::max(max_rows, p.values.dim(0));
        max_cols = std::max(max_cols, p.values.dim(1));
        for (int64_t i = 0; i < p.values.dim(0); ++i) {
            for (int64_t j = 0; j < p.values.dim(1); ++j) {
                if (cell_masked(p, i, j)) {
                    any_masked = true;
                    continue;
                }
                const double v = p.values.at({i, j});
                lo = std::min(lo, v);
                hi = std::max(hi, v);
                abs_max = std::max(abs_max, std::fabs(v));
            }
        }
    }
    if (!std::isfinite(lo)) lo = 0, hi = 1;
    scale.lo = std::isnan(style.vmin) ? (scale.log ? 1e-4 : std::min(lo, 0.0)) : style.vmin;
    scale.hi = std::isnan(style.vmax) ? (scale.div ? abs_max : hi) : style.vmax;
    if (scale.div && !std::isnan(style.vmax)) scale.hi = std::fabs(style.vmax);
    if (!(scale.hi > scale.lo) && !scale.div) scale.hi = scale.lo + 1;

    const auto count = static_cast<int64_t>(panels.size());
    const int64_t biggest = std::max<int64_t>(std::max(max_rows, max_cols), 1);
    const double cw = style.cell > 0 ? style.cell
                                     : std::clamp((count == 1 ? 480.0 : 200.0) / static_cast<double>(biggest), 2.0,
                                                  count == 1 ? 30.0 : 18.0);
    const double ch = style.cell_height > 0 ? style.cell_height : cw;
    double row_font = 0, col_font = 0, row_w = 0, col_h = 0;
    for (const auto& p : panels) {
        row_font = std::max(row_font, label_font(p.row_labels, ch));
        col_font = std::max(col_font, label_font(p.col_labels, cw));
    }
    for (const auto& p : panels) {
        if (row_font > 0) row_w = std::max(row_w, longest(p.row_labels, row_font) + 6);
        if (col_font > 0) col_h = std::max(col_h, longest(p.col_labels, col_font) + 6);
    }
    bool titled = false;
    for (const auto& p : panels) titled = titled || !p.title.empty();
    const double title_h = titled ? 20 : 0;
    const double matrix_w = static_cast<double>(max_cols) * cw, matrix_h = static_cast<double>(max_rows) * ch;
    const double panel_w = std::max(row_w + matrix_w, titled ? 120.0 : 0.0), panel_h = title_h + matrix_h + col_h;
    const int columns = style.columns > 0 ? style.columns
                        : count <= 4       ? static_cast<int>(count)
                                           : static_cast<int>(std::ceil(std::sqrt(static_cast<double>(count))));
    const int grid_rows = static_cast<int>((count + columns - 1) / columns);
    const double gap = 24, left = style.y_label.empty() ? 10 : 30, top = style.title.empty() ? 10 : 40;
    const double grid_w = columns * panel_w + (columns - 1) * gap, grid_h = grid_rows * panel_h + (grid_rows - 1) * gap;

    Figure f;
    f.width = left + grid_w + 110;
    f.height = top + grid_h + (style.x_label.empty() ? 10 : 36);
    if (!style.title.empty()) f.text({f.width / 2, 26, style.title, 16, 0, 0, true, kBlack});
    const bool tooltips = max_rows * max_cols * count <= 4096;
    for (int64_t n = 0; n < count; ++n) {
        const Panel& p = panels[static_cast<size_t>(n)];
        const double px = left + static_cast<double>(n % columns) * (panel_w + gap);
        const double py = top + static_cast<double>(n / columns) * (panel_h + gap);
        const double mx = px + row_w, my = py + title_h;
        const int64_t rows = p.values.dim(0), cols = p.values.dim(1);
        if (!p.title.empty()) f.text({mx + cols * cw / 2, py + 14, p.title, 12, 0, 0, true, kBlack});
        for (int64_t i = 0; i < rows; ++i) {
            for (int64_t j = 0; j < cols; ++j) {
                const double x = mx + j * cw, y = my + i * ch;
                std::string tip;
                if (tooltips) {
                    auto name = [](const std::vector<std::string>& l, int64_t k) {
                        return static_cast<size_t>(k) < l.size() ? label(l[static_cast<size_t>(k)]) : std::to_string(k);
                    };
                    tip = name(p.row_labels, i) + " \xE2\x86\x92 " + name(p.col_labels, j) + ": ";
                }
                if (cell_masked(p, i, j)) {
                    masked_cell(f, x, y, cw, ch, tooltips ? tip + "masked" : "");
                    if (style.mark_masked && cw >= 12 && ch >= 10) {
                        const double size = std::min(9.0, ch * 0.6);
                        f.text({x + cw / 2, y + ch / 2 + size * 0.35, cw >= 26 ? "-inf" : "\xE2\x88\x92\xE2\x88\x9E", size, 0, 0,
                                false, kGrey});
                    }
                } else {
                    const double v = p.values.at({i, j});
                    f.rect({x, y, cw, ch, scale.color(v), 0, {}, tooltips ? tip + number(v, 4) : ""});
                }
            }
        }
        f.line({{{mx, my}, {mx + cols * cw, my}, {mx + cols * cw, my + rows * ch}, {mx, my + rows * ch}, {mx, my}},
                kGrey, 0.6, 1.0});
        if (row_font > 0) {
            for (int64_t i = 0; i < rows && static_cast<size_t>(i) < p.row_labels.size(); ++i) {
                const auto& l = p.row_labels[static_cast<size_t>(i)];
                if (!l.empty()) f.text({mx - 4, my + i * ch + ch / 2 + row_font * 0.35, label(l), row_font, 1, 0, false, kBlack});
            }
        }
        if (col_font > 0) {
            for (int64_t j = 0; j < cols && static_cast<size_t>(j) < p.col_labels.size(); ++j) {
                const auto& l = p.col_labels[static_cast<size_t>(j)];
                if (!l.empty()) {
                    f.text({mx + j * cw + cw / 2 + col_font * 0.35, my + rows * ch + 4, label(l), col_font, 1, -90, false, kBlack});
                }
            }
        }
    }
    if (!style.y_label.empty()) f.text({14, top + grid_h / 2, style.y_label, 12, 0, -90, false, kBlack});
    if (!style.x_label.empty()) f.text({left + grid_w / 2, f.height - 12, style.x_label, 12, 0, 0, false, kBlack});

    // Colour bar.
    const double bx = left + grid_w + 20, by = top + title_h, bh = std::clamp(matrix_h, 100.0, 320.0), bw = 12;
    const int steps = 64;
    for (int s = 0; s < steps; ++s) {
        const double t = 1.0 - (s + 0.5) / steps;
        Color c;
        if (scale.div) {
            c = diverging(2 * t - 1);
        } else {
            c = viridis(t);
        }
        f.rect({bx, by + s * bh / steps, bw, bh / steps + 0.5, c, 0, {}, {}});
    }
    std::vector<std::pair<double, std::string>> ticks;  // (t from bottom, text)
    if (scale.div) {
        for (double t : {0.0, 0.25, 0.5, 0.75, 1.0}) ticks.emplace_back(t, number((2 * t - 1) * scale.hi, 2));
    } else if (scale.log) {
        const double l = std::log10(std::max(scale.lo, 1e-4)), h = std::log10(std::max(scale.hi, 1e-4));
        for (int e = static_cast<int>(std::ceil(l)); e <= static_cast<int>(std::floor(h)); ++e) {
            ticks.emplace_back(h > l ? (e - l) / (h - l) : 0.0, e == 0 ? "1" : "1e" + std::to_string(e));
        }
    } else {
        for (double t : {0.0, 0.25, 0.5, 0.75, 1.0}) ticks.emplace_back(t, number(scale.lo + t * (scale.hi - scale.lo), 2));
    }
    for (const auto& [t, text] : ticks) {
        const double y = by + (1 - t) * bh;
        f.line({{{bx + bw, y}, {bx + bw + 4, y}}, kBlack, 1, 1});
        f.text({bx + bw + 6, y + 3.5, text, 10, -1, 0, false, kBlack});
    }
    if (!style.colorbar_label.empty()) {
        f.text({bx + bw + 52, by + bh / 2, style.colorbar_label, 11, 0, 90, false, kBlack});
    }
    if (any_masked) {
        masked_cell(f, bx, by + bh + 12, bw, bw);
        f.text({bx + bw + 6, by + bh + 22, "masked", 10, -1, 0, false, kBlack});
        f.height = std::max(f.height, by + bh + 34);
    }
    f.height = std::max(f.height, by + bh + 12);
    return f;
}

std::string to_svg(const Figure& figure) {
    std::ostringstream s;
    s << "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
      << "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"" << fmt(figure.width) << "\" height=\"" << fmt(figure.height)
      << "\" viewBox=\"0 0 " << fmt(figure.width) << ' ' << fmt(figure.height)
      << "\" font-family=\"DejaVu Sans, Verdana, Arial, sans-serif\">\n"
      << "<rect width=\"100%\" height=\"100%\" fill=\"#ffffff\"/>\n";
    for (const auto& item : figure.items) {
        if (const auto* r = std::get_if<Figure::Rect>(&item)) {
            s << "<rect x=\"" << fmt(r->x) << "\" y=\"" << fmt(r->y) << "\" width=\"" << fmt(r->w) << "\" height=\""
              << fmt(r->h) << "\" fill=\"" << hex(r->fill) << '"';
            if (r->stroke_width > 0) s << " stroke=\"" << hex(r->stroke) << "\" stroke-width=\"" << fmt(r->stroke_width) << '"';
            if (r->tooltip.empty()) {
                s << "/>\n";
            } else {
                s << "><title>" << escape_xml(r->tooltip) << "</title></rect>\n";
            }
        } else if (const auto* t = std::get_if<Figure::Text>(&item)) {
            s << "<text x=\"" << fmt(t->x) << "\" y=\"" << fmt(t->y) << "\" font-size=\"" << fmt(t->size) << '"';
            if (t->anchor == 0) s << " text-anchor=\"middle\"";
            if (t->anchor > 0) s << " text-anchor=\"end\"";
            if (t->rotate != 0) s << " transform=\"rotate(" << fmt(t->rotate) << ' ' << fmt(t->x) << ' ' << fmt(t->y) << ")\"";
            if (t->bold) s << " font-weight=\"bold\"";
            if (t->fill.r || t->fill.g || t->fill.b) s << " fill=\"" << hex(t->fill) << '"';
            s << '>' << escape_xml(t->text) << "</text>\n";
        } else if (const auto* l = std::get_if<Figure::Line>(&item)) {
            s << "<polyline fill=\"none\" stroke=\"" << hex(l->stroke) << "\" stroke-width=\"" << fmt(l->width) << '"';
            if (l->opacity < 1) s << " stroke-opacity=\"" << fmt(l->opacity) << '"';
            s << " points=\"";
            for (size_t i = 0; i < l->points.size(); ++i) {
                s << (i ? " " : "") << fmt(l->points[i].first) << ',' << fmt(l->points[i].second);
            }
            s << "\"/>\n";
        }
    }
    s << "</svg>\n";
    return s.str();
}

void write_text_file(const std::string& path, const std::string& content) {
    std::ofstream out(path, std::ios::binary);
    if (!out) throw Error(path + ": cannot open for writing");
    out << content;
    if (!out) throw Error(path + ": write failed");
}

void save_figure(const Figure& figure, const std::string& path) {
    auto ends_with = [&path](const std::string& e) {
        return path.size() >= e.size() && std::equal(e.rbegin(), e.rend(), path.rbegin(),
                                                      [](char a, char b) { return a == std::tolower(static_cast<unsigned char>(b)); });
    };
    if (ends_with(".png")) {
        write_png(figure, path);
    } else if (ends_with(".svg")) {
        write_text_file(path, to_svg(figure));
    } else {
        throw Error(path + ": a figure is written as .svg or .png");
    }
}

}  // namespace gaze::views
