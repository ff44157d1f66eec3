// PGGAN end to end on tiny networks: the progressive loop (schedule evaluated once per
// group of minibatch_repeats × D_repeats D steps, per-resolution minibatch and learning
// rates, optimiser resets, D_repeats), exact resume inside a fade, the AC-GAN variant,
// sampling at the run's level of detail, a step's memory, and the command line.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import * as torch from '../src/torch/index.js';
import { RECIPES } from '../src/families/registry.js';
import { train, type TrainResult } from '../src/train/trainer.js';
import { fullSchema, recipeEnv } from '../src/train/options.js';
import { loadRun } from '../src/families/load.js';
import { scheduleOptionsOf } from './train-helpers.js';
import { pgganSchedule } from '../src/families/progressive/schedule.js';
import { parseArgs, type Options } from '../src/config/options.js';
import { decodeImage, type RawImage } from '../src/data/index.js';
import { listCheckpoints, loadCheckpoint } from '../src/io/checkpoint.js';
import { cli, cliErrorInProcess, tempDir, assertSameCheckpoint, trainStep } from './train-helpers.js';

const def = RECIPES.pggan;
const quiet = { log: (): void => {} };

/** Every option at its default, then tiny networks and `over`: what the CLI would pass. */
function options(over: Options): Options {
  const o: Options = Object.fromEntries(Object.entries(fullSchema(def)).map(([k, s]) => [k, s.default]));
  return {
    ...o, model: 'pggan', data: 'shapes', workers: 0, latent_size: 8, fmap_base: 32, fmap_max: 8,
    log_every: 1, sample_kimg: 0, n_samples: 4, ...over,
  };
}

type Row = Record<string, number>;

