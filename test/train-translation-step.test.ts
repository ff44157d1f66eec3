// pix2pix and CycleGAN training steps against the reference implementation
// (junyanz/pytorch-CycleGAN-and-pix2pix @ da39a52): from the reference's initial weights
// and the same batch, our recipes' steps give the reference's losses at every step, and
// after the last one the same weights, batch-norm statistics and gradients.
// Fixtures: test/fixtures/train/make_translation_step_fixture.py.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as torch from '../src/torch/index.js';
import * as io from '../src/io/index.js';
import type { Options } from '../src/config/options.js';
import { RECIPES } from '../src/families/registry.js';
import { fullSchema, recipeEnv } from '../src/train/options.js';
import { assertClose, fromRoot, loadJson } from './helpers.js';
import { trainStep } from './train-helpers.js';

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

test('the fixtures cover both families, batch and instance norm, vanilla and lsgan, and the image pool', () => {
  const has = (f: (c: StepCase) => boolean) => index.cases.some(f);
  assert.ok(has((c) => c.model === 'pix2pix' && c.options.gan_mode === 'vanilla' && c.options.norm === 'batch'));
  assert.ok(has((c) => c.model === 'cyclegan' && c.options.gan_mode === 'lsgan' && (c.options.lambda_identity as number) > 0));
  assert.ok(has((c) => c.model === 'cyclegan' && (c.options.pool_size as number) > 0));
});

/**
 * Parameters whose gradient is zero in exact arithmetic: the bias of a convolution
 * followed by instance norm, which subtracts the per-channel mean and so cancels any
 * bias. The reference keeps that bias (use_bias for InstanceNorm2d), and its gradient is
 * rounding noise (at most 2e-6 in these fixtures, where every other bias's is above
 * 0.01). Adam divides a gradient by its own size (plus eps 1e-8), so each step moves such
 * a bias by up to about lr in a direction neither side can predict: these are checked
 * to have moved no more than that, on both sides, instead of being compared.
 */
const NOISE_GRAD = 1e-4;

function maxAbs(t: torch.Tensor): number {
  return torch.scope(() => t.abs().max().item());
}

/** How far Adam (β1 0.5, β2 0.999) can move a parameter in `steps` steps: |m̂|/√v̂ ≤ 1.14 for up to 3 steps. */
function adamReach(lr: number, steps: number): number {
  return 1.2 * lr * steps;
}

function maxDiff(a: torch.Tensor, b: torch.Tensor): number {
  const x = a.toTypedArray() as Float32Array, y = b.toTypedArray() as Float32Array;
  let m = 0;
  for (let i = 0; i < x.length; i++) m = Math.max(m, Math.abs(x[i] - y[i]));
  return m;
}

for (const c of index.cases) {
  test(`${c.name}: ${c.steps} ${c.model} steps equal the reference's (losses, weights, statistics, gradients)`, () => {
    const { tensors } = io.loadSafetensors(fromRoot(`${DIR}/${c.file}`));
    const pick = (prefix: string) => Object.fromEntries(Object.entries(tensors).filter(([k]) => k.startsWith(prefix)).map(([k, t]) => [k.slice(prefix.length), t]));
    const def = RECIPES[c.model];
    const o: Options = Object.fromEntries(Object.entries(fullSchema(def)).map(([k, s]) => [k, s.default]));
    Object.assign(o, c.options, { model: c.model });
    const recipe = def.create(o, recipeEnv(o, 0, 'cpu'));
    const lr = o.lr as number;
    try {
      const nets = recipe.networks();
      assert.deepEqual(Object.keys(nets).sort(), [...c.networks].sort());
      for (const name of c.networks) nets[name].loadStateDict(pick(`pre.${name}.`));
      const batch = { a: tensors.a, b: tensors.b, labels: null };
      const wantLosses = Object.entries(pick('loss.')).map(([k, t]) => [k, Array.from(t.toTypedArray() as Float32Array)] as const);
      const n = tensors.a.shape[0];
      const aBefore = tensors.a.toTypedArray().slice(), bBefore = tensors.b.toTypedArray().slice();
      for (let i = 0; i < c.steps; i++) {
        const m = torch.scope(() => trainStep(recipe, batch, { step: i, imagesSeen: n * i }));
        for (const [k, want] of wantLosses) {
          assert.ok(k in m, `step ${i}: the recipe reports ${k}`);
          assertClose([m[k]], [want[i]], 1e-5, 1e-6, `step ${i} ${k}`);
        }
      }
      // The batch is the caller's: the step must leave it as it was.
      assert.deepEqual(tensors.a.toTypedArray(), aBefore, 'a step changed the batch\'s A');
      assert.deepEqual(tensors.b.toTypedArray(), bBefore, 'a step changed the batch\'s B');
      for (const name of c.networks) {
        const net = nets[name];
        const want = pick(`post.${name}.`);
        const grads = pick(`grad.${name}.`);
        const pre = pick(`pre.${name}.`);
        const sd = net.stateDict();
        assert.deepEqual(Object.keys(sd), Object.keys(want), `${name}: state-dict keys`);
        const params = new Map(net.namedParameters());
        for (const [k, t] of Object.entries(sd)) {
          const label = `${name}.${k} after ${c.steps} steps`;
          if (params.has(k) && maxAbs(grads[k]) < NOISE_GRAD) {
            assert.ok(k.endsWith('.bias') && c.options.norm === 'instance', `${name}.${k}: only biases before instance norm have no gradient`);
            const reach = adamReach(lr, c.steps);
            assert.ok(maxDiff(want[k], pre[k]) <= reach, `${label}: the reference moved it by at most ${reach}`);
            assert.ok(maxDiff(t, pre[k]) <= reach, `${label}: moved by ${maxDiff(t, pre[k])}, more than its gradient noise can (${reach})`);
            continue;
          }
          assertClose(t.toTypedArray() as Float32Array, want[k].toTypedArray() as Float32Array, 1e-4, 1e-6, label);
        }
        for (const [k, p] of params) {
          const g = p.grad;
          assert.ok(g, `${name}.${k} has a gradient`);
          const scale = maxAbs(grads[k]);
          if (scale < NOISE_GRAD) continue;
          assertClose(g.toTypedArray() as Float32Array, grads[k].toTypedArray() as Float32Array, 1e-3, 1e-4 * scale, `${name}.${k}: gradient of the last step`);
        }
      }
    } finally {
      recipe.dispose?.();
      for (const net of Object.values(recipe.networks())) net.dispose();
      for (const t of Object.values(tensors)) t.dispose();
    }
  });
}
