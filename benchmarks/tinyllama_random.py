#!/usr/bin/env python3
"""Writes a randomly initialised TinyLlama-1.1B-shaped model folder, laid out as the Hub
publishes TinyLlama: bf16 safetensors in two shards with model.safetensors.index.json.

    benchmarks/tinyllama_random.py OUT_DIR [--tokenizer DIR] [--seed N] [--layers N]

22 layers, hidden 2048, 32 heads, 4 key/value heads, FFN 5632, vocab 32000, untied
lm_head; N(0, 0.02) projections and embeddings, unit RMSNorm weights. The tokenizer
files (tokenizer.model, tokenizer_config.json) are copied from --tokenizer (default:
../shared/tokenizers/llama2, the same 32,000-piece Llama 2 vocabulary). ~2.2 GB on disk;
needs only numpy. Used by benchmarks/tinyllama_memory.sh.
"""
import argparse
import json
import os
import shutil
import struct

import numpy as np

HIDDEN, HEADS, KV_HEADS, FFN, VOCAB = 2048, 32, 4, 5632, 32000


def tensor_shapes(layers):
    head_dim = HIDDEN // HEADS
    shapes = {"model.embed_tokens.weight": (VOCAB, HIDDEN)}
    for i in range(layers):
        p = f"model.layers.{i}."
        shapes[p + "input_layernorm.weight"] = (HIDDEN,)
        shapes[p + "self_attn.q_proj.weight"] = (HEADS * head_dim, HIDDEN)
        shapes[p + "self_attn.k_proj.weight"] = (KV_HEADS * head_dim, HIDDEN)
        shapes[p + "self_attn.v_proj.weight"] = (KV_HEADS * head_dim, HIDDEN)
        shapes[p + "self_attn.o_proj.weight"] = (HIDDEN, HEADS * head_dim)
        shapes[p + "post_attention_layernorm.weight"] = (HIDDEN,)
        shapes[p + "mlp.gate_proj.weight"] = (FFN, HIDDEN)
        shapes[p + "mlp.up_proj.weight"] = (FFN, HIDDEN)
        shapes[p + "mlp.down_proj.weight"] = (HIDDEN, FFN)
    shapes["model.norm.weight"] = (HIDDEN,)
    shapes["lm_head.weight"] = (VOCAB, HIDDEN)
    return shapes


def bf16_bytes(values):
    """float32 array -> its bf16 bytes, rounded to nearest even (as torch's .to(bfloat16))."""
    bits = values.astype(np.float32).view(np.uint32)
    rounded = (bits + 0x7FFF + ((bits >> 16) & 1)) >> 16
    return rounded.astype(np.uint16).tobytes()


def write_shard(path, names, shapes, rng):
    header, offset = {}, 0
    for name in names:
        size = 2 * int(np.prod(shapes[name]))
        header[name] = {"dtype": "BF16", "shape": list(shapes[name]), "data_offsets": [offset, offset + size]}
        offset += size
    header["__metadata__"] = {"format": "pt"}
    text = json.dumps(header).encode()
    text += b" " * (-len(text) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(text)))
        f.write(text)
        for name in names:
            shape = shapes[name]
            values = np.ones(shape, np.float32) if name.endswith("norm.weight") else rng.normal(0.0, 0.02, size=shape)
            f.write(bf16_bytes(values))
    return offset


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("out")
    parser.add_argument("--tokenizer", default=os.path.join(here, "..", "..", "shared", "tokenizers", "llama2"))
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--layers", type=int, default=22)
    args = parser.parse_args()
    rng = np.random.default_rng(args.seed)
    shapes = tensor_shapes(args.layers)
    names = list(shapes)
    half = names.index(f"model.layers.{args.layers // 2}.input_layernorm.weight")
    shards = [names[:half], names[half:]]
    os.makedirs(args.out, exist_ok=True)
    weight_map, total = {}, 0
    for i, shard in enumerate(shards):
        file = f"model-{i + 1:05d}-of-{len(shards):05d}.safetensors"
        total += write_shard(os.path.join(args.out, file), shard, shapes, rng)
        weight_map.update({name: file for name in shard})
    with open(os.path.join(args.out, "model.safetensors.index.json"), "w") as f:
        json.dump({"metadata": {"total_size": total}, "weight_map": weight_map}, f, indent=1)
    config = {
        "architectures": ["LlamaForCausalLM"], "model_type": "llama", "hidden_size": HIDDEN,
        "intermediate_size": FFN, "num_hidden_layers": args.layers, "num_attention_heads": HEADS,
        "num_key_value_heads": KV_HEADS, "vocab_size": VOCAB, "max_position_embeddings": 2048,
        "rms_norm_eps": 1e-5, "rope_theta": 10000.0, "hidden_act": "silu", "tie_word_embeddings": False,
        "bos_token_id": 1, "eos_token_id": 2, "torch_dtype": "bfloat16", "attention_bias": False,
        "rope_scaling": None,
    }
    with open(os.path.join(args.out, "config.json"), "w") as f:
        json.dump(config, f, indent=1)
    for name in ("tokenizer.model", "tokenizer_config.json"):
        shutil.copyfile(os.path.join(args.tokenizer, name), os.path.join(args.out, name))
    print(f"wrote {args.out}: {total / 1e9:.2f} GB of bf16 weights in {len(shards)} shards")


if __name__ == "__main__":
    main()
