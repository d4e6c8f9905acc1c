// The smallest useful gaze program: load a model folder, run a sentence, and
// print where each token looks in the last layer (mean over heads).
//   attention_of_a_sentence <model-dir> "The cat sat on the mat."
#include <gaze/gaze.hpp>
#include <iostream>

int main(int argc, char** argv) {
    if (argc != 3) {
        std::cerr << "usage: " << argv[0] << " MODEL_DIR TEXT\n";
        return 2;
    }
    try {
        auto model = gaze::load_model(argv[1]);
        auto tokenizer = gaze::load_tokenizer(argv[1]);
        const gaze::Tokens tokens = gaze::Tokens::from_encodings({tokenizer->encode(argv[2])}, tokenizer->pad_id());

        gaze::AttentionRequest last_layer;
        last_layer.layers = {static_cast<int>(model->info().layers) - 1};
        gaze::TopTargets top(/*k=*/1, last_layer, /*average_heads=*/true);
        gaze::AttentionObserver* observers[] = {&top};
        gaze::ForwardOptions options;
        options.observers = observers;
        model->forward(tokens, options);

        for (const auto& t : top.results()) {
            std::cout << t.query_token << " -> " << t.key_tokens[0] << " (" << t.weights[0] << ")\n";
        }
    } catch (const gaze::Error& e) {
        std::cerr << "error: " << e.what() << "\n";
        return 1;
    }
}
