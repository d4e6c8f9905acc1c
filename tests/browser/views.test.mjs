// Headless-Chromium tests of the attention viewer and `gaze serve`.
//   node views.test.mjs --gaze path/to/gaze --out build/browser
// Every request that is not a file:// URL (or, for the serve test, the
// loopback server) is aborted: the page must work offline. Screenshots are
// written under --out. Exits non-zero when a check fails.
import { spawn, execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { chromium } from 'playwright-core';

const args = Object.fromEntries(process.argv.slice(2).reduce((acc, a, i, all) => {
  if (a.startsWith('--')) acc.push([a.slice(2), all[i + 1]]);
  return acc;
}, []));
const gaze = args.gaze;
const out = path.resolve(args.out || 'browser-out');
const executablePath = process.env.CHROMIUM || '/usr/bin/chromium';
if (!gaze) {
  console.error('usage: node views.test.mjs --gaze PATH --out DIR');
  process.exit(2);
}
fs.mkdirSync(out, { recursive: true });

let failures = 0;
function check(ok, what, detail) {
  console.log((ok ? 'ok    ' : 'FAIL  ') + what + (ok || detail === undefined ? '' : ': ' + detail));
  if (!ok) failures++;
}

// ---- inputs ---------------------------------------------------------------------
const SENTENCE = 'The cat chased the mouse because it was hungry.';
const EVIL = '<script>alert(1)</script>';

function runGaze(argv) {
  return execFileSync(gaze, argv, { encoding: 'utf8', env: { ...process.env, OMP_NUM_THREADS: '2' } });
}

// A recorder JSON (AttentionRecorder::save_json layout) of a small
// encoder-decoder with a hostile token, so the block selector and escaping
// are tested without any particular model.
function recordedFile() {
  const src = ['<s>', 'le', EVIL, 'chat', '</s>'];
  const tgt = ['<pad>', 'the', 'cat', '"&amp;"'];
  const events = [];
  const matrix = (rows, cols, layer, head, causal) => rows.map((_, i) => {
    const w = cols.map((_, j) => (causal && j > i ? 0 : 1 + ((i * 7 + j * 3 + layer * 5 + head * 11) % 13)));
    const s = w.reduce((a, b) => a + b, 0);
    return w.map((x) => x / s);
  });
  for (let layer = 0; layer < 2; layer++) {
    for (const [stack, kind, q, k] of [['encoder', 'self', src, src], ['decoder', 'causal_self', tgt, tgt], ['decoder', 'cross', tgt, src]]) {
      events.push({
        name: kind + '.' + layer, stack, kind, layer, step: -1, heads: [0, 1], query_positions: q.map((_, i) => i),
        query_tokens: [q], key_tokens: [k], shape: [1, 2, q.length, k.length],
        probabilities: [[0, 1].map((h) => matrix(q, k, layer, h, kind === 'causal_self'))],
      });
    }
  }
  const file = path.join(out, 'recorded.json');
  fs.writeFileSync(file, JSON.stringify({ family: 'synthetic', events }));
  return file;
}

// ---- browser ---------------------------------------------------------------------
const profile = fs.mkdtempSync(path.join(os.tmpdir(), 'gaze-chromium-'));
const context = await chromium.launchPersistentContext(profile, {
  executablePath,
  headless: true,
  viewport: { width: 1280, height: 900 },
  args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking',
    '--disable-component-update', '--disable-sync'],
});
let allowedOrigin = null;
const blocked = [];
await context.route('**/*', (route) => {
  const url = route.request().url();
  if (url.startsWith('file:') || (allowedOrigin && url.startsWith(allowedOrigin))) return route.continue();
  blocked.push(url);
  return route.abort();
});

async function openPage(url) {
  const page = await context.newPage();
  const state = { dialogs: 0, errors: [] };
  page.on('dialog', (d) => {
    state.dialogs++;
    d.dismiss().catch(() => {});
  });
  page.on('pageerror', (e) => state.errors.push(String(e)));
  page.on('console', (m) => {
    if (m.type() === 'error') state.errors.push(m.text());
  });
  await page.goto(url);
  await page.waitForSelector('#gz-headview-svg text.gz-tok', { timeout: 15000 });
  return { page, state };
}

const tokensOf = (page, side) => page.$$eval('#gz-headview-svg text.gz-tok.gz-' + side, (els) => els.map((e) => e.firstChild.textContent));
const linesOf = (page) => page.$eval('#gz-headview-svg .gz-lines', (g) => g.innerHTML);
const canvasOf = (page, id) => page.$eval(id, (c) => c.toDataURL());
async function selectAndWait(page, selector, value) {
  const before = await page.getAttribute('#gz-app', 'data-rendered');
  await page.selectOption(selector, value);
  await page.waitForFunction((b) => document.getElementById('gz-app').getAttribute('data-rendered') !== b, before);
}
async function clickAndWait(page, selector) {
  const before = await page.getAttribute('#gz-app', 'data-rendered');
  await page.click(selector);
  await page.waitForFunction((b) => document.getElementById('gz-app').getAttribute('data-rendered') !== b, before);
}

