// The ganforge dashboard: three views over what `ganforge serve` follows.
//   #/                  the runs: state, progress, last losses, best metric
//   #/run/ID            one run: every scalar (smoothing, log scale, x in kimg/epochs/steps),
//                       the sample grids over time, the config, the checkpoints
//   #/compare/ID,ID...  several runs overlaid on one chart per scalar
// Everything arrives over one EventSource (/api/events): a snapshot per run, then the rows,
// grids and checkpoints as the trainer writes them. Charts are uPlot (served from its npm
// package by the server).
/* global uPlot */

const main = document.getElementById('main');
const crumbs = document.getElementById('crumbs');
const live = document.getElementById('live');

const COLORS = ['#3b6fd8', '#e0662f', '#2fa84f', '#b23ab2', '#c9a227', '#1aa3a3', '#d43d51', '#6b7385'];
const X_KEYS = new Set(['step', 'kimg', 'epoch', 'sec']);
const BOOKKEEPING = new Set(['window_steps', 'resumed_at_step', 'skipped_files']);
const SCHEDULE = /^(lr($|_)|lod$|alpha$|minibatch$|batch$|img_per_s$)/;
const METRIC = /^(fid|kid|is|pr|ppl|precision|recall)(\d+k?\d*)?(_|$)/;

/** Which section a column of metrics.jsonl belongs to (the server's scalars.ts says the same). */
function kindOf(name) {
  if (X_KEYS.has(name) || BOOKKEEPING.has(name)) return null;
  if (SCHEDULE.test(name)) return 'schedule';
  if (METRIC.test(name)) return 'metric';
  return 'loss';
}

const settings = { smoothing: Number(localStorage.getItem('gf.smoothing') ?? 0.6), log: localStorage.getItem('gf.log') === '1', x: localStorage.getItem('gf.x') ?? 'kimg' };

function el(tag, attrs = {}, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (k === 'class') e.className = v;
    else if (k.startsWith('on')) e.addEventListener(k.slice(2), v);
    else if (v !== undefined && v !== null && v !== false) e.setAttribute(k, v === true ? '' : v);
  }
  for (const c of children.flat(Infinity)) if (c !== null && c !== undefined) e.append(c instanceof Node ? c : document.createTextNode(String(c)));
  return e;
}

const fmt = (v) => (typeof v !== 'number' ? String(v ?? '') : Math.abs(v) >= 1000 || (Math.abs(v) < 0.001 && v !== 0) ? v.toExponential(2) : Number(v.toPrecision(4)).toString());
const runHref = (id) => `#/run/${encodeURIComponent(id)}`;
const fileUrl = (id, ...path) => `/runs/${encodeURIComponent(id)}/${path.map(encodeURIComponent).join('/')}`;

function stateBadge(state) {
  return el('span', { class: `state ${state}` }, state);
}

function progress(s) {
  const frac = s.total ? Math.min(1, s.done / s.total) : 0;
  const bar = el('span', { class: 'bar' }, el('i', { style: `width:${(frac * 100).toFixed(1)}%` }));
  const text = s.unit === 'epochs' ? `epoch ${fmt(s.done)} / ${s.total ?? '?'}` : `${fmt(s.done)} / ${s.total ?? '?'} kimg`;
  return el('span', {}, bar, text);
}

// ---------- the live connection ----------

let source = null;
const handlers = {};

function connect(runIds) {
  if (source) source.close();
  const q = runIds.map((id) => `run=${encodeURIComponent(id)}`).join('&');
  source = new EventSource(`/api/events${q ? `?${q}` : ''}`);
  source.onopen = () => live.classList.add('on');
  source.onerror = () => live.classList.remove('on');
  for (const ev of ['runs', 'snapshot', 'rows', 'reset', 'samples', 'checkpoints', 'config', 'state']) {
    source.addEventListener(ev, (m) => handlers[ev]?.(JSON.parse(m.data)));
  }
}

function clearHandlers() {
  for (const k of Object.keys(handlers)) delete handlers[k];
}

// ---------- the runs ----------

const selected = new Set();

