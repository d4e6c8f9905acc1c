/* Model view: every layer x head as a small heatmap (downsampled for long
 * inputs); clicking one opens it in the heatmap view. */
(function () {
  'use strict';
  const GZ = window.GZ;
  const THUMB = 64;  // thumbnail resolution (cells per side at most)

  // Average the view's cells into at most THUMB x THUMB bins.
  function thumbnail(v, log) {
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
    const values = new Float32Array(rows * cols), masked = new Uint8Array(rows * cols);
    for (let k = 0; k < values.length; k++) {
      values[k] = count[k] ? sum[k] / count[k] : 0;
      masked[k] = open[k] ? 0 : 1;
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

  GZ.drawModelView = function (container, ctx, pick) {
    const b = ctx.block;
    const grid = GZ.el('div', { class: 'gz-model-grid', id: 'gz-model-grid' });
    grid.style.gridTemplateColumns = '3.5em repeat(' + b.heads + ', 72px)';
    grid.appendChild(GZ.el('div'));
    for (let h = 0; h < b.heads; h++) grid.appendChild(GZ.el('div', { class: 'gz-grid-head', text: 'H' + h }));
    for (let l = 0; l < b.layers; l++) {
      grid.appendChild(GZ.el('div', { class: 'gz-grid-head', text: 'L' + l }));
      for (let h = 0; h < b.heads; h++) {
        const v = GZ.view(b, GZ.head(b, l, h), ctx.opts);
        const cell = GZ.el('button', {
          class: 'gz-thumb' + (l === ctx.layer && h === ctx.head ? ' gz-current' : ''),
          title: 'Layer ' + l + ', Head ' + h + ': click to open',
          'data-layer': l, 'data-head': h,
          onclick: () => pick(l, h),
        }, [thumbnail(v, ctx.log)]);
        grid.appendChild(cell);
      }
    }
    GZ.clear(container);
    container.appendChild(GZ.el('p', {
      class: 'gz-note',
      text: b.label + ': ' + b.layers + ' layers x ' + b.heads + ' heads' +
        (Math.max(b.Q, b.K) > THUMB ? ' (thumbnails averaged down to ' + THUMB + ' cells a side)' : '') +
        ' \u00b7 rows: queries, columns: keys \u00b7 click a head to open it',
    }));
    container.appendChild(GZ.el('div', { class: 'gz-scroll' }, [grid]));
  };
})();
