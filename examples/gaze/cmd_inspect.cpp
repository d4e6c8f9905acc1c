// gaze inspect: what is in a model folder.
#include <filesystem>
#include <iomanip>
#include <iostream>

#include "cli.hpp"
#include "gaze/memory_fit.hpp"

namespace gaze::cli {
namespace {

int run(const std::string& dir, bool list_tensors) {
    const LoadOptions options = load_options();
    auto model = load_model(dir, options);
    const CpuFeatures& cpu = cpu_features();
    const ModelInfo& i = model->info();
    std::cout << "family:         " << i.family << "\n"
              << "weights:        " << i.source << "\n"
              << "layers:         " << i.layers;
    if (i.decoder_layers) std::cout << " encoder + " << i.decoder_layers << " decoder";
    std::cout << "\nheads:          " << i.heads;
    if (i.kv_heads && i.kv_heads != i.heads) std::cout << " (" << i.kv_heads << " key/value heads)";
    std::cout << "\n"
              << "hidden:         " << i.hidden << "\n"
              << "intermediate:   " << i.intermediate << "\n"
              << "vocabulary:     " << i.vocab << "\n"
              << "max positions:  " << i.max_positions << "\n"
              << "pooler:         " << (i.has_pooler ? "yes" : "no") << "\n"
              << "lm head:        " << (i.has_lm_head ? "yes" : "no") << "\n"
              << "parameters:     " << i.parameters << " (" << std::fixed << std::setprecision(2)
              << static_cast<double>(i.parameters) / 1e6 << " M)\n";
    if (!i.notes.empty()) std::cout << "notes:          " << i.notes << "\n";
    std::cout << "dtype:          " << dtype_name(i.dtype) << " (linear weights; activations, norms and softmax f32)\n"
              << "weights memory: " << format_bytes(folder_weights_bytes(dir, dtype_size(i.dtype)));
    if (i.dtype != DType::f32) std::cout << " (f32: " << format_bytes(folder_weights_bytes(dir, 4)) << ")";
    std::cout << "\ncpu:            " << cpu.isa << (cpu.capped_by.empty() ? "" : " (" + cpu.capped_by + ")") << "\n"
              << "linear kernels: " << ops::linear_kernel_name(i.dtype, 1) << " (1 row), "
              << ops::linear_kernel_name(i.dtype, 64) << " (more rows)\n"
              << "threads:        " << thread_count() << "\n";
    if (!list_tensors) return 0;
    const Weights w = Weights::open_folder(dir);
    std::cout << "tensors:\n";
    for (const auto& [name, t] : w.tensors()) std::cout << "  " << std::left << std::setw(64) << name << " " << t.shape().str() << "\n";
    return 0;
}

const RegisterCommand registration{{"inspect", "Show a model's family, sizes, parameter count and tensors",
                                    [](CLI::App& app) {
                                        auto dir = std::make_shared<std::string>();
                                        auto brief = std::make_shared<bool>(false);
                                        app.add_option("--model", *dir, "Model folder")->required();
                                        app.add_flag("--brief", *brief, "Skip the tensor list");
                                        return [dir, brief] { return run(*dir, !*brief); };
                                    }}};

}  // namespace
}  // namespace gaze::cli
