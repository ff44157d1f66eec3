// --aug diffaugment in every family whose D judges images (DCGAN, PGGAN, StyleGAN,
// StyleGAN2, BigGAN): every image D sees, in every phase and penalty, is augmented; a
// step leaks no tensor; a tiny run trains and, stopped midway and resumed, ends bit for
// bit where an uninterrupted one does (the draws come from the checkpointed generator).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import * as torch from '../src/torch/index.js';
import type { Tensor } from '../src/torch/index.js';
import { io } from '../src/index.js';
import { RECIPES } from '../src/families/registry.js';
import { fullSchema, recipeEnv } from '../src/train/options.js';
import { train } from '../src/train/trainer.js';
import type { Options } from '../src/config/options.js';
import type { Recipe } from '../src/train/recipe.js';
import { cutoutSize } from '../src/augment/diffaugment.js';
import { trainHelp } from '../src/cli/train.js';
import { tempDir, trainStep, assertSameCheckpoint } from './train-helpers.js';

/** Tiny networks of each family (8-32 px), and what makes its step run its penalties. */
const FAMILIES: Record<string, Options> = {
  dcgan: { resolution: 16, batch: 4, nz: 8, ngf: 4, ndf: 4, r1_gamma: 1, r1_interval: 1 },
  // WGAN-GP: the penalty runs D on interpolates.
  pggan: {
    resolution: 16, latent_size: 8, fmap_base: 32, fmap_max: 8, lod_initial_resolution: 8, lod_training_kimg: 0.008,
    lod_transition_kimg: 0.008, minibatch_base: 4, minibatch_dict: '', minibatch_repeats: 1,
  },
  // R1 (γ 10) on every D step.
  stylegan: {
    resolution: 16, latent_size: 8, dlatent_size: 8, mapping_layers: 2, fmap_base: 32, fmap_max: 8, lod_initial_resolution: 8,
    lod_training_kimg: 0.008, lod_transition_kimg: 0.008, minibatch_base: 4, minibatch_dict: '', minibatch_repeats: 1,
  },
  // Dreg (R1) on step 0 and every 3rd.
  stylegan2: { resolution: 16, batch: 4, z_dim: 8, w_dim: 8, channel_base: 64, channel_max: 8, map: 2, G_reg_interval: 2, D_reg_interval: 3 },
  biggan: { resolution: 32, batch: 2, G_ch: 2, D_ch: 2, dim_z: 8, G_attn: '0', D_attn: '0', num_D_steps: 2 },
};

function options(model: string, over: Options): Options {
  const o: Options = Object.fromEntries(Object.entries(fullSchema(RECIPES[model])).map(([k, s]) => [k, s.default]));
  return { ...o, model, data: 'shapes', workers: 0, log_every: 1, sample_kimg: 0, n_samples: 4, keep: 0, ...FAMILIES[model], ...over };
}

function build(model: string, over: Options): Recipe {
  const def = RECIPES[model];
  const o = options(model, over);
  const resolved = def.resolveOptions ? def.resolveOptions(o, new Set(Object.keys({ ...FAMILIES[model], ...over }))) : o;
  torch.manualSeed(3);
  return def.create(resolved as never, recipeEnv(resolved, 0, 'cpu'));
}

function dispose(r: Recipe): void {
  for (const net of Object.values(r.networks())) net.dispose();
  for (const opt of Object.values(r.optimizers())) opt.dispose();
  r.dispose?.();
}

/** Per image, the pixels where every channel is exactly 0. */
function zeroPixels(x: Tensor): number[] {
  return torch.noGrad(() => torch.scope(() => Array.from(x.detach().abs().sum(1).eq(0).to('float64').sum([1, 2]).toTypedArray() as Float64Array)));
}

/**
 * Runs step `step` of `r` on random images (the progressive families take their minibatch
 * from the schedule first) with D's forward watched; returns, per call of D, the fewest
 * exactly zero pixels in any one of its images.
 */
function watchStep(model: string, r: Recipe, step: number): number[] {
  const D = r.networks().D as unknown as { forward: (x: Tensor, ...rest: unknown[]) => Tensor };
  const forward = D.forward;
  const calls: number[] = [];
  D.forward = (x, ...rest) => {
    calls.push(Math.min(...zeroPixels(x)));
    return forward.call(D, x, ...rest);
  };
  try {
    const size = Number(FAMILIES[model].resolution);
    const n = r.nextBatchSize ? r.nextBatchSize(step * 4) : Number(FAMILIES[model].batch);
    const a = torch.withSeed(20 + step, () => torch.scope(() => torch.rand([n, 3, size, size]).mul(2).sub(1)));
    torch.scope(() => trainStep(r, { a, b: null, labels: null }, { step, imagesSeen: step * n }));
    a.dispose();
  } finally {
    D.forward = forward;
  }
  return calls;
}

