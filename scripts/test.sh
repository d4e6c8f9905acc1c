#!/usr/bin/env bash
# The whole test suite, as CI runs it (.ci/run calls this):
#   1. installs dependencies (scripts/setup.sh),
#   2. builds everything (library, CLI, tests, benchmarks, CUDA when nvcc is present)
#      and runs the GoogleTest suite + browser tests through CTest,
#   3. rebuilds the tests under AddressSanitizer + UndefinedBehaviorSanitizer and runs them,
#   4. builds the libFuzzer targets and runs each briefly on its corpus.
# Fixtures come from ../shared (or $GAZE_SHARED_DIR); under CI=true a missing one fails.
set -euo pipefail
cd "$(dirname "$0")/.."
jobs=$(nproc 2>/dev/null || echo 2)

if [ "$(id -u)" = 0 ]; then scripts/setup.sh; else sudo -n scripts/setup.sh 2>/dev/null || scripts/setup.sh; fi

echo "== build (release) =="
cmake -S . -B build -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build build -j"$jobs"

echo "== tests =="
(cd build && OMP_NUM_THREADS=2 ctest --output-on-failure -j1)

echo "== install + find_package(gaze) from another project =="
rm -rf build/install-test build/consumer
cmake --install build --prefix build/install-test >/dev/null
cmake -S tests/install_consumer -B build/consumer -DCMAKE_PREFIX_PATH="$PWD/build/install-test" >/dev/null
cmake --build build/consumer -j"$jobs" >/dev/null
build/consumer/consumer

echo "== tests under AddressSanitizer + UndefinedBehaviorSanitizer =="
scripts/sanitize.sh

echo "== fuzz smoke runs =="
scripts/fuzz_smoke.sh

echo "== all tests passed =="
