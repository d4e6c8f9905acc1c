/* Explain view: the seeds' explanatory figures from the real model.
 *  - sinusoidal position encoding (positions x dimensions) and a few vectors;
 *  - the causal mask: raw scores q.k/sqrt(d) next to the masked scores;
 *  - one focus token in one head, step by step: scores, softmax weights,
 *    weighted value vectors and their sum (the head's output). */
(function () {
  'use strict';
  const GZ = window.GZ;

  function section(title, text) {
    return GZ.el('section', { class: 'gz-explain' }, [GZ.el('h3', { text: title }), GZ.el('p', { class: 'gz-note', text: text })]);
  }

  // A diverging-colour matrix on a canvas; cells where masked(i, j) are hatched.
  function matrixCanvas(values, rows, cols, max, masked, id) {
    const cs = Math.max(2, Math.min(24, Math.floor(360 / Math.max(rows, cols))));
    const canvas = GZ.el('canvas', { width: cols * cs, height: rows * cs, class: 'gz-matrix', id: id });
    const g = canvas.getContext('2d');
    for (let i = 0; i < rows; i++) {
      for (let j = 0; j < cols; j++) {
        if (masked && masked(i, j)) {
          GZ.maskedCell(g, j * cs, i * cs, cs, cs);
          if (cs >= 18) {
            g.fillStyle = '#666';
            g.font = Math.floor(cs / 2.4) + 'px sans-serif';
            g.textAlign = 'center';
            g.textBaseline = 'middle';
            g.fillText('-\u221e', j * cs + cs / 2, i * cs + cs / 2);
          }
        } else {
          g.fillStyle = GZ.rgb(GZ.diverging(max > 0 ? values[i * cols + j] / max : 0));
          g.fillRect(j * cs, i * cs, cs, cs);
        }
      }
    }
    return canvas;
  }

  function positionSection(data) {
    const p = data.position;
    const s = section('Sinusoidal position encoding',
      'PE[p, 2i] = sin(p / 10000^(2i/D)), PE[p, 2i+1] = cos(p / 10000^(2i/D)): each position gets a unique pattern, ' +
      'fast waves in the first dimensions, slow ones in the last. ' + p.positions + ' positions x ' + p.dim + ' dimensions.');
    const canvas = matrixCanvas(p.values, p.positions, p.dim, 1, null, 'gz-pe-canvas');
    canvas.style.width = Math.min(720, Math.max(240, p.dim * 3)) + 'px';
    canvas.style.height = Math.min(360, Math.max(120, p.positions * 3)) + 'px';
    canvas.style.imageRendering = 'pixelated';
    s.appendChild(GZ.el('div', { class: 'gz-row' }, [
      GZ.el('div', { class: 'gz-axis-y', text: 'Position' }),
      GZ.el('div', {}, [GZ.el('div', { class: 'gz-axis-x', text: 'Dimension' }), canvas]),
      GZ.colorBar({ max: 1 }, 'value', true, true),
    ]));
    // A few positions' vectors.
    const chosen = [...new Set([0, 1, Math.min(10, p.positions - 1), p.positions - 1])];
    const w = 640, h = 150;
    const svg = GZ.svg('svg', { width: w + 160, height: h + 40, class: 'gz-pe-lines' });
    svg.appendChild(GZ.svg('line', { x1: 40, y1: h / 2 + 10, x2: 40 + w, y2: h / 2 + 10, stroke: '#ccc' }));
    for (const v of [1, 0, -1]) svg.appendChild(GZ.svg('text', { x: 34, y: 14 + ((1 - v) / 2) * h, 'text-anchor': 'end', 'font-size': 10 }, String(v)));
    chosen.forEach((pos, k) => {
      const pts = [];
      for (let j = 0; j < p.dim; j++) {
        pts.push((40 + (w * j) / Math.max(1, p.dim - 1)).toFixed(1) + ',' + (10 + ((1 - p.values[pos * p.dim + j]) / 2) * h).toFixed(1));
      }
      const color = GZ.headColor(k, 12);
      svg.appendChild(GZ.svg('polyline', { points: pts.join(' '), fill: 'none', stroke: color, 'stroke-width': 1.3 }));
      svg.appendChild(GZ.svg('line', { x1: w + 56, y1: 16 + k * 16, x2: w + 76, y2: 16 + k * 16, stroke: color, 'stroke-width': 2 }));
      svg.appendChild(GZ.svg('text', { x: w + 80, y: 20 + k * 16, 'font-size': 11 }, 'position ' + pos));
    });
    svg.appendChild(GZ.svg('text', { x: 40 + w / 2, y: h + 34, 'text-anchor': 'middle', 'font-size': 11 }, 'Dimension'));
    s.appendChild(svg);
    return s;
  }

  // scores, masked scores and softmax weights of one head of the explained layer.
  function computeHead(e, b, head) {
    const S = b.Q, d = e.head_dim, width = e.heads * d;
    const scores = new Float32Array(S * S), masked = new Uint8Array(S * S), weights = new Float32Array(S * S);
    for (let i = 0; i < S; i++) {
      let max = -Infinity;
      for (let j = 0; j < S; j++) {
        let dot = 0;
        for (let c = 0; c < d; c++) dot += e.q[i * width + head * d + c] * e.k[j * width + head * d + c];
        scores[i * S + j] = dot * e.scale;
        masked[i * S + j] = (e.causal && j > i) || !b.keys.valid[j] ? 1 : 0;
        if (!masked[i * S + j]) max = Math.max(max, scores[i * S + j]);
      }
      let sum = 0;
      for (let j = 0; j < S; j++) {
        const w = masked[i * S + j] ? 0 : Math.exp(scores[i * S + j] - max);
        weights[i * S + j] = w;
        sum += w;
      }
      for (let j = 0; j < S; j++) weights[i * S + j] = sum > 0 ? weights[i * S + j] / sum : 0;
    }
    return { S: S, d: d, width: width, scores: scores, masked: masked, weights: weights };
  }

  function maskSection(e, b, head, hc) {
    const s = section('Causal mask (layer ' + e.layer + ', head ' + head + ')',
      'Left: the raw scores q\u00b7k/\u221ad of every query (row) and key (column). Right: a decoder adds -\u221e to every key ' +
      'after the query, so after the softmax a token only sees itself and what came before.' +
      (e.causal ? ' This model is causal: the right is what it computes.' : ' This model attends both ways: the right shows what a causal mask would do.'));
    let max = 0;
    for (const v of hc.scores) max = Math.max(max, Math.abs(v));
    const raw = matrixCanvas(hc.scores, hc.S, hc.S, max, null, 'gz-scores-raw');
    const masked = matrixCanvas(hc.scores, hc.S, hc.S, max, (i, j) => j > i || !b.keys.valid[j], 'gz-scores-masked');
    s.appendChild(GZ.el('div', { class: 'gz-row' }, [
      GZ.el('figure', {}, [raw, GZ.el('figcaption', { text: 'raw scores' })]),
      GZ.el('figure', {}, [masked, GZ.el('figcaption', { text: 'masked scores (-\u221e above the diagonal)' })]),
      GZ.colorBar({ max: max }, 'score', true),
    ]));
    return s;
  }

  function stepSection(e, b, head, hc, ctx) {
    const S = hc.S, d = hc.d;
    const focus = Math.min(Math.max(ctx.focus, 0), S - 1);
    const s = section('Step by step: one token in layer ' + e.layer + ', head ' + head,
      'score = q\u00b7k/\u221ad for every key, softmax turns scores into weights, each value vector is scaled by its weight, ' +
      'and their sum is what this head outputs for the focus token. Pick the focus token:');
    const select = GZ.el('select', { id: 'gz-focus', onchange: (ev) => ctx.setFocus(Number(ev.target.value)) });
    b.queries.tokens.forEach((t, i) => select.appendChild(GZ.el('option', { value: i, text: i + ': ' + GZ.label(t), selected: i === focus })));
    s.appendChild(select);
    let smax = 1e-9, vmax = 1e-9;
    const out = new Float32Array(d);
    for (let j = 0; j < S; j++) {
      const w = hc.weights[focus * S + j];
      if (!hc.masked[focus * S + j]) smax = Math.max(smax, Math.abs(hc.scores[focus * S + j]));
      for (let c = 0; c < d; c++) {
        const x = w * e.v[j * hc.width + head * d + c];
        out[c] += x;
        vmax = Math.max(vmax, Math.abs(x));
      }
    }
    for (let c = 0; c < d; c++) vmax = Math.max(vmax, Math.abs(out[c]));
    const strip = (values) => {
      const cw = Math.max(3, Math.min(12, Math.floor(320 / d)));
      const canvas = GZ.el('canvas', { width: d * cw, height: 12, class: 'gz-strip' });
      const g = canvas.getContext('2d');
      values.forEach((x, c) => {
        g.fillStyle = GZ.rgb(GZ.diverging(x / vmax));
        g.fillRect(c * cw, 0, cw, 12);
      });
      return canvas;
    };
    const table = GZ.el('table', { class: 'gz-step', id: 'gz-step' });
    table.appendChild(GZ.el('tr', {}, ['key', 'score q\u00b7k/\u221ad', 'softmax weight', 'weight \u00d7 value (' + d + ' dims)']
      .map((t) => GZ.el('th', { text: t }))));
    for (let j = 0; j < S; j++) {
      const m = hc.masked[focus * S + j], w = hc.weights[focus * S + j], sc = hc.scores[focus * S + j];
      const bar = GZ.el('span', { class: 'gz-wbar' });
      bar.style.width = Math.round(80 * w) + 'px';
      const row = [];
      for (let c = 0; c < d; c++) row.push(w * e.v[j * hc.width + head * d + c]);
      table.appendChild(GZ.el('tr', { class: m ? 'gz-masked-row' : j === focus ? 'gz-focus-row' : '' }, [
        GZ.el('td', { class: 'gz-tokcell', text: GZ.label(b.keys.shown[j]) }),
        GZ.el('td', { text: m ? '-inf (masked)' : GZ.fmt(sc, 3) }),
        GZ.el('td', {}, [bar, GZ.el('span', { text: ' ' + GZ.fmt(w, 3) })]),
        GZ.el('td', {}, [strip(row)]),
      ]));
    }
    table.appendChild(GZ.el('tr', { class: 'gz-sum-row' }, [
      GZ.el('td', { text: 'sum' }), GZ.el('td'), GZ.el('td', { text: '= output of the head' }), GZ.el('td', {}, [strip(Array.from(out))]),
    ]));
    s.appendChild(table);
    // The recomputed weights against the attention the model itself reported.
    if (e.layer < b.layers) {
      const recorded = GZ.head(b, e.layer, head);
      let diff = 0;
      for (let j = 0; j < S; j++) if (!hc.masked[focus * S + j]) diff = Math.max(diff, Math.abs(recorded[focus * b.K + j] - hc.weights[focus * S + j]));
      s.appendChild(GZ.el('p', { class: 'gz-note', id: 'gz-step-check',
        text: 'Largest difference from the attention the model reported for this row: ' + diff.toExponential(1) + '.' }));
    }
    return s;
  }

  GZ.drawExplain = function (container, ctx) {
    const data = ctx.data, e = data.explain;
    GZ.clear(container);
    if (e) {
      const b = data.blocks[e.block];
      const head = ctx.head >= 0 && ctx.head < e.heads ? ctx.head : 0;
      const hc = computeHead(e, b, head);
      container.appendChild(stepSection(e, b, head, hc, ctx));
      container.appendChild(maskSection(e, b, head, hc));
    } else {
      container.appendChild(GZ.el('p', { class: 'gz-note',
        text: 'The step-by-step and causal-mask views need the queries, keys and values of a layer; they were not ' +
          'recorded for this model (the probe knows BERT, DistilBERT and GPT-2 weights).' }));
    }
    if (data.position) container.appendChild(positionSection(data));
  };
})();
