#!/usr/bin/env python3
"""Writes the example notebooks (*.ipynb, without outputs) from the cells below.

    python3 examples/notebooks/make_notebooks.py

Edit the cells here, not the .ipynb files. CI executes every notebook with
`jupyter nbconvert --execute --to html` (scripts/notebook_tests.sh) and
opens the HTML in headless Chromium.
"""
import pathlib

import nbformat
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

HERE = pathlib.Path(__file__).resolve().parent

SETUP = '''import os, pathlib
import numpy as np
import gaze

# The models of this notebook come from ../shared next to the repository
# (GAZE_SHARED_DIR moves it); they run offline.
SHARED = pathlib.Path(os.environ.get("GAZE_SHARED_DIR", "../../../shared")).resolve()'''

REAL = ("**With internet**, fetch the real checkpoint once from the repository root with "
        "`weights/fetch_model.sh {name}` (it lands in `models/{name}`) and load "
        "`gaze.load(\"../../models/{name}\")` instead; nothing else in the notebook changes.")


def md(text):
    return new_markdown_cell(text.strip())


def code(text):
    return new_code_cell(text.strip())


NOTEBOOKS = {
    "01_head_view_bert_gpt2_t5.ipynb": [
        md("""
# Head view and model view: BERT, GPT-2, T5

What bertviz's `head_view` / `model_view` notebooks show over Hugging Face models, on gaze:
the attention comes out of the C++ engine while the forward pass runs, and the views are
self-contained pages (no CDN, no kernel needed to draw them), so they also show in an
exported HTML file or in VS Code.

The models here are the small random-weight checkpoints of `../shared/golden` (exact Hugging
Face layouts, real vocabularies; their patterns mean nothing) and one real trained
encoder-decoder, `aren-transliteration`.
"""),
        code(SETUP),
        md("## BERT self-attention, English\n\n" + REAL.format(name="bert-base-uncased")),
        code('''bert = gaze.load(SHARED / "golden" / "bert-tiny")
r = bert.run("The cat sat on the mat because it was tired.")
print(r.tokens)
print("attentions:", r.attentions.shape, "= [layers, heads, queries, keys]")
gaze.head_view(r)'''),
        md("## BERT self-attention, another language\n\nWordPiece splits the words it does not know "
           "into pieces; a multilingual vocabulary keeps them whole. " + REAL.format(name="bert-base-multilingual-cased")),
        code('''fr = bert.run("Le chat s'est assis sur le tapis parce qu'il etait fatigue.")
print(fr.tokens)
gaze.head_view(fr, layer=1)'''),
        md("## GPT-2: masked (causal) attention\n\nEvery token attends only to itself and the tokens "
           "before it: the upper triangle is exactly zero. " + REAL.format(name="gpt2")),
        code('''gpt2 = gaze.load(SHARED / "golden" / "gpt2-tiny")
g = gpt2.run("The cat sat on the mat because it was tired.")
print("largest weight above the diagonal:", np.triu(g.attentions, k=1).max())
gaze.head_view(g)'''),
        code('''gaze.heatmap(g, layer=0, head=0).figure()   # masked cells hatched'''),
        md("## T5: cross-attention model view\n\nEach decoder token (rows) attends over the encoder's "
           "tokens (columns), in every layer and head. " + REAL.format(name="t5-small")),
        code('''t5 = gaze.load(SHARED / "golden" / "t5-tiny")
t = t5.run("translate English to German: The house is wonderful.", target="Das Haus ist wunderbar.")
print(list(t.blocks), "cross:", t.cross_attentions.shape)
gaze.model_view(t, block="cross")'''),
        md("## A trained encoder-decoder: its cross-attention is an alignment\n\n"
           "`aren-transliteration` (Arabic letters to Latin letters) is small but trained. Without a "
           "`target`, gaze decodes the model's own output greedily and shows the attention of that output."),
        code('''aren = gaze.load(SHARED / "models" / "aren-transliteration")
a = aren.run("آ ت ز م و ن")
print("output:", a.target_tokens)
gaze.model_view(a, block="cross")'''),
        code('''gaze.heatmap(a, layer=-1, head=-1, block="cross").figure()   # last layer, mean of heads: near diagonal'''),
    ],
    "02_positions_masks_qkv_explorer.ipynb": [
        md("""
# Positional encoding, the causal mask, Q/K/V step by step, and interesting heads

The explanatory figures of the classic attention tutorials, computed by the engine: the
sinusoidal position encoding, raw scores next to causally masked ones, one query's scores,
softmax weights and weighted values, and an explorer that ranks the heads by what they do.
"""),
        code(SETUP),
        md("## Sinusoidal position encoding (Vaswani et al., 2017)"),
        code('''gaze.position_encoding(positions=50, dim=64, plotted=[0, 10, 20])'''),
        md("## The causal mask\n\nGPT-2's scores before and after the mask (masked cells are -inf, "
           "so softmax gives them exactly 0). " + REAL.format(name="gpt2")),
        code('''gpt2 = gaze.load(SHARED / "golden" / "gpt2-tiny")
g = gpt2.run("The cat sat on the mat because it was tired.")
gaze.causal_mask(g, layer=0, head=1)'''),
        md("## Q, K, V step by step\n\n`gaze.qkv` recomputes one head's queries, keys and values from the "
           "layer's weights; the softmax of its masked scores is exactly the attention the model recorded."),
        code('''c = gaze.qkv(g, layer=0, head=1)
print({k: v.shape for k, v in c.items() if isinstance(v, np.ndarray)})
scores = c["q"] @ c["k"].T * c["scale"]
masked = np.where(np.tril(np.ones_like(scores)) > 0, scores, -np.inf)
weights = np.exp(masked - masked.max(-1, keepdims=True))
weights /= weights.sum(-1, keepdims=True)
print("max |softmax(masked q.k) - recorded attention| =", np.abs(weights - g.attentions[0, 1]).max())'''),
        code('''gaze.step(g, layer=0, head=1, focus=4)   # token 4: scores, weights, weighted values, their sum'''),
        code('''gaze.explain(g, layer=0, head=1, focus=4)   # the same, interactive'''),
        md("## An explorer with the interesting heads\n\n`gaze.heads` classifies every head (attends to "
           "itself, the previous or next token, the first token, separators, or broadly) and ranks them. "
           "On the trained transliteration model the patterns are real."),
        code('''aren = gaze.load(SHARED / "models" / "aren-transliteration")
a = aren.run("آ ت ز م و ن")
ranked = gaze.heads(a)
for p in ranked[:6]:
    print(f"{p['stack']:8} layer {p['layer']} head {p['head']}: {p['role']:9} score {p['score']:.2f}")
best = ranked[0]
gaze.head_view(a, layer=best["layer"], head=best["head"], block="encoder self" if best["stack"] == "encoder" else "decoder self")'''),
    ],
    "03_small_gpt_from_config.ipynb": [
        md("""
# A small GPT from a config (random init)

No checkpoint: `gaze.random_gpt2` builds a GPT-2 of any shape from a config, initialised as
Hugging Face initialises one, reading bytes (256 byte tokens plus `<|endoftext|>`). Then:
per-head, grid and average heatmaps, the top-3 attended tokens, and attention flow through the
layers. To look at the trained model instead: """ + REAL.format(name="gpt2")),
        code(SETUP),
        code('''config = {"model_type": "gpt2", "n_layer": 4, "n_head": 4, "n_embd": 64, "n_positions": 128, "vocab_size": 257}
gpt = gaze.random_gpt2(config=config, seed=0)
print(gpt.info)
text = "attention is all you need"
r = gpt.run(text)
print(len(r.tokens), "byte tokens; attentions", r.attentions.shape)'''),
        md("## One head, every head of a layer, each layer's average"),
        code('''gaze.heatmap(r, layer=0, head=2).figure()'''),
        code('''gaze.layer_heads(r, layer=0)'''),
        code('''gaze.layer_means(r)'''),
        md("## The top-3 attended tokens of each token (last layer, mean of heads)"),
        code('''for t in gaze.top_targets(r, layer=-1, head=-1, k=3):
    targets = ", ".join(f"{k!r} {w:.2f}" for k, w in zip(t["key_tokens"], t["weights"]))
    print(f"{t['query_position']:2} {t['query_token']!r:8} -> {targets}")'''),
        md("## Attention flow and rollout through the layers (Abnar & Zuidema, 2020)"),
        code('''flow = gaze.flow(r)
rollout = gaze.rollout(r)
print("flow", flow.shape, "rollout", rollout.shape)
gaze.matrix(r, flow, "Attention flow to the top layer")'''),
        code('''gaze.head_view(r, title="small GPT: " + text)'''),
    ],
    "04_toy_attention_numpy.ipynb": [
        md("""
# Toy attention from numpy arrays, with a padding mask

`gaze.attention(Q, K, V, mask=...)` runs the engine's scaled dot-product attention on your own
arrays: `[S, d]`, `[heads, S, d]` or `[batch, heads, S, d]`; `mask` marks real keys (1) and
padding (0), which get weight exactly 0. No model needed.
"""),
        code(SETUP),
        code('''tokens = ["I", "love", "cats", "[PAD]", "[PAD]"]
mask = np.array([1, 1, 1, 0, 0])
rng = np.random.default_rng(0)
d = 8
X = rng.standard_normal((len(tokens), d)).astype(np.float32)
Wq, Wk, Wv = (rng.standard_normal((d, d)).astype(np.float32) / np.sqrt(d) for _ in range(3))
Q, K, V = X @ Wq, X @ Wk, X @ Wv
out, weights = gaze.attention(Q, K, V, mask=mask)
print(weights.round(3))'''),
        md("The same by hand: scores `QK^T / sqrt(d)`, padding keys set to -inf, softmax over keys."),
        code('''scores = Q @ K.T / np.sqrt(d)
scores[:, mask == 0] = -np.inf
by_hand = np.exp(scores - scores.max(-1, keepdims=True))
by_hand /= by_hand.sum(-1, keepdims=True)
print("max difference:", np.abs(by_hand - weights).max(), "| weight on padding:", weights[:, mask == 0].max())
print("output matches weights @ V:", np.allclose(out, by_hand @ V, atol=1e-5))'''),
        code('''gaze.heatmap(weights, labels=tokens, title="Toy attention with a padding mask")'''),
        md("## Two heads, and a causal mask"),
        code('''heads = 2
Qh, Kh, Vh = (x.reshape(len(tokens), heads, d // heads).transpose(1, 0, 2) for x in (Q, K, V))
out_h, weights_h = gaze.attention(Qh, Kh, Vh, mask=mask)
print(weights_h.shape)
gaze.heatmap(weights_h, labels=tokens, title="Two heads")'''),
        code('''_, causal = gaze.attention(Q, K, V, causal=True)
gaze.heatmap(causal, labels=tokens, title="Causal: each token sees itself and the tokens before it")'''),
    ],
    "05_distilbert_find_head.ipynb": [
        md("""
# DistilBERT: attention maps, the head linking "Paris" and "French", heads side by side

The checkpoint is the random-weight DistilBERT of `../shared/golden` (real vocabulary): which
head wins means nothing here, but every step is what you run on the real model. """
           + REAL.format(name="distilbert-base-uncased")),
        code(SETUP),
        code('''db = gaze.load(SHARED / "golden" / "distilbert-tiny")
r = db.run("Emily always wanted to visit Paris so she took some French lessons")
print(r.tokens)
gaze.model_view(r)'''),
        code('''gaze.layer_means(r)'''),
        md("## Which head links Paris and French?\n\n`gaze.find_head` scores every head in both "
           "directions at word level (so a word split into pieces still counts as one word)."),
        code('''links = gaze.find_head(r, "paris", "french")
for l in links[:3]:
    print(f"layer {l['layer']} head {l['head']}: paris->french {l['from_to']:.3f}, french->paris {l['to_from']:.3f}")
best = links[0]
gaze.heatmap(r, best["layer"], best["head"], words=True).figure()'''),
        md("## Side by side: the three best heads on one colour scale"),
        code('''gaze.compare_heads(r, [(l["layer"], l["head"]) for l in links[:3]])'''),
        code('''gaze.head_view(r, layer=best["layer"], head=best["head"])'''),
    ],
}


def main():
    for name, cells in NOTEBOOKS.items():
        nb = new_notebook(cells=cells, metadata={
            "kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"},
            "language_info": {"name": "python"},
        })
        nbformat.validate(nb)
        (HERE / name).write_text(nbformat.writes(nb) + "\n", encoding="utf-8")
        print("wrote", HERE / name)


if __name__ == "__main__":
    main()
