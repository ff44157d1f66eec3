// PGGAN's G_paper / D_paper (src/models/pggan.ts) and process_reals
// (src/recipes/pggan_reals.ts): keys, shapes at every lod, the recursive structure against
// the original's 'linear' formula written out here, proof that inactive layers neither
// run nor get gradients, parameter counts of the full 1024² networks, and no leaks.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Tensor, F, randn, rand, manualSeed, scope, noGrad, liveTensors, fromTypedArray } from '../src/torch/index.js';
import * as nn from '../src/nn/index.js';
import { PGGANGenerator, PGGANDiscriminator, Dense4x4, nf, maxLod, pgganConfig, type PGGANConfig } from '../src/models/pggan.js';
import { processReals } from '../src/families/progressive/reals.js';
import { assertClose } from './helpers.js';

// nf: 128 / 2^s capped at 16 → stages 0..4 = 16, 16, 16, 16, 8 (32×32 block has 8 maps).
const TINY: Partial<PGGANConfig> & { resolution: number } = { resolution: 32, latentSize: 16, fmapBase: 128, fmapMax: 16, numChannels: 3 };
const LODS = [0, 0.25, 0.5, 1, 1.5, 2, 2.75, 3];

function vals(t: Tensor): Float32Array {
  return t.toTypedArray() as Float32Array;
}

// ---- the original's 'linear' structure, written out independently ----

const lerpClip = (a: Tensor, b: Tensor, t: number): Tensor => a.add(b.sub(a).mul(Math.min(Math.max(t, 0), 1)));
const up2 = (x: Tensor): Tensor => F.interpolate(x, { scaleFactor: 2, mode: 'nearest' });
const down2 = (x: Tensor): Tensor => F.avgPool2d(x, 2);

function linearG(G: PGGANGenerator, z: Tensor, labels: Tensor | null, lod: number): Tensor {
  return scope(() => {
    const L = G.resolutionLog2;
    let x = G.blocks[0].forward(labels ? catLabels(z, labels) : z);
    let out = G.toRGB[0].forward(x);
    for (let res = 3; res <= L; res++) {
      const lodR = L - res;
      x = G.blocks[res - 2].forward(x);
      const img = G.toRGB[res - 2].forward(x);
      out = lerpClip(img, up2(out), lod - lodR);
    }
    return out;
  });
}

function catLabels(z: Tensor, labels: Tensor): Tensor {
  const zs = vals(z), ls = vals(labels);
  const [n, a] = z.shape, b = labels.shape[1];
  const out = new Float32Array(n * (a + b));
  for (let i = 0; i < n; i++) {
    out.set(zs.subarray(i * a, (i + 1) * a), i * (a + b));
    out.set(ls.subarray(i * b, (i + 1) * b), i * (a + b) + a);
  }
  return fromTypedArray(out, [n, a + b]);
}

function linearD(D: PGGANDiscriminator, images: Tensor, lod: number): Tensor {
  return scope(() => {
    const L = D.resolutionLog2;
    const rgb = (res: number, img: Tensor): Tensor => F.leakyRelu(D.fromRGB[res - 2].forward(img), 0.2);
    let img = images;
    let x = rgb(L, img);
    for (let res = L; res > 2; res--) {
      const lodR = L - res;
      x = D.blocks[res - 2].forward(x);
      img = down2(img);
      x = lerpClip(x, rgb(res - 1, img), lod - lodR);
    }
    return D.blocks[0].forward(x);
  });
}

/** Counts calls of each module's forward (by its state-dict name), restoring them after `fn`. */
function countCalls<T>(net: nn.Module, fn: () => T): [T, Map<string, number>] {
  const counts = new Map<string, number>();
  const saved: [nn.Module, unknown][] = [];
  for (const [name, m] of net.namedModules()) {
    if (name === '') continue;
    counts.set(name, 0);
    const orig = m.forward;
    saved.push([m, Object.getOwnPropertyDescriptor(m, 'forward')]);
    (m as { forward: unknown }).forward = function (this: nn.Module, ...args: unknown[]) {
      counts.set(name, counts.get(name)! + 1);
      return orig.apply(this, args);
    };
  }
  try {
    return [fn(), counts];
  } finally {
    for (const [m] of saved) delete (m as { forward?: unknown }).forward;
  }
}

