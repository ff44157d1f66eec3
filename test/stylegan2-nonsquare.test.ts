// Non-square images (--resolution WxH, width by height) for StyleGAN2 and DCGAN: the
// networks against stylegan2-ada-pytorch's own layers resized to a 16x8 image
// (test/fixtures/stylegan2/make_nonsquare_fixture.py), the shapes of G and D either way
// round, the option and its one-line errors, the data at the shape, and a conditional
// StyleGAN2 run that trains, samples, mixes, interpolates and resumes bit-exactly.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import * as torch from '../src/torch/index.js';
import { Tensor, scope, noGrad } from '../src/torch/index.js';
import { Generator, Discriminator, generatorFromInitKwargs, discriminatorFromInitKwargs } from '../src/models/stylegan2.js';
import { DCGANGenerator, DCGANDiscriminator, DCGAN_DEFAULTS } from '../src/models/dcgan.js';
import * as io from '../src/io/index.js';
import { coerce } from '../src/config/options.js';
import { RECIPES } from '../src/families/registry.js';
import { fullSchema, datasetOptions } from '../src/train/options.js';
import { cfgSpec } from '../src/families/stylegan2/config.js';
import { openDataset, encodeImage, prepareCache } from '../src/data/index.js';
import { decodeImage } from '../src/data/image.js';
import { assertClose, fromRoot, loadJson } from './helpers.js';
import ort from 'onnxruntime-node';
import { f32, i64, maxDiff, runOnnx } from './onnx-helpers.js';
import { loadRun } from '../src/families/load.js';
import { disposeRun } from '../src/cli/latents.js';
import { exportRun } from '../src/cli/export_run.js';
import { cli, cliErrorInProcess, tempDir, assertResumesExactly, latestCheckpoint } from './train-helpers.js';

interface Meta { height: number; width: number; G_init_kwargs: Record<string, unknown>; D_init_kwargs: Record<string, unknown>; G_keys: [string, number[]][]; D_keys: [string, number[]][] }
const meta = loadJson<Meta>('test/fixtures/stylegan2/nonsquare.json');
const { tensors: T } = io.loadSafetensors(fromRoot('test/fixtures/stylegan2/nonsquare.safetensors'));
const sub = (prefix: string): Record<string, Tensor> =>
  Object.fromEntries(Object.entries(T).filter(([k]) => k.startsWith(prefix)).map(([k, v]) => [k.slice(prefix.length), v]));
const arr = (x: Tensor): number[] => Array.from(x.double().toTypedArray() as Float64Array);
const keyList = (m: { stateDict(): Record<string, Tensor> }): [string, number[]][] => Object.entries(m.stateDict()).map(([k, v]) => [k, v.shape]);

/** The fixture's networks, ours: the reference's kwargs at the shorter side, with the image's [height, width]. */
function build(dtype: 'float32' | 'float64'): { G: Generator; D: Discriminator } {
  const shape: [number, number] = [meta.height, meta.width];
  const g = generatorFromInitKwargs(meta.G_init_kwargs), d = discriminatorFromInitKwargs(meta.D_init_kwargs);
  const G = new Generator({ ...g.cfg, imgShape: shape }).to(dtype);
  const D = new Discriminator({ ...d.cfg, imgShape: shape }).to(dtype);
  g.dispose();
  d.dispose();
  G.loadStateDict(sub('G.'));
  D.loadStateDict(sub('D.'));
  return { G, D };
}

test("a 16x8 G and D have the reference's keys and shapes (a [C, 4, 8] const, [h, w] noise, an fc over 4x8) and its outputs", () => {
  for (const [dtype, rtol, atol] of [['float64', 1e-9, 1e-10], ['float32', 1e-4, 1e-5]] as const) {
    const { G, D } = build(dtype);
    try {
      assert.deepEqual(keyList(G), meta.G_keys);
      assert.deepEqual(keyList(D), meta.D_keys);
      scope(() => noGrad(() => {
        const x = (k: string): Tensor => T[`io.${k}`].to(dtype);
        const check = (got: Tensor, k: string): void => {
          assert.deepEqual(got.shape, T[`io.${k}`].shape, `${k}: shape`);
          assertClose(arr(got), arr(T[`io.${k}`]), rtol, atol, `${dtype} ${k}`);
        };
        G.eval();
        check(G.mapping.forward(x('z'), x('c')), 'ws');
        check(G.synthesis.forward(x('ws'), { noiseMode: 'const' }), 'img_const_fused');
        check(D.forward(x('real'), x('c')), 'logits_real');
        check(D.forward(x('img_const_fused'), x('c')), 'logits_fake');
        G.train();
        check(G.synthesis.forward(x('ws'), { noiseMode: 'const' }), 'img_const_train');
        check(G.synthesis.forward(x('ws'), { noiseMode: 'none' }), 'img_none_train');
        // Random noise has the image's shape too.
        assert.deepEqual(G.synthesis.forward(x('ws'), { noiseMode: 'random' }).shape, [4, 3, 8, 16]);
      }));
    } finally {
      G.dispose();
      D.dispose();
    }
  }
});

