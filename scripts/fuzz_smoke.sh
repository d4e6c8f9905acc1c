#!/usr/bin/env bash
# Builds the libFuzzer targets with clang (ASan + UBSan) in build-asan and runs
# each one for a short fixed time on a scratch copy of its seed corpus.
# Exits non-zero when a target fails to build, crashes, leaks, trips a
# sanitizer or throws anything but gaze::Error.
#
#   scripts/fuzz_smoke.sh                 # CI: 15 s per target, one after another
#   FUZZ_SECONDS=300 scripts/fuzz_smoke.sh fuzz_tokenizer
#   FUZZ_SECONDS=600 FUZZ_OUT=/tmp/fuzz-release scripts/fuzz_smoke.sh   # the release runs
#
# Targets run one at a time (one fuzzer process: the machine is shared).
# Configures with the `asan` preset of CMakePresets.json (build-asan, clang++):
# the same instrumented library scripts/sanitize.sh tests, built once.
# Environment: FUZZ_SECONDS (per target, default 15: keeps CI's total for
# every target under ~3 minutes), FUZZ_SEED (libFuzzer's -seed: 1 under CI=true, so
# a CI run tries the same inputs each time and cannot fail on a roll of the dice;
# 0, a random seed, elsewhere), FUZZ_RSS_MB (2048), FUZZ_JOBS (build
# parallelism, default 2), FUZZ_OUT (a folder that keeps each target's log
# and grown corpus, and summary.tsv: executions, cov, ft, new units; default:
# a scratch folder removed at the end). Found inputs worth keeping go to
# fuzz/corpus/<target>/ by hand (small files only).
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
build="$root/build-asan"  # the asan preset's binaryDir
seconds="${FUZZ_SECONDS:-15}"
rss_mb="${FUZZ_RSS_MB:-2048}"
if [ "${CI:-}" = "true" ]; then seed="${FUZZ_SEED:-1}"; else seed="${FUZZ_SEED:-0}"; fi
jobs="${FUZZ_JOBS:-2}"
targets=("$@")
if [ ${#targets[@]} -eq 0 ]; then targets=(fuzz_safetensors fuzz_config fuzz_tokenizer fuzz_bpe fuzz_sentencepiece fuzz_census_state fuzz_serve_request fuzz_index fuzz_tokenizer_json fuzz_chat_template fuzz_census_line); fi

echo "== configure (preset asan: build-asan, clang++)"
cmake --preset asan >/dev/null
echo "== build ${targets[*]}"
cmake --build --preset asan -j "$jobs" --target "${targets[@]}"

if [ -n "${FUZZ_OUT:-}" ]; then
  scratch="$FUZZ_OUT"
  mkdir -p "$scratch"
else
  scratch="$(mktemp -d "${TMPDIR:-/tmp}/gaze-fuzz-smoke.XXXXXX")"
  trap 'rm -rf "$scratch"' EXIT
fi
summary="$scratch/summary.tsv"
[ -f "$summary" ] || printf 'target\tseconds\texecutions\tcov\tft\tnew_units\tpeak_rss_mb\tresult\n' >"$summary"

# Leak checking stays on; abort_on_error makes every report a crash libFuzzer saves.
export ASAN_OPTIONS="${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1:symbolize=1}"
export UBSAN_OPTIONS="${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}"
export OMP_NUM_THREADS=1

# Fixtures some targets read (from ../shared, or $GAZE_SHARED_DIR): missing, the
# target is skipped with a message, or fails under CI=true.
shared="${GAZE_SHARED_DIR:-$root/../shared}"
fixture_of() {
  case "$1" in
    fuzz_sentencepiece) echo "golden/t5-tiny/spiece.model" ;;
  esac
}

final_stat() { grep -E "^stat::$1:" "$2" | awk '{print $2}' | tail -n 1; }

failed=()
for target in "${targets[@]}"; do
  fixture="$(fixture_of "$target")"
  if [ -n "$fixture" ] && [ ! -f "$shared/$fixture" ]; then
    if [ "${CI:-}" = "true" ]; then
      echo "!! $target FAILED: missing fixture $shared/$fixture"
      failed+=("$target")
    else
      echo "== $target: SKIPPED (fixture $shared/$fixture not found; set GAZE_SHARED_DIR)"
    fi
    continue
  fi
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
  GAZE_SHARED_DIR="$shared" "$build/fuzz/$target" "$work" "${dict[@]}" -max_total_time="$seconds" -seed="$seed" -rss_limit_mb="$rss_mb" \
      -timeout=10 -max_len=8192 -print_final_stats=1 -artifact_prefix="$artifacts" >"$log" 2>&1 || status=$?
  if [ "$status" -ne 0 ] || ls "$artifacts" | grep -q .; then
    echo "!! $target FAILED (exit $status); last lines of its log:"
    tail -n 60 "$log"
    mkdir -p "$build/fuzz-failures"
    cp "$artifacts"* "$build/fuzz-failures/" 2>/dev/null || true
    echo "!! reproducer(s) copied to $build/fuzz-failures/"
    failed+=("$target")
    result=FAILED
  else
    grep -E "^stat::(number_of_executed_units|peak_rss_mb|new_units_added)" "$log" | sed "s/^/   /"
    grep -E "^#[0-9]+.*DONE" "$log" | tail -n 1 | sed "s/^/   /"
    result=ok
  fi
  # libFuzzer's final line: "#N DONE cov: C ft: F corp: ..."; its stat:: lines.
  done_line="$(grep -E "^#[0-9]+" "$log" | tail -n 1)"
  cov="$(sed -nE 's/.* cov: ([0-9]+).*/\1/p' <<<"$done_line")"
  ft="$(sed -nE 's/.* ft: ([0-9]+).*/\1/p' <<<"$done_line")"
  printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$target" "$seconds" "$(final_stat number_of_executed_units "$log")" "${cov:-?}" \
      "${ft:-?}" "$(final_stat new_units_added "$log")" "$(final_stat peak_rss_mb "$log")" "$result" >>"$summary"
done

if [ ${#failed[@]} -ne 0 ]; then
  echo "fuzz smoke: FAILED: ${failed[*]}"
  exit 1
fi
echo "fuzz smoke: all ${#targets[@]} targets ran ${seconds}s without a finding"
