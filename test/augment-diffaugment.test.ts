// DiffAugment (src/augment/diffaugment.ts): each transform against a computation written
// out here in plain JS (colour as its formulas, translation as a shift with zeros moving
// in, cutout as a zeroed square of the stated size), the random draws' ranges, the whole
// policy against the reference's own DiffAugment_pytorch.py for the same seeds
// (test/fixtures/diffaugment/make_fixtures.py), gradients and R1's second-order gradients
// through it against finite differences in float64, the policy parser's errors, and no
// leaked tensor.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import * as torch from '../src/torch/index.js';
import type { Tensor } from '../src/torch/index.js';
import * as io from '../src/io/index.js';
import { r1Penalty } from '../src/losses/index.js';
import { UsageError } from '../src/config/errors.js';
import {
  brightness, saturation, contrast, translate, cutout, cutoutSize, randBrightness, randSaturation, randContrast, randTranslation, randCutout,
  diffAugment, parsePolicy, policyProblem,
} from '../src/augment/diffaugment.js';
import { assertClose, assertEqualArrays, fromRoot, loadJson } from './helpers.js';
import { cliErrorInProcess, tempDir } from './train-helpers.js';
import { numericGrad } from './grad-helpers.js';

const f64 = (t: Tensor): number[] => Array.from(t.double().contiguous().toTypedArray() as Float64Array);
/** Images in float64 with no exact zero (so a zero is one the transform wrote). */
const images = (shape: number[], seed: number): Tensor => torch.withSeed(seed, () => torch.rand(shape, { dtype: 'float64' }).mul(2).sub(1).add(1e-3));

/** x[n, c, i, j] of a flat NCHW array. */
function at(v: number[], shape: number[], n: number, c: number, i: number, j: number): number {
  const [, C, H, W] = shape;
  return v[((n * C + c) * H + i) * W + j];
}

/** out[n, c, i, j] = f(n, c, i, j) over an NCHW shape, flat. */
function build(shape: number[], f: (n: number, c: number, i: number, j: number) => number): number[] {
  const [N, C, H, W] = shape;
  const out: number[] = [];
  for (let n = 0; n < N; n++) for (let c = 0; c < C; c++) for (let i = 0; i < H; i++) for (let j = 0; j < W; j++) out.push(f(n, c, i, j));
  return out;
}

test('brightness, saturation and contrast are their formulas, per image', () => {
  torch.scope(() => {
    const shape = [2, 3, 4, 5];
    const [N, C, H, W] = shape;
    const x = images(shape, 1), v = f64(x);
    const k = [0.3, 1.7];
    const factor = torch.tensor(k, { dtype: 'float64' });
    assertClose(f64(brightness(x, factor)), build(shape, (n, c, i, j) => at(v, shape, n, c, i, j) + k[n]), 0, 1e-15, 'brightness: x + b');
    // Saturation about each pixel's mean colour.
    const pixelMean = (n: number, i: number, j: number): number => {
      let s = 0;
      for (let c = 0; c < C; c++) s += at(v, shape, n, c, i, j);
      return s / C;
    };
    assertClose(f64(saturation(x, factor)), build(shape, (n, c, i, j) => {
      const m = pixelMean(n, i, j);
      return (at(v, shape, n, c, i, j) - m) * k[n] + m;
    }), 0, 1e-14, 'saturation: (x − mean over C)·s + mean');
    // Contrast about each image's mean.
    const imageMean = (n: number): number => {
      let s = 0;
      for (let c = 0; c < C; c++) for (let i = 0; i < H; i++) for (let j = 0; j < W; j++) s += at(v, shape, n, c, i, j);
      return s / (C * H * W);
    };
    assertClose(f64(contrast(x, factor)), build(shape, (n, c, i, j) => (at(v, shape, n, c, i, j) - imageMean(n)) * k[n] + imageMean(n)), 0, 1e-14,
      'contrast: (x − mean over C, H, W)·c + mean');
    // Saturation 0 greys each pixel: every channel equals the pixel's mean.
    const grey = f64(saturation(x, torch.zeros([N], { dtype: 'float64' })));
    assertClose(grey, build(shape, (n, _c, i, j) => pixelMean(n, i, j)), 0, 1e-15, 'saturation 0');
  });
});