test('portrait and landscape G and D: shapes, keys of the shorter side, and a D that refuses the other shape', () => {
  const base = { zDim: 8, wDim: 8, cDim: 0, imgResolution: 16, synthesis: { channelBase: 64, channelMax: 8 } };
  const dBase = { cDim: 0, imgResolution: 16, imgChannels: 3, channelBase: 64, channelMax: 8, mbstdGroupSize: 2 };
  const square = new Generator(base);
  for (const [h, w] of [[16, 64], [32, 16]] as const) {
    for (const architecture of ['skip', 'orig', 'resnet'] as const) {
      const G = new Generator({ ...base, imgShape: [h, w], synthesis: { ...base.synthesis, architecture } });
      const D = new Discriminator({ ...dBase, imgShape: [h, w], architecture });
      try {
        scope(() => noGrad(() => {
          const img = G.forward(torch.randn([2, 8]));
          assert.deepEqual(img.shape, [2, 3, h, w], `${architecture} G at ${w}x${h}`);
          assert.deepEqual(D.forward(img).shape, [2, 1]);
          assert.throws(() => D.forward(torch.randn([2, 3, w, h])), new RegExp(`images must have shape \\[N, 3, ${h}, ${w}\\]`));
        }));
        const sd = G.stateDict();
        assert.deepEqual(sd['synthesis.b4.const'].shape, [8, 4 * (h / 16), 4 * (w / 16)]);
        assert.deepEqual(sd['synthesis.b16.conv1.noise_const'].shape, [h, w]);
        assert.deepEqual(D.stateDict()['b4.fc.weight'].shape, [8, 8 * 4 * (h / 16) * 4 * (w / 16)]);
        if (architecture === 'skip') assert.deepEqual(Object.keys(sd), Object.keys(square.stateDict()), 'the keys of the square model of the shorter side');
      } finally {
        G.dispose();
        D.dispose();
      }
    }
  }
  square.dispose();
  assert.throws(() => new Generator({ ...base, imgShape: [16, 48] }), /powers of two/);
  assert.throws(() => new Discriminator({ ...dBase, imgShape: [32, 64] }), /16, the resolution, as the shorter/);
});

test('DCGAN at 32x16 and 16x32: G draws the shape (its first kernel 4x8), D takes it (conditional too)', () => {
  for (const [h, w] of [[16, 32], [32, 16]] as const) {
    const cfg = { ...DCGAN_DEFAULTS, resolution: 16, shape: [h, w] as const, nz: 8, ngf: 4, ndf: 4, numClasses: 3 };
    const G = new DCGANGenerator(cfg), D = new DCGANDiscriminator(cfg);
    try {
      scope(() => noGrad(() => {
        const labels = torch.tensor([0, 2], { dtype: 'int64' });
        const img = G.forward(torch.randn([2, 8]), labels);
        assert.deepEqual(img.shape, [2, 3, h, w]);
        assert.deepEqual(D.forward(img, labels).shape, [2]);
      }));
      assert.deepEqual(G.stateDict()['main.0.weight'].shape.slice(2), [4 * (h / 16), 4 * (w / 16)]);
      assert.deepEqual(D.stateDict()['embed.weight'].shape, [3, h * w]);
    } finally {
      G.dispose();
      D.dispose();
    }
  }
});

test('--resolution takes N or WxH (width by height): a square WxH is N, and mistakes are one line', async () => {
  const spec = fullSchema(RECIPES.stylegan2).resolution;
  assert.equal(coerce('resolution', spec, '64x32'), '64x32');
  assert.equal(coerce('resolution', spec, '32X64'), '32x64');
  assert.equal(coerce('resolution', spec, '32x32'), 32);
  assert.equal(coerce('resolution', spec, '32'), 32);
  assert.throws(() => coerce('resolution', spec, '60x32'), /--resolution 60x32: both sides must be powers of two/);
  assert.throws(() => coerce('resolution', spec, '256x16'), /aspect ratio of 16:1 is too large \(at most 8:1\)/);
  assert.throws(() => coerce('resolution', spec, '64x2'), /each side must be at least 4/);
  assert.throws(() => coerce('resolution', spec, '64x'), /expects a whole number or WxH/);
  assert.throws(() => coerce('resolution', spec, '48'), /must be a power of two, got 48/);
  const dir = tempDir();
  for (const [args, re] of [
    [['--model', 'pggan', '--resolution', '64x32'], /--resolution 64x32: --model pggan trains square images only; give one side \(e.g. --resolution 32\)/],
    [['--model', 'biggan', '--resolution', '32x64'], /--model biggan trains square images only/],
    [['--model', 'stylegan2', '--resolution', '60x32'], /both sides must be powers of two/],
    [['--model', 'dcgan', '--resolution', '8x16'], /--model dcgan supports a shorter side of 16 to 128, got --resolution 8x16/],
  ] as [string[], RegExp][]) {
    const r = await cliErrorInProcess(['train', ...args, '--out', join(dir, 'r')]);
    assert.equal(r.status, 2, r.stderr);
    assert.match(r.stderr, re);
    assert.equal(r.stderr.trim().split('\n').length, 1, r.stderr);
  }
  // --cfg auto counts a WxH model by its shorter side, γ by its pixels.
  assert.deepEqual([cfgSpec('auto', 32, 64 * 32).mb, cfgSpec('auto', 32, 64 * 32).gamma], [32, (0.0002 * 64 * 32) / 32]);
});

