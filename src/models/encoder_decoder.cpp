// The pre-norm encoder-decoder forward pass shared by T5 and the Transformer
// (see encoder_decoder.hpp). Teacher forcing and step-by-step decoding run the
// same decoder code: a "chunk" of n new target positions after `offset` cached
// ones (n = T, offset = 0 for teacher forcing; n = 1 for a decode step).
#include "gaze/models/encoder_decoder.hpp"
#include "gaze/cpu.hpp"

#include <cstring>

namespace gaze {

namespace {

// Makes room for positions [0, needed) in every layer of the cache, keeping
// the filled ones (capacity doubles, so growing is rare).
void ensure_capacity(KVCache& cache, int64_t layers, int64_t batch, int64_t width, int64_t needed) {
    if (cache.batch() == batch && cache.capacity() >= needed && static_cast<int64_t>(cache.keys.size()) == layers) return;
    KVCache grown;
    grown.reserve(layers, batch, std::max<int64_t>({needed, 2 * cache.capacity(), 16}), width);
    grown.length = cache.length;
    for (size_t l = 0; l < cache.keys.size() && cache.length > 0; ++l) {
        for (int64_t b = 0; b < batch; ++b) {
            const size_t bytes = sizeof(float) * static_cast<size_t>(cache.length * width);
            std::memcpy(grown.keys[l].ptr({b, 0, 0}), cache.keys[l].ptr({b, 0, 0}), bytes);
            std::memcpy(grown.values[l].ptr({b, 0, 0}), cache.values[l].ptr({b, 0, 0}), bytes);
        }
    }
    cache = std::move(grown);
}

// Writes rows [B, n, W] (may be strided) into cache [B, capacity, W] at positions [at, at + n).
void write_rows(Tensor& cache, int64_t at, const Tensor& rows) {
    const int64_t batch = rows.dim(0), n = rows.dim(1), width = rows.dim(2);
    for (int64_t b = 0; b < batch; ++b)
        for (int64_t i = 0; i < n; ++i)
            std::memcpy(cache.ptr({b, at + i, 0}), rows.ptr({b, i, 0}), sizeof(float) * static_cast<size_t>(width));
}

Tensor additive_mask(const Tokens& tokens) {
    Tensor mask;
    const std::vector<uint8_t> all(static_cast<size_t>(tokens.batch * tokens.length), 1);
    ops::additive_key_mask(tokens.mask.empty() ? all : tokens.mask, tokens.batch, tokens.length, mask);
    return mask;
}

class EncoderDecoderModel final : public Seq2SeqModel {
public:
    explicit EncoderDecoderModel(EncoderDecoderParts parts) : p_(std::move(parts)) {
        width_ = p_.encoder.at(0).attention.out.weight.dim(1);  // heads * d_head
    }
    const ModelInfo& info() const override { return p_.info; }
    int32_t decoder_start_id() const override { return p_.decoder_start_id; }
    int32_t eos_id() const override { return p_.eos_id; }
    int64_t source_vocab() const override { return p_.source_vocab; }

    // Teacher forcing: encoder over `input`, decoder over options.target (or
    // the start token alone) in one pass; one observer pass for both stacks.
    ForwardResult forward(const Tokens& input, const ForwardOptions& options) override {
        check_source(input);
        const Tokens target = options.target ? *options.target : start_tokens(input.batch);
        check_target(target, input.batch);
        ForwardResult result;
        begin_pass_threads();  // every pass starts here: thread count for this thread and load
        ObserverHub hub(options.observers);
        hub.begin(forward_info(input, &target, -1));
        DecoderState state = start_state(input);
        run_encoder(state, hub, options.output_hidden_states ? &result.hidden_states : nullptr);
        state.target = target;
        const Tensor target_mask = additive_mask(target);
        run_decoder(state, target.length, &target_mask, hub, -1,
                    options.output_hidden_states ? &result.decoder_hidden_states : nullptr, result.last_hidden_state);
        hub.end();
        if (options.compute_logits) {
            if (options.logits_last_only) {
                ops::last_position(result.last_hidden_state, last_rows_);
                head(last_rows_, result.logits);
            } else {
                head(result.last_hidden_state, result.logits);
            }
        }
        return result;
    }

