// Run-time CPU detection (gaze/cpu.hpp).
#include "gaze/cpu.hpp"

#include <cpuid.h>
#include <omp.h>
#include <sched.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <cstdlib>
#include <fstream>
#include <sstream>
#include <thread>
#include <mutex>
#include <oneapi/dnnl/dnnl.hpp>
#include <string_view>

#include "gaze/error.hpp"

namespace gaze {
namespace {

// XCR0: which register states the OS saves (AVX-512 needs opmask/ZMM, AMX its tiles).
uint64_t xcr0() {
    uint32_t eax = 0, edx = 0;
    __asm__ volatile("xgetbv" : "=a"(eax), "=d"(edx) : "c"(0));
    return (static_cast<uint64_t>(edx) << 32) | eax;
}

CpuFeatures detect() {
    CpuFeatures f;
    unsigned a = 0, b = 0, c = 0, d = 0;
    __get_cpuid(1, &a, &b, &c, &d);
    const bool osxsave = c & bit_OSXSAVE;
    const uint64_t saved = osxsave ? xcr0() : 0;
    const bool ymm = (saved & 0x6) == 0x6, zmm = (saved & 0xe6) == 0xe6, tiles = (saved & 0x60000) == 0x60000;
    f.fma = ymm && (c & bit_FMA);
    f.f16c = ymm && (c & bit_F16C);
    __get_cpuid_count(7, 0, &a, &b, &c, &d);
    f.avx2 = ymm && (b & bit_AVX2);
    f.avx512 = zmm && (b & bit_AVX512F) && (b & bit_AVX512BW) && (b & bit_AVX512VL) && (b & bit_AVX512DQ);
    f.avx512_vnni = f.avx512 && (c & bit_AVX512VNNI);
    f.amx = tiles && (d & (1u << 22)) && (d & (1u << 25));  // AMX-BF16 and AMX-TILE
    __get_cpuid_count(7, 1, &a, &b, &c, &d);
    f.avx512_bf16 = f.avx512 && (a & (1u << 5));
    f.isa = f.amx ? "amx" : f.avx512_bf16 ? "avx512_bf16" : f.avx512 ? "avx512" : f.avx2 ? "avx2" : "baseline";

    const char* cap = std::getenv("GAZE_CPU_ISA");
    if (cap && *cap) {
        const std::string_view v = cap;
        const int rank = v == "avx2" ? 1 : v == "avx512" ? 2 : v == "avx512_bf16" ? 3 : v == "amx" ? 4 : 0;
        if (rank == 0) {
            throw Error("GAZE_CPU_ISA: unknown value '" + std::string(v) + "' (choose avx2, avx512, avx512_bf16 or amx)");
        }
        if (rank < 4) f.amx = false;
        if (rank < 3) f.avx512_bf16 = false;
        if (rank < 2) f.avx512 = f.avx512_vnni = false;
        const std::string before = f.isa;
        f.isa = f.amx ? "amx" : f.avx512_bf16 ? "avx512_bf16" : f.avx512 ? "avx512" : f.avx2 ? "avx2" : "baseline";
        if (f.isa != before) f.capped_by = "GAZE_CPU_ISA=" + std::string(v);
        // oneDNN dispatches on its own: give it the same ceiling.
        using isa = dnnl::cpu_isa;
        try {
            dnnl::set_max_cpu_isa(rank == 1 ? isa::avx2 : rank == 2 ? isa::avx512_core_vnni
                                  : rank == 3 ? isa::avx512_core_bf16 : isa::all);
        } catch (const dnnl::error&) {  // oneDNN already ran a kernel: its choice is fixed for this process
            f.capped_by += " (oneDNN already initialised: its GEMMs keep their own ISA)";
        }
    }
    return f;
}

std::mutex detect_mutex;
CpuFeatures* detected = nullptr;
std::atomic<int> threads_in_use{0};   // fixed count, 0: automatic
std::atomic<int> automatic_count{0};  // automatic mode's current choice

// Jiffies: all CPUs busy / total (/proc/stat's first line) and this process's own.
struct CpuTimes {
    double busy = 0, total = 0, own = 0;
};

bool read_cpu_times(CpuTimes& out) {
    std::ifstream stat("/proc/stat");
    std::string cpu;
    double user, nice, system, idle, iowait, irq, softirq, steal = 0;
    if (!(stat >> cpu >> user >> nice >> system >> idle >> iowait >> irq >> softirq) || cpu != "cpu") return false;
    stat >> steal;
    out.busy = user + nice + system + irq + softirq + steal;
    out.total = out.busy + idle + iowait;
    std::ifstream self("/proc/self/stat");
    std::string line;
    if (!std::getline(self, line)) return false;
    const size_t close = line.rfind(')');  // the command name may hold spaces
    if (close == std::string::npos) return false;
    std::istringstream fields(line.substr(close + 2));
    std::string skip;
    for (int i = 3; i < 14; ++i) fields >> skip;  // state .. cmajflt (fields 3-13)
    double utime = 0, stime = 0;
    if (!(fields >> utime >> stime)) return false;
    out.own = utime + stime;
    return true;
}

// The automatic count: the CPUs we may use minus those others kept busy
// since the last look (rounded: a core counts as taken when others used
// more than 60% of one).
int measure_available_threads() {
    static std::mutex mutex;
    static CpuTimes last;
    static std::chrono::steady_clock::time_point last_time;
    static bool have_last = false;
    std::lock_guard<std::mutex> lock(mutex);
    const auto now = std::chrono::steady_clock::now();
    if (have_last && now - last_time < std::chrono::milliseconds(100)) return automatic_count.load();
    const int allowed = default_thread_count();  // the affinity mask, re-read with the load
    CpuTimes t;
    int choice = allowed;
    if (read_cpu_times(t)) {
        if (have_last && t.total > last.total) {
            const double machine_cpus = std::max(1, static_cast<int>(std::thread::hardware_concurrency()));
            const double per_cpu = (t.total - last.total) / machine_cpus;
            const double others = ((t.busy - last.busy) - (t.own - last.own)) / per_cpu;
            choice = std::clamp(allowed - static_cast<int>(std::floor(others + 0.4)), 1, allowed);
        }
        last = t;
        last_time = now;
        have_last = true;
    }
    automatic_count = choice;
    return choice;
}

}  // namespace

const CpuFeatures& cpu_features() {
    std::lock_guard<std::mutex> lock(detect_mutex);
    if (!detected) detected = new CpuFeatures(detect());  // never freed: read by kernels until exit
    return *detected;
}

void reset_cpu_features_for_testing() {
    std::lock_guard<std::mutex> lock(detect_mutex);
    delete detected;
    detected = nullptr;
}

int default_thread_count() {
    if (const char* env = std::getenv("GAZE_THREADS"); env && *env) {
        char* end = nullptr;
        const long n = std::strtol(env, &end, 10);
        if (*end != '\0' || n <= 0 || n > 4096) {
            throw Error("GAZE_THREADS: '" + std::string(env) + "' is not a positive number of threads");
        }
        return static_cast<int>(n);
    }
    // OMP_NUM_THREADS, as every OpenMP program honours it (its first value
    // when it lists one per nesting level).
    if (const char* env = std::getenv("OMP_NUM_THREADS"); env && *env) {
        const long n = std::strtol(env, nullptr, 10);
        if (n > 0 && n <= 4096) return static_cast<int>(n);
    }
    cpu_set_t set;
    CPU_ZERO(&set);
    if (sched_getaffinity(0, sizeof set, &set) == 0) return std::max(1, CPU_COUNT(&set));
    return std::max(1, omp_get_num_procs());
}

void set_thread_count(int threads) {
    if (threads <= 0) throw Error("threads: " + std::to_string(threads) + " is not a positive number of threads");
    omp_set_num_threads(threads);
    threads_in_use = threads;
}

void set_automatic_threads() { threads_in_use = 0; }

int thread_count() {
    if (threads_in_use > 0) return threads_in_use;
    return automatic_count > 0 ? automatic_count.load() : default_thread_count();
}

bool thread_count_was_set() { return threads_in_use > 0; }

void begin_pass_threads() {
    const int fixed = threads_in_use;
    omp_set_num_threads(fixed > 0 ? fixed : measure_available_threads());
}

}  // namespace gaze
