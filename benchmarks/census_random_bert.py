#!/usr/bin/env python3
"""Writes a randomly initialised BERT-base-shaped model folder for the census benchmark.

    benchmarks/census_random_bert.py OUT_DIR [--vocab VOCAB.txt] [--seed N]

12 layers, hidden 768, 12 heads, FFN 3072, N(0, 0.02) weights (as Hugging Face
initialises), LayerNorm weight 1 / bias 0, no masked-LM head; the vocabulary is
bert-base-uncased's (../shared/tokenizers/bert-base-uncased/vocab.txt by default).
Needs only numpy.
"""
import argparse
import json
import os
import shutil
import struct

import numpy as np


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("out")
    parser.add_argument("--vocab", default=os.path.join(here, "..", "..", "shared", "tokenizers", "bert-base-uncased", "vocab.txt"))
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    layers, hidden, heads, ffn, positions = 12, 768, 12, 3072, 512
    with open(args.vocab, encoding="utf-8") as f:
        vocab = sum(1 for _ in f)
    rng = np.random.default_rng(args.seed)
    tensors = {}

    def normal(name, *shape):
        tensors[name] = rng.normal(0.0, 0.02, size=shape).astype(np.float32)

    def norm(name):
        tensors[name + ".weight"] = np.ones(hidden, np.float32)
        tensors[name + ".bias"] = np.zeros(hidden, np.float32)

    def linear(name, n_in, n_out):
        normal(name + ".weight", n_out, n_in)
        tensors[name + ".bias"] = np.zeros(n_out, np.float32)

    normal("bert.embeddings.word_embeddings.weight", vocab, hidden)
    normal("bert.embeddings.position_embeddings.weight", positions, hidden)
    normal("bert.embeddings.token_type_embeddings.weight", 2, hidden)
    norm("bert.embeddings.LayerNorm")
    for i in range(layers):
        p = f"bert.encoder.layer.{i}."
        for part in ("query", "key", "value"):
            linear(p + "attention.self." + part, hidden, hidden)
        linear(p + "attention.output.dense", hidden, hidden)
        norm(p + "attention.output.LayerNorm")
        linear(p + "intermediate.dense", hidden, ffn)
        linear(p + "output.dense", ffn, hidden)
        norm(p + "output.LayerNorm")
    linear("bert.pooler.dense", hidden, hidden)

    os.makedirs(args.out, exist_ok=True)
    header, offset = {}, 0
    for name, t in tensors.items():
        header[name] = {"dtype": "F32", "shape": list(t.shape), "data_offsets": [offset, offset + t.nbytes]}
        offset += t.nbytes
    blob = json.dumps(header).encode()
    blob += b" " * (-len(blob) % 8)
    with open(os.path.join(args.out, "model.safetensors"), "wb") as f:
        f.write(struct.pack("<Q", len(blob)))
        f.write(blob)
        for t in tensors.values():
            f.write(t.tobytes())
    config = {"model_type": "bert", "architectures": ["BertModel"], "hidden_size": hidden, "num_hidden_layers": layers,
              "num_attention_heads": heads, "intermediate_size": ffn, "hidden_act": "gelu", "max_position_embeddings": positions,
              "type_vocab_size": 2, "vocab_size": vocab, "layer_norm_eps": 1e-12, "pad_token_id": 0}
    with open(os.path.join(args.out, "config.json"), "w") as f:
        json.dump(config, f, indent=2)
    shutil.copy(args.vocab, os.path.join(args.out, "vocab.txt"))
    with open(os.path.join(args.out, "tokenizer_config.json"), "w") as f:
        json.dump({"do_lower_case": True}, f)


if __name__ == "__main__":
    main()
