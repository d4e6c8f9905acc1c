#pragma once
// The census's few MPI calls, behind plain functions, so that MPI stays out of
// the library and out of every other file. Without MPI at build time (or when
// gaze was not started by mpirun/srun) there is one rank and these are no-ops.
#include <cstdint>
#include <string>
#include <vector>

namespace gaze::cli {

struct Ranks {
    int rank = 0;
    int size = 1;
};

// Starts MPI when the process was launched by mpirun / mpiexec / srun (their
// environment variables say so). Throws gaze::Error when it was, with several
// processes, but this gaze was built without MPI.
Ranks start_ranks();
void stop_ranks();
// Sum of `value` over the ranks before this one.
int64_t sum_over_lower_ranks(int64_t value);
// Every rank's bytes, in rank order, on rank 0 (empty elsewhere).
std::vector<std::string> gather_on_rank0(const std::string& bytes);
double max_over_ranks(double value);
void wait_for_all_ranks();
// Ends every rank (after this one printed why).
[[noreturn]] void abort_all_ranks(int code);
bool built_with_mpi();

}  // namespace gaze::cli
