#pragma once
// The CUDA backend's host API. Built when nvcc is found (GAZE_HAVE_CUDA);
// without a GPU at run time every call reports that cleanly. Each kernel here
// has its CPU reference in gaze::ops and a test comparing the two
// (tests/test_cuda_kernels.cpp) on random inputs of awkward sizes.
#include <string>

#include "gaze/softmax_masking.hpp"
#include "gaze/tensor.hpp"

namespace gaze::cuda {

// True when the library was built with CUDA and a device is usable; otherwise
// `why` (if given) says which of the two is missing.
bool available(std::string* why = nullptr);
std::string device_name();

// Fused scale + additive mask/bias + causal mask + softmax, one pass per row
// (warp per row for rows up to 1024 keys, block per row above).
// Same contract as ops::scaled_masked_softmax; tensors are host tensors, copied
// to and from the device by this wrapper (the model path keeps them resident).
void scaled_masked_softmax(Tensor& scores, const ops::SoftmaxMasking& masking);

// Layer norm, same contract as ops::layer_norm.
void layer_norm(const Tensor& x, const Tensor& gamma, const Tensor& beta, float eps, Tensor& out);

}  // namespace gaze::cuda
