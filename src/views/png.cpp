// PNG output: the same figure primitives rasterised with cairo.
#include <cairo.h>

#include <cmath>
#include <memory>

#include "draw.hpp"
#include "gaze/error.hpp"

namespace gaze::views {

namespace {

void set_color(cairo_t* cr, Color c, double alpha = 1.0) { cairo_set_source_rgba(cr, c.r / 255.0, c.g / 255.0, c.b / 255.0, alpha); }

}  // namespace

void write_png(const Figure& figure, const std::string& path, double scale) {
    if (!(scale > 0) || scale > 8) throw Error("write_png: scale must be in (0, 8]");
    const int w = static_cast<int>(std::ceil(figure.width * scale)), h = static_cast<int>(std::ceil(figure.height * scale));
    if (w <= 0 || h <= 0 || static_cast<double>(w) * h > 400e6) throw Error(path + ": figure size out of range");
    std::unique_ptr<cairo_surface_t, decltype(&cairo_surface_destroy)> surface(
        cairo_image_surface_create(CAIRO_FORMAT_ARGB32, w, h), cairo_surface_destroy);
    if (cairo_surface_status(surface.get()) != CAIRO_STATUS_SUCCESS) throw Error(path + ": cannot allocate the image");
    std::unique_ptr<cairo_t, decltype(&cairo_destroy)> context(cairo_create(surface.get()), cairo_destroy);
    cairo_t* cr = context.get();
    cairo_scale(cr, scale, scale);
    cairo_set_source_rgb(cr, 1, 1, 1);
    cairo_paint(cr);
    for (const auto& item : figure.items) {
        if (const auto* r = std::get_if<Figure::Rect>(&item)) {
            cairo_rectangle(cr, r->x, r->y, r->w, r->h);
            set_color(cr, r->fill);
            cairo_fill_preserve(cr);
            if (r->stroke_width > 0) {
                set_color(cr, r->stroke);
                cairo_set_line_width(cr, r->stroke_width);
                cairo_stroke(cr);
            } else {
                cairo_new_path(cr);
            }
        } else if (const auto* l = std::get_if<Figure::Line>(&item)) {
            if (l->points.size() < 2) continue;
            cairo_move_to(cr, l->points[0].first, l->points[0].second);
            for (size_t i = 1; i < l->points.size(); ++i) cairo_line_to(cr, l->points[i].first, l->points[i].second);
            set_color(cr, l->stroke, l->opacity);
            cairo_set_line_width(cr, l->width);
            cairo_set_line_join(cr, CAIRO_LINE_JOIN_ROUND);
            cairo_stroke(cr);
        } else if (const auto* t = std::get_if<Figure::Text>(&item)) {
            const std::string text = draw::repair_utf8(t->text);
            cairo_save(cr);
            cairo_select_font_face(cr, "DejaVu Sans", CAIRO_FONT_SLANT_NORMAL,
                                   t->bold ? CAIRO_FONT_WEIGHT_BOLD : CAIRO_FONT_WEIGHT_NORMAL);
            cairo_set_font_size(cr, t->size);
            cairo_translate(cr, t->x, t->y);
            if (t->rotate != 0) cairo_rotate(cr, t->rotate * M_PI / 180.0);
            cairo_text_extents_t extents;
            cairo_text_extents(cr, text.c_str(), &extents);
            const double dx = t->anchor < 0 ? 0.0 : t->anchor == 0 ? -extents.x_advance / 2 : -extents.x_advance;
            cairo_move_to(cr, dx, 0);
            set_color(cr, t->fill);
            cairo_show_text(cr, text.c_str());
            cairo_restore(cr);
        }
    }
    cairo_surface_flush(surface.get());
    if (cairo_surface_write_to_png(surface.get(), path.c_str()) != CAIRO_STATUS_SUCCESS) {
        throw Error(path + ": cannot write the PNG");
    }
}

}  // namespace gaze::views
