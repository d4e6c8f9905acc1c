#!/usr/bin/env bash
# The main job, from a fresh clone: install dependencies, build the gaze CLI,
# and show what a model attends to in a sentence.
#   scripts/demo.sh ["Your sentence."]
# Uses stories260K from ../shared/models when present (a real trained Llama:
# Karpathy's llama2.c TinyStories model, 5 layers, 8 heads, 4 kv heads), else
# the golden BERT from ../shared (random weights, real bert-base-uncased
# vocabulary), else a randomly initialised BERT that gaze builds in memory;
# the output says which.
set -euo pipefail
cd "$(dirname "$0")/.."
text=${1:-"The cat sat on the mat because it was tired."}
shared=${GAZE_SHARED_DIR:-../shared}
model=auto
[ -f "$shared/models/stories260K/config.json" ] && model="$shared/models/stories260K"
if [ "$(id -u)" = 0 ]; then scripts/setup.sh >/dev/null; else sudo -n scripts/setup.sh >/dev/null 2>&1 || scripts/setup.sh >/dev/null; fi
cmake -S . -B build -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build build -j"$(nproc)" --target gaze_cli >/dev/null
if [ "$model" != auto ]; then
  echo "\$ gaze generate --text \"Once upon a time\" --max-new-tokens 40   # default model: $model"
  build/examples/gaze generate --text "Once upon a time" --max-new-tokens 40 2>/dev/null
  echo
fi
echo "\$ gaze top --model $model --text \"$text\""
build/examples/gaze top --model "$model" --text "$text"
build/examples/gaze view --model "$model" --text "$text" --out build/view.html >/dev/null
echo
echo "Open build/view.html in a browser for the head, model and heatmap views (works offline)."
