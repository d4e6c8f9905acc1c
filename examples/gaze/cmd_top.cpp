// gaze top: for each token, the tokens it attends to most.
#include <iomanip>
#include <iostream>

#include "cli.hpp"

namespace gaze::cli {
namespace {

struct TopOptions {
    std::string model = "auto";
    TextInput input;
    int layer = -1;  // -1: last layer
    int head = -1;   // -1: mean over heads
    int k = 3;
};

int run(const TopOptions& o) {
    const auto texts = o.input.read();
    LoadedModel m = open_model(o.model, texts);
    const Tokens tokens = tokenize_batch(*m.tokenizer, texts, "");
    const ModelInfo& info = m.model->info();
    const int layer = o.layer < 0 ? static_cast<int>(info.layers) - 1 : o.layer;
    if (layer >= info.layers) throw Error("--layer " + std::to_string(o.layer) + ": the model has " + std::to_string(info.layers) + " layers (0-" + std::to_string(info.layers - 1) + ")");
    if (o.head >= info.heads) throw Error("--head " + std::to_string(o.head) + ": the model has " + std::to_string(info.heads) + " heads (0-" + std::to_string(info.heads - 1) + ")");
    if (o.k < 1) throw Error("--k must be at least 1");

    AttentionRequest request;
    request.layers = {layer};
    if (o.head >= 0) request.heads = {o.head};
    request.stacks = {info.is_encoder_decoder ? Stack::encoder : (info.is_causal ? Stack::decoder : Stack::encoder)};
    TopTargets top(o.k, request, /*average_heads=*/o.head < 0);
    AttentionObserver* observers[] = {&top};
    ForwardOptions options;
    options.observers = observers;
    options.compute_logits = false;
    m.model->forward(tokens, options);

    std::cout << "model: " << m.description << "\n";
    std::cout << "layer " << layer << ", " << (o.head < 0 ? "mean over heads" : "head " + std::to_string(o.head)) << "\n\n";
    for (const auto& t : top.results()) {
        std::cout << std::left << std::setw(16) << printable_token(t.query_token) << " attends most to: ";
        for (size_t i = 0; i < t.key_tokens.size(); ++i) {
            std::cout << (i ? ", " : "") << printable_token(t.key_tokens[i]) << " (" << std::fixed << std::setprecision(2)
                      << t.weights[i] << ")";
        }
        std::cout << "\n";
    }
    return 0;
}

const RegisterCommand registration{{"top", "For each token, list the tokens it attends to most",
                                    [](CLI::App& app) {
                                        auto o = std::make_shared<TopOptions>();
                                        app.add_option("--model", o->model, "Model folder, or 'auto'")->capture_default_str();
                                        o->input.add_options(app);
                                        app.add_option("--layer", o->layer, "Layer (default: the last)");
                                        app.add_option("--head", o->head, "Head (default: mean over all heads)");
                                        app.add_option("-k,--k", o->k, "Targets per token")->capture_default_str();
                                        return [o] { return run(*o); };
                                    }}};

}  // namespace
}  // namespace gaze::cli
