// The generator average of short runs: StyleGAN2's EMA ramp-up (on by default for every
// kimg family), BigGAN's standing statistics for batch-norm generators, and a short DCGAN
// run whose eval-mode G_ema samples must look like G's (a flat grey grid cannot pass).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import * as torch from '../src/torch/index.js';
import * as nn from '../src/nn/index.js';
import { DCGANGenerator, DCGAN_DEFAULTS } from '../src/models/dcgan.js';
import { RECIPES } from '../src/families/registry.js';
import { train } from '../src/train/trainer.js';
import { fullSchema } from '../src/train/options.js';
import { parseArgs } from '../src/config/options.js';
import { loadRun } from '../src/families/load.js';
import { emaBeta } from '../src/train/ema.js';
import { accumulateStandingStats, standEma, trackingBatchNorms } from '../src/train/standing_stats.js';
import { TINY, cli, tempDir, assertSameCheckpoint } from './train-helpers.js';
import { listCheckpoints, loadCheckpoint, saveCheckpoint } from '../src/io/checkpoint.js';
import { disposeRun } from '../src/cli/latents.js';

test('EMA ramp-up: the half-life is at most rampup × images seen, and nothing changes once it is longer', () => {
  const o = { emaKimg: 10, beta: null, startKimg: 0, rampup: 0.05 };
  const off = { ...o, rampup: null };
  assert.equal(emaBeta(o, 64, 0), 0, 'at the start the average is G');
  assert.equal(emaBeta(o, 64, 20_000), 0.5 ** (64 / 1000), 'after 20 kimg: a 1-kimg half-life');
  assert.equal(emaBeta(o, 64, 100_000), 0.5 ** (64 / 5000));
  // Past ema_kimg / rampup = 200 kimg the rule is StyleGAN2's without ramp-up, bit for bit.
  for (const seen of [200_000, 200_064, 1_000_000]) assert.equal(emaBeta(o, 64, seen), emaBeta(off, 64, seen), `${seen} images`);
  assert.ok(emaBeta(o, 64, 199_936) < emaBeta(off, 64, 199_936));
  // 0 is off, as null is (the command line cannot say null).
  for (const seen of [0, 5_000]) assert.equal(emaBeta({ ...o, rampup: 0 }, 64, seen), emaBeta(off, 64, seen));
  // β never falls as images are seen.
  let last = 0;
  for (let seen = 0; seen <= 400_000; seen += 1_600) {
    const b = emaBeta(o, 16, seen);
    assert.ok(b >= last, `β falls at ${seen}: ${last} → ${b}`);
    last = b;
  }
  // The start still comes first: before it the average copies G.
  assert.equal(emaBeta({ ...o, startKimg: 1 }, 64, 500), 0);
});

test('EMA ramp-up with a fixed β (PGGAN\'s 0.999 per step): β is capped by the ramp-up\'s half-life, and is exactly β past it', () => {
  const o = { emaKimg: 10, beta: 0.999, startKimg: 0, rampup: 0.05 };
  assert.equal(emaBeta({ ...o, rampup: null }, 16, 0), 0.999, 'off: the original rule from the first step');
  assert.equal(emaBeta({ ...o, rampup: 0 }, 16, 0), 0.999);
  assert.equal(emaBeta(o, 16, 0), 0, 'on: the first step copies G');
  assert.equal(emaBeta(o, 16, 40_000), 0.5 ** (16 / 2000), '40 kimg: a 2000-image half-life, not 0.999\'s 11 k');
  // 0.999 per step of 16 images is a half-life of 16·ln 2 / −ln 0.999 = 11 085 images: reached at 221.7 kimg.
  const crossover = (16 * Math.log(2)) / -Math.log(0.999) / 0.05;
  assert.ok(Math.abs(crossover - 221_697) < 1);
  assert.ok(emaBeta(o, 16, crossover - 100) < 0.999);
  for (const seen of [crossover + 100, 1_000_000]) assert.equal(emaBeta(o, 16, seen), 0.999, `${seen}: the fixed β itself`);
});

test('--ema_rampup is 0.05 for every kimg family; --ema_rampup 0 turns it off and --help says so', () => {
  for (const name of ['dcgan', 'pggan', 'stylegan']) {
    const schema = fullSchema(RECIPES[name]);
    assert.equal(schema.ema_rampup.default, 0.05, name);
    assert.match(schema.ema_rampup.help, /0 = off/);
    assert.equal(parseArgs(['--ema_rampup', '0'], schema, 'train').options.ema_rampup, 0);
    assert.equal(parseArgs([], schema, 'train').options.ema_rampup, 0.05);
  }
  assert.equal(fullSchema(RECIPES.pggan).ema_beta.default, 0.999, 'PGGAN keeps its fixed β (capped by the ramp-up)');
});

/** Per-channel batch mean and unbiased variance of x [N, C, H, W]. */
function batchStats(x: torch.Tensor): { mean: torch.Tensor; varUnbiased: torch.Tensor } {
  return { mean: x.mean([0, 2, 3]), varUnbiased: x.var([0, 2, 3], { correction: 1 }) };
}