    DecoderState encode(const Tokens& source, std::span<AttentionObserver* const> observers,
                        int64_t expected_length) override {
        check_source(source);
        begin_pass_threads();  // every pass starts here: thread count for this thread and load
        ObserverHub hub(observers);
        hub.begin(forward_info(source, nullptr, -1));
        DecoderState state = start_state(source);
        ensure_capacity(state.self_attention, decoder_layers(), source.batch, width_, expected_length);
        run_encoder(state, hub, nullptr);
        hub.end();
        return state;
    }

    void decode_step(DecoderState& state, std::span<const int32_t> ids, Tensor& logits,
                     std::span<AttentionObserver* const> observers, std::span<const std::string> labels) override {
        if (static_cast<int64_t>(ids.size()) != state.batch()) {
            throw Error("decode_step: " + std::to_string(ids.size()) + " ids for a batch of " +
                        std::to_string(state.batch()));
        }
        if (!labels.empty() && labels.size() != ids.size()) throw Error("decode_step: one label per id expected");
        check_length(state.cached() + 1);  // checked before the state changes
        check_ids(ids);
        append_target(state.target, ids, labels);
        begin_pass_threads();  // every pass starts here: thread count for this thread and load
        ObserverHub hub(observers);
        hub.begin(forward_info(state.source, &state.target, state.step));
        run_decoder(state, 1, nullptr, hub, state.step, nullptr, step_output_);
        hub.end();
        head(step_output_.reshape({state.batch(), p_.info.hidden}), logits);  // [B, V]
        ++state.step;
    }

private:
    EncoderDecoderParts p_;
    int64_t width_ = 0;  // attention width: heads * d_head (T5 v1.1 may differ from d_model)
    // Reused buffers.
    Tensor normed_, qkv_, query_, context_, projected_, ffn_hidden_, ffn_gate_, bias_, scaled_,
        last_rows_, step_output_;

    Tokens start_tokens(int64_t batch) const {
        Encoding start;
        start.ids = {p_.decoder_start_id};
        return Tokens::from_encodings(std::vector<Encoding>(static_cast<size_t>(batch), start), p_.pad_id);
    }

    // The first token of a target starts its Tokens (append() grows existing ones).
    void append_target(Tokens& target, std::span<const int32_t> ids, std::span<const std::string> labels) const {
        if (target.length > 0) {
            target.append({ids.begin(), ids.end()}, {labels.begin(), labels.end()});
            return;
        }
        std::vector<Encoding> first(ids.size());
        for (size_t b = 0; b < ids.size(); ++b) {
            first[b].ids = {ids[b]};
            if (!labels.empty()) first[b].tokens = {labels[b]};
        }
        target = Tokens::from_encodings(first, p_.pad_id);
    }

    void check_source(const Tokens& source) const {
        ModelInfo source_side = p_.info;
        source_side.vocab = p_.source_vocab;
        check_input(source_side, source);
    }

    void check_target(const Tokens& target, int64_t batch) const {
        if (target.batch != batch) {
            throw Error("target batch of " + std::to_string(target.batch) + " for a source batch of " +
                        std::to_string(batch));
        }
        if (target.length <= 0) throw Error("empty target: the decoder needs at least its start token");
        if (target.ids.size() != static_cast<size_t>(target.batch * target.length)) {
            throw Error("target has " + std::to_string(target.ids.size()) + " ids for a batch of " +
                        std::to_string(target.batch) + " x " + std::to_string(target.length));
        }
        check_length(target.length);
        check_ids(target.ids);
    }

