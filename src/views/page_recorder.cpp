// PageRecorder: the page's attention encoded row by row while the model runs.
#include <algorithm>

#include "gaze/error.hpp"
#include "gaze/views.hpp"
#include "page_parts.hpp"

namespace gaze::views {

struct PageRecorder::Block {
    AttentionBlock tokens;  // the sides and the mask; no tensors
    int64_t layers = 0, heads = 0;
    std::unique_ptr<BlockEncoder> encoder;
    std::vector<HeadProfileSums> sums;  // per layer x head
    std::vector<int64_t> rows_seen;     // per layer x head
    double error = 0;
};

PageRecorder::PageRecorder(int64_t max_probability_bytes) : budget_(max_probability_bytes) {}
PageRecorder::~PageRecorder() = default;

AttentionRequest PageRecorder::request() const {
    AttentionRequest r;
    r.row_blocks = true;  // every row is encoded on its own
    return r;
}

void PageRecorder::on_forward_begin(const ForwardInfo& info) {
    if (info.step != -1) return;  // generation steps are not drawn
    if (!info.input) throw Error("page recorder: the model did not say its input tokens");
    family_ = info.family;
    heads_ = info.heads;
    blocks_.clear();
    expected_.clear();
    const int64_t source = info.input->length;
    const int64_t target = info.target ? info.target->length : source;
    if (info.encoder_layers > 0) expected_.push_back({Stack::encoder, AttentionKind::self, info.encoder_layers, source, source});
    if (info.decoder_layers > 0) {
        expected_.push_back({Stack::decoder, AttentionKind::causal_self, info.decoder_layers, target, target});
        if (info.target) expected_.push_back({Stack::decoder, AttentionKind::cross, info.decoder_layers, target, source});
    }
}

PageRecorder::Block& PageRecorder::block_for(const AttentionEvent& e) {
    for (auto& b : blocks_) {
        if (b->tokens.stack == e.site.stack && b->tokens.kind == e.site.kind) return *b;
    }
    const auto it = std::find_if(expected_.begin(), expected_.end(), [&](const Expected& x) {
        return x.stack == e.site.stack && x.kind == e.site.kind;
    });
    const std::string what = std::string(to_string(e.site.stack)) + " " + to_string(e.site.kind) + " attention";
    if (it == expected_.end()) throw Error("page recorder: the model sent " + what + " it did not announce");
    if (e.queries.length != it->queries || e.keys.length != it->keys) {
        throw Error("page recorder: " + what + " has " + std::to_string(e.queries.length) + " x " +
                    std::to_string(e.keys.length) + " tokens, expected " + std::to_string(it->queries) + " x " +
                    std::to_string(it->keys));
    }
    std::vector<BlockShape> shapes;
    for (const auto& x : expected_) shapes.push_back({x.layers, heads_, x.queries, x.keys, x.kind == AttentionKind::causal_self});
    auto b = std::make_unique<Block>();
    b->tokens.stack = e.site.stack;
    b->tokens.kind = e.site.kind;
    b->tokens.queries = token_side(e.queries, 0);
    b->tokens.keys = token_side(e.keys, 0);
    b->layers = it->layers;
    b->heads = e.site.heads;
    b->encoder = std::make_unique<BlockEncoder>(b->tokens, b->layers, b->heads, choose_encoding(shapes, budget_));
    b->sums.reserve(static_cast<size_t>(b->layers * b->heads));
    for (int64_t plane = 0; plane < b->layers * b->heads; ++plane) b->sums.emplace_back(b->tokens);
    b->rows_seen.assign(static_cast<size_t>(b->layers * b->heads), 0);
    blocks_.push_back(std::move(b));
    return *blocks_.back();
}

void PageRecorder::on_attention(const AttentionEvent& e) {
    if (e.step != -1) return;
    Block& b = block_for(e);
    const Tensor& p = e.probabilities;
    if (e.site.layer < 0 || e.site.layer >= b.layers || e.site.heads != b.heads || p.dim(3) != b.tokens.keys.size()) {
        throw Error("page recorder: " + b.tokens.label() + " layer " + std::to_string(e.site.layer) +
                    " does not fit the block (" + p.shape().str() + ")");
    }
    for (int64_t i : e.query_positions) {
        if (i < 0 || i >= b.tokens.queries.size()) throw Error("page recorder: query row " + std::to_string(i) + " is outside the text");
    }
    const auto heads = static_cast<int64_t>(e.heads.size());
    double error = b.error;
#pragma omp parallel for schedule(dynamic) reduction(max : error)
    for (int64_t h = 0; h < heads; ++h) {
        const int64_t plane = e.site.layer * b.heads + e.heads[static_cast<size_t>(h)];
        for (size_t r = 0; r < e.query_positions.size(); ++r) {
            const int64_t i = e.query_positions[r];
            const float* row = p.ptr({0, h, static_cast<int64_t>(r), 0});
            error = std::max(error, b.encoder->add_row(e.site.layer, e.heads[static_cast<size_t>(h)], i, row));
            b.sums[static_cast<size_t>(plane)].add_row(i, row);
        }
        b.rows_seen[static_cast<size_t>(plane)] += static_cast<int64_t>(e.query_positions.size());
    }
    b.error = error;
}

std::string PageRecorder::page_data_json(const PageOptions& options) const {
    if (blocks_.empty()) throw Error("page recorder: no attention was recorded (run a forward pass with it attached)");
    nlohmann::json blocks = nlohmann::json::array();
    std::vector<std::pair<Stack, AttentionKind>> order;
    std::vector<HeadProfile> profiles;
    int64_t queries = 0;
    for (const auto& b : blocks_) {
        for (size_t plane = 0; plane < b->rows_seen.size(); ++plane) {
            if (b->rows_seen[plane] < b->tokens.queries.size()) {
                throw Error("page recorder: " + b->tokens.label() + " layer " + std::to_string(plane / static_cast<size_t>(b->heads)) +
                            " head " + std::to_string(plane % static_cast<size_t>(b->heads)) + " was not recorded in full");
            }
            if (!b->tokens.is_self()) continue;
            HeadProfile h = b->sums[plane].profile();
            h.layer = static_cast<int>(plane / static_cast<size_t>(b->heads));
            h.head = static_cast<int>(plane % static_cast<size_t>(b->heads));
            profiles.push_back(h);
        }
        order.emplace_back(b->tokens.stack, b->tokens.kind);
        blocks.push_back(detail::block_json(b->tokens, *b->encoder, b->layers, b->heads, b->error));
        queries = std::max(queries, b->tokens.queries.size());
    }
    return detail::page_json(family_, std::move(blocks), detail::analysis_json(order, std::move(profiles)), nullptr,
                             detail::position_json(64, std::max<int64_t>(50, queries)), options);
}

}  // namespace gaze::views
