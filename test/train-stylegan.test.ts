// StyleGAN v1 training (src/recipes/stylegan.ts) end to end, on tiny networks: one step's
// losses and updates against a computation of loss.py's D_logistic_simplegp /
// G_logistic_nonsaturating and Adam's first step written out here, the tracked average of
// w and the EMA generator (Gs β = 0.5^(minibatch / 10 000)), untruncated sample grids from
// G_ema, a progressive 8 → 16 run that fades in a resolution (switching the minibatch at the
// fade's start) and resumes bit-exactly from inside a fade and a schedule group, the
// learning-rate ramp-up, conditional training, no leaked tensors, and the help text.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import * as torch from '../src/torch/index.js';
import { F, type Tensor } from '../src/torch/index.js';
import { RECIPES } from '../src/families/registry.js';
import { train } from '../src/train/trainer.js';
import { fullSchema, recipeEnv } from '../src/train/options.js';
import { styleganSchedule } from '../src/families/progressive/schedule.js';
import { scheduleOptionsOf } from './train-helpers.js';
import type { Recipe } from '../src/train/recipe.js';
import type { Options } from '../src/config/options.js';
import { StyleGANGenerator, StyleGANDiscriminator } from '../src/models/stylegan.js';
import { listCheckpoints, loadCheckpoint } from '../src/io/checkpoint.js';
import { trainHelp } from '../src/cli/train.js';
import { cli, tempDir, assertSameCheckpoint, trainStep } from './train-helpers.js';

const def = RECIPES.stylegan;
const quiet = { log: (): void => {} };

/**
 * Every option at its default, then tiny networks (nf 8, 8, 4 at 4, 8, 16 px; z and w of
 * 8; two mapping layers) on 16×16 shapes grown from 8×8 in minibatches of 4, then `over`.
 */
function options(over: Options = {}): Options {
  const o: Options = Object.fromEntries(Object.entries(fullSchema(def)).map(([k, s]) => [k, s.default]));
  return {
    ...o, model: 'stylegan', data: 'shapes', resolution: 16, latent_size: 8, dlatent_size: 8, mapping_layers: 2, fmap_base: 32, fmap_max: 8,
    lod_initial_resolution: 8, minibatch_base: 4, minibatch_dict: '', workers: 0, log_every: 1, sample_kimg: 0, n_samples: 1, keep: 0, ...over,
  };
}

