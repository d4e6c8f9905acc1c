/* gaze viewer, shared helpers: decoding the embedded data, colours, and the
 * matrix as drawn (special tokens or the first token hidden, rows
 * renormalised, sub-word pieces merged into words).
 * Token strings are only ever drawn with textContent (never innerHTML). */
'use strict';

(function () {
const GZ = (window.GZ = {});

GZ.bytes = function (b64) {
  const bin = atob(b64 || '');
  const out = new Uint8Array(bin.length);
  for (let i = 0; i < bin.length; i++) out[i] = bin.charCodeAt(i);
  return out;
};

// Little-endian uint16 probabilities -> floats in [0, 1].
GZ.u16 = function (b64) {
  const b = GZ.bytes(b64);
  const out = new Float32Array(b.length >> 1);
  for (let i = 0; i < out.length; i++) out[i] = (b[2 * i] | (b[2 * i + 1] << 8)) / 65535;
  return out;
};

GZ.f32 = function (b64) {
  const b = GZ.bytes(b64);
  const view = new DataView(b.buffer);
  const out = new Float32Array(b.length >> 2);
  for (let i = 0; i < out.length; i++) out[i] = view.getFloat32(4 * i, true);
  return out;
};

// Elements. `text` sets textContent; `on<event>` adds a listener.
GZ.el = function (tag, props, children) {
  const e = document.createElement(tag);
  for (const k in props || {}) {
    const v = props[k];
    if (v === undefined || v === null || v === false) continue;
    if (k === 'text') e.textContent = String(v);
    else if (k === 'class') e.className = v;
    else if (k.startsWith('on')) e.addEventListener(k.slice(2), v);
    else e.setAttribute(k, v === true ? '' : String(v));
  }
  for (const c of children || []) if (c) e.appendChild(c);
  return e;
};

GZ.svg = function (tag, attrs, text) {
  const e = document.createElementNS('http://www.w3.org/2000/svg', tag);
  for (const k in attrs || {}) e.setAttribute(k, String(attrs[k]));
  if (text !== undefined) e.textContent = String(text);
  return e;
};

GZ.clear = function (node) {
  while (node.firstChild) node.removeChild(node.firstChild);
};

// Shown form of a token (already readable: see display_tokens in analysis.hpp):
// control characters escaped, long ones shortened.
GZ.label = function (token, max) {
  let s = String(token).replace(/[\u0000-\u001f\u007f]/g, (c) => '\\x' + c.charCodeAt(0).toString(16).padStart(2, '0'));
  max = max || 30;
  if (s.length > max) s = s.slice(0, max - 1) + '\u2026';
  return s;
};

GZ.fmt = function (v, digits) {
  if (v === -Infinity) return '-inf';
  if (!isFinite(v)) return String(v);
  return v.toFixed(digits === undefined ? 3 : digits);
};

// ---- colours -----------------------------------------------------------------

function interpolate(stops, t) {
  t = Math.min(1, Math.max(0, isFinite(t) ? t : 0)) * (stops.length - 1);
  const i = Math.min(Math.floor(t), stops.length - 2);
  const f = t - i;
  return [0, 1, 2].map((k) => Math.round(stops[i][k] + (stops[i + 1][k] - stops[i][k]) * f));
}

const VIRIDIS = [[68, 1, 84], [71, 44, 122], [59, 81, 139], [44, 113, 142], [33, 144, 141],
  [39, 173, 129], [92, 200, 99], [170, 220, 50], [253, 231, 37]];
const DIVERGING = [[33, 102, 172], [103, 169, 207], [247, 247, 247], [239, 138, 98], [178, 24, 43]];
const HEAD_COLORS = ['#1f77b4', '#ff7f0e', '#2ca02c', '#d62728', '#9467bd', '#8c564b',
  '#e377c2', '#7f7f7f', '#bcbd22', '#17becf', '#393b79', '#ad494a'];

GZ.viridis = (t) => interpolate(VIRIDIS, t);
GZ.diverging = (t) => interpolate(DIVERGING, (t + 1) / 2);
GZ.rgb = (c) => 'rgb(' + c[0] + ',' + c[1] + ',' + c[2] + ')';
GZ.MASKED = [222, 222, 222];
GZ.headColor = function (h, heads) {
  if (heads <= HEAD_COLORS.length) return HEAD_COLORS[h % HEAD_COLORS.length];
  return 'hsl(' + Math.round((360 * h) / heads) + ', 70%, 42%)';
};

// A colour scale for probabilities: linear 0..max, or log10 from 1e-4.
GZ.scale = function (values, masked, log) {
  let max = 0;
  for (let i = 0; i < values.length; i++) if (!masked[i] && values[i] > max) max = values[i];
  if (max <= 0) max = 1;
  const lo = -4, hi = Math.log10(Math.max(max, 1e-4));
  const t = log ? (v) => (hi > lo ? (Math.log10(Math.max(v, 1e-4)) - lo) / (hi - lo) : 0) : (v) => v / max;
  return { max: max, log: log, t: t, color: (v) => GZ.viridis(t(v)) };
};

// ---- data -------------------------------------------------------------------------

// Blocks longer than this get the long-input drawing: lines and details of
// one query row at a time, pixel heatmaps, thumbnails straight from the rows.
GZ.LONG = 160;

GZ.prepare = function (data) {
  for (const b of data.blocks) {
    b.bytes = GZ.bytes(b.data);
    delete b.data;
    b.Q = b.queries.tokens.length;
    b.K = b.keys.tokens.length;
    for (const side of [b.queries, b.keys]) if (!side.shown) side.shown = side.tokens;
    prepareRows(b);
  }
  const a = data.analysis || {};
  if (a.rollout) a.rollout.values = GZ.u16(a.rollout.data);
  if (a.flow) a.flow.values = GZ.u16(a.flow.data);
  if (data.explain) for (const k of ['q', 'k', 'v']) data.explain[k] = GZ.f32(data.explain[k]);
  if (data.position) data.position.values = GZ.f32(data.position.data);
  return data;
};

// ---- the stored rows (src/views/page_encoding.hpp) ----------------------------------

// Keys 0..limit-1 of row i are stored (causal blocks: up to the diagonal).
GZ.limit = function (b, i) {
  return b.causal ? Math.max(0, Math.min(b.K, i + b.K - b.Q + 1)) : b.K;
};

function prepareRows(b) {
  const e = b.encoding || { layout: 'dense16', k: 0 };
  b.layout = e.layout;
  b.topK = e.k;
  b.rowStart = new Float64Array(b.Q + 1);
  for (let i = 0; i < b.Q; i++) {
    const n = GZ.limit(b, i);
    b.rowStart[i + 1] = b.rowStart[i] + (e.layout === 'dense16' ? 2 * n : e.layout === 'dense8' ? 2 + n : 4 + 3 * e.k);
  }
  b.plane = b.rowStart[b.Q];
  b.openBefore = new Int32Array(b.K + 1);
  for (let j = 0; j < b.K; j++) b.openBefore[j + 1] = b.openBefore[j] + (b.keys.valid[j] ? 1 : 0);
  b.cache = new Map();
  b.cached = 0;
}

const u16at = (bytes, at) => bytes[at] | (bytes[at + 1] << 8);

// Row i of a head into out[offset .. offset + K).
GZ.decodeRow = function (b, layer, head, i, out, offset) {
  offset = offset || 0;
  const bytes = b.bytes, at = (layer * b.heads + head) * b.plane + b.rowStart[i], n = GZ.limit(b, i);
  out.fill(0, offset, offset + b.K);
  if (b.layout === 'dense16') {
    for (let j = 0; j < n; j++) out[offset + j] = u16at(bytes, at + 2 * j) / 65535;
  } else if (b.layout === 'dense8') {
    const m = u16at(bytes, at) / 65535 / 255;
    for (let j = 0; j < n; j++) out[offset + j] = bytes[at + 2 + j] * m;
  } else {
    if (!b.queries.valid[i]) return out;
    const e = GZ.entries(b, layer, head, i);
    const others = b.openBefore[n] - e.keys.length;
    const spread = others > 0 ? e.rest / others : 0;
    for (let j = 0; j < n; j++) out[offset + j] = b.keys.valid[j] ? spread : 0;
    e.keys.forEach((key, k) => (out[offset + key] = e.values[k]));
  }
  return out;
};

// top_k rows: the kept keys and weights, and the rest's mass.
GZ.entries = function (b, layer, head, i) {
  const bytes = b.bytes, at = (layer * b.heads + head) * b.plane + b.rowStart[i], n = GZ.limit(b, i);
  const m = u16at(bytes, at) / 65535 / 255, rest = u16at(bytes, at + 2) / 65535;
  const keys = [], values = [];
  for (let k = 0; k < b.topK; k++) {
    const key = u16at(bytes, at + 4 + 3 * k);
    if (key === 0xffff || key >= n) continue;
    keys.push(key);
    values.push(bytes[at + 4 + 3 * k + 2] * m);
  }
  return { keys: keys, values: values, rest: rest };
};

// One head as a [Q*K] matrix, decoded on first use (a few recent ones kept).
GZ.head = function (b, layer, head) {
  const id = layer * b.heads + head;
  let m = b.cache.get(id);
  if (m) return m;
  m = new Float32Array(b.Q * b.K);
  for (let i = 0; i < b.Q; i++) GZ.decodeRow(b, layer, head, i, m, i * b.K);
  const budget = 1 << 25;  // cells kept decoded (128 MB)
  while (b.cache.size && b.cached + m.length > budget) {
    const first = b.cache.keys().next().value;
    b.cached -= b.cache.get(first).length;
    b.cache.delete(first);
  }
  b.cache.set(id, m);
  b.cached += m.length;
  return m;
};

GZ.mean = function (b, layer) {
  const n = b.Q * b.K;
  const out = new Float32Array(n);
  for (let h = 0; h < b.heads; h++) {
    const m = GZ.head(b, layer, h);
    for (let i = 0; i < n; i++) out[i] += m[i] / b.heads;
  }
  return out;
};

// One row of a head (head < 0: the mean of the layer's heads) as K weights.
GZ.row = function (b, layer, head, i) {
  const out = new Float32Array(b.K);
  if (head >= 0) return GZ.decodeRow(b, layer, head, i, out);
  const one = new Float32Array(b.K);
  for (let h = 0; h < b.heads; h++) {
    GZ.decodeRow(b, layer, h, i, one);
    for (let j = 0; j < b.K; j++) out[j] += one[j] / b.heads;
  }
  return out;
};

GZ.isMasked = function (b, i, j) {
  if (!b.queries.valid[i] || !b.keys.valid[j]) return true;
  return b.causal && j > i + (b.K - b.Q);
};

// Rows or columns as drawn: pieces (text as shown, raw as tokenized) or words.
function groups(side, words) {
  if (words) return side.words.map((w) => ({ first: w[0], last: w[1], text: w[2], raw: side.tokens.slice(w[0], w[1] + 1).join(' '), special: !!w[3] }));
  return side.tokens.map((t, i) => ({ first: i, last: i, text: side.shown[i], raw: t, special: !!side.special[i] }));
}
GZ.groups = groups;

// The matrix m [Q*K] of block b as drawn under opts {hideSpecial, hideFirst,
// renorm, words}: {rows, cols, R, C, values, masked}. Rows and columns are
// groups {first, last, text, special} of pieces.
GZ.view = function (b, m, opts) {
  opts = opts || {};
  const hidden = (g) => !!((opts.hideSpecial && g.special) || (opts.hideFirst && g.first === 0));
  const allRows = groups(b.queries, opts.words), allCols = groups(b.keys, opts.words);
  const rows = allRows.filter((g) => !hidden(g));
  const cols = allCols.filter((g) => !hidden(g));
  const dropped = rows.length !== allRows.length || cols.length !== allCols.length;
  const R = rows.length, C = cols.length;
  const values = new Float32Array(R * C), masked = new Uint8Array(R * C);
  for (let r = 0; r < R; r++) {
    const q = rows[r];
    const pieces = q.last - q.first + 1;
    let sum = 0;
    for (let c = 0; c < C; c++) {
      const k = cols[c];
      let v = 0, all = true;
      for (let i = q.first; i <= q.last; i++) {
        for (let j = k.first; j <= k.last; j++) {
          v += m[i * b.K + j];
          if (!GZ.isMasked(b, i, j)) all = false;
        }
      }
      values[r * C + c] = v / pieces;
      masked[r * C + c] = all ? 1 : 0;
      if (!all) sum += v / pieces;
    }
    if (opts.renorm && dropped && sum > 0) for (let c = 0; c < C; c++) values[r * C + c] /= sum;
  }
  return { rows: rows, cols: cols, R: R, C: C, values: values, masked: masked };
};

// Hatched masked cell on a 2D canvas.
GZ.maskedCell = function (g, x, y, w, h) {
  g.fillStyle = GZ.rgb(GZ.MASKED);
  g.fillRect(x, y, w, h);
  if (w >= 5 && h >= 5) {
    g.strokeStyle = '#a0a0a0';
    g.lineWidth = 1;
    g.beginPath();
    g.moveTo(x, y + h);
    g.lineTo(x + w, y);
    g.stroke();
  }
};

// A vertical colour bar with ticks, as a small DOM block.
GZ.colorBar = function (scale, label, diverging, noMasked) {
  const h = 160;
  const canvas = GZ.el('canvas', { width: 14, height: h, class: 'gz-colorbar' });
  const g = canvas.getContext('2d');
  for (let y = 0; y < h; y++) {
    const t = 1 - y / (h - 1);
    g.fillStyle = GZ.rgb(diverging ? GZ.diverging(2 * t - 1) : GZ.viridis(t));
    g.fillRect(0, y, 14, 1);
  }
  const ticks = GZ.el('div', { class: 'gz-ticks' });
  const values = diverging ? [scale.max, 0, -scale.max]
    : scale.log ? [scale.max, Math.sqrt(scale.max * 1e-4), 1e-4] : [scale.max, scale.max / 2, 0];
  for (const v of values) ticks.appendChild(GZ.el('div', { text: v !== 0 && Math.abs(v) < 1e-2 ? v.toExponential(0) : GZ.fmt(v, 2) }));
  return GZ.el('div', { class: 'gz-bar' }, [
    GZ.el('div', { class: 'gz-bar-label', text: label }),
    GZ.el('div', { class: 'gz-bar-body' }, [canvas, ticks]),
    noMasked ? null : GZ.el('div', { class: 'gz-bar-masked' }, [GZ.el('span', { class: 'gz-swatch' }), GZ.el('span', { text: 'masked' })]),
  ]);
};
})();