test('data at WxH: built-in sets rendered and centre-cropped, folders resized to it, caches prepared at it', async () => {
  const def = RECIPES.stylegan2;
  const o = Object.fromEntries(Object.entries(fullSchema(def)).map(([k, s]) => [k, s.default]));
  const opts = datasetOptions(def, { ...o, resolution: '32x16' });
  assert.deepEqual([opts.resolution, opts.shape], [16, { width: 32, height: 16 }]);
  const shapes = await openDataset('shapes', { ...opts, noFlip: true });
  const s = await shapes.get(3);
  assert.deepEqual([s.a.width, s.a.height], [32, 16]);
  // The middle rows of the square 32 px scene.
  const square = await (await openDataset('shapes', { resolution: 32, noFlip: true })).get(3);
  assert.deepEqual(Array.from(s.a.data.subarray(0, 32 * 3)), Array.from(square.a.data.subarray(8 * 32 * 3, 9 * 32 * 3)));
  const dir = tempDir();
  mkdirSync(join(dir, 'img'));
  const pixels = new Uint8Array(20 * 20 * 3).fill(99);
  writeFileSync(join(dir, 'img', 'a.png'), await encodeImage({ data: pixels, width: 20, height: 20, channels: 3 }));
  const folder = await openDataset(join(dir, 'img'), opts);
  const f = await folder.get(0);
  assert.deepEqual([f.a.width, f.a.height], [32, 16]);
  assert.equal(f.a.data[5], 99);
  assert.match(String(folder), /32x16/);
  // A cache prepared at 32x16 holds what the folder gives; one of squares is refused, and the other way round.
  const made = await prepareCache(join(dir, 'img'), { resolution: 16, shape: { width: 32, height: 16 }, out: join(dir, 'c.gfc') });
  assert.deepEqual([made.width, made.height], [32, 16]);
  const cached = await (await openDataset(join(dir, 'c.gfc'), { ...opts, noFlip: true })).get(0);
  assert.deepEqual([cached.a.width, cached.a.height], [32, 16]);
  assert.deepEqual(Array.from(cached.a.data), Array.from((await (await openDataset(join(dir, 'img'), { ...opts, noFlip: true })).get(0)).a.data));
  await assert.rejects(openDataset(join(dir, 'c.gfc'), { resolution: 16 }), /holds 32x16 images but 16x16 are needed: prepare a cache with --resolution 16/);
  await prepareCache(join(dir, 'img'), { resolution: 16, out: join(dir, 'sq.gfc') });
  await assert.rejects(openDataset(join(dir, 'sq.gfc'), opts), /holds 16x16 images but 32x16 are needed: prepare a cache with --resolution 32x16/);
});

const TINY_NS = [
  'train', '--model', 'stylegan2', '--data', 'shapes', '--resolution', '16x8', '--classes', '--batch', '4', '--z_dim', '8', '--w_dim', '8',
  '--channel_base', '64', '--channel_max', '8', '--map', '2', '--workers', '1', '--log_every', '1', '--sample_kimg', '0',
  '--n_samples', '4', '--G_reg_interval', '2', '--D_reg_interval', '3',
];


const dir = tempDir();
const straight = join(dir, 'straight');

