#include "view_support.hpp"

#include <filesystem>
#include <sstream>

#include "gaze/seq2seq.hpp"

namespace gaze::cli {

void AttentionInput::add_options(CLI::App& app) {
    text.add_options(app);
    auto* p = app.add_option("--pair", pair, "Second segment of a sentence pair (BERT)");
    auto* t = app.add_option("--target", target, "Decoder text (encoder-decoder models: teacher forcing)");
    p->excludes(t);
}

std::string AttentionInput::read_one() const {
    const auto texts = text.read();
    if (texts.size() != 1) throw Error("give one text (--text once): the views show one sequence");
    if (texts[0].empty()) throw Error("the text is empty");
    return texts[0];
}

ViewRun run_for_view(LoadedModel& m, const std::string& model_dir, const std::string& text, const std::string& pair,
                     const std::string& target) {
    const ModelInfo& info = m.model->info();
    ViewRun run;
    ForwardOptions options;
    options.output_hidden_states = true;
    options.compute_logits = false;
    if (info.is_encoder_decoder) {
        if (!pair.empty()) throw Error("--pair is for BERT-style encoders; this model is an encoder-decoder");
        if (target.empty()) throw Error("this model is an encoder-decoder: give --target, the decoder's text");
        const Seq2SeqTokenizers tok = load_seq2seq_tokenizers(model_dir);
        run.input = Tokens::from_encodings({tok.source->encode(text)}, tok.source->pad_id(), tok.source->pad_token());
        run.target = teacher_forcing_input(as_seq2seq(*m.model), *tok.target, std::vector<std::string>{target});
        options.target = &*run.target;
    } else {
        if (!target.empty()) throw Error("--target is for encoder-decoder models; this model is " + info.family);
        run.input = tokenize_batch(*m.tokenizer, {text}, pair);
    }
    check_input(info, run.input);
    AttentionRecorder recorder;
    AttentionObserver* observers[] = {&recorder};
    options.observers = observers;
    ForwardResult out = m.model->forward(run.input, options);
    run.attention = collect_attention(recorder, run.input, run.target ? &*run.target : nullptr, 0, info.family);
    if (run.attention.blocks.empty()) throw Error("the model reported no attention");
    run.hidden_states = std::move(out.hidden_states);
    return run;
}

std::optional<AttentionProbe> open_probe(const std::string& model_dir, const LoadedModel& m, std::string* why) {
    namespace fs = std::filesystem;
    const ModelInfo& info = m.model->info();
    try {
        if (!AttentionProbe::supports(info.family)) {
            if (why) *why = "the q/k/v probe does not know " + info.family + " (it knows bert, distilbert, gpt2, transformer)";
            return std::nullopt;
        }
        if (model_dir != "auto") return AttentionProbe::open(model_dir);
        const fs::path golden = fs::path(shared_dir()) / "golden" / "bert-tiny";
        if (info.source == "random (seed 0)") {
            // open_model's in-memory BERT: the same shape and seed give the same weights.
            const BertShape shape{info.layers, info.hidden, info.heads, info.intermediate, info.vocab, info.max_positions, 2};
            return AttentionProbe::from_weights(bert_config(shape), random_bert_weights(shape, 0));
        }
        if (fs::exists(golden / "config.json")) return AttentionProbe::open(golden.string());
        if (why) *why = "cannot find the weights of the 'auto' model";
    } catch (const Error& e) {
        if (why) *why = e.what();
    }
    return std::nullopt;
}

views::PageData page_data(const ViewRun& run, const AttentionProbe* probe, int explain_layer) {
    views::PageData data;
    data.attention = run.attention;
    if (probe) {
        if (explain_layer < 0 || explain_layer >= probe->layers()) {
            throw Error("--explain-layer " + std::to_string(explain_layer) + ": the model has layers 0-" +
                        std::to_string(probe->layers() - 1));
        }
        if (static_cast<size_t>(explain_layer) < run.hidden_states.size()) {
            data.explain = probe->project(run.hidden_states[static_cast<size_t>(explain_layer)], explain_layer);
        }
    }
    return data;
}

std::string words_of(const SequenceAttention& attention) {
    const AttentionBlock& b = attention.primary();
    std::string s;
    for (const auto& w : group_words(b.queries.text, b.queries.special)) {
        if (!w.special) s += (s.empty() ? "" : " ") + printable_token(w.text);
    }
    return s;
}

std::vector<std::pair<int, int>> parse_head_list(const std::string& text) {
    std::vector<std::pair<int, int>> out;
    std::stringstream in(text);
    std::string item;
    while (std::getline(in, item, ',')) {
        const auto colon = item.find(':');
        try {
            if (colon == std::string::npos) throw std::invalid_argument("no colon");
            size_t used = 0;
            const int layer = std::stoi(item.substr(0, colon), &used);
            if (used != colon) throw std::invalid_argument("layer");
            const std::string h = item.substr(colon + 1);
            const int head = std::stoi(h, &used);
            if (used != h.size()) throw std::invalid_argument("head");
            out.emplace_back(layer, head);
        } catch (const std::exception&) {
            throw Error("--heads: '" + item + "' is not LAYER:HEAD (e.g. --heads 0:1,1:3)");
        }
    }
    if (out.empty()) throw Error("--heads: give LAYER:HEAD pairs, e.g. --heads 0:1,1:3");
    return out;
}

}  // namespace gaze::cli
