// BigGAN-PyTorch weights folders (utils.save_weights after two reference train() calls,
// in the legacy torch.save format of the released 2019 checkpoints and in the zip
// format): state_dict.pth's config, with its pickled nn.ReLU objects read as inert stubs,
// rebuilds the architecture; G.pth, G_ema.pth and D.pth load strictly and give the
// reference's outputs for the same z and y. The stub is the only class let through, and
// only where asked. A BigGANdeep.py folder (train.py --model BigGANdeep) builds the deep
// generator from the same config. Fixtures: test/fixtures/biggan/make_weights_fixture.py,
// test/fixtures/biggan_deep/make_weights_fixture.py.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as torch from '../src/torch/index.js';
import * as io from '../src/io/index.js';
import { BigGANGenerator, BigGANDiscriminator } from '../src/models/biggan.js';
import { BigGANDeepGenerator } from '../src/models/biggan_deep.js';
import { archFromConfig, generatorFromConfig, isDeepConfig, readReferenceState, readWeightFile, STATE_DICT_STUBS, type ReferenceState } from '../src/families/biggan_weights.js';
import { assertClose, fromRoot } from './helpers.js';

const expected = io.loadSafetensors(fromRoot('test/fixtures/biggan/weights_expected.safetensors')).tensors;

function f32(t: torch.Tensor): Float32Array {
  return t.float().toTypedArray() as Float32Array;
}

for (const format of ['legacy', 'zip']) {
  test(`a reference weights folder (${format} format) loads and gives the reference's G, G_ema and D outputs`, () => {
    const dir = fromRoot(`test/fixtures/biggan/weights_${format}`);
    const state = readReferenceState(dir);
    assert.equal(state.itr, 2);
    const config = state.config as ReferenceState;
    assert.deepEqual(config.G_activation, { __class__: 'torch.nn.modules.activation.ReLU' });
    const arch = archFromConfig(config);
    assert.deepEqual([arch.resolution, arch.n_classes, arch.G_ch, arch.dim_z, arch.shared_dim, arch.hier, arch.G_attn, arch.SN_eps], [32, 4, 2, 12, 6, true, '16', 1e-6]);
    torch.scope(() => {
      for (const name of ['G', 'G_ema'] as const) {
        const G = new BigGANGenerator(arch);
        G.loadStateDict(readWeightFile(dir, name));
        G.eval();
        const out = torch.noGrad(() => G.generate(expected.z, expected.y));
        // atol 1e-5 of tanh's ±1 range: float32 rounding of another summation order (our
        // Winograd 3×3 convolutions) moves outputs near zero by ~1e-6.
        assertClose(f32(out), f32(expected[name]), 1e-4, 1e-5, `${format} ${name}`);
        G.dispose();
      }
      const D = new BigGANDiscriminator(arch);
      D.loadStateDict(readWeightFile(dir, 'D'));
      D.eval();
      assertClose(f32(torch.noGrad(() => D.forward(expected.x, expected.y))), f32(expected.D), 1e-4, 1e-5, `${format} D`);
      D.dispose();
    });
  });
}

test('a BigGAN-deep reference folder: its config names BigGANdeep and G_depth, and G, G_ema give the reference\'s outputs', () => {
  const dir = fromRoot('test/fixtures/biggan_deep/weights_zip');
  const want = io.loadSafetensors(fromRoot('test/fixtures/biggan_deep/weights_expected.safetensors')).tensors;
  const config = readReferenceState(dir).config as ReferenceState;
  assert.equal(isDeepConfig(config), true);
  assert.equal(isDeepConfig({ ...config, model: 'BigGAN' }), false);
  assert.throws(() => isDeepConfig({ ...config, model: 'SAGAN' }), /model 'SAGAN' is neither BigGAN nor BigGANdeep/);
  torch.scope(() => {
    for (const name of ['G', 'G_ema'] as const) {
      const G = generatorFromConfig(config);
      assert.ok(G instanceof BigGANDeepGenerator);
      assert.equal(G.cfg.G_depth, 2);
      G.loadStateDict(readWeightFile(dir, name));
      G.eval();
      const out = torch.noGrad(() => G.generate(want.z, want.y));
      assertClose(f32(out), f32(want[name]), 1e-4, 1e-5, `deep ${name}`);
      G.dispose();
    }
  });
});

test('the ReLU stub is let through only when asked, and no other class is', () => {
  for (const format of ['legacy', 'zip']) {
    assert.throws(() => io.readPthFileSync(fromRoot(`test/fixtures/biggan/weights_${format}/state_dict.pth`)), /refusing pickle global 'torch\.nn\.modules\.activation\.ReLU'/);
  }
  assert.throws(
    () => io.readPthFileSync(fromRoot('test/fixtures/biggan/other_module.pth'), { moduleStubs: STATE_DICT_STUBS }),
    /refusing pickle global 'torch\.nn\.modules\.activation\.Tanh'/,
  );
  assert.throws(() => io.readPthFileSync(fromRoot('test/fixtures/pth/malicious.pth'), { moduleStubs: STATE_DICT_STUBS }), /refusing pickle global/);
});
