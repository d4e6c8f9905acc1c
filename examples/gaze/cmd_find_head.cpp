// gaze find-head: which head links two words most strongly (both directions,
// word level, so "paris" matches "pa ##ris").
#include <iomanip>
#include <iostream>

#include "view_support.hpp"

namespace gaze::cli {
namespace {

struct FindHeadOptions {
    std::string model = "auto";
    AttentionInput input;
    std::string from, to;
    int top = 5;
};

int run(const FindHeadOptions& o) {
    if (o.top < 1) throw Error("--top must be at least 1");
    const std::string text = o.input.read_one();
    LoadedModel m = open_model(o.model, {text});
    const ViewRun r = run_for_view(m, o.model, text, o.input.pair, o.input.target);
    const auto links = find_linking_heads(r.attention, o.from, o.to);
    const bool several = r.attention.blocks.size() > 1;
    auto where = [several](const HeadLink& l) {
        std::string s = "layer " + std::to_string(l.layer) + ", head " + std::to_string(l.head);
        if (several) s += " (" + (l.kind == AttentionKind::cross ? std::string("cross") : std::string(to_string(l.stack)) + " self") + ")";
        return s;
    };
    std::cout << "model: " << m.description << "\n";
    std::cout << "words: " << words_of(r.attention) << "\n\n";
    const HeadLink& best = links.front();
    std::cout << std::fixed << std::setprecision(3);
    std::cout << "best:  " << where(best) << ": \"" << o.from << "\" -> \"" << o.to << "\" " << best.from_to << ", \"" << o.to
              << "\" -> \"" << o.from << "\" " << best.to_from << "\n\n";
    std::cout << std::left << std::setw(6) << "rank" << std::setw(30) << "head" << std::right << std::setw(10) << "from->to"
              << std::setw(10) << "to->from" << "\n";
    for (size_t i = 0; i < links.size() && i < static_cast<size_t>(o.top); ++i) {
        std::cout << std::left << std::setw(6) << i + 1 << std::setw(30) << where(links[i]) << std::right << std::setw(10)
                  << links[i].from_to << std::setw(10) << links[i].to_from << "\n";
    }
    return 0;
}

const RegisterCommand registration{{"find-head", "Find the head that links two words most strongly (both directions, word level)",
                                    [](CLI::App& app) {
                                        auto o = std::make_shared<FindHeadOptions>();
                                        app.add_option("--model", o->model, "Model folder, or 'auto'")->capture_default_str();
                                        o->input.add_options(app);
                                        app.add_option("--from", o->from, "The attending word")->required();
                                        app.add_option("--to", o->to, "The attended word")->required();
                                        app.add_option("--top", o->top, "Heads to list")->capture_default_str();
                                        return [o] { return run(*o); };
                                    }}};

}  // namespace
}  // namespace gaze::cli
