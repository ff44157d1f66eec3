// ADA in StyleGAN2: the adaptive p on a scripted sequence of D outputs, the options'
// rules (train.py's), R1 through an augmented D against finite differences (float64), a
// step with ADA that leaks nothing, and a run that resumes with p (and a half-gathered
// interval) exactly where it was.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import * as torch from '../src/torch/index.js';
import { AdaptiveP } from '../src/augment/ada.js';
import { resolveAugOptions } from '../src/families/stylegan2/ada.js';
import { RECIPES } from '../src/families/registry.js';
import { fullSchema, recipeEnv } from '../src/train/options.js';
import type { Options } from '../src/config/options.js';
import type { StyleGAN2Recipe } from '../src/families/stylegan2/stylegan2.js';
import { r1Penalty } from '../src/losses/index.js';
import { assertClose } from './helpers.js';
import { numericGrad } from './grad-helpers.js';
import { cli, tempDir, assertSameCheckpoint, latestCheckpoint, trainStep, toFloat64 } from './train-helpers.js';

/** Logits with the given signs (+1, −1 or 0 each). */
const logits = (signs: number[]): torch.Tensor => torch.tensor(signs.map((s) => s * (0.5 + Math.random())));

test('p moves by sign(E[sign D(real)] − target) · batch · interval / (ada_kimg · 1000) every interval, never below 0', () => {
  torch.scope(() => {
    // batch 8, interval 2, ada_kimg 0.128: each adjustment is exactly ±0.125.
    const ada = new AdaptiveP({ target: 0.5, interval: 2, kimg: 0.128 });
    try {
      // Per iteration, the real logits D saw (an R1 phase adds a second set, as iteration 2).
      const script: number[][][] = [
        [[1, 1, 1, 1, 1, 1, 1, -1]], [[1, 1, 1, 1, 1, 1, 1, 1]], // mean 14/16 > 0.5: +0.125
        [[1, 1, 1, 1, -1, -1, -1, -1], [1, 1, 1, 1, 1, 1, 1, 1]], [[1, 1, 1, 1, 1, 1, 1, 1]], // 16/24 > 0.5: +0.125
        [[1, 1, 1, 1, 1, 1, -1, -1]], [[1, 1, 1, 1, 1, 1, -1, -1]], // exactly 0.5: no change
        [[-1, -1, -1, -1, -1, -1, -1, -1]], [[0, 0, 0, 0, 0, 0, 0, 0]], // −0.5 < 0.5: −0.125
        [[-1, -1, 1, 1, -1, -1, -1, -1]], [[-1, -1, -1, -1, -1, -1, -1, -1]], // −0.125
        [[-1, -1, -1, -1, -1, -1, -1, -1]], [[-1, -1, -1, -1, -1, -1, -1, -1]], // would be −0.125: stays 0
      ];
      const ps: number[] = [], rs: (number | null)[] = [];
      script.forEach((sets, step) => {
        for (const s of sets) ada.observe(logits(s));
        rs.push(ada.afterStep(step, 8));
        ps.push(ada.p);
      });
      assert.deepEqual(ps, [0, 0.125, 0.125, 0.25, 0.25, 0.25, 0.25, 0.125, 0.125, 0, 0, 0]);
      assert.deepEqual(rs, [null, 14 / 16, null, 16 / 24, null, 0.5, null, -0.5, null, -12 / 16, null, -1]);
    } finally {
      ada.dispose();
    }
  });
});

test('the reference rate: 500 kimg for p to move by 1, float32 steps; a half-gathered interval survives a state round trip', () => {
  torch.scope(() => {
    const a = new AdaptiveP({ target: 0.6, interval: 4, kimg: 500 });
    const b = new AdaptiveP({ target: 0.6, interval: 4, kimg: 500 });
    try {
      // E[sign] = 1 > 0.6: up by 64 · 4 images / 500 kimg.
      for (let step = 0; step < 4; step++) {
        a.observe(logits([1, 1, 1, 1]));
        a.afterStep(step, 64);
      }
      assert.equal(a.p, Math.fround((64 * 4) / 500000));
      a.observe(logits([1, -1, -1, -1]));
      a.afterStep(4, 64);
      // Half way through an interval: the signs so far travel with p.
      b.loadState(JSON.parse(JSON.stringify(a.state())), 'cpu');
      for (const ada of [a, b]) {
        for (let step = 5; step < 8; step++) {
          ada.observe(logits([1, 1, -1, -1]));
          ada.afterStep(step, 64);
        }
      }
      // (−2 + 0 + 0 + 0)/16 < 0.6: back to 0.
      assert.equal(a.p, 0);
      assert.deepEqual(b.state(), a.state());
      assert.throws(() => new AdaptiveP({ target: 1.5, interval: 4, kimg: 500 }), /target must be in \[0, 1\]/);
    } finally {
      a.dispose();
      b.dispose();
    }
  });
});