    void check_length(int64_t target_length) const {
        if (p_.info.max_positions > 0 && target_length > p_.info.max_positions) {
            throw Error("target of " + std::to_string(target_length) + " tokens is longer than the model's maximum of " +
                        std::to_string(p_.info.max_positions) + " positions");
        }
    }

    void check_ids(std::span<const int32_t> ids) const {
        for (int32_t id : ids) {
            if (id < 0 || id >= p_.info.vocab) {
                throw Error("target token id " + std::to_string(id) + " is outside the target vocabulary of " +
                            std::to_string(p_.info.vocab));
            }
        }
    }

    ForwardInfo forward_info(const Tokens& source, const Tokens* target, int step) const {
        return {p_.info.family, static_cast<int>(p_.encoder.size()), static_cast<int>(p_.decoder.size()),
                static_cast<int>(p_.info.heads), &source, target, step};
    }

    int64_t decoder_layers() const { return static_cast<int64_t>(p_.decoder.size()); }

    DecoderState start_state(const Tokens& source) const {
        DecoderState state;
        state.source = source;
        state.source_key_mask = additive_mask(source);
        state.cross_keys.resize(p_.decoder.size());
        state.cross_values.resize(p_.decoder.size());
        return state;
    }

    ops::AttentionOptions attention_options(const Tensor* key_mask, const Tensor* bias) const {
        ops::AttentionOptions o;
        o.heads = p_.info.heads;
        o.scale = p_.attention_scale;
        o.key_mask = key_mask;
        o.bias = bias;
        return o;
    }

    // x [B, S, H] -> encoder output (after the final norm), then each decoder
    // layer's cross-attention keys and values.
    void run_encoder(DecoderState& s, ObserverHub& hub, std::vector<Tensor>* hidden) {
        const Tokens& src = s.source;
        Tensor& x = s.encoder_output;
        p_.source_embedding.forward(src.ids, src.batch, 0, x);
        const Tensor* bias = nullptr;
        if (p_.encoder_bias) {
            p_.encoder_bias->compute(src.length, src.length, 0, bias_);  // [heads, S, S], shared by all layers
            bias = &bias_;
        }
        const ops::AttentionOptions options = attention_options(&s.source_key_mask, bias);
        for (size_t i = 0; i < p_.encoder.size(); ++i) {
            if (hidden) hidden->push_back(x.clone());
            const SelfAttentionBlock& a = p_.encoder[i].attention;
            a.norm.forward(x, normed_);
            a.qkv.forward(normed_, qkv_);  // [B, S, 3W]
            hub.attention({Stack::encoder, AttentionKind::self, static_cast<int>(i), static_cast<int>(p_.info.heads)},
                          qkv_.narrow(2, 0, width_), qkv_.narrow(2, width_, width_), qkv_.narrow(2, 2 * width_, width_),
                          options, context_, src, src);
            add_projection(a.out, x);
            feed_forward(p_.encoder[i].feed_forward, x);
        }
        p_.encoder_norm.forward(x, x);
        if (hidden) hidden->push_back(x.clone());
        for (size_t i = 0; i < p_.decoder.size(); ++i) {
            p_.decoder[i].cross_attention.key_value.forward(x, qkv_);  // [B, S, 2W]
            s.cross_keys[i] = qkv_.narrow(2, 0, width_).clone();
            s.cross_values[i] = qkv_.narrow(2, width_, width_).clone();
        }
    }