function withGradNames(net: nn.Module): { withGrad: string[]; without: string[] } {
  const withGrad: string[] = [], without: string[] = [];
  for (const [k, p] of net.namedParameters()) {
    const g = p.grad;
    (g === null ? without : withGrad).push(k);
    g?.dispose();
    p.grad = null;
  }
  return { withGrad, without };
}

// ---- tests ----

test('nf(): min(⌊fmap_base / 2^(stage·decay)⌋, fmap_max), as the original', () => {
  assert.deepEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9].map((s) => nf(s)), [512, 512, 512, 512, 512, 256, 128, 64, 32, 16]);
  assert.deepEqual([0, 1, 2, 3, 4, 5].map((s) => nf(s, { fmapBase: 128, fmapDecay: 1, fmapMax: 16 })), [16, 16, 16, 16, 8, 4]);
  assert.deepEqual([0, 2, 4].map((s) => nf(s, { fmapBase: 1000, fmapDecay: 0.5, fmapMax: 4096 })), [1000, 500, 250]);
  assert.equal(maxLod(1024), 8);
  assert.throws(() => pgganConfig({ resolution: 48 }), /power of two/);
  assert.throws(() => pgganConfig({ resolution: 2 }), /power of two/);
});

test('state-dict keys follow the original variable scopes, with PyTorch weight layouts', () => {
  manualSeed(0);
  const G = new PGGANGenerator({ ...TINY, labelSize: 2 });
  const D = new PGGANDiscriminator({ ...TINY, labelSize: 2 });
  try {
    const g = Object.fromEntries(Object.entries(G.stateDict()).map(([k, t]) => [k, t.shape]));
    assert.deepEqual(Object.keys(g), [
      '4x4.Dense.weight', '4x4.Dense.bias', '4x4.Conv.weight', '4x4.Conv.bias', 'ToRGB_lod3.weight', 'ToRGB_lod3.bias',
      '8x8.Conv0_up.weight', '8x8.Conv0_up.bias', '8x8.Conv1.weight', '8x8.Conv1.bias', 'ToRGB_lod2.weight', 'ToRGB_lod2.bias',
      '16x16.Conv0_up.weight', '16x16.Conv0_up.bias', '16x16.Conv1.weight', '16x16.Conv1.bias', 'ToRGB_lod1.weight', 'ToRGB_lod1.bias',
      '32x32.Conv0_up.weight', '32x32.Conv0_up.bias', '32x32.Conv1.weight', '32x32.Conv1.bias', 'ToRGB_lod0.weight', 'ToRGB_lod0.bias',
    ]);
    assert.deepEqual(g['4x4.Dense.weight'], [16 * 16, 16 + 2]); // latent + label → nf(1)·16
    assert.deepEqual(g['4x4.Dense.bias'], [16]); // one bias per feature map, as the original
    const dense = G.blocks[0].layers[0][1] as Dense4x4;
    assert.ok(dense instanceof Dense4x4);
    assert.ok(Math.abs(dense.weightGain - Math.SQRT2 / 4 / Math.sqrt(18)) < 1e-12, 'the Dense gain is √2/4 over √fan_in');
    assert.deepEqual(g['32x32.Conv0_up.weight'], [8, 16, 3, 3]);
    assert.deepEqual(g['ToRGB_lod0.weight'], [3, 8, 1, 1]);
    const d = Object.fromEntries(Object.entries(D.stateDict()).map(([k, t]) => [k, t.shape]));
    assert.deepEqual(Object.keys(d), [
      'FromRGB_lod0.weight', 'FromRGB_lod0.bias', '32x32.Conv0.weight', '32x32.Conv0.bias', '32x32.Conv1_down.weight', '32x32.Conv1_down.bias',
      'FromRGB_lod1.weight', 'FromRGB_lod1.bias', '16x16.Conv0.weight', '16x16.Conv0.bias', '16x16.Conv1_down.weight', '16x16.Conv1_down.bias',
      'FromRGB_lod2.weight', 'FromRGB_lod2.bias', '8x8.Conv0.weight', '8x8.Conv0.bias', '8x8.Conv1_down.weight', '8x8.Conv1_down.bias',
      'FromRGB_lod3.weight', 'FromRGB_lod3.bias', '4x4.Conv.weight', '4x4.Conv.bias', '4x4.Dense0.weight', '4x4.Dense0.bias', '4x4.Dense1.weight', '4x4.Dense1.bias',
    ]);
    assert.deepEqual(d['32x32.Conv1_down.weight'], [16, 8, 3, 3]);
    assert.deepEqual(d['4x4.Conv.weight'], [16, 17, 3, 3]); // + the minibatch-stddev channel
    assert.deepEqual(d['4x4.Dense0.weight'], [16, 16 * 16]);
    assert.deepEqual(d['4x4.Dense1.weight'], [1 + 2, 16]);
    // Biases start at zero, weights N(0, 1) (equalized learning rate).
    assert.equal(vals(G.stateDict()['8x8.Conv1.bias']).every((v) => v === 0), true);
  } finally {
    G.dispose();
    D.dispose();
  }
  const G2 = new PGGANGenerator({ ...TINY, resolution: 8, fusedScale: false });
  const D2 = new PGGANDiscriminator({ ...TINY, resolution: 8, fusedScale: false, mbstdGroupSize: 0 });
  try {
    assert.ok('8x8.Conv0.weight' in G2.stateDict() && !('8x8.Conv0_up.weight' in G2.stateDict()));
    assert.ok('8x8.Conv1.weight' in D2.stateDict() && !('8x8.Conv1_down.weight' in D2.stateDict()));
    assert.deepEqual(D2.stateDict()['4x4.Conv.weight'].shape, [16, 16, 3, 3]);
  } finally {
    G2.dispose();
    D2.dispose();
  }
});