function showList() {
  crumbs.replaceChildren('runs');
  const body = el('tbody');
  const compare = el('button', { disabled: true, onclick: () => (location.hash = `#/compare/${[...selected].map(encodeURIComponent).join(',')}`) }, 'compare selected');
  main.replaceChildren(
    el('table', { id: 'runs' },
      el('thead', {}, el('tr', {}, ['', 'run', 'model', 'data', 'state', 'progress', 'last losses', 'img/s', 'best metric', 'updated'].map((h) => el('th', {}, h)))),
      body),
    el('p', {}, compare, ' ', el('span', { class: 'muted' }, 'tick two or more runs to overlay their curves')));
  handlers.runs = (runs) => {
    if (!runs.length) {
      body.replaceChildren(el('tr', {}, el('td', { colspan: 10, class: 'muted' }, 'no runs yet: they appear here as soon as training writes config.json')));
      return;
    }
    body.replaceChildren(...runs.map((s) => {
      const box = el('input', { type: 'checkbox', 'data-run': s.id, onchange: (e) => {
        if (e.target.checked) selected.add(s.id);
        else selected.delete(s.id);
        compare.disabled = selected.size < 2;
      } });
      box.checked = selected.has(s.id);
      const losses = Object.entries(s.losses).map(([k, v]) => `${k} ${fmt(v)}`).join('  ');
      return el('tr', { 'data-run': s.id },
        el('td', {}, box),
        el('td', {}, el('a', { href: runHref(s.id) }, s.id), el('div', { class: 'muted' }, s.path)),
        el('td', {}, s.model), el('td', {}, `${s.data}${s.resolution ? ` · ${s.resolution}px` : ''}`),
        el('td', {}, stateBadge(s.state)), el('td', {}, progress(s)),
        el('td', { class: 'losses' }, losses || '—'), el('td', {}, s.imgPerSec ? fmt(s.imgPerSec) : '—'),
        el('td', {}, s.best ? `${s.best.metric} ${fmt(s.best.value)}${s.best.kimg !== null ? ` @ ${fmt(s.best.kimg)} kimg` : ''}` : '—'),
        el('td', { class: 'muted' }, s.updated ? new Date(s.updated).toLocaleTimeString() : '—'));
    }));
    compare.disabled = selected.size < 2;
  };
  connect([]);
}

// ---------- charts ----------

/** TensorBoard's smoothing: an exponential moving average, debiased at the start. */
function smooth(ys, w) {
  if (!(w > 0)) return ys;
  const out = new Array(ys.length);
  let last = 0, n = 0;
  for (let i = 0; i < ys.length; i++) {
    const y = ys[i];
    if (y === null || !Number.isFinite(y)) {
      out[i] = null;
      continue;
    }
    last = last * w + (1 - w) * y;
    n++;
    out[i] = last / (1 - Math.pow(w, n));
  }
  return out;
}

/** The x of a row in the chosen unit (epochs from kimg and the images per epoch). */
function xOf(row, run) {
  if (settings.x === 'step') return typeof row.step === 'number' ? row.step : null;
  if (typeof row.kimg !== 'number') return null;
  if (settings.x === 'epochs' && run.summary?.epochImages) return (row.kimg * 1000) / run.summary.epochImages;
  return row.kimg;
}

/** [xs, ys] of the rows that have `key`, in order of x. */
function series(run, key) {
  const xs = [], ys = [];
  for (const r of run.rows) {
    const y = r[key];
    const x = xOf(r, run);
    if (typeof y !== 'number' || x === null) continue;
    if (xs.length && x <= xs[xs.length - 1]) continue;
    xs.push(x);
    ys.push(y);
  }
  return [xs, ys];
}

/** One uPlot per scalar, with one series per run; redrawn in place as rows arrive. */
class Chart {
  constructor(parent, key, runs) {
    this.key = key;
    this.runs = runs;
    this.box = el('div', { class: 'chart', 'data-scalar': key, 'data-points': 0 }, el('div', { class: 'title' }, key));
    parent.append(this.box);
    this.build();
  }

  data() {
    const tables = this.runs.map((r) => {
      const [xs, ys] = series(r, this.key);
      return [xs, smooth(ys, settings.smoothing)];
    });
    this.points = tables.reduce((n, t) => n + t[0].length, 0);
    this.positive = this.runs.every((r) => series(r, this.key)[1].every((v) => v > 0));
    return tables.length === 1 ? tables[0] : uPlot.join(tables);
  }

