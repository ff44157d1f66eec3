// ONNX export of BigGAN (issue 15): G_ema in eval mode, spectral norm folded as the
// eval forward computes it (W/σ from the stored u, which stays as it was), the standing
// statistics of the checkpoint baked into the batch norms, class indices through the
// shared embedding as a Gather. onnxruntime-node's output equals our generator's for a
// batch the graph was not traced at; the export leaks no tensor. Two tiny runs: a
// CIFAR-like one (class embeddings in every ccbn, no attention) and one with the shared
// embedding, hierarchical z, self-attention at 16² and standing statistics; and a
// BigGAN-deep one.
import { before, test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, readFileSync, statSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join, normalize } from 'node:path';
import { pathToFileURL } from 'node:url';
import { chromium } from 'playwright-core';
import { sendFile } from '../src/serve/static.js';
import { fromRoot } from './helpers.js';
import ort from 'onnxruntime-node';
import onnxProto from 'onnx-proto';
import * as torch from '../src/torch/index.js';
import { f32, i64, maxDiff, runOnnx } from './onnx-helpers.js';
import * as nn from '../src/nn/index.js';
import { loadRun, type LoadedRun } from '../src/families/load.js';
import { disposeRun } from '../src/cli/latents.js';
import { exportRun } from '../src/cli/export_run.js';
import type { ClassGenerator } from '../src/families/biggan_sampling.js';
import { cliAsync, exitOf, tempDir } from './train-helpers.js';

const dir = tempDir('gf-onnx-biggan-');
const COMMON = ['--model', 'biggan', '--data', 'shapes', '--classes', '--resolution', '32', '--batch', '4', '--G_ch', '2', '--D_ch', '2', '--dim_z', '8',
  '--num_D_steps', '1', '--ema_start', '1', '--kimg', '0.008', '--workers', '0', '--sample_kimg', '0', '--n_samples', '4'];
const RUNS = {
  cifar: [...COMMON, '--G_attn', '0', '--D_attn', '0', '--G_init', 'N02', '--D_init', 'N02'],
  // Unconditional (one class) with the reference's own batch norm and standing statistics.
  uncond: [...COMMON.filter((a) => a !== '--classes'), '--G_attn', '0', '--D_attn', '0', '--mybn', '--accumulate_stats', '--num_standing_accumulations', '2'],
  hier: [...COMMON, '--G_shared', '--shared_dim', '4', '--hier', '--G_attn', '16', '--D_attn', '16', '--accumulate_stats', '--num_standing_accumulations', '2'],
  // BigGAN-deep: the whole z beside the shared embedding in every block, bottleneck blocks, attention.
  deep: ['--model', 'biggan_deep', ...COMMON.slice(2), '--shared_dim', '4', '--G_depth', '2', '--D_depth', '1', '--G_attn', '16', '--D_attn', '16'],
};
type Run = keyof typeof RUNS;

before(async () => {
  const runs = Object.keys(RUNS) as Run[];
  const done = await Promise.all(runs.map((r) => exitOf(cliAsync(['train', ...RUNS[r], '--out', join(dir, r)]))));
  done.forEach((d, i) => assert.equal(d.code, 0, `${runs[i]} training failed: ${d.stderr}`));
});

const run = async (model: Uint8Array, feeds: Record<string, ort.Tensor>): Promise<ort.Tensor> => (await runOnnx(model, feeds)).image;

async function withRun(r: Run, fn: (loaded: LoadedRun, G: ClassGenerator) => Promise<void>): Promise<void> {
  const loaded = loadRun(join(dir, r), { warn: () => {} });
  try {
    await fn(loaded, loaded.recipe.networks().G_ema as ClassGenerator);
  } finally {
    disposeRun(loaded);
  }
}

/** Every buffer of G (SN's u and sv, the stored statistics), copied. */
function buffers(G: ClassGenerator): Map<string, torch.Tensor> {
  return new Map(G.namedBuffers().map(([k, t]) => [k, t.clone()]));
}