/**
 * The step whose leaks are counted, after step 0 (which allocates the optimisers'
 * moments): one with the family's penalty, before a progressive family's first fade
 * (which resets the moments).
 */
const LEAK_STEP: Record<string, number> = { dcgan: 3, pggan: 1, stylegan: 1, stylegan2: 3, biggan: 3 };

for (const model of Object.keys(FAMILIES)) {
  test(`${model}: with --aug diffaugment every image D sees is augmented, in every phase and penalty; without it none is; a step leaks nothing`, () => {
    const size = Number(FAMILIES[model].resolution);
    const [side] = cutoutSize(size, size);
    // A cut-out square keeps at least half its side inside the image.
    const least = Math.ceil(side / 2) ** 2;
    for (const aug of ['diffaugment', 'noaug']) {
      const r = build(model, aug === 'diffaugment' ? { aug, diffaugment: 'cutout' } : {});
      try {
        const calls = watchStep(model, r, 0);
        // D on reals and fakes (one concatenated call for BigGAN), in G's step, and the penalty's own call where it has one.
        assert.ok(calls.length >= 2, `${model}: D ran ${calls.length} times`);
        if (aug === 'noaug') {
          // (A generated image may hold a few exact zeros of its own, e.g. a bias-free G's dead units.)
          assert.ok(calls.every((z) => z < least), `${model}: no image was cut (${calls})`);
          continue;
        }
        assert.ok(calls.every((z) => z >= least), `${model}: every image D saw has a cut-out square (${calls})`);
        const before = torch.liveTensors();
        watchStep(model, r, LEAK_STEP[model]);
        assert.equal(torch.liveTensors(), before, `${model}: the step leaked ${torch.liveTensors() - before} tensor(s)`);
      } finally {
        dispose(r);
      }
    }
  });
}

/** Steps of each family's tiny run, and where the interrupted run stops. */
const RUNS: Record<string, { kimg: number; steps: number; stop: number }> = {
  dcgan: { kimg: 0.024, steps: 6, stop: 3 },
  pggan: { kimg: 0.024, steps: 6, stop: 3 },
  stylegan: { kimg: 0.024, steps: 6, stop: 3 },
  // Stopped inside the Dreg interval (3).
  stylegan2: { kimg: 0.024, steps: 6, stop: 4 },
  // Loader batch 2 × 2 D steps.
  biggan: { kimg: 0.02, steps: 5, stop: 2 },
};

const last = (run: string): string => join(run, 'checkpoints', io.listCheckpoints(join(run, 'checkpoints')).at(-1)!);
const quiet = { log: (): void => {} };

for (const model of Object.keys(FAMILIES)) {
  test(`${model} --aug diffaugment: a tiny run trains, and stopped at step ${RUNS[model].stop} and resumed ends bit for bit as the straight run`, async () => {
    const def = RECIPES[model];
    const { kimg, steps, stop } = RUNS[model];
    const dir = tempDir('gf-diffaug-');
    const over = { aug: 'diffaugment', kimg, snapshot_kimg: 0 };
    const given = new Set(Object.keys({ ...FAMILIES[model], ...over }));
    const straight = await train(def, options(model, { ...over, out: join(dir, 'straight') }), given, quiet);
    assert.deepEqual([straight.steps, straight.interrupted], [steps, false]);
    const o = options(model, { ...over, out: join(dir, 'split') });
    const stopped = await train(def, o, given, { ...quiet, afterStep: (s) => s === stop });
    assert.deepEqual([stopped.steps, stopped.interrupted], [stop, true]);
    const resumed = await train(def, { ...o, resume: true }, new Set(['resume', 'out']), quiet);
    assert.deepEqual([resumed.steps, resumed.interrupted], [steps, false]);
    assert.equal(last(straight.runDir).split("/").pop(), last(resumed.runDir).split("/").pop(), "the same last checkpoint");
    assertSameCheckpoint(last(straight.runDir), last(resumed.runDir));
  });
}

test('train --help of each family with a D on images lists --aug diffaugment and the policy with its default; the translation families have neither', () => {
  for (const model of Object.keys(FAMILIES)) {
    const help = trainHelp(RECIPES[model]);
    // (Other values may join --aug's choices: ADA's for StyleGAN2.)
    assert.match(help, /--aug [a-z|]*\bdiffaugment\b[a-z|]*\s+[^\n]*'diffaugment'[^\n]*\(default: noaug\)/, model);
    assert.match(help, /--diffaugment POLICY\s+[^\n]*color, translation, cutout \(default: color,translation,cutout\)/, model);
  }
  for (const model of ['pix2pix', 'cyclegan']) assert.doesNotMatch(trainHelp(RECIPES[model]), /--(aug|diffaugment) /, model);
});