test('G and D shapes at every lod, conditional and not', () => {
  manualSeed(1);
  for (const labelSize of [0, 3]) {
    const G = new PGGANGenerator({ ...TINY, labelSize });
    const D = new PGGANDiscriminator({ ...TINY, labelSize });
    try {
      scope(() => {
        const z = randn(4, 16);
        const labels = labelSize ? F.oneHot(fromTypedArray(new BigInt64Array([0n, 1n, 2n, 0n]), [4]), 3).float() : null;
        for (const lod of LODS) {
          const img = noGrad(() => G.forward(z, labels, lod));
          assert.deepEqual(img.shape, [4, 3, 32, 32], `G at lod ${lod}`);
          const out = noGrad(() => D.forward(img, lod));
          assert.deepEqual(out.scores.shape, [4, 1], `D scores at lod ${lod}`);
          if (labelSize) assert.deepEqual(out.labels!.shape, [4, 3]);
          else assert.equal(out.labels, null);
        }
        assert.throws(() => G.forward(z, labels, -0.5), /lod/);
        assert.throws(() => G.forward(z, labels, 3.5), /lod/);
        assert.throws(() => D.forward(randn(4, 3, 16, 16), 0), /32, 32/);
        if (labelSize) assert.throws(() => G.forward(z, null, 0), /conditional/);
      });
    } finally {
      G.dispose();
      D.dispose();
    }
  }
});

