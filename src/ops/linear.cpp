// Linear layer: the GEMM every model spends most of its time in, and the one
// dispatch point that maps (weight dtype, rows, CPU) to a kernel. The table is
// ordered by preference; the first kernel whose condition holds and that
// accepts the problem runs. A CUDA backend adds its rows beside these.
#include <algorithm>
#include <atomic>

#include "gaze/cpu.hpp"
#include "gaze/ops.hpp"
#include "linear_kernels.hpp"

namespace gaze::ops {
namespace {

using kernels::LinearProblem;

struct LinearKernel {
    DType dtype;
    const char* name;
    bool (*usable)(const CpuFeatures& cpu, int64_t rows);
    bool (*run)(const LinearProblem& p);  // false: not available here, try the next
};

bool always(const CpuFeatures&, int64_t) { return true; }
bool one_row(const CpuFeatures&, int64_t rows) { return rows == 1; }
bool many_rows(const CpuFeatures&, int64_t rows) { return rows > 1; }
bool one_row_avx512(const CpuFeatures& cpu, int64_t rows) { return rows == 1 && cpu.avx512; }
bool one_row_avx2(const CpuFeatures& cpu, int64_t rows) { return rows == 1 && cpu.avx2 && cpu.fma; }
// Without VNNI, oneDNN multiplies int8 with vpmaddubsw, whose 16-bit pair sums
// saturate (255 x 127 x 2 > 32767) and silently corrupt the result (measured:
// errors 10x the rounding bound on AVX2): int8 goes through oneDNN only with
// VNNI / AMX-INT8, elsewhere its weights are widened to f32.
bool int8_dot_products(const CpuFeatures& cpu, int64_t) { return cpu.avx512_vnni || cpu.amx; }
bool one_row_vnni(const CpuFeatures& cpu, int64_t rows) { return rows == 1 && cpu.avx512 && cpu.avx512_vnni; }
// oneDNN 2.6 multiplies bf16 natively with AVX512-BF16 or AMX and emulates it
// on plain AVX-512; on AVX2 it has no bf16 matmul.
bool bf16_gemm(const CpuFeatures& cpu, int64_t) { return cpu.avx512; }

template <void (*Kernel)(const LinearProblem&)>
bool infallible(const LinearProblem& p) {
    Kernel(p);
    return true;
}

// Measured choices (benchmarks/README.md): one f32 row goes to OpenBLAS's
// sgemv, which streams W faster than oneDNN's M = 1 matmul; more rows go to
// oneDNN, faster than OpenBLAS's sgemm on the 8-512 row shapes of these models.
// One int8 row goes to gaze's VNNI GEMV for the same reason.
const LinearKernel kLinearKernels[] = {
    {DType::f32, "openblas-sgemv", one_row, infallible<kernels::blas_f32>},
    {DType::f32, "onednn-f32", many_rows, kernels::onednn_f32},
    {DType::f32, "openblas-sgemm", always, infallible<kernels::blas_f32>},
    {DType::bf16, "gemv-bf16-avx512", one_row_avx512, kernels::gemv_bf16_avx512},
    {DType::bf16, "gemv-bf16-avx2", one_row_avx2, kernels::gemv_bf16_avx2},
    {DType::bf16, "onednn-bf16", bf16_gemm, kernels::onednn_bf16},
    {DType::bf16, "bf16-expanded-to-f32", always, infallible<kernels::expand_panels_then_f32>},
    {DType::i8, "gemv-int8-vnni", one_row_vnni, kernels::gemv_int8_vnni},
    {DType::i8, "onednn-int8", int8_dot_products, kernels::onednn_int8},
    {DType::i8, "int8-expanded-to-f32", always, infallible<kernels::expand_panels_then_f32>},
};

void check_linear(const Tensor& x, const Tensor& weight, const Tensor& bias, WeightLayout layout, int64_t in, int64_t out) {
    if (weight.rank() != 2) throw Error("linear: weight must be 2-d, got " + weight.shape().str());
    if (x.dim(-1) != in) throw Error("linear: input " + x.shape().str() + " does not match weight " + weight.shape().str());
    if (!bias.empty() && bias.numel() != out) {
        throw Error("linear: bias " + bias.shape().str() + " does not match weight " + weight.shape().str());
    }
    if (weight.dtype() == DType::f16) throw Error("linear: f16 weights are storage only (convert to f32 or bf16 on load)");
    if (weight.dtype() == DType::i8 && (layout != WeightLayout::out_in || !weight.quant_scales())) {
        throw Error("linear: int8 weight " + weight.shape().str() + " needs the [out, in] layout and its row scales");
    }
    if (weight.dtype() != DType::f32 && !weight.is_contiguous()) {
        throw Error(std::string("linear: ") + dtype_name(weight.dtype()) + " weight " + weight.shape().str() +
                    " must be contiguous");
    }
}

}  // namespace

std::string linear_kernel_name(DType dtype, int64_t rows) {
    const CpuFeatures& cpu = cpu_features();
    for (const auto& k : kLinearKernels) {
        if (k.dtype == dtype && k.usable(cpu, rows)) return k.name;
    }
    return "none";
}

void linear(const Tensor& x, const Tensor& weight, const Tensor& bias, WeightLayout layout, Tensor& out) {
    const int64_t in_features = layout == WeightLayout::out_in ? weight.dim(1) : weight.dim(0);
    const int64_t out_features = layout == WeightLayout::out_in ? weight.dim(0) : weight.dim(1);
    check_linear(x, weight, bias, layout, in_features, out_features);
    Shape out_shape = x.shape();
    out_shape[x.rank() - 1] = out_features;
    out.resize(out_shape);
    const auto a = x.matrix();
    auto c = out.matrix();
    const int64_t rows = a.rows();
    if (rows == 0 || out_features == 0) return;
    if (in_features == 0) {  // an empty sum: just the bias (BLAS rejects K = 0 strides)
        if (!bias.empty()) {
            c.rowwise() = bias.reshape({1, out_features}).matrix().row(0);
        } else {
            c.setZero();
        }
        return;
    }
    const int64_t ldw = weight.dtype() == DType::f32 ? weight.row_stride() : weight.dim(1);
    const LinearProblem p{a.data(), a.outerStride(), &weight, std::max<int64_t>(ldw, weight.dim(1)), layout, bias.empty() ? nullptr : bias.data(),
                          c.data(), c.outerStride(), rows, out_features, in_features};
    const CpuFeatures& cpu = cpu_features();
    for (const auto& k : kLinearKernels) {
        if (k.dtype == weight.dtype() && k.usable(cpu, rows) && k.run(p)) return;
    }
    throw Error(std::string("linear: no kernel for ") + dtype_name(weight.dtype()) + " weights on this CPU");
}

}  // namespace gaze::ops
