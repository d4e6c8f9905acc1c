#!/usr/bin/env python3
"""Convert a Hugging Face `pytorch_model.bin` checkpoint to `model.safetensors`.

gaze reads only safetensors (memory-mapped, validated, no pickle). Older Hub
repositories publish only pytorch_model.bin (a pickled state dict); run this
once, on a machine with PyTorch, to convert such a folder in place:

    pip install torch safetensors
    python3 weights/convert_pytorch_bin.py path/to/model-folder [--dtype float32|float16|bfloat16]

Sharded checkpoints (pytorch_model.bin.index.json + pytorch_model-0000i-of-0000n.bin)
are merged into one model.safetensors. Tensors that share storage (tied
embeddings) are written once each as separate contiguous copies, as
safetensors requires. Names are kept exactly as stored; gaze resolves the
family prefixes (`bert.`, `transformer.`) and `LayerNorm.gamma/beta` itself.
"""
import argparse
import json
import os
import sys


def load_state_dict(folder):
    import torch

    index = os.path.join(folder, "pytorch_model.bin.index.json")
    if os.path.exists(index):
        with open(index) as f:
            shards = sorted(set(json.load(f)["weight_map"].values()))
    else:
        shards = ["pytorch_model.bin"]
    state = {}
    for shard in shards:
        path = os.path.join(folder, shard)
        if not os.path.exists(path):
            sys.exit(f"{path}: not found")
        part = torch.load(path, map_location="cpu", weights_only=True)
        state.update(part)
    return state


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("folder", help="model folder holding pytorch_model.bin and config.json")
    parser.add_argument("--dtype", choices=["keep", "float32", "float16", "bfloat16"], default="keep",
                        help="storage dtype of floating-point tensors (default: as stored)")
    parser.add_argument("--output", help="output file (default: FOLDER/model.safetensors)")
    args = parser.parse_args()

    import torch
    from safetensors.torch import save_file

    state = load_state_dict(args.folder)
    target = {"float32": torch.float32, "float16": torch.float16, "bfloat16": torch.bfloat16}.get(args.dtype)
    tensors = {}
    for name, tensor in state.items():
        if not isinstance(tensor, torch.Tensor):
            continue
        t = tensor.detach()
        if target is not None and t.is_floating_point():
            t = t.to(target)
        tensors[name] = t.contiguous().clone()  # break shared storage (tied weights)
    output = args.output or os.path.join(args.folder, "model.safetensors")
    save_file(tensors, output, metadata={"format": "pt", "converted_by": "gaze/weights/convert_pytorch_bin.py"})
    print(f"wrote {output}: {len(tensors)} tensors")


if __name__ == "__main__":
    main()
