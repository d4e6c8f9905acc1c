// MPI for `gaze census` (see census_mpi.hpp). Compiled with GAZE_HAVE_MPI when
// CMake's FindMPI found an implementation (Debian: libopenmpi-dev).
#include "census_mpi.hpp"

#include <cstdlib>

#include "gaze/error.hpp"

#ifdef GAZE_HAVE_MPI
#include <mpi.h>
#endif

namespace gaze::cli {
namespace {

// Process count announced by a launcher (Open MPI, PMIx/Slurm, MPICH/PMI), 0 when none.
int launcher_size() {
    for (const char* name : {"OMPI_COMM_WORLD_SIZE", "PMIX_SIZE", "PMI_SIZE", "SLURM_NTASKS"}) {
        if (const char* v = std::getenv(name); v && *v) {
            // SLURM_NTASKS alone (an sbatch script) is not a launch by srun.
            if (std::string(name) == "SLURM_NTASKS" && !std::getenv("SLURM_STEP_ID")) continue;
            return std::atoi(v);
        }
    }
    return std::getenv("PMIX_RANK") ? 1 : 0;
}

#ifdef GAZE_HAVE_MPI
bool started = false;
#endif

}  // namespace

bool built_with_mpi() {
#ifdef GAZE_HAVE_MPI
    return true;
#else
    return false;
#endif
}

Ranks start_ranks() {
    Ranks r;
    const int launched = launcher_size();
#ifdef GAZE_HAVE_MPI
    if (launched > 0) {
        MPI_Init(nullptr, nullptr);
        started = true;
        MPI_Comm_rank(MPI_COMM_WORLD, &r.rank);
        MPI_Comm_size(MPI_COMM_WORLD, &r.size);
    }
#else
    if (launched > 1) {
        throw Error("this gaze was built without MPI but was started as one of " + std::to_string(launched) +
                    " processes (mpirun/srun): rebuild with libopenmpi-dev installed, or run one process");
    }
#endif
    return r;
}

void stop_ranks() {
#ifdef GAZE_HAVE_MPI
    if (started) MPI_Finalize();
    started = false;
#endif
}

int64_t sum_over_lower_ranks(int64_t value) {
#ifdef GAZE_HAVE_MPI
    if (started) {
        long long in = value, out = 0;
        MPI_Exscan(&in, &out, 1, MPI_LONG_LONG, MPI_SUM, MPI_COMM_WORLD);
        int rank = 0;
        MPI_Comm_rank(MPI_COMM_WORLD, &rank);
        return rank == 0 ? 0 : static_cast<int64_t>(out);  // Exscan leaves rank 0's result undefined
    }
#endif
    (void)value;
    return 0;
}

std::vector<std::string> gather_on_rank0(const std::string& bytes) {
#ifdef GAZE_HAVE_MPI
    if (started) {
        int rank = 0, size = 1;
        MPI_Comm_rank(MPI_COMM_WORLD, &rank);
        MPI_Comm_size(MPI_COMM_WORLD, &size);
        // Lengths first, then the bytes; a state is far below 2 GiB (it is O(heads)).
        const int length = static_cast<int>(bytes.size());
        std::vector<int> lengths(static_cast<size_t>(size));
        MPI_Gather(&length, 1, MPI_INT, lengths.data(), 1, MPI_INT, 0, MPI_COMM_WORLD);
        std::vector<int> offsets(static_cast<size_t>(size), 0);
        int total = 0;
        for (int i = 0; i < size; ++i) {
            offsets[static_cast<size_t>(i)] = total;
            total += lengths[static_cast<size_t>(i)];
        }
        std::string all(rank == 0 ? static_cast<size_t>(total) : 0, '\0');
        MPI_Gatherv(bytes.data(), length, MPI_CHAR, all.data(), lengths.data(), offsets.data(), MPI_CHAR, 0, MPI_COMM_WORLD);
        std::vector<std::string> out;
        if (rank == 0) {
            for (int i = 0; i < size; ++i) {
                out.push_back(all.substr(static_cast<size_t>(offsets[static_cast<size_t>(i)]),
                                         static_cast<size_t>(lengths[static_cast<size_t>(i)])));
            }
        }
        return out;
    }
#endif
    return {bytes};
}

double max_over_ranks(double value) {
#ifdef GAZE_HAVE_MPI
    if (started) {
        double out = value;
        MPI_Allreduce(&value, &out, 1, MPI_DOUBLE, MPI_MAX, MPI_COMM_WORLD);
        return out;
    }
#endif
    return value;
}

void wait_for_all_ranks() {
#ifdef GAZE_HAVE_MPI
    if (started) MPI_Barrier(MPI_COMM_WORLD);
#endif
}

void abort_all_ranks(int code) {
#ifdef GAZE_HAVE_MPI
    if (started) MPI_Abort(MPI_COMM_WORLD, code);
#endif
    std::exit(code);
}

}  // namespace gaze::cli
