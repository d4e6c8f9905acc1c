// gaze translate: run an encoder-decoder model (T5, the Transformer) on a text
// and show, for each output token, the source token the decoder looked at most
// while writing it (its last layer's cross-attention, averaged over heads).
// Also the encoder-decoder side of `gaze generate` (generate_seq2seq).
#include <chrono>
#include <filesystem>
#include <iomanip>
#include <iostream>

#include "cli.hpp"
#include "gaze/seq2seq.hpp"

namespace gaze::cli {

int generate_seq2seq(LoadedModel& m, const std::string& dir, const Tokens& source, int64_t max_new_tokens,
                     const SamplingOptions& sampling, bool stop_at_eos, const std::string& dump);

namespace {

struct TranslateOptions {
    std::string model;
    TextInput input;
    int beam = 1;
    int64_t max_length = 64;
    float length_penalty = 1.0f;
    int layer = -1;  // decoder layer of the alignment; -1: the last
    std::string dump;
};

double elapsed_ms(std::chrono::steady_clock::time_point start) {
    return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count();
}

// generated_ids [B, N] as float32 (exact below 2^24), padded with -1.
Tensor ids_tensor(const DecodeResult& r) {
    size_t longest = 0;
    for (const auto& h : r.sequences) longest = std::max(longest, h.ids.size());
    Tensor ids({static_cast<int64_t>(r.sequences.size()), static_cast<int64_t>(longest)});
    ids.fill(-1.0f);
    for (size_t b = 0; b < r.sequences.size(); ++b)
        for (size_t i = 0; i < r.sequences[b].ids.size(); ++i)
            ids.at({static_cast<int64_t>(b), static_cast<int64_t>(i)}) = static_cast<float>(r.sequences[b].ids[i]);
    return ids;
}

// For output token i of sequence b: row i of the cross-attention [B, heads, T, S]
// (the step that wrote it: its query is the token before), averaged over heads.
void print_alignment(const RecordedAttention& cross, int64_t b, const Tokens& source, const Tokenizer& target_tokenizer,
                     const std::vector<int32_t>& ids) {
    const Tensor& p = cross.probabilities;
    const int64_t heads = p.dim(1), keys = p.dim(3);
    for (size_t i = 0; i < ids.size(); ++i) {
        int64_t best = -1;
        float best_weight = -1.0f;
        for (int64_t j = 0; j < keys; ++j) {
            if (!source.valid(b, j)) continue;
            float w = 0;
            for (int64_t h = 0; h < heads; ++h) w += p.at({b, h, static_cast<int64_t>(i), j});
            w /= static_cast<float>(heads);
            if (w > best_weight) best = j, best_weight = w;
        }
        std::cout << "  " << std::left << std::setw(12) << printable_token(target_tokenizer.id_to_token(ids[i]))
                  << " <- " << std::setw(12) << printable_token(source.str(b, best)) << std::right << std::fixed
                  << std::setprecision(2) << best_weight << "  (source position " << best << ")\n";
    }
}

std::vector<std::pair<std::string, Tensor>> dump_tensors(const ForwardResult& out, const AttentionRecorder& recorder) {
    std::vector<std::pair<std::string, Tensor>> tensors;
    for (size_t i = 0; i < out.hidden_states.size(); ++i)
        tensors.emplace_back("encoder_hidden_states." + std::to_string(i), out.hidden_states[i]);
    for (size_t i = 0; i < out.decoder_hidden_states.size(); ++i)
        tensors.emplace_back("decoder_hidden_states." + std::to_string(i), out.decoder_hidden_states[i]);
    for (const auto& r : recorder.records()) tensors.emplace_back(recorder.tensor_name(r), r.probabilities);
    if (!out.logits.empty()) tensors.emplace_back("logits", out.logits);
    return tensors;
}

int run(const TranslateOptions& o) {
    const auto texts = o.input.read();
    auto model = load_model(o.model, load_options());
    Seq2SeqModel& s2s = as_seq2seq(*model);
    const Seq2SeqTokenizers tokenizers = load_seq2seq_tokenizers(o.model);
    const Tokens source = tokenize_batch(*tokenizers.source, texts, "");
    const ModelInfo& info = model->info();
    const int layer = o.layer < 0 ? static_cast<int>(info.decoder_layers) - 1 : o.layer;
    if (layer >= info.decoder_layers) {
        throw Error("--layer " + std::to_string(o.layer) + ": the decoder has " + std::to_string(info.decoder_layers) +
                    " layers");
    }

    DecodeOptions options;
    options.beam_size = o.beam;
    options.max_length = o.max_length;
    options.length_penalty = o.length_penalty;
    const auto start = std::chrono::steady_clock::now();
    const DecodeResult result = decode(s2s, source, options);
    const double decode_ms = elapsed_ms(start);

    // The alignment: one teacher-forced pass over the chosen outputs gives the
    // attention of every step that wrote them (for any beam size).
    std::vector<std::vector<int32_t>> outputs;
    for (const auto& h : result.sequences) outputs.push_back(h.ids);
    const Tokens target = teacher_forcing_input(s2s, *tokenizers.target, outputs);
    AttentionRecorder recorder;
    AttentionObserver* observers[] = {&recorder};
    ForwardOptions forward;
    forward.target = &target;
    forward.observers = observers;
    forward.output_hidden_states = !o.dump.empty();
    forward.compute_logits = !o.dump.empty();
    const ForwardResult out = model->forward(source, forward);
    const RecordedAttention* cross = recorder.find(Stack::decoder, AttentionKind::cross, layer);

    std::cout << "model:   " << o.model << " (" << info.family << ", " << info.layers << "+" << info.decoder_layers
              << " layers, " << info.heads << " heads)\n";
    for (int64_t b = 0; b < source.batch; ++b) {
        const auto& ids = result.sequences[static_cast<size_t>(b)].ids;
        std::cout << "source:  " << texts[static_cast<size_t>(b)] << "\n";
        std::cout << "output:  " << tokenizers.target->decode(ids, /*skip_special_tokens=*/true) << "\n";
        std::cout << "alignment (decoder layer " << layer << " cross-attention, mean over " << info.heads
                  << " heads): output token <- source token it attends to most\n";
        print_alignment(*cross, b, source, *tokenizers.target, ids);
    }
    std::cout << "time:    " << std::fixed << std::setprecision(1) << decode_ms << " ms ("
              << (o.beam > 1 ? "beam " + std::to_string(o.beam) : std::string("greedy")) << ")\n";
    if (!o.dump.empty()) {
        auto tensors = dump_tensors(out, recorder);
        tensors.emplace_back("generated_ids", ids_tensor(result));
        write_safetensors(o.dump, tensors, {{"producer", "gaze translate"}, {"model", info.family}});
        std::cout << "dump:    " << o.dump << " (" << tensors.size() << " tensors)\n";
    }
    return 0;
}

std::function<int()> setup(CLI::App& app) {
    auto o = std::make_shared<TranslateOptions>();
    app.add_option("--model", o->model, "Encoder-decoder model folder (T5, transformer)")->required();
    o->input.add_options(app);
    app.add_option("--beam", o->beam, "Beam size (1: greedy)")->check(CLI::Range(1, 64))->capture_default_str();
    app.add_option("--max-length", o->max_length, "Most tokens to generate")
        ->check(CLI::Range(int64_t{1}, int64_t{1} << 20))
        ->capture_default_str();
    app.add_option("--length-penalty", o->length_penalty, "Beam score = log p / length^penalty")->capture_default_str();
    app.add_option("--layer", o->layer, "Decoder layer whose cross-attention aligns (default: the last)");
    app.add_option("--dump", o->dump,
                   "Write the teacher-forced pass over the output (encoder_/decoder_hidden_states.i, "
                   "encoder_/decoder_/cross_attentions.l, logits) and generated_ids to this .safetensors");
    return [o] { return run(*o); };
}

const RegisterCommand registration{
    {"translate", "Translate with an encoder-decoder model and show which source token each output token attends to",
     setup}};

}  // namespace

// `gaze generate` on an encoder-decoder model: the prompt is the encoder's input.
int generate_seq2seq(LoadedModel& m, const std::string& dir, const Tokens& source, int64_t max_new_tokens,
                     const SamplingOptions& sampling, bool stop_at_eos, const std::string& dump) {
    Seq2SeqModel& s2s = as_seq2seq(*m.model);
    // A folder with separate vocabularies writes with its target one.
    std::shared_ptr<const Tokenizer> target_tokenizer(m.tokenizer.get(), [](const Tokenizer*) {});
    if (std::filesystem::exists(std::filesystem::path(dir) / "target_vocabulary.txt")) {
        target_tokenizer = load_seq2seq_tokenizers(dir).target;
    }
    AttentionRecorder recorder;
    AttentionObserver* observers[] = {&recorder};
    DecodeOptions options;
    options.max_length = max_new_tokens;
    options.sampling = sampling;
    options.stop_at_eos = stop_at_eos;
    options.tokenizer = target_tokenizer.get();
    if (!dump.empty()) options.observers = observers;
    const auto start = std::chrono::steady_clock::now();
    const DecodeResult r = decode(s2s, source, options);
    const double ms = elapsed_ms(start);
    for (size_t b = 0; b < r.sequences.size(); ++b) {
        if (r.sequences.size() > 1) std::cout << "[" << b << "] ";
        std::cout << target_tokenizer->decode(r.sequences[b].ids, /*skip_special_tokens=*/true) << "\n";
    }
    std::cerr << "model: " << m.description << "\ngenerated in " << ms << " ms\n";
    if (!dump.empty()) {
        std::vector<std::pair<std::string, Tensor>> tensors{{"generated_ids", ids_tensor(r)}};
        const int last_step = static_cast<int>(tensors[0].second.dim(1)) - 1;
        for (const auto& rec : recorder.records()) {
            tensors.emplace_back(recorder.tensor_name(rec), rec.probabilities);
            if (rec.step == last_step && rec.site.kind == AttentionKind::cross) {
                tensors.emplace_back("generate_last_step_cross_attentions." + std::to_string(rec.site.layer),
                                     rec.probabilities);
            }
        }
        write_safetensors(dump, tensors, {{"producer", "gaze generate"}, {"model", m.model->info().family}});
        std::cerr << "dump: " << dump << "\n";
    }
    return 0;
}

}  // namespace gaze::cli
