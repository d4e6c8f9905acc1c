#include "gaze/observers/recorder.hpp"

#include <fstream>
#include <nlohmann/json.hpp>

#include "gaze/ops.hpp"
#include "gaze/safetensors.hpp"

namespace gaze {

void AttentionRecorder::on_forward_begin(const ForwardInfo& info) {
    encoder_decoder_ = info.encoder_layers > 0 && info.decoder_layers > 0;
    family_ = info.family;
}

void AttentionRecorder::on_attention(const AttentionEvent& e) {
    RecordedAttention r;
    r.site = e.site;
    r.step = e.step;
    r.heads.assign(e.heads.begin(), e.heads.end());
    r.query_positions.assign(e.query_positions.begin(), e.query_positions.end());
    if (!spare_.empty()) {
        r.probabilities = std::move(spare_.back());
        spare_.pop_back();
    }
    if (e.keep) {
        std::swap(*e.keep, r.probabilities);  // no copy: the engine refills our old buffer
    } else {
        ops::copy(e.probabilities, r.probabilities);
    }
    const int64_t batch = r.probabilities.dim(0);
    for (int64_t b = 0; b < batch; ++b) {
        std::vector<std::string> q, k;
        for (int64_t p : r.query_positions) q.emplace_back(e.queries.str(b, p));
        for (int64_t j = 0; j < e.keys.length; ++j) k.emplace_back(e.keys.str(b, j));
        r.query_tokens.push_back(std::move(q));
        r.key_tokens.push_back(std::move(k));
    }
    records_.push_back(std::move(r));
}

void AttentionRecorder::clear() {
    for (auto& r : records_)
        if (r.probabilities.storage_unique()) spare_.push_back(std::move(r.probabilities));
    records_.clear();
}

const RecordedAttention* AttentionRecorder::find(Stack stack, AttentionKind kind, int layer, int step) const {
    for (const auto& r : records_) {
        if (r.site.stack == stack && r.site.kind == kind && r.site.layer == layer && r.step == step) return &r;
    }
    return nullptr;
}

std::string AttentionRecorder::tensor_name(const RecordedAttention& r) const {
    std::string base;
    if (!encoder_decoder_) {
        base = "attentions";
    } else if (r.site.kind == AttentionKind::cross) {
        base = "cross_attentions";
    } else {
        base = r.site.stack == Stack::encoder ? "encoder_attentions" : "decoder_attentions";
    }
    const std::string name = base + "." + std::to_string(r.site.layer);
    return r.step >= 0 ? "step." + std::to_string(r.step) + "." + name : name;
}

void AttentionRecorder::save_safetensors(const std::string& path) const {
    std::vector<std::pair<std::string, Tensor>> tensors;
    for (const auto& r : records_) tensors.emplace_back(tensor_name(r), r.probabilities);
    write_safetensors(path, tensors, {{"producer", "gaze AttentionRecorder"}, {"family", family_}});
}

void AttentionRecorder::save_json(const std::string& path) const {
    nlohmann::json events = nlohmann::json::array();
    for (const auto& r : records_) {
        const Tensor& p = r.probabilities;
        nlohmann::json probs = nlohmann::json::array();
        for (int64_t b = 0; b < p.dim(0); ++b) {
            nlohmann::json per_head = nlohmann::json::array();
            for (int64_t h = 0; h < p.dim(1); ++h) {
                nlohmann::json rows = nlohmann::json::array();
                for (int64_t i = 0; i < p.dim(2); ++i) {
                    const float* row = p.ptr({b, h, i, 0});
                    rows.push_back(std::vector<float>(row, row + p.dim(3)));
                }
                per_head.push_back(std::move(rows));
            }
            probs.push_back(std::move(per_head));
        }
        events.push_back({{"name", tensor_name(r)},
                          {"stack", to_string(r.site.stack)},
                          {"kind", to_string(r.site.kind)},
                          {"layer", r.site.layer},
                          {"step", r.step},
                          {"heads", r.heads},
                          {"query_positions", r.query_positions},
                          {"query_tokens", r.query_tokens},
                          {"key_tokens", r.key_tokens},
                          {"shape", p.shape().to_vector()},
                          {"probabilities", std::move(probs)}});
    }
    std::ofstream out(path);
    if (!out) throw Error(path + ": cannot open for writing");
    // Token strings can hold any bytes; replace invalid UTF-8 rather than fail.
    out << nlohmann::json{{"family", family_}, {"events", std::move(events)}}.dump(
        -1, ' ', false, nlohmann::json::error_handler_t::replace);
    if (!out) throw Error(path + ": write failed");
}

}  // namespace gaze
