// BigGAN-deep's G and D against BigGAN-PyTorch's BigGANdeep.py: state-dict keys and shapes
// of launch_BigGAN_deep.sh's architecture (widths cut), and with the reference's weights,
// G's and D's outputs in training mode (batch statistics, the power iteration moving u;
// the buffers after it) and in eval mode, at 32 px (G_depth 3, D_depth 2, attention in G and
// D) and 64 px (G_depth 2, D_depth 3). Float64. Fixtures: test/fixtures/biggan_deep/make_fixtures.py.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as torch from '../src/torch/index.js';
import * as io from '../src/io/index.js';
import { BigGANDeepGenerator, BigGANDeepDiscriminator, BIGGAN_DEEP_ARCH_DEFAULTS, deepGArch, deepDArch, type BigGANDeepArch } from '../src/models/biggan_deep.js';
import { assertTensorClose, tensorGroup, fromRoot, loadJson } from './helpers.js';

const fx = io.loadSafetensors(fromRoot('test/fixtures/biggan_deep/models.safetensors')).tensors;
const keys = loadJson<{ config: Partial<BigGANDeepArch>; keys: Record<'G' | 'D', [string, number[]][]> }>('test/fixtures/biggan_deep/models.json');
const group = (prefix: string): Record<string, torch.Tensor> => tensorGroup(fx, prefix);
const close = assertTensorClose;

const CASES: Record<string, Partial<BigGANDeepArch>> = {
  d32: { resolution: 32, n_classes: 5, G_ch: 2, D_ch: 2, dim_z: 12, shared_dim: 6, G_attn: '16', D_attn: '16', G_depth: 3, D_depth: 2, SN_eps: 1e-6 },
  d64: { resolution: 64, n_classes: 4, G_ch: 1, D_ch: 2, dim_z: 10, shared_dim: 0, G_attn: '16', D_attn: '8', G_depth: 2, D_depth: 3, SN_eps: 1e-8, G_init: 'N02' },
};

test('BigGAN-deep: state-dict keys and shapes equal the reference for launch_BigGAN_deep.sh\'s 128 px architecture', () => {
  const arch = { ...BIGGAN_DEEP_ARCH_DEFAULTS, ...keys.config };
  for (const [tag, make] of [['G', () => new BigGANDeepGenerator(arch)], ['D', () => new BigGANDeepDiscriminator(arch)]] as const) {
    torch.scope(() => {
      const net = make();
      const ours = Object.entries(net.stateDict()).map(([k, t]) => [k, [...t.shape]]);
      assert.deepEqual(ours, keys.keys[tag], tag);
      net.dispose();
    });
  }
});

test('BigGAN-deep: the architecture tables and what cannot be built', () => {
  assert.deepEqual(deepGArch(128, '64', 128).inChannels, [2048, 2048, 1024, 512, 256]);
  assert.deepEqual(deepGArch(128, '64', 128).attention, [false, false, false, true, false]);
  assert.deepEqual(deepDArch(128, '64', 128).outChannels, [256, 512, 1024, 2048, 2048]);
  assert.deepEqual(deepDArch(1, '16', 32).downsample, [true, true, false]);
  assert.deepEqual(deepDArch(1, '16', 32).attention, [true, true, true]);
  assert.throws(() => deepGArch(8, '64', 512), /resolutions 32, 64, 128, 256, not 512/);
  const base = { ...BIGGAN_DEEP_ARCH_DEFAULTS, resolution: 32, G_ch: 2, D_ch: 2, G_attn: '0', D_attn: '0' };
  assert.throws(() => new BigGANDeepGenerator({ ...base, hier: false }), /needs the shared embedding and hierarchical z/);
  assert.throws(() => new BigGANDeepGenerator({ ...base, resolution: 64, G_depth: 1 }), /G_depth 1 does not chain at resolution 64/);
  assert.throws(() => new BigGANDeepGenerator({ ...base, G_ch: 0.5 }), /no bottleneck channels/);
});

for (const [name, cfg] of Object.entries(CASES)) {
  test(`BigGAN-deep ${name}: G and D forward in training and eval mode equal the reference's`, () => {
    const arch = { ...BIGGAN_DEEP_ARCH_DEFAULTS, ...cfg };
    // Images of the 64 px fixture are stored in float32.
    const imgTol = name === 'd64' ? 1e-6 : 1e-10;
    torch.scope(() => {
      const G = new BigGANDeepGenerator(arch).to('float64');
      const D = new BigGANDeepDiscriminator(arch).to('float64');
      G.loadStateDict(group(`${name}.G.sd`));
      D.loadStateDict(group(`${name}.D.sd`));
      const z = fx[`${name}.z`], y = fx[`${name}.y`];
      const gen = () => torch.noGrad(() => G.generate(z, y));
      G.train();
      close(gen(), fx[`${name}.G.train_out`].double(), `${name} G train`, imgTol, imgTol);
      for (const [k, v] of Object.entries(group(`${name}.G.after`))) close(G.stateDict()[k], v, `${name} G buffer ${k}`, 1e-9, 1e-12);
      G.eval();
      close(gen(), fx[`${name}.G.eval_out`].double(), `${name} G eval`, imgTol, imgTol);
      const x = fx[`${name}.x`].double();
      D.train();
      close(torch.noGrad(() => D.forward(x, y)), fx[`${name}.D.train_out`], `${name} D train`, 1e-10, 1e-10);
      for (const [k, v] of Object.entries(group(`${name}.D.after`))) close(D.stateDict()[k], v, `${name} D buffer ${k}`, 1e-9, 1e-12);
      D.eval();
      close(torch.noGrad(() => D.forward(x, y)), fx[`${name}.D.eval_out`], `${name} D eval`, 1e-10, 1e-10);
      G.dispose();
      D.dispose();
    });
  });
}
