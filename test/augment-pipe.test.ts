// ADA's augmentation pipeline (src/augment/augment_pipe.ts): the whole pipe against the
// reference's AugmentPipe seeded alike (test/fixtures/augment/make_augment_fixture.py),
// each transform's matrix against its definition, the colour execution against a
// per-pixel computation, the resampling against exact flips, rotations and shifts of a
// smooth image, and gradients with respect to the images against finite differences.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as torch from '../src/torch/index.js';
import { Tensor } from '../src/torch/index.js';
import { io } from '../src/index.js';
import { AugmentPipe, AUGPIPES, LUMA, applyColor, applyFilter, filterBank, type AugpipeName } from '../src/augment/augment_pipe.js';
import { assertClose, fromRoot } from './helpers.js';
import { numericGrad } from './grad-helpers.js';

const values = (t: Tensor): number[] => Array.from(t.to('float64').contiguous().toTypedArray() as Float64Array);

/** The fixture's cases: (case, pipe, input), as make_augment_fixture.py's CASES. */
const CASES: [string, AugpipeName, string][] = [
  ['blit', 'blit', 'x'], ['geom', 'geom', 'x'], ['color', 'color', 'x'], ['noise', 'noise', 'x'], ['cutout', 'cutout', 'x'],
  ['bgc', 'bgc', 'x'], ['bgc_p0', 'bgc', 'x'], ['bgc_grey', 'bgc', 'grey'], ['filter', 'filter', 'big'], ['bgcfnc', 'bgcfnc', 'big'],
];

test('each pipe equals the reference AugmentPipe under the same seed and p', () => {
  torch.scope(() => {
    const { tensors: fx } = io.loadSafetensors(fromRoot('test/fixtures/augment/augment.safetensors'));
    for (const [name, pipeName, input] of CASES) {
      const [seed, p] = values(fx[`${name}.meta`]);
      const pipe = AugmentPipe.named(pipeName);
      try {
        pipe.p = p;
        torch.manualSeed(seed);
        const y = pipe.forward(fx[input]);
        assert.deepEqual(y.shape, fx[`${name}.y`].shape, name);
        assertClose(values(y), values(fx[`${name}.y`]), 1e-4, 1e-4, name);
      } finally {
        pipe.dispose();
      }
    }
  });
});

/** A pipe of one augmentation (multiplier 1) at probability p. */
function only(name: string, p = 1): AugmentPipe {
  const pipe = new AugmentPipe({ [name]: 1 });
  pipe.p = p;
  return pipe;
}

/** The [B, R, C] matrices as arrays of rows. */
const mats = (t: Tensor): number[][][] => t.to('float64').toArray() as number[][][];

function withPipe<T>(pipe: AugmentPipe, fn: (p: AugmentPipe) => T): T {
  try {
    return torch.scope(() => fn(pipe));
  } finally {
    pipe.dispose();
  }
}

