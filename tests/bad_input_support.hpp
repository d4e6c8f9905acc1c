#pragma once
// Shared by the bad-input tests (test_bad_safetensors.cpp, test_bad_input.cpp):
// temporary folders, safetensors images with any header, and error_of(), which
// insists on a gaze::Error and returns its message.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <atomic>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <functional>
#include <iterator>
#include <nlohmann/json.hpp>
#include <random>
#include <string>
#include <typeinfo>
#include <unistd.h>
#include <vector>

#include "gaze/gaze.hpp"

namespace gaze::test {

// A fresh folder under the system temp dir, removed with everything in it.
class TempDir {
public:
    TempDir() {
        static std::atomic<int> counter{0};
        const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
        std::string tag = info ? std::string(info->test_suite_name()) + "." + info->name() : "gaze";
        std::random_device rd;
        path_ = std::filesystem::temp_directory_path() /
                ("gaze-bad-input-" + tag + "-" + std::to_string(::getpid()) + "-" + std::to_string(counter++) + "-" +
                 std::to_string(rd()));
        std::filesystem::create_directories(path_);
    }
    ~TempDir() {
        std::error_code ec;
        std::filesystem::remove_all(path_, ec);
    }
    TempDir(const TempDir&) = delete;
    TempDir& operator=(const TempDir&) = delete;

    std::string file(const std::string& name) const { return (path_ / name).string(); }
    const std::filesystem::path& path() const { return path_; }
    std::string str() const { return path_.string(); }

private:
    std::filesystem::path path_;
};

inline void write_bytes(const std::string& path, const std::string& bytes) {
    std::ofstream out(path, std::ios::binary | std::ios::trunc);
    ASSERT_TRUE(out) << "cannot write " << path;
    out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
}

inline std::string read_bytes(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

inline std::string u64_le(uint64_t v) {
    std::string s(8, '\0');
    for (int i = 0; i < 8; ++i) s[static_cast<size_t>(i)] = static_cast<char>((v >> (8 * i)) & 0xff);
    return s;
}

// [u64 header length][header][data]: a safetensors image with any header text.
inline std::string image(const std::string& header, const std::string& data) { return u64_le(header.size()) + header + data; }
inline std::string image(const nlohmann::json& header, size_t data_bytes) { return image(header.dump(), std::string(data_bytes, '\0')); }

// Runs `fn`, which must throw gaze::Error, and returns the message. Any other
// outcome (no exception, another exception type) fails the test.
inline std::string error_of(const std::function<void()>& fn) {
    try {
        fn();
    } catch (const Error& e) {
        return e.what();
    } catch (const std::exception& e) {
        ADD_FAILURE() << "expected gaze::Error, got " << typeid(e).name() << ": " << e.what();
        return {};
    } catch (...) {
        ADD_FAILURE() << "expected gaze::Error, got a non-std exception";
        return {};
    }
    ADD_FAILURE() << "expected gaze::Error, nothing was thrown";
    return {};
}

// Opens `bytes` written to a file and returns the error message (which must
// name the file: every case checks that).
inline std::string open_error(const TempDir& dir, const std::string& bytes, const std::string& name = "bad.safetensors") {
    const std::string path = dir.file(name);
    write_bytes(path, bytes);
    const std::string message = error_of([&] { SafetensorsFile::open(path); });
    EXPECT_THAT(message, ::testing::HasSubstr(path));
    // The in-memory parser must reject the same bytes with the same message.
    const std::string parsed = error_of([&] {
        SafetensorsFile::parse({reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size()}, path);
    });
    EXPECT_EQ(parsed, message);
    return message;
}

inline nlohmann::json entry(const std::string& dtype, std::vector<int64_t> shape, uint64_t begin, uint64_t end) {
    return {{"dtype", dtype}, {"shape", shape}, {"data_offsets", {begin, end}}};
}

inline Tensor iota_tensor(const Shape& shape, float start = 0.0f) {
    Tensor t(shape);
    for (int64_t i = 0; i < t.numel(); ++i) t.data()[i] = start + static_cast<float>(i) * 0.25f;
    return t;
}

}  // namespace gaze::test
