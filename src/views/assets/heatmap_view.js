/* Heatmap view: one head, a layer's mean, or the rollout / flow, as a
 * labelled matrix on a canvas (values on hover; masked cells hatched). */
(function () {
  'use strict';
  const GZ = window.GZ;

  GZ.HEAD_MEAN = -1;
  GZ.HEAD_ROLLOUT = -2;
  GZ.HEAD_FLOW = -3;

  // The matrix [Q*K] and its title for ctx.head.
  GZ.headMatrix = function (ctx) {
    const b = ctx.block, a = ctx.data.analysis || {};
    const n = b.Q * b.K;
    if (ctx.head === GZ.HEAD_ROLLOUT && a.rollout) {
      return { m: a.rollout.values.subarray(ctx.layer * n, (ctx.layer + 1) * n),
        title: 'Attention rollout through layers 0-' + ctx.layer };
    }
    if (ctx.head === GZ.HEAD_FLOW && a.flow) {
      return { m: a.flow.values, title: 'Attention flow to the top layer' };
    }
    if (ctx.head >= 0) return { m: GZ.head(b, ctx.layer, ctx.head), title: 'Layer ' + ctx.layer + ', Head ' + ctx.head };
    return { m: GZ.mean(b, ctx.layer), title: 'Layer ' + ctx.layer + ', mean of ' + b.heads + ' heads' };
  };

  // The view row holding query piece q (rows may be words), or -1.
  GZ.viewRow = function (v, q) {
    for (let r = 0; r < v.R; r++) if (v.rows[r].first <= q && q <= v.rows[r].last) return r;
    return -1;
  };

  // The picked query row's strongest keys, as a small table.
  GZ.rowTable = function (v, r, title) {
    const order = [];
    for (let c = 0; c < v.C; c++) if (!v.masked[r * v.C + c]) order.push(c);
    order.sort((x, y) => v.values[r * v.C + y] - v.values[r * v.C + x]);
    const table = GZ.el('table', { class: 'gz-step gz-rowtop', id: 'gz-row-top' }, [
      GZ.el('tr', {}, ['key', 'token', 'weight'].map((t) => GZ.el('th', { text: t }))),
    ]);
    for (const c of order.slice(0, 10)) {
      table.appendChild(GZ.el('tr', {}, [
        GZ.el('td', { text: String(v.cols[c].first) }),
        GZ.el('td', { class: 'gz-tokcell', text: GZ.label(v.cols[c].text), title: v.cols[c].raw }),
        GZ.el('td', { text: GZ.fmt(v.values[r * v.C + c], 4) }),
      ]));
    }
    return GZ.el('div', { class: 'gz-rowinfo', id: 'gz-rowinfo' }, [GZ.el('h3', { text: title }), table]);
  };

  // Pixels per cell: the zoom choice, or what fits 560 px; canvases stay under 8192 px a side.
  function cellSize(n, zoom) {
    const fit = Math.max(1, Math.min(32, Math.floor(560 / n)));
    return Math.max(1, Math.min(zoom > 0 ? zoom : fit, Math.floor(8192 / n)));
  }

  GZ.drawHeatmap = function (container, ctx) {
    const chosen = GZ.headMatrix(ctx);
    const v = GZ.view(ctx.block, chosen.m, ctx.opts);
    const n = Math.max(v.R, v.C, 1);
    const cs = cellSize(n, ctx.zoom);
    const font = cs >= 9 ? Math.min(12, cs - 1) : 0;
    const canvas = GZ.el('canvas', { class: 'gz-heatmap-canvas', id: 'gz-heatmap-canvas' });
    const g = canvas.getContext('2d');
    g.font = font + 'px sans-serif';
    let rowW = 0, colH = 0;
    if (font) {
      for (const r of v.rows) rowW = Math.max(rowW, g.measureText(GZ.label(r.text, 18)).width);
      for (const c of v.cols) colH = Math.max(colH, g.measureText(GZ.label(c.text, 18)).width);
    }
    const left = Math.ceil(rowW) + 8, top = Math.ceil(colH) + 8;
    canvas.width = left + v.C * cs + 4;
    canvas.height = top + v.R * cs + 4;
    g.fillStyle = '#fff';
    g.fillRect(0, 0, canvas.width, canvas.height);
    const scale = GZ.scale(v.values, v.masked, ctx.log);
    if (cs >= 5) {
      for (let r = 0; r < v.R; r++) {
        for (let c = 0; c < v.C; c++) {
          const x = left + c * cs, y = top + r * cs;
          if (v.masked[r * v.C + c]) {
            GZ.maskedCell(g, x, y, cs, cs);
          } else {
            g.fillStyle = GZ.rgb(scale.color(v.values[r * v.C + c]));
            g.fillRect(x, y, cs, cs);
          }
        }
      }
    } else {
      // Small cells (long inputs): one pixel block per cell through ImageData.
      const image = g.createImageData(v.C * cs, v.R * cs);
      const w = v.C * cs;
      for (let r = 0; r < v.R; r++) {
        for (let c = 0; c < v.C; c++) {
          const col = v.masked[r * v.C + c] ? GZ.MASKED : scale.color(v.values[r * v.C + c]);
          for (let dy = 0; dy < cs; dy++) {
            for (let dx = 0; dx < cs; dx++) {
              const at = 4 * ((r * cs + dy) * w + c * cs + dx);
              image.data[at] = col[0];
              image.data[at + 1] = col[1];
              image.data[at + 2] = col[2];
              image.data[at + 3] = 255;
            }
          }
        }
      }
      g.putImageData(image, left, top);
    }
    const picked = ctx.query >= 0 ? GZ.viewRow(v, ctx.query) : -1;
    if (picked >= 0) {
      g.strokeStyle = '#e4002b';
      g.lineWidth = Math.max(1, Math.min(2, cs / 3));
      g.strokeRect(left - 1, top + picked * cs - 1, v.C * cs + 2, cs + 2);
    }
    if (font) {
      g.fillStyle = '#222';
      g.font = font + 'px sans-serif';
      g.textAlign = 'right';
      g.textBaseline = 'middle';
      v.rows.forEach((r, i) => g.fillText(GZ.label(r.text, 18), left - 4, top + i * cs + cs / 2));
      g.save();
      g.textAlign = 'left';
      v.cols.forEach((c, j) => {
        g.save();
        g.translate(left + j * cs + cs / 2, top - 4);
        g.rotate(-Math.PI / 2);
        g.fillText(GZ.label(c.text, 18), 0, 0);
        g.restore();
      });
      g.restore();
    }

    const tip = GZ.el('div', { class: 'gz-tooltip', id: 'gz-tooltip' });
    const cellAt = (e) => {
      const rect = canvas.getBoundingClientRect();
      const x = ((e.clientX - rect.left) * canvas.width) / rect.width - left;
      const y = ((e.clientY - rect.top) * canvas.height) / rect.height - top;
      const c = Math.floor(x / cs), r = Math.floor(y / cs);
      return x < 0 || y < 0 || r >= v.R || c >= v.C ? null : { r: r, c: c };
    };
    canvas.addEventListener('mousemove', (e) => {
      const at = cellAt(e);
      if (!at) {
        tip.style.display = 'none';
        return;
      }
      const { r, c } = at;
      const value = v.masked[r * v.C + c] ? 'masked' : GZ.fmt(v.values[r * v.C + c], 4);
      tip.textContent = v.rows[r].first + ' ' + GZ.label(v.rows[r].text) + ' \u2192 ' + v.cols[c].first + ' ' + GZ.label(v.cols[c].text) + ': ' + value;
      tip.style.display = 'block';
      tip.style.left = e.clientX + 14 + 'px';
      tip.style.top = e.clientY + 10 + 'px';
    });
    canvas.addEventListener('mouseleave', () => (tip.style.display = 'none'));
    canvas.addEventListener('click', (e) => {
      const at = cellAt(e);
      if (at && ctx.setQuery) ctx.setQuery(v.rows[at.r].first);
    });

    GZ.clear(container);
    container.appendChild(GZ.el('h2', { class: 'gz-figure-title', id: 'gz-heatmap-title', text: chosen.title + ' \u00b7 ' + ctx.block.label }));
    const axisX = GZ.el('div', { class: 'gz-axis-x', text: 'Key (attended to)' });
    const axisY = GZ.el('div', { class: 'gz-axis-y', text: 'Query (attending from)' });
    const body = GZ.el('div', { class: 'gz-heatmap' }, [
      axisY,
      GZ.el('div', { class: 'gz-heatmap-main' }, [axisX, GZ.el('div', { class: 'gz-scroll gz-heatmap-scroll', id: 'gz-heatmap-scroll' }, [canvas])]),
      GZ.colorBar(scale, ctx.log ? 'weight (log)' : 'weight', false),
    ]);
    container.appendChild(body);
    if (!font) container.appendChild(GZ.el('p', { class: 'gz-note', text: 'Too many tokens for labels at this size: zoom in, hover a cell to read it, or click it to pick its query row.' }));
    const r = picked >= 0 ? picked : v.R - 1;
    if (r >= 0) container.appendChild(GZ.rowTable(v, r, 'Query ' + v.rows[r].first + ' ' + GZ.label(v.rows[r].text) + ': strongest keys'));
    container.appendChild(tip);
  };
})();
