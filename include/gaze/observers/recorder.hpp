#pragma once
// AttentionRecorder: keeps every attention event it is sent (a copy of the
// probabilities plus the query/key token strings) and exports them to
// .safetensors (Hugging Face names: attentions.l, or encoder_attentions.l /
// decoder_attentions.l / cross_attentions.l for encoder-decoder models) and JSON.
#include <string>
#include <vector>

#include "gaze/observer.hpp"

namespace gaze {

struct RecordedAttention {
    AttentionSite site;
    int step = -1;
    std::vector<int> heads;
    std::vector<int64_t> query_positions;
    Tensor probabilities;                             // [B, heads, rows, keys]
    std::vector<std::vector<std::string>> query_tokens;  // [B][rows]
    std::vector<std::vector<std::string>> key_tokens;    // [B][keys]
};

class AttentionRecorder : public AttentionObserver {
public:
    explicit AttentionRecorder(AttentionRequest request = {}) : request_(std::move(request)) {}

    AttentionRequest request() const override { return request_; }
    void on_forward_begin(const ForwardInfo& info) override;
    void on_attention(const AttentionEvent& event) override;

    const std::vector<RecordedAttention>& records() const { return records_; }
    const RecordedAttention* find(Stack stack, AttentionKind kind, int layer, int step = -1) const;
    // Drops the records; their buffers are kept for the next forward pass
    // (unless a caller still shares them), so recording costs no allocation
    // and no page faults once the sizes have been seen.
    void clear();

    // "attentions.3", "cross_attentions.1", "step.4.attentions.0", ...
    std::string tensor_name(const RecordedAttention& record) const;
    void save_safetensors(const std::string& path) const;
    void save_json(const std::string& path) const;

private:
    AttentionRequest request_;
    std::vector<RecordedAttention> records_;
    std::vector<Tensor> spare_;  // probability buffers of cleared records
    bool encoder_decoder_ = false;
    std::string family_;
};

}  // namespace gaze
