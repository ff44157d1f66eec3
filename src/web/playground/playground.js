// The playground page: runs an exported generator with onnxruntime-web's wasm backend
// (files served from this folder, no network). model.json says what the model is.
import * as ort from './ort/ort.wasm.min.mjs';
import { latent, toRGBA } from './seeded.js';

const $ = (id) => document.getElementById(id);
const GRID = 8;
const STRIP = 8;

ort.env.wasm.wasmPaths = new URL('./ort/', location.href).href;
// Threads need a cross-origin-isolated page, which a plain static server does not give.
ort.env.wasm.numThreads = 1;

/** Draws image `n` of an NCHW [-1, 1] output into a canvas at its own size. */
function paint(canvas, out, n) {
  const [, c, h, w] = out.dims;
  canvas.width = w;
  canvas.height = h;
  canvas.getContext('2d').putImageData(new ImageData(toRGBA(out.data, n, c, h, w), w, h), 0, 0);
}

function canvases(parent, count, cls = 'img') {
  parent.replaceChildren(...Array.from({ length: count }, () => Object.assign(document.createElement('canvas'), { className: cls })));
  return [...parent.children];
}

async function timed(session, feeds, images, el, what) {
  const t0 = performance.now();
  const out = await session.run(feeds);
  const ms = (performance.now() - t0) / images;
  el.textContent = `${what}: ${ms.toFixed(1)} ms per image (${images} in one run, wasm, 1 thread)`;
  state.msPerImage[what] = ms;
  return out;
}

const state = { msPerImage: {}, runs: 0, mixes: 0 };
window.playground = state;

async function main() {
  const info = await (await fetch('model.json')).json();
  state.info = info;
  const sizes = {};
  const sessions = {};
  for (const [k, file] of Object.entries(info.files)) {
    const bytes = new Uint8Array(await (await fetch(file)).arrayBuffer());
    sizes[k] = bytes.length;
    sessions[k] = await ort.InferenceSession.create(bytes, { executionProviders: ['wasm'] });
  }
  $('title').textContent = `ganforge playground — ${info.family}`;
  const kb = Object.entries(sizes).map(([k, n]) => `${info.files[k]} ${(n / 1024).toFixed(0)} KiB`).join(', ');
  $('info').textContent = `${info.kind === 'translation' ? `${info.inputChannels}→${info.channels} channels, sides multiples of ${info.stride}` : `${info.resolution}×${info.height ?? info.resolution}, z ${info.latent}`}` +
    ` · ${kb} · checkpoint ${info.checkpoint.split('/').pop()} · batch ${info.batch ? `fixed at ${info.batch}` : 'dynamic'}`;
  if (info.kind === 'translation') await translation(info, sessions.G);
  else await generation(info, sessions);
  state.ready = true;
}

