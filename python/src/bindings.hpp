#pragma once
// What the pieces of the Python module share: the model and result objects
// Python holds, numpy conversion, and one bind_* function per area.
//
// Ownership: every numpy array handed out shares the storage of a gaze::Tensor
// through a capsule holding a Tensor copy (Tensor storage is reference
// counted), so arrays outlive the result they came from and nothing is copied
// on the way to numpy.
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "gaze/analysis.hpp"
#include "gaze/attention_probe.hpp"
#include "gaze/gaze.hpp"
#include "gaze/seq2seq.hpp"

namespace gaze::python {

namespace py = pybind11;

// ---- numpy ------------------------------------------------------------------------

// A read-only float32 array viewing t's storage (kept alive by the array).
py::array to_numpy(const Tensor& t);
// Several tensors of one shape as one array [n, ...shape] (one copy).
py::array stack_to_numpy(const std::vector<Tensor>& tensors);
// A C-contiguous float32 array of the given rank as a Tensor view of its
// memory (valid while `a` lives); `what` names the argument in errors.
Tensor tensor_view(py::array_t<float, py::array::c_style | py::array::forcecast>& a, const char* what);

Stack parse_stack(const std::string& s);
AttentionKind parse_kind(const std::string& s);

// ---- a loaded model -----------------------------------------------------------------

// A model with its tokenizer(s). One forward pass at a time per model (the
// engine reuses its buffers): `busy` serialises passes from several threads,
// taken only after the GIL is released.
class PyModel {
public:
    std::unique_ptr<Model> model;
    // (non-const pointers only because pybind11 holders cannot be const; nothing mutates them)
    std::shared_ptr<Tokenizer> tokenizer;         // the input side
    std::shared_ptr<Tokenizer> target_tokenizer;  // encoder-decoder models: the output side
    std::string path;                                   // model folder, or a description of a random model
    std::function<AttentionProbe()> open_probe;         // q/k/v for the explain views (may be empty)
    std::mutex busy;

    const ModelInfo& info() const { return model->info(); }
    // The probe, opened on first use (throws naming the family when there is none).
    std::shared_ptr<const AttentionProbe> probe();

private:
    std::mutex probe_mutex_;
    std::shared_ptr<const AttentionProbe> probe_;
};

// ---- the result of one forward pass --------------------------------------------------

struct RunResult {
    std::string family, model;                 // family, and which model (folder or description)
    std::string text;                          // the input as given, for the viewer's header
    Tokens input;                              // one sequence
    std::optional<Tokens> target;              // decoder input (encoder-decoder models)
    // Every recorded attention; each block's layers are views into `stacked`.
    SequenceAttention attention;
    std::vector<Tensor> stacked;               // per block [layers, heads, queries, keys]
    std::vector<Tensor> hidden_states;         // [S, H] each (encoder / decoder-only)
    std::vector<Tensor> decoder_hidden_states; // [T, H] each
    Tensor logits;                             // [S or T, V] (empty when the model has no LM head)
    Tensor pooler_output;                      // [H] where the model has a pooler
    std::shared_ptr<PyModel> source;           // for the explain views (q/k/v from the layer weights)

    const AttentionBlock& block(const std::string& label) const;  // "" = the primary block
};

// A TopTargets row as a dict (observer results and gaze.top_targets).
py::dict targets_dict(const TokenTargets& t);

// Builds a RunResult's attention from a recorder that saw a full pass.
void set_attention(RunResult& r, const AttentionRecorder& recorder);

// One layer's q/k/v for the explain views, from the layer's input in `r`.
LayerQKV layer_qkv(const RunResult& r, int layer);

void bind_model(py::module_& m);
void bind_observers(py::module_& m);
void bind_analysis(py::module_& m);
void bind_views(py::module_& m);

}  // namespace gaze::python
