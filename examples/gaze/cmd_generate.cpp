// gaze generate: continue a text with a GPT model (a folder, or a random GPT
// built in memory), streaming the text as tokens are produced; optionally dump
// the new ids and the attention of every step.
#include <algorithm>
#include <charconv>
#include <filesystem>
#include <cstdint>
#include <iostream>
#include <map>
#include <sstream>

#include "cli.hpp"
#include "gaze/chat_template.hpp"
#include "gaze/generation.hpp"
#include "gaze/models/gpt2.hpp"
#include "gaze/tokenizers/bpe.hpp"

namespace gaze::cli {

// Encoder-decoder models (T5): cmd_translate.cpp.
int generate_seq2seq(LoadedModel& m, const std::string& dir, const Tokens& source, int64_t max_new_tokens,
                     const SamplingOptions& sampling, bool stop_at_eos, const std::string& dump);

namespace {

struct GenerateOptions {
    std::string model, random_gpt, tokenizer;
    TextInput input;
    std::string ids;
    std::string chat, system;  // --chat / --system: a conversation through the chat template
    bool raw = false;          // --raw: the --chat text as it is
    int64_t max_new_tokens = 20;
    bool greedy = false, ignore_eos = false;
    float temperature = 1.0f, top_p = 1.0f;
    int64_t top_k = 0;
    uint64_t seed = 0;
    std::vector<int32_t> stop_tokens;
    std::string dump;
    std::vector<CLI::Option*> sampling_flags;  // any of these given: sample instead of argmax
};

int64_t parse_int(std::string_view text, const std::string& what) {
    int64_t v = 0;
    const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
    if (ec != std::errc() || end != text.data() + text.size()) throw Error(what + ": '" + std::string(text) + "' is not an integer");
    return v;
}

std::vector<std::string_view> split(std::string_view s, char sep) {
    std::vector<std::string_view> parts;
    for (size_t at; (at = s.find(sep)) != std::string_view::npos; s.remove_prefix(at + 1)) parts.push_back(s.substr(0, at));
    parts.push_back(s);
    return parts;
}

// "gpt2,layers=2" / "vocab=257,ctx=128,width=64,heads=4,layers=2,seed=0"; vocab defaults to the tokenizer's.
LoadedModel random_gpt(const std::string& spec, std::unique_ptr<Tokenizer> tokenizer) {
    GPT2Shape shape{.vocab = tokenizer->vocab_size(), .context = 128, .width = 64, .heads = 4, .layers = 2};
    int64_t seed = 0;
    std::map<std::string, int64_t*> keys = {{"vocab", &shape.vocab}, {"ctx", &shape.context}, {"width", &shape.width},
                                            {"heads", &shape.heads},  {"layers", &shape.layers}, {"inner", &shape.inner},
                                            {"seed", &seed}};
    for (std::string_view item : split(spec, ',')) {
        if (item.empty() || item == "default") continue;
        if (item == "gpt2") {  // GPT-2 small's shape (124M parameters)
            shape.context = 1024, shape.width = 768, shape.heads = 12, shape.layers = 12;
            continue;
        }
        const auto eq = item.find('=');
        const std::string key(item.substr(0, eq));
        auto it = keys.find(key == "context" ? "ctx" : key);
        if (eq == std::string_view::npos || it == keys.end()) {
            throw Error("--random-gpt: unknown key '" + key + "' (known: gpt2, vocab, ctx, width, heads, layers, inner, seed)");
        }
        *it->second = parse_int(item.substr(eq + 1), "--random-gpt " + key);
    }
    if (shape.vocab != tokenizer->vocab_size()) {
        throw Error("--random-gpt: vocab=" + std::to_string(shape.vocab) + " but the tokenizer has " +
                    std::to_string(tokenizer->vocab_size()) + " tokens (give --tokenizer DIR, or leave vocab out)");
    }
    if (seed < 0 || seed > UINT32_MAX) throw Error("--random-gpt: seed must be in [0, 2^32)");
    LoadedModel m;
    m.model = make_model(gpt2_config(shape), random_gpt2_weights(shape, static_cast<uint32_t>(seed)));
    m.tokenizer = std::move(tokenizer);
    std::ostringstream d;
    d << "a random, untrained GPT (" << shape.layers << " layers, " << shape.heads << " heads, width " << shape.width
      << ", context " << shape.context << ", vocab " << shape.vocab << ", seed " << seed << "): its text is noise";
    m.description = d.str();
    return m;
}

LoadedModel open_generator(const GenerateOptions& o) {
    if (!o.random_gpt.empty()) {
        auto tokenizer = o.tokenizer.empty() ? std::unique_ptr<Tokenizer>(BpeTokenizer::bytes_only()) : load_tokenizer(o.tokenizer);
        return random_gpt(o.random_gpt, std::move(tokenizer));
    }
    std::string dir = o.model;
    if (dir.empty()) {
        // The default: stories260K, a real trained Llama (llama2.c's TinyStories), when ../shared has it.
        const auto stories = std::filesystem::path(shared_dir()) / "models" / "stories260K";
        if (!std::filesystem::exists(stories / "config.json")) {
            throw Error("no model: give --model DIR or --random-gpt SPEC (the default, " + stories.string() +
                        ", is not there)");
        }
        dir = stories.lexically_normal().string();
    }
    LoadedModel m = open_model(dir);
    if (!o.tokenizer.empty()) m.tokenizer = load_tokenizer(o.tokenizer);
    return m;
}

// The folder whose tokenizer_config.json holds the chat template.
ChatTemplate chat_template(const GenerateOptions& o) {
    const std::string& dir = o.tokenizer.empty() ? o.model : o.tokenizer;
    if (dir.empty()) throw Error("--chat needs a model or --tokenizer folder with a tokenizer_config.json chat_template (or --raw)");
    return ChatTemplate::from_config(dir);
}

Tokens chat_tokens(const GenerateOptions& o, const Tokenizer& tokenizer) {
    if (o.raw) return tokenize_batch(tokenizer, {o.chat}, "");
    std::vector<ChatMessage> messages;
    if (!o.system.empty()) messages.push_back({"system", o.system});
    messages.push_back({"user", o.chat});
    // The template writes BOS itself, so no special tokens are added (as transformers' apply_chat_template).
    const Encoding e = tokenizer.encode(chat_template(o).apply(messages), false);
    return Tokens::from_encodings({e}, tokenizer.pad_id(), tokenizer.pad_token());
}

Tokens prompt_tokens(const GenerateOptions& o, const Tokenizer& tokenizer) {
    if (!o.chat.empty()) return chat_tokens(o, tokenizer);
    if (o.ids.empty()) return tokenize_batch(tokenizer, o.input.read(), "");
    std::vector<int32_t> ids;
    for (std::string_view item : split(o.ids, ',')) ids.push_back(static_cast<int32_t>(parse_int(item, "--ids")));
    return Tokens::from_ids(ids);
}

// --stop-token ids, and unless --ignore-eos the model's eos ids (config.json,
// generation_config.json) or else the tokenizer's <|endoftext|>.
std::vector<int32_t> stop_tokens(const GenerateOptions& o, const Tokenizer& tokenizer, const ModelInfo& info) {
    std::vector<int32_t> stops = o.stop_tokens;
    if (!o.ignore_eos) {
        stops.insert(stops.end(), info.eos_ids.begin(), info.eos_ids.end());
        if (info.eos_ids.empty()) {
            if (auto eos = tokenizer.token_to_id(BpeTokenizer::kEndOfText)) stops.push_back(*eos);
        }
        // A chat reply ends at the template's end-of-turn token.
        if (!o.chat.empty() && !o.raw)
            if (auto end = tokenizer.token_to_id(chat_template(o).end_of_turn())) stops.push_back(*end);
    }
    return stops;
}

// Streams a sequence's text as tokens arrive. Decoding the whole sequence each
// time (not token by token) keeps SentencePiece's spaces right; text that ends
// in an incomplete UTF-8 character (U+FFFD so far) is held back until it completes.
class TextStream {
public:
    // skip_special: hide BOS/EOS and the like; a chat prompt keeps them, so
    // the template's markup shows.
    TextStream(const Tokenizer& tokenizer, std::vector<int32_t> prompt, bool skip_special)
        : tokenizer_(tokenizer), ids_(std::move(prompt)), skip_special_(skip_special) {}
    void add(int32_t id) {
        ids_.push_back(id);
        flush(false);
    }
    void flush(bool last) {
        const std::string text = tokenizer_.decode(ids_, skip_special_);
        constexpr std::string_view kReplacement = "\xEF\xBF\xBD";
        const bool pending = text.size() >= 3 && text.compare(text.size() - 3, 3, kReplacement) == 0;
        if ((pending && !last) || text.compare(0, printed_.size(), printed_) != 0) return;
        std::cout << text.substr(printed_.size()) << std::flush;
        printed_ = text;
    }

private:
    const Tokenizer& tokenizer_;
    std::vector<int32_t> ids_;
    bool skip_special_;
    std::string printed_;
};

// generated_ids [B, N] (float32: exact for ids below 2^24), every step's attention
// (step.i.attentions.l) and the last step's under the golden fixtures' name.
void write_dump(const std::string& path, const GenerationResult& r, const AttentionRecorder& recorder,
                const std::string& family) {
    std::vector<std::pair<std::string, Tensor>> tensors;
    Tensor ids({r.batch, r.steps});
    for (size_t i = 0; i < r.ids.size(); ++i) ids.data()[i] = static_cast<float>(r.ids[i]);
    tensors.emplace_back("generated_ids", ids);
    for (const auto& rec : recorder.records()) {
        tensors.emplace_back(recorder.tensor_name(rec), rec.probabilities);
        if (rec.step == r.steps - 1) {
            tensors.emplace_back("generate_last_step_attentions." + std::to_string(rec.site.layer), rec.probabilities);
        }
    }
    write_safetensors(path, tensors, {{"producer", "gaze generate"}, {"model", family}});
}

int run(const GenerateOptions& o) {
    LoadedModel m = open_generator(o);
    const Tokenizer& tokenizer = *m.tokenizer;
    const Tokens prompt = prompt_tokens(o, tokenizer);

    AttentionRecorder recorder;
    AttentionObserver* observers[] = {&recorder};
    GenerationOptions g;
    g.max_new_tokens = o.max_new_tokens;
    g.sampling = {.greedy = o.greedy || std::none_of(o.sampling_flags.begin(), o.sampling_flags.end(),
                                                     [](const CLI::Option* f) { return f->count() > 0; }),
                  .temperature = o.temperature, .top_k = o.top_k, .top_p = o.top_p, .seed = o.seed};
    g.stop_tokens = stop_tokens(o, tokenizer, m.model->info());
    g.tokenizer = &tokenizer;
    if (m.model->info().is_encoder_decoder) {
        return generate_seq2seq(m, o.model, prompt, g.max_new_tokens, g.sampling, !o.ignore_eos, o.dump);
    }
    if (!o.dump.empty()) g.observers = observers;
    const bool stream = prompt.batch == 1;
    // The prompt, then the text as it comes (printed from the first callback,
    // so that bad input fails before any output).
    TextStream text(tokenizer, std::vector<int32_t>(prompt.ids.begin(), prompt.ids.end()), o.chat.empty() || o.raw);
    if (stream) {
        g.on_token = [&](int64_t, std::span<const int32_t> ids) {
            text.add(ids[0]);
            return true;
        };
    }
    const GenerationResult r = generate(as_causal_lm(*m.model), prompt, g);
    if (stream) {
        text.flush(true);
        std::cout << "\n";
    }
    for (int64_t b = 0; !stream && b < r.batch; ++b) {
        std::vector<int32_t> ids;
        for (int64_t i = 0; i < prompt.length; ++i)
            if (prompt.valid(b, i)) ids.push_back(prompt.id(b, i));
        const auto added = r.sequence(b);
        ids.insert(ids.end(), added.begin(), added.end());
        std::cout << "[" << b << "] " << tokenizer.decode(ids) << "\n";
    }
    std::cerr << "model: " << m.description << "\n";
    const double per_token = r.steps > 1 ? r.decode_ms / static_cast<double>(r.steps - 1) : 0.0;
    std::cerr << "generated " << r.steps << " tokens per sequence: prompt " << r.prefill_ms << " ms, then " << per_token
              << " ms/token (" << (per_token > 0 ? 1000.0 / per_token : 0.0) << " tokens/s)\n";
    if (!o.dump.empty()) {
        write_dump(o.dump, r, recorder, m.model->info().family);
        std::cerr << "dump: " << o.dump << "\n";
    }
    return 0;
}

std::function<int()> setup(CLI::App& app) {
    auto o = std::make_shared<GenerateOptions>();
    auto* model = app.add_option("--model", o->model,
                                 "Model folder (config.json + safetensors + tokenizer files); default: "
                                 "../shared/models/stories260K (a real trained TinyStories Llama) when present");
    auto* random = app.add_option("--random-gpt", o->random_gpt,
                                  "Build an untrained GPT in memory instead: comma-separated key=value of vocab "
                                  "(default: the tokenizer's), ctx (128), width (64), heads (4), layers (2), inner "
                                  "(4*width), seed (0); 'gpt2' selects GPT-2 small's shape, e.g. 'gpt2,layers=2'");
    model->excludes(random);
    app.add_option("--tokenizer", o->tokenizer,
                   "Tokenizer folder (default: the model's; for --random-gpt, the 256 bytes + <|endoftext|>)");
    o->input.add_options(app);
    auto* ids = app.add_option("--ids", o->ids, "Prompt as comma-separated token ids instead of text, e.g. 464,3797");
    ids->excludes(app.get_option("--text"))->excludes(app.get_option("--text-file"));
    auto* chat = app.add_option("--chat", o->chat,
                                "Prompt as a user message, formatted with the chat template of the model's "
                                "tokenizer_config.json (Llama 2/3, ChatML, Mistral; see docs/tokenizers.md)");
    chat->excludes(app.get_option("--text"))->excludes(app.get_option("--text-file"))->excludes(ids);
    auto* raw = app.add_flag("--raw", o->raw, "With --chat: give the message as it is, without the chat template");
    raw->needs(chat);
    app.add_option("--system", o->system, "With --chat: a system message before it")->needs(chat)->excludes(raw);
    app.add_option("--max-new-tokens", o->max_new_tokens, "How many tokens to generate")
        ->check(CLI::Range(int64_t{1}, int64_t{1} << 20))
        ->capture_default_str();
    auto* greedy = app.add_flag("--greedy", o->greedy, "Always take the most likely token (the default)");
    o->sampling_flags = {
        app.add_option("--temperature", o->temperature, "Sample, dividing the logits by this (> 0)")->capture_default_str(),
        app.add_option("--top-k", o->top_k, "Sample among the k most likely tokens (0: all)")->capture_default_str(),
        app.add_option("--top-p", o->top_p, "Sample among the most likely tokens holding this probability mass, in (0, 1]")
            ->capture_default_str(),
        app.add_option("--seed", o->seed, "Seed of the sampler")->capture_default_str()};
    for (auto* f : o->sampling_flags) greedy->excludes(f);
    app.add_option("--stop-token", o->stop_tokens, "Also stop a sequence at this token id (repeatable)");
    app.add_flag("--ignore-eos", o->ignore_eos, "Do not stop at the model's end-of-sequence token (eos_token_id, <|endoftext|>)");
    app.add_option("--dump", o->dump,
                   "Write generated_ids, step.i.attentions.l of every step and "
                   "generate_last_step_attentions.l to this .safetensors");
    return [o] { return run(*o); };
}

const RegisterCommand registration{
    {"generate", "Continue a text with a GPT model, streaming tokens as they are produced", setup}};

}  // namespace
}  // namespace gaze::cli
