// gaze heads: every head's role (self, previous, next, first token,
// separator/punctuation, broad) with a score, ranked; a per-layer summary;
// optionally each token's rollout and flow sources.
#include <algorithm>
#include <iomanip>
#include <iostream>

#include "view_support.hpp"

namespace gaze::cli {
namespace {

struct HeadsOptions {
    std::string model = "auto";
    AttentionInput input;
    int top = 0;  // 0: all
    bool rollout = false, flow = false;
};

void print_sources(const std::string& what, const Tensor& m, const AttentionBlock& b) {
    std::cout << "\n" << what << " (top 3 input tokens per token):\n";
    for (int64_t i = 0; i < m.dim(0); ++i) {
        std::vector<int64_t> order;
        for (int64_t j = 0; j < m.dim(1); ++j) order.push_back(j);
        std::sort(order.begin(), order.end(), [&](int64_t x, int64_t y) { return m.at({i, x}) > m.at({i, y}); });
        std::cout << "  " << std::left << std::setw(16) << printable_token(b.queries.text[static_cast<size_t>(i)]);
        for (size_t k = 0; k < 3 && k < order.size(); ++k) {
            std::cout << (k ? ", " : "") << printable_token(b.keys.text[static_cast<size_t>(order[k])]) << " (" << std::fixed
                      << std::setprecision(2) << m.at({i, order[k]}) << ")";
        }
        std::cout << "\n";
    }
}

int run(const HeadsOptions& o) {
    const std::string text = o.input.read_one();
    LoadedModel m = open_model(o.model, {text});
    const ViewRun r = run_for_view(m, o.model, text, o.input.pair, o.input.target);
    const auto heads = classify_heads(r.attention);
    const bool several = r.attention.blocks.size() > 1;
    std::cout << "model: " << m.description << "\n";
    std::cout << "words: " << words_of(r.attention) << "\n\n";
    std::cout << std::left << std::setw(5) << "rank" << (several ? "stack    " : "") << std::right << std::setw(6) << "layer"
              << std::setw(6) << "head" << "  " << std::left << std::setw(10) << "role" << std::right << std::setw(7) << "score";
    for (const char* c : {"self", "prev", "next", "first", "sep", "broad"}) std::cout << std::setw(7) << c;
    std::cout << "\n" << std::fixed << std::setprecision(2);
    const size_t count = o.top > 0 ? std::min<size_t>(heads.size(), static_cast<size_t>(o.top)) : heads.size();
    for (size_t i = 0; i < count; ++i) {
        const HeadProfile& h = heads[i];
        std::cout << std::left << std::setw(5) << i + 1;
        if (several) std::cout << std::setw(9) << to_string(h.stack);
        std::cout << std::right << std::setw(6) << h.layer << std::setw(6) << h.head << "  " << std::left << std::setw(10)
                  << to_string(h.role) << std::right << std::setw(7) << h.score;
        for (double v : {h.self, h.previous, h.next, h.first, h.separator, h.broad}) std::cout << std::setw(7) << v;
        std::cout << "\n";
    }
    std::cout << "\nper layer (mean over heads):\n" << (several ? "stack    " : "") << std::right << std::setw(6) << "layer";
    for (const char* c : {"self", "prev", "next", "first", "sep", "broad"}) std::cout << std::setw(7) << c;
    std::cout << "\n";
    for (const auto& s : summarize_layers(r.attention)) {
        if (several) std::cout << std::left << std::setw(9) << to_string(s.stack) << std::right;
        std::cout << std::setw(6) << s.layer;
        for (double v : {s.self, s.previous, s.next, s.first, s.separator, s.broad}) std::cout << std::setw(7) << v;
        std::cout << "\n";
    }
    const AttentionBlock& primary = r.attention.primary();
    if (o.rollout) print_sources("attention rollout through all layers", attention_rollout(primary).back(), primary);
    if (o.flow) print_sources("attention flow to the top layer", attention_flow(primary), primary);
    return 0;
}

const RegisterCommand registration{{"heads", "Classify every head (self, previous, next, first, separator, broad) and rank them",
                                    [](CLI::App& app) {
                                        auto o = std::make_shared<HeadsOptions>();
                                        app.add_option("--model", o->model, "Model folder, or 'auto'")->capture_default_str();
                                        o->input.add_options(app);
                                        app.add_option("--top", o->top, "Heads to list (default: all)");
                                        app.add_flag("--rollout", o->rollout, "Also print each token's attention-rollout sources");
                                        app.add_flag("--flow", o->flow, "Also print each token's attention-flow sources (slow past ~50 tokens)");
                                        return [o] { return run(*o); };
                                    }}};

}  // namespace
}  // namespace gaze::cli