test("G's recursive structure equals the 'linear' structure's formula at every lod (1.0, 0.5, 0.0 and others)", () => {
  manualSeed(2);
  for (const labelSize of [0, 2]) {
    const G = new PGGANGenerator({ ...TINY, labelSize });
    // Non-zero biases, so the check covers them too.
    noGrad(() => { for (const p of G.parameters()) if (p.ndim === 1) p.normal_(0, 0.1); });
    try {
      scope(() => {
        const z = randn(3, 16);
        const labels = labelSize ? rand(3, labelSize) : null;
        for (const lod of [1, 0.5, 0, ...LODS]) {
          const a = noGrad(() => G.forward(z, labels, lod));
          const b = noGrad(() => linearG(G, z, labels, lod));
          assert.deepEqual(a.shape, b.shape);
          assertClose(vals(a), vals(b), 1e-5, 1e-5, `G lod ${lod} labels ${labelSize}`);
        }
        // A fractional lod really is a blend: lod 0.5 differs from both neighbours.
        const [h, m, l] = [0, 0.5, 1].map((lod) => noGrad(() => G.forward(z, labels, lod)));
        assert.ok(!m.allclose(h, 1e-3, 1e-3) && !m.allclose(l, 1e-3, 1e-3));
        assertClose(vals(m), vals(h.add(l).mul(0.5)), 1e-5, 1e-5, 'lod 0.5 is the mean of lod 0 and 1');
      });
    } finally {
      G.dispose();
    }
  }
});

test("D's recursive structure equals the 'linear' structure's formula at every lod", () => {
  manualSeed(3);
  for (const labelSize of [0, 2]) {
    const D = new PGGANDiscriminator({ ...TINY, labelSize });
    noGrad(() => { for (const p of D.parameters()) if (p.ndim === 1) p.normal_(0, 0.1); });
    try {
      scope(() => {
        const x = randn(8, 3, 32, 32);
        for (const lod of [1, 0.5, 0, ...LODS]) {
          const a = noGrad(() => D.forward(x, lod));
          const b = noGrad(() => linearD(D, x, lod));
          assertClose(vals(a.scores), vals(b.slice(1, 0, 1)), 1e-5, 1e-5, `D scores lod ${lod}`);
          if (labelSize) assertClose(vals(a.labels!), vals(b.slice(1, 1)), 1e-5, 1e-5, `D labels lod ${lod}`);
        }
      });
    } finally {
      D.dispose();
    }
  }
});

test('at an integer lod the inactive layers of G and D are not called and get no gradient', () => {
  manualSeed(4);
  const G = new PGGANGenerator(TINY);
  const D = new PGGANDiscriminator(TINY);
  try {
    // lod 1 of a 32² model: the 16×16 level. G runs 4x4, 8x8, 16x16 and ToRGB_lod1 only.
    const [, gCalls] = countCalls(G, () => scope(() => G.forward(randn(4, 16), null, 1).square().mean().backward()));
    const ran = (c: Map<string, number>) => [...c].filter(([k, n]) => n > 0 && !k.includes('.')).map(([k]) => k).sort();
    assert.deepEqual(ran(gCalls), ['16x16', '4x4', '8x8', 'ToRGB_lod1']);
    const g = withGradNames(G);
    assert.deepEqual(g.without.sort(), ['32x32.Conv0_up.bias', '32x32.Conv0_up.weight', '32x32.Conv1.bias', '32x32.Conv1.weight',
      'ToRGB_lod0.bias', 'ToRGB_lod0.weight', 'ToRGB_lod2.bias', 'ToRGB_lod2.weight', 'ToRGB_lod3.bias', 'ToRGB_lod3.weight']);
    // D at lod 1: FromRGB_lod1 then the 16x16, 8x8 and 4x4 blocks.
    const [, dCalls] = countCalls(D, () => scope(() => D.forward(randn(4, 3, 32, 32), 1).scores.mean().backward()));
    assert.deepEqual(ran(dCalls), ['16x16', '4x4', '8x8', 'FromRGB_lod1']);
    const d = withGradNames(D);
    assert.deepEqual(d.without.sort(), ['32x32.Conv0.bias', '32x32.Conv0.weight', '32x32.Conv1_down.bias', '32x32.Conv1_down.weight',
      'FromRGB_lod0.bias', 'FromRGB_lod0.weight', 'FromRGB_lod2.bias', 'FromRGB_lod2.weight', 'FromRGB_lod3.bias', 'FromRGB_lod3.weight']);

    // lod 1.5: fading 8x8 → 16x16; both ToRGB/FromRGB of the pair run, nothing of 32x32.
    const [, gc] = countCalls(G, () => scope(() => G.forward(randn(4, 16), null, 1.5).square().mean().backward()));
    assert.deepEqual(ran(gc), ['16x16', '4x4', '8x8', 'ToRGB_lod1', 'ToRGB_lod2']);
    assert.equal(withGradNames(G).without.filter((k) => !k.startsWith('32x32') && !/lod[03]/.test(k)).length, 0);
    const [, dc] = countCalls(D, () => scope(() => D.forward(randn(4, 3, 32, 32), 1.5).scores.mean().backward()));
    assert.deepEqual(ran(dc), ['16x16', '4x4', '8x8', 'FromRGB_lod1', 'FromRGB_lod2']);
    withGradNames(D);

    // lod 0: every block; only the full-resolution ToRGB / FromRGB.
    const [, g0] = countCalls(G, () => noGrad(() => scope(() => G.forward(randn(4, 16), null, 0))));
    assert.deepEqual(ran(g0), ['16x16', '32x32', '4x4', '8x8', 'ToRGB_lod0']);
    const [, d3] = countCalls(D, () => noGrad(() => scope(() => D.forward(randn(4, 3, 32, 32), 3))));
    assert.deepEqual(ran(d3), ['4x4', 'FromRGB_lod3']);
  } finally {
    G.dispose();
    D.dispose();
  }
});