  build() {
    const data = this.data();
    this.plot?.destroy();
    const width = Math.max(300, this.box.clientWidth - 12);
    const distr = settings.log ? (this.positive ? 3 : 4) : 1;
    this.plot = new uPlot({
      width, height: 200,
      scales: { x: { time: false }, y: { distr, log: 10, asinh: 1 } },
      axes: [{ label: settings.x, size: 36, labelSize: 14 }, { size: 56 }],
      legend: { show: this.runs.length > 1 },
      cursor: { drag: { x: true, y: false } },
      series: [{ label: settings.x }, ...this.runs.map((r, i) => ({ label: r.id, stroke: COLORS[i % COLORS.length], width: 1.5, spanGaps: true, points: { show: false } }))],
    }, data, this.box);
    this.box.dataset.points = this.points;
  }

  update() {
    const wasPositive = this.positive;
    const data = this.data();
    if (settings.log && wasPositive !== this.positive) return this.build();
    this.plot.setData(data);
    this.box.dataset.points = this.points;
  }

  destroy() {
    this.plot?.destroy();
  }
}

/** The chart sections of a run or a comparison: built for the scalars seen, extended as new ones appear. */
class ChartSections {
  constructor(parent, runs) {
    this.runs = runs;
    this.charts = new Map();
    this.sections = {};
    for (const [kind, title] of [['loss', 'Losses'], ['schedule', 'Learning rate, schedule, speed'], ['metric', 'Metrics']]) {
      const grid = el('div', { class: 'charts', id: `charts-${kind}` });
      const head = el('h2', {}, title);
      const wrap = el('section', { hidden: true }, head, grid);
      parent.append(wrap);
      this.sections[kind] = { wrap, grid };
    }
    this.refresh();
  }

  keys() {
    const seen = new Set();
    for (const r of this.runs) for (const row of r.rows) for (const [k, v] of Object.entries(row)) if (typeof v === 'number') seen.add(k);
    return [...seen];
  }

  refresh() {
    for (const key of this.keys()) {
      const kind = kindOf(key);
      if (!kind) continue;
      const c = this.charts.get(key);
      if (c) c.update();
      else {
        const s = this.sections[kind];
        s.wrap.hidden = false;
        this.charts.set(key, new Chart(s.grid, key, this.runs));
      }
    }
  }

  rebuild() {
    for (const c of this.charts.values()) c.build();
  }

  destroy() {
    for (const c of this.charts.values()) c.destroy();
  }
}

function controls(onChange) {
  const slider = el('input', { type: 'range', min: 0, max: 0.99, step: 0.01, value: settings.smoothing, id: 'smoothing' });
  const shown = el('span', {}, settings.smoothing.toFixed(2));
  slider.addEventListener('input', () => {
    settings.smoothing = Number(slider.value);
    shown.textContent = settings.smoothing.toFixed(2);
    localStorage.setItem('gf.smoothing', slider.value);
    onChange(false);
  });
  const log = el('input', { type: 'checkbox', id: 'log' });
  log.checked = settings.log;
  log.addEventListener('change', () => {
    settings.log = log.checked;
    localStorage.setItem('gf.log', log.checked ? '1' : '0');
    onChange(true);
  });
  const x = el('select', { id: 'xaxis' }, ['kimg', 'epochs', 'step'].map((u) => el('option', { value: u }, u)));
  x.value = settings.x;
  x.addEventListener('change', () => {
    settings.x = x.value;
    localStorage.setItem('gf.x', x.value);
    onChange(true);
  });
  return el('div', { class: 'controls' },
    el('label', {}, 'smoothing ', slider, ' ', shown),
    el('label', {}, log, ' log scale'),
    el('label', {}, 'x: ', x));
}

// ---------- one run ----------

function sampleLabel(name, run) {
  const kimg = Number(name.replace(/\.png$/, ''));
  if (!Number.isFinite(kimg)) return name;
  const ep = run.summary?.unit === 'epochs' && run.summary.epochImages ? ` · epoch ${fmt((kimg * 1000) / run.summary.epochImages)}` : '';
  return `${fmt(kimg)} kimg${ep}`;
}