test('blits: xflip mirrors x in half the images, rotate90 turns by a quarter turn k ∈ {0..3}, xint shifts by whole pixels', () => {
  torch.manualSeed(5);
  withPipe(only('xflip'), (pipe) => {
    const G = mats(pipe.sample([2000, 3, 16, 16]).G!);
    const flipped = G.filter((g) => g[0][0] === -1).length;
    for (const g of G) assert.deepEqual(g, [[g[0][0], 0, 0], [0, 1, 0], [0, 0, 1]]);
    assert.ok(G.every((g) => g[0][0] === 1 || g[0][0] === -1));
    assert.ok(flipped > 900 && flipped < 1100, `${flipped} of 2000 flipped`);
  });
  withPipe(only('rotate90'), (pipe) => {
    const G = mats(pipe.sample([2000, 3, 16, 16]).G!);
    const counts = [0, 0, 0, 0];
    for (const g of G) {
      // Rounded entries are a rotation by kπ/2; the float32 cosines are off by at most ~1e-7.
      const r = g.map((row) => row.map((v) => Math.round(v)));
      const k = [[1, 0], [0, 1], [-1, 0], [0, -1]].findIndex(([c, s]) => r[0][0] === c && r[1][0] === s);
      assert.ok(k >= 0 && r[0][1] === -r[1][0] && r[1][1] === r[0][0], JSON.stringify(g));
      assertClose(g.flat(), r.flat(), 0, 2e-7);
      counts[k]++;
    }
    assert.ok(counts.every((c) => c > 420 && c < 580), `quarter turns ${counts}`);
  });
  withPipe(only('xint'), (pipe) => {
    const G = mats(pipe.sample([500, 3, 16, 24]).G!);
    for (const g of G) {
      assert.deepEqual([g[0][0], g[0][1], g[1][0], g[1][1]], [1, 0, 0, 1]);
      assert.ok(Number.isInteger(g[0][2]) && Math.abs(g[0][2]) <= Math.round(0.125 * 24) && Number.isInteger(g[1][2]) && Math.abs(g[1][2]) <= Math.round(0.125 * 16));
    }
    assert.ok(G.some((g) => g[0][2] !== 0));
  });
});

test('general geometry: scale is isotropic, aniso has determinant 1, rotate is orthogonal, xfrac only translates', () => {
  torch.manualSeed(6);
  withPipe(only('scale'), (pipe) => {
    for (const g of mats(pipe.sample([200, 3, 8, 8]).G!)) {
      assert.ok(g[0][0] > 0 && Math.abs(g[0][0] - g[1][1]) < 1e-6 && g[0][1] === 0 && g[1][0] === 0);
    }
  });
  withPipe(only('aniso'), (pipe) => {
    for (const g of mats(pipe.sample([200, 3, 8, 8]).G!)) assertClose([g[0][0] * g[1][1]], [1], 1e-6, 0);
  });
  withPipe(only('rotate'), (pipe) => {
    let turned = 0;
    for (const g of mats(pipe.sample([200, 3, 8, 8]).G!)) {
      const [a, b, c, d] = [g[0][0], g[0][1], g[1][0], g[1][1]];
      assertClose([a * a + c * c, b * b + d * d, a * b + c * d, a * d - b * c], [1, 1, 0, 1], 0, 1e-6);
      if (Math.abs(a - 1) > 1e-6) turned++;
    }
    // At p = 1 one of the two rotations (pre- or post-anisotropy) always happens.
    assert.ok(turned > 190, `${turned} of 200 rotated`);
  });
  withPipe(only('xfrac'), (pipe) => {
    for (const g of mats(pipe.sample([200, 3, 8, 8]).G!)) assert.deepEqual([g[0][0], g[0][1], g[1][0], g[1][1], g[2][2]], [1, 0, 0, 1, 1]);
  });
});

test('at p = 0 every transform is the identity, and the resampling then returns the image', () => {
  torch.manualSeed(7);
  withPipe(AugmentPipe.named('bgc'), (pipe) => {
    const t = pipe.sample([4, 3, 12, 12]);
    assertClose(values(t.G!), values(torch.eye(3).expand(4, 3, 3)), 0, 1e-7);
    assertClose(values(t.C!), values(torch.eye(4).expand(4, 4, 4)), 0, 1e-7);
    // The sym6 up/down pair is orthogonal: with the identity map the image comes back.
    const x = torch.rand([4, 3, 12, 12], { dtype: 'float64' });
    assertClose(values(pipe.apply(x, t)), values(x), 0, 1e-6);
  });
});

