// pix2pix/CycleGAN generators and discriminators against the reference implementation
// (junyanz/pytorch-CycleGAN-and-pix2pix @ da39a52): identical state-dict keys and shapes
// for every option combination, and identical eval-mode outputs once the reference's
// weights are loaded. Fixtures: test/fixtures/pix2pix/make_fixtures.py.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as torch from '../src/torch/index.js';
import * as nn from '../src/nn/index.js';
import * as io from '../src/io/index.js';
import { defineG, defineD, initWeights, type GeneratorName, type DiscriminatorName, type NormKind, type InitType } from '../src/models/pix2pix.js';
import { assertClose, assertSameDraws, fromRoot, loadJson } from './helpers.js';

interface RefCase {
  name: string;
  kind: 'G' | 'D';
  options: {
    input_nc: number; output_nc?: number; ngf?: number; netG?: GeneratorName; use_dropout?: boolean;
    ndf?: number; netD?: DiscriminatorName; n_layers_D?: number; norm: NormKind; init_type?: InitType; init_gain?: number;
  };
  file: string | null;
  keys: [string, number[]][];
}

const DIR = 'test/fixtures/pix2pix';
const index = loadJson<{ cases: RefCase[] }>(`${DIR}/index.json`);

function build(c: RefCase): nn.Module & { forward(x: torch.Tensor): torch.Tensor } {
  const o = c.options;
  const init = { initType: o.init_type, initGain: o.init_gain };
  return c.kind === 'G'
    ? defineG({ inputNc: o.input_nc, outputNc: o.output_nc!, ngf: o.ngf!, netG: o.netG!, norm: o.norm, useDropout: o.use_dropout, ...init })
    : defineD({ inputNc: o.input_nc, ndf: o.ndf!, netD: o.netD!, nLayersD: o.n_layers_D, norm: o.norm, ...init });
}

function keysOf(net: nn.Module): [string, number[]][] {
  return Object.entries(net.stateDict()).map(([k, t]) => [k, [...t.shape]]);
}

test('the fixture index covers every generator, discriminator, norm and the dropout variants', () => {
  const seen = new Set(index.cases.map((c) => `${c.options.netG ?? c.options.netD}/${c.options.norm}`));
  for (const n of ['unet_128', 'unet_256', 'resnet_6blocks', 'resnet_9blocks', 'basic', 'n_layers', 'pixel']) {
    assert.ok([...seen].some((s) => s.startsWith(`${n}/`)), `no case for ${n}`);
  }
  for (const n of ['batch', 'instance', 'none']) assert.ok([...seen].some((s) => s.endsWith(`/${n}`)), `no case for norm ${n}`);
  assert.ok(index.cases.some((c) => c.options.use_dropout && c.options.netG?.startsWith('unet')));
  assert.ok(index.cases.some((c) => c.options.use_dropout && c.options.netG?.startsWith('resnet')));
});

for (const c of index.cases) {
  test(`${c.name}: state-dict keys and shapes equal the reference's, in order`, () => {
    const net = build(c);
    try {
      assert.deepEqual(keysOf(net), c.keys);
    } finally {
      net.dispose();
    }
  });
}

for (const c of index.cases.filter((k) => k.file !== null)) {
  test(`${c.name}: the reference's weights give the reference's eval-mode output`, () => {
    const { tensors } = io.loadSafetensors(fromRoot(`${DIR}/${c.file}`));
    const net = build(c);
    try {
      const sd: nn.StateDict = {};
      for (const [k, t] of Object.entries(tensors)) if (k.startsWith('sd.')) sd[k.slice(3)] = t;
      net.loadStateDict(sd);
      net.eval();
      const x = tensors.input;
      const before = x.toTypedArray().slice();
      const y = torch.noGrad(() => net.forward(x));
      assert.deepEqual(y.shape, tensors.output.shape);
      assertClose(y.toTypedArray() as Float32Array, tensors.output.toTypedArray() as Float32Array, 1e-5, 1e-5, c.name);
      // The in-place activations inside may overwrite intermediates, never the caller's input.
      assert.deepEqual(x.toTypedArray(), before, 'forward changed its input');
      y.dispose();
    } finally {
      net.dispose();
      for (const t of Object.values(tensors)) t.dispose();
    }
  });
}

test('seeded like the reference, construction plus initWeights draws the same weights', () => {
  // make_fixtures.py seeds case i with 1000 + i before define_G / define_D, then changes
  // only biases and running statistics; the weights are as construction and init drew them.
  const full = index.cases.filter((k) => k.file !== null);
  for (const [i, c] of full.entries()) {
    torch.manualSeed(1000 + i);
    const net = build(c);
    const { tensors } = io.loadSafetensors(fromRoot(`${DIR}/${c.file}`));
    try {
      for (const [k] of net.namedParameters()) {
        if (k.endsWith('bias')) continue;
        assertSameDraws(net.stateDict()[k].toTypedArray() as Float32Array, tensors[`sd.${k}`].toTypedArray() as Float32Array, `${c.name} ${k}`);
      }
    } finally {
      net.dispose();
      for (const t of Object.values(tensors)) t.dispose();
    }
  }
});

