// pix2pix and CycleGAN training steps against the reference implementation
// (junyanz/pytorch-CycleGAN-and-pix2pix @ da39a52): from the reference's initial weights
// and the same batch, our recipes' steps give the reference's losses and gradients, their
// optimisers its updates, and after the last step its batch-norm statistics, compared as
// test/step-parity.ts explains so that they hold on any CPU.
// Fixtures: test/fixtures/train/make_translation_step_fixture.py.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as torch from '../src/torch/index.js';
import * as io from '../src/io/index.js';
import type { Options } from '../src/config/options.js';
import type { Recipe } from '../src/recipes/recipe.js';
import { RECIPES } from '../src/recipes/registry.js';
import { fullSchema, recipeEnv } from '../src/recipes/trainer.js';
import { fromRoot, loadJson } from './helpers.js';
import { trainStep } from './train-helpers.js';
import { type ReferenceSteps, TIGHT, assertLosses, assertTeacherForcedSteps, assertUpdatesClose, loadPre, replayOptimizers } from './step-parity.js';

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
  assert.ok(index.cases.length > 0, 'translation_step.json lists cases');
  const has = (f: (c: StepCase) => boolean) => index.cases.some(f);
  assert.ok(has((c) => c.model === 'pix2pix' && c.options.gan_mode === 'vanilla' && c.options.norm === 'batch'));
  assert.ok(has((c) => c.model === 'cyclegan' && c.options.gan_mode === 'lsgan' && (c.options.lambda_identity as number) > 0));
  assert.ok(has((c) => c.model === 'cyclegan' && (c.options.pool_size as number) > 0));
  for (const c of index.cases) assert.ok(c.networks.length > 0 && c.steps > 1, `${c.name}: networks and several steps`);
});

for (const c of index.cases) {
  test(`${c.name}: ${c.steps} ${c.model} steps equal the reference's (losses, gradients, optimiser updates, statistics)`, () => {
    const { tensors } = io.loadSafetensors(fromRoot(`${DIR}/${c.file}`));
    const pick = (prefix: string) => Object.fromEntries(Object.entries(tensors).filter(([k]) => k.startsWith(prefix)).map(([k, t]) => [k.slice(prefix.length), t]));
    const def = RECIPES[c.model];
    const o: Options = Object.fromEntries(Object.entries(fullSchema(def)).map(([k, s]) => [k, s.default]));
    Object.assign(o, c.options, { model: c.model });
    const ref: ReferenceSteps = {
      networks: c.networks,
      steps: c.steps,
      lr: c.options.lr as number,
      betas: [c.options.beta1 as number, 0.999],
      pre: (n) => pick(`pre.${n}.`),
      post: (n) => pick(`post.${n}.`),
      grads: (i, n) => pick(`grad${i}.${n}.`),
      losses: Object.fromEntries(Object.entries(pick('loss.')).map(([k, t]) => [k, Array.from(t.toTypedArray() as Float32Array)])),
      // The bias of a convolution followed by instance norm, which subtracts the
      // per-channel mean and so cancels any bias; the reference keeps that bias
      // (use_bias for InstanceNorm2d).
      mayHaveNoGradient: (_n, k) => k.endsWith('.bias') && c.options.norm === 'instance',
    };
    const batch = { a: tensors.a, b: tensors.b, labels: null };
    const n = tensors.a.shape[0];
    const recipes: Recipe[] = [];
    const make = (): Recipe => {
      const r = def.create(o, recipeEnv(o, 0, 'cpu'));
      recipes.push(r);
      assert.deepEqual(Object.keys(r.networks()).sort(), [...c.networks].sort());
      return r;
    };
    try {
      // 1. The recipe's optimisers, fed the reference's gradients, give its weights.
      const before = replayOptimizers(make(), ref);
      // 2. Each step from the reference's weights before it: losses, gradients, statistics.
      const forced = make();
      assertTeacherForcedSteps(forced, ref, before, (i) => torch.scope(() => trainStep(forced, batch, { step: i, imagesSeen: n * i })));
      // 3. The steps as training runs them: losses, and updates in units of lr.
      const free = make();
      const nets = loadPre(free, ref);
      const aBefore = tensors.a.toTypedArray().slice(), bBefore = tensors.b.toTypedArray().slice();
      for (let i = 0; i < c.steps; i++) assertLosses(torch.scope(() => trainStep(free, batch, { step: i, imagesSeen: n * i })), ref, i, `step ${i + 1}`);
      // The batch is the caller's: the step must leave it as it was.
      assert.deepEqual(tensors.a.toTypedArray(), aBefore, 'a step changed the batch\'s A');
      assert.deepEqual(tensors.b.toTypedArray(), bBefore, 'a step changed the batch\'s B');
      const { tight, total } = assertUpdatesClose(nets, ref);
      assert.ok(tight >= total / 5, `a fifth of the updates at least are held within ${TIGHT} lr: ${tight} of ${total}`);
    } finally {
      for (const r of recipes) {
        r.dispose?.();
        for (const net of Object.values(r.networks())) net.dispose();
        for (const opt of Object.values(r.optimizers())) opt.dispose();
      }
      for (const t of Object.values(tensors)) t.dispose();
    }
  });
}
