// The playground of `ganforge export --web` (issue 15), in Debian's Chromium: the page
// loads with no request beyond 127.0.0.1, generates, and its canvas pixels equal the ONNX
// model's output (run by onnxruntime-node) for the same seed within 2/255 — for an image
// family (class-conditional DCGAN), style-based ones (StyleGAN, StyleGAN2: truncation, mixing) and
// a translator (pix2pix: the drawing canvas). A screenshot of each page is written to
// the folder the run prints.
import { after, before, test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import { existsSync, mkdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { extname, join, normalize } from 'node:path';
import { pathToFileURL } from 'node:url';
import type { AddressInfo } from 'node:net';
import ort from 'onnxruntime-node';
import { chromium, type Browser, type Page } from 'playwright-core';
import { cliAsync, exitOf, tempDir } from './train-helpers.js';
import { fromRoot } from './helpers.js';

const CHROMIUM = '/usr/bin/chromium';
const skip = existsSync(CHROMIUM) ? false : `${CHROMIUM} is absent (apt-get install chromium; scripts/bootstrap.sh installs it where apt-get is available)`;

const dir = tempDir('gf-playground-');
const shots = join(dir, 'screenshots');
const RUNS = {
  dcgan: ['--model', 'dcgan', '--data', 'shapes', '--resolution', '16', '--nz', '8', '--ngf', '8', '--ndf', '8', '--batch', '8', '--kimg', '0.016', '--classes'],
  stylegan: ['--model', 'stylegan', '--data', 'shapes', '--resolution', '16', '--lod_initial_resolution', '16', '--minibatch_base', '8', '--minibatch_dict', '',
    '--kimg', '0.016', '--latent_size', '16', '--dlatent_size', '16', '--mapping_layers', '2', '--fmap_base', '64', '--fmap_max', '16'],
  stylegan2: ['--model', 'stylegan2', '--data', 'shapes', '--resolution', '16', '--batch', '4', '--kimg', '0.008', '--z_dim', '8', '--w_dim', '8',
    '--channel_base', '64', '--channel_max', '8', '--map', '2'],
  pix2pix: ['--model', 'pix2pix', '--data', 'shapes-pairs', '--netG', 'unet_32', '--crop_size', '32', '--ngf', '4', '--ndf', '4', '--n_epochs', '1', '--n_epochs_decay', '0', '--max_dataset_size', '2'],
};
type Family = keyof typeof RUNS;

/** What the tests read of a canvas, in the page (the test compiles without the DOM's types). */
interface Canvas {
  width: number;
  height: number;
  getContext(kind: '2d'): { getImageData(x: number, y: number, w: number, h: number): { data: ArrayLike<number> } } | null;
}

interface Seeded {
  latent(seed: number, index: number, size: number): Float32Array;
  toRGBA(data: Float32Array, n: number, channels: number, height: number, width: number): Uint8ClampedArray;
}
let seeded: Seeded;
let browser: Browser;
let server: Server;
let base = '';
let root = '';

const TYPES: Record<string, string> = {
  '.html': 'text/html', '.js': 'text/javascript', '.mjs': 'text/javascript', '.json': 'application/json', '.wasm': 'application/wasm', '.onnx': 'application/octet-stream',
};

/** A static server of the test's own over `root` (switched per family), on 127.0.0.1. */
function serve(): Promise<void> {
  server = createServer((req, res) => {
    const path = normalize(decodeURIComponent(new URL(req.url ?? '/', 'http://x').pathname)).replace(/^\/+/, '') || 'index.html';
    const file = join(root, path);
    if (!file.startsWith(root) || !existsSync(file) || !statSync(file).isFile()) {
      res.writeHead(404).end();
      return;
    }
    res.writeHead(200, { 'content-type': TYPES[extname(file)] ?? 'application/octet-stream' }).end(readFileSync(file));
  });
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => {
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    resolve();
  }));
}