test('standing statistics: the running statistics become the mean over batches of G_ema\'s own batch statistics', () => {
  const live = torch.liveTensors();
  torch.scope(() => {
    torch.manualSeed(3);
    const G = new DCGANGenerator({ ...DCGAN_DEFAULTS, resolution: 16, nz: 6, ngf: 4, nc: 1 });
    // Weights no G had (as an average's are), and running statistics that fit nothing.
    torch.noGrad(() => {
      for (const p of G.parameters()) p.mul_(1.7).add_(0.01);
      for (const m of G.modules()) {
        if (m instanceof nn.BatchNorm2d) {
          m.runningMean!.fill_(5);
          m.runningVar!.fill_(9);
        }
      }
    });
    G.eval();
    const bns = G.modules().filter((m): m is nn.BatchNorm2d => m instanceof nn.BatchNorm2d);
    assert.equal(bns.length, 2);
    const batches = 3, n = 5, seed = 11;

    // Independently: the same latents, G's layers one by one, each batch norm normalising
    // with its input's own batch statistics (train mode), which are averaged over batches.
    const want = bns.map(() => ({ mean: [] as torch.Tensor[], var: [] as torch.Tensor[] }));
    torch.withSeed(seed, () => {
      for (let b = 0; b < batches; b++) {
        torch.noGrad(() => {
          let x = torch.randn([n, 6]).reshape(n, 6, 1, 1);
          for (const layer of G.main.modules().slice(1) as nn.UnaryModule[]) {
            if (layer instanceof nn.BatchNorm2d) {
              const s = batchStats(x);
              const k = bns.indexOf(layer);
              want[k].mean.push(s.mean);
              want[k].var.push(s.varUnbiased);
              const c = [1, -1, 1, 1];
              const biased = x.var([0, 2, 3], { correction: 0 });
              x = x.sub(s.mean.reshape(...c)).div(biased.add(layer.eps).sqrt().reshape(...c)).mul(layer.weight!.reshape(...c)).add(layer.bias!.reshape(...c));
            } else x = layer.forward(x);
          }
        });
      }
    });

    const before = torch.getRngState();
    accumulateStandingStats(G, () => G.forward(torch.randn([n, 6])), { batches, seed });
    assert.deepEqual(torch.getRngState(), before, 'the global generator is as it was');
    bns.forEach((bn, k) => {
      const mean = torch.stack(want[k].mean).mean(0), vari = torch.stack(want[k].var).mean(0);
      assert.ok(bn.runningMean!.allclose(mean, 1e-4, 1e-6), `bn ${k}: running mean ${bn.runningMean!.toArray()} vs ${mean.toArray()}`);
      assert.ok(bn.runningVar!.allclose(vari, 1e-4, 1e-6), `bn ${k}: running var ${bn.runningVar!.toArray()} vs ${vari.toArray()}`);
      assert.equal(bn.numBatchesTracked!.item(), batches);
      assert.equal(bn.training, false, 'back in eval mode');
      assert.equal(bn.momentum, 0.1, 'momentum put back');
    });
    // The same seed, the same statistics: a checkpoint's are reproducible.
    const first = bns.map((bn) => bn.runningVar!.clone());
    accumulateStandingStats(G, () => G.forward(torch.randn([n, 6])), { batches, seed });
    bns.forEach((bn, k) => assert.ok(bn.runningVar!.equal(first[k])));
    // A network without batch norm is left alone.
    let calls = 0;
    const plain = new nn.Linear(2, 2);
    accumulateStandingStats(plain, () => calls++, { batches, seed });
    assert.equal(calls, 0);
    plain.dispose();
    G.dispose();
  });
  assert.equal(torch.liveTensors(), live, 'no tensor leaked');
  // Outside any scope of the caller's, the routine frees what its passes make.
  const G = new DCGANGenerator({ ...DCGAN_DEFAULTS, resolution: 16, nz: 6, ngf: 4, nc: 1 });
  const withG = torch.liveTensors();
  accumulateStandingStats(G, () => G.forward(torch.randn([5, 6])), { batches: 3, seed: 1 });
  assert.equal(torch.liveTensors(), withG, 'the standing passes leaked no tensor');
  G.dispose();
});

/** Per-image pixel std and the spread between images (per-pixel std across the batch), in /255 units. */
function spread(images: torch.Tensor): { perImage: number; between: number } {
  return torch.scope(() => {
    const x = images.reshape(images.shape[0], -1).mul(127.5);
    return { perImage: x.std(1).mean().item(), between: x.std(0).mean().item() };
  });
}

