// BigGAN's G and D against BigGAN-PyTorch's BigGAN.py: state-dict keys and shapes of the
// full CIFAR (launch_cifar_ema.sh) and ImageNet-128 (launch_BigGAN_bs256x8.sh) configs, and
// with the reference's weights, G's and D's outputs in training mode (batch statistics,
// the power iteration moving u; the buffers after it) and in eval mode, for the CIFAR
// architecture and a 64 px one with a shared embedding, hierarchical z and attention in
// G and D. Float64. Fixtures: test/fixtures/biggan/make_fixtures.py.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as torch from '../src/torch/index.js';
import * as io from '../src/io/index.js';
import { BigGANGenerator, BigGANDiscriminator, BIGGAN_ARCH_DEFAULTS, gArch, dArch, type BigGANArch } from '../src/models/biggan.js';
import { assertClose, assertTensorClose, tensorGroup, fromRoot, loadJson } from './helpers.js';

const fx = io.loadSafetensors(fromRoot('test/fixtures/biggan/models.safetensors')).tensors;
const keys = loadJson<{ configs: Record<string, Partial<BigGANArch>>; keys: Record<string, Record<'G' | 'D', [string, number[]][]>> }>('test/fixtures/biggan/models.json');

const group = (prefix: string): Record<string, torch.Tensor> => tensorGroup(fx, prefix);
const close = assertTensorClose;

const CASES: Record<string, Partial<BigGANArch>> = {
  cifar: { resolution: 32, n_classes: 10, G_ch: 2, D_ch: 2, dim_z: 32, G_attn: '0', D_attn: '0', G_init: 'N02', D_init: 'N02', SN_eps: 1e-8 },
  attn64: { resolution: 64, n_classes: 5, G_ch: 1, D_ch: 2, dim_z: 20, shared_dim: 6, G_attn: '16', D_attn: '8', G_shared: true, hier: true, SN_eps: 1e-6 },
};

test('state-dict keys and shapes equal the reference for the full CIFAR and ImageNet-128 configs', () => {
  for (const [name, cfg] of Object.entries(keys.configs)) {
    const arch = { ...BIGGAN_ARCH_DEFAULTS, ...cfg };
    for (const [tag, make] of [['G', () => new BigGANGenerator(arch)], ['D', () => new BigGANDiscriminator(arch)]] as const) {
      torch.scope(() => {
        const net = make();
        const ours = Object.entries(net.stateDict()).map(([k, t]) => [k, [...t.shape]]);
        assert.deepEqual(ours, keys.keys[name][tag], `${name} ${tag}`);
        net.dispose();
      });
    }
  }
});

test('the architecture tables: G widths and attention per resolution, D downsampling', () => {
  const g = gArch(96, '64', 128);
  assert.deepEqual(g.inChannels, [1536, 1536, 768, 384, 192]);
  assert.deepEqual(g.attention, [false, false, false, true, false]);
  assert.equal(gArch(8, '0', 512).inChannels.length, 7);
  assert.deepEqual(dArch(64, '0', 32).downsample, [true, true, false, false]);
  assert.deepEqual(dArch(1, '4', 256).attention, [false, false, false, false, false, true, true]);
  assert.throws(() => gArch(8, '64', 48), /resolutions 32, 64, 128, 256, 512, not 48/);
  assert.throws(() => dArch(8, '64', 512), /not 512/);
  assert.throws(() => new BigGANGenerator({ ...BIGGAN_ARCH_DEFAULTS, resolution: 32, hier: true }), /needs the shared embedding/);
});

for (const [name, cfg] of Object.entries(CASES)) {
  test(`${name}: G and D forward in training and eval mode equal the reference's`, () => {
    const arch = { ...BIGGAN_ARCH_DEFAULTS, ...cfg };
    torch.scope(() => {
      const G = new BigGANGenerator(arch).to('float64');
      const D = new BigGANDiscriminator(arch).to('float64');
      G.loadStateDict(group(`${name}.G.sd`));
      D.loadStateDict(group(`${name}.D.sd`));
      const z = fx[`${name}.z`], y = fx[`${name}.y`];
      const gen = () => torch.noGrad(() => G.generate(z, y));
      G.train();
      close(gen(), fx[`${name}.G.train_out`], `${name} G train`, 1e-5, 1e-6);
      for (const [k, v] of Object.entries(group(`${name}.G.after`))) close(G.stateDict()[k], v, `${name} G buffer ${k}`, 1e-9, 1e-12);
      G.eval();
      close(gen(), fx[`${name}.G.eval_out`], `${name} G eval`, 1e-5, 1e-6);
      const x = fx[`${name}.x`].double();
      D.train();
      close(D.forward(x, y), fx[`${name}.D.train_out`], `${name} D train`, 1e-10, 1e-10);
      for (const [k, v] of Object.entries(group(`${name}.D.after`))) close(D.stateDict()[k], v, `${name} D buffer ${k}`, 1e-9, 1e-12);
      D.eval();
      close(D.forward(x, y), fx[`${name}.D.eval_out`], `${name} D eval`, 1e-10, 1e-10);
      G.dispose();
      D.dispose();
    });
  });
}
