// pix2pix and CycleGAN training steps against the reference implementation
// (junyanz/pytorch-CycleGAN-and-pix2pix @ da39a52), in float64: from the reference's
// initial weights and the same batch, our recipes' steps give the reference's losses at
// every step, and after the last one the same weights, batch-norm statistics and
// gradients. Float64 because in float32 no tight comparison of several steps holds
// across CPUs (rounding differs per CPU; Adam turns it into weight differences of about
// lr wherever a gradient nearly cancels, and a ReLU input within rounding of 0 changes a
// gradient outright); in float64 the same tolerances hold on any CPU.
// Fixtures: test/fixtures/train/make_translation_step_fixture.py.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as torch from '../src/torch/index.js';
import * as io from '../src/io/index.js';
import type { Options } from '../src/config/options.js';
import type { Recipe } from '../src/train/recipe.js';
import { RECIPES } from '../src/families/registry.js';
import { fullSchema, recipeEnv } from '../src/train/options.js';
import { assertClose, fromRoot, loadJson } from './helpers.js';
import { toFloat64, trainStep } from './train-helpers.js';
import { NOISE_GRAD, adamReach, assertLosses } from './step-parity.js';

interface StepCase {
  name: string;
  model: 'pix2pix' | 'cyclegan';
  steps: number;
  options: Record<string, number | string | boolean>;
  file: string;
  networks: string[];
}

const DIR = 'test/fixtures/train';
const index = loadJson<{ cases: StepCase[] }>(`${DIR}/translation_step.json`);

/**
 * Tolerances of the float64 comparison. Losses and statistics: relative 1e-9. Gradients
 * of the last step: 1e-8 of the tensor's largest. Weights: each update (post − pre)
 * within UPDATE_TOL lr of the reference's: Adam amplifies a gradient's relative error
 * δg/|g| into an update error of about that many lr, and float64's δg (1e-15 of the
 * scale, grown over the steps) reaches 1e-6 lr only where |g| < 1e-9 of its tensor's
 * scale. Measured under every kernel variant of this machine (ATen capability default,
 * avx2, avx512; oneDNN capped at AVX2), with fixtures made under the default one or
 * under ATen default with oneDNN AVX2: at most 4.5e-14 relative for losses, 4e-16 for
 * statistics, 1e-12 of scale for gradients, 7.3e-10 lr for updates; a λ off by 0.1 %
 * fails each of these.
 */
const LOSS_RTOL = 1e-9;
const GRAD_TOL = 1e-8;
const UPDATE_TOL = 1e-6;

function f64(t: torch.Tensor): Float64Array {
  return t.toTypedArray() as Float64Array;
}

function maxAbs(x: ArrayLike<number>): number {
  let m = 0;
  for (let i = 0; i < x.length; i++) m = Math.max(m, Math.abs(x[i]));
  return m;
}

test('the fixtures cover both families, batch and instance norm, vanilla and lsgan, and the image pool', () => {
  assert.ok(index.cases.length > 0, 'translation_step.json lists cases');
  const has = (f: (c: StepCase) => boolean) => index.cases.some(f);
  assert.ok(has((c) => c.model === 'pix2pix' && c.options.gan_mode === 'vanilla' && c.options.norm === 'batch'));
  assert.ok(has((c) => c.model === 'cyclegan' && c.options.gan_mode === 'lsgan' && (c.options.lambda_identity as number) > 0));
  assert.ok(has((c) => c.model === 'cyclegan' && (c.options.pool_size as number) > 0));
  for (const c of index.cases) assert.ok(c.networks.length > 0 && c.steps > 1, `${c.name}: networks and several steps`);
});