try {
  // ---- 1. a real model's view -----------------------------------------------------------
  const viewFile = path.join(out, 'view.html');
  runGaze(['view', '--model', 'auto', '--text', SENTENCE, '--out', viewFile, '--title', 'gaze: ' + SENTENCE]);
  {
    const { page, state } = await openPage(pathToFileURL(viewFile).href);
    const queries = await tokensOf(page, 'q');
    check(['[CLS]', 'cat', 'mouse', 'hungry', '[SEP]'].every((t) => queries.includes(t)), 'head view draws the tokens', queries.join(' '));
    check((await tokensOf(page, 'k')).length === queries.length, 'head view draws the key column');
    const layer0 = await linesOf(page);
    check(layer0.includes('<line'), 'head view draws attention lines');
    await page.screenshot({ path: path.join(out, 'head_view.png'), fullPage: true });
    await selectAndWait(page, '#gz-layer', '1');
    check((await linesOf(page)) !== layer0, 'choosing another layer changes the head view');
    const allHeads = (await page.$$('#gz-headview-svg line')).length;
    await clickAndWait(page, '#gz-chip-0');
    const fewer = (await page.$$('#gz-headview-svg line')).length;
    check(fewer < allHeads, 'a head toggle removes that head\'s lines', allHeads + ' -> ' + fewer);
    await clickAndWait(page, '#gz-chips-all');
    await page.hover('#gz-headview-svg text.gz-q[data-i="2"]');
    const visible = await page.$$eval('#gz-headview-svg line', (ls) => ls.filter((l) => l.style.display !== 'none').length);
    const boxes = (await page.$$('#gz-headview-svg .gz-box')).length;
    check(visible > 0 && visible < allHeads && boxes > 0, 'hovering a token shows only its lines and per-head boxes', visible + ' of ' + allHeads);
    await page.screenshot({ path: path.join(out, 'head_view_hover.png'), fullPage: true });
    await page.mouse.move(5, 5);
    await clickAndWait(page, '#gz-opt-special');
    check(!(await tokensOf(page, 'q')).includes('[CLS]'), 'hiding special tokens removes [CLS]');
    await clickAndWait(page, '#gz-opt-special');

    await clickAndWait(page, '#gz-tab-model');
    const thumbs = (await page.$$('#gz-model-grid .gz-thumb')).length;
    check(thumbs === 2 * 4, 'model view shows every layer x head', thumbs);
    await page.screenshot({ path: path.join(out, 'model_view.png'), fullPage: true });
    await clickAndWait(page, '#gz-model-grid .gz-thumb[data-layer="1"][data-head="3"]');
    check((await page.textContent('#gz-heatmap-title')).startsWith('Layer 1, Head 3'), 'clicking a thumbnail opens it as a heatmap');
    const head3 = await canvasOf(page, '#gz-heatmap-canvas');
    await selectAndWait(page, '#gz-head', '2');
    check((await canvasOf(page, '#gz-heatmap-canvas')) !== head3, 'choosing another head changes the heatmap');
    check((await page.textContent('#gz-heatmap-title')).startsWith('Layer 1, Head 2'), 'the heatmap is titled "Layer l, Head h"');
    const box = await page.$eval('#gz-heatmap-canvas', (c) => {
      const r = c.getBoundingClientRect();
      return { x: r.right - 12, y: r.bottom - 12 };
    });
    await page.mouse.move(box.x, box.y);
    const tip = await page.textContent('#gz-tooltip');
    check(tip.includes('\u2192') && /\d\.\d{4}/.test(tip), 'hovering a cell shows its value', tip);
    await page.screenshot({ path: path.join(out, 'heatmap_view.png'), fullPage: true });
    await clickAndWait(page, '#gz-opt-log');
    await clickAndWait(page, '#gz-opt-words');
    await selectAndWait(page, '#gz-head', '-2');
    check((await page.textContent('#gz-heatmap-title')).includes('rollout'), 'the rollout is a heatmap choice');

    await clickAndWait(page, '#gz-tab-explain');
    const steps = (await page.$$('#gz-step tr')).length;
    check(steps === queries.length + 2, 'the step-by-step table has a row per key plus header and sum', steps);
    const diff = Number((await page.textContent('#gz-step-check')).match(/[0-9.]+e[-+][0-9]+/)[0]);
    check(diff < 1e-3, 'recomputed softmax weights match the recorded attention', diff);
    check((await page.$('#gz-pe-canvas')) !== null && (await page.$('#gz-scores-masked')) !== null, 'position encoding and causal mask are drawn');
    await page.screenshot({ path: path.join(out, 'explain_view.png'), fullPage: true });
    check(state.errors.length === 0, 'no script errors on the model view page', state.errors.join(' | '));
    await page.close();
  }

  // ---- 2. hostile tokens and the encoder-decoder selector ---------------------------------
  const recordedHtml = path.join(out, 'recorded.html');
  runGaze(['view', '--recorded', recordedFile(), '--out', recordedHtml]);
  {
    const { page, state } = await openPage(pathToFileURL(recordedHtml).href);
    const queries = await tokensOf(page, 'q');
    check(queries.includes(EVIL), 'a <script> token is drawn as text', queries.join(' '));
    await page.waitForTimeout(300);
    check(state.dialogs === 0, 'no dialog fires');
    check((await page.$$eval('script', (s) => s.length)) === 2, 'no script element was injected');
    const blocks = await page.$$eval('#gz-block option', (os) => os.map((o) => o.textContent));
    check(blocks.join('|') === 'encoder self|decoder self|cross', 'encoder-decoder pages offer encoder self / decoder self / cross', blocks.join('|'));
    const encoderLines = await linesOf(page);
    await selectAndWait(page, '#gz-block', '2');
    const crossQueries = await tokensOf(page, 'q');
    check(crossQueries.includes('cat') && (await tokensOf(page, 'k')).includes(EVIL), 'cross attention: decoder queries, encoder keys', crossQueries.join(' '));
    check((await linesOf(page)) !== encoderLines, 'choosing another attention kind changes the drawing');
    check(crossQueries.includes('"&amp;"'), 'entity-like tokens are drawn literally');
    await selectAndWait(page, '#gz-block', '1');
    await clickAndWait(page, '#gz-tab-heatmap');
    check((await page.textContent('#gz-heatmap-title')).includes('decoder self'), 'the heatmap follows the attention kind');
    await page.screenshot({ path: path.join(out, 'recorded_heatmap.png'), fullPage: true });
    check(state.errors.length === 0, 'no script errors on the recorded page', state.errors.join(' | '));
    await page.close();
  }
  check(blocked.length === 0, 'the static pages requested nothing from the network', blocked.join(' '));

  // ---- 3. gaze serve ------------------------------------------------------------------------
  const server = spawn(gaze, ['serve', '--model', 'auto', '--port', '0', '--max-bytes', '4096'], {
    env: { ...process.env, OMP_NUM_THREADS: '2' }, stdio: ['ignore', 'pipe', 'pipe'],
  });
  try {
    const origin = await new Promise((resolve, reject) => {
      let text = '';
      const timer = setTimeout(() => reject(new Error('gaze serve did not start: ' + text)), 30000);
      const read = (d) => {
        text += d;
        const m = text.match(/serving: (http:\/\/127\.0\.0\.1:\d+)\//);
        if (m) {
          clearTimeout(timer);
          resolve(m[1]);
        }
      };
      server.stdout.on('data', read);
      server.stderr.on('data', read);
      server.on('exit', (code) => reject(new Error('gaze serve exited with ' + code + ': ' + text)));
    });
    allowedOrigin = origin;
    const { page, state } = await openPage(origin + '/');
    check((await tokensOf(page, 'q')).includes('alice'), 'serve: the first example is drawn');
    const recommended = (await page.$$('#gz-recommended li')).length;
    check(recommended > 0, 'serve: the recommended heads are listed', recommended);
    await page.fill('#gz-input', 'The yellow submarine sank slowly.');
    await page.click('#gz-run');
    await page.waitForFunction(() => Array.from(document.querySelectorAll('#gz-headview-svg text.gz-q')).some((t) => t.firstChild.textContent === 'yellow'), null, { timeout: 15000 });
    check((await tokensOf(page, 'q')).includes('submarine'), 'serve: typing a sentence draws its tokens');
    await page.screenshot({ path: path.join(out, 'serve.png'), fullPage: true });
    await page.click('.gz-example >> nth=1');
    await page.waitForFunction(() => Array.from(document.querySelectorAll('#gz-headview-svg text.gz-q')).some((t) => t.firstChild.textContent === 'hungry'), null, { timeout: 15000 });
    check(true, 'serve: an example button reruns the model');
    const big = await page.evaluate(async () => {
      const r = await fetch('/api/run', { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify({ text: 'x '.repeat(5000) }) });
      return r.status;
    });
    check(big === 413, 'serve: an oversize request gets 413', big);
    const bad = await page.evaluate(async () => {
      const r = await fetch('/api/run', { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: 'not json' });
      return [r.status, (await r.json()).error];
    });
    check(bad[0] === 400 && /JSON/.test(bad[1]), 'serve: a malformed request gets 400 with a message', bad.join(' '));
    // A form-like POST (text/plain, no preflight): what a hostile page could send.
    const plain = await page.evaluate(async () => {
      const r = await fetch('/api/run', { method: 'POST', body: JSON.stringify({ text: 'hello' }) });
      return [r.status, (await r.json()).error];
    });
    check(plain[0] === 415 && /application\/json/.test(plain[1]), 'serve: a text/plain POST gets 415', plain.join(' '));
    check(state.errors.filter((e) => !/status of 4\d\d/.test(e)).length === 0, 'serve: no script errors', state.errors.join(' | '));
    await page.close();
  } finally {
    server.kill('SIGTERM');
  }
} catch (e) {
  check(false, 'browser tests ran to the end', e.stack || String(e));
} finally {
  await context.close();
  fs.rmSync(profile, { recursive: true, force: true });
}

console.log(failures ? failures + ' check(s) failed' : 'all browser checks passed; screenshots in ' + out);
process.exit(failures ? 1 : 0);
