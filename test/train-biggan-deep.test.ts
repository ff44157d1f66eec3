// BigGAN-deep as a family (--model biggan_deep): BigGAN's recipe, tested step by step in
// test/train-biggan.test.ts, with BigGANdeep.py's networks (test/biggan-deep.test.ts). Here:
// launch_BigGAN_deep.sh as --config imagenet128, what the options cannot build, a tiny
// class-conditional run that trains, samples and resumes bit-exactly, and a step that
// leaks no tensor.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { readFileSync, readdirSync } from 'node:fs';
import * as torch from '../src/torch/index.js';
import * as io from '../src/io/index.js';
import { bigganDeep } from '../src/families/biggan_deep.js';
import { BigGANDeepGenerator, BigGANDeepDiscriminator } from '../src/models/biggan_deep.js';
import { UsageError } from '../src/config/errors.js';
import { fullSchema, recipeEnv } from '../src/train/options.js';
import { PhaseRunner } from '../src/train/phase.js';
import { initEma, updateEma } from '../src/train/ema.js';
import type { Options } from '../src/config/options.js';
import { cli, tempDir, assertSameCheckpoint } from './train-helpers.js';

function defaults(): Options {
  return Object.fromEntries(Object.entries(fullSchema(bigganDeep)).map(([k, s]) => [k, s.default]));
}

const SMALL: Options = { model: 'biggan_deep', resolution: 32, classes: true, batch: 2, G_ch: 2, D_ch: 2, dim_z: 8, shared_dim: 4, G_attn: '16', D_attn: '16', num_D_steps: 2, G_ortho: 1e-4 };

function recipe(extra: Options = {}, nClasses = 3) {
  const o: Options = { ...defaults(), ...SMALL, ...extra };
  return bigganDeep.create(o as never, recipeEnv(o, nClasses, 'cpu'));
}

test('--config imagenet128 fills launch_BigGAN_deep.sh\'s values; given options win', () => {
  const o = bigganDeep.resolveOptions!({ ...defaults(), config: 'imagenet128', G_ch: 64 }, new Set(['config', 'G_ch']));
  assert.deepEqual([o.resolution, o.batch, o.num_D_accumulations, o.num_G_accumulations, o.num_D_steps, o.G_lr, o.D_lr, o.D_ch, o.G_depth, o.D_depth, o.dim_z, o.shared_dim, o.SN_eps, o.adam_eps, o.ema_start],
    [128, 256, 8, 8, 1, 1e-4, 4e-4, 128, 2, 2, 128, 128, 1e-6, 1e-6, 20000]);
  assert.equal(o.G_ch, 64);
  const d = defaults();
  assert.deepEqual([d.G_shared, d.hier, d.G_depth, d.D_depth], [true, true, 2, 2]);
  assert.ok(!('D_wide' in d), 'the deep D has one block form: no --D_wide');
});

test('the recipe builds BigGAN-deep networks; what they cannot be is a usage error', () => {
  torch.scope(() => {
    const r = recipe();
    const nets = r.networks();
    assert.ok(nets.G instanceof BigGANDeepGenerator && nets.G_ema instanceof BigGANDeepGenerator && nets.D instanceof BigGANDeepDiscriminator);
    for (const n of Object.values(nets)) n.dispose();
  });
  assert.throws(() => recipe({ hier: false }), (e: Error) => e instanceof UsageError && /needs --G_shared and --hier/.test(e.message));
  assert.throws(() => recipe({ resolution: 64, G_depth: 1 }), (e: Error) => e instanceof UsageError && /G_depth 1 does not chain at resolution 64/.test(e.message));
  assert.throws(() => recipe({ resolution: 48 }), (e: Error) => e instanceof UsageError && /supports --resolution 32, 64, 128, 256/.test(e.message));
});

test('a BigGAN-deep step leaks no tensor', () => {
  const r = recipe();
  const nets = r.networks();
  initEma(nets.G_ema, nets.G);
  const runner = new PhaseRunner(r);
  torch.manualSeed(3);
  const a = torch.randn([4, 3, 32, 32]).tanh(), labels = torch.tensor([0, 1, 2, 0], { dtype: 'int64' });
  const step = (i: number) => torch.scope(() => {
    runner.run({ a, b: null, labels }, { step: i, imagesSeen: 0 });
    updateEma(nets.G_ema, nets.G, r.emaDecay!({ step: i, imagesSeen: 0 }), r.emaBuffers);
  });
  step(0);
  const before = torch.liveTensors();
  step(1);
  assert.equal(torch.liveTensors(), before);
  for (const n of Object.values(nets)) n.dispose();
  a.dispose();
  labels.dispose();
});

const TINY = ['train', '--model', 'biggan_deep', '--data', 'shapes', '--classes', '--resolution', '32', '--batch', '4', '--G_ch', '2', '--D_ch', '2',
  '--dim_z', '8', '--shared_dim', '4', '--G_attn', '16', '--D_attn', '16', '--num_D_steps', '2', '--num_G_accumulations', '2', '--G_depth', '2', '--D_depth', '2',
  '--G_ortho', '1e-4', '--ema_start', '2', '--workers', '1', '--log_every', '1', '--sample_kimg', '0', '--n_samples', '6'];

test('a tiny BigGAN-deep run trains, samples, and resumes bit-exactly', () => {
  const dir = tempDir('gf-biggan-deep-');
  const straight = join(dir, 'straight'), split = join(dir, 'split');
  // Loader batch 4 × 2 D steps = 8 real images per iteration: 0.032 kimg = 4 iterations.
  let r = cli([...TINY, '--kimg', '0.032', '--out', straight]);
  assert.equal(r.status, 0, r.stderr);
  r = cli([...TINY, '--kimg', '0.016', '--out', split]);
  assert.equal(r.status, 0, r.stderr);
  r = cli(['train', '--model', 'biggan_deep', '--resume', '--out', split, '--kimg', '0.032']);
  assert.equal(r.status, 0, r.stderr);
  const last = (run: string) => join(run, 'checkpoints', io.listCheckpoints(join(run, 'checkpoints')).at(-1)!);
  assertSameCheckpoint(last(straight), last(split));
  torch.scope(() => {
    const ck = io.loadCheckpoint(last(straight));
    assert.ok('blocks.0.0.conv4.weight' in ck.networks.G && 'input_conv.weight' in ck.networks.D, 'the checkpoint holds BigGAN-deep networks');
  });
  const rows = readFileSync(join(straight, 'metrics.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l) as Record<string, number>);
  assert.equal(rows.length, 4);
  for (const row of rows) for (const k of ['D_loss_real', 'D_loss_fake', 'G_loss']) assert.ok(Number.isFinite(row[k]), `${k} logged`);
  assert.ok(readdirSync(straight, { recursive: true }).some((f) => String(f).endsWith('.png')), 'samples written');
});
