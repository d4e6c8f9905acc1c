#!/usr/bin/env bash
# The two offline install routes of the Python package, each checked from a
# clean interpreter outside the source tree:
#   1. pip install --no-build-isolation --no-index . into a fresh venv made
#      with --system-site-packages (numpy and setuptools from Debian), reusing
#      the configured CMake build tree given as $1 (GAZE_CMAKE_BUILD_DIR);
#   2. cmake --install <build> --component python --prefix <dir>, then
#      PYTHONPATH=<dir>/<site-packages>.
#   scripts/python_install_test.sh [build dir]        (default: build)
# Exit status: 0 pass, 1 fail, 77 skipped (python3-venv missing; a failure under CI=true).
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
build="$(cd "${1:-$root/build}" && pwd)"
python="${GAZE_PYTHON:-/usr/bin/python3}"
shared="${GAZE_SHARED_DIR:-$root/../shared}"

if ! "$python" -c "import ensurepip, venv" 2>/dev/null; then
  if [ "${CI:-}" = "true" ]; then echo "python install test: FAILED: python3-venv missing" >&2; exit 1; fi
  echo "python install test: SKIPPED: python3-venv missing (scripts/setup.sh installs it)"
  exit 77
fi

# Imports gaze with the given interpreter from /, checks where it came from
# and runs the golden BERT (when present).
check_import() {
  local py=$1 expect=$2
  (cd / && "$py" - "$expect" "$shared" <<'PY'
import os, sys
import gaze
expect, shared = sys.argv[1], sys.argv[2]
assert gaze.__file__.startswith(expect), f"gaze imported from {gaze.__file__}, expected under {expect}"
bert = os.path.join(shared, "golden", "bert-tiny")
if os.path.isdir(bert):
    r = gaze.load(bert).run("Paris is in France.")
    assert r.tokens[:2] == ["[CLS]", "paris"] and r.attentions.shape[0] == 2, r.tokens
print("import gaze: ok from", os.path.dirname(gaze.__file__))
PY
  )
}

venv="$build/python-venv"
rm -rf "$venv"
"$python" -m venv --system-site-packages "$venv"
(cd "$root" && GAZE_CMAKE_BUILD_DIR="$build" "$venv/bin/python" -m pip install --quiet --no-build-isolation --no-index .)
check_import "$venv/bin/python" "$venv"

prefix="$build/python-install"
rm -rf "$prefix"
cmake --install "$build" --component python --prefix "$prefix" >/dev/null
site="$("$python" -c "import os, sysconfig; print(os.path.relpath(sysconfig.get_path('platlib', 'posix_prefix', vars={'platbase': '/p', 'base': '/p'}), '/p'))")"
PYTHONPATH="$prefix/$site" check_import "$python" "$prefix/$site"
echo "python install test: both routes work"