before(async () => {
  if (skip) return;
  seeded = (await import(pathToFileURL(fromRoot('src/web/playground/seeded.js')).href)) as Seeded;
  const names = Object.keys(RUNS) as Family[];
  const trained = names.map((f) => exitOf(cliAsync(['train', ...RUNS[f], '--workers', '0', '--n_samples', '4', '--out', join(dir, f)])));
  for (const [i, r] of (await Promise.all(trained)).entries()) assert.equal(r.code, 0, `${names[i]}: ${r.stderr}`);
  const exported = names.map((f) => exitOf(cliAsync(['export', '--run', join(dir, f), '--web', join(dir, `web-${f}`)])));
  for (const [i, r] of (await Promise.all(exported)).entries()) assert.equal(r.code, 0, `export ${names[i]}: ${r.stderr}`);
  mkdirSync(shots, { recursive: true });
  await serve();
  browser = await chromium.launch({ executablePath: CHROMIUM, headless: true, args: ['--no-sandbox'] });
});

after(async () => {
  await browser?.close();
  server?.close();
});

/** Opens a family's playground; every request beyond the test's server is refused and recorded. */
async function open(t: TestContext, family: Family): Promise<{ page: Page; outside: string[] }> {
  root = join(dir, `web-${family}`);
  const page = await browser.newPage();
  const outside: string[] = [];
  await page.route('**/*', (route) => {
    const url = route.request().url();
    if (url.startsWith(`${base}/`)) return route.continue();
    outside.push(url);
    return route.abort();
  });
  const errors: string[] = [];
  page.on('pageerror', (e) => errors.push(String(e)));
  await page.goto(`${base}/index.html`);
  await page.waitForFunction(() => {
    const p = (globalThis as unknown as { playground?: { ready?: boolean; error?: string } }).playground;
    return p?.ready || p?.error;
  }, undefined, { timeout: 20_000 });
  const error = await page.evaluate(() => (globalThis as unknown as { playground: { error?: string } }).playground.error);
  assert.equal(error, undefined, `the page failed: ${error}`);
  assert.deepEqual(errors, []);
  t.after(() => page.close());
  return { page, outside };
}

async function pixels(page: Page, selector: string): Promise<number[][]> {
  return page.$$eval(selector, (cs) => (cs as unknown as Canvas[]).map((c) => Array.from(c.getContext('2d')!.getImageData(0, 0, c.width, c.height).data)));
}

async function onnx(family: Family, file: string, feeds: Record<string, ort.Tensor>): Promise<Record<string, ort.Tensor>> {
  const s = await ort.InferenceSession.create(join(dir, `web-${family}`, file));
  try {
    return await s.run(feeds);
  } finally {
    await s.release();
  }
}

/** Largest difference of two RGBA byte arrays (the alpha bytes too). */
function maxByteDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  assert.equal(a.length, b.length, 'pixel counts');
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i] - b[i]));
  return m;
}

function info(family: Family): { latent: number; numLayers: number; dlatent: number; resolution: number; inputChannels: number } {
  return JSON.parse(readFileSync(join(dir, `web-${family}`, 'model.json'), 'utf8'));
}

/** The grid's cells against G.onnx on the same seeded latents (the page's first class, the slider's ψ). */
async function checkGrid(page: Page, family: Family, extra: Record<string, ort.Tensor> = {}): Promise<void> {
  const seed = Number(await page.inputValue('#seed'));
  const cells = await pixels(page, '#grid canvas');
  const { latent } = info(family);
  const zs = new Float32Array(cells.length * latent);
  for (let i = 0; i < cells.length; i++) zs.set(seeded.latent(seed, i, latent), i * latent);
  const { image } = await onnx(family, 'G.onnx', { z: new ort.Tensor('float32', zs, [cells.length, latent]), ...extra });
  const [, c, h, w] = image.dims;
  cells.forEach((px, i) => assert.ok(maxByteDiff(px, seeded.toRGBA(image.data as Float32Array, i, c, h, w)) <= 2, `${family} cell ${i}`));
  // Different seeds give different images (the page really ran the model per latent).
  assert.ok(maxByteDiff(cells[0], cells[1]) > 2, 'cells differ');
}