test("under data parallelism p follows the whole job's statistic: two ranks summing their signs move p as one process seeing both ranks' reals", () => {
  torch.scope(() => {
    // batch 8 over 2 ranks of 4, interval 2, ada_kimg 0.128: each adjustment is ±0.125.
    const o = { target: 0.5, interval: 2, kimg: 0.128 };
    // Per iteration, each rank's real logits: rank 0 alone would always move p up, rank 1 down.
    const script: [number[], number[]][] = [
      [[1, 1, 1, 1], [1, 1, -1, -1]], [[1, 1, 1, 1], [1, 1, 1, -1]], // job 10/16 > 0.5: +0.125
      [[1, 1, 1, 1], [-1, -1, -1, -1]], [[1, 1, 1, 1], [-1, -1, -1, 1]], // job 2/16 < 0.5: −0.125
      [[1, 1, 1, 1], [1, 1, 1, 1]], [[1, 1, 1, 1], [1, 1, 1, 1]], // +0.125
    ];
    const one = new AdaptiveP(o);
    // A rank's collective: its own values plus the other rank's local sums of this step.
    let pending: [number, number][] = [];
    const ranks = [0, 1].map((r) => new AdaptiveP({ ...o, sumOverRanks: (v) => { const [s, c] = pending[1 - r]; return [v[0] + s, v[1] + c]; } }));
    try {
      const ps: number[][] = [];
      script.forEach((sets, step) => {
        const ls = sets.map((x) => logits(x));
        one.observe(torch.cat(ls));
        ls.forEach((l, r) => ranks[r].observe(l));
        pending = ls.map((l) => [l.sign().sum().item(), l.numel]);
        one.afterStep(step, 8);
        ranks.forEach((a) => a.afterStep(step, 8));
        ps.push([one.p, ranks[0].p, ranks[1].p]);
      });
      assert.deepEqual(ps.map(([p]) => p), [0, 0.125, 0.125, 0, 0, 0.125]);
      for (const [p, p0, p1] of ps) assert.ok(p0 === p && p1 === p, `ranks ${p0}, ${p1} against one process ${p}`);
      // Saved after an odd step (half an interval): every rank holds the job's sums.
      ranks.forEach((a) => { a.observe(logits([1, -1, 1, 1])); });
      pending = [[2, 4], [2, 4]];
      ranks.forEach((a) => a.afterStep(6, 8));
      assert.deepEqual(ranks[0].state(), { p: 0.125, signs_sum: 4, signs_count: 8 });
      assert.deepEqual(ranks[1].state(), ranks[0].state());
    } finally {
      one.dispose();
      ranks.forEach((a) => a.dispose());
    }
  });
});

test("the augmentation options follow train.py's rules", () => {
  const base: Options = { aug: 'noaug', p: null, target: null, augpipe: null, ada_kimg: null, ada_interval: 4, resume_from: null };
  const ada = resolveAugOptions({ ...base, aug: 'ada' }, new Set(['aug']));
  assert.deepEqual([ada.target, ada.ada_kimg, ada.augpipe, ada.p], [0.6, 500, 'bgc', null]);
  assert.equal(resolveAugOptions({ ...base, aug: 'ada', resume_from: 'x.pkl' }, new Set(['aug', 'resume_from'])).ada_kimg, 100);
  const fixed = resolveAugOptions({ ...base, aug: 'fixed', p: 0.3, augpipe: 'blit' }, new Set(['aug', 'p', 'augpipe']));
  assert.deepEqual([fixed.p, fixed.augpipe, fixed.target], [0.3, 'blit', null]);
  assert.deepEqual(resolveAugOptions(base, new Set()), base);
  assert.throws(() => resolveAugOptions({ ...base, aug: 'fixed' }, new Set(['aug'])), /--aug fixed needs --p/);
  assert.throws(() => resolveAugOptions({ ...base, aug: 'ada', p: 0.2 }, new Set(['aug', 'p'])), /--p can only be given with --aug fixed/);
  assert.throws(() => resolveAugOptions({ ...base, target: 0.7 }, new Set(['target'])), /--target can only be given with --aug ada/);
  assert.throws(() => resolveAugOptions({ ...base, augpipe: 'bgc' }, new Set(['augpipe'])), /--augpipe can only be given with --aug ada or fixed/);
  assert.throws(() => resolveAugOptions({ ...base, aug: 'fixed', p: 0.5, ada_kimg: 10 }, new Set(['aug', 'p', 'ada_kimg'])), /--ada_kimg can only be given with --aug ada/);
});