test('the colour draws: b ∈ [−½, ½), s ∈ [0, 2), c ∈ [½, 3⁄2), one per image', () => {
  torch.scope(() => {
    const N = 64;
    const x = images([N, 3, 4, 4], 2);
    const v = f64(x);
    const per = (y: Tensor, solve: (yv: number[], n: number) => number[]): number[] => {
      const yv = f64(y);
      return Array.from({ length: N }, (_, n) => {
        const ks = solve(yv, n);
        // One value per image.
        assert.ok(ks.every((k) => Math.abs(k - ks[0]) < 1e-9), `image ${n}: the factor varies inside the image: ${ks.slice(0, 4)}`);
        return ks[0];
      });
    };
    const size = 3 * 16;
    const range = (ks: number[], lo: number, hi: number, what: string): void => {
      assert.ok(ks.every((k) => k >= lo - 1e-12 && k < hi), `${what} within [${lo}, ${hi}): ${Math.min(...ks)}..${Math.max(...ks)}`);
      // 64 uniform draws spread over most of the range.
      assert.ok(Math.max(...ks) - Math.min(...ks) > 0.8 * (hi - lo), `${what} spread over the range`);
    };
    torch.manualSeed(5);
    const b = per(randBrightness(x), (yv, n) => Array.from({ length: size }, (_, e) => yv[n * size + e] - v[n * size + e]));
    range(b, -0.5, 0.5, 'brightness');
    // Factors from the deviation of each element from its mean (pixel mean for saturation,
    // image mean for contrast), at the element with the largest deviation.
    const factorOf = (yv: number[], n: number, mean: (e: number, arr: number[]) => number): number[] => {
      const devs = Array.from({ length: size }, (_, e) => [v[n * size + e] - mean(e, v), yv[n * size + e] - mean(e, yv)]);
      devs.sort((p, q) => Math.abs(q[0]) - Math.abs(p[0]));
      return devs.slice(0, 4).map(([d0, d1]) => d1 / d0);
    };
    const pixelMean = (n: number) => (e: number, arr: number[]): number => {
      const p = e % 16;
      return (arr[n * size + p] + arr[n * size + 16 + p] + arr[n * size + 32 + p]) / 3;
    };
    const imageMean = (n: number) => (_e: number, arr: number[]): number => arr.slice(n * size, (n + 1) * size).reduce((s, a) => s + a, 0) / size;
    const s = per(randSaturation(x), (yv, n) => factorOf(yv, n, pixelMean(n)));
    range(s, 0, 2, 'saturation');
    const c = per(randContrast(x), (yv, n) => factorOf(yv, n, imageMean(n)));
    range(c, 0.5, 1.5, 'contrast');
  });
});

test('translate: out[i, j] = x[i + dy, j + dx], zeros where that is outside — a roll with zeros moving in', () => {
  torch.scope(() => {
    const shape = [6, 2, 5, 7];
    const [, , H, W] = shape;
    const x = images(shape, 3), v = f64(x);
    // Shifts in both directions, none, and beyond the image (all zeros).
    const dy = [1, -2, 0, 3, -5, 9], dx = [-1, 2, 0, 6, 0, -8];
    const got = translate(x, torch.tensor(dy, { dtype: 'int64' }), torch.tensor(dx, { dtype: 'int64' }));
    assert.deepEqual(got.shape, shape);
    const want = build(shape, (n, c, i, j) => {
      const si = i + dy[n], sj = j + dx[n];
      return si >= 0 && si < H && sj >= 0 && sj < W ? at(v, shape, n, c, si, sj) : 0;
    });
    assertEqualArrays(f64(got), want, 'translate');
    // The same as torch's roll by (−dy, −dx) with the wrapped rows and columns zeroed.
    const n = 1;
    const rolled = f64(x.narrow(0, n, 1).roll([-dy[n], -dx[n]], [2, 3]));
    const one = [1, ...shape.slice(1)];
    const masked = build(one, (_n, c, i, j) => (i + dy[n] >= 0 && i + dy[n] < H && j + dx[n] >= 0 && j + dx[n] < W ? at(rolled, one, 0, c, i, j) : 0));
    assertEqualArrays(f64(got.narrow(0, n, 1)), masked, 'roll with zeros');
  });
});