/** Changes an input as a user would (the page listens for 'change') and waits for the redraw. */
async function set(page: Page, selector: string, value: string): Promise<void> {
  const runs = await page.evaluate(() => (globalThis as unknown as { playground: { runs: number } }).playground.runs);
  await page.locator(selector).fill(value).catch(() => page.selectOption(selector, value));
  await page.dispatchEvent(selector, 'change');
  await page.waitForFunction((n) => (globalThis as unknown as { playground: { runs: number } }).playground.runs > n, runs);
}

async function finish(t: TestContext, page: Page, family: Family, outside: string[]): Promise<void> {
  assert.deepEqual(outside, [], 'requests beyond 127.0.0.1');
  const file = join(shots, `${family}.png`);
  await page.screenshot({ path: file, fullPage: true });
  const ms = await page.evaluate(() => (globalThis as unknown as { playground: { msPerImage: Record<string, number> } }).playground.msPerImage);
  const line = `${family}: ${Object.entries(ms).map(([k, v]) => `${k} ${v.toFixed(1)} ms/image`).join(', ')}; screenshot ${file}`;
  t.diagnostic(line);
}

test('image family (class-conditional dcgan): the grid equals the ONNX output for the seed and class; new seed and class picker redraw it', { skip }, async (t) => {
  const { page, outside } = await open(t, 'dcgan');
  const labels = (k: number) => new ort.Tensor('int64', BigInt64Array.from({ length: 8 }, () => BigInt(k)), [8]);
  await checkGrid(page, 'dcgan', { labels: labels(0) });
  await set(page, '#class', '2');
  await checkGrid(page, 'dcgan', { labels: labels(2) });
  const before = (await pixels(page, '#grid canvas'))[0];
  await page.click('#newSeed');
  await page.waitForFunction((s) => (globalThis as unknown as { document: { getElementById(id: string): { value: string } } }).document.getElementById('seed').value !== s, '1');
  await page.waitForFunction(() => (globalThis as unknown as { playground: { runs: number } }).playground.runs >= 3);
  await checkGrid(page, 'dcgan', { labels: labels(2) });
  assert.ok(maxByteDiff(before, (await pixels(page, '#grid canvas'))[0]) > 2, 'a new seed, a new grid');
  assert.equal((await pixels(page, '#strip canvas')).length, 8, 'the interpolation strip');
  assert.match(await page.textContent('#gridTiming') ?? '', /ms per image/);
  await finish(t, page, 'dcgan', outside);
});

test('a model exported with a fixed batch is run in chunks of it (the last one padded)', { skip }, async (t) => {
  // The dcgan model runs any batch; told it is fixed at 3, the page feeds it 3 at a time.
  const file = join(dir, 'web-dcgan', 'model.json');
  const original = readFileSync(file, 'utf8');
  writeFileSync(file, JSON.stringify({ ...JSON.parse(original), batch: 3 }));
  t.after(() => writeFileSync(file, original));
  const { page, outside } = await open(t, 'dcgan');
  await checkGrid(page, 'dcgan', { labels: new ort.Tensor('int64', new BigInt64Array(8), [8]) });
  assert.match(await page.textContent('#gridTiming') ?? '', /runs of a fixed batch of 3/);
  assert.deepEqual(outside, []);
});