/** The sample grids: a slider through them, following the newest unless moved back. */
class Samples {
  constructor(parent, run) {
    this.run = run;
    this.slider = el('input', { type: 'range', min: 0, max: 0, value: 0, id: 'sample-slider' });
    this.label = el('span', { id: 'sample-label' });
    this.img = el('img', { id: 'sample-img', alt: 'sample grid' });
    this.img.addEventListener('load', () => {
      const maxW = Math.max(200, parent.clientWidth - 40);
      const k = Math.max(1, Math.min(4, Math.floor(maxW / this.img.naturalWidth), Math.floor(640 / this.img.naturalHeight)));
      this.img.style.width = `${this.img.naturalWidth * k}px`;
    });
    this.slider.addEventListener('input', () => this.show(Number(this.slider.value)));
    this.box = el('div', { class: 'samples' }, this.slider, ' ', this.label, this.img);
    parent.append(el('h2', {}, 'Samples (the same inputs in every grid)'), this.box);
    this.update();
  }

  show(i) {
    const names = this.run.samples;
    if (!names.length) {
      this.label.textContent = 'no grid yet';
      return;
    }
    const name = names[i];
    this.slider.value = i;
    this.label.textContent = `${sampleLabel(name, this.run)} (${i + 1} of ${names.length})`;
    if (this.img.dataset.name !== name) {
      this.img.dataset.name = name;
      this.img.src = fileUrl(this.run.id, 'samples', name);
    }
  }

  update() {
    const n = this.run.samples.length;
    const atNewest = Number(this.slider.value) >= Number(this.slider.max);
    this.slider.max = Math.max(0, n - 1);
    this.show(atNewest ? n - 1 : Math.min(Number(this.slider.value), n - 1));
  }
}

function bytes(n) {
  return n < 1 << 20 ? `${(n / 1024).toFixed(0)} KiB` : `${(n / (1 << 20)).toFixed(1)} MiB`;
}

function checkpointTable(run) {
  if (!run.checkpoints.length) return el('p', { class: 'muted' }, 'no checkpoint yet');
  return el('table', { id: 'checkpoints' },
    el('thead', {}, el('tr', {}, ['checkpoint', 'kimg', 'step', 'size', 'written', 'files'].map((h) => el('th', {}, h)))),
    el('tbody', {}, run.checkpoints.map((c) => el('tr', {},
      el('td', {}, c.name), el('td', {}, c.kimg === null ? '—' : fmt(c.kimg)), el('td', {}, c.step ?? '—'),
      el('td', {}, bytes(c.bytes)), el('td', { class: 'muted' }, new Date(c.time).toLocaleString()),
      el('td', {}, c.files.map((f) => [el('a', { href: fileUrl(run.id, 'checkpoints', c.name, f) }, f), ' ']))))));
}

function configView(run) {
  const c = run.config;
  if (!c) return el('p', { class: 'muted' }, 'no config.json yet');
  return el('pre', { id: 'config' }, JSON.stringify({ ganforge: c.ganforge, dataset: c.dataset, classes: c.classes, options: c.options }, null, 2));
}

function header(run) {
  const s = run.summary;
  if (!s) return el('p', { class: 'muted' }, 'waiting for the run folder…');
  return el('p', {}, stateBadge(s.state), '  ', el('b', {}, s.model), ` on ${s.data}${s.resolution ? ` · ${s.resolution}px` : ''} · `, progress(s),
    ` · step ${s.step}${s.imgPerSec ? ` · ${fmt(s.imgPerSec)} img/s` : ''}${s.best ? ` · best ${s.best.metric} ${fmt(s.best.value)}` : ''} · `,
    el('span', { class: 'muted' }, s.path));
}

function newRun(id) {
  return { id, summary: null, config: null, rows: [], samples: [], checkpoints: [], state: null };
}

