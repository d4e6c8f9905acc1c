// libFuzzer target: model.safetensors.index.json from arbitrary bytes.
// parse_safetensors_index must return the shard names or throw gaze::Error
// (invalid JSON, no weight_map, a tensor listed twice, a bad shard name); with
// an empty folder argument no file is opened.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "gaze/error.hpp"
#include "gaze/weights.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    const std::string_view text(reinterpret_cast<const char*>(data), size);
    try {
        const auto shards = gaze::parse_safetensors_index(text, "fuzz/model.safetensors.index.json", "");
        for (const auto& s : shards) {
            if (s.empty() || s.find('/') != std::string::npos) {
                __builtin_printf("fuzz_index: accepted shard name '%s'\n", s.c_str());
                std::abort();
            }
        }
    } catch (const gaze::Error&) {
    }
    return 0;
}
