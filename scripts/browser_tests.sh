#!/usr/bin/env bash
# Headless-Chromium tests of the attention viewer and `gaze serve`.
#   scripts/browser_tests.sh [path/to/gaze] [output dir for screenshots] [path/to/gaze_long_view]
# Installs tests/browser's npm dependencies (npm ci; skipped when they are
# already installed from the same package-lock.json), then runs them.
# Exit status: 0 pass, 1 fail, 77 skipped (node or chromium missing; under
# CI=true a missing tool is a failure instead).
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
gaze="${1:-$root/build/examples/gaze}"
out="${2:-$root/build/browser}"
long_view="${3:-$(dirname "$gaze")/../tests/browser/gaze_long_view}"
chromium="${CHROMIUM:-/usr/bin/chromium}"

missing=()
command -v node >/dev/null 2>&1 || missing+=(node)
command -v npm >/dev/null 2>&1 || missing+=(npm)
[ -x "$chromium" ] || missing+=("chromium ($chromium)")
if ((${#missing[@]})); then
  if [ "${CI:-}" = "true" ]; then
    echo "browser tests: FAILED: missing ${missing[*]} (required under CI; scripts/setup.sh installs them)" >&2
    exit 1
  fi
  echo "browser tests: SKIPPED: missing ${missing[*]} (scripts/setup.sh installs them)"
  exit 77
fi
[ -x "$gaze" ] || { echo "browser tests: the gaze CLI is not at $gaze (build gaze_cli first)" >&2; exit 1; }
gaze="$(cd "$(dirname "$gaze")" && pwd)/$(basename "$gaze")"
[ -x "$long_view" ] || { echo "browser tests: gaze_long_view is not at $long_view (build it first)" >&2; exit 1; }
long_view="$(cd "$(dirname "$long_view")" && pwd)/$(basename "$long_view")"
mkdir -p "$out"
out="$(cd "$out" && pwd)"

cd "$root/tests/browser"
stamp=node_modules/.gaze-package-lock
if ! cmp -s package-lock.json "$stamp" 2>/dev/null; then
  npm ci --no-audit --no-fund --loglevel=error
  cp package-lock.json "$stamp"
fi
CHROMIUM="$chromium" node views.test.mjs --gaze "$gaze" --out "$out" --long-view "$long_view"
