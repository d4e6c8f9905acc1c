#!/usr/bin/env bash
# Builds the libFuzzer targets with clang (ASan + UBSan) in build-fuzz and runs
# each one for a short fixed time on a scratch copy of its seed corpus.
# Exits non-zero when a target fails to build, crashes, leaks, trips a
# sanitizer or throws anything but gaze::Error.
#
#   scripts/fuzz_smoke.sh                 # 20 s per target
#   FUZZ_SECONDS=300 scripts/fuzz_smoke.sh fuzz_tokenizer
#
# Configures with the `fuzz` preset of CMakePresets.json (build-fuzz, clang++).
# Environment: FUZZ_SECONDS (per target, default 20), FUZZ_RSS_MB (2048),
# FUZZ_JOBS (build parallelism, default 2).
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
build="$root/build-fuzz"  # the fuzz preset's binaryDir
seconds="${FUZZ_SECONDS:-20}"
rss_mb="${FUZZ_RSS_MB:-2048}"
jobs="${FUZZ_JOBS:-2}"
targets=("$@")
if [ ${#targets[@]} -eq 0 ]; then targets=(fuzz_safetensors fuzz_config fuzz_tokenizer fuzz_census_state fuzz_tokenizer_json); fi

echo "== configure (preset fuzz: build-fuzz, clang++)"
cmake --preset fuzz >/dev/null
echo "== build ${targets[*]}"
cmake --build --preset fuzz -j "$jobs" --target "${targets[@]}"

scratch="$(mktemp -d "${TMPDIR:-/tmp}/gaze-fuzz-smoke.XXXXXX")"
trap 'rm -rf "$scratch"' EXIT

# Leak checking stays on; abort_on_error makes every report a crash libFuzzer saves.
export ASAN_OPTIONS="${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1:symbolize=1}"
export UBSAN_OPTIONS="${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}"
export OMP_NUM_THREADS=1

failed=()
for target in "${targets[@]}"; do
  corpus_name="${target#fuzz_}"
  seeds="$root/fuzz/corpus/$corpus_name"
  work="$scratch/$corpus_name"
  artifacts="$scratch/artifacts-$corpus_name/"
  mkdir -p "$work" "$artifacts"
  [ -d "$seeds" ] && cp -R "$seeds/." "$work/"
  dict=()
  [ -f "$root/fuzz/corpus/$corpus_name.dict" ] && dict=(-dict="$root/fuzz/corpus/$corpus_name.dict")
  log="$scratch/$target.log"
  echo "== $target: ${seconds}s on $(find "$work" -type f | wc -l) seeds"
  status=0
  "$build/fuzz/$target" "$work" "${dict[@]}" -max_total_time="$seconds" -rss_limit_mb="$rss_mb" \
      -timeout=10 -max_len=8192 -print_final_stats=1 -artifact_prefix="$artifacts" >"$log" 2>&1 || status=$?
  if [ "$status" -ne 0 ] || ls "$artifacts" | grep -q .; then
    echo "!! $target FAILED (exit $status); last lines of its log:"
    tail -n 60 "$log"
    mkdir -p "$build/fuzz-failures"
    cp "$artifacts"* "$build/fuzz-failures/" 2>/dev/null || true
    echo "!! reproducer(s) copied to $build/fuzz-failures/"
    failed+=("$target")
  else
    grep -E "^stat::(number_of_executed_units|peak_rss_mb|new_units_added)" "$log" | sed "s/^/   /"
    grep -E "^#[0-9]+.*DONE" "$log" | tail -n 1 | sed "s/^/   /"
  fi
done

if [ ${#failed[@]} -ne 0 ]; then
  echo "fuzz smoke: FAILED: ${failed[*]}"
  exit 1
fi
echo "fuzz smoke: all ${#targets[@]} targets ran ${seconds}s without a finding"
