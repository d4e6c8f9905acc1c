#!/usr/bin/env bash
# Builds the `asan` preset (build-asan, clang: ASan + LSan + UBSan, -O1, line tables) and runs
# the whole gaze_tests binary under it. Exits non-zero when the build fails,
# a test fails, or any sanitizer reports anything, in the test binary or in a
# process it starts (the CLI tests run gaze_cli, built with the same flags).
#
#   scripts/sanitize.sh                              # everything
#   scripts/sanitize.sh --gtest_filter='BadSafetensors.*'
#
# Environment: JOBS (build parallelism, default 2).
# Known leak false positives (runtime libraries) are suppressed by name in
# scripts/lsan.supp; no check is ever switched off wholesale.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
jobs="${JOBS:-2}"

echo "== configure (preset asan)"
cmake --preset asan >/dev/null
echo "== build gaze_tests"
targets=(gaze_tests)
# The CLI tests run gaze_cli; build it too when the examples are configured.
if grep -q "^GAZE_BUILD_EXAMPLES:BOOL=ON" build-asan/CMakeCache.txt; then targets+=(gaze_cli); fi
cmake --build --preset asan -j "$jobs" --target "${targets[@]}"

reports="$(mktemp -d "${TMPDIR:-/tmp}/gaze-sanitize.XXXXXX")"
trap 'rm -rf "$reports"' EXIT

# Every process writes its sanitizer reports to $reports/<tool>.<pid>, so a
# report from a child process (gaze_cli) is caught as well as the test binary's.
export ASAN_OPTIONS="detect_leaks=1:strict_string_checks=1:detect_stack_use_after_return=1:check_initialization_order=1:halt_on_error=1:log_path=$reports/asan"
export LSAN_OPTIONS="suppressions=$root/scripts/lsan.supp:print_suppressions=0"
export UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1:log_path=$reports/ubsan"
export OMP_NUM_THREADS="${OMP_NUM_THREADS:-2}"

echo "== run gaze_tests $*"
status=0
build-asan/tests/gaze_tests "$@" || status=$?

found=0
for report in "$reports"/*; do
  [ -e "$report" ] || continue
  found=1
  echo "!! sanitizer report: $report"
  cat "$report"
done

if [ "$found" -ne 0 ]; then
  echo "sanitize: FAILED (sanitizer reports above; gaze_tests exit $status)"
  exit 1
fi
if [ "$status" -ne 0 ]; then
  echo "sanitize: FAILED (gaze_tests exit $status)"
  exit "$status"
fi
echo "sanitize: gaze_tests passed under ASan + LSan + UBSan with no reports"
