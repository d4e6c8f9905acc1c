#pragma once
// Layers: ops bound to their weights. A layer loads its tensors by name with
// shape checks, then its forward() reads like the equation it implements.
#include <string>

#include "gaze/ops.hpp"
#include "gaze/weights.hpp"

namespace gaze {

enum class Activation { gelu_erf, gelu_tanh, relu };
Activation parse_activation(const std::string& name, const std::string& config_path);
void apply_activation(Activation activation, Tensor& x);

// y = x W^T + b
struct Linear {
    Tensor weight, bias;  // bias may be empty
    ops::WeightLayout layout = ops::WeightLayout::out_in;

    // Loads "<prefix>.weight" ([out, in] or [in, out]) and "<prefix>.bias" [out].
    static Linear load(const Weights& w, const std::string& prefix, int64_t in, int64_t out,
                       ops::WeightLayout layout = ops::WeightLayout::out_in, bool with_bias = true);
    // Stacks several [out_i, in] linears into one (one GEMM for Q, K and V).
    static Linear concat_outputs(const std::vector<Linear>& parts);
    int64_t out_features() const;
    void forward(const Tensor& x, Tensor& y) const { ops::linear(x, weight, bias, layout, y); }
};

struct LayerNorm {
    Tensor gamma, beta;
    float eps = 1e-12f;
    static LayerNorm load(const Weights& w, const std::string& prefix, int64_t hidden, float eps);
    void forward(const Tensor& x, Tensor& y) const { ops::layer_norm(x, gamma, beta, eps, y); }
};

struct RMSNorm {
    Tensor weight;
    float eps = 1e-6f;
    static RMSNorm load(const Weights& w, const std::string& prefix, int64_t hidden, float eps);
    void forward(const Tensor& x, Tensor& y) const { ops::rms_norm(x, weight, eps, y); }
};

}  // namespace gaze