test('randTranslation shifts each image by whole pixels within ±round(side/8), the height and width apart', () => {
  torch.scope(() => {
    // 16 × 24: shifts up to 2 rows and 3 columns.
    const shape = [48, 1, 16, 24];
    const x = images(shape, 4);
    torch.manualSeed(6);
    const y = randTranslation(x);
    const seen = new Set<string>();
    for (let n = 0; n < shape[0]; n++) {
      const xn = x.narrow(0, n, 1), yn = f64(y.narrow(0, n, 1));
      const matches: string[] = [];
      for (let dy = -4; dy <= 4; dy++) {
        for (let dx = -5; dx <= 5; dx++) {
          const t = f64(translate(xn, torch.tensor([dy], { dtype: 'int64' }), torch.tensor([dx], { dtype: 'int64' })));
          if (t.every((a, i) => a === yn[i])) matches.push(`${dy},${dx}`);
        }
      }
      assert.equal(matches.length, 1, `image ${n} is exactly one shift of its input: ${matches}`);
      const [dy, dx] = matches[0].split(',').map(Number);
      assert.ok(Math.abs(dy) <= 2 && Math.abs(dx) <= 3, `image ${n}: shift (${dy}, ${dx})`);
      seen.add(matches[0]);
    }
    assert.ok([...seen].some((s) => s.startsWith('2,') || s.startsWith('-2,')) && [...seen].some((s) => /,-?3$/.test(s)),
      `the extremes are drawn: ${[...seen].sort()}`);
  });
});

test('cutout zeros exactly the square of the stated size about each centre (clipped at the edges), the rest untouched', () => {
  torch.scope(() => {
    const shape = [4, 2, 8, 10];
    const [, , H, W] = shape;
    const size = cutoutSize(H, W);
    assert.deepEqual(size, [4, 5], 'half of each side, rounded as int(v + 0.5)');
    assert.deepEqual(cutoutSize(5, 3), [3, 2]);
    const x = images(shape, 5), v = f64(x);
    const cy = [3, 0, 8, 5], cx = [4, 10, 0, 2];
    const got = cutout(x, torch.tensor(cy, { dtype: 'int64' }), torch.tensor(cx, { dtype: 'int64' }), size);
    const want = build(shape, (n, c, i, j) => {
      const top = cy[n] - Math.floor(size[0] / 2), left = cx[n] - Math.floor(size[1] / 2);
      return i >= top && i < top + size[0] && j >= left && j < left + size[1] ? 0 : at(v, shape, n, c, i, j);
    });
    assertEqualArrays(f64(got), want, 'cutout');
    // Image 0 holds the whole 4 × 5 square, image 1 its clipped part (rows 0-1, columns 8-9).
    const zeros = (n: number): number => f64(got.narrow(0, n, 1)).filter((a) => a === 0).length;
    assert.deepEqual([zeros(0), zeros(1)], [2 * 4 * 5, 2 * 2 * 2]);
  });
});

test('randCutout: each image has one zeroed rectangle, the full square unless clipped, never less than half of it a side', () => {
  torch.scope(() => {
    for (const [H, W] of [[16, 16], [10, 7]]) {
      const shape = [64, 1, H, W];
      const x = images(shape, 6);
      const [sh, sw] = cutoutSize(H, W);
      torch.manualSeed(7);
      const y = f64(randCutout(x));
      let full = 0;
      for (let n = 0; n < 64; n++) {
        const rows = new Set<number>(), cols = new Set<number>();
        let count = 0;
        for (let i = 0; i < H; i++) {
          for (let j = 0; j < W; j++) {
            if (at(y, shape, n, 0, i, j) !== 0) continue;
            rows.add(i);
            cols.add(j);
            count++;
          }
        }
        assert.equal(count, rows.size * cols.size, `${H}×${W} image ${n}: the zeros form a rectangle`);
        const r = [...rows], c = [...cols];
        assert.equal(Math.max(...r) - Math.min(...r) + 1, rows.size, 'contiguous rows');
        assert.equal(Math.max(...c) - Math.min(...c) + 1, cols.size, 'contiguous columns');
        assert.ok(rows.size <= sh && rows.size >= Math.ceil(sh / 2) && cols.size <= sw && cols.size >= Math.ceil(sw / 2), `${rows.size}×${cols.size} of ${sh}×${sw}`);
        // A side shorter than the square's only where it meets the image's edge.
        if (rows.size < sh) assert.ok(Math.min(...r) === 0 || Math.max(...r) === H - 1);
        if (cols.size < sw) assert.ok(Math.min(...c) === 0 || Math.max(...c) === W - 1);
        if (rows.size === sh && cols.size === sw) full++;
      }
      assert.ok(full >= 6, `${H}×${W}: squares lie whole inside (${full} of 64)`);
    }
  });
});

