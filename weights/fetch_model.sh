#!/usr/bin/env bash
# Download a model folder from the Hugging Face Hub by name, for gaze:
#   weights/fetch_model.sh bert-base-uncased [DEST]     (default DEST: models/<name>)
#   HF_TOKEN=... weights/fetch_model.sh org/private-model
# Fetches config.json, the safetensors weights (single or sharded) and the
# tokenizer files the families use. When a repository has only
# pytorch_model.bin, downloads it and tells you to run convert_pytorch_bin.py.
set -euo pipefail
if [ $# -lt 1 ] || [ "$1" = "-h" ] || [ "$1" = "--help" ]; then
  sed -n '2,7p' "$0" | sed 's/^# \{0,1\}//'
  exit 1
fi
name=$1
dest=${2:-models/$name}
revision=${REVISION:-main}
base="${HF_ENDPOINT:-https://huggingface.co}/$name/resolve/$revision"
auth=()
[ -n "${HF_TOKEN:-}" ] && auth=(-H "Authorization: Bearer $HF_TOKEN")
mkdir -p "$dest"

# fetch FILE [required]: downloads base/FILE into dest; returns 1 if absent.
fetch() {
  local file=$1 required=${2:-}
  if curl -fsSL "${auth[@]}" -o "$dest/$file.part" "$base/$file"; then
    mv "$dest/$file.part" "$dest/$file"
    echo "  $file"
    return 0
  fi
  rm -f "$dest/$file.part"
  if [ -n "$required" ]; then echo "error: $name has no $file (wrong model name?)" >&2; exit 1; fi
  return 1
}

echo "fetching $name into $dest"
fetch config.json required
if ! fetch model.safetensors; then
  if fetch model.safetensors.index.json; then
    for shard in $(python3 -c 'import json,sys; print("\n".join(sorted(set(json.load(open(sys.argv[1]))["weight_map"].values()))))' "$dest/model.safetensors.index.json"); do
      fetch "$shard" required
    done
  elif fetch pytorch_model.bin; then
    echo "note: only pytorch_model.bin is published; convert it with:"
    echo "  python3 $(dirname "$0")/convert_pytorch_bin.py $dest"
  else
    echo "error: $name publishes no model.safetensors or pytorch_model.bin" >&2
    exit 1
  fi
fi
for file in tokenizer_config.json vocab.txt vocab.json merges.txt spiece.model special_tokens_map.json; do
  fetch "$file" || true
done
echo "done: gaze inspect --model $dest"
