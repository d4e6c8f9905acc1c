// compare_precision: the same input in f32 and in a lower precision.
#include "gaze/accuracy.hpp"

#include <algorithm>
#include <cmath>

#include "gaze/observers/recorder.hpp"

namespace gaze {
namespace {

struct Run {
    AttentionRecorder recorder;
    ForwardResult result;
};

void run(Model& model, const Tokens& input, const Tokens* target, Run& out) {
    AttentionObserver* observers[] = {&out.recorder};
    ForwardOptions options;
    options.output_hidden_states = true;
    options.observers = observers;
    options.target = target;
    out.result = model.forward(input, options);
}

double max_abs_diff(const Tensor& a, const Tensor& b) {
    const std::vector<float> x = a.to_vector(), y = b.to_vector();
    if (x.size() != y.size()) throw Error("compare_precision: outputs of different sizes");
    double d = 0.0;
    for (size_t i = 0; i < x.size(); ++i) d = std::max(d, std::fabs(static_cast<double>(x[i]) - y[i]));
    return d;
}

double max_abs(const Tensor& a) {
    double m = 0.0;
    for (float v : a.to_vector()) m = std::max(m, std::fabs(static_cast<double>(v)));
    return m;
}

std::string site_name(const AttentionSite& site, bool encoder_decoder) {
    std::string name;
    if (encoder_decoder) name = site.stack == Stack::encoder ? "encoder " : "decoder ";
    if (encoder_decoder) name += site.kind == AttentionKind::cross ? "cross " : "self ";
    return name + "layer " + std::to_string(site.layer);
}

// Top-1 agreement over every position of [.., V] logits.
void compare_logits(const Tensor& exact, const Tensor& low, AccuracyReport& report) {
    if (exact.empty() || low.empty()) return;
    const Tensor e = exact.to_float(), l = low.to_float();
    const int64_t vocab = e.dim(-1), rows = e.numel() / vocab;
    const std::vector<float> x = e.to_vector(), y = l.to_vector();
    for (int64_t r = 0; r < rows; ++r) {
        const float* a = x.data() + r * vocab;
        const float* b = y.data() + r * vocab;
        const int64_t best_a = std::max_element(a, a + vocab) - a, best_b = std::max_element(b, b + vocab) - b;
        float second = -INFINITY;
        for (int64_t j = 0; j < vocab; ++j) {
            if (j != best_a) second = std::max(second, a[j]);
        }
        ++report.positions;
        report.top1_agree += best_a == best_b;
        if (a[best_a] - second > report.margin) {
            ++report.confident;
            report.confident_agree += best_a == best_b;
        }
    }
}

}  // namespace

AccuracyReport compare_precision(const std::string& dir, DType dtype, const Tokens& input, const Tokens* target,
                                 double margin) {
    AccuracyReport report;
    report.dtype = dtype;
    report.margin = margin;
    LoadOptions exact_options, low_options;
    low_options.dtype = dtype;
    auto exact_model = load_model(dir, exact_options);
    auto low_model = load_model(dir, low_options);
    const bool encoder_decoder = exact_model->info().is_encoder_decoder;
    if (encoder_decoder && !target) throw Error(dir + ": an encoder-decoder model needs a decoder input to compare");
    Run exact, low;
    run(*exact_model, input, target, exact);
    run(*low_model, input, target, low);

    const auto& records = exact.recorder.records();
    for (const RecordedAttention& r : records) {
        const RecordedAttention* other = low.recorder.find(r.site.stack, r.site.kind, r.site.layer, r.step);
        if (!other) throw Error("compare_precision: the " + std::string(dtype_name(dtype)) + " run has no attention at " +
                                site_name(r.site, encoder_decoder));
        LayerAccuracy layer;
        layer.site = site_name(r.site, encoder_decoder);
        layer.attention_max_diff = max_abs_diff(r.probabilities, other->probabilities);
        report.layers.push_back(layer);
        report.attention_max_diff = std::max(report.attention_max_diff, layer.attention_max_diff);
    }
    // Hidden states: the encoder's (or decoder-only model's) per-layer outputs,
    // then the decoder's. hidden_states[0] is the embedding output, so layer i is i + 1.
    auto compare_hidden = [&](const std::vector<Tensor>& a, const std::vector<Tensor>& b, Stack stack) {
        for (size_t i = 1; i < a.size() && i < b.size(); ++i) {
            for (LayerAccuracy& layer : report.layers) {
                if (layer.site != site_name({stack, AttentionKind::self, static_cast<int>(i - 1)}, encoder_decoder)) continue;
                layer.hidden_max_diff = max_abs_diff(a[i], b[i]);
                layer.hidden_scale = max_abs(a[i]);
                if (layer.hidden_scale > 0) {
                    report.hidden_max_relative = std::max(report.hidden_max_relative, layer.hidden_max_diff / layer.hidden_scale);
                }
            }
        }
    };
    compare_hidden(exact.result.hidden_states, low.result.hidden_states, encoder_decoder ? Stack::encoder : Stack::decoder);
    compare_hidden(exact.result.decoder_hidden_states, low.result.decoder_hidden_states, Stack::decoder);
    compare_logits(exact.result.logits, low.result.logits, report);
    return report;
}

}  // namespace gaze