for (const c of index.cases) {
  test(`${c.name}: ${c.steps} ${c.model} steps in float64 equal the reference's (losses, weights, statistics, gradients)`, () => {
    const { tensors } = io.loadSafetensors(fromRoot(`${DIR}/${c.file}`));
    const pick = (prefix: string) => Object.fromEntries(Object.entries(tensors).filter(([k]) => k.startsWith(prefix)).map(([k, t]) => [k.slice(prefix.length), t]));
    const def = RECIPES[c.model];
    const o: Options = Object.fromEntries(Object.entries(fullSchema(def)).map(([k, s]) => [k, s.default]));
    Object.assign(o, c.options, { model: c.model });
    const recipe = def.create(o, recipeEnv(o, 0, 'cpu'));
    const lr = c.options.lr as number;
    const reach = adamReach([c.options.beta1 as number, 0.999], c.steps);
    const batch = { a: tensors.a.to({ dtype: 'float64' }), b: tensors.b.to({ dtype: 'float64' }), labels: null };
    try {
      const nets = recipe.networks();
      assert.deepEqual(Object.keys(nets).sort(), [...c.networks].sort());
      for (const name of c.networks) nets[name].loadStateDict(pick(`pre.${name}.`));
      toFloat64(recipe, c.networks);
      const losses = Object.fromEntries(Object.entries(pick('loss.')).map(([k, t]) => [k, Array.from(f64(t))]));
      const n = tensors.a.shape[0];
      const aBefore = batch.a.toTypedArray().slice(), bBefore = batch.b.toTypedArray().slice();
      for (let i = 0; i < c.steps; i++) {
        assertLosses(torch.scope(() => trainStep(recipe, batch, { step: i, imagesSeen: n * i })), losses, i, `step ${i + 1}`, LOSS_RTOL, 0);
      }
      // The batch is the caller's: the step must leave it as it was.
      assert.deepEqual(batch.a.toTypedArray(), aBefore, 'a step changed the batch\'s A');
      assert.deepEqual(batch.b.toTypedArray(), bBefore, 'a step changed the batch\'s B');
      let compared = 0;
      for (const name of c.networks) {
        const net = nets[name];
        const want = pick(`post.${name}.`), grads = pick(`grad.${name}.`), pre = pick(`pre.${name}.`);
        const sd = net.stateDict();
        assert.deepEqual(Object.keys(sd), Object.keys(want), `${name}: state-dict keys`);
        const params = new Map(net.namedParameters());
        assert.ok(params.size > 0, `${name} has parameters`);
        for (const [k, t] of Object.entries(sd)) {
          const label = `${name}.${k} after ${c.steps} steps`;
          if (!params.has(k)) {
            assertClose(t.toTypedArray(), want[k].toTypedArray(), LOSS_RTOL, 0, label);
            continue;
          }
          assert.ok(grads[k], `the fixture has ${name}.${k}'s gradient`);
          const w = f64(t), w0 = Float64Array.from(pre[k].toTypedArray() as Float32Array), w1 = f64(want[k]);
          const ours = w.map((v, i) => (v - w0[i]) / lr), theirs = w1.map((v, i) => (v - w0[i]) / lr);
          assert.ok(maxAbs(theirs) <= reach, `${label}: the reference moved it by ${maxAbs(theirs)} lr, beyond Adam's reach ${reach}`);
          assert.ok(maxAbs(ours) <= reach, `${label}: moved by ${maxAbs(ours)} lr, beyond Adam's reach ${reach}`);
          if (maxAbs(f64(grads[k])) < NOISE_GRAD) {
            // No gradient in exact arithmetic: the bias of a convolution followed by instance
            // norm, which subtracts the per-channel mean and so cancels any bias (the
            // reference keeps that bias, use_bias for InstanceNorm2d). Adam normalises its
            // rounding noise into steps of up to lr in either direction: only the reach holds.
            assert.ok(k.endsWith('.bias') && c.options.norm === 'instance', `${name}.${k}: only biases before instance norm have no gradient`);
            continue;
          }
          assertClose(ours, theirs, 0, UPDATE_TOL, `${label}, in units of lr`);
          compared++;
        }
        for (const [k, p] of params) {
          const g = p.grad;
          assert.ok(g, `${name}.${k} has a gradient`);
          const scale = maxAbs(f64(grads[k]));
          const label = `${name}.${k}: gradient of the last step`;
          if (scale < NOISE_GRAD) {
            assert.ok(maxAbs(f64(g)) < NOISE_GRAD, `${label} is rounding noise in the reference, ours is ${maxAbs(f64(g))}`);
            continue;
          }
          assertClose(f64(g), f64(grads[k]), 0, GRAD_TOL * scale, label);
        }
      }
      assert.ok(compared > 0, 'some parameters are compared');
    } finally {
      recipe.dispose?.();
      for (const net of Object.values(recipe.networks())) net.dispose();
      for (const opt of Object.values(recipe.optimizers())) opt.dispose();
      for (const t of [...Object.values(tensors), batch.a, batch.b]) t.dispose();
    }
  });
}
