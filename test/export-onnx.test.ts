// ONNX export (issue 15): each family's exported generator, run by onnxruntime-node, gives
// our generator's output for the same inputs; batch (and a translator's height and width)
// stay dynamic; ops without an ONNX form, random draws and data-dependent branches fail
// the export naming the op; tracing costs nothing once it is over.
import { before, test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import ort from 'onnxruntime-node';
import * as torch from '../src/torch/index.js';
import { f32, i64, maxDiff, runOnnx } from './onnx-helpers.js';
import * as nn from '../src/nn/index.js';
import { loadRun, type LoadedRun } from '../src/families/load.js';
import { disposeRun } from '../src/cli/latents.js';
import { exportRun } from '../src/cli/export_run.js';
import { exportModel, ExportError, type ExportSpec } from '../src/export/index.js';
import { isTracing } from '../src/torch/trace.js';
import type { Generator } from '../src/families/translation/networks.js';
import { cliAsync, exitOf, tempDir, cliErrorInProcess } from './train-helpers.js';

const dir = tempDir('gf-onnx-');
const STYLEGAN2 = ['--model', 'stylegan2', '--data', 'shapes', '--resolution', '16', '--batch', '4', '--kimg', '0.008', '--z_dim', '8', '--w_dim', '8',
  '--channel_base', '64', '--channel_max', '8', '--map', '2'];
const RUNS = {
  dcgan: ['--model', 'dcgan', '--data', 'shapes', '--resolution', '16', '--nz', '8', '--ngf', '8', '--ndf', '8', '--batch', '8', '--kimg', '0.016', '--classes'],
  // Stops half-way through fading in 16²: lod 0.5, so the export holds the blend.
  pggan: ['--model', 'pggan', '--data', 'shapes', '--resolution', '16', '--lod_initial_resolution', '8', '--lod_training_kimg', '0.008', '--lod_transition_kimg', '0.016',
    '--minibatch_base', '8', '--minibatch_dict', '', '--minibatch_repeats', '1', '--kimg', '0.024', '--latent_size', '16', '--fmap_base', '64', '--fmap_max', '16'],
  stylegan: ['--model', 'stylegan', '--data', 'shapes', '--resolution', '16', '--lod_initial_resolution', '16', '--minibatch_base', '8', '--minibatch_dict', '',
    '--kimg', '0.016', '--latent_size', '16', '--dlatent_size', '16', '--mapping_layers', '2', '--fmap_base', '64', '--fmap_max', '16'],
  // StyleGAN2 at 16 px with 8 channels: skip (unconditional) and resnet (class-conditional).
  stylegan2: [...STYLEGAN2, '--g_architecture', 'skip'],
  stylegan2c: [...STYLEGAN2, '--g_architecture', 'resnet', '--classes'],
  pix2pix: ['--model', 'pix2pix', '--data', 'shapes-pairs', '--netG', 'unet_32', '--crop_size', '32', '--ngf', '4', '--ndf', '4', '--n_epochs', '1', '--n_epochs_decay', '0', '--max_dataset_size', '2'],
  cyclegan: ['--model', 'cyclegan', '--data', 'shapes-domains', '--netG', 'resnet_6blocks', '--crop_size', '32', '--ngf', '4', '--ndf', '4', '--n_epochs', '1', '--n_epochs_decay', '0', '--max_dataset_size', '2'],
};
type Family = keyof typeof RUNS;
export const runDir = (f: Family): string => join(dir, f);

before(async () => {
  // Two at a time on two cores.
  const names = Object.keys(RUNS) as Family[];
  for (let i = 0; i < names.length; i += 2) {
    const batch = names.slice(i, i + 2).map((f) => ({ f, done: exitOf(cliAsync(['train', ...RUNS[f], '--workers', '0', '--n_samples', '4', '--out', runDir(f)])) }));
    for (const { f, done } of batch) {
      const r = await done;
      assert.equal(r.code, 0, `${f} training failed: ${r.stderr}`);
    }
  }
});

const run = runOnnx;

function withRun<T>(f: Family, fn: (loaded: LoadedRun) => T | Promise<T>): Promise<T> {
  const loaded = loadRun(runDir(f), { warn: () => {} });
  return Promise.resolve(fn(loaded)).finally(() => disposeRun(loaded));
}

const TOL = 1e-4;

test('dcgan (class-conditional): the ONNX model equals G_ema for a batch size it was not traced at', () => withRun('dcgan', async (loaded) => {
  const { models, info } = exportRun(loaded);
  const G = models.G;
  assert.deepEqual(G.inputs.map((v) => [v.name, v.dims]), [['z', ['batch', 8]], ['labels', ['batch']]]);
  assert.deepEqual(G.outputs.map((v) => [v.name, v.dims]), [['image', ['batch', 3, 16, 16]]]);
  assert.deepEqual(info.classes, loaded.classes);
  assert.ok(G.opTypes.includes('Gather') && G.opTypes.includes('BatchNormalization'), G.opTypes.join());
  const z = torch.withSeed(5, () => torch.randn([5, 8]));
  const labels = torch.tensor([0, 1, 2, 0, 1], { dtype: 'int64' });
  const ours = torch.noGrad(() => loaded.recipe.generate({ z, labels }));
  const out = await run(G.model, { z: f32(z), labels: i64(labels) });
  assert.ok(maxDiff(ours, out.image) < TOL);
  for (const t of [z, labels, ours]) t.dispose();
}));

test('pggan mid-fade (lod 0.5): the ONNX model equals G_ema at the run\'s level of detail', () => withRun('pggan', async (loaded) => {
  const lod = (loaded.recipe as unknown as { progress: { lodNow(): number } }).progress.lodNow();
  assert.ok(lod > 0 && lod < 1, `the run stopped mid-fade (lod ${lod})`);
  const { models } = exportRun(loaded);
  assert.deepEqual(models.G.inputs[0].dims, ['batch', 16]);
  const z = torch.withSeed(6, () => torch.randn([4, 16]));
  const ours = torch.noGrad(() => loaded.recipe.generate({ z, labels: null }));
  const out = await run(models.G.model, { z: f32(z) });
  assert.ok(maxDiff(ours, out.image) < TOL);
  z.dispose();
  ours.dispose();
}));

test('stylegan: truncation ψ is an input; G, and synthesis(mapping(z)), equal the truncated G_ema with its stored noise', () => withRun('stylegan', async (loaded) => {
  const style = loaded.recipe.style!;
  // A fresh StyleGAN's constant input is all ones and its noise strengths zero, so its
  // first instance norm divides rounding errors by √ε: float32 engines (ours and ONNX
  // Runtime alike) then land 4e-4 from the float64 answer. A trained network's features
  // are not constant; give this one such weights.
  torch.withSeed(3, () => torch.noGrad(() => {
    for (const [k, p] of loaded.recipe.networks().G_ema.namedParameters()) {
      if (k.endsWith('.const')) p.copy_(torch.randn(p.shape));
      if (k.endsWith('Noise.weight')) p.copy_(torch.randn(p.shape).mul(0.3));
    }
  }));
  const { models, info } = exportRun(loaded, { halves: true, truncationCutoff: 4 });
  assert.equal(info.numLayers, style.numLayers);
  assert.deepEqual(models.G.inputs.map((v) => v.name), ['z', 'truncation_psi']);
  const z = torch.withSeed(7, () => torch.randn([3, 16]));
  for (const psi of [0.5, 1]) {
    const ours = torch.noGrad(() => style.synthesize(style.dlatents(z, null, psi === 1 ? null : psi, 4), false));
    const feeds = { z: f32(z), truncation_psi: new ort.Tensor('float32', Float32Array.of(psi), [1]) };
    const out = await run(models.G.model, feeds);
    assert.ok(maxDiff(ours, out.image) < TOL, `ψ ${psi}`);
    const { w } = await run(models.mapping.model, feeds);
    assert.deepEqual([...w.dims], [3, style.numLayers, 16]);
    const halves = await run(models.synthesis.model, { w });
    assert.ok(maxDiff(ours, halves.image) < TOL, `halves, ψ ${psi}`);
    ours.dispose();
  }
  z.dispose();
}));

for (const family of ['stylegan2', 'stylegan2c'] as const) {
  const conditional = family === 'stylegan2c';
  test(`${family === 'stylegan2' ? 'stylegan2 (skip)' : 'stylegan2 (resnet, class-conditional)'}: the non-fused graph for any batch equals the truncated G_ema (fused, stored noise) at two ψ`, () => withRun(family, async (loaded) => {
    const style = loaded.recipe.style!;
    const Gs = loaded.recipe.networks().G_ema;
    // A few steps leave the noise strengths near 0: give them weight, so that the stored
    // noise maps (constants of the graph) count in the comparison.
    torch.withSeed(3, () => torch.noGrad(() => {
      for (const [k, p] of Gs.namedParameters()) if (k.endsWith('.noise_strength')) p.copy_(torch.randn([]).mul(0.5));
    }));
    assert.equal(Gs.training, false, 'G_ema runs in eval mode, where the reference fuses the modulated convolution');
    const { models, info } = exportRun(loaded, { halves: true });
    const G = models.G;
    assert.deepEqual(G.inputs.map((v) => [v.name, v.dims]), [['z', ['batch', 8]], ...(conditional ? [['labels', ['batch']]] : []), ['truncation_psi', [1]]]);
    assert.deepEqual(G.outputs.map((v) => [v.name, v.dims]), [['image', ['batch', 3, 16, 16]]]);
    assert.deepEqual(G.dynamic, ['batch']);
    assert.equal(G.note, null);
    assert.deepEqual([info.kind, info.numLayers, info.dlatent], ['style', style.numLayers, 8]);
    // The non-fused form: dcoef from a MatMul of the squared styles; the FIR upsampling
    // as a transposed convolution and a depthwise filter.
    for (const op of ['MatMul', 'ConvTranspose', 'Conv', 'Pad', 'Expand']) assert.ok(G.opTypes.includes(op), `${op} in ${G.opTypes.join()}`);
    const n = 7; // neither probe's batch
    const z = torch.withSeed(9, () => torch.randn([n, 8]));
    const labels = conditional ? torch.tensor([0, 1, 2, 0, 1, 2, 0], { dtype: 'int64' }).remainder(loaded.classes!.length) : null;
    for (const psi of [0.5, 1]) {
      const ours = torch.noGrad(() => style.synthesize(style.dlatents(z, labels, psi === 1 ? null : psi, null), false));
      const feeds: Record<string, ort.Tensor> = { z: f32(z), truncation_psi: new ort.Tensor('float32', Float32Array.of(psi), [1]) };
      if (labels) feeds.labels = i64(labels);
      const out = await run(G.model, feeds);
      const d = maxDiff(ours, out.image);
      assert.ok(d < TOL, `ψ ${psi}: ${d}`);
      const { w } = await run(models.mapping.model, feeds);
      const halves = await run(models.synthesis.model, { w });
      assert.ok(maxDiff(ours, halves.image) < TOL, `halves, ψ ${psi}`);
      ours.dispose();
    }
    // ψ changes the image (the graph reads its input).
    const a = await run(G.model, { z: f32(z), truncation_psi: new ort.Tensor('float32', Float32Array.of(0.5), [1]), ...(labels ? { labels: i64(labels) } : {}) });
    const b = await run(G.model, { z: f32(z), truncation_psi: new ort.Tensor('float32', Float32Array.of(1), [1]), ...(labels ? { labels: i64(labels) } : {}) });
    assert.notDeepEqual([...(a.image.data as Float32Array)], [...(b.image.data as Float32Array)]);
    z.dispose();
    labels?.dispose();
  }));
}

test('exporting a stylegan2 run leaks no tensor', () => withRun('stylegan2c', (loaded) => {
  exportRun(loaded, { halves: true });
  const before = torch.liveTensors();
  torch.scope(() => exportRun(loaded, { halves: true }));
  assert.equal(torch.liveTensors(), before);
}));

/** Our translator as `translate` runs it (training-mode normalisation, one image at a time) with dropout off. */
function translated(G: Generator, x: torch.Tensor): torch.Tensor {
  G.train();
  for (const m of G.modules()) if (m instanceof nn.Dropout) m.eval();
  try {
    return torch.noGrad(() => torch.cat(x.split(1, 0).map((xi) => G.forward(xi)), 0));
  } finally {
    G.eval();
  }
}

for (const [family, net, direction] of [['pix2pix', 'G', null], ['cyclegan', 'G_A', null], ['cyclegan', 'G_B', 'BtoA']] as const) {
  test(`${family} ${net}: image → translated for any batch and any height and width that are multiples of the stride`, () => withRun(family, async (loaded) => {
    const buffers = () => loaded.recipe.networks()[net].buffers().map((b) => b.toArray());
    const statsBefore = buffers();
    const { models, info } = exportRun(loaded, { direction });
    assert.deepEqual(buffers(), statsBefore, 'the running statistics are as they were');
    const G = models.G;
    assert.deepEqual(G.dynamic, ['batch', 'height', 'width']);
    assert.deepEqual(G.inputs[0].dims, ['batch', 3, 'height', 'width']);
    assert.deepEqual(G.outputs[0].dims, ['batch', 3, 'height', 'width']);
    assert.ok(G.opTypes.includes('InstanceNormalization'), G.opTypes.join());
    if (family === 'cyclegan') assert.ok(G.opTypes.includes('Pad'), 'reflection padding');
    const s = info.stride!;
    const x = torch.withSeed(8, () => torch.rand([2, 3, 2 * s, 3 * s]).mul(2).sub(1));
    const ours = translated(loaded.recipe.networks()[net] as Generator, x);
    const out = await run(G.model, { image: f32(x) });
    assert.ok(maxDiff(ours, out.translated) < TOL);
    x.dispose();
    ours.dispose();
  }));
}

// ---- what cannot be exported ----

class Probe extends nn.Module {
  readonly w = this.registerParameter('w', torch.randn([4]));
  constructor(readonly body: (x: torch.Tensor, w: torch.Tensor) => torch.Tensor) {
    super();
  }
  forward(x: torch.Tensor): torch.Tensor {
    return this.body(x, this.w);
  }
}

function spec(m: Probe, dynamic: ExportSpec['dynamic'] = ['batch']): ExportSpec {
  return {
    name: 'probe', modules: { m }, outputs: ['y'], size: { batch: 2, height: 0, width: 0 }, dynamic,
    inputs: [{ name: 'x', make: (s) => torch.randn([s.batch, 4]), axes: ['batch', null] }],
    forward: (x) => [m.forward(x.x)],
  };
}

test('an op with no ONNX mapping fails the export with a message naming it', () => {
  const m = new Probe((x, w) => x.mul(w).cumsum(1));
  assert.throws(() => exportModel(spec(m)), (e: Error) => e instanceof ExportError && /cannot export op 'cumsum': it has no ONNX mapping/.test(e.message));
  assert.equal(isTracing(), false, 'the trace ended');
  // And the ops work normally again, untraced.
  torch.scope(() => assert.deepEqual(torch.tensor([1, 2]).cumsum(0).toArray(), [1, 3]));
  m.dispose();
});

test('random draws and data-dependent branches fail the export instead of baking one draw or one branch', () => {
  const noisy = new Probe((x, w) => x.mul(w).add(torch.randnLike(x)));
  assert.throws(() => exportModel(spec(noisy)), /cannot export op 'randn': it draws random numbers/);
  const branching = new Probe((x, w) => (x.sum().item() > 0 ? x.mul(w) : x.sub(w)));
  assert.throws(() => exportModel(spec(branching)), /cannot export op 'item': the forward pass reads the values/);
  const bn = new nn.BatchNorm2d(4);
  bn.train();
  const norm = new Probe((x) => bn.forward(x.reshape(x.shape[0], 4, 1, 1)));
  assert.throws(() => exportModel(spec(norm)), /cannot export op 'batchNorm': batch norm in training mode/);
  const view = new Probe((x, w) => {
    const y = x.mul(w);
    y.narrow(1, 0, 2).relu_();
    return y;
  });
  assert.throws(() => exportModel(spec(view)), /cannot export op 'relu_': it works in place on a tensor that shares its storage/);
  for (const m of [noisy, branching, norm, bn, view]) m.dispose();
});

test('ops the coming families need map exactly: embedding (Gather), flip, nearest resize, depthwise FIR conv, max pool, matmul, softmax', async () => {
  const emb = new nn.Embedding(5, 8);
  const fir = torch.tensor([1, 2, 1, 2, 4, 2, 1, 2, 1], { dtype: 'float32' }).div(16).reshape(1, 1, 3, 3).repeat(2, 1, 1, 1);
  const s: ExportSpec = {
    name: 'ops', modules: { emb }, outputs: ['y'], size: { batch: 2, height: 0, width: 0 }, dynamic: ['batch'],
    inputs: [
      { name: 'x', make: (n) => torch.randn([n.batch, 8]), axes: ['batch', null] },
      { name: 'labels', make: (n) => torch.arange(0, n.batch, 1, { dtype: 'int64' }).remainder(5), axes: ['batch'] },
    ],
    forward: ({ x, labels }) => torch.scope(() => {
      const img = x.mul(emb.forward(labels)).reshape(x.shape[0], 2, 2, 2).flip(2, 3);
      const up = torch.F.interpolate(img, { scaleFactor: 2, mode: 'nearest' });
      const blurred = torch.F.conv2d(up, fir, null, { padding: 1, groups: 2 });
      const pooled = torch.F.maxPool2d(blurred, 2).flatten(1);
      const attention = torch.F.softmax(pooled.unsqueeze(2).matmul(pooled.unsqueeze(1)), 2);
      return [attention.matmul(x.unsqueeze(2)).squeeze(2)];
    }),
  };
  const e = exportModel(s);
  assert.deepEqual(e.dynamic, ['batch']);
  for (const op of ['Gather', 'Resize', 'Conv', 'MaxPool', 'MatMul', 'Softmax', 'Slice']) assert.ok(e.opTypes.includes(op), op);
  const x = torch.randn([3, 8]);
  const labels = torch.tensor([4, 0, 2], { dtype: 'int64' });
  const ours = torch.noGrad(() => s.forward({ x, labels })[0]);
  const out = await run(e.model, { x: f32(x), labels: i64(labels) });
  assert.ok(maxDiff(ours, out.y) < 1e-5);
  for (const t of [x, labels, ours, fir, emb]) t.dispose();
});

test('a graph that bakes in the batch is exported with a fixed batch, and says which op decided it', async () => {
  const m = new Probe((x, w) => x.mul(w).add(torch.ones([x.shape[0], 4])));
  const e = exportModel(spec(m));
  assert.deepEqual(e.dynamic, []);
  assert.match(e.note!, /fixed at batch 2: the graph changes with the size at the constant/);
  assert.deepEqual(e.inputs[0].dims, [2, 4]);
  const x = torch.randn([2, 4]);
  const out = await run(e.model, { x: f32(x) });
  const ours = torch.noGrad(() => m.forward(x));
  assert.ok(maxDiff(ours, out.y) < 1e-6);
  for (const t of [x, ours, m]) t.dispose();
});

test('exporting leaks no tensor', () => withRun('dcgan', (loaded) => {
  exportRun(loaded); // warm: one-time allocations (random generator state, caches)
  const before = torch.liveTensors();
  torch.scope(() => exportRun(loaded));
  assert.equal(torch.liveTensors(), before);
}));

test('ganforge export writes an ONNX file; mistakes are one line, exit 2; --force replaces only an ONNX file', async () => {
  const out = join(dir, 'dc.onnx');
  const ok = cliAsync(['export', '--run', runDir('dcgan'), '--out', out]);
  const r = await exitOf(ok);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /wrote .*dc\.onnx \(\d+ KiB, opset 17\): z \[batch, 8\], labels \[batch\] → image \[batch, 3, 16, 16\]/);
  assert.equal(readFileSync(out)[0], 0x08);
  const again = await cliErrorInProcess(['export', '--run', runDir('dcgan'), '--out', out]);
  assert.equal(again.status, 2);
  assert.match(again.stderr, /exists: use --force/);
  const notOnnx = join(dir, 'config-copy.json');
  const { writeFileSync } = await import('node:fs');
  writeFileSync(notOnnx, '{"keep": true}');
  const refused = await cliErrorInProcess(['export', '--run', runDir('dcgan'), '--out', notOnnx, '--force']);
  assert.equal(refused.status, 2);
  assert.match(refused.stderr, /is not an ONNX model/);
  assert.equal(readFileSync(notOnnx, 'utf8'), '{"keep": true}');
  const nothing = await cliErrorInProcess(['export', '--run', runDir('dcgan')]);
  assert.match(nothing.stderr, /export needs --out FILE .* or --web DIR/);
  const dir2 = await cliErrorInProcess(['export', '--run', runDir('dcgan'), '--out', join(dir, 'x.onnx'), '--direction', 'BtoA']);
  assert.equal(dir2.status, 2);
  assert.match(dir2.stderr, /--direction applies to cyclegan runs/);
  const cut = await cliErrorInProcess(['export', '--run', runDir('dcgan'), '--out', join(dir, 'x.onnx'), '--truncation_cutoff', '4']);
  assert.equal(cut.status, 2);
  assert.match(cut.stderr, /--truncation_cutoff applies to style-based models/);
  assert.ok(!existsSync(join(dir, 'x.onnx')));
});
