// DCGAN end to end: the model's shapes and keys, a short run that learns, and the
// command line's answers to mistakes.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import * as torch from '../src/torch/index.js';
import { DCGANGenerator, DCGANDiscriminator, DCGAN_DEFAULTS } from '../src/models/dcgan.js';
import { RECIPES } from '../src/families/registry.js';
import { train } from '../src/train/trainer.js';
import { fullSchema } from '../src/train/options.js';
import { emaBeta } from '../src/train/ema.js';
import type { Recipe } from '../src/train/recipe.js';
import { cli, colourDistances, tempDir, trainStep } from './train-helpers.js';
import { fromRoot } from './helpers.js';
import { type ReferenceSteps, TIGHT, assertLosses, assertTeacherForcedSteps, assertUpdatesClose, loadPre, replayOptimizers } from './step-parity.js';
import * as io from '../src/io/index.js';

test('DCGAN at 64×64 has pytorch/examples\' layer keys and shapes', () => {
  const G = new DCGANGenerator(DCGAN_DEFAULTS);
  const D = new DCGANDiscriminator(DCGAN_DEFAULTS);
  const gk = Object.entries(G.stateDict()).filter(([k]) => k.endsWith('weight')).map(([k, t]) => `${k}:${t.shape.join('x')}`);
  assert.deepEqual(gk, ['main.0.weight:100x512x4x4', 'main.1.weight:512', 'main.3.weight:512x256x4x4', 'main.4.weight:256',
    'main.6.weight:256x128x4x4', 'main.7.weight:128', 'main.9.weight:128x64x4x4', 'main.10.weight:64', 'main.12.weight:64x3x4x4']);
  const dk = Object.entries(D.stateDict()).filter(([k]) => k.endsWith('weight')).map(([k, t]) => `${k}:${t.shape.join('x')}`);
  assert.deepEqual(dk, ['main.0.weight:64x3x4x4', 'main.2.weight:128x64x4x4', 'main.3.weight:128', 'main.5.weight:256x128x4x4',
    'main.6.weight:256', 'main.8.weight:512x256x4x4', 'main.9.weight:512', 'main.11.weight:1x512x4x4']);
  assert.equal(G.numParameters(), 3576704, 'pytorch/examples netG has 3,576,704 parameters');
  assert.equal(D.numParameters(), 2765568, 'pytorch/examples netD has 2,765,568 parameters');
  const img = torch.noGrad(() => G.forward(torch.randn([2, 100])));
  assert.deepEqual(img.shape, [2, 3, 64, 64]);
  assert.ok(img.abs().max().item() <= 1);
  assert.deepEqual(torch.noGrad(() => D.forward(img)).shape, [2]);
});

test('conditional DCGAN at 16 and 128 px: shapes, and labels are required', () => {
  for (const resolution of [16, 128]) {
    const cfg = { ...DCGAN_DEFAULTS, resolution, ngf: 8, ndf: 8, nz: 10, numClasses: 3, embedDim: 4 };
    const G = new DCGANGenerator(cfg), D = new DCGANDiscriminator(cfg);
    const y = torch.tensor([0, 2]);
    const img = torch.noGrad(() => G.forward(torch.randn([2, 10]), y));
    assert.deepEqual(img.shape, [2, 3, resolution, resolution]);
    assert.deepEqual(torch.noGrad(() => D.forward(img, y)).shape, [2]);
    assert.throws(() => G.forward(torch.randn([2, 10])), /conditional: pass class labels/);
  }
  assert.throws(() => new DCGANGenerator({ ...DCGAN_DEFAULTS, resolution: 48 }), /power of two from 16 to 128, got 48/);
});

test('EMA decay: half-life in kimg, fixed beta, start and ramp-up', () => {
  const o = { emaKimg: 10, beta: null, startKimg: 0, rampup: null };
  assert.ok(Math.abs(emaBeta(o, 64, 0) ** (10000 / 64) - 0.5) < 1e-12, 'after ema_kimg the old weights count half');
  assert.equal(emaBeta({ ...o, beta: 0.999 }, 64, 5000), 0.999);
  assert.equal(emaBeta({ ...o, startKimg: 1 }, 64, 500), 0, 'before the start the average copies G');
  assert.ok(Math.abs(emaBeta({ ...o, rampup: 0.05 }, 64, 20000) - 0.5 ** (64 / 1000)) < 1e-12);
});

