// The memory check before loading (memory_fit.hpp): the /proc and cgroup
// readers on fake files, and load_model on folders whose safetensors claim
// more than the machine has - sparse files, so nothing is really allocated.
#include <fcntl.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "gaze/gaze.hpp"
#include "gaze/memory_fit.hpp"

namespace gaze::test {
namespace {

namespace fs = std::filesystem;

fs::path scratch(const std::string& name) {
    const fs::path dir = fs::temp_directory_path() / ("gaze_memory_fit_" + std::to_string(::getpid())) / name;
    fs::remove_all(dir);
    fs::create_directories(dir);
    return dir;
}

void write(const fs::path& path, const std::string& text) {
    fs::create_directories(path.parent_path());
    std::ofstream(path, std::ios::binary) << text;
}

std::string message_of(const std::function<void()>& fn) {
    try {
        fn();
    } catch (const Error& e) {
        return e.what();
    }
    return "";
}

// A BERT folder whose only tensor, the word embedding [rows, cols] of
// `dtype`, is a hole in a sparse file: its size is claimed, never written.
fs::path sparse_bert(const std::string& name, int64_t rows, int64_t cols, const std::string& dtype, int64_t config_hidden) {
    const fs::path dir = scratch(name);
    write(dir / "config.json", nlohmann::json{{"model_type", "bert"}, {"vocab_size", rows}, {"hidden_size", config_hidden},
                                              {"num_hidden_layers", 1}, {"num_attention_heads", 1},
                                              {"intermediate_size", 4}, {"max_position_embeddings", 8}}
                                   .dump());
    const uint64_t element = dtype == "F32" ? 4 : 2;
    const uint64_t bytes = static_cast<uint64_t>(rows) * static_cast<uint64_t>(cols) * element;
    std::string header = nlohmann::json{{"bert.embeddings.word_embeddings.weight",
                                         {{"dtype", dtype}, {"shape", {rows, cols}}, {"data_offsets", {0, bytes}}}}}
                             .dump();
    header.resize((header.size() + 7) / 8 * 8, ' ');
    const fs::path file = dir / "model.safetensors";
    std::string prefix(8, '\0');
    for (int i = 0; i < 8; ++i) prefix[i] = static_cast<char>((header.size() >> (8 * i)) & 0xff);
    write(file, prefix + header);
    const int fd = ::open(file.c_str(), O_WRONLY);
    EXPECT_GE(fd, 0);
    EXPECT_EQ(::ftruncate(fd, static_cast<off_t>(8 + header.size() + bytes)), 0);
    ::close(fd);
    return dir;
}

TEST(MemoryFit, ReadsMeminfoAndCgroupLimits) {
    EXPECT_EQ(parse_meminfo_available("MemTotal: 100 kB\nMemFree:  10 kB\nMemAvailable:   2048 kB\n"), 2048u * 1024);
    EXPECT_FALSE(parse_meminfo_available("MemTotal: 100 kB\n"));
    EXPECT_FALSE(parse_meminfo_available("MemAvailable: lots\n"));
    EXPECT_EQ(parse_cgroup_limit("1073741824\n"), 1073741824u);
    EXPECT_FALSE(parse_cgroup_limit("max\n"));
    EXPECT_FALSE(parse_cgroup_limit("9223372036854771712\n"));  // cgroup v1: no limit

    const fs::path root = scratch("root");
    write(root / "proc/meminfo", "MemTotal: 16777216 kB\nMemAvailable: 8388608 kB\n");
    AvailableMemory m = available_memory(root.string());
    EXPECT_EQ(m.bytes, uint64_t{8} << 30);
    EXPECT_NE(m.source.find("MemAvailable"), std::string::npos);
    write(root / "sys/fs/cgroup/memory.max", "max\n");
    EXPECT_EQ(available_memory(root.string()).bytes, uint64_t{8} << 30);
    write(root / "sys/fs/cgroup/memory.max", "3221225472\n");
    write(root / "sys/fs/cgroup/memory.current", "1073741824\n");
    m = available_memory(root.string());
    EXPECT_EQ(m.bytes, uint64_t{2} << 30);  // the cgroup leaves less than MemAvailable
    EXPECT_NE(m.source.find("memory.max"), std::string::npos);
    EXPECT_NE(message_of([&] { available_memory(scratch("empty").string()); }).find("meminfo"), std::string::npos);
}

TEST(MemoryFit, WeightsSizeFollowsTheDtype) {
    std::vector<TensorEntry> entries(4);
    entries[0].shape = Shape{10, 8};  // a matrix: converted
    entries[1].shape = Shape{8};      // a vector: stays f32
    entries[2].dtype = FileDType::I64;    // not loaded
    entries[2].shape = Shape{1000};
    entries[3].name = "embeddings.word_embeddings.weight";  // a table: bf16 at most
    entries[3].shape = Shape{100, 8};
    EXPECT_EQ(loaded_weights_bytes(entries, 4), 10u * 8 * 4 + 8 * 4 + 100 * 8 * 4);
    EXPECT_EQ(loaded_weights_bytes(entries, 2), 10u * 8 * 2 + 8 * 4 + 100 * 8 * 2);
    EXPECT_EQ(loaded_weights_bytes(entries, 1), 10u * 8 + 10 * 4 + 8 * 4 + 100 * 8 * 2);  // int8 keeps a scale per row
    EXPECT_EQ(format_bytes(512), "512 bytes");
    EXPECT_EQ(format_bytes(uint64_t{3} << 29), "1.5 GiB");
}

TEST(MemoryFit, TheMessageNamesBothNumbersAndWhatWouldFit) {
    const AvailableMemory have{uint64_t{10} << 30, "MemAvailable in /proc/meminfo"};
    EXPECT_NO_THROW(check_memory_fit("m", "f32", uint64_t{9} << 30, {}, have));
    const std::string msg = message_of([&] {
        check_memory_fit("m", "f32", uint64_t{16} << 30, {{"bf16", uint64_t{8} << 30}, {"int8", uint64_t{4} << 30}}, have);
    });
    for (const char* part : {"16.0 GiB", "10.0 GiB", "MemAvailable", "--dtype bf16", "--dtype int8", "GAZE_ALLOW_SWAP=1"}) {
        EXPECT_NE(msg.find(part), std::string::npos) << part << " not in: " << msg;
    }
    const std::string none = message_of([&] { check_memory_fit("m", "int8", uint64_t{40} << 30, {}, have); });
    EXPECT_NE(none.find("no smaller dtype"), std::string::npos) << none;
}

TEST(MemoryFit, LoadModelRefusesWeightsLargerThanMemory) {
    // 1.5 times what is available as f32, so bf16 (0.75 times) would fit.
    const uint64_t available = available_memory().bytes;
    const int64_t cols = 4096;
    const auto rows = static_cast<int64_t>(available * 3 / 2 / 4 / cols);
    const fs::path dir = sparse_bert("huge", rows, cols, "F32", cols);
    const std::string msg = message_of([&] { load_model(dir.string()); });
    EXPECT_NE(msg.find("the weights need"), std::string::npos) << msg;
    EXPECT_NE(msg.find(format_bytes(static_cast<uint64_t>(rows) * cols * 4)), std::string::npos) << msg;
    EXPECT_NE(msg.find("--dtype bf16"), std::string::npos) << msg;
    EXPECT_NE(msg.find("GAZE_ALLOW_SWAP=1"), std::string::npos) << msg;
    // With the check waived, loading goes on (and fails later, on the tensors this folder lacks).
    EXPECT_NO_THROW(check_before_loading(dir.string(), Config::load((dir / "config.json").string()), 4, "f32", true));
    EXPECT_NE(msg.find("--allow-swap"), std::string::npos) << msg;
    ::setenv("GAZE_ALLOW_SWAP", "1", 1);
    const std::string waived = message_of([&] { load_model(dir.string()); });
    ::unsetenv("GAZE_ALLOW_SWAP");
    EXPECT_EQ(waived.find("the weights need"), std::string::npos) << waived;
    EXPECT_NE(waived.find("missing tensor"), std::string::npos) << waived;
    LoadOptions swap;
    swap.allow_swap = true;
    const std::string allowed = message_of([&] { load_model(dir.string(), swap); });
    EXPECT_NE(allowed.find("missing tensor"), std::string::npos) << allowed;
    // In bf16 the same weights (0.75 x the memory) pass the check load_model
    // runs for LoadOptions{.dtype = bf16} (loading them would really take it).
    EXPECT_NO_THROW(check_before_loading(dir.string(), Config::load((dir / "config.json").string()), 2, "bf16", false));
    fs::remove_all(dir);
}

TEST(MemoryFit, ConfigDisagreeingWithTheTensorsIsRefusedBeforeLoading) {
    // F16 would be converted (allocated) on load: the config check comes first.
    const fs::path dir = sparse_bert("mismatch", 1 << 20, 2048, "F16", 64);
    const std::string msg = message_of([&] { load_model(dir.string()); });
    EXPECT_NE(msg.find("has shape [1048576, 2048], expected [1048576, 64]"), std::string::npos) << msg;
    EXPECT_NE(msg.find("word_embeddings"), std::string::npos) << msg;
    EXPECT_NE(msg.find("hidden_size 64"), std::string::npos) << msg;
    fs::remove_all(dir);
}

}  // namespace
}  // namespace gaze::test
