// Models, tokenizers, forward passes and generation for Python.
//
// The GIL is released for every pass (tokenizing, the forward pass, decoding)
// and reacquired only inside Python callbacks (observers, on_token).
#include <Python.h>

#include "bindings.hpp"
#include "gaze/generation.hpp"
#include "gaze/models/gpt2.hpp"
#include "gaze/tokenizers/bpe.hpp"
#include "py_observer.hpp"

namespace gaze::python {
namespace {

// Text from the engine (decoded ids can stop inside a UTF-8 sequence):
// invalid bytes become U+FFFD instead of raising.
py::str utf8(const std::string& s) {
    PyObject* o = PyUnicode_DecodeUTF8(s.data(), static_cast<Py_ssize_t>(s.size()), "replace");
    if (!o) throw py::error_already_set();
    return py::reinterpret_steal<py::str>(o);
}

// A tensor the caller may keep: results never alias the engine's reused buffers.
Tensor detach(const Tensor& t) { return t.storage_unique() ? t : t.clone(); }
Tensor first_sequence(const Tensor& t) { return t.empty() ? Tensor{} : detach(t).select(0, 0); }

std::vector<Tensor> first_sequence(const std::vector<Tensor>& ts) {
    std::vector<Tensor> out;
    for (const auto& t : ts) out.push_back(first_sequence(t));
    return out;
}

// text: a str, or a list of token ids used as they are.
Encoding encode_input(const Tokenizer& tok, const py::object& text, const py::object& pair) {
    if (py::isinstance<py::str>(text)) {
        const std::string t = text.cast<std::string>();
        if (pair.is_none()) return tok.encode(t);
        return tok.encode_pair(t, pair.cast<std::string>());
    }
    if (!pair.is_none()) throw Error("pair: give the text as a string to use a pair");
    Encoding e;
    try {
        e.ids = text.cast<std::vector<int32_t>>();
    } catch (const py::cast_error&) {
        throw Error("text: expected a string or a list of token ids");
    }
    for (int32_t id : e.ids) {
        if (id < 0 || id >= tok.vocab_size()) {
            throw Error("text: token id " + std::to_string(id) + " is outside the vocabulary (0-" +
                        std::to_string(tok.vocab_size() - 1) + ")");
        }
        e.tokens.push_back(tok.id_to_token(id));
    }
    e.special.assign(e.ids.size(), 0);
    return e;
}

Tokens one_sequence(const Tokenizer& tok, const Encoding& e) {
    if (e.ids.empty()) throw Error("text: no tokens to run");
    return Tokens::from_encodings({e}, tok.pad_id(), tok.pad_token());
}

// The decoder side of an encoder-decoder pass, read from Python before the
// GIL is released: a target text (shifted right behind the start token), ids
// used as they are, or neither -- the model's own greedy output.
struct TargetInput {
    std::optional<std::string> text;
    std::optional<Encoding> ids;
};

TargetInput read_target(const PyModel& pm, const py::object& target) {
    TargetInput t;
    if (py::isinstance<py::str>(target)) {
        t.text = target.cast<std::string>();
    } else if (!target.is_none()) {
        t.ids = encode_input(*pm.target_tokenizer, target, py::none());
    }
    return t;
}

Tokens decoder_input(PyModel& pm, const Tokens& source, const TargetInput& target) {
    Seq2SeqModel& s2s = as_seq2seq(*pm.model);
    const Tokenizer& tok = *pm.target_tokenizer;
    if (target.text) return teacher_forcing_input(s2s, tok, std::vector<std::string>{*target.text});
    if (target.ids) return one_sequence(tok, *target.ids);
    const DecodeResult out = decode(s2s, source, DecodeOptions{});
    return teacher_forcing_input(s2s, tok, std::vector<std::vector<int32_t>>{out.sequences.at(0).ids});
}

// The observers of a pass: the user's, then (last, so it may take the engine's
// buffer without a copy) the recorder.
std::vector<AttentionObserver*> observer_list(const py::list& observers, AttentionRecorder* recorder) {
    std::vector<AttentionObserver*> out;
    for (const auto& o : observers) {
        try {
            out.push_back(o.cast<AttentionObserver*>());
        } catch (const py::cast_error&) {
            throw Error("observers: " + py::repr(o).cast<std::string>() + " is not a gaze.Observer");
        }
    }
    if (recorder) out.push_back(recorder);
    return out;
}

std::shared_ptr<RunResult> run(const std::shared_ptr<PyModel>& pm, const py::object& text, const py::object& pair,
                               const py::object& target, bool attentions, bool hidden_states, bool logits,
                               const py::list& observers) {
    auto r = std::make_shared<RunResult>();
    const ModelInfo& info = pm->info();
    r->family = info.family;
    r->model = pm->path;
    r->source = pm;
    r->text = py::isinstance<py::str>(text) ? text.cast<std::string>() : std::string();
    if (!pair.is_none()) r->text += " || " + pair.cast<std::string>();
    if (!target.is_none() && !info.is_encoder_decoder) {
        throw Error("target: only encoder-decoder models take a decoder text; this model is " + info.family);
    }
    const Encoding source = encode_input(*pm->tokenizer, text, pair);
    const TargetInput target_input = info.is_encoder_decoder ? read_target(*pm, target) : TargetInput{};
    AttentionRecorder recorder;
    std::vector<AttentionObserver*> list = observer_list(observers, attentions ? &recorder : nullptr);
    ForwardResult out;
    {
        py::gil_scoped_release release;
        std::lock_guard<std::mutex> lock(pm->busy);
        r->input = one_sequence(*pm->tokenizer, source);
        ForwardOptions options;
        options.output_hidden_states = hidden_states;
        options.compute_logits = logits;
        options.observers = list;
        if (info.is_encoder_decoder) {
            r->target = decoder_input(*pm, r->input, target_input);
            options.target = &*r->target;
        }
        out = pm->model->forward(r->input, options);
    }
    if (r->target && py::isinstance<py::str>(target)) r->text += " => " + target.cast<std::string>();
    if (attentions) set_attention(*r, recorder);
    r->hidden_states = first_sequence(out.hidden_states);
    r->decoder_hidden_states = first_sequence(out.decoder_hidden_states);
    r->logits = first_sequence(out.logits);
    r->pooler_output = first_sequence(out.pooler_output);
    return r;
}

// ---- generation ----------------------------------------------------------------

struct Generation {
    std::vector<std::string> prompt_tokens;
    std::vector<int32_t> ids;         // new tokens
    std::vector<std::string> tokens;  // their strings
    std::string text;                 // the new tokens decoded
    AttentionRecorder recorder;       // every step's attention
};

// {block label: [layers, heads, rows, keys]} of one generation step.
py::dict step_attention(const AttentionRecorder& recorder, int step) {
    std::vector<std::pair<std::string, std::vector<Tensor>>> blocks;
    for (const auto& rec : recorder.records()) {
        if (rec.step != step) continue;
        AttentionBlock b;
        b.stack = rec.site.stack;
        b.kind = rec.site.kind;
        const std::string label = b.label();
        auto it = std::find_if(blocks.begin(), blocks.end(), [&](const auto& x) { return x.first == label; });
        if (it == blocks.end()) it = blocks.insert(blocks.end(), {label, {}});
        if (static_cast<int>(it->second.size()) <= rec.site.layer) it->second.resize(static_cast<size_t>(rec.site.layer) + 1);
        it->second[static_cast<size_t>(rec.site.layer)] = rec.probabilities.select(0, 0);
    }
    py::dict out;
    for (const auto& [label, layers] : blocks) out[py::str(label)] = stack_to_numpy(layers);
    return out;
}

int steps_recorded(const AttentionRecorder& recorder) {
    int steps = 0;
    for (const auto& rec : recorder.records()) steps = std::max(steps, rec.step + 1);
    return steps;
}

SamplingOptions sampling(bool greedy, float temperature, int64_t top_k, float top_p, uint64_t seed) {
    SamplingOptions s;
    s.greedy = greedy;
    s.temperature = temperature;
    s.top_k = top_k;
    s.top_p = top_p;
    s.seed = seed;
    s.validate();
    return s;
}

std::shared_ptr<Generation> generate_tokens(const std::shared_ptr<PyModel>& pm, const py::object& prompt,
                                            int64_t max_new_tokens, bool greedy, float temperature, int64_t top_k,
                                            float top_p, uint64_t seed, const py::object& on_token, bool attentions,
                                            const py::list& observers) {
    auto g = std::make_shared<Generation>();
    const SamplingOptions s = sampling(greedy, temperature, top_k, top_p, seed);
    if (max_new_tokens < 1) throw Error("max_new_tokens: must be at least 1, got " + std::to_string(max_new_tokens));
    const Tokenizer& out_tok = pm->target_tokenizer ? *pm->target_tokenizer : *pm->tokenizer;
    const Encoding e = encode_input(*pm->tokenizer, prompt, py::none());
    g->prompt_tokens = e.tokens;
    std::vector<AttentionObserver*> list = observer_list(observers, attentions ? &g->recorder : nullptr);
    if (pm->info().is_encoder_decoder) {
        if (!on_token.is_none()) throw Error("on_token: streaming is for decoder-only models; encoder-decoder decoding returns the whole output");
        DecodeOptions options;
        options.max_length = max_new_tokens;
        options.sampling = s;
        options.observers = list;
        options.tokenizer = &out_tok;
        py::gil_scoped_release release;
        std::lock_guard<std::mutex> lock(pm->busy);
        const Tokens source = one_sequence(*pm->tokenizer, e);
        g->ids = decode(as_seq2seq(*pm->model), source, options).sequences.at(0).ids;
    } else {
        CausalLM& lm = as_causal_lm(*pm->model);
        GenerationOptions options;
        options.max_new_tokens = max_new_tokens;
        options.sampling = s;
        options.observers = list;
        options.tokenizer = &out_tok;
        if (!on_token.is_none()) {
            options.on_token = [&](int64_t step, std::span<const int32_t> ids) {
                py::gil_scoped_acquire gil;
                const py::object keep_going = on_token(step, ids[0], utf8(out_tok.decode({ids[0]})));
                return keep_going.is_none() || keep_going.cast<bool>();
            };
        }
        py::gil_scoped_release release;
        std::lock_guard<std::mutex> lock(pm->busy);
        const Tokens tokens = one_sequence(*pm->tokenizer, e);
        g->ids = generate(lm, tokens, options).sequence(0);
    }
    for (int32_t id : g->ids) g->tokens.push_back(out_tok.id_to_token(id));
    g->text = out_tok.decode(g->ids, true);
    return g;
}

std::shared_ptr<PyModel> load(const std::string& dir, const std::string& dtype, const std::string& device) {
    auto pm = std::make_shared<PyModel>();
    LoadOptions options;
    options.dtype = parse_compute_dtype(dtype, "dtype");
    if (device != "cpu" && device != "cuda") throw Error("device '" + device + "': choose 'cpu' or 'cuda'");
    options.device = device == "cuda" ? Device::cuda : Device::cpu;
    py::gil_scoped_release release;
    pm->model = load_model(dir, options);
    pm->path = dir;
    if (pm->info().is_encoder_decoder) {
        Seq2SeqTokenizers t = load_seq2seq_tokenizers(dir);
        pm->tokenizer = std::const_pointer_cast<Tokenizer>(t.source);
        pm->target_tokenizer = std::const_pointer_cast<Tokenizer>(t.target);
    } else {
        pm->tokenizer = load_tokenizer(dir);
    }
    if (AttentionProbe::supports(pm->info().family)) pm->open_probe = [dir] { return AttentionProbe::open(dir); };
    return pm;
}

// A GPT-2 of any shape with random weights (as Hugging Face initialises them)
// and the 256-byte tokenizer: a small GPT from a config, no checkpoint needed.
std::shared_ptr<PyModel> random_gpt2(const GPT2Shape& shape, uint32_t seed) {
    if (shape.vocab < 257) {
        throw Error("vocab_size: a random GPT-2 reads bytes (256 of them plus <|endoftext|>), so it needs at least 257, got " +
                    std::to_string(shape.vocab));
    }
    auto pm = std::make_shared<PyModel>();
    pm->model = make_model(gpt2_config(shape), random_gpt2_weights(shape, seed));
    pm->tokenizer = BpeTokenizer::bytes_only();
    pm->path = "a random GPT-2 (" + std::to_string(shape.layers) + " layers, " + std::to_string(shape.heads) +
               " heads, width " + std::to_string(shape.width) + ", seed " + std::to_string(seed) + ")";
    pm->open_probe = [shape, seed] { return AttentionProbe::from_weights(gpt2_config(shape), random_gpt2_weights(shape, seed)); };
    return pm;
}

py::dict info_dict(const ModelInfo& i) {
    py::dict d;
    d["family"] = i.family;
    d["source"] = i.source;
    d["layers"] = i.layers;
    d["decoder_layers"] = i.decoder_layers;
    d["heads"] = i.heads;
    d["hidden"] = i.hidden;
    d["intermediate"] = i.intermediate;
    d["vocab"] = i.vocab;
    d["max_positions"] = i.max_positions;
    d["has_lm_head"] = i.has_lm_head;
    d["is_encoder_decoder"] = i.is_encoder_decoder;
    d["is_causal"] = i.is_causal;
    d["parameters"] = i.parameters;
    return d;
}

void bind_tokenizer(py::module_& m) {
    py::class_<Encoding>(m, "Encoding")
        .def_readonly("ids", &Encoding::ids)
        .def_readonly("tokens", &Encoding::tokens)
        .def_readonly("type_ids", &Encoding::type_ids)
        .def_property_readonly("special", [](const Encoding& e) { return std::vector<bool>(e.special.begin(), e.special.end()); })
        .def("__len__", [](const Encoding& e) { return e.ids.size(); })
        .def("__repr__", [](const Encoding& e) { return "<gaze.Encoding of " + std::to_string(e.ids.size()) + " tokens>"; });
    using Tok = std::shared_ptr<Tokenizer>;
    py::class_<Tokenizer, Tok>(m, "Tokenizer")
        .def("encode", [](const Tokenizer& t, const std::string& text, const std::optional<std::string>& pair, bool special) {
                 py::gil_scoped_release release;
                 return pair ? t.encode_pair(text, *pair, special) : t.encode(text, special);
             }, py::arg("text"), py::arg("pair") = py::none(), py::arg("add_special_tokens") = true)
        .def("decode", [](const Tokenizer& t, const std::vector<int32_t>& ids, bool skip) { return utf8(t.decode(ids, skip)); },
             py::arg("ids"), py::arg("skip_special_tokens") = false)
        .def("id_to_token", &Tokenizer::id_to_token)
        .def("token_to_id", &Tokenizer::token_to_id)
        .def_property_readonly("vocab_size", &Tokenizer::vocab_size)
        .def_property_readonly("pad_id", &Tokenizer::pad_id)
        .def("__repr__", [](const Tokenizer& t) { return "<gaze.Tokenizer, " + std::to_string(t.vocab_size()) + " tokens>"; });
}

}  // namespace

void bind_model(py::module_& m) {
    bind_tokenizer(m);
    py::class_<PyModel, std::shared_ptr<PyModel>>(m, "Model")
        .def_property_readonly("info", [](const PyModel& pm) { return info_dict(pm.info()); })
        .def_property_readonly("family", [](const PyModel& pm) { return pm.info().family; })
        .def_readonly("path", &PyModel::path)
        .def_readonly("tokenizer", &PyModel::tokenizer)
        .def_property_readonly("target_tokenizer",
                               [](const PyModel& pm) { return pm.target_tokenizer ? pm.target_tokenizer : pm.tokenizer; })
        .def("run", &run, py::arg("text"), py::arg("pair") = py::none(), py::arg("target") = py::none(),
             py::arg("attentions") = true, py::arg("hidden_states") = true, py::arg("logits") = true,
             py::arg("observers") = py::list())
        .def("generate", &generate_tokens, py::arg("prompt"), py::arg("max_new_tokens") = 20, py::arg("greedy") = true,
             py::arg("temperature") = 1.0f, py::arg("top_k") = 0, py::arg("top_p") = 1.0f, py::arg("seed") = 0,
             py::arg("on_token") = py::none(), py::arg("attentions") = true, py::arg("observers") = py::list())
        .def("__repr__", [](const PyModel& pm) { return "<gaze.Model " + pm.info().family + ": " + pm.path + ">"; });

    py::class_<Generation, std::shared_ptr<Generation>>(m, "Generation")
        .def_readonly("prompt_tokens", &Generation::prompt_tokens)
        .def_readonly("ids", &Generation::ids)
        .def_readonly("tokens", &Generation::tokens)
        .def_property_readonly("text", [](const Generation& g) { return utf8(g.text); })
        .def_property_readonly("steps", [](const Generation& g) {
            py::list out;
            for (int s = 0; s < steps_recorded(g.recorder); ++s) out.append(step_attention(g.recorder, s));
            return out;
        })
        .def("__repr__", [](const Generation& g) { return "<gaze.Generation of " + std::to_string(g.ids.size()) + " tokens>"; });

    m.def("_load", &load, py::arg("path"), py::arg("dtype") = "f32", py::arg("device") = "cpu");
    m.def("_random_gpt2", [](int64_t vocab, int64_t context, int64_t width, int64_t heads, int64_t layers, int64_t inner,
                             uint32_t seed) { return random_gpt2(GPT2Shape{vocab, context, width, heads, layers, inner}, seed); },
          py::arg("vocab_size"), py::arg("n_positions"), py::arg("n_embd"), py::arg("n_head"), py::arg("n_layer"),
          py::arg("n_inner"), py::arg("seed"));
}

}  // namespace gaze::python