test('colour matrices: brightness translates, contrast scales, lumaflip reflects the luma axis, hue rotates about it, saturation scales across it', () => {
  torch.manualSeed(8);
  const v = LUMA.slice(0, 3);
  const mul = (m: number[][], x: number[]): number[] => m.map((row) => row.reduce((s, a, i) => s + a * (i < 3 ? x[i] : x.length > 3 ? x[3] : 0), 0));
  const u = [1 / Math.sqrt(2), -1 / Math.sqrt(2), 0]; // orthogonal to the luma axis
  withPipe(only('brightness'), (pipe) => {
    for (const c of mats(pipe.sample([50, 3, 4, 4]).C!)) {
      const b = c[0][3];
      assertClose(c.flat(), [1, 0, 0, b, 0, 1, 0, b, 0, 0, 1, b, 0, 0, 0, 1], 0, 0);
    }
  });
  withPipe(only('contrast'), (pipe) => {
    for (const c of mats(pipe.sample([50, 3, 4, 4]).C!)) {
      const k = c[0][0];
      assert.ok(k > 0);
      assertClose(c.flat(), [k, 0, 0, 0, 0, k, 0, 0, 0, 0, k, 0, 0, 0, 0, 1], 0, 0);
    }
  });
  withPipe(only('lumaflip'), (pipe) => {
    let flips = 0;
    for (const c of mats(pipe.sample([400, 3, 4, 4]).C!)) {
      const cv = mul(c.slice(0, 3), [...v, 0]);
      const flipped = cv[0] < 0;
      if (flipped) flips++;
      assertClose(cv, v.map((a) => (flipped ? -a : a)), 0, 1e-6);
      assertClose(mul(c.slice(0, 3), [...u, 0]), u, 0, 1e-6);
    }
    assert.ok(flips > 160 && flips < 240, `${flips} of 400 luma flips`);
  });
  withPipe(only('hue'), (pipe) => {
    for (const c of mats(pipe.sample([100, 3, 4, 4]).C!)) {
      const r = c.slice(0, 3).map((row) => row.slice(0, 3));
      assertClose(mul(r, v), v, 0, 1e-6); // the axis stays
      const ru = mul(r, u);
      assertClose([ru.reduce((s, a) => s + a * a, 0), ru.reduce((s, a, i) => s + a * v[i], 0)], [1, 0], 0, 1e-6); // a rotation within the plane
      const det = r[0][0] * (r[1][1] * r[2][2] - r[1][2] * r[2][1]) - r[0][1] * (r[1][0] * r[2][2] - r[1][2] * r[2][0]) + r[0][2] * (r[1][0] * r[2][1] - r[1][1] * r[2][0]);
      assertClose([det], [1], 0, 1e-5);
      assert.deepEqual(c[3], [0, 0, 0, 1]);
    }
  });
  withPipe(only('saturation'), (pipe) => {
    for (const c of mats(pipe.sample([100, 3, 4, 4]).C!)) {
      const r = c.slice(0, 3).map((row) => row.slice(0, 3));
      assertClose(mul(r, v), v, 0, 1e-6);
      const ru = mul(r, u);
      const s = ru[0] / u[0];
      assert.ok(s > 0);
      assertClose(ru, u.map((a) => a * s), 0, 1e-6);
    }
  });
  // Greyscale images get no hue or saturation (no draws either).
  withPipe(only('hue'), (pipe) => assert.equal(pipe.sample([4, 1, 4, 4]).C, null));
});

test('each augmentation happens with probability multiplier × p', () => {
  torch.manualSeed(9);
  const pipe = new AugmentPipe({ brightness: 0.5 });
  pipe.p = 0.6;
  withPipe(pipe, () => {
    const c = mats(pipe.sample([4000, 3, 4, 4]).C!);
    const n = c.filter((m) => m[0][3] !== 0).length;
    assert.ok(Math.abs(n / 4000 - 0.3) < 0.03, `${n} of 4000 brightened, expected about 1200`);
  });
});

