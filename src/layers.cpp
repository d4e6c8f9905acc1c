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
    l.weight = w.get(prefix + ".weight", layout == ops::WeightLayout::out_in ? Shape{out, in} : Shape{in, out});
    if (with_bias) l.bias = w.get(prefix + ".bias", {out});
    return l;
}

int64_t Linear::out_features() const { return layout == ops::WeightLayout::out_in ? weight.dim(0) : weight.dim(1); }

Linear Linear::concat_outputs(const std::vector<Linear>& parts) {
    int64_t out = 0;
    const int64_t in = parts.at(0).weight.dim(1);
    const bool with_bias = !parts.at(0).bias.empty();  // all parts have biases, or none (Llama)
    for (const auto& p : parts) {
        if (p.layout != ops::WeightLayout::out_in || p.weight.dim(1) != in || p.bias.empty() == with_bias) {
            throw Error("concat_outputs: parts must be [out, in] linears of the same input width, all with biases or none");
        }
        out += p.weight.dim(0);
    }
    Linear fused;
    fused.weight = Tensor({out, in});
    if (with_bias) fused.bias = Tensor({out});
    int64_t row = 0;
    for (const auto& p : parts) {
        fused.weight.narrow(0, row, p.weight.dim(0)).matrix() = p.weight.matrix();
        if (with_bias) std::memcpy(fused.bias.data() + row, p.bias.data(), sizeof(float) * static_cast<size_t>(p.bias.numel()));
        row += p.weight.dim(0);
    }
    return fused;
}

LayerNorm LayerNorm::load(const Weights& w, const std::string& prefix, int64_t hidden, float eps) {
    return {w.get(prefix + ".weight", {hidden}), w.get(prefix + ".bias", {hidden}), eps};
}

RMSNorm RMSNorm::load(const Weights& w, const std::string& prefix, int64_t hidden, float eps) {
    return {w.get(prefix + ".weight", {hidden}), eps};
}

}  // namespace gaze
