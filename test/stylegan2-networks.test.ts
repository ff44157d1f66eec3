// StyleGAN2's networks (src/models/stylegan2*.ts) against stylegan2-ada-pytorch's own
// Generator and Discriminator (test/fixtures/stylegan2/make_fixtures.py): state-dict keys
// and shapes in order (the small fixture networks and the full cifar config), construction
// from a pickle's init_kwargs, mapping with truncation and the w_avg update, synthesis in
// every architecture, fused (eval) and per sample (training), noise const and none, and D
// in every architecture with and without labels; float64 tightly, float32 within 1e-4.
import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import * as torch from '../src/torch/index.js';
import { Tensor, scope, noGrad } from '../src/torch/index.js';
import {
  Generator, Discriminator, generatorFromInitKwargs, discriminatorFromInitKwargs, modconvFused, type GeneratorForwardOptions,
} from '../src/models/stylegan2.js';
import * as io from '../src/io/index.js';
import { assertClose, fromRoot, loadJson } from './helpers.js';

interface NetMeta {
  G_init_kwargs: Record<string, unknown>;
  D_init_kwargs: Record<string, unknown>;
  G_keys: [string, number[]][];
  D_keys: [string, number[]][];
  G_params?: number;
  D_params?: number;
}
const meta = loadJson<Record<string, NetMeta>>('test/fixtures/stylegan2/nets.json');
const { tensors: T } = io.loadSafetensors(fromRoot('test/fixtures/stylegan2/nets.safetensors'));
const sub = (prefix: string): Record<string, Tensor> =>
  Object.fromEntries(Object.entries(T).filter(([k]) => k.startsWith(prefix)).map(([k, v]) => [k.slice(prefix.length), v]));
const arr = (x: Tensor): number[] => Array.from(x.double().toTypedArray() as Float64Array);
const keyList = (m: { stateDict(): Record<string, Tensor> }): [string, number[]][] => Object.entries(m.stateDict()).map(([k, v]) => [k, v.shape]);

const NAMES = ['skip16', 'cond32', 'resnet16'] as const;

function build(name: string, dtype: 'float32' | 'float64'): { G: Generator; D: Discriminator } {
  const G = generatorFromInitKwargs(meta[name].G_init_kwargs).to(dtype);
  const D = discriminatorFromInitKwargs(meta[name].D_init_kwargs).to(dtype);
  G.loadStateDict(sub(`G.${name}.`));
  D.loadStateDict(sub(`D.${name}.`));
  return { G, D };
}

describe('state-dict keys and shapes equal the reference', () => {
  for (const name of [...NAMES, 'cifar_full']) {
    test(`${name}: G and D built from init_kwargs have the reference's keys, in order, with its shapes`, () => {
      const m = meta[name];
      const G = generatorFromInitKwargs(m.G_init_kwargs);
      const D = discriminatorFromInitKwargs(m.D_init_kwargs);
      try {
        assert.deepEqual(keyList(G), m.G_keys);
        assert.deepEqual(keyList(D), m.D_keys);
        if (m.G_params) assert.equal(G.numParameters(), m.G_params);
        if (m.D_params) assert.equal(D.numParameters(), m.D_params);
      } finally {
        G.dispose();
        D.dispose();
      }
    });
  }
  test('unknown or unsupported kwargs are refused with the name', () => {
    const k = meta.skip16.G_init_kwargs;
    assert.throws(() => generatorFromInitKwargs({ ...k, foo: 1 }), /unknown Generator argument 'foo'/);
    assert.throws(() => generatorFromInitKwargs({ ...k, synthesis_kwargs: { architecture: 'pyramid' } }), /architecture must be one of/);
    assert.throws(() => discriminatorFromInitKwargs({ ...meta.skip16.D_init_kwargs, block_kwargs: { freeze_layers: 2 } }), /freeze_layers/);
  });
});