function metrics(run: string): Row[] {
  return readFileSync(join(run, 'metrics.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l));
}

function checkpoints(run: string): string[] {
  return listCheckpoints(join(run, 'checkpoints'));
}

interface SavedState {
  step: number;
  imagesSeen: number;
  recipe: { progress: { point: { lod: number; minibatch: number } | null; prevLod: number | null; groupLeft: number; dSteps: number } };
  optimizers: Record<string, { lr: number; step: number[] }>;
}

function stateOf(run: string, name: string): SavedState {
  return JSON.parse(readFileSync(join(run, 'checkpoints', name, 'state.json'), 'utf8'));
}

// ---------------------------------------------------------------------------------------
// What the rows of a run must show, worked out apart from the code under test.

interface Plan {
  resolution: number;
  init: number;
  trainKimg: number;
  transKimg: number;
  mbBase: number;
  mbDict: Record<number, number>;
  gBase: number;
  gDict: Record<number, number>;
  dBase: number;
  dDict: Record<number, number>;
  repeats: number;
  dRepeats: number;
  reset: boolean;
  kimg: number;
}

interface Expected {
  /** imagesSeen where this step's group started (the schedule is evaluated there). */
  groupStart: number;
  lod: number;
  minibatch: number;
  lrG: number;
  lrD: number;
  gStep: boolean;
  /** Adam step counts after this step (of a parameter trained since the last reset). */
  gCount: number;
  dCount: number;
}

/** The papers' formula: lod falls by one over each transition, after lodTrainingKimg at each level. */
function lodAt(kimg: number, p: Plan): number {
  const phaseDur = p.trainKimg + p.transKimg;
  const phase = Math.floor(kimg / phaseDur);
  const into = kimg - phase * phaseDur;
  const lod = Math.log2(p.resolution) - Math.log2(p.init) - phase - Math.max(into - p.trainKimg, 0) / p.transKimg;
  return Math.max(lod, 0);
}

/**
 * Steps of a run: a group of repeats × dRepeats D steps starts whenever the last one is
 * used up, at kimg = imagesSeen / 1000 of that moment; a G step after every dRepeats D
 * steps; both Adams reset when floor(lod) or ceil(lod) changed since the last group.
 */
function plan(p: Plan): Expected[] {
  const out: Expected[] = [];
  let images = 0, prev = -1, g = 0, d = 0;
  let cur: Omit<Expected, 'gStep' | 'gCount' | 'dCount'> | null = null;
  for (let i = 0; images < p.kimg * 1000; i++) {
    if (i % (p.repeats * p.dRepeats) === 0) {
      const lod = lodAt(images / 1000, p);
      const res = 2 ** (Math.log2(p.resolution) - Math.floor(lod));
      if (p.reset && (Math.floor(lod) !== Math.floor(prev) || Math.ceil(lod) !== Math.ceil(prev))) g = d = 0;
      prev = lod;
      cur = { groupStart: images, lod, minibatch: p.mbDict[res] ?? p.mbBase, lrG: p.gDict[res] ?? p.gBase, lrD: p.dDict[res] ?? p.dBase };
    }
    const gStep = (i % p.dRepeats) === p.dRepeats - 1;
    d++;
    if (gStep) g++;
    out.push({ ...cur!, gStep, gCount: g, dCount: d });
    images += cur!.minibatch;
  }
  return out;
}

// ---------------------------------------------------------------------------------------
// The main run: 16 px from 8 px, a fade over 40 images in groups of 2 minibatches, 8 images
// a minibatch at 8 px and 4 at 16 px, a checkpoint after every step.

const MAIN_PLAN: Plan = {
  resolution: 16, init: 8, trainKimg: 0.02, transKimg: 0.04, mbBase: 2, mbDict: { 8: 8, 16: 4 },
  gBase: 0.0005, gDict: { 8: 0.002, 16: 0.001 }, dBase: 0.0015, dDict: { 8: 0.003 }, repeats: 2, dRepeats: 1, reset: true, kimg: 0.08,
};

function mainOptions(out: string, over: Options = {}): Options {
  return options({
    resolution: 16, lod_initial_resolution: 8, lod_training_kimg: 0.02, lod_transition_kimg: 0.04,
    minibatch_base: 2, minibatch_dict: '8:8,16:4', minibatch_repeats: 2,
    G_lrate_base: 0.0005, G_lrate_dict: '8:0.002,16:0.001', D_lrate_base: 0.0015, D_lrate_dict: '8:0.003',
    kimg: 0.08, snapshot_kimg: 0.004, keep: 0, out, ...over,
  });
}

let mainRun: Promise<{ dir: string; result: TrainResult }> | null = null;

/** The uninterrupted main run, trained once for the tests that read it. */
function straightRun(): Promise<{ dir: string; result: TrainResult }> {
  mainRun ??= (async () => {
    const dir = join(tempDir('gf-pggan-'), 'straight');
    return { dir, result: await train(def, mainOptions(dir), new Set(), quiet) };
  })();
  return mainRun;
}

test('a progressive run 8 → 16 px: lod, minibatch and learning rates follow the schedule evaluated at each group\'s start', async () => {
  const { dir, result } = await straightRun();
  const want = plan(MAIN_PLAN);
  assert.equal(want.length, 16);
  assert.deepEqual([result.steps, result.kimg, result.interrupted], [16, 0.08, false]);
  const rows = metrics(dir);
  assert.deepEqual(rows.map((r) => r.step), want.map((_, i) => i + 1));
  // 1 at 8 px, then the fade (first evaluated at 32 images, though the fade begins at 20), then 0.
  const lods = [1, 1, 1, 1, 0.7, 0.7, 0.5, 0.5, 0.3, 0.3, 0.1, 0.1, 0, 0, 0, 0];
  const sched = scheduleOptionsOf(mainOptions(dir));
  rows.forEach((r, i) => {
    const w = want[i];
    assert.ok(Math.abs(r.lod - lods[i]) < 1e-12, `step ${r.step}: lod ${r.lod}, want ${lods[i]}`);
    assert.ok(Math.abs(r.lod - w.lod) < 1e-12, `step ${r.step}: lod ${r.lod}, the formula gives ${w.lod}`);
    assert.equal(r.lod, pgganSchedule(w.groupStart / 1000, sched).lod, `step ${r.step}: pgganSchedule at the group's start (${w.groupStart} images)`);
    assert.equal(r.minibatch, w.minibatch, `step ${r.step}: minibatch`);
    assert.equal(Math.round(r.kimg * 1000) - (i ? Math.round(rows[i - 1].kimg * 1000) : 0), w.minibatch, `step ${r.step}: images seen grow by the minibatch`);
    assert.equal(r.lr_G, w.lrG, `step ${r.step}: lr_G`);
    assert.equal(r.lr_D, w.lrD, `step ${r.step}: lr_D`);
    assert.ok(Number.isFinite(r.loss_G) && Number.isFinite(r.loss_D) && Number.isFinite(r.gp), `step ${r.step}: losses`);
  });
  // The minibatch switches to 16 px's as the 16-px level starts fading in.
  assert.deepEqual(rows.map((r) => r.minibatch), [8, 8, 8, 8, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4]);
  // The group rule matters here: evaluated at step 4's own start (24 images) the schedule
  // would already be fading at 16 px, and at step 12's (60) it would be at lod 0.
  assert.equal(pgganSchedule(0.024, sched).minibatch, 4);
  assert.equal(pgganSchedule(0.06, sched).lod, 0);
  // The final checkpoint holds the group the run ended in.
  const end = stateOf(dir, checkpoints(dir).pop()!);
  assert.deepEqual([end.step, end.imagesSeen], [16, 80]);
  assert.deepEqual([end.recipe.progress.point!.lod, end.recipe.progress.point!.minibatch, end.recipe.progress.groupLeft], [0, 4, 0]);
  assert.deepEqual([end.optimizers.G.lr, end.optimizers.D.lr], [0.001, 0.0015]);
});


test('stopped inside the fade, mid-group, and resumed: the same run bit for bit', async () => {
  const { dir: straight } = await straightRun();
  const split = join(tempDir('gf-pggan-'), 'split');
  // After 7 steps: 44 images, lod 0.5, one step left in the group that started at 40.
  const stopped = await train(def, mainOptions(split), new Set(), { ...quiet, afterStep: (s) => s === 7 });
  assert.deepEqual([stopped.steps, stopped.interrupted], [7, true]);
  const mid = stateOf(split, checkpoints(split).pop()!);
  assert.equal(mid.imagesSeen, 44);
  assert.deepEqual(mid.recipe.progress, { point: mid.recipe.progress.point, prevLod: 0.5, groupLeft: 1, dSteps: 1 });
  assert.equal(mid.recipe.progress.point!.lod, 0.5);
  const lines: string[] = [];
  const resumed = await train(def, { ...mainOptions(split), resume: true }, new Set(['resume', 'out']), { log: (l) => lines.push(l) });
  assert.match(lines.join('\n'), /resuming .*step 7, 0\.044 kimg/);
  assert.deepEqual([resumed.steps, resumed.kimg, resumed.interrupted], [16, 0.08, false]);
  const last = checkpoints(straight).pop()!;
  assert.equal(last, '000000.080');
  assert.equal(checkpoints(split).pop(), last);
  assertSameCheckpoint(join(straight, 'checkpoints', last), join(split, 'checkpoints', last));
  // Every step logged once, with the same values (timings aside).
  const strip = (rows: Row[]) => rows.map(({ img_per_s: _a, sec: _b, ...r }) => r);
  assert.deepEqual(strip(metrics(split)), strip(metrics(straight)));
});

/** Adam step counts after each step, from the checkpoint written after it: [G, D] (the most of any parameter). */
function adamCounts(run: string): [number, number][] {
  return checkpoints(run).slice(1).map((name) => {
    const st = stateOf(run, name);
    return [Math.max(...st.optimizers.G.step), Math.max(...st.optimizers.D.step)];
  });
}

test('--reset_opt_for_new_lod: both Adams start over when the fade starts and when it ends; off, they count on', async () => {
  const { dir } = await straightRun();
  const want = plan(MAIN_PLAN);
  const counts = adamCounts(dir);
  assert.deepEqual(counts, want.map((w) => [w.gCount, w.dCount]));
  assert.deepEqual(counts.map((c) => c[0]), [1, 2, 3, 4, 1, 2, 3, 4, 5, 6, 7, 8, 1, 2, 3, 4]);
  // A reset restarts every parameter: the 16-px layers, first trained at step 5, count like
  // the rest; only the 4-px ToRGB (G's parameters 4 and 5), never used from 8 px on, is at 0.
  const st = stateOf(dir, '000000.044');
  assert.equal(st.step, 7);
  assert.deepEqual(st.optimizers.G.step, st.optimizers.G.step.map((_, i) => (i === 4 || i === 5 ? 0 : 3)), `G step counts after step 7`);

  const off = join(tempDir('gf-pggan-'), 'noreset');
  await train(def, mainOptions(off, { reset_opt_for_new_lod: false, kimg: 0.072 }), new Set(), quiet);
  const offCounts = adamCounts(off);
  assert.deepEqual(offCounts, plan({ ...MAIN_PLAN, reset: false, kimg: 0.072 }).map((w) => [w.gCount, w.dCount]));
  assert.deepEqual(offCounts.map((c) => c[0]), [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14]);
  // Without resets each parameter counts the steps it was trained in. G's parameters, in
  // order: 4x4 (4), ToRGB_lod2 (2: never used from 8 px on), 8x8 (4), ToRGB_lod1 (2: until
  // the fade ends, 12 steps), 16x16 (4) and ToRGB_lod0 (2: from the fade's start, 10 steps).
  const end = stateOf(off, checkpoints(off).pop()!);
  assert.deepEqual(end.optimizers.G.step, [14, 14, 14, 14, 0, 0, 14, 14, 14, 14, 12, 12, 10, 10, 10, 10, 10, 10]);
});

test('D_repeats 2: a G step after every second D step; the schedule holds for minibatch_repeats × D_repeats steps', async () => {
  const run = join(tempDir('gf-pggan-'), 'drep');
  const p: Plan = {
    resolution: 16, init: 8, trainKimg: 0, transKimg: 0.048, mbBase: 8, mbDict: {}, gBase: 0.001, gDict: {}, dBase: 0.001, dDict: {},
    repeats: 2, dRepeats: 2, reset: true, kimg: 0.048,
  };
  await train(def, options({
    resolution: 16, lod_initial_resolution: 8, lod_training_kimg: 0, lod_transition_kimg: 0.048, minibatch_base: 8, minibatch_dict: '',
    G_lrate_dict: '', D_lrate_dict: '', minibatch_repeats: 2, D_repeats: 2, kimg: 0.048, out: run,
  }), new Set(), quiet);
  const want = plan(p);
  const rows = metrics(run);
  assert.deepEqual(rows.map((r) => r.step), [1, 2, 3, 4, 5, 6]);
  assert.deepEqual(rows.map((r) => 'loss_G' in r), [false, true, false, true, false, true]);
  assert.deepEqual(rows.map((r) => 'loss_G' in r), want.map((w) => w.gStep));
  for (const r of rows) assert.ok(Number.isFinite(r.loss_D), `step ${r.step}: loss_D`);
  // Groups of 4 D steps: lod 1 from 0 images, 1 − 32/48 from 32.
  rows.forEach((r, i) => assert.ok(Math.abs(r.lod - want[i].lod) < 1e-12, `step ${r.step}: lod ${r.lod}, want ${want[i].lod}`));
  assert.deepEqual(rows.map((r) => r.lod === 1), [true, true, true, true, false, false]);
  // The fade's start reset both: after it, 2 D steps and 1 G step.
  const end = stateOf(run, checkpoints(run).pop()!);
  assert.deepEqual([Math.max(...end.optimizers.G.step), Math.max(...end.optimizers.D.step)], [1, 2]);
  assert.deepEqual([want[5].gCount, want[5].dCount], [1, 2]);
});

// A logged metric is the mean over the steps of the interval that reported it: with
// D_repeats 2 only every second step has a loss_G, and dividing its sum by all the
// interval's steps would halve it.
test('D_repeats 2 with log_every 2: loss_G is the mean of the G steps in the interval, not halved', async () => {
  const dir = tempDir('gf-pggan-');
  const o = (log_every: number): Options => options({
    resolution: 8, lod_initial_resolution: 8, minibatch_base: 8, minibatch_dict: '', G_lrate_dict: '', D_lrate_dict: '', D_repeats: 2,
    kimg: 0.032, log_every, out: join(dir, `every${log_every}`),
  });
  await train(def, o(1), new Set(), quiet);
  await train(def, o(2), new Set(), quiet);
  const one = metrics(join(dir, 'every1')), two = metrics(join(dir, 'every2'));
  assert.deepEqual(two.map((r) => r.step), [2, 4]);
  for (const [i, r] of two.entries()) {
    const a = one[2 * i], b = one[2 * i + 1];
    assert.ok(Math.abs(r.loss_D - (a.loss_D + b.loss_D) / 2) < 1e-6, `step ${r.step}: loss_D is the mean of two D steps`);
    assert.ok(!('loss_G' in a) && 'loss_G' in b);
    assert.ok(Math.abs(r.loss_G - b.loss_G) < 1e-6, `step ${r.step}: loss_G ${r.loss_G}, the one G step gave ${b.loss_G}`);
  }
});

test('--classes: D has label logits, G takes one-hot labels, and the AC-GAN loss is logged', async () => {
  const run = join(tempDir('gf-pggan-'), 'cond');
  await train(def, options({
    resolution: 16, lod_initial_resolution: 8, lod_training_kimg: 1, lod_transition_kimg: 1, minibatch_base: 8, minibatch_dict: '',
    classes: true, kimg: 0.016, out: run,
  }), new Set(), quiet);
  const classes = JSON.parse(readFileSync(join(run, 'config.json'), 'utf8')).classes as string[];
  assert.equal(classes.length, 3);
  const rows = metrics(run);
  assert.equal(rows.length, 2);
  for (const r of rows) {
    assert.ok(Number.isFinite(r.loss_D_labels) && r.loss_D_labels > 0, `step ${r.step}: loss_D_labels ${r.loss_D_labels}`);
    assert.ok(Number.isFinite(r.loss_G), `step ${r.step}: loss_G`);
  }
  torch.scope(() => {
    const ck = loadCheckpoint(join(run, 'checkpoints', checkpoints(run).pop()!));
    assert.deepEqual(ck.networks.D['4x4.Dense1.weight'].shape, [1 + 3, 8], 'D: one score and 3 label logits');
    assert.deepEqual(ck.networks.G['4x4.Dense.weight'].shape, [8 * 16, 8 + 3], 'G: latent and one-hot label in');
  });
  const loaded = loadRun(run);
  try {
    const out = torch.scope(() => torch.noGrad(() => {
      const { D } = loaded.recipe.networks() as unknown as { D: { forward(x: torch.Tensor, lod: number): { scores: torch.Tensor; labels: torch.Tensor | null } } };
      const r = D.forward(torch.randn([4, 3, 16, 16]), 1);
      return [r.scores.shape, r.labels?.shape];
    }));
    assert.deepEqual(out, [[4, 1], [4, 3]]);
  } finally {
    for (const net of Object.values(loaded.recipe.networks())) net.dispose();
    for (const opt of Object.values(loaded.recipe.optimizers())) opt.dispose();
  }
  // The unconditional network has no label logits and logs no label loss.
  const { dir } = await straightRun();
  assert.ok(!('loss_D_labels' in metrics(dir)[0]));
});

/** The cells (side × side) of a sample grid with padding 2, row by row. */
function cells(grid: RawImage, n: number, side: number): RawImage[] {
  const cols = Math.ceil(Math.sqrt(n));
  return Array.from({ length: n }, (_, i) => {
    const row = Math.floor(i / cols), col = i % cols;
    const data = new Uint8Array(side * side * grid.channels);
    for (let y = 0; y < side; y++) {
      const start = ((2 + row * (side + 2) + y) * grid.width + 2 + col * (side + 2)) * grid.channels;
      data.set(grid.data.subarray(start, start + side * grid.channels), y * side * grid.channels);
    }
    return { data, width: side, height: side, channels: grid.channels };
  });
}

/** Whether every aligned 2×2 block of the image is one colour. */
function blocky(img: RawImage): boolean {
  const c = img.channels;
  const at = (x: number, y: number, k: number) => img.data[(y * img.width + x) * c + k];
  for (let y = 0; y < img.height; y += 2) {
    for (let x = 0; x < img.width; x += 2) {
      for (let k = 0; k < c; k++) {
        const v = at(x, y, k);
        if (at(x + 1, y, k) !== v || at(x, y + 1, k) !== v || at(x + 1, y + 1, k) !== v) return false;
      }
    }
  }
  return true;
}

/** Whether an image has more than one colour (a blank one would be trivially blocky). */
function varied(img: RawImage): boolean {
  return img.data.some((v, i) => v !== img.data[i % img.channels]);
}

async function sampleCells(run: string, extra: string[] = []): Promise<RawImage[]> {
  const file = join(run, `grid-${extra.join('-') || 'latest'}.png`);
  const r = cli(['sample', '--run', run, '--n', '4', '--seed', '2', '--out', file, ...extra]);
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stdout, /wrote 4 samples/);
  assert.ok(existsSync(file));
  return cells(await decodeImage(file, 3), 4, 16);
}

test('sample uses the run\'s level of detail: 2×2 blocks at lod 1, full detail at lod 0', async () => {
  // Stopped at 8 px (lod 1): G's output is nearest-upscaled from 8×8.
  const run = join(tempDir('gf-pggan-'), 'lod1');
  await train(def, options({
    resolution: 16, lod_initial_resolution: 8, lod_training_kimg: 1, lod_transition_kimg: 1, minibatch_base: 8, minibatch_dict: '', kimg: 0.016, out: run,
  }), new Set(), quiet);
  assert.equal(stateOf(run, checkpoints(run).pop()!).recipe.progress.point!.lod, 1);
  for (const [i, c] of (await sampleCells(run)).entries()) {
    assert.ok(varied(c), `image ${i} is not blank`);
    assert.ok(blocky(c), `image ${i} at lod 1 is made of 2×2 blocks`);
  }
  // The main run ended at lod 0: full 16-px detail; its first checkpoint (before any step)
  // samples at the schedule's start, lod 1.
  const { dir } = await straightRun();
  const latest = await sampleCells(dir);
  assert.ok(latest.every((c) => varied(c) && !blocky(c)), 'at lod 0 the images have detail finer than 2×2');
  assert.ok((await sampleCells(dir, ['--checkpoint', '000000.000'])).every((c) => varied(c) && blocky(c)), 'the step-0 checkpoint samples at lod 1');
});

test('a progressive step inside torch.scope leaves liveTensors() unchanged, at lod 1 and in a fade, with labels', () => {
  const o = options({
    resolution: 16, lod_initial_resolution: 8, lod_training_kimg: 0, lod_transition_kimg: 0.1, minibatch_base: 4, minibatch_dict: '',
    minibatch_repeats: 1, classes: true,
  });
  const recipe = def.create(o, recipeEnv(o, 3, 'cpu'));
  torch.manualSeed(3);
  try {
    // At 0 images lod 1; at 40, 1 − 40/100.
    for (const [i, imagesSeen] of [0, 40, 40].entries()) {
      const n = recipe.nextBatchSize!(imagesSeen);
      assert.equal(n, 4);
      const a = torch.rand([n, 3, 16, 16]).mul(2).sub(1).keep();
      const labels = torch.randint(0, 3, [n], { dtype: 'int64' }).keep();
      const before = torch.liveTensors();
      const m = torch.scope(() => trainStep(recipe, { a, b: null, labels }, { step: i, imagesSeen }));
      assert.equal(torch.liveTensors(), before, `step ${i} leaked ${torch.liveTensors() - before} tensor(s)`);
      assert.ok(Math.abs(m.lod - (imagesSeen ? 0.6 : 1)) < 1e-12, `lod ${m.lod}`);
      assert.ok(Number.isFinite(m.loss_D_labels) && Number.isFinite(m.loss_G), JSON.stringify(m));
      a.dispose();
      labels.dispose();
    }
    // Sampling at the current lod leaks nothing either.
    const before = torch.liveTensors();
    const images = torch.scope(() => torch.noGrad(() => recipe.generate(recipe.sampleInputs(2, [0, 2]))));
    assert.equal(torch.liveTensors(), before + 1, 'only the images returned');
    assert.deepEqual(images.shape, [2, 3, 16, 16]);
    images.dispose();
    assert.equal(torch.liveTensors(), before);
  } finally {
    for (const net of Object.values(recipe.networks())) net.dispose();
    for (const opt of Object.values(recipe.optimizers())) opt.dispose();
  }
});

test('the command line: --help shows the schedule\'s options, not --batch or --lr_policy; mistakes are one line and exit 2', async () => {
  const h = cli(['train', '--model', 'pggan', '--help']);
  assert.equal(h.status, 0, h.stderr);
  for (const k of Object.keys(fullSchema(def))) assert.match(h.stdout, new RegExp(`--${k}\\b`), k);
  for (const k of ['lod_initial_resolution', 'lod_training_kimg', 'lod_transition_kimg', 'minibatch_base', 'minibatch_dict', 'G_lrate_dict', 'D_lrate_dict', 'minibatch_repeats', 'D_repeats', 'reset_opt_for_new_lod']) {
    assert.match(h.stdout, new RegExp(`--${k}\\b`), k);
  }
  assert.match(h.stdout, /--minibatch_dict DICT\s.*\(default: 4:128,8:128,16:128,/);
  for (const k of ['batch', 'lr_policy', 'n_epochs', 'lr_decay_iters', 'lrate_rampup_kimg']) assert.doesNotMatch(h.stdout, new RegExp(`--${k}\\b`), k);
  // The command line parses the dicts as the in-process runs above pass them.
  const { options: parsed } = parseArgs(['--model', 'pggan', '--minibatch_dict', '8:8,16:4', '--reset_opt_for_new_lod', 'false'], fullSchema(def), 'train');
  assert.deepEqual([parsed.minibatch_dict, parsed.reset_opt_for_new_lod], ['8:8,16:4', false]);

  const dir = tempDir('gf-pggan-');
  const base = ['train', '--model', 'pggan', '--resolution', '16', '--latent_size', '8', '--fmap_base', '32', '--fmap_max', '8', '--kimg', '0.008'];
  const cases: [string[], RegExp][] = [
    [['--batch', '4'], /unknown option --batch for 'train'/],
    [['--minibatch_dict', '4:x'], /--minibatch_dict expects resolution:value pairs such as 4:128,8:64 .*got '4:x'/],
    [['--G_lrate_dict', '6:0.1'], /--G_lrate_dict expects resolution:value pairs/],
    [['--lr_policy', 'step'], /unknown option --lr_policy for 'train'/],
  ];
  for (const [i, [args, re]] of cases.entries()) {
    const out = join(dir, `run${i}`);
    // The first two in a child process, for the real exit code; the rest in this one.
    const r = i < 2 ? cli([...base, ...args, '--out', out]) : await cliErrorInProcess([...base, ...args, '--out', out]);
    assert.equal(r.status, 2, `${args.join(' ')}: ${r.stderr}`);
    assert.match(r.stderr, re, args.join(' '));
    assert.equal(r.stderr.trim().split('\n').length, 1, `one line for ${args.join(' ')}: ${r.stderr}`);
    assert.ok(!existsSync(out), `no run folder for ${args.join(' ')}`);
  }
});