test('after a short DCGAN run, eval-mode G_ema samples (as sample and the grids draw them) vary like G\'s', async () => {
  const def = RECIPES.dcgan;
  const o = Object.fromEntries(Object.entries(fullSchema(def)).map(([k, s]) => [k, s.default]));
  // The trainer's EMA defaults (ema_kimg 10): a run of 1.6 kimg is a short run for them.
  Object.assign(o, { model: 'dcgan', data: 'shapes', resolution: 16, channels: 1, batch: 16, kimg: 1.6, ngf: 16, ndf: 16, nz: 16,
    out: join(tempDir(), 'run'), workers: 1, log_every: 50, sample_kimg: 0.4, snapshot_kimg: 0.8, n_samples: 16 });
  const live = torch.liveTensors();
  const res = await train(def, o, new Set(), { log: () => {} });
  assert.equal(res.steps, 100);
  assert.equal(torch.liveTensors(), live, 'the run (standing statistics at each grid and checkpoint included) leaked no tensor');
  const run = loadRun(res.runDir);
  try {
    const { G, G_ema } = run.recipe.networks();
    const z = torch.withSeed(4, () => run.recipe.sampleInputs(128, null));
    const s = torch.noGrad(() => {
      G_ema.eval();
      const ema = spread(run.recipe.generate(z));
      G.train();
      const g = spread(G.forward(z.z!));
      return { ema, g };
    });
    const ratio = (a: number, b: number) => Math.max(a / b, b / a);
    const msg = `G_ema (eval): per-image std ${s.ema.perImage.toFixed(1)}, between images ${s.ema.between.toFixed(1)}; G (train): ${s.g.perImage.toFixed(1)}, ${s.g.between.toFixed(1)}`;
    assert.ok(s.g.perImage > 10 && s.g.between > 5, `G itself draws varied images: ${msg}`);
    assert.ok(ratio(s.ema.perImage, s.g.perImage) < 2.5, `per-image std within 2.5× of G's: ${msg}`);
    assert.ok(ratio(s.ema.between, s.g.between) < 2.5, `spread between images within 2.5× of G's: ${msg}`);
    // The checkpoint's G_ema batch-norm statistics are its standing statistics: estimating
    // them again (the same latents) changes nothing, and they are not G's.
    const bns = trackingBatchNorms(G_ema);
    const saved = bns.map((bn) => [bn.runningMean!.clone(), bn.runningVar!.clone()]);
    standEma(run.recipe, G_ema, { batch: 16, numClasses: 0, runSeed: o.seed as number });
    bns.forEach((bn, k) => assert.ok(bn.runningMean!.equal(saved[k][0]) && bn.runningVar!.equal(saved[k][1]), `batch norm ${k}`));
    const gBn = trackingBatchNorms(G);
    assert.ok(!gBn[0].runningVar!.equal(bns[0].runningVar!));

    // A checkpoint from before standing statistics (G's statistics in G_ema, no mark in its
    // state): loading it for sampling estimates G_ema's own.
    torch.scope(() => {
      const ck = loadCheckpoint(run.checkpoint);
      const { emaStanding, ...state } = ck.state;
      assert.equal(emaStanding, true, 'the trainer marks checkpoints whose G_ema statistics are standing');
      const G_emaSd = { ...ck.networks.G_ema };
      for (const k of Object.keys(G_emaSd)) if (/running_(mean|var)$/.test(k)) G_emaSd[k] = ck.networks.G[k];
      saveCheckpoint(join(res.runDir, 'checkpoints'), '999999.000', { ...ck, networks: { ...ck.networks, G_ema: G_emaSd }, state });
    });
    const old = loadRun(res.runDir, { checkpoint: '999999.000' });
    try {
      const oldBns = trackingBatchNorms(old.recipe.networks().G_ema);
      oldBns.forEach((bn, k) => assert.ok(bn.runningMean!.equal(saved[k][0]) && bn.runningVar!.equal(saved[k][1]), `old checkpoint, batch norm ${k}`));
    } finally {
      disposeRun(old);
    }
  } finally {
    disposeRun(run);
  }
});

test('standing statistics leave training alone: grids at other points, or none, and a resume give bit-identical checkpoints', () => {
  const dir = tempDir();
  const straight = join(dir, 'straight'), split = join(dir, 'split');
  // batch 8: 0.064 kimg = 8 steps. Grids (and so standing statistics) after every step in
  // one run, none in the other until its resume at step 4, then every other step.
  const everyStep = TINY.map((a, i) => (TINY[i - 1] === '--sample_kimg' ? '0.008' : a));
  let r = cli([...everyStep, '--kimg', '0.064', '--out', straight]);
  assert.equal(r.status, 0, r.stderr);
  r = cli([...TINY, '--kimg', '0.032', '--out', split]);
  assert.equal(r.status, 0, r.stderr);
  r = cli(['train', '--model', 'dcgan', '--resume', '--out', split, '--kimg', '0.064', '--sample_kimg', '0.016']);
  assert.equal(r.status, 0, r.stderr);
  const last = (run: string) => join(run, 'checkpoints', listCheckpoints(join(run, 'checkpoints')).pop()!);
  assertSameCheckpoint(last(straight), last(split));
  // A class-conditional G_ema gets its statistics from latents with labels.
  const cond = join(dir, 'cond');
  r = cli([...everyStep, '--kimg', '0.016', '--classes', '--out', cond]);
  assert.equal(r.status, 0, r.stderr);
  assert.equal(JSON.parse(readFileSync(join(last(cond), 'state.json'), 'utf8')).emaStanding, true);
});