for (const dtype of ['float64', 'float32'] as const) {
  const [rtol, atol] = dtype === 'float64' ? [1e-9, 1e-10] : [1e-4, 1e-5];
  describe(`outputs equal the reference's (${dtype})`, () => {
    for (const name of NAMES) {
      test(`${name}: mapping with truncation, synthesis (fused/per sample, noise const/none), G, D, w_avg update`, () => {
        const { G, D } = build(name, dtype);
        try {
          scope(() => noGrad(() => {
            const t = sub(`io.${name}.`);
            const x = (k: string): Tensor => t[k].to(dtype);
            const cDim = meta[name].G_init_kwargs.c_dim as number;
            const c = cDim > 0 ? x('c') : null;
            const check = (got: Tensor, k: string): void => {
              assert.deepEqual(got.shape, t[k].shape, `${k}: shape`);
              assertClose(arr(got), arr(t[k]), rtol, atol, k);
            };
            G.eval();
            check(G.mapping.forward(x('z'), c), 'ws');
            check(G.mapping.forward(x('z'), c, { truncationPsi: 0.7, truncationCutoff: 2 }), 'ws_trunc');
            check(G.mapping.forward(x('z'), c, { truncationPsi: 0.5 }), 'ws_trunc_all');
            check(G.synthesis.forward(x('ws_trunc'), { noiseMode: 'const' }), 'img_const_fused');
            const o: GeneratorForwardOptions = { truncationPsi: 0.7, truncationCutoff: 2, noiseMode: 'const' };
            check(G.forward(x('z'), c, o), 'img_eval_psi');
            check(D.forward(x('real'), c), 'logits_real');
            check(D.forward(x('img_const_fused'), c), 'logits_fake');
            G.train();
            check(G.synthesis.forward(x('ws'), { noiseMode: 'none' }), 'img_none_train');
            check(G.synthesis.forward(x('ws'), { noiseMode: 'const' }), 'img_const_train');
            G.mapping.forward(x('z'), c);
            check(G.mapping.wAvg!, 'w_avg_after');
            // Class indices give what one-hot rows give.
            if (c) check(D.forward(x('real'), c.argmax(1)), 'logits_real');
          }));
        } finally {
          G.dispose();
          D.dispose();
        }
      });
    }
  });
}

describe('noise and modes', () => {
  test("noise_mode 'random' draws fresh noise per image; fused and per-sample forms agree", () => {
    const { G } = build('skip16', 'float64');
    try {
      scope(() => noGrad(() => {
        const ws = T['io.skip16.ws'];
        torch.manualSeed(1);
        const a = G.synthesis.forward(ws, { noiseMode: 'random', fusedModconv: true });
        torch.manualSeed(1);
        const b = G.synthesis.forward(ws, { noiseMode: 'random', fusedModconv: false });
        const c = G.synthesis.forward(ws, { noiseMode: 'random' });
        assertClose(arr(a), arr(b), 1e-9, 1e-10, 'same noise, two forms');
        assert.ok(a.sub(c).abs().max().item() > 1e-3, 'fresh noise changes the image');
        assert.throws(() => G.synthesis.forward(ws, { noiseMode: 'bogus' as never }), /noise_mode/);
      }));
    } finally {
      G.dispose();
    }
  });
  test('eval mode runs the per-sample form on the CPU (modconvFused), the fused one elsewhere; both give the same image', () => {
    assert.equal(modconvFused(false, 'cpu'), false);
    assert.equal(modconvFused(false, 'cuda'), true);
    assert.equal(modconvFused(true, 'cuda'), false);
    const { G } = build('cond32', 'float64');
    try {
      scope(() => noGrad(() => {
        const ws = T['io.cond32.ws'].to('float64');
        G.eval();
        const byDefault = G.synthesis.forward(ws, { noiseMode: 'const' });
        const perSample = G.synthesis.forward(ws, { noiseMode: 'const', fusedModconv: false });
        const fused = G.synthesis.forward(ws, { noiseMode: 'const', fusedModconv: true });
        assert.equal(byDefault.sub(perSample).abs().max().item(), 0, 'the default is the per-sample form');
        assertClose(arr(byDefault), arr(fused), 1e-9, 1e-10, 'per sample = fused');
      }));
    } finally {
      G.dispose();
    }
  });
});