test('the colour matrix acts on every pixel as C·(r, g, b, 1); greyscale takes the mean of its RGB rows', () => {
  torch.scope(() => {
    torch.manualSeed(10);
    const x = torch.randn([2, 3, 3, 2], { dtype: 'float64' });
    const C = torch.randn([2, 4, 4]);
    const y = values(applyColor(x, C));
    const X = x.toArray() as number[][][][], M = mats(C);
    const want: number[] = [];
    for (let b = 0; b < 2; b++) for (let ch = 0; ch < 3; ch++) for (let i = 0; i < 3; i++) for (let j = 0; j < 2; j++) {
      want.push(M[b][ch][0] * X[b][0][i][j] + M[b][ch][1] * X[b][1][i][j] + M[b][ch][2] * X[b][2][i][j] + M[b][ch][3]);
    }
    assertClose(y, want, 1e-6, 1e-6);
    const g = torch.randn([2, 1, 2, 2], { dtype: 'float64' });
    const G = g.toArray() as number[][][][];
    const yg = values(applyColor(g, C));
    const wantG: number[] = [];
    for (let b = 0; b < 2; b++) {
      const row = [0, 1, 2, 3].map((k) => (M[b][0][k] + M[b][1][k] + M[b][2][k]) / 3);
      for (let i = 0; i < 2; i++) for (let j = 0; j < 2; j++) wantG.push(G[b][0][i][j] * (row[0] + row[1] + row[2]) + row[3]);
    }
    assertClose(yg, wantG, 1e-6, 1e-6);
    assert.throws(() => applyColor(torch.zeros([1, 2, 2, 2]), C.narrow(0, 0, 1)), /RGB \(3 channels\) or greyscale/);
  });
});

/** A smooth image (a few low frequencies), where the resampling's filters are nearly transparent. */
function smooth(B: number, H: number, W: number): Tensor {
  const yy = torch.arange(0, H, 1, { dtype: 'float64' }).reshape(1, 1, H, 1).add(0.5).div(H);
  const xx = torch.arange(0, W, 1, { dtype: 'float64' }).reshape(1, 1, 1, W).add(0.5).div(W);
  const ph = torch.arange(0, B * 3, 1, { dtype: 'float64' }).reshape(B, 3, 1, 1);
  return xx.mul(2 * Math.PI).add(ph).sin().mul(yy.mul(Math.PI).add(ph.mul(0.7)).cos()).mul(0.8);
}

test('the resampling flips, turns and shifts a smooth image as the exact pixel operations do', () => {
  torch.scope(() => {
    const pipe = AugmentPipe.named('blit');
    try {
      const x = smooth(1, 24, 24);
      const m = (rows: number[][]) => torch.tensor([rows], { dtype: 'float32' });
      const params = (G: Tensor) => ({ G, C: null, filter: null, noise: null, cutout: null });
      const err = (a: Tensor, b: Tensor) => a.sub(b).abs().amax().item();
      // G maps output pixels to input pixels (centred): x ↦ −x mirrors, (x, y) ↦ (y, −x) is a quarter turn.
      const flip = pipe.apply(x, params(m([[-1, 0, 0], [0, 1, 0], [0, 0, 1]])));
      assert.ok(err(flip, x.flip(3)) < 0.03, `xflip off by ${err(flip, x.flip(3))}`);
      const turn = pipe.apply(x, params(m([[0, 1, 0], [-1, 0, 0], [0, 0, 1]])));
      const rot = x.transpose(2, 3).flip(2); // rot90 counter-clockwise
      const rotCw = x.transpose(2, 3).flip(3);
      const e = Math.min(err(turn, rot), err(turn, rotCw));
      assert.ok(e < 0.02, `quarter turn off by ${e}`);
      assert.ok(Math.abs(err(turn, rot) - err(turn, rotCw)) > 0.1, 'the turn has a direction');
      // A shift by 2 pixels to the right: output x samples input x − 2.
      const shift = pipe.apply(x, params(m([[1, 0, -2], [0, 1, 0], [0, 0, 1]])));
      const e2 = err(shift.narrow(3, 4, 18), x.narrow(3, 2, 18));
      assert.ok(e2 < 0.02, `shift off by ${e2}`);
    } finally {
      pipe.dispose();
    }
  });
});

