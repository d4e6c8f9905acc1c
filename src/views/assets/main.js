/* The page: controls, state, the recommended heads, and (under `gaze serve`)
 * a text box that reruns the model through POST /api/run. */
(function () {
  'use strict';
  const GZ = window.GZ;
  let data = GZ.prepare(JSON.parse(document.getElementById('gz-data').textContent));
  const state = {
    view: 'head', block: 0, layer: 0, head: GZ.HEAD_MEAN, heads: null, focus: 1, query: -1, zoom: 0,
    opts: { hideSpecial: false, hideFirst: false, renorm: true, words: false }, log: false,
  };
  const app = document.getElementById('gz-app');
  const ui = {};

  function option(value, text, selected) {
    return GZ.el('option', { value: value, text: text, selected: !!selected });
  }

  function checkbox(id, text, checked, change) {
    const input = GZ.el('input', { type: 'checkbox', id: id, checked: !!checked, onchange: (e) => change(e.target.checked) });
    return GZ.el('label', { class: 'gz-check', for: id }, [input, GZ.el('span', { text: text })]);
  }

  function block() {
    return data.blocks[state.block];
  }

  // ---- layout ------------------------------------------------------------------
  function buildShell() {
    GZ.clear(app);
    ui.title = GZ.el('h1', { id: 'gz-title' });
    ui.model = GZ.el('div', { class: 'gz-meta', id: 'gz-model' });
    ui.text = GZ.el('div', { class: 'gz-meta', id: 'gz-text' });
    const header = GZ.el('header', {}, [ui.title, ui.model, ui.text]);
    if (data.serve) {
      ui.input = GZ.el('textarea', { id: 'gz-input', rows: 2, maxlength: 20000, placeholder: 'Type a sentence and press Run (Ctrl+Enter)' });
      ui.input.value = data.text || '';
      ui.input.addEventListener('keydown', (e) => {
        if (e.key === 'Enter' && (e.ctrlKey || e.metaKey)) run(ui.input.value);
      });
      // Typing reruns the model once the text has been still for a moment.
      let timer = null;
      ui.input.addEventListener('input', () => {
        clearTimeout(timer);
        timer = setTimeout(() => run(ui.input.value, true), 700);
      });
      ui.status = GZ.el('span', { id: 'gz-status', class: 'gz-status' });
      const examples = GZ.el('div', { class: 'gz-examples' }, [GZ.el('span', { text: 'Examples: ' })]);
      for (const ex of data.examples || []) {
        examples.appendChild(GZ.el('button', { class: 'gz-example', type: 'button', text: ex, onclick: () => {
          ui.input.value = ex;
          run(ex);
        } }));
      }
      header.appendChild(GZ.el('div', { class: 'gz-form' }, [
        ui.input,
        GZ.el('button', { id: 'gz-run', type: 'button', text: 'Run', onclick: () => run(ui.input.value) }),
        ui.status,
      ]));
      header.appendChild(examples);
    }
    ui.tabs = GZ.el('nav', { class: 'gz-tabs' });
    for (const [view, text] of [['head', 'Head view'], ['model', 'Model view'], ['heatmap', 'Heatmap'], ['explain', 'Explain']]) {
      ui.tabs.appendChild(GZ.el('button', { id: 'gz-tab-' + view, type: 'button', 'data-view': view, text: text, onclick: () => {
        state.view = view;
        render();
      } }));
    }
    ui.controls = GZ.el('div', { class: 'gz-controls', id: 'gz-controls' });
    ui.chips = GZ.el('div', { class: 'gz-chips', id: 'gz-chips' });
    ui.side = GZ.el('aside', { id: 'gz-side' });
    ui.main = GZ.el('main', { id: 'gz-main' });
    app.appendChild(header);
    app.appendChild(ui.tabs);
    app.appendChild(ui.controls);
    app.appendChild(ui.chips);
    app.appendChild(GZ.el('div', { class: 'gz-body' }, [ui.main, ui.side]));
  }

  function buildControls() {
    const b = block();
    ui.title.textContent = data.title || 'gaze';
    ui.model.textContent = data.model ? 'Model: ' + data.model : '';
    const text = data.text || '';
    ui.text.textContent = text ? 'Text: ' + (text.length > 300 ? text.slice(0, 299) + '\u2026' : text) : '';
    ui.text.title = text;
    GZ.clear(ui.controls);
    if (data.blocks.length > 1) {
      const sel = GZ.el('select', { id: 'gz-block', onchange: (e) => {
        state.block = Number(e.target.value);
        state.heads = null;
        state.query = -1;
        buildSide();
        if (state.head < GZ.HEAD_MEAN) state.head = GZ.HEAD_MEAN;
        update();
      } });
      data.blocks.forEach((x, i) => sel.appendChild(option(i, x.label, i === state.block)));
      ui.controls.appendChild(GZ.el('label', { text: 'Attention ' }, [sel]));
    }
    const layer = GZ.el('select', { id: 'gz-layer', onchange: (e) => {
      state.layer = Number(e.target.value);
      update();
    } });
    for (let l = 0; l < b.layers; l++) layer.appendChild(option(l, String(l), l === state.layer));
    ui.controls.appendChild(GZ.el('label', { text: 'Layer ' }, [layer]));
    const head = GZ.el('select', { id: 'gz-head', onchange: (e) => {
      state.head = Number(e.target.value);
      update();
    } });
    head.appendChild(option(GZ.HEAD_MEAN, 'mean of heads', state.head === GZ.HEAD_MEAN));
    const a = data.analysis || {};
    if (a.rollout && a.rollout.block === state.block) head.appendChild(option(GZ.HEAD_ROLLOUT, 'rollout', state.head === GZ.HEAD_ROLLOUT));
    if (a.flow && a.flow.block === state.block) head.appendChild(option(GZ.HEAD_FLOW, 'flow (top layer)', state.head === GZ.HEAD_FLOW));
    for (let h = 0; h < b.heads; h++) head.appendChild(option(h, String(h), h === state.head));
    ui.controls.appendChild(GZ.el('label', { text: 'Head ', title: 'for the heatmap and explain views' }, [head]));
    // The query row: -1 draws every row (short inputs) or the last one (long inputs).
    if (state.query >= b.Q) state.query = b.Q - 1;
    const long = Math.max(b.Q, b.K) > GZ.LONG;
    // Redrawing the controls removes the focused input, which fires its change
    // event again: only a new value redraws.
    const pickQuery = (value) => {
      const v = Math.round(Number(value));
      const query = isFinite(v) ? Math.max(-1, Math.min(b.Q - 1, v)) : -1;
      if (query === state.query) return;
      state.query = query;
      update();
    };
    const queryInput = GZ.el('input', { type: 'number', id: 'gz-query', min: -1, max: b.Q - 1, value: state.query,
      onchange: (e) => pickQuery(e.target.value) });
    const queryRange = GZ.el('input', { type: 'range', id: 'gz-query-range', min: 0, max: b.Q - 1,
      value: state.query >= 0 ? state.query : b.Q - 1, oninput: (e) => (queryInput.value = e.target.value),
      onchange: (e) => pickQuery(e.target.value) });
    const shownQuery = state.query >= 0 ? state.query : long ? b.Q - 1 : -1;
    ui.controls.appendChild(GZ.el('label', { title: '-1: ' + (long ? 'the last row' : 'every row') }, [
      GZ.el('span', { text: 'Query row ' }), queryInput, queryRange,
      GZ.el('span', { class: 'gz-query-token', id: 'gz-query-token', text: shownQuery >= 0 ? GZ.label(b.queries.shown[shownQuery]) : 'all' }),
    ]));
    const zoom = GZ.el('select', { id: 'gz-zoom', onchange: (e) => { state.zoom = Number(e.target.value); render(); } });
    for (const [z, t] of [[0, 'fit'], [1, '1 px'], [2, '2 px'], [4, '4 px'], [8, '8 px'], [12, '12 px'], [16, '16 px']]) zoom.appendChild(option(z, t, z === state.zoom));
    ui.controls.appendChild(GZ.el('label', { text: 'Cell ', title: 'heatmap cell size' }, [zoom]));
    ui.controls.appendChild(checkbox('gz-opt-special', 'hide special tokens', state.opts.hideSpecial, (v) => { state.opts.hideSpecial = v; render(); }));
    ui.controls.appendChild(checkbox('gz-opt-first', 'hide first token (sink)', state.opts.hideFirst, (v) => { state.opts.hideFirst = v; render(); }));
    ui.controls.appendChild(checkbox('gz-opt-renorm', 'renormalise rows', state.opts.renorm, (v) => { state.opts.renorm = v; render(); }));
    ui.controls.appendChild(checkbox('gz-opt-log', 'log colour scale', state.log, (v) => { state.log = v; render(); }));
    ui.controls.appendChild(checkbox('gz-opt-words', 'words (merge sub-word pieces)', state.opts.words, (v) => { state.opts.words = v; render(); }));

    const e = b.encoding;
    ui.controls.appendChild(GZ.el('div', { class: 'gz-note gz-encoding', id: 'gz-encoding', text: e ? 'Stored: ' + e.text +
      '; largest difference from the model\u2019s weights on this page: ' + GZ.fmt(e.error, e.error < 1e-3 ? 6 : 4) : '' }));

    // Head toggles for the head view: one colour per head.
    GZ.clear(ui.chips);
    if (!state.heads || state.heads.some((h) => h >= b.heads)) state.heads = Array.from({ length: b.heads }, (_, h) => h);
    ui.chips.appendChild(GZ.el('span', { text: 'Heads: ' }));
    for (let h = 0; h < b.heads; h++) {
      const on = state.heads.includes(h);
      const chip = GZ.el('button', { type: 'button', class: 'gz-chip' + (on ? ' gz-on' : ''), id: 'gz-chip-' + h, text: String(h),
        'aria-pressed': on ? 'true' : 'false', onclick: () => {
          state.heads = on ? state.heads.filter((x) => x !== h) : state.heads.concat([h]).sort((x, y) => x - y);
          update();
        } });
      chip.style.setProperty('--gz-head', GZ.headColor(h, b.heads));
      ui.chips.appendChild(chip);
    }
    ui.chips.appendChild(GZ.el('button', { type: 'button', class: 'gz-chip-all', id: 'gz-chips-all', text: 'all', onclick: () => {
      state.heads = Array.from({ length: b.heads }, (_, h) => h);
      update();
    } }));
    ui.chips.appendChild(GZ.el('button', { type: 'button', class: 'gz-chip-all', id: 'gz-chips-none', text: 'none', onclick: () => {
      state.heads = [];
      update();
    } }));
  }

  function buildSide() {
    GZ.clear(ui.side);
    const a = data.analysis || { heads: [], layers: [] };
    ui.side.appendChild(GZ.el('h3', { text: 'Recommended heads' }));
    const list = GZ.el('ol', { id: 'gz-recommended' });
    // Ranked: heads with a specific role first, then the broad ones.
    a.heads.slice(0, 10).forEach((h) => {
      const label = (data.blocks.length > 1 ? data.blocks[h.block].label + ' ' : '') + 'L' + h.layer + ' H' + h.head +
        ' \u00b7 ' + h.role + ' ' + GZ.fmt(h.score, 2);
      list.appendChild(GZ.el('li', {}, [GZ.el('button', { type: 'button', class: 'gz-rec', text: label, onclick: () => {
        state.block = h.block;
        state.layer = h.layer;
        state.head = h.head;
        state.view = 'heatmap';
        update();
      } })]));
    });
    ui.side.appendChild(list);
    ui.side.appendChild(GZ.el('p', { class: 'gz-note', text: 'Roles: attends to itself, the previous or next token, ' +
      'the first token ([CLS]/BOS), [SEP]/punctuation, or broadly (score: mean mass; broad: normalised entropy).' }));
    ui.side.appendChild(sinkGrid());
    if (a.layers.length) {
      ui.side.appendChild(GZ.el('h3', { text: 'Per layer (mean over heads)' }));
      const table = GZ.el('table', { class: 'gz-summary', id: 'gz-layer-summary' }, [
        GZ.el('tr', {}, ['layer', 'self', 'prev', 'first', 'sep'].map((t) => GZ.el('th', { text: t }))),
      ]);
      for (const s of a.layers) {
        table.appendChild(GZ.el('tr', {}, [
          (data.blocks.length > 1 ? data.blocks[s.block].label.split(' ')[0] + ' ' : '') + s.layer,
          GZ.fmt(s.self, 2), GZ.fmt(s.previous, 2), GZ.fmt(s.first, 2), GZ.fmt(s.separator, 2),
        ].map((t) => GZ.el('td', { text: t }))));
      }
      ui.side.appendChild(table);
    }
  }

  // First-token ("sink") mass of every head of the block: rows layers, columns heads.
  function sinkGrid() {
    const b = block(), sink = GZ.sinkMass(data, state.block);
    const cell = Math.max(6, Math.min(18, Math.floor(250 / Math.max(b.heads, 1))));
    const grid = GZ.el('div', { class: 'gz-sink-grid', id: 'gz-sink-grid' });
    grid.style.gridTemplateColumns = 'repeat(' + b.heads + ', ' + cell + 'px)';
    let any = false;
    for (let l = 0; l < b.layers; l++) {
      for (let h = 0; h < b.heads; h++) {
        const v = sink(l, h);
        any = any || v !== undefined;
        const box = GZ.el('button', { type: 'button', class: 'gz-sink', 'data-layer': l, 'data-head': h,
          title: 'Layer ' + l + ', Head ' + h + ': ' + (v === undefined ? 'n/a' : GZ.fmt(v, 3)) + ' of each row on the first token',
          onclick: () => { state.layer = l; state.head = h; state.view = 'heatmap'; update(); } });
        box.style.width = box.style.height = cell + 'px';
        box.style.background = v === undefined ? GZ.rgb(GZ.MASKED) : GZ.rgb(GZ.viridis(v));
        grid.appendChild(box);
      }
    }
    return GZ.el('div', { class: 'gz-sink-box' }, any ? [
      GZ.el('h3', { text: 'First-token (sink) mass per head' }),
      GZ.el('p', { class: 'gz-note', text: 'Rows: layers 0-' + (b.layers - 1) + ', columns: heads; dark 0, yellow 1. Click one to open it.' }),
      grid,
    ] : []);
  }

  // ---- drawing -------------------------------------------------------------------
  function render() {
    const b = block();
    state.layer = Math.min(Math.max(state.layer, 0), b.layers - 1);
    if (state.head >= b.heads) state.head = GZ.HEAD_MEAN;
    for (const t of ui.tabs.childNodes) t.classList.toggle('gz-active', t.getAttribute('data-view') === state.view);
    ui.chips.style.display = state.view === 'head' ? '' : 'none';
    const ctx = {
      data: data, block: b, layer: state.layer, head: state.head, heads: state.heads.slice(), opts: state.opts, log: state.log,
      focus: state.focus, setFocus: (i) => { state.focus = i; render(); },
      blockIndex: state.block, query: state.query, zoom: state.zoom, setQuery: (i) => { state.query = i; update(); },
    };
    if (state.view === 'head') GZ.drawHeadView(ui.main, ctx);
    else if (state.view === 'model') GZ.drawModelView(ui.main, ctx, (l, h) => {
      state.layer = l;
      state.head = h;
      state.view = 'heatmap';
      update();
    });
    else if (state.view === 'heatmap') GZ.drawHeatmap(ui.main, ctx);
    else {
      GZ.drawExplain(ui.main, ctx);
      if (data.serve && data.explain && data.explain.layer !== state.layer && !state.busy) run(data.text, true);
    }
    app.setAttribute('data-rendered', String((Number(app.getAttribute('data-rendered')) || 0) + 1));
  }

  function update() {
    buildControls();
    render();
  }

  // ---- serve: rerun the model ---------------------------------------------------------
  async function run(text, quiet) {
    if (!text || !text.trim()) {
      if (!quiet) ui.status.textContent = 'Type some text first.';
      return;
    }
    state.busy = true;
    const ticket = (state.ticket = (state.ticket || 0) + 1);  // only the latest answer is drawn
    if (!quiet) ui.status.textContent = 'Running\u2026';
    try {
      const res = await fetch('/api/run', {
        method: 'POST', headers: { 'Content-Type': 'application/json' },
        body: JSON.stringify({ text: text, explain_layer: state.layer }),
      });
      const body = await res.json().catch(() => null);
      if (ticket !== state.ticket) return;
      if (!res.ok || !body || body.error) {
        ui.status.textContent = 'Error: ' + ((body && body.error) || 'HTTP ' + res.status);
        return;
      }
      data = GZ.prepare(body);
      if (state.block >= data.blocks.length) state.block = 0;
      if (state.focus >= block().Q) state.focus = Math.min(1, block().Q - 1);
      ui.status.textContent = '';
      buildSide();
      update();
    } catch (err) {
      ui.status.textContent = 'Error: ' + err.message;
    } finally {
      state.busy = false;
    }
  }

  buildShell();
  buildSide();
  update();
  window.gaze = { state: state, render: render, data: () => data };
})();
