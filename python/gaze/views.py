"""Views for notebooks: the self-contained gaze viewer inline, and figures.

The viewer is the page `gaze view` writes (scripts, styles and data inline,
no network). In a notebook it is shown inside an <iframe srcdoc=...>: the
page keeps its own document (its styles and element ids cannot clash with the
notebook's or another view's), its scripts run without any kernel, and it
renders the same in Jupyter, VS Code and an exported HTML file.
"""
from __future__ import annotations

import html as _html
import json as _json

import numpy as _np

from . import _core

_TABS = ("head", "model", "heatmap", "explain")


class View:
    """The gaze viewer opened on one tab (head, model, heatmap, explain).

    _repr_html_ shows it inline; .html() is the whole page; .save(path)
    writes .html (the page), .svg or .png (the static figure, .figure());
    .to_svg() and _repr_png_ give that figure too.
    """

    def __init__(self, result, view="head", layer=None, head=None, block=None, explain_layer=0, focus=None,
                 title=None, height=760, figure=None):
        if view not in _TABS:
            raise _core.Error(f"view '{view}': expected one of {', '.join(_TABS)}")
        labels = list(result.blocks)
        if block is not None and block not in labels:
            raise _core.Error(f"block '{block}': this result has {', '.join(repr(x) for x in labels)}")
        self.result, self.view, self.layer, self.head, self.block = result, view, layer, head, block
        self.explain_layer, self.focus, self.height = explain_layer, focus, int(height)
        self.title = title or f"gaze: {view} view"
        self._figure = figure

    # ---- the page ---------------------------------------------------------------
    def html(self) -> str:
        """The complete, self-contained viewer page."""
        page = _core._page_html(self.result, self.title, self.explain_layer)
        return page.replace("</body>", self._select_script() + "</body>", 1)

    def _select_script(self) -> str:
        """Opens the page on this view's tab, block, layer and head, and (inside
        a notebook's iframe) fits the frame to the page's height."""
        labels = list(self.result.blocks)
        state = {
            "view": self.view,
            "block": labels.index(self.block) if self.block is not None else None,
            "layer": self.layer,
            "head": self.head if self.head is not None and self.head >= 0 else None,
        }
        return ("<script>(function () {\n"
                f"  const want = {_json.dumps(state)};\n"
                "  function pick(id, value) {\n"
                "    const el = document.getElementById(id);\n"
                "    if (!el || value === null) return;\n"
                "    if (id === 'gz-layer' && value < 0) value += el.options.length;\n"
                "    el.value = String(value);\n"
                "    el.dispatchEvent(new Event('change'));\n"
                "  }\n"
                "  pick('gz-block', want.block);\n"
                "  pick('gz-layer', want.layer);\n"
                "  pick('gz-head', want.head);\n"
                "  const tab = document.getElementById('gz-tab-' + want.view);\n"
                "  if (tab) tab.click();\n"
                "  try {\n"
                "    const frame = window.frameElement;\n"
                "    if (frame) {\n"
                "      const fit = () => { frame.style.height = Math.min(2400, document.documentElement.scrollHeight + 16) + 'px'; };\n"
                "      fit();\n"
                "      new ResizeObserver(fit).observe(document.body);\n"
                "    }\n"
                "  } catch (e) { /* a cross-origin frame keeps its fixed height */ }\n"
                "})();</script>\n")

    def _repr_html_(self) -> str:
        return (f'<iframe class="gaze-view" title="{_html.escape(self.title)}" '
                f'style="width:100%;height:{self.height}px;border:1px solid #ddd;border-radius:4px" '
                f'srcdoc="{_html.escape(self.html(), quote=True)}"></iframe>')

    # ---- the static figure --------------------------------------------------------
    def figure(self) -> _core.Figure:
        if self._figure is None:
            r, block = self.result, self.block or ""
            if self.view == "model":
                self._figure = _core._layer_means_figure(r, block)
            elif self.view == "explain":
                self._figure = _core._step_figure(r, self.explain_layer, self.head or 0,
                                                  1 if self.focus is None else self.focus)
            else:
                self._figure = _core._head_figure(r, -1 if self.layer is None else self.layer,
                                                  -1 if self.head is None else self.head, block, False, False)
        return self._figure

    def to_svg(self) -> str:
        return self.figure().to_svg()

    def _repr_png_(self) -> bytes:
        return self.figure().to_png(1.0)

    def save(self, path: str) -> str:
        """.html: the viewer page; .svg / .png: the static figure."""
        p = str(path)
        if p.endswith((".html", ".htm")):
            with open(p, "w", encoding="utf-8") as f:
                f.write(self.html())
        elif p.endswith((".svg", ".png")):
            self.figure().save(p)
        else:
            raise _core.Error(f"{p}: save as .html, .svg or .png")
        return p

    def __repr__(self) -> str:
        return f"<gaze.View {self.view} of {self.result!r}>"


