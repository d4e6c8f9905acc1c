#!/usr/bin/env bash
# The main job, from a fresh clone: install dependencies, build the gaze CLI,
# and show what a model attends to in a sentence.
#   scripts/demo.sh ["Your sentence."]
# Uses the golden BERT from ../shared when present (random weights, real
# bert-base-uncased vocabulary), else a randomly initialised BERT that gaze
# builds in memory; the output says which.
set -euo pipefail
cd "$(dirname "$0")/.."
text=${1:-"The cat sat on the mat because it was tired."}
if [ "$(id -u)" = 0 ]; then scripts/setup.sh >/dev/null; else sudo -n scripts/setup.sh >/dev/null 2>&1 || scripts/setup.sh >/dev/null; fi
cmake -S . -B build -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build build -j"$(nproc)" --target gaze_cli >/dev/null
echo "\$ gaze top --model auto --text \"$text\""
build/examples/gaze top --model auto --text "$text"
build/examples/gaze view --model auto --text "$text" --out build/view.html >/dev/null
echo
echo "Open build/view.html in a browser for the head, model and heatmap views (works offline)."