const fxCases = loadJson<Record<string, { policy: string; seed: number; dtype: 'float32' | 'float64' }>>('test/fixtures/diffaugment/cases.json');
const fx = io.loadSafetensors(fromRoot('test/fixtures/diffaugment/diffaugment.safetensors')).tensors;

test('the same seed gives the reference DiffAugment_pytorch.py\'s output: the draws, their order and the transforms', () => {
  assert.ok(Object.keys(fxCases).length >= 7);
  for (const [name, c] of Object.entries(fxCases)) {
    torch.scope(() => {
      const x = fx[`${name}.x`], want = fx[`${name}.y`];
      assert.equal(x.dtype, c.dtype);
      torch.manualSeed(c.seed);
      const y = diffAugment(x, parsePolicy(c.policy));
      assert.equal(y.dtype, c.dtype);
      assert.deepEqual(y.shape, want.shape, name);
      if (!c.policy.includes('color')) {
        // Whole pixels moved and zeroed: exact.
        assertEqualArrays(f64(y), f64(want), name);
      } else {
        // The means sum in a CPU-dependent order: tolerances of the dtype's rounding.
        const tol = c.dtype === 'float64' ? 1e-12 : 2e-6;
        assertClose(f64(y), f64(want), 0, tol, name);
        // The same zeros (cutout's squares, translation's borders) either way.
        assertEqualArrays(f64(y).map((a) => +(a === 0)), f64(want).map((a) => +(a === 0)), `${name}: zeros`);
      }
    });
  }
});

test('diffAugment keeps the shape and dtype for every policy, square or not; an empty policy is the identity', () => {
  torch.scope(() => {
    for (const shape of [[2, 3, 8, 8], [3, 1, 16, 12], [1, 4, 32, 32]]) {
      for (const dtype of ['float32', 'float64'] as const) {
        const x = images(shape, 8).to(dtype);
        for (const policy of ['color', 'translation', 'cutout', 'cutout,color', 'color,translation,cutout']) {
          const y = diffAugment(x, parsePolicy(policy));
          assert.deepEqual([y.shape, y.dtype], [shape, dtype], `${policy} on ${shape}`);
          // (A translation alone may draw no shift.)
          if (policy !== 'translation') assert.ok(!y.equal(x), `${policy} changed something`);
        }
        assert.ok(diffAugment(x, []).equal(x));
      }
    }
    assert.throws(() => diffAugment(torch.zeros([3, 8, 8]), ['color']), /expected NCHW images, got shape \[3, 8, 8\]/);
  });
});

/** ∂f/∂x by central differences, element by element (f affine or smooth, float64). */
/** Central differences of f at every element of x (float64), perturbing a copy of x in place. */
function finiteDifferences(f: (x: Tensor) => number, x: Tensor, eps: number): number[] {
  const t = x.detach().clone();
  return numericGrad(() => torch.scope(() => f(t)), t, Array.from({ length: t.numel }, (_, i) => i), eps);
}