async function generation(info, sessions) {
  const style = info.kind === 'style';
  const conditional = Array.isArray(info.classes) && info.classes.length > 0;
  for (const id of ['generate', 'interpolate']) $(id).hidden = false;
  // Mixing runs mapping and synthesis on 2 and 3 images: it needs a dynamic batch.
  const mixing = style && sessions.mapping && !info.batch;
  if (mixing) $('mix').hidden = false;
  if (conditional) {
    $('classBox').hidden = false;
    $('class').replaceChildren(...info.classes.map((c, i) => new Option(`${i}: ${c}`, String(i))));
  }
  if (style) $('psiBox').hidden = false;

  const feeds = (zs, n) => {
    const f = { z: new ort.Tensor('float32', zs, [n, info.latent]) };
    if (conditional) f.labels = new ort.Tensor('int64', BigInt64Array.from({ length: n }, () => BigInt($('class').value)), [n]);
    if (style) f.truncation_psi = new ort.Tensor('float32', Float32Array.of(Number($('psi').value)), [1]);
    return f;
  };
  const zsOf = (seeds) => {
    const zs = new Float32Array(seeds.length * info.latent);
    seeds.forEach(([s, i], k) => zs.set(latent(s, i, info.latent), k * info.latent));
    return zs;
  };
  /**
   * Runs G on n latents: in one run, or in runs of the model's fixed batch when it was
   * exported with one (the last run padded with zeros).
   */
  async function generate(zs, n, el, what) {
    const fixed = info.batch;
    if (!fixed) return (await timed(sessions.G, feeds(zs, n), n, el, what)).image;
    const t0 = performance.now();
    let data = null, dims = null;
    for (let i = 0; i < n; i += fixed) {
      const chunk = new Float32Array(fixed * info.latent);
      chunk.set(zs.subarray(i * info.latent, Math.min(n, i + fixed) * info.latent));
      const { image } = await sessions.G.run(feeds(chunk, fixed));
      const per = image.data.length / fixed;
      if (!data) { data = new Float32Array(n * per); dims = [n, ...image.dims.slice(1)]; }
      data.set(image.data.subarray(0, Math.min(fixed, n - i) * per), i * per);
    }
    const ms = (performance.now() - t0) / n;
    el.textContent = `${what}: ${ms.toFixed(1)} ms per image (runs of a fixed batch of ${fixed}, wasm, 1 thread)`;
    state.msPerImage[what] = ms;
    return { dims, data };
  }

  const grid = canvases($('grid'), GRID);
  async function drawGrid() {
    const seed = Number($('seed').value) >>> 0;
    const out = await generate(zsOf(grid.map((_, i) => [seed, i])), GRID, $('gridTiming'), 'grid');
    grid.forEach((c, i) => paint(c, out, i));
    state.runs++;
  }
  $('newSeed').onclick = () => { $('seed').value = String(Math.floor(Math.random() * 2 ** 31)); drawGrid(); };
  for (const id of ['seed', 'class', 'psi']) $(id).addEventListener('change', () => { drawGrid(); redrawOthers(); });
  $('psi').addEventListener('input', () => { $('psiValue').textContent = Number($('psi').value).toFixed(2); });

  // Interpolation: linear in z between two seeds' first latents.
  const strip = canvases($('strip'), STRIP);
  let ends = null;
  async function drawStrip() {
    const a = latent(Number($('seedA').value) >>> 0, 0, info.latent), b = latent(Number($('seedB').value) >>> 0, 0, info.latent);
    ends = [a, b];
    const zs = new Float32Array(STRIP * info.latent);
    for (let k = 0; k < STRIP; k++) {
      const t = k / (STRIP - 1);
      for (let j = 0; j < info.latent; j++) zs[k * info.latent + j] = a[j] + t * (b[j] - a[j]);
    }
    const out = await generate(zs, STRIP, $('stripTiming'), 'interpolation');
    strip.forEach((c, i) => paint(c, out, i));
    await drawLerp();
  }
  async function drawLerp() {
    const t = Number($('t').value);
    const [a, b] = ends;
    const z = a.map((v, j) => v + t * (b[j] - v));
    paint($('lerp'), await generate(z, 1, {}, 'slider'), 0);
  }
  for (const id of ['seedA', 'seedB']) $(id).addEventListener('change', drawStrip);
  $('t').addEventListener('input', drawLerp);

  // Style mixing: the source's w with one range of layers taken from the other seed's.
  const mixRow = canvases($('mixRow'), 3);
  async function drawMix() {
    const L = info.numLayers, D = info.dlatent;
    const zs = zsOf([[Number($('mixA').value) >>> 0, 0], [Number($('mixB').value) >>> 0, 0]]);
    const t0 = performance.now();
    const { w } = await sessions.mapping.run(feeds(zs, 2));
    const mixed = new Float32Array(3 * L * D);
    mixed.set(w.data.subarray(0, L * D), 0);
    mixed.set(w.data.subarray(L * D, 2 * L * D), L * D);
    const range = info.styles[$('mixRange').value];
    for (let l = 0; l < L; l++) {
      const from = range && l >= range[0] && l <= range[1] ? 1 : 0;
      mixed.set(w.data.subarray(from * L * D + l * D, from * L * D + (l + 1) * D), 2 * L * D + l * D);
    }
    const { image } = await sessions.synthesis.run({ w: new ort.Tensor('float32', mixed, [3, L, D]) });
    const ms = (performance.now() - t0) / 3;
    $('mixTiming').textContent = `source, style, mixed: ${ms.toFixed(1)} ms per image`;
    state.msPerImage.mix = ms;
    mixRow.forEach((c, i) => paint(c, image, i));
    state.mixes++;
  }
  if (mixing) {
    for (const [k, r] of Object.entries(info.styles)) if (!r) $('mixRange').querySelector(`option[value=${k}]`).disabled = true;
    for (const id of ['mixA', 'mixB', 'mixRange']) $(id).addEventListener('change', drawMix);
  }
  async function redrawOthers() {
    await drawStrip();
    if (mixing) await drawMix();
  }
  await drawGrid();
  await redrawOthers();
}

