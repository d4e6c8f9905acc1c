// gaze heads: every head's role (self, previous, next, first token,
// separator/punctuation, broad) with a score, ranked; a per-layer summary;
// optionally each token's rollout and flow sources. With --induction: the
// induction detector on a repeated random token sequence instead.
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
    bool induction = false;
    int64_t induction_length = 50;
    uint32_t seed = 0;
};

// The token the tokenizer puts first (BOS, [CLS]), or GPT-2's <|endoftext|>,
// which TransformerLens prepends as BOS; empty when there is none.
std::vector<int32_t> bos_prefix(const Tokenizer& tokenizer) {
    const Encoding empty = tokenizer.encode("", true);
    if (!empty.ids.empty()) return {empty.ids.front()};
    if (auto id = tokenizer.token_to_id("<|endoftext|>")) return {*id};
    return {};
}

// Induction heads, as TransformerLens's detector finds them: the model reads
// BOS + r + r for a random r of `length` tokens; an induction head attends
// from each token of the second r to the token after its first occurrence.
int run_induction(const HeadsOptions& o) {
    LoadedModel m = open_model(o.model);
    const ModelInfo& info = m.model->info();
    if (info.is_encoder_decoder) throw Error("--induction runs decoder-only models; " + info.family + " is an encoder-decoder");
    const std::vector<int32_t> prefix = bos_prefix(*m.tokenizer);
    // Ids that stand for no text (specials, byte fallback pieces) are not drawn.
    std::vector<int32_t> excluded = prefix;
    const auto vocab = static_cast<int32_t>(std::min<int64_t>(info.vocab, m.tokenizer->vocab_size()));
    for (int32_t id = 0; id < vocab; ++id) {
        const std::string t = m.tokenizer->id_to_token(id);
        if (t.empty() || (t.front() == '<' && t.back() == '>') || (t.front() == '[' && t.back() == ']')) excluded.push_back(id);
    }
    const int64_t length = o.induction_length;
    if (length < 2 || static_cast<int64_t>(prefix.size()) + 2 * length > info.max_positions) {
        throw Error("--induction-length " + std::to_string(length) + ": give 2 to " +
                    std::to_string((info.max_positions - static_cast<int64_t>(prefix.size())) / 2) + " for this model");
    }
    const std::vector<int32_t> ids = repeated_random_ids(length, 0, vocab, o.seed, prefix, excluded);
    Tokens tokens = Tokens::from_ids(ids);
    for (int32_t id : ids) tokens.text.push_back(m.tokenizer->id_to_token(id));
    tokens.special.assign(ids.size(), 0);
    if (!prefix.empty()) tokens.special[0] = 1;
    check_input(info, tokens);
    AttentionRecorder recorder;
    AttentionObserver* observers[] = {&recorder};
    ForwardOptions options;
    options.observers = observers;
    options.compute_logits = false;
    m.model->forward(tokens, options);
    const SequenceAttention a = collect_attention(recorder, tokens, nullptr, 0, info.family);
    const auto scores = induction_scores(a.primary(), static_cast<int64_t>(prefix.size()), length);
    std::cout << "model: " << m.description << "\n";
    std::cout << "input: " << (prefix.empty() ? "" : "BOS + ") << "2 x " << length << " random tokens (seed " << o.seed
              << "); uniform attention would score ~" << std::fixed << std::setprecision(3) << 1.0 / (1.5 * static_cast<double>(length))
              << "\n\n";
    std::cout << std::left << std::setw(5) << "rank" << std::right << std::setw(6) << "layer" << std::setw(6) << "head"
              << std::setw(11) << "induction" << std::setw(7) << "prev" << std::setw(7) << "first" << "\n";
    const size_t count = o.top > 0 ? std::min<size_t>(scores.size(), static_cast<size_t>(o.top)) : scores.size();
    int found = 0;
    for (size_t i = 0; i < count; ++i) {
        const InductionScore& s = scores[i];
        std::cout << std::left << std::setw(5) << i + 1 << std::right << std::setw(6) << s.layer << std::setw(6) << s.head
                  << std::setw(11) << s.score << std::setw(7) << s.previous << std::setw(7) << s.first
                  << (s.induction ? "  induction head" : "") << "\n";
    }
    for (const auto& s : scores) found += s.induction ? 1 : 0;
    std::cout << "\n" << found << " induction head" << (found == 1 ? "" : "s") << " (score >= " << std::setprecision(2)
              << kInductionThreshold << ")\n";
    return 0;
}

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
    if (o.induction) return run_induction(o);
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

const RegisterCommand registration{{"heads", "Classify every head (self, previous, next, first/sink, separator, broad; or induction) and rank them",
                                    [](CLI::App& app) {
                                        auto o = std::make_shared<HeadsOptions>();
                                        app.add_option("--model", o->model, "Model folder, or 'auto'")->capture_default_str();
                                        o->input.add_options(app);
                                        app.add_option("--top", o->top, "Heads to list (default: all)");
                                        app.add_flag("--rollout", o->rollout, "Also print each token's attention-rollout sources");
                                        app.add_flag("--flow", o->flow, "Also print each token's attention-flow sources (slow past ~50 tokens)");
                                        app.add_flag("--induction", o->induction,
                                                     "Find induction heads on BOS + a random token sequence repeated twice (no --text)");
                                        app.add_option("--induction-length", o->induction_length, "Length of the repeated sequence")
                                            ->capture_default_str();
                                        app.add_option("--seed", o->seed, "Seed of the random sequence")->capture_default_str();
                                        return [o] { return run(*o); };
                                    }}};

}  // namespace
}  // namespace gaze::cli
