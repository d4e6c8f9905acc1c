/* Model view: every layer x head as a small heatmap (downsampled for long
 * inputs); clicking one opens it in the heatmap view. */
(function () {
  'use strict';
  const GZ = window.GZ;
  const THUMB = 64;  // thumbnail resolution (cells per side at most)

  // Average the view's cells into at most THUMB x THUMB bins.
  function denseBins(v) {
    const rows = Math.min(v.R, THUMB), cols = Math.min(v.C, THUMB);
    const sum = new Float32Array(rows * cols), count = new Float32Array(rows * cols), open = new Uint8Array(rows * cols);
    for (let r = 0; r < v.R; r++) {
      const br = Math.floor((r * rows) / v.R);
      for (let c = 0; c < v.C; c++) {
        const bc = Math.floor((c * cols) / v.C);
        const k = br * cols + bc;
        count[k] += 1;
        if (!v.masked[r * v.C + c]) {
          sum[k] += v.values[r * v.C + c];
          open[k] = 1;
        }
      }
    }
    return { rows: rows, cols: cols, sum: sum, count: count, open: open };
  }

  // First index of each of `bins` bins over n items (item x is in bin floor(x * bins / n)).
  function binStarts(n, bins) {
    const first = new Int32Array(bins + 1).fill(n);
    for (let x = n - 1; x >= 0; x--) first[Math.floor((x * bins) / n)] = x;
    for (let k = bins - 1; k >= 0; k--) first[k] = Math.min(first[k], first[k + 1]);
    return first;
  }

  // top_k blocks, straight from the stored rows: each row's even spread of the
  // rest is counted per bin, so a 2k x 2k head costs rows x (bins + k), not
  // rows x keys. Hides the first/special keys (and renormalises) like
  // GZ.view; pieces only (no word merging).
  function sparseBins(b, layer, head, opts) {
    const rows = Math.min(b.Q, THUMB), cols = Math.min(b.K, THUMB);
    const sum = new Float32Array(rows * cols), count = new Float32Array(rows * cols), open = new Uint8Array(rows * cols);
    const hidden = (side, j) => !!((opts.hideFirst && j === 0) || (opts.hideSpecial && side.special[j]));
    const shownBefore = new Int32Array(b.K + 1);
    for (let j = 0; j < b.K; j++) shownBefore[j + 1] = shownBefore[j] + (b.keys.valid[j] && !hidden(b.keys, j) ? 1 : 0);
    const anyHidden = shownBefore[b.K] !== b.openBefore[b.K];
    const colFirst = binStarts(b.K, cols), rowFirst = binStarts(b.Q, rows);
    for (let br = 0; br < rows; br++) {
      for (let bc = 0; bc < cols; bc++) count[br * cols + bc] = (rowFirst[br + 1] - rowFirst[br]) * (colFirst[bc + 1] - colFirst[bc]);
    }
    for (let i = 0; i < b.Q; i++) {
      if (!b.queries.valid[i] || hidden(b.queries, i)) continue;
      const br = Math.floor((i * rows) / b.Q), n = GZ.limit(b, i);
      const e = GZ.entries(b, layer, head, i);
      const others = b.openBefore[n] - e.keys.length;
      const spread = others > 0 ? e.rest / others : 0;
      let keptShown = 0, keptMass = 0;
      e.keys.forEach((key, k) => {
        if (b.keys.valid[key] && !hidden(b.keys, key)) {
          keptShown++;
          keptMass += e.values[k];
        }
      });
      const rowSum = spread * (shownBefore[n] - keptShown) + keptMass;
      const scale = opts.renorm && anyHidden && rowSum > 0 ? 1 / rowSum : 1;
      for (let bc = 0; bc < cols; bc++) {
        const lo = colFirst[bc], hi = Math.min(colFirst[bc + 1], n);
        if (lo >= hi) continue;
        sum[br * cols + bc] += spread * (shownBefore[hi] - shownBefore[lo]) * scale;
        open[br * cols + bc] = 1;
      }
      e.keys.forEach((key, k) => {
        if (b.keys.valid[key] && !hidden(b.keys, key)) sum[br * cols + Math.floor((key * cols) / b.K)] += (e.values[k] - spread) * scale;
      });
    }
    return { rows: rows, cols: cols, sum: sum, count: count, open: open };
  }

  function thumbnail(bins, log) {
    const rows = bins.rows, cols = bins.cols;
    const values = new Float32Array(rows * cols), masked = new Uint8Array(rows * cols);
    for (let k = 0; k < values.length; k++) {
      values[k] = bins.count[k] ? bins.sum[k] / bins.count[k] : 0;
      masked[k] = bins.open[k] ? 0 : 1;
    }
    const scale = GZ.scale(values, masked, log);
    const canvas = GZ.el('canvas', { width: cols, height: rows, class: 'gz-thumb-canvas' });
    const g = canvas.getContext('2d');
    const image = g.createImageData(cols, rows);
    for (let k = 0; k < values.length; k++) {
      const c = masked[k] ? GZ.MASKED : scale.color(values[k]);
      image.data.set([c[0], c[1], c[2], 255], 4 * k);
    }
    g.putImageData(image, 0, 0);
    return canvas;
  }

  // The first-token ("sink") mass of each head, from the page's analysis.
  GZ.sinkMass = function (data, block) {
    const out = new Map();
    for (const h of (data.analysis || {}).heads || []) if (h.block === block) out.set(h.layer * 100000 + h.head, h.first);
    return (layer, head) => out.get(layer * 100000 + head);
  };

  GZ.drawModelView = function (container, ctx, pick) {
    const b = ctx.block;
    const sink = GZ.sinkMass(ctx.data, ctx.blockIndex);
    const grid = GZ.el('div', { class: 'gz-model-grid', id: 'gz-model-grid' });
    grid.style.gridTemplateColumns = '3.5em repeat(' + b.heads + ', 72px)';
    grid.appendChild(GZ.el('div'));
    for (let h = 0; h < b.heads; h++) grid.appendChild(GZ.el('div', { class: 'gz-grid-head', text: 'H' + h }));
    for (let l = 0; l < b.layers; l++) {
      grid.appendChild(GZ.el('div', { class: 'gz-grid-head', text: 'L' + l }));
      for (let h = 0; h < b.heads; h++) {
        const bins = b.layout === 'top_k' ? sparseBins(b, l, h, ctx.opts) : denseBins(GZ.view(b, GZ.head(b, l, h), ctx.opts));
        const first = sink(l, h);
        const cell = GZ.el('button', {
          class: 'gz-thumb' + (l === ctx.layer && h === ctx.head ? ' gz-current' : ''),
          title: 'Layer ' + l + ', Head ' + h + (first === undefined ? '' : ', first-token mass ' + GZ.fmt(first, 2)) + ': click to open',
          'data-layer': l, 'data-head': h,
          onclick: () => pick(l, h),
        }, [thumbnail(bins, ctx.log)]);
        grid.appendChild(cell);
      }
    }
    GZ.clear(container);
    container.appendChild(GZ.el('p', {
      class: 'gz-note',
      text: b.label + ': ' + b.layers + ' layers x ' + b.heads + ' heads' +
        (Math.max(b.Q, b.K) > THUMB ? ' (thumbnails averaged down to ' + THUMB + ' cells a side' +
          (b.layout === 'top_k' && ctx.opts.words ? '; pieces, not words' : '') + ')' : '') +
        ' \u00b7 rows: queries, columns: keys \u00b7 click a head to open it',
    }));
    container.appendChild(GZ.el('div', { class: 'gz-scroll' }, [grid]));
  };
})();
