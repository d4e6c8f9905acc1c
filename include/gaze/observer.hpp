#pragma once
// The attention observer API: how attention leaves a running model.
//
// Every attention call in every model (encoder self, decoder causal self,
// cross) is an AttentionSite. Before a forward pass each observer states, in
// an AttentionRequest, which sites, heads and query rows it wants; the engine
// copies out only those probabilities, and hands them over in one
// AttentionEvent per call, while the pass runs. With no observer attached no
// probability is copied at all.
//
//   struct Printer : gaze::AttentionObserver {
//       void on_attention(const gaze::AttentionEvent& e) override {
//           std::cout << e.site.layer << ": " << e.probabilities.shape().str() << "\n";
//       }
//   };
#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "gaze/ops.hpp"
#include "gaze/tensor.hpp"
#include "gaze/tokens.hpp"

namespace gaze {

enum class Stack { encoder, decoder };
enum class AttentionKind { self, causal_self, cross };
const char* to_string(Stack stack);
const char* to_string(AttentionKind kind);

struct AttentionSite {
    Stack stack = Stack::encoder;
    AttentionKind kind = AttentionKind::self;
    int layer = 0;
    int heads = 0;     // (query) heads in this layer
    int kv_heads = 0;  // key/value heads (grouped-query attention); 0 = heads
};

// What an observer wants. Empty lists mean "all".
struct AttentionRequest {
    std::vector<AttentionKind> kinds;
    std::vector<Stack> stacks;
    std::vector<int> layers;
    std::vector<int> heads;
    std::vector<int64_t> query_positions;  // absolute positions (0 = first token)

    static AttentionRequest none();  // an observer that wants nothing (yet)
    bool wants(const AttentionSite& site) const;
    bool disabled = false;
    // The observer takes a call's query rows over several events, a block of
    // rows at a time (each event's query_positions say which). When every
    // observer of a site does, the engine never holds more than one block of
    // rows of probabilities; otherwise each event carries every requested row.
    bool row_blocks = false;
};

// What the model tells observers when a pass starts.
struct ForwardInfo {
    std::string family;        // "bert", "distilbert", "gpt2", ...
    int encoder_layers = 0;
    int decoder_layers = 0;
    int heads = 0;
    const Tokens* input = nullptr;   // encoder (or decoder-only) tokens
    const Tokens* target = nullptr;  // decoder tokens of encoder-decoder models
    int step = -1;                   // generation step, -1 for a full pass
};

struct AttentionEvent {
    AttentionSite site;
    int step = -1;                       // generation step, -1 for a full pass
    // [batch, heads.size(), query_positions.size(), keys]
    const Tensor& probabilities;
    std::span<const int> heads;                 // model head index of each slice
    std::span<const int64_t> query_positions;   // absolute position of each query row
    const Tokens& queries;  // the query side's tokens (positions index into these)
    const Tokens& keys;     // the key side's tokens (column j = keys position j)
    // Set when `probabilities` is the engine's own capture buffer and this is
    // its last reader: an observer that keeps the probabilities may
    // std::swap(*keep, a buffer of its own) instead of copying them (the engine
    // refills whatever it gets back). Null: copy what you keep.
    Tensor* keep = nullptr;
    // The key/value head each of `heads` reads (grouped-query attention:
    // kv_head_of(site, h)); empty from callers that predate it: then = heads.
    std::span<const int> kv_heads = {};
};

// The kv head query head `head` reads at `site`: head / (heads / kv_heads).
int kv_head_of(const AttentionSite& site, int head);

class AttentionObserver {
public:
    virtual ~AttentionObserver() = default;
    // Asked once per forward pass, before it runs.
    virtual AttentionRequest request() const { return {}; }
    virtual void on_forward_begin(const ForwardInfo& /*info*/) {}
    virtual void on_attention(const AttentionEvent& event) = 0;
    virtual void on_forward_end() {}
};

// The engine side: holds the attached observers for one pass and does the
// capturing for each attention call. Models use it through observed_attention().
class ObserverHub {
public:
    ObserverHub() = default;
    explicit ObserverHub(std::span<AttentionObserver* const> observers);

    bool empty() const { return entries_.empty(); }
    void begin(const ForwardInfo& info);
    void end();

    // Attention with observation: runs ops::attention and, if any observer
    // wants this site, captures only the union of requested heads and rows and
    // delivers each observer its own selection.
    //   query_offset: absolute position of query row 0 (cached decoding).
    void attention(const AttentionSite& site, const Tensor& q, const Tensor& k, const Tensor& v,
                   const ops::AttentionOptions& options, Tensor& out, const Tokens& queries, const Tokens& keys,
                   int64_t query_offset = 0, int step = -1);

private:
    struct Entry {
        AttentionObserver* observer;
        AttentionRequest request;
    };
    std::vector<Entry> entries_;
    // Reused buffers: the union capture and per-observer slices.
    Tensor captured_;
    Tensor slice_;
};

}  // namespace gaze
