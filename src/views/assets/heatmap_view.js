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

  GZ.drawHeatmap = function (container, ctx) {
    const chosen = GZ.headMatrix(ctx);
    const v = GZ.view(ctx.block, chosen.m, ctx.opts);
    const n = Math.max(v.R, v.C, 1);
    const cs = Math.max(3, Math.min(32, Math.floor(560 / n)));
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
    canvas.addEventListener('mousemove', (e) => {
      const rect = canvas.getBoundingClientRect();
      const x = ((e.clientX - rect.left) * canvas.width) / rect.width - left;
      const y = ((e.clientY - rect.top) * canvas.height) / rect.height - top;
      const c = Math.floor(x / cs), r = Math.floor(y / cs);
      if (x < 0 || y < 0 || r >= v.R || c >= v.C) {
        tip.style.display = 'none';
        return;
      }
      const value = v.masked[r * v.C + c] ? 'masked' : GZ.fmt(v.values[r * v.C + c], 4);
      tip.textContent = GZ.label(v.rows[r].text) + ' \u2192 ' + GZ.label(v.cols[c].text) + ': ' + value;
      tip.style.display = 'block';
      tip.style.left = e.clientX + 14 + 'px';
      tip.style.top = e.clientY + 10 + 'px';
    });
    canvas.addEventListener('mouseleave', () => (tip.style.display = 'none'));

    GZ.clear(container);
    container.appendChild(GZ.el('h2', { class: 'gz-figure-title', id: 'gz-heatmap-title', text: chosen.title + ' \u00b7 ' + ctx.block.label }));
    const axisX = GZ.el('div', { class: 'gz-axis-x', text: 'Key (attended to)' });
    const axisY = GZ.el('div', { class: 'gz-axis-y', text: 'Query (attending from)' });
    const body = GZ.el('div', { class: 'gz-heatmap' }, [
      axisY,
      GZ.el('div', { class: 'gz-heatmap-main' }, [axisX, GZ.el('div', { class: 'gz-scroll gz-heatmap-scroll' }, [canvas])]),
      GZ.colorBar(scale, ctx.log ? 'weight (log)' : 'weight', false),
    ]);
    container.appendChild(body);
    if (!font) container.appendChild(GZ.el('p', { class: 'gz-note', text: 'Too many tokens for labels at this size: hover a cell to read it.' }));
    container.appendChild(tip);
  };
})();
