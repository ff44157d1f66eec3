// A training step inside scope() leaves the live-tensor count where it was, for the
// families whose own test files do not check it (PGGAN's and StyleGAN's do): DCGAN with
// R1 and WGAN-GP, pix2pix with the gradient penalty, and CycleGAN while its image pools
// fill and once they swap (the pools keep what they store; that is counted separately).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as torch from '../src/torch/index.js';
import { RECIPES } from '../src/recipes/registry.js';
import { fullSchema, recipeEnv } from '../src/recipes/trainer.js';
import type { Recipe } from '../src/recipes/recipe.js';
import type { Options } from '../src/config/options.js';
import type { TensorBatch } from '../src/data/index.js';
import { trainStep } from './train-helpers.js';

function build(model: string, overrides: Options): Recipe {
  const def = RECIPES[model];
  const o: Options = Object.fromEntries(Object.entries(fullSchema(def)).map(([k, s]) => [k, s.default]));
  Object.assign(o, { model }, overrides);
  torch.manualSeed(3);
  return def.create(o, recipeEnv(o, 0, 'cpu'));
}

function dispose(r: Recipe): void {
  for (const net of Object.values(r.networks())) net.dispose();
  for (const opt of Object.values(r.optimizers())) opt.dispose();
  r.dispose?.();
}

/** Runs `warm` steps (optimiser moments get allocated), then checks `steps` more one by one. */
function assertStepsLeakNothing(r: Recipe, batch: TensorBatch, warm: number, steps: number, held: () => number = () => 0): void {
  let step = 0;
  for (; step < warm; step++) torch.scope(() => trainStep(r, batch, { step, imagesSeen: step * batch.a.shape[0] }));
  for (; step < warm + steps; step++) {
    const before = torch.liveTensors() - held();
    torch.scope(() => trainStep(r, batch, { step, imagesSeen: step * batch.a.shape[0] }));
    const after = torch.liveTensors() - held();
    assert.equal(after, before, `step ${step} leaked ${after - before} tensor(s)`);
  }
}

const images = (n: number, c: number, size: number): torch.Tensor => torch.rand([n, c, size, size]).mul(2).sub(1);

test('DCGAN steps (vanilla with lazy R1, and wgangp) leak no tensor', () => {
  const variants: Options[] = [{ r1_gamma: 1, r1_interval: 2 }, { gan_mode: 'wgangp' }];
  for (const overrides of variants) {
    const r = build('dcgan', { resolution: 16, nz: 8, ngf: 4, ndf: 4, ...overrides });
    const a = images(4, 3, 16);
    assertStepsLeakNothing(r, { a, b: null, labels: null }, 1, 3);
    a.dispose();
    dispose(r);
  }
});

test('pix2pix steps (vanilla, and wgangp with its penalty) leak no tensor', () => {
  for (const gan_mode of ['vanilla', 'wgangp']) {
    const r = build('pix2pix', { crop_size: 32, netG: 'unet_32', ngf: 4, ndf: 4, gan_mode });
    const a = images(2, 3, 32), b = images(2, 3, 32);
    assertStepsLeakNothing(r, { a, b, labels: null }, 1, 2);
    a.dispose();
    b.dispose();
    dispose(r);
  }
});

test('CycleGAN steps leak no tensor while the pools fill and once they swap', () => {
  const r = build('cyclegan', { crop_size: 32, netG: 'resnet_6blocks', ngf: 4, ndf: 4, pool_size: 3 });
  const a = images(2, 3, 32), b = images(2, 3, 32);
  // Each step stores up to 2 images per pool until it holds 3: count them apart.
  const held = (): number => {
    const pools = r.stateTensors!();
    const n = Object.values(pools).reduce((s, t) => s + t.shape[0], 0);
    for (const t of Object.values(pools)) t.dispose();
    return n;
  };
  assertStepsLeakNothing(r, { a, b, labels: null }, 1, 4, held);
  assert.equal(held(), 6, 'both pools are full after five steps of two images');
  a.dispose();
  b.dispose();
  dispose(r);
});
