// One StyleGAN2 training step, phase by phase, against stylegan2-ada-pytorch's
// StyleGAN2Loss.accumulate_gradients from the same float64 weights, latents, labels and
// seed (test/fixtures/stylegan2/make_step_fixture.py): the gradients of Gmain
// (non-saturating loss through style mixing and fresh noise), Greg (path length, gain 4),
// Dmain and Dreg (R1, gain 16), the w_avg updates and the running path-length mean. In
// float64 every draw is the same on both sides (same generator, same calls), so the
// comparison is tight (1e-6 of each tensor's largest gradient) on any CPU.
import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import * as torch from '../src/torch/index.js';
import { Tensor, scope } from '../src/torch/index.js';
import { validateOptions } from '../src/config/options.js';
import { fullSchema } from '../src/train/options.js';
import { stylegan2, StyleGAN2Recipe, type Shared } from '../src/families/stylegan2/stylegan2.js';
import * as io from '../src/io/index.js';
import { assertClose, fromRoot, loadJson } from './helpers.js';

const { tensors: T } = io.loadSafetensors(fromRoot('test/fixtures/stylegan2/step.safetensors'));
const meta = loadJson<{ gamma: number; n: number }>('test/fixtures/stylegan2/step.json');
const sub = (prefix: string): Record<string, Tensor> =>
  Object.fromEntries(Object.entries(T).filter(([k]) => k.startsWith(prefix)).map(([k, v]) => [k.slice(prefix.length), v]));
const arr = (x: Tensor): number[] => Array.from(x.double().toTypedArray() as Float64Array);

export function tinyRecipe(extra: Record<string, unknown> = {}): StyleGAN2Recipe {
  const o = validateOptions({
    model: 'stylegan2', resolution: 16, z_dim: 8, w_dim: 8, channel_base: 64, channel_max: 8, map: 2, mbstd_group: 2,
    gamma: meta.gamma, conv_clamp: 256, ...extra,
  }, fullSchema(stylegan2), 'test');
  return stylegan2.create(o as never, { resolution: 16, channels: 3, outputChannels: 3, numClasses: 3, batchSize: meta.n, device: 'cpu' }) as StyleGAN2Recipe;
}

describe('one training step against the reference (float64)', () => {
  test('Gmain, Greg, Dmain and Dreg leave the reference\'s gradients, w_avg and pl_mean', () => {
    const r = tinyRecipe();
    try {
      for (const net of [r.G, r.D, r.G_ema]) net.to('float64');
      r.plMean.setData(T.pl_mean0.clone());
      r.G.loadStateDict(sub('G.'));
      r.D.loadStateDict(sub('D.'));
      const wAvg0 = T['G.mapping.w_avg'];
      const batch = { a: T.real, b: null, labels: T.real_c, size: meta.n, epoch: 0 } as never;
      const names = ['Gmain', 'Greg', 'Dmain', 'Dreg'] as const;
      const shared: Shared = { z: names.map((p) => T[`${p}.z`]), c: names.map((p) => T[`${p}.c`]) };
      names.forEach((name, i) => {
        const phase = r.phases.find((p) => p.name === name)!;
        const net = name.startsWith('G') ? r.G : r.D;
        const other = name.startsWith('G') ? r.D : r.G;
        scope(() => {
          torch.noGrad(() => r.G.mapping.wAvg!.copy_(wAvg0));
          phase.optimizer.zeroGrad();
          other.requiresGrad_(false);
          torch.manualSeed(100 + i);
          phase.loss(batch, { step: 0, imagesSeen: 0, round: 0, rounds: 1, phaseStep: 0, shared }).loss.backward();
          other.requiresGrad_(true);
          const want = sub(`grad.${name}.`);
          const got = net.namedParameters();
          assert.deepEqual(got.map(([k]) => k).filter((k) => k in want), Object.keys(want).filter((k) => got.some(([g]) => g === k)));
          for (const [k, p] of got) {
            const w = want[k];
            if (!w) {
              // The reference leaves no gradient only where none flows (e.g. G's noise strengths with noise off).
              assert.ok(!p.grad || p.grad.abs().max().item() === 0, `${name}: ${k} has a gradient the reference has not`);
              continue;
            }
            const scale = Math.max(w.abs().max().item(), 1e-30);
            assert.ok(p.grad, `${name}: ${k} has no gradient, the reference has one`);
            // 1e-6 of the tensor's scale: everything runs in float64 except the noise maps, drawn
            // in float32 as the reference draws them, whose last bit differs between CPU kernels.
            // The noise strengths' gradients are float32 sums on both sides (noise × strength runs in float32).
            const tol = k.endsWith('noise_strength') ? 1e-5 : 1e-6;
            assertClose(arr(p.grad), arr(w), 0, tol * scale, `${name}: grad of ${k}`);
          }
          assertClose(arr(r.G.mapping.wAvg!), arr(T[`${name}.w_avg_after`]), 1e-12, 1e-12, `${name}: w_avg`);
        });
      });
      assertClose([r.plMean.item()], [T.pl_mean_after.item()], 1e-8, 0, 'pl_mean');
    } finally {
      for (const net of Object.values(r.networks())) net.dispose();
      for (const opt of Object.values(r.optimizers())) opt.dispose();
      r.dispose();
    }
  });
});