test('a short DCGAN run learns: losses move and the samples\' colour statistics approach the data\'s', async () => {
  const dir = tempDir();
  const def = RECIPES.dcgan;
  const schema = fullSchema(def);
  const o = Object.fromEntries(Object.entries(schema).map(([k, s]) => [k, s.default]));
  Object.assign(o, { model: 'dcgan', data: 'shapes', resolution: 16, batch: 32, kimg: 16, ngf: 16, ndf: 16, nz: 32, out: join(dir, 'run'),
    workers: 1, log_every: 25, sample_kimg: 0, snapshot_kimg: 0, n_samples: 16, ema_kimg: 0.5 });
  const res = await train(def, o, new Set(), { log: () => {} });
  assert.equal(res.steps, 500);
  const rows = readFileSync(join(res.runDir, 'metrics.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l));
  assert.equal(rows.length, 20);
  for (const k of ['loss_G', 'loss_D']) {
    const first = rows[0][k], last = rows[rows.length - 1][k];
    assert.ok(Number.isFinite(first) && Number.isFinite(last));
    assert.ok(Math.abs(last - first) > 0.05, `${k} moved: ${first} → ${last}`);
  }
  const { before: dBefore, after: dAfter } = await colourDistances(res.runDir, 16);
  assert.ok(dAfter < dBefore * 0.7, `colour statistics' distance to the data fell: ${dBefore.toFixed(3)} → ${dAfter.toFixed(3)}`);
});

test('sample writes a grid from a run and refuses to overwrite it', () => {
  const run = join(tempDir(), 'r');
  assert.equal(cli(['train', '--model', 'dcgan', '--resolution', '16', '--batch', '8', '--ngf', '8', '--ndf', '8', '--kimg', '0.016', '--out', run, '--workers', '0']).status, 0);
  const out = join(run, 'grid.png');
  const r = cli(['sample', '--run', run, '--n', '9', '--seed', '3', '--out', out]);
  assert.equal(r.status, 0, r.stderr);
  assert.ok(existsSync(out));
  assert.equal(readFileSync(out).subarray(1, 4).toString(), 'PNG');
  const again = cli(['sample', '--run', run, '--out', out]);
  assert.equal(again.status, 2);
  assert.match(again.stderr, /exists: use --force/);
  const cls = cli(['sample', '--run', run, '--class', 'circle', '--out', join(run, 'c.png')]);
  assert.equal(cls.status, 2);
  assert.match(cls.stderr, /--class applies to class-conditional runs only/);
});

test('option mistakes are one line and exit code 2', () => {
  const cases: [string[], RegExp][] = [
    [['train'], /train needs --model \(one of: dcgan/],
    [['train', '--model', 'nope'], /unknown --model 'nope'/],
    [['train', '--model', 'dcgan', '--lrr', '1'], /unknown option --lrr for 'train' \(did you mean --lr\?\)/],
    [['train', '--model', 'dcgan', '--resolution', '48'], /--resolution must be a power of two, got 48/],
    [['train', '--model', 'dcgan', '--batch', '0'], /--batch must be at least 1, got 0/],
    [['train', '--model', 'dcgan', '--gan_mode', 'wgan'], /--gan_mode must be one of logistic, vanilla, lsgan, wgangp, hinge; got 'wgan'/],
    [['train', '--model', 'dcgan', '--kimg', 'lots'], /--kimg expects a number, got 'lots'/],
    [['train', '--model', 'dcgan', '--data', '/nonexistent/folder', '--out', join(tempDir(), 'x')], /\/nonexistent\/folder/],
    [['train', '--model', 'dcgan', '--resume', '--out', join(tempDir(), 'none')], /cannot resume/],
    [['sample'], /sample needs --run DIR/],
    [['frobnicate'], /unknown command 'frobnicate'/],
  ];
  for (const [args, re] of cases) {
    const r = cli(args);
    assert.equal(r.status, 2, `${args.join(' ')}: ${r.stderr}`);
    assert.match(r.stderr, re, args.join(' '));
    assert.equal(r.stderr.trim().split('\n').length, 1, `one line for ${args.join(' ')}: ${r.stderr}`);
  }
});

test('--help tells every option of a model with its default', () => {
  const r = cli(['train', '--model', 'dcgan', '--help']);
  assert.equal(r.status, 0);
  for (const k of Object.keys(fullSchema(RECIPES.dcgan))) assert.match(r.stdout, new RegExp(`--${k}\\b`), k);
  assert.match(r.stdout, /--lr FLOAT\s+Adam learning rate of G.*\(default: 0\.0002\)/);
  const top = cli(['--help']);
  for (const c of ['train', 'sample', 'demo', 'dataset', 'selfcheck']) assert.match(top.stdout, new RegExp(`\\n  ${c}\\b`));
});

test('--lr_policy step cuts every optimiser\'s rate ×0.1 per epoch, and resume keeps the schedule', () => {
  const run = join(tempDir(), 'r');
  const base = ['train', '--model', 'dcgan', '--resolution', '16', '--batch', '8', '--ngf', '8', '--ndf', '8', '--nz', '8', '--workers', '0',
    '--max_dataset_size', '16', '--lr_policy', 'step', '--lr_decay_iters', '1', '--log_every', '1', '--sample_kimg', '0', '--out', run];
  // 16 images, batch 8: 2 steps per epoch.
  assert.equal(cli([...base, '--kimg', '0.032']).status, 0);
  assert.equal(cli(['train', '--model', 'dcgan', '--resume', '--out', run, '--kimg', '0.048']).status, 0);
  const rows = readFileSync(join(run, 'metrics.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l));
  assert.deepEqual(rows.map((r) => r.epoch), [0, 0, 1, 1, 2, 2]);
  for (const r of rows) assert.ok(Math.abs(r.lr_mult - 0.1 ** r.epoch) < 1e-12, `epoch ${r.epoch}: ${r.lr_mult}`);
  const names = readdirSync(join(run, 'checkpoints')).filter((n) => !n.startsWith('.')).sort();
  const st = JSON.parse(readFileSync(join(run, 'checkpoints', names[names.length - 1], 'state.json'), 'utf8'));
  assert.ok(Math.abs(st.optimizers.G.lr - 2e-4 * 0.01) < 1e-15 && Math.abs(st.optimizers.D.lr - 2e-4 * 0.01) < 1e-15);
});

test('three DCGAN training steps equal PyTorch\'s (same weights, data and seeds): losses, gradients, optimiser updates, statistics', () => {
  const { tensors } = io.loadSafetensors(fromRoot('test/fixtures/train/dcgan_step.safetensors'));
  const pick = (prefix: string) => Object.fromEntries(Object.entries(tensors).filter(([k]) => k.startsWith(prefix)).map(([k, t]) => [k.slice(prefix.length), t]));
  const def = RECIPES.dcgan;
  const o = Object.fromEntries(Object.entries(fullSchema(def)).map(([k, s]) => [k, s.default]));
  Object.assign(o, { resolution: 16, nz: 8, ngf: 8, ndf: 8 });
  const losses = tensors.losses.toArray() as number[][];
  assert.equal(losses.length, 3);
  // make_dcgan_step_fixture.py: Adam 2e-4, betas (0.5, 0.999), as pytorch/examples.
  const ref: ReferenceSteps = {
    networks: ['G', 'D'], steps: 3, lr: 2e-4, betas: [0.5, 0.999],
    pre: (n) => pick(`pre.${n}.`), post: (n) => pick(`post.${n}.`), grads: (i, n) => pick(`grad${i}.${n}.`),
    losses: { loss_G: losses.map((l) => l[0]), loss_D: losses.map((l) => l[1]) },
  };
  const batch = { a: tensors.real, b: null, labels: null };
  const recipes: Recipe[] = [];
  const make = (): Recipe => {
    const r = def.create(o, { resolution: 16, channels: 3, outputChannels: 3, numClasses: 0, batchSize: 6, device: 'cpu' });
    recipes.push(r);
    return r;
  };
  // Before step i the global generator is seeded with 100 + i, as the fixture's z draws.
  const step = (r: Recipe, i: number) => {
    torch.manualSeed(100 + i);
    return torch.scope(() => trainStep(r, batch, { step: i, imagesSeen: 6 * i }));
  };
  // Compared as test/step-parity.ts explains, so that it holds on any CPU.
  try {
    // 1. The recipe's optimisers, fed the reference's gradients, give its weights.
    const before = replayOptimizers(make(), ref);
    // 2. Each step from the reference's weights: losses, gradients, batch-norm statistics.
    const forced = make();
    assertTeacherForcedSteps(forced, ref, before, (i) => step(forced, i));
    // 3. The steps as training runs them: losses, and updates in units of lr.
    const free = make();
    const nets = loadPre(free, ref);
    for (let i = 0; i < 3; i++) assertLosses(step(free, i), ref.losses, i, `step ${i + 1}`);
    const { tight, total } = assertUpdatesClose(nets, ref);
    assert.ok(tight >= total / 5, `a fifth of the updates at least are held within ${TIGHT} lr: ${tight} of ${total}`);
  } finally {
    for (const r of recipes) {
      for (const net of Object.values(r.networks())) net.dispose();
      for (const opt of Object.values(r.optimizers())) opt.dispose();
    }
    for (const t of Object.values(tensors)) t.dispose();
  }
});
