#pragma once
// gaze.Observer: attention observers written in Python. The engine calls
// them from the thread running the pass, with the GIL released; each call
// takes the GIL back for the Python method.
#include "bindings.hpp"

namespace gaze::python {

// What a Python on_attention(event) receives.
struct PyEvent {
    std::string stack, kind;
    int layer = 0, step = -1;
    std::vector<int> heads;
    std::vector<int64_t> query_positions;
    py::array probabilities;  // [batch, heads, rows, keys]
    std::vector<std::vector<std::string>> query_tokens, key_tokens;  // [batch][rows], [batch][keys]
};
PyEvent make_event(const AttentionEvent& e);

class PyObserver : public AttentionObserver {
public:
    AttentionRequest request() const override;
    void on_forward_begin(const ForwardInfo& info) override;
    void on_attention(const AttentionEvent& event) override;
    void on_forward_end() override;
};

}  // namespace gaze::python