    // The last n positions of s.target, after `offset` cached ones -> y [B, n, H]
    // after the decoder's final norm. Each layer appends its keys/values to the cache.
    void run_decoder(DecoderState& s, int64_t n, const Tensor* target_mask, ObserverHub& hub, int step,
                     std::vector<Tensor>* hidden, Tensor& y) {
        const Tokens& tgt = s.target;
        const int64_t batch = tgt.batch, total = tgt.length, offset = total - n;
        std::vector<int32_t> ids;
        for (int64_t b = 0; b < batch; ++b)
            for (int64_t i = offset; i < total; ++i) ids.push_back(tgt.id(b, i));
        p_.target_embedding.forward(ids, batch, offset, y);
        const Tensor* bias = nullptr;
        if (p_.decoder_bias) {
            p_.decoder_bias->compute(n, total, offset, bias_);  // [heads, n, T]
            bias = &bias_;
        }
        ops::AttentionOptions self = attention_options(target_mask, bias);
        self.causal = true;
        self.causal_offset = offset;
        const ops::AttentionOptions cross = attention_options(&s.source_key_mask, nullptr);
        const int heads = static_cast<int>(p_.info.heads);
        KVCache& cache = s.self_attention;
        if (cache.length != offset) throw Error("decoder cache holds " + std::to_string(cache.length) +
                                                " positions, expected " + std::to_string(offset));
        ensure_capacity(cache, decoder_layers(), batch, width_, total);
        for (size_t i = 0; i < p_.decoder.size(); ++i) {
            if (hidden) hidden->push_back(y.clone());
            const DecoderLayer& layer = p_.decoder[i];
            const int l = static_cast<int>(i);

            layer.self_attention.norm.forward(y, normed_);
            layer.self_attention.qkv.forward(normed_, qkv_);  // [B, n, 3W]
            write_rows(cache.keys[i], offset, qkv_.narrow(2, width_, width_));
            write_rows(cache.values[i], offset, qkv_.narrow(2, 2 * width_, width_));
            hub.attention({Stack::decoder, AttentionKind::causal_self, l, heads}, qkv_.narrow(2, 0, width_),
                          cache.keys[i].narrow(1, 0, total), cache.values[i].narrow(1, 0, total), self, context_, tgt,
                          tgt, offset, step);
            add_projection(layer.self_attention.out, y);

            layer.cross_attention.norm.forward(y, normed_);
            layer.cross_attention.query.forward(normed_, query_);  // [B, n, W]
            hub.attention({Stack::decoder, AttentionKind::cross, l, heads}, query_, s.cross_keys[i], s.cross_values[i],
                          cross, context_, tgt, s.source, offset, step);
            add_projection(layer.cross_attention.out, y);

            feed_forward(layer.feed_forward, y);
        }
        cache.length = total;
        p_.decoder_norm.forward(y, y);
        if (hidden) hidden->push_back(y.clone());
    }

    // x += context_ W_o: the residual connection around an attention sub-layer.
    void add_projection(const Linear& out, Tensor& x) {
        out.forward(context_, projected_);
        ops::add(x, projected_, x);
    }

    // x += FFN(norm(x))
    void feed_forward(const FeedForwardBlock& block, Tensor& x) {
        const FeedForward& f = block.ffn;
        block.norm.forward(x, normed_);
        f.in.forward(normed_, ffn_hidden_);
        apply_activation(f.activation, ffn_hidden_);
        if (is_present(f.gate.weight)) {
            f.gate.forward(normed_, ffn_gate_);
            ops::multiply(ffn_hidden_, ffn_gate_);
        }
        f.out.forward(ffn_hidden_, projected_);
        ops::add(x, projected_, x);
    }

    // y [..., H] -> logits [..., V]
    void head(const Tensor& y, Tensor& logits) {
        if (p_.lm_head_input_scale == 1.0f) {
            p_.lm_head.forward(y, logits);
            return;
        }
        scaled_.resize(y.shape());
        scaled_.matrix() = y.matrix() * p_.lm_head_input_scale;
        p_.lm_head.forward(scaled_, logits);
    }
};

}  // namespace

std::unique_ptr<Seq2SeqModel> make_encoder_decoder_model(EncoderDecoderParts parts) {
    if (parts.encoder.empty() || parts.decoder.empty()) throw Error("encoder-decoder model without layers");
    return std::make_unique<EncoderDecoderModel>(std::move(parts));
}

}  // namespace gaze
