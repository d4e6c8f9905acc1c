#!/bin/sh
# gaze census throughput (benchmarks/README.md, "Head census"): texts/s and tokens/s on
# 2,000 generated English sentences, for each model folder given (default: a random
# BERT-base-shaped model written by census_random_bert.py, and ../shared's models), as
#   1 process x 1 thread, mpirun -n 2 x 1 thread, 1 process x 2 threads,
# and the census observer's cost: the same passes with --no-statistics.
#   benchmarks/census_bench.sh [MODEL_DIR ...]      (GAZE=path/to/gaze, WORK=scratch folder)
set -eu
cd "$(dirname "$0")/.."
GAZE=${GAZE:-build/examples/gaze}
WORK=${WORK:-/tmp/gaze-census-bench}
PYTHON=${PYTHON:-$( [ -x /usr/bin/python3 ] && echo /usr/bin/python3 || echo python3 )}  # Debian's, with python3-numpy
mkdir -p "$WORK"
corpus="$WORK/sentences.txt"
"$PYTHON" - "$corpus" <<'PY'
import random, sys
random.seed(13)
subjects = ["the little girl", "a tired dog", "the old man", "my brother", "the teacher", "a small bird", "the children",
            "her friend", "the cat", "a farmer", "the king", "our neighbour", "the boy", "a kind woman", "the baker"]
verbs = ["saw", "found", "wanted", "liked", "carried", "painted", "opened", "lost", "built", "followed", "helped", "visited"]
objects = ["a red ball", "the big tree", "a shiny box", "the blue door", "a warm cake", "the long road", "a quiet garden",
           "the window", "a new book", "the river", "a happy song", "the green hat", "a wooden boat", "the market"]
tails = ["in the morning", "after school", "with a smile", "near the house", "because it was sunny", "and then went home",
         "before dinner", "at the park", "every day", "when it rained", "on the hill", "without a word"]
with open(sys.argv[1], "w") as f:
    for _ in range(2000):
        parts = [random.choice(subjects), random.choice(verbs), random.choice(objects)]
        for _ in range(random.randint(0, 3)):
            parts.append(random.choice(tails))
        sentence = " ".join(parts)
        if random.random() < 0.3:
            sentence += ", and " + random.choice(subjects) + " " + random.choice(verbs) + " " + random.choice(objects)
        f.write(sentence[0].upper() + sentence[1:] + ".\n")
PY
if [ $# -eq 0 ]; then
    [ -f "$WORK/bert-base/model.safetensors" ] || "$PYTHON" benchmarks/census_random_bert.py "$WORK/bert-base"
    set -- "$WORK/bert-base" ../shared/models/stories260K ../shared/golden/bert-tiny ../shared/golden/gpt2-tiny
fi
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
lscpu | grep -E "^Model name|^CPU\(s\)" || true
for model in "$@"; do
    [ -f "$model/config.json" ] || { echo "skip $model (no config.json)"; continue; }
    echo "== $model"
    run() {  # label, then the launcher and environment
        label=$1; shift
        line=$("$@" "$GAZE" census --model "$model" --corpus "$corpus" --out "$WORK/census.json" $EXTRA 2>&1 | grep "gaze census:" | tail -1)
        echo "$label: $line"
    }
    EXTRA="" run "1 process x 1 thread" env OMP_NUM_THREADS=1
    EXTRA="--no-statistics" run "1 process x 1 thread, no observer" env OMP_NUM_THREADS=1
    EXTRA="" run "mpirun -n 2 x 1 thread" mpirun --oversubscribe --bind-to none -n 2 -x OMP_NUM_THREADS=1
    EXTRA="" run "1 process x 2 threads" env OMP_NUM_THREADS=2
    EXTRA="--no-statistics" run "1 process x 2 threads, no observer" env OMP_NUM_THREADS=2
done