const TOL = 1e-4;

for (const r of Object.keys(RUNS) as Run[]) {
  test(`biggan ${r}: the ONNX model equals G_ema's eval output at a batch it was not traced at; SN folded, u untouched, no leak`, () => withRun(r, async (loaded, G) => {
    assert.equal(G.training, false);
    if (r === 'hier' || r === 'deep') {
      // Two steps leave attention's gamma near its initial 0, which would hide the block: give it weight.
      torch.noGrad(() => G.namedParameters().filter(([k]) => k.endsWith('.gamma')).forEach(([, p]) => p.fill_(0.7)));
    }
    if (r === 'hier') {
      const bn = G.namedBuffers().find(([k]) => k === 'blocks.0.0.bn1.stored_var')![1];
      // Standing statistics, estimated for G_ema's own weights, not the initial ones.
      assert.ok(bn.sub(1).abs().max().item() > 1e-3, 'standing statistics in the checkpoint');
    }
    const before = buffers(G);
    const live = torch.liveTensors();
    const { models, info } = exportRun(loaded);
    assert.equal(torch.liveTensors(), live, 'the export leaves no tensor behind');
    for (const [k, t] of G.namedBuffers()) assert.ok(t.equal(before.get(k)!), `${k} unchanged by the export`);
    for (const t of before.values()) t.dispose();

    const m = models.G;
    assert.deepEqual(m.dynamic, ['batch'], m.note ?? '');
    const conditional = r !== 'uncond';
    assert.deepEqual(m.inputs.map((v) => [v.name, v.dtype, v.dims]), [['z', 'float32', ['batch', G.dimZ]], ...(conditional ? [['labels', 'int64', ['batch']]] : [])]);
    assert.deepEqual(m.outputs.map((v) => [v.name, v.dims]), [['image', ['batch', 3, 32, 32]]]);
    assert.equal(info.kind, 'image');
    assert.deepEqual(info.classes, loaded.classes);
    const attention = ['Concat', 'MaxPool', 'MatMul', 'Softmax'];
    const expected = [...(r === 'uncond' ? [] : ['BatchNormalization']), 'Gather', 'Conv', 'Gemm', 'Relu', 'Tanh', ...(r === 'hier' ? ['Split', ...attention] : r === 'deep' ? attention : [])];
    for (const op of expected) assert.ok(m.opTypes.includes(op), `${op} in ${m.opTypes.join()}`);
    // Folded: no power iteration in the graph, no u or sv among its constants.
    for (const op of ['ReduceL2', 'Clip']) assert.ok(!m.opTypes.includes(op), `${op} (a power iteration) in the graph`);
    const graph = onnxProto.onnx.ModelProto.decode(m.model).graph!;
    const names = graph.initializer!.map((t) => t.name!);
    assert.ok(!names.some((n) => /\.(u|sv)\d+$/.test(n)), `SN buffers in the graph: ${names.filter((n) => /\.(u|sv)\d+$/.test(n)).join()}`);

    const z = torch.withSeed(11, () => torch.randn([5, G.dimZ]));
    const labels = torch.tensor([2, 0, 1, 1, 2], { dtype: 'int64' });
    const ours = torch.noGrad(() => loaded.recipe.generate({ z, labels: conditional ? labels : null }));
    const d = maxDiff(ours, await run(m.model, { z: f32(z), ...(conditional ? { labels: i64(labels) } : {}) }));
    assert.ok(d < TOL, `max |ours − onnx| = ${d}`);
    for (const t of [z, labels, ours]) t.dispose();
  }));
}

