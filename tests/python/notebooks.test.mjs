// Opens the executed notebooks' HTML exports in headless Chromium, offline.
//   node tests/python/notebooks.test.mjs DIR_WITH_HTML_EXPORTS
// For each page: no request leaves file:// (each one is aborted and counted),
// every gaze view (an <iframe srcdoc>) renders and draws its own data's tokens
// in its head view, the page shows the words that notebook is about, and no
// error was thrown in the page or a frame. Exits non-zero when a check fails.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { chromium } from '../browser/node_modules/playwright-core/index.mjs';

const dir = path.resolve(process.argv[2] || 'build/notebooks');
const executablePath = process.env.CHROMIUM || '/usr/bin/chromium';

// Words each notebook is about: they must appear in the page (figures are
// inline SVG text) or in one of its views.
const EXPECTED = {
  '01_head_view_bert_gpt2_t5': ['tired', '[CLS]', 'chat', 'Das', 'cross'],
  '02_positions_masks_qkv_explorer': ['mat', 'tired', '-inf'],
  '03_small_gpt_from_config': ['attention is all you need', 'Attention flow'],
  '04_toy_attention_numpy': ['love', 'cats', '[PAD]', 'Two heads'],
  '05_distilbert_find_head': ['paris', 'french', 'lessons'],
};
// How many gaze views each notebook shows (a view that vanished is a failure too).
const VIEWS = {
  '01_head_view_bert_gpt2_t5': 5,
  '02_positions_masks_qkv_explorer': 2,
  '03_small_gpt_from_config': 1,
  '04_toy_attention_numpy': 0,
  '05_distilbert_find_head': 2,
};

let failures = 0;
function check(ok, what, detail) {
  console.log((ok ? 'ok    ' : 'FAIL  ') + what + (ok || detail === undefined ? '' : ': ' + detail));
  if (!ok) failures++;
}

const profile = fs.mkdtempSync(path.join(os.tmpdir(), 'gaze-notebooks-'));
const context = await chromium.launchPersistentContext(profile, {
  executablePath,
  headless: true,
  viewport: { width: 1280, height: 900 },
  args: ['--headless', '--no-sandbox', '--disable-gpu', '--no-first-run', '--disable-background-networking',
    '--disable-component-update', '--disable-sync'],
});
const external = [];
await context.route('**/*', (route) => {
  const url = route.request().url();
  if (url.startsWith('file:') || url.startsWith('about:') || url.startsWith('data:')) return route.continue();
  external.push(url);
  return route.abort();
});

const names = Object.keys(EXPECTED);
for (const name of names) {
  const file = path.join(dir, name + '.html');
  if (!fs.existsSync(file)) {
    check(false, name + ': exported HTML exists', file);
    continue;
  }
  const html = fs.readFileSync(file, 'utf8');
  check(!/(src|href)\s*=\s*["']?(https?:)?\/\//i.test(html), name + ': no external src/href in the export');
  const page = await context.newPage();
  const errors = [];
  page.on('pageerror', (e) => errors.push(String(e)));
  const before = external.length;
  await page.goto(pathToFileURL(file).href, { waitUntil: 'load' });
  const frames = page.frames().filter((f) => f !== page.mainFrame());
  const views = [];
  for (const frame of frames) {
    const view = await frame.evaluate(() => {
      const data = document.getElementById('gz-data');
      if (!data) return null;
      const active = document.querySelector('.gz-tabs .gz-active');
      const main = document.getElementById('gz-main');
      return { active: active ? active.getAttribute('data-view') : null, drawn: main ? main.childElementCount : 0 };
    });
    if (!view) continue;
    // The head view of this frame's own block draws exactly the data's tokens.
    await frame.click('#gz-tab-head');
    const drawn = await frame.$$eval('#gz-headview-svg text.gz-tok.gz-q', (els) => els.map((e) => e.firstChild.textContent));
    const wanted = await frame.evaluate(() => {
      const d = JSON.parse(document.getElementById('gz-data').textContent);
      const sel = document.getElementById('gz-block');
      const b = d.blocks[sel ? Number(sel.value) : 0];
      return b.queries.tokens.map((t) => window.GZ.label(t));
    });
    view.tokens = drawn;
    view.ok = drawn.length === wanted.length && wanted.every((t, i) => drawn[i] === t);
    view.text = await frame.evaluate(() => document.body.innerText);
    views.push(view);
    check(view.active !== null && view.drawn > 0, `${name}: view ${views.length} rendered (opened on '${view.active}')`);
    check(view.ok, `${name}: view ${views.length} draws its tokens`, `${drawn.join(' ')} vs ${wanted.join(' ')}`);
  }
  check(views.length === VIEWS[name], `${name}: ${VIEWS[name]} gaze views`, views.length);
  const text = (await page.evaluate(() => document.body.innerText)) + '\n' + views.map((v) => v.text).join('\n');
  const svgText = await page.evaluate(() => [...document.querySelectorAll('svg text')].map((t) => t.textContent).join(' '));
  for (const word of EXPECTED[name]) {
    check(text.includes(word) || svgText.includes(word), `${name}: shows '${word}'`);
  }
  check(!/Traceback|Error:/.test(await page.evaluate(() => [...document.querySelectorAll('.jp-RenderedText, .output_error')].map((e) => e.textContent).join('\n'))),
    `${name}: no cell raised`);
  check(errors.length === 0, `${name}: no script error`, errors.join(' | '));
  check(external.length === before, `${name}: no request left file://`, external.slice(before).join(' '));
  await page.screenshot({ path: path.join(dir, name + '.png'), fullPage: false });
  await page.close();
}
await context.close();
fs.rmSync(profile, { recursive: true, force: true });
console.log(failures ? `${failures} check(s) FAILED` : 'all notebook checks passed');
process.exit(failures ? 1 : 0);