test('a conditional 16x8 StyleGAN2 run trains, samples, mixes, interpolates and resumes bit-exactly', async () => {
  assertResumesExactly(TINY_NS, { straight, split: join(dir, 'split'), kimg: 0.02, splitKimg: 0.008, resumedAt: /resuming .* \(step 2, 0\.008 kimg\)/ });
  const m = readFileSync(join(straight, 'metrics.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l));
  assert.equal(m.length, 5);
  assert.ok(m.every((x) => Number.isFinite(x.loss_G) && Number.isFinite(x.loss_D)));
  const ck = scope(() => io.loadCheckpoint(latestCheckpoint(straight)).networks.G_ema['synthesis.b4.const'].shape);
  assert.deepEqual(ck, [8, 4, 8]);
  // The sample grid: 2 × 2 images of 16 × 8 with 2 px of padding.
  const grid = await decodeImage(join(straight, 'samples', '000000.020.png'));
  assert.deepEqual([grid.width, grid.height], [2 * 18 + 2, 2 * 10 + 2]);
  const out = join(straight, 'x');
  let r = cli(['sample', '--run', straight, '--n', '1', '--class', 'circle', '--out', join(out, 's.png')]);
  assert.equal(r.status, 0, r.stderr);
  const one = await decodeImage(join(out, 's.png'));
  assert.deepEqual([one.width, one.height], [16 + 4, 8 + 4]);
  r = cli(['mix', '--run', straight, '--rows', '1,2', '--cols', '3', '--out', join(out, 'm.png')]);
  assert.equal(r.status, 0, r.stderr);
  const mix = await decodeImage(join(out, 'm.png'));
  assert.equal(mix.width * 3, mix.height * 2 * 2, `a 2 × 3 grid of 16 × 8 cells: ${mix.width}x${mix.height}`);
  r = cli(['interpolate', '--run', straight, '--seeds', '1,2', '--out', join(out, 'i.png')]);
  assert.equal(r.status, 0, r.stderr);
  // Projection at 16 × 8: a 40 × 20 target is resized to the generator's shape; the
  // projection and the w it found draw 16 × 8 images again.
  const target = join(out, 'target-in.png');
  writeFileSync(target, await encodeImage({ data: Buffer.from(new Uint8Array(40 * 20 * 3).map((_, i) => (i * 7) % 256)), width: 40, height: 20, channels: 3 }));
  r = cli(['project', '--run', straight, '--class', 'circle', '--target', target, '--outdir', join(out, 'proj'), '--num_steps', '3', '--w_avg_samples', '50']);
  assert.equal(r.status, 0, r.stderr);
  for (const f of ['target.png', 'proj.png']) {
    const im = await decodeImage(join(out, 'proj', f));
    assert.deepEqual([im.width, im.height], [16, 8], f);
  }
  r = cli(['sample', '--run', straight, '--w', join(out, 'proj', 'projected_w.safetensors'), '--out', join(out, 'again.png')]);
  assert.equal(r.status, 0, r.stderr);
  const again = await decodeImage(join(out, 'again.png'));
  assert.deepEqual([again.width, again.height], [16 + 4, 8 + 4]);
});

test('the 16x8 run exports to ONNX: the graph draws G_ema\'s 16x8 images for a batch it was not traced at', async () => {
  const loaded = loadRun(straight, { warn: () => {} });
  try {
    const style = loaded.recipe.style!;
    // Noise strengths with weight, so that the stored noise maps (8x16 at the top) count.
    torch.withSeed(3, () => noGrad(() => {
      for (const [k, p] of loaded.recipe.networks().G_ema.namedParameters()) if (k.endsWith('.noise_strength')) p.copy_(torch.randn([]).mul(0.5));
    }));
    const { models, info } = exportRun(loaded);
    assert.deepEqual(models.G.outputs[0].dims, ['batch', 3, 8, 16]);
    assert.deepEqual([info.resolution, info.height], [16, 8]);
    const z = torch.withSeed(9, () => torch.randn([3, 8]));
    const labels = torch.tensor([0, 1, 2], { dtype: 'int64' });
    const ours = noGrad(() => style.synthesize(style.dlatents(z, labels, null, null), false));
    const out = await runOnnx(models.G.model, { z: f32(z), labels: i64(labels), truncation_psi: new ort.Tensor('float32', Float32Array.of(1), [1]) });
    assert.ok(maxDiff(ours, out.image) < 1e-4, `${maxDiff(ours, out.image)}`);
    for (const t of [z, labels, ours]) t.dispose();
  } finally {
    disposeRun(loaded);
  }
});

test('a 32x16 DCGAN run trains and samples', async () => {
  const run = join(tempDir(), 'd');
  const r = cli(['train', '--model', 'dcgan', '--data', 'shapes', '--resolution', '32x16', '--batch', '8', '--nz', '16', '--ngf', '8', '--ndf', '8',
    '--workers', '1', '--log_every', '1', '--sample_kimg', '0', '--n_samples', '4', '--kimg', '0.016', '--out', run]);
  assert.equal(r.status, 0, r.stderr);
  const grid = await decodeImage(join(run, 'samples', '000000.016.png'));
  assert.deepEqual([grid.width, grid.height], [2 * 34 + 2, 2 * 18 + 2]);
});