test('biggan: eval-mode spectral norm divides by σ from one power iteration on the stored u (the reference\'s W_() in eval), as the graph holds it', () => withRun('cifar', async (_loaded, G) => {
  // σ computed here by hand (float64) from the checkpoint's weight and u0, against the
  // weight the exported graph uses: the initializer that feeds the first Conv (conv1 with
  // the upsampling folded in: the phase kernels of W/σ, nn/resample_conv.ts).
  const conv = G.blocks.items[0].items[0] as unknown as { conv1: { weight: torch.Tensor; sn: { u: torch.Tensor[] } } };
  const W = conv.conv1.weight.to('float64');
  const Wm = W.reshape([W.shape[0], -1]);
  const u0 = conv.conv1.sn.u[0].to('float64');
  const unit = (x: torch.Tensor) => x.div(x.norm(2, 1, true));
  const v = unit(u0.matmul(Wm));
  const u = unit(v.matmul(Wm.t()));
  const sigma = v.matmul(Wm.t()).matmul(u.t()).item();
  const { models } = exportRun(_loaded);
  const graph = onnxProto.onnx.ModelProto.decode(models.G.model).graph!;
  const firstConv = graph.node!.find((n) => n.opType === 'Conv')!;
  const init = graph.initializer!.find((t) => t.name === firstConv.input![1])!;
  const raw = init.rawData!;
  const folded = new Float32Array(raw.buffer.slice(raw.byteOffset, raw.byteOffset + raw.byteLength));
  const want = nn.upsamplePhaseKernels(W.div(sigma)).to('float32').contiguous().toTypedArray() as Float32Array;
  assert.equal(folded.length, want.length);
  let m = 0;
  for (let i = 0; i < want.length; i++) m = Math.max(m, Math.abs(folded[i] - want[i]) / (Math.abs(want[i]) + 1e-3));
  assert.ok(m < 1e-5, `folded weight off by ${m} (relative)`);
  assert.ok(Math.abs(sigma - 1) > 1e-3, 'σ is not 1, so folding is visible');
  for (const t of [W, Wm, u0, v, u]) t.dispose();
}));

test('myBN standing statistics (sums over the batches and their count) survive a state-dict round trip: eval mode divides them after loading too', () => torch.scope(() => {
  const a = new nn.MyBN(3), b = new nn.MyBN(3);
  a.resetStats();
  torch.noGrad(() => torch.withSeed(2, () => [0, 1].forEach(() => a.forward(torch.randn([4, 3, 2, 2]).mul(3).add(1), null, null))));
  a.eval();
  b.loadStateDict(a.stateDict());
  b.eval();
  assert.equal(b.accumulateStanding, false);
  const x = torch.withSeed(3, () => torch.randn([2, 3, 2, 2]).mul(3).add(1));
  const want = torch.noGrad(() => a.forward(x, null, null));
  assert.ok(torch.noGrad(() => b.forward(x, null, null)).equal(want), 'the loaded layer normalises as the one that accumulated');
  // Independently: the mean of the two batch means (biased variances) normalises x.
  const mean = a.storedMean.div(2).view(1, -1, 1, 1), variance = a.storedVar.div(2).view(1, -1, 1, 1);
  const d = want.sub(x.sub(mean).div(variance.add(1e-5).sqrt())).abs().max().item();
  assert.ok(d < 1e-5, `off by ${d}`);
}));

const CHROMIUM = '/usr/bin/chromium';
const noBrowser = existsSync(CHROMIUM) ? false : `${CHROMIUM} is absent (apt-get install chromium)`;

interface Seeded {
  latent(seed: number, index: number, size: number): Float32Array;
  toRGBA(data: Float32Array, n: number, channels: number, height: number, width: number): Uint8ClampedArray;
}
type Win = { playground: { ready?: boolean; error?: string; runs: number; msPerImage: Record<string, number> } };