function stats(a: ArrayLike<number>): { mean: number; std: number } {
  let s = 0, s2 = 0;
  for (let i = 0; i < a.length; i++) { s += a[i]; s2 += a[i] * a[i]; }
  const mean = s / a.length;
  return { mean, std: Math.sqrt(s2 / a.length - mean * mean) };
}

test("initWeights('normal', 0.02): conv weights N(0, 0.02), biases 0, batch-norm scales N(1, 0.02)", () => {
  const G = defineG({ inputNc: 3, outputNc: 3, ngf: 16, netG: 'resnet_6blocks', norm: 'batch', initType: 'kaiming' });
  initWeights(G, 'normal', 0.02);
  const convs: number[] = [], scales: number[] = [], biases: number[] = [];
  for (const m of G.modules()) {
    if (m instanceof nn.Conv2d || m instanceof nn.ConvTranspose2d) {
      convs.push(...(m.weight.toTypedArray() as Float32Array));
      if (m.bias) biases.push(...(m.bias.toTypedArray() as Float32Array));
    } else if (m instanceof nn.BatchNorm2d) {
      scales.push(...(m.weight!.toTypedArray() as Float32Array));
      biases.push(...(m.bias!.toTypedArray() as Float32Array));
    }
  }
  const w = stats(convs), s = stats(scales);
  assert.ok(Math.abs(w.mean) < 1e-3 && Math.abs(w.std - 0.02) < 1e-3, `conv weights mean ${w.mean} std ${w.std}`);
  assert.ok(Math.abs(s.mean - 1) < 5e-3 && Math.abs(s.std - 0.02) < 5e-3, `batch-norm scales mean ${s.mean} std ${s.std}`);
  assert.ok(biases.length > 0 && biases.every((b) => b === 0), 'biases are zero');
  // xavier and orthogonal take the gain as a scale; kaiming ignores it.
  for (const t of ['xavier', 'kaiming', 'orthogonal'] as const) initWeights(G, t, 0.02);
  G.dispose();
});

test('unknown names and bad sizes are refused with the accepted names', () => {
  const g = { inputNc: 3, outputNc: 3, ngf: 8 };
  assert.throws(() => defineG({ ...g, netG: 'unet_512' as GeneratorName }), /unknown generator 'unet_512'.*unet_128, unet_256, resnet_6blocks, resnet_9blocks/);
  assert.throws(() => defineD({ inputNc: 3, ndf: 8, netD: 'patch' as DiscriminatorName }), /unknown discriminator 'patch'.*basic, n_layers, pixel/);
  assert.throws(() => defineG({ ...g, netG: 'unet_128', norm: 'group' as NormKind }), /unknown normalisation 'group'/);
  assert.throws(() => defineG({ ...g, netG: 'unet_128', initType: 'uniform' as 'normal' }), /unknown initialisation 'uniform'/);
  assert.throws(() => defineG({ ...g, ngf: 0, netG: 'unet_128' }), /ngf must be a positive integer/);
  const U = defineG({ ...g, ngf: 2, netG: 'unet_128', norm: 'instance' });
  assert.throws(() => torch.noGrad(() => U.forward(torch.zeros([1, 3, 64, 64]))), /multiple of 128/);
  U.dispose();
});

test('dropout variants: active in training (outputs vary), off in eval (outputs repeat)', () => {
  const G = defineG({ inputNc: 1, outputNc: 1, ngf: 2, netG: 'resnet_6blocks', norm: 'instance', useDropout: true });
  const x = torch.randn([1, 1, 16, 16]);
  torch.noGrad(() => {
    G.train();
    const a = G.forward(x), b = G.forward(x);
    assert.ok(a.sub(b).abs().max().item() > 0, 'training-mode dropout should make two passes differ');
    G.eval();
    const c = G.forward(x), d = G.forward(x);
    assert.equal(c.sub(d).abs().max().item(), 0);
  });
  G.dispose();
});

test('a U-Net trains: gradients reach every parameter through the skips', () => {
  const G = defineG({ inputNc: 2, outputNc: 1, ngf: 2, netG: 'unet_128', norm: 'batch', useDropout: true });
  const x = torch.randn([2, 2, 128, 128]);
  const loss = G.forward(x).square().mean();
  const grads = torch.grad(loss, G.parameters());
  for (const [i, [k]] of G.namedParameters().entries()) {
    assert.ok(grads[i] && grads[i].abs().sum().item() > 0, `no gradient for ${k}`);
  }
  G.dispose();
});
