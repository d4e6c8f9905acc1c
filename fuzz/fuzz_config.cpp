// libFuzzer target: config.json from arbitrary bytes.
// Config::parse, every getter, and make_model(config, Weights()) must either
// succeed or throw gaze::Error. With no weights make_model can never succeed:
// it has to fail cleanly (unknown family, bad value or missing tensor).
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include "gaze/config.hpp"
#include "gaze/error.hpp"
#include "gaze/model.hpp"
#include "gaze/weights.hpp"

namespace {

template <typename Fn>
void tolerate_error(Fn&& fn) {
    try {
        fn();
    } catch (const gaze::Error&) {
    }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    const std::string_view text(reinterpret_cast<const char*>(data), size);
    try {
        const gaze::Config config = gaze::Config::parse(text, "fuzz/config.json");
        // Getters on the keys the model families read, in every flavour.
        for (std::string_view key : {"model_type", "hidden_size", "dim", "num_hidden_layers", "n_layers",
                                     "num_attention_heads", "vocab_size", "max_position_embeddings",
                                     "layer_norm_eps", "hidden_act", "type_vocab_size", "is_decoder"}) {
            (void)config.has(key);
            tolerate_error([&] { (void)config.get_int(key, 0); });
            tolerate_error([&] { (void)config.get_float(key, 0.0); });
            tolerate_error([&] { (void)config.get_bool(key, false); });
            tolerate_error([&] { (void)config.get_string(key, ""); });
        }
        tolerate_error([&] { (void)config.get_int({"hidden_size", "dim", "n_embd"}); });
        tolerate_error([&] { (void)config.get_string({"model_type", "architectures"}); });
        (void)config.dump();
        try {
            auto model = gaze::make_model(config, gaze::Weights());
            __builtin_printf("fuzz_config: make_model succeeded without weights\n");
            std::abort();
        } catch (const gaze::Error&) {
        }
    } catch (const gaze::Error&) {
    }
    return 0;
}