test('biggan playground in Chromium: the class picker lists the run\'s classes; the grid equals G.onnx for the seed and the chosen class; the interpolation strip draws', { skip: noBrowser }, async (t) => {
  const web = join(dir, 'web-hier');
  const r = await exitOf(cliAsync(['export', '--run', join(dir, 'hier'), '--web', web]));
  assert.equal(r.code, 0, r.stderr);
  const info = JSON.parse(readFileSync(join(web, 'model.json'), 'utf8')) as { latent: number; classes: string[]; family: string };
  assert.equal(info.family, 'biggan');
  const seeded = (await import(pathToFileURL(fromRoot('src/web/playground/seeded.js')).href)) as Seeded;
  const server = createServer((req, res) => {
    const file = join(web, normalize(new URL(req.url ?? '/', 'http://x').pathname).replace(/^\/+/, '') || 'index.html');
    if (!file.startsWith(web) || !existsSync(file) || !statSync(file).isFile()) res.writeHead(404).end();
    else sendFile(res, file, false);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  t.after(() => server.close());
  const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const browser = await chromium.launch({ executablePath: CHROMIUM, headless: true, args: ['--no-sandbox'] });
  t.after(() => browser.close());
  const page = await browser.newPage();
  const outside: string[] = [];
  await page.route('**/*', (route) => (route.request().url().startsWith(`${base}/`) ? route.continue() : (outside.push(route.request().url()), route.abort())));
  await page.goto(`${base}/index.html`);
  await page.waitForFunction(() => { const p = (globalThis as unknown as Win).playground; return p?.ready || p?.error; }, undefined, { timeout: 20_000 });
  assert.equal(await page.evaluate(() => (globalThis as unknown as Win).playground.error), undefined);
  const options = await page.$$eval('#class option', (os) => os.map((o) => (o as unknown as { textContent: string }).textContent));
  assert.deepEqual(options, info.classes.map((c, i) => `${i}: ${c}`));

  const runs = await page.evaluate(() => (globalThis as unknown as Win).playground.runs);
  await page.selectOption('#class', '2');
  await page.dispatchEvent('#class', 'change');
  await page.waitForFunction((n) => (globalThis as unknown as Win).playground.runs > n, runs);
  const seed = Number(await page.inputValue('#seed'));
  const cells = await page.$$eval('#grid canvas', (cs) => cs.map((c) => {
    const e = c as unknown as { width: number; height: number; getContext(k: '2d'): { getImageData(x: number, y: number, w: number, h: number): { data: ArrayLike<number> } } };
    return Array.from(e.getContext('2d').getImageData(0, 0, e.width, e.height).data);
  }));
  const n = cells.length;
  const zs = new Float32Array(n * info.latent);
  for (let i = 0; i < n; i++) zs.set(seeded.latent(seed, i, info.latent), i * info.latent);
  const s = await ort.InferenceSession.create(join(web, 'G.onnx'));
  const { image } = await s.run({ z: new ort.Tensor('float32', zs, [n, info.latent]), labels: new ort.Tensor('int64', new BigInt64Array(n).fill(2n), [n]) });
  await s.release();
  const [, c, h, w] = image.dims;
  const diff = (a: ArrayLike<number>, b: ArrayLike<number>) => Array.from(a).reduce((m, v, i) => Math.max(m, Math.abs(v - b[i])), 0);
  cells.forEach((px, i) => assert.ok(diff(px, seeded.toRGBA(image.data as Float32Array, i, c, h, w)) <= 2, `cell ${i}`));
  assert.ok(diff(cells[0], cells[1]) > 2, 'cells differ');
  assert.equal(await page.$$eval('#strip canvas', (cs) => cs.length), 8, 'the interpolation strip');
  assert.deepEqual(outside, [], 'requests beyond 127.0.0.1');
  const shots = join(dir, 'screenshots');
  mkdirSync(shots, { recursive: true });
  await page.screenshot({ path: join(shots, 'biggan.png'), fullPage: true });
  const ms = await page.evaluate(() => (globalThis as unknown as Win).playground.msPerImage);
  t.diagnostic(`biggan: ${Object.entries(ms).map(([k, v]) => `${k} ${v.toFixed(1)} ms/image`).join(', ')}; screenshot ${join(shots, 'biggan.png')}`);
});
