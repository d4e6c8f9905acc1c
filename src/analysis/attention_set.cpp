// SequenceAttention: gathering the recorded attention of one sequence into
// blocks (encoder self, decoder self, cross), from a recorder or its JSON.
#include <algorithm>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "gaze/analysis.hpp"
#include "gaze/error.hpp"

namespace gaze {
namespace {

bool spelled_special(const std::string& t) {
    static const char* const known[] = {"[CLS]", "[SEP]", "[PAD]", "[MASK]", "[UNK]", "<s>", "</s>",
                                        "<pad>", "<unk>", "<mask>", "<|endoftext|>", "<bos>", "<eos>"};
    for (const char* k : known) {
        if (t == k) return true;
    }
    return t.rfind("<extra_id_", 0) == 0 && !t.empty() && t.back() == '>';
}

TokenSide side_from_strings(const std::vector<std::string>& text) {
    TokenSide s;
    s.text = text;
    for (const auto& t : text) {
        s.special.push_back(spelled_special(t) ? 1 : 0);
        s.valid.push_back(1);
    }
    return s;
}

AttentionBlock& block_for(SequenceAttention& a, Stack stack, AttentionKind kind) {
    for (auto& b : a.blocks) {
        if (b.stack == stack && b.kind == kind) return b;
    }
    AttentionBlock b;
    b.stack = stack;
    b.kind = kind;
    a.blocks.push_back(std::move(b));
    return a.blocks.back();
}

int block_order(const AttentionBlock& b) {
    if (b.kind == AttentionKind::cross) return 2;
    return b.stack == Stack::encoder ? 0 : 1;
}

void finish(SequenceAttention& a) {
    std::stable_sort(a.blocks.begin(), a.blocks.end(),
                     [](const AttentionBlock& x, const AttentionBlock& y) { return block_order(x) < block_order(y); });
    for (const auto& b : a.blocks) {
        for (size_t l = 0; l < b.layers.size(); ++l) {
            if (b.layers[l].rank() != 3) {  // a layer no event filled
                throw Error("recorded attention lacks " + b.label() + " layer " + std::to_string(l));
            }
            if (b.layers[l].dim(0) != b.heads()) throw Error(b.label() + ": layers differ in their number of heads");
        }
    }
}

void check_full(const std::vector<int>& heads, int site_heads, const std::vector<int64_t>& positions, int64_t rows,
                const std::string& what) {
    bool ok = static_cast<int>(heads.size()) == site_heads && static_cast<int64_t>(positions.size()) == rows;
    for (size_t i = 0; ok && i < heads.size(); ++i) ok = heads[i] == static_cast<int>(i);
    for (size_t i = 0; ok && i < positions.size(); ++i) ok = positions[i] == static_cast<int64_t>(i);
    if (!ok) {
        throw Error(what + ": the recorder must capture every head and query row (use a default AttentionRequest)");
    }
}

}  // namespace

TokenSide token_side(const Tokens& t, int64_t b, const std::vector<std::string>& recorded) {
    TokenSide s;
    for (int64_t i = 0; i < t.length; ++i) {
        std::string text(t.str(b, i));
        if (text.empty() && static_cast<size_t>(i) < recorded.size()) text = recorded[static_cast<size_t>(i)];
        if (text.empty()) text = std::string(1, '#').append(std::to_string(t.id(b, i)));
        s.text.push_back(std::move(text));
        s.special.push_back(t.is_special(b, i) ? 1 : 0);
        s.valid.push_back(t.valid(b, i) ? 1 : 0);
    }
    return s;
}

bool AttentionBlock::masked(int64_t query, int64_t key) const {
    if (static_cast<size_t>(key) < keys.valid.size() && !keys.valid[static_cast<size_t>(key)]) return true;
    if (static_cast<size_t>(query) < queries.valid.size() && !queries.valid[static_cast<size_t>(query)]) return true;
    if (kind == AttentionKind::causal_self) return key > query + (keys.size() - queries.size());
    return false;
}

std::string AttentionBlock::label() const {
    if (kind == AttentionKind::cross) return "cross";
    return std::string(to_string(stack)) + " self";
}

const AttentionBlock* SequenceAttention::find(Stack stack, AttentionKind kind) const {
    for (const auto& b : blocks) {
        if (b.stack == stack && b.kind == kind) return &b;
    }
    return nullptr;
}

const AttentionBlock& SequenceAttention::primary() const {
    for (const auto& b : blocks) {
        if (b.stack == Stack::encoder && b.is_self()) return b;
    }
    for (const auto& b : blocks) {
        if (b.is_self()) return b;
    }
    throw Error("no self-attention was recorded");
}

SequenceAttention collect_attention(const AttentionRecorder& recorder, const Tokens& input, const Tokens* target,
                                    int64_t sequence, const std::string& family) {
    SequenceAttention a;
    a.family = family;
    for (const auto& r : recorder.records()) {
        if (r.step != -1) continue;
        const Tensor& p = r.probabilities;
        if (sequence < 0 || sequence >= p.dim(0)) {
            throw Error("sequence " + std::to_string(sequence) + " is not in the recorded batch of " +
                        std::to_string(p.dim(0)));
        }
        AttentionBlock& block = block_for(a, r.site.stack, r.site.kind);
        const std::string what = block.label() + " layer " + std::to_string(r.site.layer);
        check_full(r.heads, r.site.heads, r.query_positions, p.dim(2), what);
        if (block.queries.text.empty()) {
            const bool decoder_side = r.site.stack == Stack::decoder && target != nullptr;
            const Tokens& q = decoder_side ? *target : input;
            const Tokens& k = (r.site.kind == AttentionKind::cross || !decoder_side) ? input : *target;
            const auto s = static_cast<size_t>(sequence);
            block.queries = token_side(q, sequence, s < r.query_tokens.size() ? r.query_tokens[s] : std::vector<std::string>{});
            block.keys = token_side(k, sequence, s < r.key_tokens.size() ? r.key_tokens[s] : std::vector<std::string>{});
        }
        if (block.queries.size() != p.dim(2) || block.keys.size() != p.dim(3)) {
            throw Error(what + ": recorded " + p.shape().str() + " does not match the " +
                        std::to_string(block.queries.size()) + " x " + std::to_string(block.keys.size()) + " tokens");
        }
        if (static_cast<int>(block.layers.size()) <= r.site.layer) block.layers.resize(static_cast<size_t>(r.site.layer) + 1);
        block.layers[static_cast<size_t>(r.site.layer)] = p.select(0, sequence).clone();
    }
    finish(a);
    return a;
}

SequenceAttention load_recorded_attention(const std::string& json_path, int64_t sequence) {
    std::ifstream in(json_path, std::ios::binary);
    if (!in) throw Error(json_path + ": cannot read");
    nlohmann::json j;
    try {
        j = nlohmann::json::parse(in);
    } catch (const nlohmann::json::exception& e) {
        throw Error(json_path + ": not valid JSON (" + e.what() + ")");
    }
    SequenceAttention a;
    try {
        a.family = j.value("family", "");
        const auto& events = j.at("events");
        if (!events.is_array() || events.empty()) throw Error(json_path + ": no attention events");
        for (const auto& e : events) {
            if (e.value("step", -1) != -1) continue;
            const std::string stack = e.at("stack"), kind = e.at("kind");
            const Stack s = stack == "decoder" ? Stack::decoder : Stack::encoder;
            const AttentionKind k = kind == "cross" ? AttentionKind::cross
                                    : kind == "causal_self" ? AttentionKind::causal_self
                                                            : AttentionKind::self;
            const int layer = e.at("layer");
            if (layer < 0 || layer > 4096) throw Error(json_path + ": bad layer index " + std::to_string(layer));
            const auto& probs = e.at("probabilities");
            if (sequence < 0 || sequence >= static_cast<int64_t>(probs.size())) {
                throw Error(json_path + ": sequence " + std::to_string(sequence) + " is not in the batch");
            }
            const auto& per_head = probs.at(static_cast<size_t>(sequence));
            const auto qt = e.at("query_tokens").at(static_cast<size_t>(sequence)).get<std::vector<std::string>>();
            const auto kt = e.at("key_tokens").at(static_cast<size_t>(sequence)).get<std::vector<std::string>>();
            const auto heads = static_cast<int64_t>(per_head.size());
            const auto rows = static_cast<int64_t>(qt.size()), cols = static_cast<int64_t>(kt.size());
            AttentionBlock& block = block_for(a, s, k);
            const std::string what = json_path + ": " + block.label() + " layer " + std::to_string(layer);
            if (heads <= 0) throw Error(what + ": no heads");
            if (block.queries.text.empty()) {
                block.queries = side_from_strings(qt);
                block.keys = side_from_strings(kt);
            } else if (block.queries.text != qt || block.keys.text != kt) {
                throw Error(what + ": tokens differ from the block's other layers");
            }
            Tensor t({heads, rows, cols});
            for (int64_t h = 0; h < heads; ++h) {
                const auto& m = per_head.at(static_cast<size_t>(h));
                if (static_cast<int64_t>(m.size()) != rows) throw Error(what + ": rows differ from query_tokens");
                for (int64_t i = 0; i < rows; ++i) {
                    const auto& row = m.at(static_cast<size_t>(i));
                    if (static_cast<int64_t>(row.size()) != cols) throw Error(what + ": columns differ from key_tokens");
                    for (int64_t c = 0; c < cols; ++c) t.at({h, i, c}) = row.at(static_cast<size_t>(c)).get<float>();
                }
            }
            if (static_cast<int>(block.layers.size()) <= layer) block.layers.resize(static_cast<size_t>(layer) + 1);
            block.layers[static_cast<size_t>(layer)] = std::move(t);
        }
    } catch (const nlohmann::json::exception& e) {
        throw Error(json_path + ": not a recorder JSON file (" + e.what() + ")");
    }
    if (a.blocks.empty()) throw Error(json_path + ": no full-pass attention events");
    finish(a);
    return a;
}

}  // namespace gaze
