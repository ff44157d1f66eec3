// StyleGAN2 training through the trainer: a tiny run (16 px, small channels) runs all
// four phases on their intervals and resumes bit-exactly from the middle of a lazy
// interval; --cfg presets fill in what the user did not give (and config.json records
// it); the lazy-regularisation correction reaches the optimisers; a step leaks nothing;
// sample, interpolate and mix work on the run.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, existsSync } from 'node:fs';
import { join } from 'node:path';
import * as torch from '../src/torch/index.js';
import { io } from '../src/index.js';
import { RECIPES } from '../src/families/registry.js';
import { fullSchema, recipeEnv } from '../src/train/options.js';
import type { RecipeEnv } from '../src/train/recipe.js';
import type { Options } from '../src/config/options.js';
import { resolveStyleGAN2Options, cfgSpec } from '../src/families/stylegan2/config.js';
import type { StyleGAN2Recipe } from '../src/families/stylegan2/stylegan2.js';
import { PhaseRunner } from '../src/train/phase.js';
import { cli, tempDir, assertResumesExactly, latestCheckpoint, trainStep } from './train-helpers.js';

const TINY2 = [
  'train', '--model', 'stylegan2', '--data', 'shapes', '--resolution', '16', '--batch', '4', '--z_dim', '8', '--w_dim', '8',
  '--channel_base', '64', '--channel_max', '8', '--map', '2', '--workers', '1', '--log_every', '1', '--sample_kimg', '0',
  '--n_samples', '4', '--G_reg_interval', '2', '--D_reg_interval', '3',
];