async function translation(info, session) {
  $('translate').hidden = false;
  const input = $('input'), output = $('output');
  const side = info.resolution;
  input.width = input.height = side;
  const ctx = input.getContext('2d', { willReadFrequently: true });
  function clear() {
    ctx.fillStyle = '#fff';
    ctx.fillRect(0, 0, side, side);
  }
  // A starting sketch, so the page shows a translation before anyone draws.
  function sketch() {
    clear();
    ctx.strokeStyle = '#000';
    ctx.lineWidth = Math.max(1, side / 32);
    ctx.strokeRect(side * 0.2, side * 0.25, side * 0.6, side * 0.5);
    ctx.beginPath();
    ctx.arc(side * 0.5, side * 0.5, side * 0.15, 0, 2 * Math.PI);
    ctx.stroke();
  }
  async function run() {
    const { data } = ctx.getImageData(0, 0, side, side);
    const c = info.inputChannels, plane = side * side;
    const x = new Float32Array(c * plane);
    for (let p = 0; p < plane; p++) {
      if (c === 1) x[p] = (0.299 * data[p * 4] + 0.587 * data[p * 4 + 1] + 0.114 * data[p * 4 + 2]) / 127.5 - 1;
      else for (let k = 0; k < 3; k++) x[k * plane + p] = data[p * 4 + k] / 127.5 - 1;
    }
    const out = await timed(session, { image: new ort.Tensor('float32', x, [1, c, side, side]) }, 1, $('translateTiming'), 'translation');
    paint(output, out.translated, 0);
    state.runs++;
  }
  // Drawing: strokes in black; each finished stroke is translated.
  let drawing = false;
  const at = (e) => {
    const r = input.getBoundingClientRect();
    return [((e.clientX - r.left) / r.width) * side, ((e.clientY - r.top) / r.height) * side];
  };
  input.addEventListener('pointerdown', (e) => {
    drawing = true;
    ctx.strokeStyle = '#000';
    ctx.lineWidth = Number($('brush').value) * side / 128;
    ctx.lineCap = 'round';
    ctx.beginPath();
    ctx.moveTo(...at(e));
  });
  input.addEventListener('pointermove', (e) => { if (drawing) { ctx.lineTo(...at(e)); ctx.stroke(); } });
  window.addEventListener('pointerup', () => { if (drawing) { drawing = false; run(); } });
  $('clear').onclick = () => { clear(); run(); };
  async function useImage(file) {
    const bmp = await createImageBitmap(file);
    ctx.drawImage(bmp, 0, 0, side, side);
    await run();
  }
  $('file').addEventListener('change', () => $('file').files[0] && useImage($('file').files[0]));
  document.addEventListener('dragover', (e) => e.preventDefault());
  document.addEventListener('drop', (e) => {
    e.preventDefault();
    const f = e.dataTransfer.files[0];
    if (f) useImage(f);
  });
  sketch();
  await run();
}

main().catch((e) => {
  $('error').textContent = String(e && e.stack ? e.stack : e);
  state.error = String(e);
});
