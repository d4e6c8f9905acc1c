// gaze pe: the sinusoidal position encoding as a figure.
#include <iostream>

#include "view_support.hpp"

namespace gaze::cli {
namespace {

struct PeOptions {
    int64_t dim = 64, positions = 50;
    std::string svg, png, layout = "interleaved", spacing = "paper";
    std::vector<int64_t> show;
};

int run(const PeOptions& o) {
    if (o.svg.empty() && o.png.empty()) throw Error("nothing to write: give --svg FILE or --png FILE");
    if (o.dim < 2 || o.dim % 2 != 0 || o.dim > 4096) throw Error("--dim must be even, 2-4096 (got " + std::to_string(o.dim) + ")");
    if (o.positions < 1 || o.positions > 4096) throw Error("--positions must be 1-4096 (got " + std::to_string(o.positions) + ")");
    const auto layout = o.layout == "interleaved" ? ops::SinusoidLayout::interleaved : ops::SinusoidLayout::sin_then_cos;
    const auto spacing = o.spacing == "paper" ? ops::SinusoidSpacing::paper : ops::SinusoidSpacing::tensor2tensor;
    const views::Figure f = views::position_encoding_figure(o.positions, o.dim, o.show, layout, spacing);
    for (const auto& path : {o.svg, o.png}) {
        if (path.empty()) continue;
        views::save_figure(f, path);
        std::cout << "figure:  " << path << "\n";
    }
    return 0;
}

const RegisterCommand registration{{"pe", "Draw the sinusoidal position encoding (positions x dimensions, and a few vectors)",
                                    [](CLI::App& app) {
                                        auto o = std::make_shared<PeOptions>();
                                        app.add_option("--dim", o->dim, "Model width D (even)")->capture_default_str();
                                        app.add_option("--positions", o->positions, "Positions N")->capture_default_str();
                                        app.add_option("--svg", o->svg, "SVG file to write");
                                        app.add_option("--png", o->png, "PNG file to write");
                                        app.add_option("--layout", o->layout, "interleaved (sin, cos, sin, ...) or sin-cos (halves)")
                                            ->check(CLI::IsMember({"interleaved", "sin-cos"}))
                                            ->capture_default_str();
                                        app.add_option("--spacing", o->spacing, "Frequencies: paper (1/10000^(2i/D)) or tensor2tensor")
                                            ->check(CLI::IsMember({"paper", "tensor2tensor"}))
                                            ->capture_default_str();
                                        app.add_option("--show", o->show, "Positions whose vectors to plot (default: 0 1 10 N-1)")
                                            ->delimiter(',');
                                        return [o] { return run(*o); };
                                    }}};

}  // namespace
}  // namespace gaze::cli