def head_view(result, layer=None, head=None, block=None, title=None) -> View:
    """Tokens on both sides, lines weighted by attention (bertviz's head view)."""
    return View(result, "head", layer=layer, head=head, block=block, title=title)


def model_view(result, block=None, title=None) -> View:
    """Every layer x head at once (bertviz's model view); block='cross' for
    an encoder-decoder's cross-attention."""
    return View(result, "model", block=block, title=title)


def heatmap(result, layer=-1, head=-1, block=None, words=False, log_scale=False, labels=None, titles=None,
            title=""):
    """One head (head=-1: the mean over heads) as a query x key heatmap.

    With a Result: the viewer on its heatmap tab (.figure() / .to_svg() the
    same heatmap as a static figure). With a numpy array [q, k] or
    [heads, q, k] (e.g. from gaze.attention): a gaze.Figure, labelled with
    `labels` (one list, or (query labels, key labels)).
    """
    if isinstance(result, _core.Result):
        fig = _core._head_figure(result, layer, head, block or "", bool(words), bool(log_scale))
        return View(result, "heatmap", layer=layer, head=head, block=block, figure=fig)
    values = _np.asarray(result, dtype=_np.float32)
    if values.ndim == 2:
        values = values[None]
    if values.ndim != 3:
        raise _core.Error(f"heatmap: expected a Result or an array [q, k] / [heads, q, k], got shape {values.shape}")
    rows, cols = (labels if labels is not None and len(labels) == 2 and not isinstance(labels[0], str)
                  else (labels, labels))
    rows = [str(x) for x in (rows or [])]
    cols = [str(x) for x in (cols or [])]
    names = list(titles) if titles is not None else ([f"Head {h}" for h in range(len(values))] if len(values) > 1 else [""])
    return _core._array_figure([_np.ascontiguousarray(v) for v in values], names, rows, cols, title, False)


def explain(result, layer=0, head=0, focus=1, title=None) -> View:
    """Step by step: q.k scores, the mask, softmax weights, weighted values
    (for families whose q/k/v gaze can recompute: BERT, DistilBERT, GPT-2,
    the Transformer)."""
    return View(result, "explain", head=head, explain_layer=layer, focus=focus, title=title)


def layer_heads(result, layer=-1, block=None) -> _core.Figure:
    """Every head of one layer in a grid."""
    return _core._layer_heads_figure(result, layer, block or "")


def layer_means(result, block=None) -> _core.Figure:
    """Each layer's attention averaged over its heads."""
    return _core._layer_means_figure(result, block or "")


def compare_heads(result, heads, block=None) -> _core.Figure:
    """Chosen (layer, head) pairs side by side on one colour scale."""
    return _core._compare_heads_figure(result, [(int(l), int(h)) for l, h in heads], block or "")


def matrix(result, values, title="", block=None) -> _core.Figure:
    """A token x token matrix (a rollout layer, the flow) labelled with the result's tokens."""
    return _core._token_matrix_figure(result, _np.ascontiguousarray(values, dtype=_np.float32), title, block or "")


def position_encoding(positions=50, dim=64, plotted=()) -> _core.Figure:
    """The sinusoidal position encoding (Vaswani et al.) as a heatmap, with a
    few positions' vectors plotted."""
    return _core._position_encoding_figure(int(positions), int(dim), [int(p) for p in plotted])


def causal_mask(result, layer=0, head=0) -> _core.Figure:
    """Raw scores next to the causally masked scores (masked cells -inf)."""
    return _core._causal_mask_figure(result, layer, head)


def step(result, layer=0, head=0, focus=1) -> _core.Figure:
    """One query token in one head: scores, weights, weighted values, their sum."""
    return _core._step_figure(result, layer, head, focus)
