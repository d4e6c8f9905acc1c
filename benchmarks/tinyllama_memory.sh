#!/bin/sh
# Peak resident memory of a TinyLlama-1.1B-shaped model as a user loads it: the bf16
# checkpoint (two shards + index, as the Hub publishes TinyLlama) written by
# tinyllama_random.py, then `gaze generate` in each dtype with a 128-token and a
# 1,024-token prompt, 8 new tokens, with and without --dump (every step's attention
# of every head kept and written). Prints max RSS (/usr/bin/time's %M) and gaze's
# own prompt and per-token times (benchmarks/README.md, "TinyLlama-1.1B shape").
#   benchmarks/tinyllama_memory.sh            (GAZE=path/to/gaze, WORK=scratch folder with ~2.5 GB free)
set -eu
cd "$(dirname "$0")/.."
GAZE=${GAZE:-build/examples/gaze}
WORK=${WORK:-/tmp/gaze-tinyllama}
PYTHON=${PYTHON:-$( [ -x /usr/bin/python3 ] && echo /usr/bin/python3 || echo python3 )}  # Debian's, with python3-numpy
[ -f "$WORK/model/config.json" ] || "$PYTHON" benchmarks/tinyllama_random.py "$WORK/model"
ids_of() { "$PYTHON" -c "import random; random.seed($1); print(','.join(str(random.randint(3, 31999)) for _ in range($1)))"; }
lscpu | grep -E "^Model name|^CPU\(s\)" || true
for tokens in 128 1024; do
    ids=$(ids_of "$tokens")
    for dtype in f32 bf16 int8; do
        for dump in "" "--dump $WORK/steps.safetensors"; do
            label="$dtype, prompt $tokens${dump:+, --dump}"
            if ! out=$(/usr/bin/time -f "maxrss_kb %M" "$GAZE" generate --model "$WORK/model" --dtype "$dtype" --ids "$ids" \
                  --max-new-tokens 8 --ignore-eos $dump 2>&1 >/dev/null); then
                echo "$label: FAILED"; echo "$out" | tail -n 3; continue
            fi
            rss=$(echo "$out" | sed -n 's/^maxrss_kb //p')
            timing=$(echo "$out" | grep "generated" | sed 's/.*: //' || true)
            echo "$label: max RSS $((rss / 1024)) MiB; $timing"
        done
    done
done
rm -f "$WORK/steps.safetensors"
