// gaze accuracy: how far bf16 or int8 weights move a model from f32, on one
// text: per layer, max |diff| of the attention probabilities and of the hidden
// states, and how often the top-1 token agrees (docs/precision.md).
#include <iomanip>
#include <iostream>

#include "cli.hpp"
#include "gaze/accuracy.hpp"
#include "gaze/seq2seq.hpp"

namespace gaze::cli {
namespace {

struct AccuracyOptions {
    std::string model;
    std::string text = "The quick brown fox jumps over the lazy dog, and the dog sleeps on.";
    std::string target;  // decoder input text (encoder-decoder models); default: the text
};

int run(const AccuracyOptions& o) {
    const LoadOptions options = load_options();
    if (options.dtype == DType::f32) throw Error("--dtype: choose bf16 or int8 to compare against f32");
    const auto tokenizer = load_tokenizer(o.model);
    const Tokens input = tokenize_batch(*tokenizer, {o.text}, "");
    Tokens target;
    {
        auto probe = load_model(o.model);  // f32: what kind of model this is
        if (probe->info().is_encoder_decoder) {
            std::vector<int32_t> ids = {as_seq2seq(*probe).decoder_start_id()};
            for (int32_t id : tokenizer->encode(o.target.empty() ? o.text : o.target).ids) ids.push_back(id);
            target = Tokens::from_ids(ids);
        }
    }
    const AccuracyReport r = compare_precision(o.model, options.dtype, input, target.ids.empty() ? nullptr : &target);
    std::cout << "model: " << o.model << "  dtype: " << dtype_name(r.dtype) << " vs f32  tokens: " << input.length
              << "  cpu: " << cpu_features().isa << "\n";
    std::cout << std::left << std::setw(26) << "layer" << std::right << std::setw(16) << "attention max" << std::setw(16)
              << "hidden max" << std::setw(16) << "hidden rel" << "\n";
    for (const LayerAccuracy& l : r.layers) {
        std::cout << std::left << std::setw(26) << l.site << std::right << std::scientific << std::setprecision(2)
                  << std::setw(16) << l.attention_max_diff;
        if (l.hidden_scale > 0) {
            std::cout << std::setw(16) << l.hidden_max_diff << std::setw(16) << l.hidden_max_diff / l.hidden_scale;
        }
        std::cout << "\n";
    }
    std::cout << std::defaultfloat << "attention probabilities: max |diff| " << r.attention_max_diff << "\n"
              << "hidden states: max |diff| / max |f32| " << r.hidden_max_relative << "\n";
    if (r.positions > 0) {
        std::cout << "top-1 agreement: " << r.top1_agree << " / " << r.positions << " positions; " << r.confident_agree
                  << " / " << r.confident << " where f32's top-1 leads by > " << r.margin << "\n";
    }
    return 0;
}

const RegisterCommand registration{{"accuracy", "Compare a model in bf16 or int8 with f32, layer by layer, on one text",
                                    [](CLI::App& app) {
                                        auto o = std::make_shared<AccuracyOptions>();
                                        app.add_option("--model", o->model, "Model folder")->required();
                                        app.add_option("--text", o->text, "Input text")->capture_default_str();
                                        app.add_option("--target", o->target, "Decoder input text (encoder-decoder models)");
                                        return [o] { return run(*o); };
                                    }}};

}  // namespace
}  // namespace gaze::cli
