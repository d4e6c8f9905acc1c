// Results and the attention analysis for Python: numpy attention per block,
// the head finder and classifier, rollout, flow, top targets, and the
// attention equation on the user's own arrays.
#include <cstring>

#include "bindings.hpp"

namespace gaze::python {

void set_attention(RunResult& r, const AttentionRecorder& recorder) {
    r.attention = collect_attention(recorder, r.input, r.target ? &*r.target : nullptr, 0, r.family);
    r.stacked.clear();
    for (auto& b : r.attention.blocks) {
        // One [layers, heads, queries, keys] buffer per block; the analysis
        // reads its layers as views, numpy views the whole.
        Tensor all({b.num_layers(), b.heads(), b.queries.size(), b.keys.size()});
        const int64_t each = all.numel() / std::max<int64_t>(1, b.num_layers());
        for (int64_t l = 0; l < b.num_layers(); ++l) {
            const Tensor& layer = b.layers[static_cast<size_t>(l)];
            std::memcpy(all.data() + l * each, layer.data(), static_cast<size_t>(each) * sizeof(float));
        }
        for (int64_t l = 0; l < b.num_layers(); ++l) b.layers[static_cast<size_t>(l)] = all.select(0, l);
        r.stacked.push_back(std::move(all));
    }
}

const AttentionBlock& RunResult::block(const std::string& label) const {
    if (attention.blocks.empty()) throw Error("this result has no attention (run with attentions=True)");
    if (label.empty()) return attention.primary();
    std::string known;
    for (const auto& b : attention.blocks) {
        if (b.label() == label) return b;
        known += (known.empty() ? "'" : ", '") + b.label() + "'";
    }
    throw Error("block '" + label + "': this result has " + known);
}

namespace {

const Tensor& stacked_of(const RunResult& r, const AttentionBlock& b) {
    return r.stacked.at(static_cast<size_t>(&b - r.attention.blocks.data()));
}

py::object block_array(const RunResult& r, Stack stack, AttentionKind kind) {
    const AttentionBlock* b = r.attention.find(stack, kind);
    if (!b) return py::none();
    return to_numpy(stacked_of(r, *b));
}

std::vector<std::string> token_strings(const Tokens& t) {
    std::vector<std::string> out;
    for (int64_t i = 0; i < t.length; ++i) out.emplace_back(t.str(0, i));
    return out;
}

py::list arrays(const std::vector<Tensor>& ts) {
    py::list out;
    for (const auto& t : ts) out.append(to_numpy(t));
    return out;
}

py::object optional_array(const Tensor& t) { return t.empty() ? py::object(py::none()) : py::object(to_numpy(t)); }

int check_layer(const AttentionBlock& b, int layer, const char* what = "layer") {
    if (layer < 0) layer += static_cast<int>(b.num_layers());
    if (layer < 0 || layer >= b.num_layers()) {
        throw Error(std::string(what) + " " + std::to_string(layer) + ": " + b.label() + " has layers 0-" +
                    std::to_string(b.num_layers() - 1));
    }
    return layer;
}

void check_head(const AttentionBlock& b, int head) {
    if (head < -1 || head >= b.heads()) {
        throw Error("head " + std::to_string(head) + ": " + b.label() + " has heads 0-" + std::to_string(b.heads() - 1) +
                    " (-1: the mean over heads)");
    }
}

py::dict link_dict(const HeadLink& h, const SequenceAttention& a) {
    py::dict d;
    d["stack"] = to_string(h.stack);
    d["kind"] = to_string(h.kind);
    d["layer"] = h.layer;
    d["head"] = h.head;
    d["score"] = h.score;
    d["from_to"] = h.from_to;
    d["to_from"] = h.to_from;
    const AttentionBlock* b = a.find(h.stack, h.kind);
    d["block"] = b ? b->label() : "";
    return d;
}

// The fields HeadProfile and LayerSummary share: where, and the attention
// mass on each kind of target.
template <typename T>
py::dict role_masses(const T& x) {
    py::dict d;
    d["stack"] = to_string(x.stack);
    d["kind"] = to_string(x.kind);
    d["layer"] = x.layer;
    d["self"] = x.self;
    d["previous"] = x.previous;
    d["next"] = x.next;
    d["first"] = x.first;
    d["separator"] = x.separator;
    d["broad"] = x.broad;
    return d;
}

py::dict profile_dict(const HeadProfile& p) {
    py::dict d = role_masses(p);
    d["head"] = p.head;
    d["role"] = to_string(p.role);
    d["score"] = p.score;
    return d;
}

// Scaled dot-product attention on user arrays, in the engine's layout:
// q [B, Sq, H*d], k and v [B, Sk, H*d]; key_valid [B, Sk] (1 keep, 0 padding).
py::tuple attention_on_arrays(py::array_t<float, py::array::c_style | py::array::forcecast> q,
                              py::array_t<float, py::array::c_style | py::array::forcecast> k,
                              py::array_t<float, py::array::c_style | py::array::forcecast> v, int64_t heads, float scale,
                              bool causal, std::optional<py::array_t<uint8_t, py::array::c_style | py::array::forcecast>> key_valid) {
    const Tensor tq = tensor_view(q, "Q"), tk = tensor_view(k, "K"), tv = tensor_view(v, "V");
    if (tq.rank() != 3 || tk.rank() != 3 || tv.rank() != 3) throw Error("attention: Q, K and V must be [batch, tokens, width]");
    Tensor mask;
    if (key_valid) {
        if (key_valid->ndim() != 2 || key_valid->shape(0) != tk.dim(0) || key_valid->shape(1) != tk.dim(1)) {
            throw Error("mask: expected [batch, keys] = [" + std::to_string(tk.dim(0)) + ", " + std::to_string(tk.dim(1)) +
                        "] of 1 (keep) / 0 (padding)");
        }
        ops::additive_key_mask(std::span<const uint8_t>(key_valid->data(), static_cast<size_t>(key_valid->size())),
                               tk.dim(0), tk.dim(1), mask);
    }
    ops::AttentionOptions o;
    o.heads = heads;
    o.scale = scale;
    o.causal = causal;
    o.key_mask = key_valid ? &mask : nullptr;
    std::vector<int> all_heads(static_cast<size_t>(std::max<int64_t>(heads, 0)));
    for (size_t h = 0; h < all_heads.size(); ++h) all_heads[h] = static_cast<int>(h);
    Tensor out, weights;
    ops::ProbabilityCapture capture{all_heads, {}, &weights};
    {
        py::gil_scoped_release release;
        ops::attention(tq, tk, tv, o, out, &capture);
    }
    return py::make_tuple(to_numpy(out), to_numpy(weights));
}

}  // namespace

void bind_analysis(py::module_& m) {
    py::class_<RunResult, std::shared_ptr<RunResult>>(m, "Result")
        .def_readonly("family", &RunResult::family)
        .def_readonly("model", &RunResult::model)
        .def_readonly("text", &RunResult::text)
        .def_property_readonly("tokens", [](const RunResult& r) { return token_strings(r.input); })
        .def_property_readonly("ids", [](const RunResult& r) { return r.input.ids; })
        .def_property_readonly("target_tokens", [](const RunResult& r) {
            return r.target ? py::object(py::cast(token_strings(*r.target))) : py::object(py::none());
        })
        .def_property_readonly("target_ids", [](const RunResult& r) {
            return r.target ? py::object(py::cast(r.target->ids)) : py::object(py::none());
        })
        .def_property_readonly("attentions", [](const RunResult& r) { return to_numpy(stacked_of(r, r.block(""))); },
                               "[layers, heads, queries, keys] of the main self-attention")
        .def_property_readonly("blocks", [](const RunResult& r) {
            py::dict d;
            for (size_t i = 0; i < r.attention.blocks.size(); ++i) d[py::str(r.attention.blocks[i].label())] = to_numpy(r.stacked[i]);
            return d;
        }, "{'encoder self' | 'decoder self' | 'cross': [layers, heads, queries, keys]}")
        .def_property_readonly("encoder_attentions", [](const RunResult& r) { return block_array(r, Stack::encoder, AttentionKind::self); })
        .def_property_readonly("decoder_attentions", [](const RunResult& r) { return block_array(r, Stack::decoder, AttentionKind::causal_self); })
        .def_property_readonly("cross_attentions", [](const RunResult& r) { return block_array(r, Stack::decoder, AttentionKind::cross); })
        .def("block_tokens", [](const RunResult& r, const std::string& label) {
            const AttentionBlock& b = r.block(label);
            return py::make_tuple(b.queries.text, b.keys.text);
        }, py::arg("block") = "", "(query tokens, key tokens) of a block")
        .def_property_readonly("hidden_states", [](const RunResult& r) { return arrays(r.hidden_states); })
        .def_property_readonly("decoder_hidden_states", [](const RunResult& r) { return arrays(r.decoder_hidden_states); })
        .def_property_readonly("logits", [](const RunResult& r) { return optional_array(r.logits); })
        .def_property_readonly("pooler_output", [](const RunResult& r) { return optional_array(r.pooler_output); })
        .def("__repr__", [](const RunResult& r) {
            return "<gaze.Result " + r.family + ", " + std::to_string(r.input.length) + " tokens, " +
                   std::to_string(r.attention.blocks.size()) + " attention blocks>";
        });

    m.def("find_head", [](const RunResult& r, const std::string& from, const std::string& to) {
        py::list out;
        for (const auto& h : find_linking_heads(r.attention, from, to)) out.append(link_dict(h, r.attention));
        return out;
    }, py::arg("result"), py::arg("from_word"), py::arg("to_word"), "Every head ranked by how much it links the two words");
    m.def("heads", [](const RunResult& r, const std::string& block) {
        py::list out;
        for (const auto& p : block.empty() ? classify_heads(r.attention) : classify_heads(r.block(block))) out.append(profile_dict(p));
        return out;
    }, py::arg("result"), py::arg("block") = "", "Every head classified (self, previous, next, first, separator, broad) and ranked");
    m.def("layer_summary", [](const RunResult& r) {
        py::list out;
        for (const auto& s : summarize_layers(r.attention)) out.append(role_masses(s));
        return out;
    }, py::arg("result"));
    m.def("rollout", [](const RunResult& r, double residual, const std::string& block) {
        return stack_to_numpy(attention_rollout(r.block(block), residual));
    }, py::arg("result"), py::arg("residual") = 0.5, py::arg("block") = "", "Attention rollout: [layers, tokens, tokens]");
    m.def("flow", [](const RunResult& r, double residual, int last_layer, const std::string& block) {
        const AttentionBlock& b = r.block(block);
        if (last_layer != -1) check_layer(b, last_layer, "last_layer");
        Tensor flow;
        {
            py::gil_scoped_release release;  // a max-flow problem per token pair: the slow part
            flow = attention_flow(b, residual, last_layer);
        }
        return to_numpy(flow);
    }, py::arg("result"), py::arg("residual") = 0.5, py::arg("last_layer") = -1, py::arg("block") = "",
       "Attention flow to the top layer (or last_layer): [tokens, tokens]");
    m.def("top_targets", [](const RunResult& r, int layer, int head, int k, const std::string& block) {
        const AttentionBlock& b = r.block(block);
        layer = check_layer(b, layer);
        check_head(b, head);
        if (k < 1) throw Error("k: must be at least 1, got " + std::to_string(k));
        py::list out;
        for (const auto& t : top_targets(b, layer, head, k)) out.append(targets_dict(t));
        return out;
    }, py::arg("result"), py::arg("layer") = -1, py::arg("head") = -1, py::arg("k") = 3, py::arg("block") = "");
    m.def("_attention", &attention_on_arrays, py::arg("q"), py::arg("k"), py::arg("v"), py::arg("heads"), py::arg("scale"),
          py::arg("causal"), py::arg("key_valid") = py::none());
}

}  // namespace gaze::python
