// libFuzzer target: a safetensors image from arbitrary bytes.
// parse() must either throw gaze::Error or return entries that are safe to
// read: every range inside the data section, sized exactly shape x dtype, and
// every float tensor loadable (integer ones refused with gaze::Error).
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <cstring>

#include "fuzz_check.hpp"
#include "gaze/error.hpp"
#include "gaze/safetensors.hpp"

namespace {

void check_file(const gaze::SafetensorsFile& file, size_t image_size) {
    for (const auto& e : file.entries()) {
        FUZZ_CHECK(e.begin <= e.end);
        FUZZ_CHECK(e.end <= image_size);
        FUZZ_CHECK(file.find(e.name) == &e);
        uint64_t bytes = gaze::dtype_size(e.dtype);
        for (int i = 0; i < e.shape.rank(); ++i) {
            FUZZ_CHECK(e.shape[i] >= 0);
            bytes *= static_cast<uint64_t>(e.shape[i]);
        }
        FUZZ_CHECK(bytes == e.end - e.begin);

        // Touch every raw byte: ASan reports any range outside the buffer.
        const auto raw = file.bytes(e);
        FUZZ_CHECK(raw.size() == e.end - e.begin);
        unsigned sum = 0;
        for (uint8_t b : raw) sum += b;
        volatile unsigned sink = sum;
        (void)sink;

        if (!gaze::dtype_is_float(e.dtype)) {
            bool refused = false;
            try {
                (void)file.load(e);
            } catch (const gaze::Error&) {
                refused = true;
            }
            FUZZ_CHECK(refused);
            continue;
        }
        const gaze::Tensor t = file.load(e);
        FUZZ_CHECK(t.shape() == e.shape);
        FUZZ_CHECK(static_cast<uint64_t>(t.numel()) * gaze::dtype_size(e.dtype) == e.end - e.begin);
        float acc = 0.0f;
        const float* p = t.data();
        for (int64_t i = 0; i < t.numel(); ++i) acc += p[i];
        volatile float fsink = acc;
        (void)fsink;
    }
    for (const auto& [key, value] : file.metadata()) FUZZ_CHECK(key.size() + value.size() < image_size + 1);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    try {
        const gaze::SafetensorsFile file = gaze::SafetensorsFile::parse({data, size}, "fuzz.safetensors");
        check_file(file, size);
    } catch (const gaze::Error& e) {
        FUZZ_CHECK(std::strncmp(e.what(), "fuzz.safetensors", 16) == 0);  // messages name the file
    }
    return 0;
}
