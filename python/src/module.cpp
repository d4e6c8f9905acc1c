// gaze._core: the C++ side of the Python package (python/gaze/__init__.py
// holds the Python side). numpy conversion lives here; each area binds itself.
#include <cstring>

#include "bindings.hpp"

namespace gaze::python {

py::array to_numpy(const Tensor& t) {
    std::vector<py::ssize_t> shape, strides;
    for (int i = 0; i < t.rank(); ++i) {
        shape.push_back(t.dim(i));
        strides.push_back(static_cast<py::ssize_t>(t.stride(i) * sizeof(float)));
    }
    if (t.empty()) return py::array_t<float>(shape);  // no storage to share
    auto* keep = new Tensor(t);                        // shares t's storage
    py::capsule owner(keep, [](void* p) { delete static_cast<Tensor*>(p); });
    py::array a(py::dtype::of<float>(), shape, strides, keep->data(), owner);
    // Read-only: the analysis and the views read the same memory.
    a.attr("flags").attr("writeable") = false;
    return a;
}

py::array stack_to_numpy(const std::vector<Tensor>& tensors) {
    if (tensors.empty()) return py::array_t<float>(std::vector<py::ssize_t>{0});
    std::vector<int64_t> dims{static_cast<int64_t>(tensors.size())};
    for (int i = 0; i < tensors[0].rank(); ++i) dims.push_back(tensors[0].dim(i));
    Tensor out{Shape(dims)};
    const int64_t each = tensors[0].numel();
    for (size_t i = 0; i < tensors.size(); ++i) {
        const Tensor c = tensors[i].is_contiguous() ? tensors[i] : tensors[i].clone();
        if (c.numel() != each) throw Error("stack_to_numpy: tensors differ in shape");
        std::memcpy(out.data() + static_cast<int64_t>(i) * each, c.data(), static_cast<size_t>(each) * sizeof(float));
    }
    return to_numpy(out);
}

Tensor tensor_view(py::array_t<float, py::array::c_style | py::array::forcecast>& a, const char* what) {
    if (a.ndim() < 1 || a.ndim() > kMaxRank) {
        throw Error(std::string(what) + ": expected an array of rank 1 to " + std::to_string(kMaxRank) + ", got rank " +
                    std::to_string(a.ndim()));
    }
    std::vector<int64_t> dims;
    for (py::ssize_t i = 0; i < a.ndim(); ++i) dims.push_back(a.shape(i));
    // The engine only reads these (inputs of ops and figures): read-only arrays are fine.
    return Tensor::view(const_cast<float*>(a.data()), Shape(dims));
}

Stack parse_stack(const std::string& s) {
    if (s == "encoder") return Stack::encoder;
    if (s == "decoder") return Stack::decoder;
    throw Error("stack '" + s + "': expected 'encoder' or 'decoder'");
}

AttentionKind parse_kind(const std::string& s) {
    if (s == "self") return AttentionKind::self;
    if (s == "causal_self") return AttentionKind::causal_self;
    if (s == "cross") return AttentionKind::cross;
    throw Error("kind '" + s + "': expected 'self', 'causal_self' or 'cross'");
}

}  // namespace gaze::python

PYBIND11_MODULE(_core, m) {
    namespace gp = gaze::python;
    m.doc() = "gaze: see what a transformer attends to (C++ engine; use the `gaze` package)";
    // Every failure the library reports (bad file, argument, text) is a
    // gaze.Error carrying the library's message.
    pybind11::register_exception<gaze::Error>(m, "Error", PyExc_RuntimeError);
    gp::bind_model(m);
    gp::bind_observers(m);
    gp::bind_analysis(m);
    gp::bind_views(m);
}
