// The one place that maps config.json's model_type to a model family.
// A new family adds one line to kFamilies.
#include <cstdlib>
#include <filesystem>
#include <set>

#include "gaze/cpu.hpp"
#include "gaze/memory_fit.hpp"
#include "gaze/model.hpp"
#include "gaze/models/bert.hpp"
#include "gaze/models/gpt2.hpp"
#include "gaze/models/llama.hpp"
#include "gaze/models/t5.hpp"
#include "gaze/models/transformer.hpp"

namespace gaze {
namespace {

using Factory = std::unique_ptr<Model> (*)(const Config&, Weights);

struct Family {
    const char* model_type;
    Factory make;
};

const Family kFamilies[] = {
    {"bert", make_bert},
    {"distilbert", make_distilbert},
    {"gpt2", make_gpt2},
    {"llama", make_llama},
    {"mistral", make_mistral},
    {"qwen2", make_qwen2},
    {"t5", make_t5},
    {"transformer", make_transformer},
};

}  // namespace

std::vector<std::string> known_model_types() {
    std::vector<std::string> out;
    for (const auto& f : kFamilies) out.emplace_back(f.model_type);
    return out;
}

std::unique_ptr<Model> make_model(const Config& config, Weights weights) {
    // GAZE_THREADS or OMP_NUM_THREADS fix the thread count (unless a caller
    // chose already); otherwise gaze adapts it to the load (begin_pass_threads).
    static const bool threads_chosen = [] {
        const char* gaze_env = std::getenv("GAZE_THREADS");
        const char* omp_env = std::getenv("OMP_NUM_THREADS");
        if (!thread_count_was_set() && ((gaze_env && *gaze_env) || (omp_env && *omp_env))) {
            set_thread_count(default_thread_count());
        }
        return true;
    }();
    (void)threads_chosen;
    const std::string type = config.get_string({"model_type"});
    for (const auto& f : kFamilies) {
        if (type == f.model_type) return f.make(config, std::move(weights));
    }
    std::string known;
    for (const auto& t : known_model_types()) known += (known.empty() ? "" : ", ") + t;
    throw Error(config.path() + ": unknown model_type '" + type + "' (supported: " + known + ")");
}

std::unique_ptr<Model> load_model(const std::string& dir, const LoadOptions& options) {
    namespace fs = std::filesystem;
    if (!fs::is_directory(dir)) throw Error(dir + ": model folder not found");
    if (options.device == Device::cuda) {
        throw Error(dir + ": whole models do not run on CUDA yet (the CUDA kernels are tested one by one: docs/cuda.md); "
                    "use --device cpu");
    }
    if (options.dtype == DType::f16) throw Error(dir + ": f16 is a storage dtype; compute in f32, bf16 or int8");
    const Config config = Config::load((fs::path(dir) / "config.json").string());
    // Check the family before mapping gigabytes of weights.
    const std::string type = config.get_string({"model_type"});
    const auto types = known_model_types();
    if (std::find(types.begin(), types.end(), type) == types.end()) make_model(config, Weights());
    // GAZE_ALLOW_SWAP=1 in the environment waives the memory check like --allow-swap.
    const char* swap_env = std::getenv("GAZE_ALLOW_SWAP");
    const bool allow_swap = options.allow_swap || (swap_env && std::string(swap_env) == "1");
    check_before_loading(dir, config, dtype_size(options.dtype), dtype_name(options.dtype), allow_swap);
    Weights weights = Weights::open_folder(dir);
    weights.set_matrix_dtype(options.dtype);
    return make_model(config, std::move(weights));
}

void describe_weights(const Weights& weights, ModelInfo& info) {
    info.dtype = weights.matrix_dtype();
    std::string stored;
    for (const auto& dtype : weights.stored_dtypes()) {
        if (dtype != "F32") stored += (stored.empty() ? "" : ", ") + dtype;
    }
    if (stored.empty()) return;
    if (info.dtype == DType::f32) {
        info.notes = stored + " weights converted to f32 on load";
    } else if (stored == "BF16") {
        info.notes = info.dtype == DType::bf16 ? "BF16 weights used as stored (memory-mapped, no copy)"
                                               : "BF16 weights: tables used as stored, matrices quantised to int8";
    } else {
        info.notes = stored + std::string(" weights converted to ") + dtype_name(info.dtype) + " on load";
    }
}

void check_input(const ModelInfo& info, const Tokens& input) {
    if (input.batch <= 0 || input.length <= 0) throw Error("empty input: nothing to run the model on");
    if (input.ids.size() != static_cast<size_t>(input.batch * input.length)) {
        throw Error("input has " + std::to_string(input.ids.size()) + " ids for a batch of " +
                    std::to_string(input.batch) + " x " + std::to_string(input.length));
    }
    if (!input.mask.empty() && input.mask.size() != input.ids.size()) throw Error("attention mask size differs from ids");
    if (info.max_positions > 0 && input.length > info.max_positions) {
        throw Error("input of " + std::to_string(input.length) + " tokens is longer than the model's maximum of " +
                    std::to_string(info.max_positions) + " positions");
    }
    for (size_t i = 0; i < input.ids.size(); ++i) {
        if (input.ids[i] < 0 || input.ids[i] >= info.vocab) {
            throw Error("token id " + std::to_string(input.ids[i]) + " is outside the vocabulary of " +
                        std::to_string(info.vocab));
        }
    }
}

int64_t count_parameters(const Weights& weights) {
    // Tied copies (a stored decoder equal to the embeddings) are views of the
    // same memory; count each buffer once.
    std::set<const void*> seen;
    int64_t n = 0;
    for (const auto& [name, t] : weights.tensors()) {
        if (seen.insert(t.raw()).second) n += t.numel();
    }
    return n;
}

}  // namespace gaze