function showRun(id) {
  crumbs.replaceChildren(el('a', { href: '#/' }, 'runs'), ' / ', id);
  const run = newRun(id);
  const head = el('div', { id: 'run-header' }, header(run));
  const chartsBox = el('div');
  const samplesBox = el('div');
  const ckBox = el('div', {}, checkpointTable(run));
  const cfgBox = el('div', {}, configView(run));
  let sections = null;
  let samples = null;
  main.replaceChildren(head, controls((rebuild) => (rebuild ? sections?.rebuild() : sections?.refresh())), chartsBox, samplesBox,
    el('h2', {}, 'Checkpoints'), ckBox, el('h2', {}, 'Config (every option, defaults written out)'), cfgBox);
  const ensure = () => {
    sections ??= new ChartSections(chartsBox, [run]);
    samples ??= new Samples(samplesBox, run);
  };
  handlers.snapshot = (m) => {
    if (m.run !== id) return;
    Object.assign(run, { summary: m.summary, config: m.config, rows: m.rows, samples: m.samples, checkpoints: m.checkpoints, state: m.state });
    head.replaceChildren(header(run));
    ckBox.replaceChildren(checkpointTable(run));
    cfgBox.replaceChildren(configView(run));
    sections?.destroy();
    chartsBox.replaceChildren();
    sections = null;
    ensure();
    samples.update();
  };
  handlers.runs = (list) => {
    const s = list.find((r) => r.id === id);
    if (!s) return;
    run.summary = s;
    head.replaceChildren(header(run));
  };
  handlers.reset = () => (run.rows = []);
  handlers.rows = (m) => {
    run.rows.push(...m.rows);
    ensure();
    sections.refresh();
  };
  handlers.samples = (m) => {
    run.samples = m.samples;
    ensure();
    samples.update();
  };
  handlers.checkpoints = (m) => {
    run.checkpoints = m.checkpoints;
    ckBox.replaceChildren(checkpointTable(run));
  };
  handlers.config = (m) => {
    run.config = m.config;
    cfgBox.replaceChildren(configView(run));
  };
  connect([id]);
}

// ---------- several runs ----------

function showCompare(ids) {
  crumbs.replaceChildren(el('a', { href: '#/' }, 'runs'), ' / compare ', ids.join(', '));
  const runs = ids.map(newRun);
  const byId = new Map(runs.map((r) => [r.id, r]));
  const chartsBox = el('div', { id: 'compare' });
  const grids = el('div', { class: 'grids' });
  let sections = null;
  main.replaceChildren(controls((rebuild) => (rebuild ? sections?.rebuild() : sections?.refresh())), chartsBox, el('h2', {}, 'Newest sample grids'), grids);
  const drawGrids = () => grids.replaceChildren(...runs.map((r, i) => el('figure', {},
    el('figcaption', { style: `color:${COLORS[i % COLORS.length]}` }, el('a', { href: runHref(r.id) }, r.id), r.samples.length ? ` · ${sampleLabel(r.samples[r.samples.length - 1], r)}` : ''),
    r.samples.length ? el('img', { src: fileUrl(r.id, 'samples', r.samples[r.samples.length - 1]), style: 'width:256px' }) : el('p', { class: 'muted' }, 'no grid yet'))));
  const redraw = () => {
    sections?.destroy();
    chartsBox.replaceChildren();
    sections = new ChartSections(chartsBox, runs);
  };
  handlers.snapshot = (m) => {
    const r = byId.get(m.run);
    if (!r) return;
    Object.assign(r, { summary: m.summary, config: m.config, rows: m.rows, samples: m.samples, checkpoints: m.checkpoints, state: m.state });
    redraw();
    drawGrids();
  };
  handlers.runs = (list) => {
    for (const s of list) if (byId.has(s.id)) byId.get(s.id).summary = s;
  };
  handlers.reset = (m) => byId.has(m.run) && (byId.get(m.run).rows = []);
  handlers.rows = (m) => {
    const r = byId.get(m.run);
    if (!r) return;
    r.rows.push(...m.rows);
    if (!sections) redraw();
    else sections.refresh();
  };
  handlers.samples = (m) => {
    const r = byId.get(m.run);
    if (!r) return;
    r.samples = m.samples;
    drawGrids();
  };
  redraw();
  drawGrids();
  connect(ids);
}

function routeTo() {
  clearHandlers();
  const h = decodeURIComponent(location.hash.replace(/^#/, ''));
  const m = /^\/run\/(.+)$/.exec(h);
  const c = /^\/compare\/(.+)$/.exec(h);
  if (m) showRun(m[1]);
  else if (c) showCompare(c[1].split(',').filter(Boolean));
  else showList();
}

window.addEventListener('hashchange', routeTo);
routeTo();
