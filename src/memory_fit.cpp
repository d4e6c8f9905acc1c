// The memory check before loading (see memory_fit.hpp).
#include "gaze/memory_fit.hpp"

#include <charconv>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "gaze/error.hpp"
#include "gaze/model_files.hpp"

namespace gaze {
namespace {

namespace fs = std::filesystem;

std::optional<std::string> read_small_file(const fs::path& path) {
    std::ifstream in(path, std::ios::binary);
    if (!in) return std::nullopt;
    std::ostringstream text;
    text << in.rdbuf();
    return text.str();
}

std::optional<uint64_t> parse_unsigned(std::string_view text) {
    while (!text.empty() && (text.front() == ' ' || text.front() == '\t')) text.remove_prefix(1);
    uint64_t value = 0;
    const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
    if (ec != std::errc() || end == text.data()) return std::nullopt;
    return value;
}

// The cgroup's limit minus its usage, when it has a limit (v2, then v1).
std::optional<AvailableMemory> cgroup_headroom(const fs::path& root) {
    struct Layout {
        const char* limit;
        const char* usage;
        const char* name;
    };
    for (const Layout& l : {Layout{"sys/fs/cgroup/memory.max", "sys/fs/cgroup/memory.current", "memory.max - memory.current"},
                            Layout{"sys/fs/cgroup/memory/memory.limit_in_bytes", "sys/fs/cgroup/memory/memory.usage_in_bytes",
                                   "memory.limit_in_bytes - memory.usage_in_bytes"}}) {
        const auto limit_text = read_small_file(root / l.limit);
        if (!limit_text) continue;
        const auto limit = parse_cgroup_limit(*limit_text);
        if (!limit) return std::nullopt;  // this cgroup has no limit
        const auto usage_text = read_small_file(root / l.usage);
        const uint64_t usage = usage_text ? parse_unsigned(*usage_text).value_or(0) : 0;
        return AvailableMemory{*limit > usage ? *limit - usage : 0, std::string("cgroup limit (") + l.name + ")"};
    }
    return std::nullopt;
}

bool ends_with(std::string_view s, std::string_view suffix) {
    return s.size() >= suffix.size() && s.substr(s.size() - suffix.size()) == suffix;
}

// Embedding tables (word, position, token type) of every family.
bool is_embedding_table(std::string_view name) {
    return name.find("embed") != std::string_view::npos || ends_with(name, "wte.weight") ||
           ends_with(name, "wpe.weight") || ends_with(name, "shared.weight");
}

// The word embedding of every family: [vocab, hidden].
const TensorEntry* find_word_embedding(const std::vector<TensorEntry>& entries) {
    for (std::string_view name : {"word_embeddings.weight", "wte.weight", "embed_tokens.weight", "shared.weight",
                                  "tok_embeddings.weight"}) {
        for (const auto& e : entries) {
            if (ends_with(e.name, name) && e.shape.rank() == 2 && dtype_is_float(e.dtype)) return &e;
        }
    }
    return nullptr;
}

}  // namespace

std::optional<uint64_t> parse_meminfo_available(std::string_view meminfo) {
    constexpr std::string_view kKey = "MemAvailable:";
    for (size_t at = 0; at < meminfo.size();) {
        const size_t end = std::min(meminfo.find('\n', at), meminfo.size());
        const std::string_view line = meminfo.substr(at, end - at);
        if (line.substr(0, kKey.size()) == kKey) {
            const auto kb = parse_unsigned(line.substr(kKey.size()));
            if (!kb || *kb > UINT64_MAX / 1024) return std::nullopt;
            return *kb * 1024;  // the file says "kB" and means KiB
        }
        at = end + 1;
    }
    return std::nullopt;
}

std::optional<uint64_t> parse_cgroup_limit(std::string_view text) {
    const auto value = parse_unsigned(text);
    // v1 writes "no limit" as the largest page-aligned signed 64-bit value.
    if (!value || *value >= (uint64_t{1} << 62)) return std::nullopt;
    return value;
}

AvailableMemory available_memory(const std::string& root) {
    const fs::path base = root.empty() ? fs::path("/") : fs::path(root);
    const auto meminfo = read_small_file(base / "proc/meminfo");
    if (!meminfo) throw Error((base / "proc/meminfo").string() + ": cannot read (needed to check the model fits in memory)");
    const auto available = parse_meminfo_available(*meminfo);
    if (!available) throw Error((base / "proc/meminfo").string() + ": no MemAvailable line");
    AvailableMemory out{*available, "MemAvailable in /proc/meminfo"};
    if (const auto cgroup = cgroup_headroom(base); cgroup && cgroup->bytes < out.bytes) out = *cgroup;
    return out;
}

uint64_t loaded_weights_bytes(const std::vector<TensorEntry>& entries, size_t matrix_element_bytes) {
    uint64_t total = 0;
    for (const auto& e : entries) {
        if (!dtype_is_float(e.dtype)) continue;
        const auto numel = static_cast<uint64_t>(e.shape.numel());
        if (e.shape.rank() < 2) {
            total += numel * sizeof(float);
            continue;
        }
        if (is_embedding_table(e.name)) {
            // Tables are looked up, not multiplied: kept at bf16 below f32, never int8.
            total += numel * (matrix_element_bytes >= 4 ? matrix_element_bytes : 2);
            continue;
        }
        total += numel * matrix_element_bytes;
        if (matrix_element_bytes == 1) total += static_cast<uint64_t>(e.shape[0]) * sizeof(float);  // int8 row scales
    }
    return total;
}

std::string format_bytes(uint64_t bytes) {
    const char* units[] = {"bytes", "KiB", "MiB", "GiB", "TiB"};
    double value = static_cast<double>(bytes);
    int unit = 0;
    while (value >= 1024.0 && unit < 4) {
        value /= 1024.0;
        ++unit;
    }
    char text[32];
    std::snprintf(text, sizeof text, unit == 0 ? "%.0f %s" : "%.1f %s", value, units[unit]);
    return text;
}

void check_memory_fit(const std::string& dir, const std::string& dtype_name, uint64_t need,
                      const std::vector<DtypeNeed>& alternatives, const AvailableMemory& have) {
    if (need <= have.bytes) return;
    std::string message = dir + ": the weights need " + format_bytes(need) + " as " + dtype_name + " but only " +
                          format_bytes(have.bytes) + " of memory is available (" + have.source + ")";
    std::string fitting;
    for (const auto& a : alternatives) {
        if (a.bytes < need && a.bytes <= have.bytes) {
            fitting += (fitting.empty() ? "" : " or ") + std::string("--dtype ") + a.dtype_name + " (" + format_bytes(a.bytes) + ")";
        }
    }
    message += fitting.empty() ? "; no smaller dtype would fit either" : "; it would fit with " + fitting;
    message += "; --allow-swap (LoadOptions::allow_swap, GAZE_ALLOW_SWAP=1) loads it anyway (slow once it swaps)";
    throw Error(message);
}

void check_config_matches_tensors(const Config& config, const std::vector<TensorEntry>& entries,
                                  const std::string& weights_source) {
    const TensorEntry* embedding = find_word_embedding(entries);
    if (!embedding) return;
    // [vocab, hidden] as the config says (a size it does not give: the tensor's).
    // get_size refuses a zero, negative or absurd value, naming the key.
    Shape expected = embedding->shape;
    std::string said;
    const std::initializer_list<std::string_view> keys_of_dim[2] = {{"vocab_size", "n_vocab"},
                                                                    {"hidden_size", "dim", "n_embd", "d_model"}};
    for (int dim = 0; dim < 2; ++dim) {
        for (std::string_view key : keys_of_dim[dim]) {
            if (!config.has(key)) continue;
            expected[dim] = config.get_size({key});
            said += (said.empty() ? "" : ", ") + std::string(key) + " " + std::to_string(expected[dim]);
            break;
        }
    }
    if (expected == embedding->shape) return;
    throw Error(weights_source + ": tensor '" + embedding->name + "' has shape " + embedding->shape.str() + ", expected " +
                expected.str() + " (" + said + " in " + config.path() + ")");
}

namespace {
std::vector<TensorEntry> folder_entries(const std::string& dir) {
    std::vector<TensorEntry> entries;
    for (const auto& file : model_weight_files(dir)) {
        const SafetensorsFile f = SafetensorsFile::open(file);  // maps and validates the header, reads no tensor
        entries.insert(entries.end(), f.entries().begin(), f.entries().end());
    }
    return entries;
}
}  // namespace

uint64_t folder_weights_bytes(const std::string& dir, size_t matrix_element_bytes) {
    return loaded_weights_bytes(folder_entries(dir), matrix_element_bytes);
}

void check_before_loading(const std::string& dir, const Config& config, size_t matrix_element_bytes,
                          const std::string& dtype_name, bool allow_swap) {
    const std::vector<TensorEntry> entries = folder_entries(dir);
    check_config_matches_tensors(config, entries, dir);
    if (allow_swap) return;
    std::vector<DtypeNeed> alternatives;
    for (const DtypeNeed& smaller : {DtypeNeed{"bf16", 2}, DtypeNeed{"int8", 1}}) {
        if (smaller.bytes < matrix_element_bytes) alternatives.push_back({smaller.dtype_name, loaded_weights_bytes(entries, smaller.bytes)});
    }
    check_memory_fit(dir, dtype_name, loaded_weights_bytes(entries, matrix_element_bytes), alternatives, available_memory());
}

}  // namespace gaze