for (const family of ['stylegan', 'stylegan2'] as const) {
  test(`style-based family (${family}): the grid follows the truncation slider; style mixing takes the chosen layers`, { skip }, async (t) => {
    const { page, outside } = await open(t, family);
    const psi = (v: number) => ({ truncation_psi: new ort.Tensor('float32', Float32Array.of(v), [1]) });
    await checkGrid(page, family, psi(Number(await page.inputValue('#psi'))));
    const mixes = () => page.evaluate(() => (globalThis as unknown as { playground: { mixes: number } }).playground.mixes);
    let drawn = await mixes();
    await set(page, '#psi', '0.3');
    await checkGrid(page, family, psi(0.3));
    const { latent, numLayers: L, dlatent: D } = info(family);
    // Mixing: the third image is synthesis(w of the source with one range of layers of the
    // other): coarse (0–3) for StyleGAN at 16² (8 layers); middle (4–7, here 4–5) for
    // StyleGAN2's 6, whose coarse range covers nearly all of them.
    const [range, first, last] = family === 'stylegan' ? ['coarse', 0, 3] : ['middle', 4, Math.min(7, L - 1)];
    if (range !== 'coarse') {
      await page.waitForFunction((n) => (globalThis as unknown as { playground: { mixes: number } }).playground.mixes > n, drawn);
      drawn = await mixes();
      await page.selectOption('#mixRange', range);
      await page.dispatchEvent('#mixRange', 'change');
    }
    await page.waitForFunction((n) => (globalThis as unknown as { playground: { mixes: number } }).playground.mixes > n, drawn);
    const zs = new Float32Array(2 * latent);
    zs.set(seeded.latent(Number(await page.inputValue('#mixA')), 0, latent), 0);
    zs.set(seeded.latent(Number(await page.inputValue('#mixB')), 0, latent), latent);
    const { w } = await onnx(family, 'mapping.onnx', { z: new ort.Tensor('float32', zs, [2, latent]), ...psi(0.3) });
    const wd = w.data as Float32Array;
    const mixed = new Float32Array(L * D);
    for (let l = 0; l < L; l++) {
      const from = l >= first && l <= last ? L * D : 0;
      mixed.set(wd.subarray(from + l * D, from + (l + 1) * D), l * D);
    }
    const { image } = await onnx(family, 'synthesis.onnx', { w: new ort.Tensor('float32', mixed, [1, L, D]) });
    const row = await pixels(page, '#mixRow canvas');
    assert.ok(maxByteDiff(row[2], seeded.toRGBA(image.data as Float32Array, 0, 3, 16, 16)) <= 2, 'the mixed image');
    // Apart from each source by more than the tolerance of 'equal' above (a tiny network's
    // ranges of layers change its images only a little: 8 levels for StyleGAN2's middle).
    assert.ok(maxByteDiff(row[2], row[0]) > 2 && maxByteDiff(row[2], row[1]) > 2, `the mix is neither source: ${maxByteDiff(row[2], row[0])}, ${maxByteDiff(row[2], row[1])}`);
    await finish(t, page, family, outside);
  });
}

test('translation family (pix2pix): the drawing is translated live and equals the ONNX output', { skip }, async (t) => {
  const { page, outside } = await open(t, 'pix2pix');
  const side = info('pix2pix').resolution;
  async function check(): Promise<void> {
    const [input, output] = await pixels(page, '#input, #output');
    const x = new Float32Array(3 * side * side);
    for (let p = 0; p < side * side; p++) for (let k = 0; k < 3; k++) x[k * side * side + p] = input[p * 4 + k] / 127.5 - 1;
    const { translated } = await onnx('pix2pix', 'G.onnx', { image: new ort.Tensor('float32', x, [1, 3, side, side]) });
    assert.ok(maxByteDiff(output, seeded.toRGBA(translated.data as Float32Array, 0, 3, side, side)) <= 2, 'translated pixels');
  }
  await check();
  // A stroke across the canvas: translated when the pointer lifts.
  const runs = await page.evaluate(() => (globalThis as unknown as { playground: { runs: number } }).playground.runs);
  const box = (await page.locator('#input').boundingBox())!;
  await page.mouse.move(box.x + 20, box.y + 200);
  await page.mouse.down();
  await page.mouse.move(box.x + 220, box.y + 40, { steps: 5 });
  await page.mouse.up();
  await page.waitForFunction((n) => (globalThis as unknown as { playground: { runs: number } }).playground.runs > n, runs);
  await check();
  await finish(t, page, 'pix2pix', outside);
});