const metrics = (run: string): Record<string, number>[] => readFileSync(join(run, 'metrics.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l));

test('a tiny run trains all four phases on their intervals, and resumes bit-exactly mid-interval', () => {
  const dir = tempDir();
  const straight = join(dir, 'straight'), split = join(dir, 'split');
  // batch 4: 0.028 kimg = 7 steps; 0.016 kimg = 4 steps (mid the Dreg interval of 3, at a Greg step).
  assertResumesExactly(TINY2, { straight, split, kimg: 0.028, splitKimg: 0.016, resumedAt: /resuming .* \(step 4, 0\.016 kimg\)/ });
  const m = metrics(straight);
  assert.deepEqual(m.map((x) => x.step), [1, 2, 3, 4, 5, 6, 7]);
  // Step s (1-based) logs Greg when s−1 is a multiple of 2, Dreg when a multiple of 3.
  assert.deepEqual(m.map((x) => 'pl_penalty' in x), [true, false, true, false, true, false, true]);
  assert.deepEqual(m.map((x) => 'r1_penalty' in x), [true, false, false, true, false, false, true]);
  assert.ok(m.every((x) => Number.isFinite(x.loss_G) && Number.isFinite(x.loss_D)));
  // The running path-length mean is part of the state.
  const ck = torch.scope(() => {
    const c = io.loadCheckpoint(latestCheckpoint(straight));
    return c.extra!.pl_mean.item();
  });
  assert.ok(ck > 0, 'pl_mean moved');
});

test('--cfg presets fill in what is not given, as train.py; config.json records them', () => {
  const def = RECIPES.stylegan2;
  const base: Options = Object.fromEntries(Object.entries(fullSchema(def)).map(([k, s]) => [k, s.default]));
  const cifar = resolveStyleGAN2Options({ ...base, cfg: 'cifar', resolution: 32 }, new Set(['cfg', 'resolution']));
  assert.deepEqual(
    [cifar.batch, cifar.kimg, cifar.gamma, cifar.map, cifar.mbstd_group, cifar.channel_base, cifar.glr, cifar.ema_kimg, cifar.ema_rampup, cifar.pl_weight, cifar.style_mixing_prob, cifar.d_architecture, cifar.conv_clamp, cifar.no_flip],
    [64, 100000, 0.01, 2, 32, 32768, 0.0025, 500, 0.05, 0, 0, 'orig', 256, true],
  );
  // auto at 64 px with --batch 16: the preset's minibatch (32) still sets γ, the mbstd group and ema (train.py does the same).
  const auto = resolveStyleGAN2Options({ ...base, cfg: 'auto', resolution: 64, batch: 16, gamma: 3, fp32: true, mirror: true }, new Set(['cfg', 'resolution', 'batch', 'gamma', 'fp32', 'mirror']));
  assert.deepEqual(
    [auto.batch, auto.gamma, auto.map, auto.mbstd_group, auto.channel_base, auto.ema_kimg, auto.ema_rampup, auto.pl_weight, auto.d_architecture, auto.num_fp16_res, auto.conv_clamp, auto.no_flip],
    [16, 3, 2, 4, 16384, 10, 0.05, 2, 'resnet', 0, null, false],
  );
  assert.equal(cfgSpec('auto', 64).gamma, 0.0002 * 64 * 64 / 32);
  const p = resolveStyleGAN2Options({ ...base, cfg: 'paper256', resolution: 256 }, new Set(['cfg', 'resolution']));
  assert.deepEqual([p.batch, p.mbstd_group, p.channel_base, p.gamma, p.ema_kimg, p.ema_rampup, p.map], [64, 8, 16384, 1, 20, 0, 8]);
  assert.throws(() => resolveStyleGAN2Options({ ...base, mirror: true, no_flip: true }, new Set(['mirror', 'no_flip'])), /contradict/);
});

test('the lazy correction reaches both optimisers (lr·r, β^r with r = k/(k+1)), even with pl_weight 0', () => {
  const def = RECIPES.stylegan2;
  const o: Options = Object.fromEntries(Object.entries(fullSchema(def)).map(([k, s]) => [k, s.default]));
  Object.assign(o, { model: 'stylegan2', resolution: 16, batch: 4, z_dim: 8, w_dim: 8, channel_base: 64, channel_max: 8, cfg: 'cifar' });
  const r = def.create(o, recipeEnv(o, 0, 'cpu')) as StyleGAN2Recipe;
  try {
    new PhaseRunner(r);
    assert.ok(Math.abs(r.optG.lr - 0.0025 * 0.8) < 1e-15);
    assert.ok(Math.abs(r.optD.lr - 0.0025 * (16 / 17)) < 1e-15);
    assert.ok(Math.abs(r.optD.betas[1] - 0.99 ** (16 / 17)) < 1e-15);
    assert.equal(r.optG.betas[0], 0);
  } finally {
    for (const net of Object.values(r.networks())) net.dispose();
    for (const opt of Object.values(r.optimizers())) opt.dispose();
    r.dispose();
  }
});

test('a StyleGAN2 step with every phase, conditional, leaks no tensor', () => {
  const def = RECIPES.stylegan2;
  const o: Options = Object.fromEntries(Object.entries(fullSchema(def)).map(([k, s]) => [k, s.default]));
  Object.assign(o, { model: 'stylegan2', resolution: 16, batch: 4, z_dim: 8, w_dim: 8, channel_base: 64, channel_max: 8, classes: true });
  torch.manualSeed(3);
  const r = def.create(o, recipeEnv(o, 3, 'cpu'));
  const a = torch.rand([4, 3, 16, 16]).mul(2).sub(1);
  const labels = torch.tensor([0, 1, 2, 0], { dtype: 'int64' });
  try {
    torch.scope(() => trainStep(r, { a, b: null, labels }, { step: 0, imagesSeen: 0 }));
    const before = torch.liveTensors();
    // Step 48 runs all four phases (multiple of 4 and of 16).
    torch.scope(() => trainStep(r, { a, b: null, labels }, { step: 48, imagesSeen: 192 }));
    assert.equal(torch.liveTensors(), before);
  } finally {
    a.dispose();
    labels.dispose();
    for (const net of Object.values(r.networks())) net.dispose();
    for (const opt of Object.values(r.optimizers())) opt.dispose();
    r.dispose?.();
  }
});

test('sample, interpolate and mix work on a StyleGAN2 run', () => {
  const run = join(tempDir(), 'r');
  let r = cli([...TINY2, '--kimg', '0.008', '--out', run]);
  assert.equal(r.status, 0, r.stderr);
  const out = join(run, 'x');
  r = cli(['sample', '--run', run, '--n', '4', '--truncation_psi', '0.7', '--out', join(out, 's.png')]);
  assert.equal(r.status, 0, r.stderr);
  r = cli(['interpolate', '--run', run, '--seeds', '1,2', '--out', join(out, 'i.png')]);
  assert.equal(r.status, 0, r.stderr);
  r = cli(['mix', '--run', run, '--rows', '1,2', '--cols', '3,4', '--out', join(out, 'm.png')]);
  assert.equal(r.status, 0, r.stderr);
  for (const f of ['s.png', 'i.png', 'm.png']) assert.ok(existsSync(join(out, f)), f);
  // generate.py's --noise_mode names: const is the stored maps (our 'fixed'), none switches noise off.
  for (const mode of ['const', 'none', 'fixed']) {
    r = cli(['sample', '--run', run, '--n', '4', '--noise_mode', mode, '--out', join(out, `${mode}.png`)]);
    assert.equal(r.status, 0, r.stderr);
  }
  const bytes = (f: string): Buffer => readFileSync(join(out, f));
  assert.ok(bytes('const.png').equals(bytes('fixed.png')), 'const = fixed');
  assert.ok(!bytes('const.png').equals(bytes('none.png')), 'none draws without the noise maps');
});

/** A recipe of the tiny config (16 px), with the environment changed by `env`. */
function tinyRecipe(extra: Options, numClasses: number, env: Partial<RecipeEnv> = {}): StyleGAN2Recipe {
  const def = RECIPES.stylegan2;
  const o: Options = Object.fromEntries(Object.entries(fullSchema(def)).map(([k, s]) => [k, s.default]));
  Object.assign(o, { model: 'stylegan2', resolution: 16, batch: 4, z_dim: 8, w_dim: 8, channel_base: 64, channel_max: 8, ...extra });
  return def.create(o, { ...recipeEnv(o, numClasses, 'cpu'), ...env }) as StyleGAN2Recipe;
}

function disposeRecipe(r: StyleGAN2Recipe): void {
  for (const net of Object.values(r.networks())) net.dispose();
  for (const opt of Object.values(r.optimizers())) opt.dispose();
  r.dispose();
}

test('a real image with a NaN pixel leaves every weight finite: the gradients pass through nan_to_num before each step', () => {
  const finite = (r: StyleGAN2Recipe): boolean => torch.scope(() => [...r.G.parameters(), ...r.D.parameters()].every((p) => p.isfinite().all().item()));
  // Step 1 (Gmain and Dmain) on a batch with one NaN pixel, with the phases as declared or stripped of nanToNum.
  const stepWith = (keep: boolean): boolean => {
    torch.manualSeed(5);
    const r = tinyRecipe({}, 0);
    const a = torch.rand([4, 3, 16, 16]).mul(2).sub(1);
    try {
      if (keep) assert.ok(r.phases.every((p) => p.nanToNum?.nan === 0 && p.nanToNum.posinf === 1e5 && p.nanToNum.neginf === -1e5), 'every phase, the reference\'s values');
      torch.noGrad(() => a.view(-1).narrow(0, 7, 1).fill_(NaN));
      const phases = keep ? r.phases : r.phases.map((p) => ({ ...p, nanToNum: undefined }));
      const runner = new PhaseRunner({ networks: () => r.networks(), phases, prepare: (b) => r.prepare(b) });
      const m = torch.scope(() => runner.run({ a, b: null, labels: null }, { step: 1, imagesSeen: 4 }));
      assert.ok(Number.isNaN(m.loss_D), 'D\'s loss is NaN');
      return finite(r);
    } finally {
      a.dispose();
      disposeRecipe(r);
    }
  };
  assert.equal(stepWith(true), true, 'every G and D weight finite');
  assert.equal(stepWith(false), false, 'the control (no nan_to_num) leaves NaN in D');
});

test('generated images get the labels of random training images: the draws follow an unbalanced dataset', () => {
  // 90 images of class 0, 10 of class 1, none of class 2.
  const labels = Int32Array.from({ length: 100 }, (_, i) => (i < 90 ? 0 : 1));
  torch.manualSeed(9);
  const r = tinyRecipe({ classes: true }, 3, { labels });
  const a = torch.zeros([64, 3, 16, 16]);
  try {
    const counts = [0, 0, 0];
    for (let i = 0; i < 20; i++) {
      torch.scope(() => {
        const { c } = r.prepare({ a, b: null, labels: null });
        for (const t of c) for (const v of t!.toTypedArray() as BigInt64Array) counts[Number(v)]++;
      });
    }
    const n = counts[0] + counts[1] + counts[2];
    assert.equal(n, 20 * 4 * 64);
    assert.equal(counts[2], 0, 'a class with no images is never drawn');
    // 5120 draws of p = 0.1: standard deviation 0.0042.
    assert.ok(Math.abs(counts[1] / n - 0.1) < 0.02, `class 1 drawn ${counts[1] / n} of the time`);
    // The same seed draws the same labels (they come from torch's saved generator).
    const once = (): number[] => torch.withSeed(4, () => torch.scope(() => Array.from(r.prepare({ a, b: null, labels: null }).c[2]!.toTypedArray() as BigInt64Array, Number)));
    assert.deepEqual(once(), once());
  } finally {
    a.dispose();
    disposeRecipe(r);
  }
  // Without the data (a recipe built for sampling) every class can come up.
  const u = tinyRecipe({ classes: true }, 3);
  try {
    const seen = new Set(torch.scope(() => Array.from(u.prepare({ a: torch.zeros([64, 3, 16, 16]), b: null, labels: null }).c[0]!.toTypedArray() as BigInt64Array, Number)));
    assert.deepEqual([...seen].sort(), [0, 1, 2]);
  } finally {
    disposeRecipe(u);
  }
});
