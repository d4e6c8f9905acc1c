// Builds a small random BERT in memory and checks that attention reaches an observer.
#include <gaze/gaze.hpp>
#include <iostream>

int main() {
    gaze::BertShape shape{1, 16, 2, 32, 20, 16, 2};
    auto model = gaze::make_model(gaze::bert_config(shape), gaze::random_bert_weights(shape, 1));
    gaze::AttentionRecorder recorder;
    gaze::AttentionObserver* observers[] = {&recorder};
    gaze::ForwardOptions options;
    options.observers = observers;
    model->forward(gaze::Tokens::from_ids({2, 5, 6, 3}), options);
    if (recorder.records().size() != 1) return 1;
    std::cout << "find_package(gaze) works: attention " << recorder.records()[0].probabilities.shape().str() << "\n";
    return 0;
}
