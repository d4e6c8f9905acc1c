// libFuzzer target: a census state (what checkpoints and MPI ranks exchange)
// from arbitrary bytes. CensusState::deserialize must succeed or throw
// gaze::Error; what it accepts must serialize, merge and render as census.json,
// and read back to the same bytes.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include "gaze/census.hpp"
#include "gaze/error.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    const std::string_view bytes(reinterpret_cast<const char*>(data), size);
    try {
        gaze::CensusState state = gaze::CensusState::deserialize(bytes, "fuzz/state");
        const std::string once = state.serialize();
        if (gaze::CensusState::deserialize(once, "fuzz/again").serialize() != once) {
            __builtin_printf("fuzz_census_state: serialize/deserialize is not a round trip\n");
            std::abort();
        }
        gaze::CensusState merged = state;
        merged.merge(state);
        (void)gaze::census_json(merged, {});
    } catch (const gaze::Error&) {
    }
    return 0;
}