test('gradients through each transform and the whole policy equal finite differences (float64, draws fixed by the seed)', () => {
  torch.scope(() => {
    const shape = [2, 3, 8, 8];
    const x0 = images(shape, 9);
    const w = torch.withSeed(10, () => torch.randn(shape, { dtype: 'float64' }));
    for (const policy of ['color', 'translation', 'cutout', 'color,translation,cutout']) {
      const p = parsePolicy(policy);
      // The same draws at every evaluation: the loss is a fixed function of x.
      const loss = (x: Tensor): Tensor => torch.withSeed(11, () => diffAugment(x, p).mul(w).sum());
      const x = x0.detach().requiresGrad_(true);
      const [g] = torch.grad(loss(x), x);
      const fd = finiteDifferences((t) => loss(t).item(), x0, 1e-6);
      assertClose(f64(g!), fd, 1e-6, 1e-8, policy);
      if (policy === 'cutout') assert.ok(f64(g!).some((a) => a === 0) && f64(g!).some((a) => a !== 0), 'no gradient reaches the cut-out pixels, the rest get one');
    }
  });
});

test('R1 through DiffAugment: the penalty\'s gradient in D\'s weights (a double backward through the transforms) equals finite differences', () => {
  torch.scope(() => {
    const shape = [2, 3, 8, 8];
    const real = images(shape, 12);
    const w0 = torch.withSeed(13, () => torch.randn([4, 3, 3, 3], { dtype: 'float64' }).mul(0.3));
    const policy = parsePolicy('color,translation,cutout');
    // A small nonlinear D: the mean of tanh of a convolution, per image.
    const r1 = (w: Tensor): Tensor => torch.withSeed(14, () => {
      const x = real.detach().requiresGrad_(true);
      const logits = torch.F.conv2d(diffAugment(x, policy), w, null, { padding: 1 }).tanh().mean([1, 2, 3]);
      return r1Penalty(x, logits);
    });
    const w = w0.detach().requiresGrad_(true);
    const penalty = r1(w);
    assert.ok(penalty.item() > 0);
    const [g] = torch.grad(penalty, w);
    const fd = finiteDifferences((t) => r1(t).item(), w0, 1e-6);
    assertClose(f64(g!), fd, 1e-5, 1e-9, 'dR1/dw');
  });
});

test('the policy parser: the reference\'s names in the order given; anything else is a one-line UsageError', () => {
  assert.deepEqual(parsePolicy('color,translation,cutout'), ['color', 'translation', 'cutout']);
  assert.deepEqual(parsePolicy(' cutout , color'), ['cutout', 'color']);
  assert.equal(policyProblem('translation'), null);
  const cases: [string, RegExp][] = [
    ['colour', /DiffAugment policy 'colour' has an unknown transform 'colour': choose from color, translation, cutout/],
    ['color,flip', /unknown transform 'flip'/],
    ['', /names no transform/],
    ['color,,cutout', /has an empty entry/],
    ['color,cutout,color', /names 'color' twice/],
  ];
  for (const [text, re] of cases) {
    assert.throws(() => parsePolicy(text), (e: Error) => e instanceof UsageError && re.test(e.message) && !e.message.includes('\n'), text);
  }
});

test('train: an unknown policy, and a policy without --aug diffaugment, are one line and exit 2', async () => {
  const base = ['train', '--model', 'dcgan', '--data', 'shapes', '--resolution', '16', '--out', join(tempDir(), 'run')];
  const bad = await cliErrorInProcess([...base, '--aug', 'diffaugment', '--diffaugment', 'color,zoom']);
  assert.equal(bad.status, 2);
  assert.match(bad.stderr, /--diffaugment has an unknown transform 'zoom': choose from color, translation, cutout/);
  assert.equal(bad.stderr.trim().split('\n').length, 1, bad.stderr);
  const alone = await cliErrorInProcess([...base, '--diffaugment', 'color']);
  assert.equal(alone.status, 2);
  assert.match(alone.stderr, /--diffaugment color needs --aug diffaugment \(it is 'noaug'\)/);
  assert.equal(alone.stderr.trim().split('\n').length, 1, alone.stderr);
  const aug = await cliErrorInProcess([...base, '--aug', 'diffaug']);
  assert.equal(aug.status, 2);
  assert.match(aug.stderr, /--aug must be one of noaug, diffaugment; got 'diffaug'/);
});

test('diffAugment inside scope() leaves only its result alive', () => {
  const x = images([2, 3, 8, 8], 15);
  const before = torch.liveTensors();
  const y = torch.scope(() => diffAugment(x, parsePolicy('color,translation,cutout')));
  assert.equal(torch.liveTensors(), before + 1);
  y.dispose();
  x.dispose();
});
