#!/usr/bin/env bash
# Executes every example notebook and checks its HTML export in headless Chromium:
#   scripts/notebook_tests.sh [python package dir] [output dir]
# (defaults: build/python, build/notebooks). Runs
#   jupyter nbconvert --execute --to html examples/notebooks/*.ipynb
# with the gaze package from the build tree, then tests/python/notebooks.test.mjs
# (playwright-core from tests/browser, installed by npm ci when missing).
# Exit status: 0 pass, 1 fail, 77 skipped (a tool missing; under CI=true a
# missing tool is a failure instead).
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
package="$(cd "${1:-$root/build/python}" && pwd)"
out="${2:-$root/build/notebooks}"
chromium="${CHROMIUM:-/usr/bin/chromium}"
python="${GAZE_PYTHON:-/usr/bin/python3}"

missing=()
command -v jupyter-nbconvert >/dev/null 2>&1 || missing+=(jupyter-nbconvert)
"$python" -c "import ipykernel" 2>/dev/null || missing+=(python3-ipykernel)
command -v node >/dev/null 2>&1 || missing+=(node)
command -v npm >/dev/null 2>&1 || missing+=(npm)
[ -x "$chromium" ] || missing+=("chromium ($chromium)")
if ((${#missing[@]})); then
  if [ "${CI:-}" = "true" ]; then
    echo "notebook tests: FAILED: missing ${missing[*]} (required under CI; scripts/setup.sh installs them)" >&2
    exit 1
  fi
  echo "notebook tests: SKIPPED: missing ${missing[*]} (scripts/setup.sh installs them)"
  exit 77
fi
mkdir -p "$out"
out="$(cd "$out" && pwd)"

# One OpenMP thread per kernel: the notebooks' models are tiny, and a shared
# CI machine is slower with every kernel spinning two.
export PYTHONPATH="$package${PYTHONPATH:+:$PYTHONPATH}" OMP_NUM_THREADS=1
cd "$root/examples/notebooks"
rm -f "$out"/*.html
jupyter-nbconvert --execute --to html --output-dir "$out" \
  --ExecutePreprocessor.timeout=300 ./*.ipynb

cd "$root/tests/browser"
stamp=node_modules/.gaze-package-lock
if ! cmp -s package-lock.json "$stamp" 2>/dev/null; then
  npm ci --no-audit --no-fund --loglevel=error
  cp package-lock.json "$stamp"
fi
CHROMIUM="$chromium" node "$root/tests/python/notebooks.test.mjs" "$out"