function metrics(run: string): Record<string, number>[] {
  return readFileSync(join(run, 'metrics.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l));
}

function dispose(r: Recipe): void {
  for (const net of Object.values(r.networks())) net.dispose();
  for (const opt of Object.values(r.optimizers())) opt.dispose();
  r.dispose?.();
}

const values = (ts: Tensor[]): Tensor[] => ts.map((t) => t.detach().clone());
const maxAbs = (a: Tensor, b: Tensor): number => a.sub(b).abs().max().item();

/** A fresh generator with `G`'s configuration, weights and buffers (dlatent_avg, stored noise). */
function copyG(G: StyleGANGenerator): StyleGANGenerator {
  const c = new StyleGANGenerator(G.cfg);
  torch.noGrad(() => c.loadStateDict(G.stateDict()));
  return c;
}

function copyD(D: StyleGANDiscriminator): StyleGANDiscriminator {
  const c = new StyleGANDiscriminator(D.cfg);
  torch.noGrad(() => c.loadStateDict(D.stateDict()));
  return c;
}

/** process_reals at lod ∈ [0, 1) on 16×16 images, written out: lerp(x, nearest-up(2×2 box mean(x)), lod). */
function fadedReals(x: Tensor, lod: number): Tensor {
  const [n, c, h, w] = x.shape;
  const box = x.reshape(n, c, h / 2, 2, w / 2, 2).mean([3, 5], true).expand(n, c, h / 2, 2, w / 2, 2).reshape(n, c, h, w);
  return x.add(box.sub(x).mul(lod));
}

/**
 * Adam's first step after a reset, β1 = 0, β2 = 0.99: m = g, v = 0.01·g², and with the bias
 * corrections (1, 0.01) p ← p − lr·g / (√(v / 0.01) + ε) = p − lr·g / (|g| + ε).
 */
function adamFirstStep(p: Tensor, g: Tensor, lr: number): Tensor {
  return p.sub(g.mul(lr).div(g.abs().add(1e-8)));
}

/**
 * Parameter `p`, which was `before` the step, took Adam's first step (lr 0.001) on the
 * gradient the step left, and that gradient is `want`, recomputed here. Two checks, so
 * that each holds on any CPU: the recomputation sums in another order, which rounds
 * differently (up to 1.6e-7 of the tensor's largest gradient, under every ATen kernel
 * variant), and Adam divides each gradient by its own size, so comparing the update
 * with one computed from `want` would move by up to 2·lr wherever a gradient is within
 * that rounding of 0. So the gradient is compared within 1e-4 of its tensor's scale, and
 * the update, elementwise, against the step's own gradient.
 */
function assertStepFrom(k: string, p: Tensor, before: Tensor, want: Tensor): void {
  const got = p.grad;
  assert.ok(got, `${k}: the step left its gradient`);
  const scale = want.abs().max().item();
  const gerr = maxAbs(got, want);
  assert.ok(gerr <= 1e-4 * scale, `${k}: gradient off by ${gerr} (scale ${scale})`);
  const err = maxAbs(p, adamFirstStep(before, got, 0.001));
  assert.ok(err <= 2e-6 * Math.max(1, p.abs().max().item()), `${k}: Adam's first step off by ${err}`);
}

test('one step: D loss = mean softplus(D(fake)) + mean softplus(−D(real)) + 5·mean‖∇D(real)‖², recomputed; the D part moves D by Adam and not G; the G part moves G', () => {
  // D_repeats 2, minibatch_repeats 1: a group is a D-only step, then a D step with a G step.
  const o = options({ D_repeats: 2, minibatch_repeats: 1, lod_training_kimg: 0.1, lod_transition_kimg: 0.1 });
  torch.manualSeed(3);
  const r = def.create(o, recipeEnv(o, 0, 'cpu'));
  const { G, D } = r.networks() as { G: StyleGANGenerator; D: StyleGANDiscriminator };
  torch.scope(() => {
    // 150 images shown: half-way through the fade from 8×8 to 16×16.
    const n = r.nextBatchSize!(150);
    const lod = styleganSchedule(0.15, scheduleOptionsOf(o)).lod;
    assert.equal(n, 4);
    assert.ok(lod > 0.4 && lod < 0.6, `lod ${lod}`);
    const x = torch.withSeed(7, () => torch.rand([n, 3, 16, 16]).mul(2).sub(1));
    const batch = { a: x, b: null, labels: null };

    // ---- the D-only step
    const G0 = copyG(G), D0 = copyD(D);
    const g0 = values(G.parameters()), d0 = values(D.parameters());
    const outA = torch.withSeed(11, () => trainStep(r, batch, { step: 0, imagesSeen: 150 }));
    assert.equal(outA.lod, lod);
    assert.equal(outA.minibatch, 4);
    assert.equal(outA.lr_D, 0.001);
    assert.ok(!('loss_G' in outA), 'no G step after the first of 2 D steps');
    // The same draws in the same order: z, then whatever G draws (mixing, noise).
    const want = torch.withSeed(11, () => {
      const z = torch.randn([n, 8]);
      const avgBefore = G0.dlatentAvg.clone();
      const w = torch.noGrad(() => G0.mapping.forward(z));
      const fakes = torch.noGrad(() => G0.forward(z, null, { lod }));
      const reals = fadedReals(x, lod).requiresGrad_(true);
      const dReal = D0.forward(reals, null, { lod }), dFake = D0.forward(fakes, null, { lod });
      const real = F.softplus(dReal.neg()).mean(), fake = F.softplus(dFake).mean();
      const [gx] = torch.grad(dReal.sum(), reals, { createGraph: true, retainGraph: true });
      const r1 = gx!.square().sum([1, 2, 3]).mean();
      const loss = real.add(fake).add(r1.mul(10 / 2));
      const grads = torch.grad(loss, D0.parameters(), { allowUnused: true });
      return { real: real.item(), fake: fake.item(), r1: r1.item(), loss: loss.item(), grads, avgBefore, wMean: w.select(1, 0).mean(0) };
    });
    const close = (a: number, b: number, what: string): void => assert.ok(Math.abs(a - b) <= 1e-5 * Math.max(1, Math.abs(b)), `${what}: ${a} vs ${b}`);
    close(outA.loss_D_real, want.real, 'loss_D_real');
    close(outA.loss_D_fake, want.fake, 'loss_D_fake');
    close(outA.r1, want.r1, 'r1');
    close(outA.loss_D, want.loss, 'loss_D');
    assert.ok(want.r1 > 0 && outA.loss_D > outA.loss_D_real + outA.loss_D_fake, 'R1 is in the loss');
    for (const [i, [k, p]] of G.namedParameters().entries()) assert.ok(p.equal(g0[i]), `G's ${k} changed in a D-only step`);
    // Every D parameter is trained but the 4×4 FromRGB, which the recursive structure skips at lod 0.5.
    for (const [i, [k, p]] of D.namedParameters().entries()) {
      const g = want.grads[i];
      if (k.startsWith('FromRGB_lod2.')) {
        assert.equal(g, null, `${k} is not used at lod ${lod}`);
        assert.ok(p.equal(d0[i]), `${k} stays`);
        continue;
      }
      assert.ok(g, `${k} has a gradient`);
      assert.ok(!p.equal(d0[i]), `${k} moved`);
      assertStepFrom(k, p, d0[i], g);
    }
    // dlatent_avg ← lerp(mean of the batch's w, avg, 0.995), from 0: 0.005·mean(w).
    assert.ok(want.avgBefore.equal(torch.zeros([8])), 'dlatent_avg starts at 0');
    assert.ok(maxAbs(G.dlatentAvg, want.wMean.mul(0.005)) < 1e-7, 'dlatent_avg took 0.5 % of the batch mean of w');
    G0.dispose();
    D0.dispose();

    // ---- the D + G step: G's loss is D's (just updated) verdict on fresh fakes.
    const G1 = copyG(G);
    const g1 = values(G.parameters());
    const outB = torch.withSeed(12, () => trainStep(r, batch, { step: 1, imagesSeen: 154 }));
    assert.ok(Number.isFinite(outB.loss_G));
    assert.equal(outB.lr_G, 0.001);
    const D1 = copyD(D);
    const wantG = torch.withSeed(12, () => {
      // Replay the D part's draws (G1 also tracks w's average as G did), then G's own.
      torch.noGrad(() => G1.forward(torch.randn([n, 8]), null, { lod }));
      const loss = F.softplus(D1.forward(G1.forward(torch.randn([n, 8]), null, { lod }), null, { lod }).neg()).mean();
      return { loss: loss.item(), grads: torch.grad(loss, G1.parameters(), { allowUnused: true }) };
    });
    close(outB.loss_G, wantG.loss, 'loss_G');
    assert.ok(G1.dlatentAvg.allclose(G.dlatentAvg, 1e-6, 1e-9), 'dlatent_avg: one update per G evaluation (D part and G part)');
    assert.ok(!G.dlatentAvg.allclose(want.wMean.mul(0.005)), 'dlatent_avg moved again');
    // Every G parameter is trained but the 4×4 ToRGB.
    for (const [i, [k, p]] of G.namedParameters().entries()) {
      const g = wantG.grads[i];
      if (k.startsWith('synthesis.ToRGB_lod2.')) {
        assert.equal(g, null, `${k} is not used at lod ${lod}`);
        assert.ok(p.equal(g1[i]), `${k} stays`);
        continue;
      }
      assert.ok(g, `${k} has a gradient`);
      assert.ok(!p.equal(g1[i]), `${k} moved`);
      assertStepFrom(k, p, g1[i], g);
    }
    G1.dispose();
    D1.dispose();
  });
  dispose(r);
});

test('a step inside torch.scope leaves torch.liveTensors() unchanged (D-only and D + G steps)', () => {
  const o = options({ D_repeats: 2, minibatch_repeats: 2, lod_training_kimg: 0.1, lod_transition_kimg: 0.1 });
  torch.manualSeed(4);
  const r = def.create(o, recipeEnv(o, 0, 'cpu'));
  const x = torch.withSeed(7, () => torch.rand([4, 3, 16, 16]).mul(2).sub(1));
  const batch = { a: x, b: null, labels: null };
  r.nextBatchSize!(150);
  // Two steps first: both optimisers allocate their moments.
  torch.scope(() => trainStep(r, batch, { step: 0, imagesSeen: 150 }));
  torch.scope(() => trainStep(r, batch, { step: 1, imagesSeen: 154 }));
  for (const step of [2, 3]) {
    const before = torch.liveTensors();
    const out = torch.scope(() => trainStep(r, batch, { step, imagesSeen: 150 + 4 * step }));
    assert.equal('loss_G' in out, step === 3);
    assert.equal(torch.liveTensors(), before, `step ${step} leaked ${torch.liveTensors() - before} tensor(s)`);
  }
  x.dispose();
  dispose(r);
});

test('sample grids: G_ema, untruncated unless asked, at the run\'s level of detail', () => {
  const o = options();
  torch.manualSeed(5);
  const r = def.create(o, recipeEnv(o, 0, 'cpu'));
  const { G, G_ema } = r.networks() as { G: StyleGANGenerator; G_ema: StyleGANGenerator };
  torch.scope(() => {
    // A non-zero centre, so that truncation shows.
    torch.noGrad(() => G_ema.dlatentAvg.copy_(torch.withSeed(9, () => torch.randn([8]))));
    const inputs = torch.withSeed(1, () => r.sampleInputs(4, null));
    const images = torch.withSeed(0, () => torch.noGrad(() => r.generate(inputs)));
    // Before training the schedule's start: lod 1, 8×8 images upscaled to 16×16.
    assert.deepEqual(images.shape, [4, 3, 16, 16]);
    assert.ok(images.equal(images.reshape(4, 3, 8, 2, 8, 2).select(3, 0).select(4, 0).unsqueeze(3).unsqueeze(5).expand(4, 3, 8, 2, 8, 2).reshape(4, 3, 16, 16)), '8×8 upscaled');
    const plain = (net: StyleGANGenerator, psi: number | null, cutoff: number | null = null) => torch.withSeed(0, () => torch.noGrad(() =>
      net.forward(inputs.z!, null, { lod: 1, truncationPsi: psi, truncationCutoff: cutoff, styleMixingProb: null, updateDlatentAvg: false })));
    assert.ok(images.equal(plain(G_ema, null)), 'G_ema(z), no truncation, no mixing');
    assert.ok(!images.allclose(plain(G, null)), 'not G');
    const truncated = torch.withSeed(0, () => torch.noGrad(() => r.generate({ ...inputs, truncationPsi: 0.7, truncationCutoff: 4 })));
    assert.ok(truncated.equal(plain(G_ema, 0.7, 4)), 'ψ 0.7 on the first 4 layers when asked');
    assert.ok(!truncated.allclose(images));
    assert.ok(G_ema.dlatentAvg.equal(torch.withSeed(9, () => torch.randn([8]))), 'sampling leaves dlatent_avg alone');
  });
  dispose(r);
});


// The progressive run of the next tests: 8×8 for 16 images (minibatch 4), then 16×16
// fading in over 32 (minibatch 8 from the fade's start: --minibatch_dict 16:8), to 64
// images; the schedule is evaluated every 2 steps, the rates ramped up over 40 images.
const GROW = {
  lod_training_kimg: 0.016, lod_transition_kimg: 0.032, minibatch_dict: '16:8', minibatch_repeats: 2, lrate_rampup_kimg: 0.04, kimg: 0.064, snapshot_kimg: 0.004,
};
let straightRun: Promise<string> | null = null;
function straight(): Promise<string> {
  straightRun ??= (async () => {
    const run = join(tempDir(), 'straight');
    const res = await train(def, options({ ...GROW, out: run }), new Set(), quiet);
    assert.deepEqual([res.steps, res.kimg, res.interrupted], [11, 0.064, false]);
    return run;
  })();
  return straightRun;
}

/** Images shown before each logged step (log_every 1), and before the first step of its group. */
function groupStarts(rows: Record<string, number>[]): { before: number; groupStart: number }[] {
  const before = rows.map((r) => Math.round(r.kimg * 1000) - r.minibatch);
  return before.map((b, i) => ({ before: b, groupStart: before[i - (i % 2)] }));
}

test('progressive 8 → 16: lod goes 1 → fractional → 0, the minibatch switches at the fade, and a run stopped inside a fade and a group resumes bit-exactly', async () => {
  const run = await straight();
  const rows = metrics(run);
  assert.deepEqual(rows.map((r) => r.step), Array.from({ length: 11 }, (_, i) => i + 1));
  // Evaluated at each group's start (0, 8, 16, 24, 40, 56 images): 1 up to 16, then the fade to 0 at 48.
  const sched = scheduleOptionsOf(options(GROW));
  const starts = groupStarts(rows);
  assert.deepEqual(starts.map((s) => s.before), [0, 4, 8, 12, 16, 20, 24, 32, 40, 48, 56]);
  assert.deepEqual(rows.map((r) => r.lod), starts.map((s) => styleganSchedule(s.groupStart / 1000, sched).lod));
  assert.deepEqual(rows.map((r) => +r.lod.toFixed(9)), [1, 1, 1, 1, 1, 1, 0.75, 0.75, 0.25, 0.25, 0]);
  assert.deepEqual(rows.map((r) => r.minibatch), [4, 4, 4, 4, 4, 4, 8, 8, 8, 8, 8], 'the 16×16 minibatch from the fade\'s start');

  const split = join(tempDir(), 'split');
  const o = options({ ...GROW, out: split });
  const stopped = await train(def, o, new Set(), { ...quiet, afterStep: (s) => s === 7 });
  assert.deepEqual([stopped.steps, stopped.interrupted], [7, true]);
  // Inside the fade (lod 0.75) and inside a group (one of its 2 D steps left).
  const st = JSON.parse(readFileSync(join(stopped.checkpoint, 'state.json'), 'utf8'));
  assert.equal(st.step, 7);
  assert.ok(Math.abs(st.recipe.progress.point.lod - 0.75) < 1e-9, `lod ${st.recipe.progress.point.lod}`);
  assert.equal(st.recipe.progress.groupLeft, 1);
  const lines: string[] = [];
  const resumed = await train(def, { ...o, resume: true }, new Set(['resume', 'out']), { log: (l) => lines.push(l) });
  assert.match(lines.join('\n'), /resuming .*step 7, 0\.032 kimg/);
  assert.deepEqual([resumed.steps, resumed.interrupted], [11, false]);
  assertSameCheckpoint(join(run, 'checkpoints', '000000.064'), join(split, 'checkpoints', '000000.064'));
  const strip = (r: Record<string, number>): Record<string, number> => Object.fromEntries(Object.entries(r).filter(([k]) => k !== 'img_per_s' && k !== 'sec'));
  assert.deepEqual(metrics(split).map(strip), rows.map(strip), 'the same metrics, each step once');
});

test('--lrate_rampup_kimg: lr_G = lr_D = min(kimg / rampup, 1)·0.001 at each group\'s start', async () => {
  const rows = metrics(await straight());
  for (const [i, { groupStart }] of groupStarts(rows).entries()) {
    const want = 0.001 * Math.min(groupStart / 1000 / 0.04, 1);
    assert.ok(Math.abs(rows[i].lr_G - want) < 1e-15, `step ${rows[i].step}: lr_G ${rows[i].lr_G}, expected ${want}`);
    assert.equal(rows[i].lr_D, rows[i].lr_G);
  }
  assert.deepEqual(rows.map((r) => +(r.lr_G * 1e4).toFixed(6)), [0, 0, 2, 2, 4, 4, 6, 6, 10, 10, 10]);
});

test('dlatent_avg moves while training and G_ema copies it; G_ema averages the weights with β = 0.5^(minibatch / min(10 000, 0.05 · images seen))', async () => {
  const run = await straight();
  const names = listCheckpoints(join(run, 'checkpoints'));
  assert.equal(names.length, 12, 'a checkpoint before and after every step');
  torch.scope(() => {
    const ck = (name: string) => loadCheckpoint(join(run, 'checkpoints', name)).networks;
    let prev = ck(names[0]), seenBatches = new Set<number>(), moved = 0;
    assert.ok(prev.G.dlatent_avg.equal(torch.zeros([8])), 'dlatent_avg starts at 0');
    for (const name of names.slice(1)) {
      const cur = ck(name);
      const G = cur.G, E = cur.G_ema;
      assert.ok(!G.dlatent_avg.equal(prev.G.dlatent_avg), `${name}: dlatent_avg moved`);
      const buffers = Object.keys(G).filter((k) => k === 'dlatent_avg' || /^synthesis\.noise\d+$/.test(k));
      assert.equal(buffers.length, 7, 'dlatent_avg and 6 noise inputs');
      for (const k of buffers) assert.ok(E[k].equal(G[k]), `${name}: G_ema.${k} is a copy of G's`);
      // Gs ← lerp(G, Gs, β) for the weights, β = 0.5^(minibatch / half-life), the half-life
      // 10 kimg capped at 5 % of the images seen before the step (StyleGAN2's ema_rampup, on by default).
      const seenBefore = Math.round(Number(names[names.indexOf(name) - 1]) * 1000);
      const minibatch = Math.round(Number(name) * 1000) - seenBefore;
      seenBatches.add(minibatch);
      const beta = seenBefore === 0 ? 0 : 0.5 ** (minibatch / Math.min(10_000, 0.05 * seenBefore));
      for (const [k, p] of Object.entries(G)) {
        if (buffers.includes(k)) continue;
        // Within float rounding of the values, and within 10 % of this step's move.
        const want = prev.G_ema[k].lerp(p, 1 - beta);
        const tol = 4 * 2 ** -24 * want.abs().max().item() + 0.1 * (1 - beta) * maxAbs(p, prev.G_ema[k]);
        assert.ok(maxAbs(E[k], want) <= tol, `${name}: G_ema.${k} off by ${maxAbs(E[k], want)} (tolerance ${tol})`);
        if (k === 'synthesis.16x16.Conv1.conv.weight' && maxAbs(p, prev.G_ema[k]) > 0) moved++;
      }
      prev = cur;
    }
    assert.deepEqual([...seenBatches].sort(), [4, 8]);
    assert.ok(moved >= 5, `G moved away from G_ema in ${moved} steps`);
    assert.ok(prev.G.dlatent_avg.abs().max().item() > 0, 'dlatent_avg is non-zero at the end');
    assert.ok(!prev.G_ema['mapping.Dense0.weight'].equal(prev.G['mapping.Dense0.weight']), 'the weights are averaged, not copied');
  });
});

test('conditional StyleGAN (--classes on shapes): steps with labels, a score per class, labels embedded in G', async () => {
  const run = join(tempDir(), 'cond');
  const res = await train(def, options({ classes: true, kimg: 0.008, lod_training_kimg: 1, lod_transition_kimg: 1, out: run }), new Set(), quiet);
  assert.equal(res.steps, 2);
  for (const r of metrics(run)) {
    for (const k of ['loss_D', 'loss_D_real', 'loss_D_fake', 'r1', 'loss_G']) assert.ok(Number.isFinite(r[k]), `${k} = ${r[k]}`);
  }
  torch.scope(() => {
    const a = loadCheckpoint(join(run, 'checkpoints', '000000.000')).networks, b = loadCheckpoint(res.checkpoint).networks;
    assert.deepEqual(b.G['mapping.LabelConcat.weight'].shape, [3, 8], 'circle, square, triangle embedded to z\'s size');
    assert.deepEqual(b.D['4x4.Dense1.weight'].shape, [3, 8], 'one D score per class');
    assert.ok(!a.G['mapping.LabelConcat.weight'].equal(b.G['mapping.LabelConcat.weight']), 'the label embedding is trained');
  });
});

test('train --model stylegan --help lists the schedule options with --lrate_rampup_kimg; pggan\'s help has no ramp-up', () => {
  const r = cli(['train', '--model', 'stylegan', '--help']);
  assert.equal(r.status, 0, r.stderr);
  assert.equal(r.stdout, trainHelp(def), 'the command prints trainHelp');
  for (const k of ['lod_initial_resolution', 'lod_training_kimg', 'lod_transition_kimg', 'minibatch_base', 'minibatch_dict', 'G_lrate_base', 'G_lrate_dict',
    'D_lrate_base', 'D_lrate_dict', 'lrate_rampup_kimg', 'minibatch_repeats', 'D_repeats', 'reset_opt_for_new_lod', 'r1_gamma', 'style_mixing_prob', 'ema_kimg']) {
    assert.match(r.stdout, new RegExp(`--${k}\\b`), k);
  }
  assert.match(r.stdout, /--lrate_rampup_kimg FLOAT\s.*\(default: 0\)/);
  assert.match(r.stdout, /--lod_initial_resolution INT\s.*\(default: 8\)/);
  assert.match(r.stdout, /--ema_kimg FLOAT\s.*\(default: 10\)/);
  assert.doesNotMatch(r.stdout, /--batch\b|--lr_policy\b/, 'the schedule owns the minibatch and the rates');
  const pg = trainHelp(RECIPES.pggan);
  assert.match(pg, /--lod_transition_kimg\b/);
  assert.doesNotMatch(pg, /lrate_rampup/);
});