test('the augmented images are differentiable with respect to the input (finite differences, float64)', () => {
  torch.scope(() => {
    const pipe = AugmentPipe.named('bgc');
    try {
      pipe.p = 1;
      torch.manualSeed(11);
      const x = torch.rand([2, 3, 8, 8], { dtype: 'float64' }).requiresGrad_(true);
      const t = pipe.sample(x.shape);
      const w = torch.randn([2, 3, 8, 8], { dtype: 'float64' });
      const f = () => pipe.apply(x, t).square().mul(w).sum();
      const [g] = torch.grad(f(), x);
      const idx = [0, 17, 64, 100, 200, 383];
      assertClose(values(g!.view(-1)).filter((_, i) => idx.includes(i)), numericGrad(() => torch.noGrad(() => f().item()), x, idx), 1e-5, 1e-7);
    } finally {
      pipe.dispose();
    }
  });
});

test('noise adds |N(0, σ)|-scaled normal noise; cutout zeroes a centred square of half the size', () => {
  torch.scope(() => {
    torch.manualSeed(12);
    withPipe(only('cutout'), (pipe) => {
      const t = pipe.sample([20, 3, 16, 16]);
      for (const m of t.cutout!.toArray() as number[][][][]) {
        const zeros = m[0].flat().filter((v) => v === 0).length;
        // 8 × 8 pixels, less where the square leaves the image.
        assert.ok(zeros <= 64 && zeros >= 16, `${zeros} zeroed`);
      }
    });
    withPipe(only('noise'), (pipe) => {
      const t = pipe.sample([200, 3, 8, 8]);
      const std = t.noise!.std().item();
      // E|N(0, 0.1)|² = 0.01: the pooled std is about 0.1.
      assert.ok(std > 0.08 && std < 0.12, `noise std ${std}`);
    });
    // train.py's --augpipe choices, in its order.
    assert.deepEqual(Object.keys(AUGPIPES), ['blit', 'geom', 'color', 'filter', 'noise', 'cutout', 'bg', 'bgc', 'bgcf', 'bgcfn', 'bgcfnc']);
    assert.throws(() => new AugmentPipe({ xflip: -1 }), /xflip must be a non-negative number/);
  });
});

test('the filter bank splits the identity into four bands; with unit gains the filter leaves the image alone', () => {
  const bank = filterBank();
  assert.deepEqual([bank.length, bank[0].length], [4, 43]);
  const sum = bank[0].map((_, k) => bank.reduce((s, row) => s + row[k], 0));
  assertClose(sum, sum.map((_, k) => (k === 21 ? 1 : 0)), 0, 1e-11);
  // Only the lowest band passes a constant; the highest passes most of the alternating signal.
  assertClose(bank.map((row) => row.reduce((s, v) => s + v, 0)), [1, 0, 0, 0], 0, 1e-11);
  const nyquist = bank.map((row) => row.reduce((s, v, k) => s + v * (k % 2 ? -1 : 1), 0));
  assert.ok(Math.abs(nyquist[3]) > 0.9 && Math.abs(nyquist[0]) < 1e-6, `${nyquist}`);
  torch.scope(() => {
    torch.manualSeed(13);
    withPipe(new AugmentPipe({ imgfilter: 1 }), (pipe) => {
      const x = torch.rand([2, 3, 24, 24], { dtype: 'float64' });
      const t = pipe.sample(x.shape); // p = 0: every gain 1
      assertClose(values(applyFilter(x, t.filter!)), values(x), 0, 1e-6);
      pipe.p = 1;
      const t1 = pipe.sample(x.shape);
      assert.ok(applyFilter(x, t1.filter!).sub(x).abs().amax().item() > 1e-3, 'p = 1 filters');
      assert.throws(() => applyFilter(torch.rand([1, 3, 16, 16]), t1.filter!.narrow(0, 0, 1)), /larger than 21 pixels/);
    });
  });
});
