#pragma once
// Helpers shared by the figure code: colour maps, label sizing, truncation.
#include <string>
#include <string_view>

#include "gaze/views.hpp"

namespace gaze::views::draw {

Color viridis(double t);    // t in [0, 1]
Color diverging(double t);  // t in [-1, 1]: blue, white, red
inline constexpr Color kBlack{0, 0, 0};
inline constexpr Color kGrey{110, 110, 110};
inline constexpr Color kMasked{222, 222, 222};
inline constexpr Color kHatch{160, 160, 160};
inline constexpr Color kWhite{255, 255, 255};

// Approximate rendered width of text (0.6 em per code point).
double text_width(std::string_view text, double size);
size_t code_points(std::string_view text);
// At most `max` code points, with "…" when cut.
std::string truncate(std::string_view text, size_t max);
// Printable form of a token for a figure: control characters escaped.
std::string label(std::string_view token);
// "0.123", "1e-04", compact.
std::string number(double v, int precision = 3);
std::string hex(Color c);
// Valid UTF-8 without control characters (each bad byte becomes U+FFFD).
std::string repair_utf8(std::string_view text);

// A hatched masked cell.
void masked_cell(Figure& f, double x, double y, double w, double h, const std::string& tooltip = {});

}  // namespace gaze::views::draw
