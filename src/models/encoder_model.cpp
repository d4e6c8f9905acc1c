#include "gaze/models/encoder_model.hpp"
#include "gaze/cpu.hpp"

#include <cmath>

namespace gaze {
namespace {

class EncoderModel final : public Model {
public:
    explicit EncoderModel(EncoderModelParts parts) : p_(std::move(parts)) {}
    const ModelInfo& info() const override { return p_.info; }

    ForwardResult forward(const Tokens& input, const ForwardOptions& options) override {
        check_input(p_.info, input);
        ForwardResult result;
        begin_pass_threads();  // every pass starts here: thread count for this thread and load
        ObserverHub hub(options.observers);
        ForwardInfo info{p_.info.family, static_cast<int>(p_.info.layers), 0, static_cast<int>(p_.info.heads), &input};
        hub.begin(info);

        Tensor& x = result.last_hidden_state;
        sum_embeddings(p_.word_embeddings, p_.position_embeddings,
                       p_.token_type_embeddings ? &*p_.token_type_embeddings : nullptr, input, embedded_);
        p_.embedding_norm.forward(embedded_, x);
        ops::additive_key_mask(input.mask.empty() ? std::vector<uint8_t>(input.ids.size(), 1) : input.mask, input.batch,
                               input.length, key_mask_);
        std::vector<Tensor>* hidden = options.output_hidden_states ? &result.hidden_states : nullptr;
        if (hidden) hidden->push_back(x.clone());
        p_.encoder.forward(x, key_mask_, input, hub, hidden);
        hub.end();

        if (p_.pooler) {
            // BERT's pooler reads the first ([CLS]) position of each sequence.
            first_tokens_.resize({input.batch, p_.info.hidden});
            for (int64_t b = 0; b < input.batch; ++b) first_tokens_.matrix().row(b) = x.select(0, b).matrix().row(0);
            p_.pooler->forward(first_tokens_, result.pooler_output);
            result.pooler_output.matrix() = result.pooler_output.matrix().array().tanh().matrix();
        }
        if (p_.lm_head && options.compute_logits) {
            if (options.logits_last_only) {
                ops::last_position(x, last_rows_);
                p_.lm_head->forward(last_rows_, head_scratch_, result.logits);
            } else {
                p_.lm_head->forward(x, head_scratch_, result.logits);
            }
        }
        return result;
    }

private:
    EncoderModelParts p_;
    Tensor embedded_, key_mask_, first_tokens_, last_rows_, head_scratch_;
};

}  // namespace

void describe_encoder_model(EncoderModelParts& p, const std::string& family, const EncoderShape& shape,
                            const Weights& weights) {
    ModelInfo& info = p.info;
    info.family = family;
    info.source = weights.source();
    describe_weights(weights, info);
    info.layers = shape.layers;
    info.heads = shape.heads;
    info.hidden = shape.hidden;
    info.intermediate = shape.intermediate;
    info.vocab = p.word_embeddings.dim(0);
    info.max_positions = p.position_embeddings.dim(0);
    info.has_pooler = p.pooler.has_value();
    info.has_lm_head = p.lm_head.has_value();
    info.parameters = count_parameters(weights);
}

std::unique_ptr<Model> make_encoder_model(EncoderModelParts parts) {
    return std::make_unique<EncoderModel>(std::move(parts));
}

}  // namespace gaze
