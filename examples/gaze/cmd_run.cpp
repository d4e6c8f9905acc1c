// gaze run: one forward pass; prints a summary and optionally dumps every
// tensor under the golden fixtures' names.
#include <chrono>
#include <iostream>

#include "cli.hpp"
#include "gaze/seq2seq.hpp"

namespace gaze::cli {
namespace {

struct RunOptions {
    std::string model = "auto";
    TextInput input;
    std::string pair;
    std::string target;  // encoder-decoder models: the decoder's text (teacher forcing)
    std::string dump;
};

std::vector<std::pair<std::string, Tensor>> dump_tensors(const ForwardResult& out, const AttentionRecorder& recorder) {
    std::vector<std::pair<std::string, Tensor>> tensors;
    const bool seq2seq = !out.decoder_hidden_states.empty();  // the golden T5 names
    for (size_t i = 0; i < out.hidden_states.size(); ++i) {
        tensors.emplace_back((seq2seq ? "encoder_hidden_states." : "hidden_states.") + std::to_string(i),
                             out.hidden_states[i]);
    }
    for (size_t i = 0; i < out.decoder_hidden_states.size(); ++i) {
        tensors.emplace_back("decoder_hidden_states." + std::to_string(i), out.decoder_hidden_states[i]);
    }
    for (const auto& r : recorder.records()) tensors.emplace_back(recorder.tensor_name(r), r.probabilities);
    if (!out.logits.empty()) {
        tensors.emplace_back("logits", out.logits);
        Tensor last;
        ops::last_position(out.logits, last);
        tensors.emplace_back("logits_last", last);
    }
    if (!out.pooler_output.empty()) tensors.emplace_back("pooler_output", out.pooler_output);
    return tensors;
}

int run(const RunOptions& o) {
    const auto texts = o.input.read();
    LoadedModel m = open_model(o.model, texts);
    const Tokens tokens = tokenize_batch(*m.tokenizer, texts, o.pair);

    AttentionRecorder recorder;
    AttentionObserver* observers[] = {&recorder};
    ForwardOptions options;
    options.output_hidden_states = !o.dump.empty();
    options.compute_logits = !o.dump.empty();
    if (!o.dump.empty()) options.observers = observers;
    Tokens target;
    if (!o.target.empty()) {  // decoder input: the target shifted right behind the start token
        target = teacher_forcing_input(as_seq2seq(*m.model), *load_seq2seq_tokenizers(o.model).target,
                                       std::vector<std::string>(texts.size(), o.target));
        options.target = &target;
    }
    const auto start = std::chrono::steady_clock::now();
    const ForwardResult out = m.model->forward(tokens, options);
    const double ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count();

    const ModelInfo& info = m.model->info();
    std::cout << "model:   " << m.description << "\n";
    std::cout << "shape:   " << info.layers << " layers, " << info.heads << " heads, hidden " << info.hidden << "\n";
    for (int64_t b = 0; b < tokens.batch; ++b) {
        std::cout << "tokens:  ";
        for (int64_t i = 0; i < tokens.length; ++i) {
            if (tokens.valid(b, i)) std::cout << (i ? " " : "") << printable_token(tokens.str(b, i));
        }
        std::cout << "  (" << tokens.valid_length(b) << ")\n";
    }
    std::cout << "output:  last_hidden_state " << shape_string(out.last_hidden_state);
    if (!out.pooler_output.empty()) std::cout << ", pooler_output " << shape_string(out.pooler_output);
    if (!out.logits.empty()) std::cout << ", logits " << shape_string(out.logits);
    std::cout << "\ntime:    " << ms << " ms (forward" << (o.dump.empty() ? "" : ", with recorder") << ")\n";
    if (!o.dump.empty()) {
        const auto tensors = dump_tensors(out, recorder);
        write_safetensors(o.dump, tensors, {{"producer", "gaze run"}, {"model", info.family}});
        std::cout << "dump:    " << o.dump << " (" << tensors.size() << " tensors)\n";
    }
    return 0;
}

const RegisterCommand registration{{"run", "Run a model on a text and print a summary (optionally dump all tensors)",
                                    [](CLI::App& app) {
                                        auto o = std::make_shared<RunOptions>();
                                        app.add_option("--model", o->model,
                                                       "Model folder (config.json + safetensors), or 'auto'")
                                            ->capture_default_str();
                                        o->input.add_options(app);
                                        app.add_option("--pair", o->pair, "Second segment of a sentence pair");
                                        app.add_option("--target", o->target,
                                                       "Encoder-decoder models: the decoder's text (teacher forcing)");
                                        app.add_option("--dump", o->dump,
                                                       "Write hidden_states.i, attentions.l, logits, "
                                                       "logits_last, pooler_output to this .safetensors");
                                        return [o] { return run(*o); };
                                    }}};

}  // namespace
}  // namespace gaze::cli