test('processReals at a fractional lod equals a direct computation; mirror augment flips whole images', () => {
  manualSeed(5);
  const [n, c, h, w] = [3, 2, 8, 8];
  scope(() => {
    const x = rand(n, c, h, w).mul(2).sub(1);
    const xs = vals(x);
    const lod = 2.25; // input at full >> 2; output ×4
    const y = processReals(x, lod, false);
    assert.deepEqual(y.shape, [n, c, 32, 32]);
    const ys = vals(y);
    const at = (b: number, ch: number, i: number, j: number) => xs[((b * c + ch) * h + i) * w + j];
    for (let b = 0; b < n; b++) for (let ch = 0; ch < c; ch++) for (let i = 0; i < 32; i++) for (let j = 0; j < 32; j++) {
      const si = i >> 2, sj = j >> 2;
      const bi = si & ~1, bj = sj & ~1;
      const avg = (at(b, ch, bi, bj) + at(b, ch, bi + 1, bj) + at(b, ch, bi, bj + 1) + at(b, ch, bi + 1, bj + 1)) / 4;
      const want = at(b, ch, si, sj) + (avg - at(b, ch, si, sj)) * 0.25;
      const got = ys[((b * c + ch) * 32 + i) * 32 + j];
      assert.ok(Math.abs(got - want) < 1e-6, `processReals at [${b},${ch},${i},${j}]: ${got} vs ${want}`);
    }
    // Integer lod: a plain nearest upscale; lod 0: a copy.
    assert.ok(processReals(x, 1, false).equal(up2(x)));
    const same = processReals(x, 0, false);
    assert.ok(same.equal(x) && same !== x);
    // Mirror: every image is either itself or its left-right flip, and with 64 images both occur.
    const many = rand(64, 1, 4, 4);
    const m = processReals(many, 0, true);
    let flipped = 0;
    for (let b = 0; b < 64; b++) {
      const a = m.select(0, b), orig = many.select(0, b);
      if (a.equal(orig.flip(2))) flipped++;
      else assert.ok(a.equal(orig), `image ${b} is neither itself nor its mirror`);
    }
    assert.ok(flipped > 10 && flipped < 54, `flipped ${flipped} of 64`);
    assert.throws(() => processReals(x, -1, false), /lod/);
  });
});

