#pragma once
// The CPU gaze runs on, read at run time (cpuid), never assumed from the build
// machine: the library is compiled for a baseline (x86-64-v3: AVX2 + FMA +
// F16C) and picks faster paths where this CPU has them. oneDNN does the same
// for its GEMMs; cpu_features() drives gaze's own kernels.
//
// GAZE_CPU_ISA=avx2|avx512|avx512_bf16|amx caps what both may use (to test a
// fallback on a bigger machine, or to compare paths). An unknown value is an
// error at first use, naming the variable.
#include <string>

namespace gaze {

struct CpuFeatures {
    bool avx2 = false, fma = false, f16c = false;
    bool avx512 = false;       // AVX-512 F + BW + VL + DQ (Skylake-SP, Zen 4)
    bool avx512_vnni = false;  // int8 dot products
    bool avx512_bf16 = false;  // bf16 dot products (Cooper Lake, Sapphire Rapids, Zen 4)
    bool amx = false;          // AMX tiles, bf16 + int8 (Sapphire Rapids)
    std::string isa;           // the best of the above in use: "amx", "avx512_bf16", "avx512", "avx2"
    std::string capped_by;     // "GAZE_CPU_ISA=..." when the environment lowered it, else empty
};

// Detected once (thread-safe); honours GAZE_CPU_ISA.
const CpuFeatures& cpu_features();
// Re-reads GAZE_CPU_ISA (tests that set it).
void reset_cpu_features_for_testing();

// The number of threads gaze uses: GAZE_THREADS if set (> 0), else
// OMP_NUM_THREADS if set, else the CPUs this process may run on (its affinity mask, not the machine's core count:
// taskset, cgroups and containers are honoured). Throws naming GAZE_THREADS
// when it is not a positive integer.
int default_thread_count();
// Fixes the thread count for gaze's parallel regions and oneDNN (OpenMP).
void set_thread_count(int threads);
int thread_count();
// Lets gaze choose (the default unless --threads / GAZE_THREADS / OMP_NUM_THREADS /
// set_thread_count fix the count):
// the CPUs this process may run on, minus those other processes kept busy.
void set_automatic_threads();

// Called by every model at the start of a pass (forward, a decoding step), on
// the thread that runs it: applies the thread count to that thread (OpenMP's
// count is per thread) and, in automatic mode, re-reads the machine's load at
// most every 100 ms (/proc/stat minus this process's own CPU time). When
// another process keeps a core busy, gaze runs one thread fewer rather than
// having every parallel region wait for the thread that shares a core
// (measured: 2 threads with one core busy were 4.8x slower than idle, 1 thread 2x).
void begin_pass_threads();
bool thread_count_was_set();  // by set_thread_count (make_model applies the default once otherwise)

}  // namespace gaze
