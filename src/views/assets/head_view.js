/* Head view: query tokens on the left, key tokens on the right, one line per
 * (query, key, head) whose opacity is the weight, one colour per head.
 * Hovering a token shows only its lines, and beside the other column one
 * small box per head whose opacity is that head's weight. */
(function () {
  'use strict';
  const GZ = window.GZ;

  // Long inputs: one query row q of one head as a 1 x C view (pieces; the
  // first/special keys hidden and the row renormalised as GZ.view does).
  GZ.rowView = function (b, layer, head, q, opts) {
    const hidden = (side, j) => !!((opts.hideSpecial && side.special[j]) || (opts.hideFirst && j === 0));
    const row = GZ.row(b, layer, head, q);
    const cols = GZ.groups(b.keys, false).filter((g) => !hidden(b.keys, g.first));
    const C = cols.length, values = new Float32Array(C), masked = new Uint8Array(C);
    let sum = 0;
    cols.forEach((g, c) => {
      values[c] = row[g.first];
      masked[c] = GZ.isMasked(b, q, g.first) ? 1 : 0;
      if (!masked[c]) sum += values[c];
    });
    if (opts.renorm && C !== b.K && sum > 0) for (let c = 0; c < C; c++) values[c] /= sum;
    return { rows: [GZ.groups(b.queries, false)[q]], cols: cols, R: 1, C: C, values: values, masked: masked };
  };

  GZ.drawHeadView = function (container, ctx) {
    const b = ctx.block;
    const heads = ctx.heads;
    const long = Math.max(b.Q, b.K) > GZ.LONG;
    const q = Math.min(ctx.query >= 0 ? ctx.query : b.Q - 1, b.Q - 1);
    const viewOf = (h) => (long ? GZ.rowView(b, ctx.layer, h, q, ctx.opts) : GZ.view(b, GZ.head(b, ctx.layer, h), ctx.opts));
    const views = heads.map(viewOf);
    const first = views.length ? views[0] : viewOf(0);
    const R = first.R, C = first.C;
    const n = long ? C : Math.max(R, C);
    // Only the picked query row's lines (long inputs: the only row there is).
    const pickedRow = long ? 0 : ctx.query >= 0 ? GZ.viewRow(first, q) : -1;
    const rowH = n > 80 ? 16 : 22;
    const font = n > 80 ? 11 : 13;
    const longest = (groups) => groups.reduce((m, g) => Math.max(m, GZ.label(g.text).length), 4);
    const leftW = Math.min(220, longest(first.rows) * font * 0.62 + 12);
    const rightW = Math.min(220, longest(first.cols) * font * 0.62 + 12);
    const boxW = Math.max(heads.length, 1) * 9 + 8;
    const gap = 220;
    const axis = 175;  // room for the column titles
    const x1 = Math.max(boxW + leftW, axis), x2 = x1 + gap;
    const width = x2 + Math.max(rightW + boxW, axis);
    const height = n * rowH + 36;
    const svg = GZ.svg('svg', { width: width, height: height, class: 'gz-headview-svg', id: 'gz-headview-svg' });
    svg.appendChild(GZ.svg('text', { x: x1 - 8, y: 14, 'text-anchor': 'end', class: 'gz-axis' }, 'Query (attending from)'));
    svg.appendChild(GZ.svg('text', { x: x2 + 8, y: 14, class: 'gz-axis' }, 'Key (attended to)'));
    const top = 30;
    const y = (i) => top + i * rowH + rowH / 2;
    // Long inputs: the query sits beside its own position in the key column.
    const ownKey = long ? Math.max(0, first.cols.findIndex((g) => g.first >= q + b.K - b.Q)) : 0;
    const yq = long ? () => y(ownKey) : y;

    // Lines, faintest first; tiny weights are skipped so long inputs stay light.
    const threshold = long ? 0.005 : n > 120 ? 0.02 : n > 40 ? 0.005 : 0.001;
    // Opacity = weight; with the log scale, log10 from 1e-4 (small weights stay visible).
    const opacity = (w) => Math.min(1, ctx.log ? Math.max(0, (Math.log10(Math.max(w, 1e-4)) + 4) / 4) : w);
    const lines = GZ.svg('g', { class: 'gz-lines' });
    const all = [];
    views.forEach((v, k) => {
      for (let r = 0; r < R; r++) {
        if (pickedRow >= 0 && r !== pickedRow) continue;
        for (let c = 0; c < C; c++) {
          const w = v.values[r * C + c];
          if (v.masked[r * C + c] || !(w >= threshold)) continue;
          all.push([w, r, c, k]);
        }
      }
    });
    all.sort((p, q) => p[0] - q[0]);
    for (const [w, r, c, k] of all) {
      lines.appendChild(GZ.svg('line', {
        x1: x1 + 4, y1: yq(r), x2: x2 - 4, y2: y(c),
        stroke: GZ.headColor(heads[k], b.heads), 'stroke-opacity': opacity(w).toFixed(3),
        'stroke-width': 2, 'data-r': r, 'data-c': c, 'data-h': heads[k],
      }));
    }
    svg.appendChild(lines);
    const boxes = GZ.svg('g', { class: 'gz-boxes' });
    svg.appendChild(boxes);

    const focus = (side, index) => {
      GZ.clear(boxes);
      for (const line of lines.childNodes) {
        const show = side === null || Number(line.getAttribute(side === 'q' ? 'data-r' : 'data-c')) === index;
        line.style.display = show ? '' : 'none';
      }
      svg.querySelectorAll('.gz-tok').forEach((t) => t.classList.remove('gz-hover'));
      if (side === null) return;
      // One box per head beside each token of the other side: that head's weight.
      const count = side === 'q' ? C : R;
      for (let o = 0; o < count; o++) {
        views.forEach((v, k) => {
          const w = side === 'q' ? v.values[index * C + o] : v.values[o * C + index];
          if (!(w > 0)) return;
          const bx = side === 'q' ? x2 + rightW + 4 + k * 9 : 4 + k * 9;
          boxes.appendChild(GZ.svg('rect', {
            x: bx, y: (side === 'q' ? y(o) : yq(o)) - 6, width: 8, height: 12, fill: GZ.headColor(heads[k], b.heads),
            'fill-opacity': opacity(w).toFixed(3), class: 'gz-box',
          }));
        });
      }
    };

    const token = (g, i, side) => {
      const t = GZ.svg('text', {
        x: side === 'q' ? x1 - 6 : x2 + 6, y: (side === 'q' ? yq(i) : y(i)) + font * 0.35, 'font-size': font,
        'text-anchor': side === 'q' ? 'end' : 'start',
        class: 'gz-tok gz-' + side + (g.special ? ' gz-special' : ''), 'data-i': i,
      });
      t.textContent = GZ.label(g.text);
      const title = GZ.svg('title');
      title.textContent = g.raw === g.text ? g.raw : g.text + '  (' + g.raw + ')';
      t.appendChild(title);
      // Clicking a token picks it as the query row (for self-attention, key j is query j).
      const query = side === 'q' ? g.first : g.first - (b.K - b.Q);
      if (ctx.setQuery && (side === 'q' || b.kind !== 'cross') && query >= 0 && query < b.Q) {
        t.addEventListener('click', () => ctx.setQuery(query));
      }
      t.addEventListener('mouseenter', () => {
        focus(side, i);
        t.classList.add('gz-hover');
      });
      t.addEventListener('mouseleave', () => focus(null, -1));
      svg.appendChild(t);
    };
    first.rows.forEach((g, i) => token(g, i, 'q'));
    first.cols.forEach((g, i) => token(g, i, 'k'));

    GZ.clear(container);
    if (!heads.length) {
      container.appendChild(GZ.el('p', { class: 'gz-note', text: 'No head selected: pick heads with the coloured toggles.' }));
    }
    container.appendChild(GZ.el('p', {
      class: 'gz-note',
      text: 'Layer ' + ctx.layer + ' \u00b7 ' + b.label + ' \u00b7 line opacity = weight' + (ctx.log ? ' (log scale)' : '') +
        (threshold > 0.001 ? ' (weights below ' + threshold + ' not drawn)' : '') + ' \u00b7 hover a token to isolate it' +
        (long ? ' \u00b7 ' + b.Q + ' tokens: the lines of query ' + q + ' only (pick another with "Query row" or a click on a token)'
          : pickedRow >= 0 ? ' \u00b7 query ' + q + ' only' : ''),
    }));
    const scroller = GZ.el('div', { class: 'gz-scroll', id: 'gz-headview' }, [svg]);
    container.appendChild(scroller);
    if (long) scroller.scrollTop = Math.max(0, yq(0) - 200);
  };
})();