test("fusedScale off in G (nearest upscale + conv) computes what the fused transposed conv does", () => {
  // (Not so in D: unfused, the original applies bias and leaky ReLU before the box
  // downscale, fused after it, so the two differ by design.)
  manualSeed(8);
  const Gf = new PGGANGenerator({ ...TINY, resolution: 16 }), Gs = new PGGANGenerator({ ...TINY, resolution: 16, fusedScale: false });
  try {
    scope(() => {
      // The fused transposed conv equals upscale + conv with the kernel flipped in both axes (TF's conv2d_transpose).
      const gsd: nn.StateDict = {};
      for (const [k, t] of Object.entries(Gf.stateDict())) gsd[k.replace('Conv0_up', 'Conv0')] = k.includes('Conv0_up.weight') ? t.flip(2, 3) : t;
      Gs.loadStateDict(gsd);
      const z = randn(4, 16);
      for (const lod of [0, 0.5, 1, 1.75, 2]) {
        assertClose(vals(noGrad(() => Gs.forward(z, null, lod))), vals(noGrad(() => Gf.forward(z, null, lod))), 1e-4, 1e-5, `G lod ${lod}`);
      }
    });
  } finally {
    Gf.dispose();
    Gs.dispose();
  }
});

test('useWscale off: no run-time scale, weights drawn N(0, gain²/fan_in)', () => {
  manualSeed(6);
  const G = new PGGANGenerator({ ...TINY, fmapBase: 2048, fmapMax: 64, resolution: 8, useWscale: false });
  try {
    const conv = G.blocks[1].layers.find(([k]) => k === 'Conv1')![1] as nn.EqualizedConv2d;
    assert.equal(conv.weightGain, 1);
    const std = Math.sqrt(vals(conv.weight).reduce((s, v) => s + v * v, 0) / conv.weight.numel);
    assert.ok(Math.abs(std - Math.SQRT2 / Math.sqrt(64 * 9)) < 0.005, `std ${std}`);
    noGrad(() => scope(() => assert.deepEqual(G.forward(randn(2, 16), null, 0).shape, [2, 3, 8, 8])));
  } finally {
    G.dispose();
  }
});

test('the full 1024² networks have the original parameter counts (23.1M each, PGGAN paper Table 2)', () => {
  // Computed from networks.py's variable shapes (weights and biases per layer) in Python:
  // G_paper 23,079,115 and D_paper 23,087,249 at resolution 1024, latent 512, 3 channels.
  const G = new PGGANGenerator({ resolution: 1024 });
  try {
    assert.equal(G.numParameters(), 23_079_115);
  } finally {
    G.dispose();
  }
  const D = new PGGANDiscriminator({ resolution: 1024 });
  try {
    assert.equal(D.numParameters(), 23_087_249);
  } finally {
    D.dispose();
  }
});

test('a training-style step (processReals, G, D, losses, backward) inside scope() leaves no live tensors', () => {
  manualSeed(7);
  const G = new PGGANGenerator({ ...TINY, labelSize: 2 });
  const D = new PGGANDiscriminator({ ...TINY, labelSize: 2 });
  try {
    const step = (lod: number) => scope(() => {
      const labels = rand(4, 2);
      const reals = processReals(rand(4, 3, 32 >> Math.floor(lod), 32 >> Math.floor(lod)).mul(2).sub(1), lod, true);
      const fakes = G.forward(randn(4, 16), labels, lod);
      const r = D.forward(reals, lod), f = D.forward(fakes, lod);
      const loss = f.scores.mean().sub(r.scores.mean()).add(r.scores.square().mean().mul(0.001)).add(r.labels!.sub(labels).square().mean());
      loss.backward();
      return loss.item();
    });
    // (grads live in the parameters, not as handles)
    const before = liveTensors();
    for (const lod of [1.5, 0, 3, 2.5, 1]) assert.ok(Number.isFinite(step(lod)));
    assert.equal(liveTensors(), before);
  } finally {
    G.dispose();
    D.dispose();
  }
});
