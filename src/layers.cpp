#include "gaze/layers.hpp"

#include <cstring>

namespace gaze {

Activation parse_activation(const std::string& name, const std::string& config_path) {
    if (name == "gelu") return Activation::gelu_erf;
    if (name == "gelu_new" || name == "gelu_pytorch_tanh" || name == "gelu_fast") return Activation::gelu_tanh;
    if (name == "relu") return Activation::relu;
    throw Error(config_path + ": unsupported activation '" + name + "' (known: gelu, gelu_new, gelu_pytorch_tanh, relu)");
}

void apply_activation(Activation activation, Tensor& x) {
    switch (activation) {
        case Activation::gelu_erf: ops::gelu_erf(x); break;
        case Activation::gelu_tanh: ops::gelu_tanh(x); break;
        case Activation::relu: ops::relu(x); break;
    }
}

Linear Linear::load(const Weights& w, const std::string& prefix, int64_t in, int64_t out, ops::WeightLayout layout,
                    bool with_bias) {
    Linear l;
    l.layout = layout;
    const Shape stored = layout == ops::WeightLayout::out_in ? Shape{out, in} : Shape{in, out};
    if (layout == ops::WeightLayout::in_out && w.matrix_dtype() != DType::f32) {
        // GPT-2's Conv1D [in, out]: bf16 and int8 kernels read [out, in] rows
        // (and int8 scales are per output row), so transpose once on load.
        const Tensor f = w.get(prefix + ".weight", stored);
        Tensor t({out, in});
        t.matrix() = f.matrix().transpose();
        l.weight = w.matrix_dtype() == DType::i8 ? quantize_rows(t, w.source() + ": tensor '" + prefix + ".weight'")
                                                 : t.to(w.matrix_dtype());
        l.layout = ops::WeightLayout::out_in;
    } else {
        l.weight = w.get_matrix(prefix + ".weight", stored);
    }
    if (with_bias) l.bias = w.get(prefix + ".bias", {out});
    return l;
}

int64_t Linear::out_features() const { return layout == ops::WeightLayout::out_in ? weight.dim(0) : weight.dim(1); }

Linear Linear::concat_outputs(const std::vector<Linear>& parts) {
    int64_t out = 0;
    const int64_t in = parts.at(0).weight.dim(1);
    const DType dtype = parts.at(0).weight.dtype();
    const bool with_bias = !parts.at(0).bias.empty();  // all parts have biases, or none (Llama)
    for (const auto& p : parts) {
        if (p.layout != ops::WeightLayout::out_in || p.weight.dim(1) != in || p.bias.empty() == with_bias ||
            p.weight.dtype() != dtype) {
            throw Error("concat_outputs: parts must be [out, in] linears of one dtype and input width, all with biases or none");
        }
        out += p.weight.dim(0);
    }
    // Rows are copied as bytes: the same code stacks f32, bf16 and int8
    // weights (int8 rows keep their scales alongside).
    Linear fused;
    fused.weight = Tensor({out, in}, dtype);
    Tensor scales = dtype == DType::i8 ? Tensor({out}) : Tensor();
    if (with_bias) fused.bias = Tensor({out});
    int64_t row = 0;
    const size_t row_bytes = static_cast<size_t>(in) * dtype_size(dtype);
    for (const auto& p : parts) {
        const Tensor w = p.weight.is_contiguous() ? p.weight : p.weight.clone();
        const auto* src = static_cast<const std::byte*>(w.raw());
        auto* dst = static_cast<std::byte*>(fused.weight.raw()) + static_cast<size_t>(row) * row_bytes;
        std::memcpy(dst, src, row_bytes * static_cast<size_t>(p.weight.dim(0)));
        w.release_mapped_pages();  // the fused copy replaces a memory-mapped part (bf16 as stored)
        if (dtype == DType::i8) {
            std::memcpy(scales.data() + row, p.weight.quant_scales()->data(), sizeof(float) * static_cast<size_t>(p.weight.dim(0)));
        }
        if (with_bias) std::memcpy(fused.bias.data() + row, p.bias.data(), sizeof(float) * static_cast<size_t>(p.bias.numel()));
        row += p.weight.dim(0);
    }
    if (dtype == DType::i8) fused.weight.set_quant_scales(std::move(scales));
    return fused;
}

LayerNorm LayerNorm::load(const Weights& w, const std::string& prefix, int64_t hidden, float eps) {
    return {w.get(prefix + ".weight", {hidden}), w.get(prefix + ".bias", {hidden}), eps};
}

RMSNorm RMSNorm::load(const Weights& w, const std::string& prefix, int64_t hidden, float eps) {
    return {w.get(prefix + ".weight", {hidden}), eps};
}

}  // namespace gaze
