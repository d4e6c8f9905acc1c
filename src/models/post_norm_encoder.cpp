#include "gaze/models/post_norm_encoder.hpp"

#include <cmath>

namespace gaze {
namespace {

// The FFN output projection, [rows, F] x [F, H] with F = 4H, is a long
// reduction that OpenBLAS runs 6-8% faster with the weight stored [in, out]
// (no transposed operand); the other projections are fastest as stored
// [out, in]. So that one f32 weight is transposed once, at load (bf16 and
// int8 kernels read [out, in] rows, and a bf16 file stays mapped as it is).
Linear stored_in_out(const Linear& l) {
#ifdef GAZE_USE_BLAS
    if (l.layout != ops::WeightLayout::out_in || l.weight.dtype() != DType::f32) return l;
    Linear t = l;
    t.weight = Tensor({l.weight.dim(1), l.weight.dim(0)});
    t.weight.matrix() = l.weight.matrix().transpose();
    t.layout = ops::WeightLayout::in_out;
    return t;
#else
    return l;
#endif
}

}  // namespace

std::string layer_name(const std::string& pattern, int64_t layer) {
    std::string s = pattern;
    const auto at = s.find("{}");
    if (at != std::string::npos) s.replace(at, 2, std::to_string(layer));
    return s;
}

void PostNormEncoder::load(const Weights& w, const EncoderLayerNames& n, const EncoderShape& shape) {
    shape_ = shape;
    layers_.clear();
    const int64_t h = shape.hidden, f = shape.intermediate;
    for (int64_t i = 0; i < shape.layers; ++i) {
        const std::string p = layer_name(n.layer_prefix, i);
        Layer layer;
        layer.qkv = Linear::concat_outputs(
            {Linear::load(w, p + n.query, h, h), Linear::load(w, p + n.key, h, h), Linear::load(w, p + n.value, h, h)});
        layer.attention_out = Linear::load(w, p + n.attention_out, h, h);
        layer.attention_norm = LayerNorm::load(w, p + n.attention_norm, h, shape.norm_eps);
        layer.ffn_in = Linear::load(w, p + n.ffn_in, h, f);
        layer.ffn_out = stored_in_out(Linear::load(w, p + n.ffn_out, f, h));
        layer.ffn_norm = LayerNorm::load(w, p + n.ffn_norm, h, shape.norm_eps);
        layers_.push_back(std::move(layer));
    }
}

void PostNormEncoder::forward(Tensor& x, const Tensor& key_mask, const Tokens& tokens, ObserverHub& hub,
                              std::vector<Tensor>* hidden_states) {
    const int64_t h = shape_.hidden;
    ops::AttentionOptions attention;
    attention.heads = shape_.heads;
    attention.scale = 1.0f / std::sqrt(static_cast<float>(h / shape_.heads));
    attention.key_mask = &key_mask;
    for (size_t i = 0; i < layers_.size(); ++i) {
        const Layer& layer = layers_[i];
        layer.qkv.forward(x, qkv_);
        const AttentionSite site{Stack::encoder, AttentionKind::self, static_cast<int>(i), static_cast<int>(shape_.heads)};
        hub.attention(site, qkv_.narrow(2, 0, h), qkv_.narrow(2, h, h), qkv_.narrow(2, 2 * h, h), attention, context_,
                      tokens, tokens);
        layer.attention_out.forward(context_, projected_);
        ops::add(projected_, x, projected_);
        layer.attention_norm.forward(projected_, x);

        layer.ffn_in.forward(x, ffn_hidden_);
        apply_activation(shape_.activation, ffn_hidden_);
        layer.ffn_out.forward(ffn_hidden_, projected_);
        ops::add(projected_, x, projected_);
        layer.ffn_norm.forward(projected_, x);
        if (hidden_states) hidden_states->push_back(x.clone());
    }
}

}  // namespace gaze

namespace gaze {

void sum_embeddings(const Tensor& word, const Tensor& position, const Tensor* token_type, const Tokens& tokens,
                    Tensor& out) {
    const int64_t batch = tokens.batch, seq = tokens.length, h = word.dim(1);
    if (seq > position.dim(0)) {
        throw Error("input of " + std::to_string(seq) + " tokens is longer than the model's " +
                    std::to_string(position.dim(0)) + " positions");
    }
    Tensor flat;
    ops::embedding_lookup(word, tokens.ids, flat, "token id");
    out.resize({batch, seq, h});
    auto dst = out.reshape({batch * seq, h}).matrix();
    dst = flat.matrix();
    const auto pos = position.matrix();
    for (int64_t b = 0; b < batch; ++b) dst.middleRows(b * seq, seq) += pos.topRows(seq);
    if (token_type) {
        const auto types = token_type->matrix();
        for (int64_t i = 0; i < batch * seq; ++i) {
            const int32_t t = tokens.type_ids.empty() ? 0 : tokens.type_ids[static_cast<size_t>(i)];
            if (t < 0 || t >= types.rows()) {
                throw Error("token type id " + std::to_string(t) + " outside the model's " +
                            std::to_string(types.rows()) + " types");
            }
            dst.row(i) += types.row(t);
        }
    }
}

void MaskedLMHead::forward(const Tensor& x, Tensor& scratch, Tensor& logits) const {
    transform.forward(x, scratch);
    apply_activation(activation, scratch);
    norm.forward(scratch, scratch);
    decoder.forward(scratch, logits);
}

}  // namespace gaze