function tinyRecipe(extra: Options, numClasses = 0): StyleGAN2Recipe {
  const def = RECIPES.stylegan2;
  const o: Options = Object.fromEntries(Object.entries(fullSchema(def)).map(([k, s]) => [k, s.default]));
  Object.assign(o, { model: 'stylegan2', resolution: 16, batch: 4, z_dim: 8, w_dim: 8, channel_base: 64, channel_max: 8, ...(numClasses ? { classes: true } : {}), ...extra });
  return def.create(o, recipeEnv(o, numClasses, 'cpu')) as StyleGAN2Recipe;
}

function disposeRecipe(r: StyleGAN2Recipe): void {
  for (const net of Object.values(r.networks())) net.dispose();
  for (const opt of Object.values(r.optimizers())) opt.dispose();
  r.dispose();
}

test('R1 through an ADA-augmented D (bgc, p = 1) equals finite differences in float64', () => {
  torch.manualSeed(4);
  const r = tinyRecipe({ aug: 'fixed', p: 1, d_architecture: 'resnet' });
  try {
    toFloat64(r, ['D']);
    torch.scope(() => {
      const x = torch.rand([4, 3, 16, 16], { dtype: 'float64' }).mul(2).sub(1);
      // The same augmentation draws on every evaluation.
      const r1 = (create: boolean): torch.Tensor => {
        torch.manualSeed(77);
        const real = x.detach().requiresGrad_(true);
        const penalty = r1Penalty(real, r.runD(real, null));
        return create ? penalty : penalty.detach();
      };
      const w = r.D.parameters().find((p) => p.ndim === 4 && p.shape[1] === 3)!; // fromRGB's weight
      const w2 = r.D.parameters().filter((p) => p.ndim === 4).at(-1)!; // the last convolution
      const [g, g2] = torch.grad(r1(true), [w, w2]);
      const idx = [0, 5, 9, 14].filter((i) => i < w.numel);
      const fd = numericGrad(() => torch.scope(() => r1(false).item()), w, idx);
      assertClose(Array.from(g!.reshape([-1]).toTypedArray() as Float64Array).filter((_, i) => idx.includes(i)), fd, 1e-5, 1e-9);
      const idx2 = [0, 3, 7, 11].filter((i) => i < w2.numel);
      const fd2 = numericGrad(() => torch.scope(() => r1(false).item()), w2, idx2);
      assertClose(Array.from(g2!.reshape([-1]).toTypedArray() as Float64Array).filter((_, i) => idx2.includes(i)), fd2, 1e-5, 1e-9);
      assert.ok(fd.some((v) => Math.abs(v) > 1e-6), 'the check is not vacuous');
      // The augmentation is there: D sees other images than without it.
      torch.manualSeed(77);
      const plain = r.D.forward(x, null);
      torch.manualSeed(77);
      assert.ok(r.runD(x, null).sub(plain).abs().amax().item() > 1e-6);
    });
  } finally {
    disposeRecipe(r);
  }
});

test('a StyleGAN2 step with ADA and every phase leaks no tensor, and logs p', () => {
  torch.manualSeed(3);
  const r = tinyRecipe({ aug: 'ada', target: 0.6, ada_kimg: 0.01 }, 3);
  const a = torch.rand([4, 3, 16, 16]).mul(2).sub(1);
  const labels = torch.tensor([0, 1, 2, 0], { dtype: 'int64' });
  try {
    torch.scope(() => trainStep(r, { a, b: null, labels }, { step: 0, imagesSeen: 0 }));
    const before = torch.liveTensors();
    // Step 48 runs all four phases; step 51 ends an ADA interval.
    let m: Record<string, number> = {};
    for (const step of [48, 49, 50, 51]) m = torch.scope(() => trainStep(r, { a, b: null, labels }, { step, imagesSeen: step * 4 }));
    assert.equal(torch.liveTensors(), before);
    assert.ok('augment_p' in m && 'signs_real' in m, JSON.stringify(m));
    assert.equal(m.augment_p, r.augment!.pipe.p);
  } finally {
    a.dispose();
    labels.dispose();
    disposeRecipe(r);
  }
});

