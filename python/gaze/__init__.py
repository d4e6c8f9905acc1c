"""gaze: see what a transformer attends to, from Python.

    import gaze
    m = gaze.load("../shared/golden/bert-tiny")
    r = m.run("Paris is the capital of France.")
    r.tokens            # ['[CLS]', 'paris', 'is', ...]
    r.attentions        # numpy [layers, heads, queries, keys]
    gaze.head_view(r)   # the self-contained viewer, inline in a notebook

The engine is C++ (gaze._core); forward passes run without the GIL. Every
error the library reports is a gaze.Error carrying its message.
"""
from __future__ import annotations

import numpy as _np

from . import _core
from ._core import (  # noqa: F401  (the public API)
    AttentionEvent,
    Encoding,
    Error,
    Figure,
    Generation,
    Model,
    Observer,
    Recorder,
    Request,
    Result,
    Statistics,
    Tokenizer,
    TopTargets,
    find_head,
    flow,
    heads,
    layer_summary,
    qkv,
    rollout,
    top_targets,
)
from .views import (  # noqa: F401
    View,
    causal_mask,
    compare_heads,
    explain,
    head_view,
    heatmap,
    layer_heads,
    layer_means,
    matrix,
    model_view,
    position_encoding,
    step,
)

__all__ = [
    "load", "random_gpt2", "attention", "Error", "Model", "Result", "Generation", "Tokenizer", "Encoding",
    "Observer", "Request", "AttentionEvent", "Recorder", "Statistics", "TopTargets",
    "find_head", "heads", "layer_summary", "rollout", "flow", "top_targets", "qkv",
    "View", "Figure", "head_view", "model_view", "heatmap", "explain", "layer_heads", "layer_means",
    "compare_heads", "matrix", "position_encoding", "causal_mask", "step",
]



def load(path: str, dtype: str = "f32", device: str = "cpu") -> Model:
    """Opens a model folder as published on the Hugging Face Hub (config.json,
    model.safetensors, tokenizer files): BERT, DistilBERT, GPT-2, T5, the
    classic Transformer, Llama / Mistral / Qwen2, and whatever else the
    library's registry knows. dtype: the linear layers' weights, "f32"
    (exact), "bf16" or "int8" (activations and attention stay float32; see
    docs/precision.md). device: "cpu" ("cuda" is refused with the reason until
    whole models run there)."""
    return _core._load(str(path), str(dtype).lower(), str(device).lower())


def random_gpt2(n_layer: int = 2, n_head: int = 4, n_embd: int = 64, n_positions: int = 128,
                vocab_size: int = 257, n_inner: int = 0, seed: int = 0, config: dict | None = None) -> Model:
    """A GPT-2 built from a config with random weights (initialised as Hugging
    Face does), reading bytes: no checkpoint needed. `config` may be a GPT-2
    config.json dict; its keys override the arguments."""
    shape = dict(n_layer=n_layer, n_head=n_head, n_embd=n_embd, n_positions=n_positions,
                 vocab_size=vocab_size, n_inner=n_inner or 0)
    for key, value in (config or {}).items():
        if key in shape:
            shape[key] = 0 if value is None else int(value)
    return _core._random_gpt2(seed=seed, **shape)


def attention(Q, K, V, mask=None, causal: bool = False, scale: float | None = None):
    """Scaled dot-product attention on your own arrays, computed by the engine.

    Q [..., Sq, d], K [..., Sk, d], V [..., Sk, d] with leading dims
    (), (heads,) or (batch, heads). mask: 1 (keep) / 0 (padding) per key,
    [Sk] or [batch, Sk]. causal: query i sees keys j <= i. scale defaults to
    1/sqrt(d). Returns (output [..., Sq, d], weights [..., Sq, Sk]); padded
    keys get weight exactly 0.
    """
    Q, K, V = (_np.asarray(x, dtype=_np.float32) for x in (Q, K, V))
    if not (Q.ndim == K.ndim == V.ndim) or Q.ndim not in (2, 3, 4):
        raise Error("attention: Q, K and V must all be [S, d], [heads, S, d] or [batch, heads, S, d]")
    lead = Q.shape[:-2]
    if K.shape[:-2] != lead or V.shape[:-2] != lead:
        raise Error(f"attention: leading dims differ: Q {Q.shape}, K {K.shape}, V {V.shape}")
    if Q.shape[-1] != K.shape[-1] or K.shape[-2] != V.shape[-2] or V.shape[-1] != Q.shape[-1]:
        raise Error(f"attention: shapes do not fit: Q {Q.shape}, K {K.shape}, V {V.shape} "
                    "(Q and K share d; K and V share Sk; V's width must equal d)")
    shaped = [x.reshape((1,) * (4 - x.ndim) + x.shape) for x in (Q, K, V)]
    batch, nheads = shaped[0].shape[:2]
    # [B, H, S, d] -> the engine's [B, S, H*d]
    q, k, v = (_np.ascontiguousarray(x.transpose(0, 2, 1, 3).reshape(batch, x.shape[2], -1)) for x in shaped)
    key_valid = None
    if mask is not None:
        m = _np.asarray(mask)
        if m.ndim == 1:
            m = _np.broadcast_to(m, (batch, m.shape[0]))
        key_valid = _np.ascontiguousarray(m != 0, dtype=_np.uint8)
    d = Q.shape[-1]
    out, weights = _core._attention(q, k, v, nheads, float(1.0 / _np.sqrt(d) if scale is None else scale),
                                    bool(causal), key_valid)
    out = out.reshape(batch, Q.shape[-2], nheads, d).transpose(0, 2, 1, 3)
    return out.reshape(lead + out.shape[2:]), weights.reshape(lead + weights.shape[2:])