const TINY_ADA = [
  'train', '--model', 'stylegan2', '--data', 'shapes', '--resolution', '16', '--batch', '4', '--z_dim', '8', '--w_dim', '8',
  '--channel_base', '64', '--channel_max', '8', '--map', '2', '--workers', '1', '--log_every', '1', '--sample_kimg', '0',
  '--n_samples', '4', '--G_reg_interval', '2', '--D_reg_interval', '3', '--aug', 'ada', '--ada_kimg', '0.05', '--ada_interval', '3', '--target', '0.1',
  // A seed whose untrained D scores most reals above 0 (E[sign] 0.875, then 0.75): p rises.
  '--seed', '3',
];

const metrics = (run: string): Record<string, number>[] => readFileSync(join(run, 'metrics.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l));

/**
 * TINY_ADA's 7 steps: adjustments after steps 3 and 6 (interval 3), each by ±(global batch
 * 4)·3/50 = ±0.24 from the logged statistic, in float32 as the reference.
 */
function assertPFollowsSigns(m: Record<string, number>[]): void {
  assert.deepEqual(m.map((x) => x.step), [1, 2, 3, 4, 5, 6, 7]);
  assert.deepEqual(m.map((x) => 'signs_real' in x), [false, false, true, false, false, true, false]);
  let p = 0;
  for (const row of m) {
    if ('signs_real' in row) p = Math.fround(Math.max(Math.fround(p + Math.fround((Math.sign(row.signs_real - 0.1) * 4 * 3) / (0.05 * 1000))), 0));
    assert.equal(row.augment_p, p, `step ${row.step}`);
  }
}

test('an ADA run logs p to metrics.jsonl and resumes with p and the gathered signs exactly', () => {
  const dir = tempDir();
  const straight = join(dir, 'straight'), split = join(dir, 'split');
  let r = cli([...TINY_ADA, '--kimg', '0.028', '--out', straight]);
  assert.equal(r.status, 0, r.stderr);
  const m = metrics(straight);
  assertPFollowsSigns(m);
  assert.ok(m.some((x) => x.augment_p > 0), 'p moved');
  // 4 steps: stopped in the middle of an interval, with signs gathered and not yet used.
  r = cli([...TINY_ADA, '--kimg', '0.016', '--out', split]);
  assert.equal(r.status, 0, r.stderr);
  const mid = JSON.parse(readFileSync(join(latestCheckpoint(split), 'state.json'), 'utf8')) as { recipe: { ada: { signs_count: number } } };
  assert.equal(mid.recipe.ada.signs_count, 4 + 4, 'step 4 gathered the reals of Dmain and Dreg');
  r = cli(['train', '--model', 'stylegan2', '--resume', '--out', split, '--kimg', '0.028']);
  assert.equal(r.status, 0, r.stderr);
  assertSameCheckpoint(latestCheckpoint(straight), latestCheckpoint(split));
  assert.deepEqual(metrics(split).map((x) => x.augment_p), m.map((x) => x.augment_p));
});

test('--aug ada under --nproc 2: p moves by the job\'s statistic over the global batch, and the run resumes', () => {
  const run = join(tempDir(), 'ddp');
  // GANFORGE_NUM_THREADS 1: two ranks on this machine's cores.
  const env = { GANFORGE_NUM_THREADS: '1' };
  let r = cli([...TINY_ADA, '--kimg', '0.016', '--nproc', '2', '--out', run], env);
  assert.equal(r.status, 0, r.stderr);
  // Saved after step 4, half through an interval: the job's signs (2 ranks × (2 Dmain + 2 Dreg reals)), not one rank's.
  const mid = JSON.parse(readFileSync(join(latestCheckpoint(run), 'state.json'), 'utf8')) as { recipe: { ada: { signs_count: number } } };
  assert.equal(mid.recipe.ada.signs_count, 8);
  r = cli(['train', '--model', 'stylegan2', '--resume', '--out', run, '--kimg', '0.028', '--nproc', '2'], env);
  assert.equal(r.status, 0, r.stderr);
  const m = metrics(run);
  assertPFollowsSigns(m);
});
