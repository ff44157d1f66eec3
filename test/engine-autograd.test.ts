// Autograd against central finite differences in float64, first and second order (R1 and
// WGAN-GP differentiate a gradient), and the contract of backward / grad / noGrad.
import { test, describe, beforeEach } from 'node:test';
import assert from 'node:assert/strict';
import * as T from '../src/torch/index.js';
import { type Tensor } from '../src/torch/index.js';
import { assertClose } from './helpers.js';

const { F } = T;

interface Arg {
  shape: number[];
  data: Float64Array;
}

/** Fixed float64 data drawn from the seeded generator (the values only need to be fixed). */
function randArg(shape: number[], scale = 1, offset = 0): Arg {
  return T.scope(() => ({ shape, data: T.randn(shape, { dtype: 'float64' }).mul(scale).add(offset).toTypedArray() as Float64Array }));
}

function leaf(a: Arg, requiresGrad: boolean): Tensor {
  const t = T.fromTypedArray(a.data, a.shape);
  if (requiresGrad) t.requiresGrad = true;
  return t;
}

/** The value of a scalar function of the args, without autograd. */
function evaluate(fn: (xs: Tensor[]) => Tensor, args: Arg[]): number {
  return T.noGrad(() => T.scope(() => fn(args.map((a) => leaf(a, false))).item()));
}

/** d fn / d args[k], by central differences: (f(x+h) − f(x−h)) / 2h per element. */
function finiteDifference(fn: (xs: Tensor[]) => Tensor, args: Arg[], k: number, h: number): Float64Array {
  const out = new Float64Array(args[k].data.length);
  for (let i = 0; i < out.length; i++) {
    const orig = args[k].data[i];
    args[k].data[i] = orig + h;
    const up = evaluate(fn, args);
    args[k].data[i] = orig - h;
    const down = evaluate(fn, args);
    args[k].data[i] = orig;
    out[i] = (up - down) / (2 * h);
  }
  return out;
}

/** Checks autograd's gradient of the scalar fn against finite differences for every arg in `wrt`. */
function checkGradients(name: string, fn: (xs: Tensor[]) => Tensor, args: Arg[], wrt: number[], rtol = 1e-5, atol = 1e-7, h = 1e-6): void {
  const analytic = T.scope(() => {
    const xs = args.map((a, k) => leaf(a, wrt.includes(k)));
    const y = fn(xs);
    assert.deepEqual(y.shape, [], `${name}: the checked function must return a scalar`);
    const gs = T.grad(y, wrt.map((k) => xs[k]));
    return gs.map((g, j) => {
      assert.ok(g, `${name}: no gradient for input ${wrt[j]}`);
      assert.deepEqual(g.shape, args[wrt[j]].shape, `${name}: gradient shape of input ${wrt[j]}`);
      assert.equal(g.dtype, 'float64');
      return g.toTypedArray() as Float64Array;
    });
  });
  wrt.forEach((k, j) => {
    const numeric = finiteDifference(fn, args, k, h);
    let mag = 0;
    for (const v of numeric) mag = Math.max(mag, Math.abs(v));
    assert.ok(mag > 1e-3, `${name}: input ${k} has a vanishing gradient (max |g| ${mag}); the check would prove nothing`);
    assertClose(analytic[j], numeric, rtol, atol, `${name}: d/d input ${k}`);
  });
}

/** A fixed random projection makes the checked scalar depend on every output element differently. */
function projected(out: Tensor, proj: Arg): Tensor {
  return out.mul(T.fromTypedArray(proj.data, proj.shape)).sum();
}

describe('first-order gradients against finite differences (float64)', () => {
  beforeEach(() => T.manualSeed(7));

  test('conv2d (stride 2, padding 1, bias): d/dx, d/dw, d/db', () => {
    const x = randArg([2, 3, 5, 5]);
    const w = randArg([4, 3, 3, 3], 0.5);
    const b = randArg([4]);
    const p = randArg([2, 4, 3, 3]);
    checkGradients('conv2d', ([x, w, b]) => projected(F.conv2d(x, w, b, { stride: 2, padding: 1 }), p), [x, w, b], [0, 1, 2]);
  });

  test('conv2d (groups 2, dilation 2): d/dx, d/dw', () => {
    const x = randArg([1, 4, 6, 6]);
    const w = randArg([4, 2, 3, 3], 0.5);
    const p = randArg([1, 4, 4, 4]);
    checkGradients('conv2d groups', ([x, w]) => projected(F.conv2d(x, w, null, { padding: 1, dilation: 2, groups: 2 }), p), [x, w], [0, 1]);
  });

  test('conv_transpose2d (stride 2, padding 1, output padding 1, groups 2): d/dx, d/dw, d/db', () => {
    const x = randArg([2, 4, 3, 3]);
    const w = randArg([4, 2, 3, 3], 0.5);
    const b = randArg([4]);
    const p = randArg([2, 4, 6, 6]);
    checkGradients('conv_transpose2d',
      ([x, w, b]) => projected(F.convTranspose2d(x, w, b, { stride: 2, padding: 1, outputPadding: 1, groups: 2 }), p),
      [x, w, b], [0, 1, 2]);
  });

  test('linear: d/dx, d/dw, d/db', () => {
    const x = randArg([3, 4]);
    const w = randArg([5, 4]);
    const b = randArg([5]);
    const p = randArg([3, 5]);
    checkGradients('linear', ([x, w, b]) => projected(F.linear(x, w, b), p), [x, w, b], [0, 1, 2]);
  });

  test('leaky_relu (slope 0.2)', () => {
    const x = randArg([4, 5]);
    const p = randArg([4, 5]);
    checkGradients('leaky_relu', ([x]) => projected(F.leakyRelu(x, 0.2), p), [x], [0]);
  });

  test('instance_norm with affine weight and bias: d/dx, d/dweight, d/dbias', () => {
    const x = randArg([2, 3, 4, 4], 2, 0.5);
    const w = randArg([3], 0.3, 1);
    const b = randArg([3]);
    const p = randArg([2, 3, 4, 4]);
    checkGradients('instance_norm', ([x, w, b]) => projected(F.instanceNorm(x, { weight: w, bias: b }), p), [x, w, b], [0, 1, 2]);
  });

  test('softplus (default, and beta 2)', () => {
    const x = randArg([3, 4], 3);
    const p = randArg([3, 4]);
    checkGradients('softplus', ([x]) => projected(F.softplus(x), p), [x], [0]);
    checkGradients('softplus beta 2', ([x]) => projected(F.softplus(x, { beta: 2 }), p), [x], [0]);
  });

  test('binary_cross_entropy_with_logits (mean, and with pos_weight): d/dlogits', () => {
    const x = randArg([4, 3], 2);
    const t = T.scope(() => ({ shape: [4, 3], data: T.rand([4, 3], { dtype: 'float64' }).toTypedArray() as Float64Array }));
    const pw = T.scope(() => ({ shape: [3], data: T.rand([3], { dtype: 'float64' }).add(0.5).toTypedArray() as Float64Array }));
    checkGradients('bce_with_logits', ([x, t]) => F.binaryCrossEntropyWithLogits(x, t), [x, t], [0]);
    checkGradients('bce_with_logits pos_weight', ([x, t, pw]) => F.binaryCrossEntropyWithLogits(x, t, { posWeight: pw, reduction: 'sum' }),
      [x, t, pw], [0]);
  });

  test('interpolate bilinear (align_corners false and true)', () => {
    const x = randArg([1, 2, 3, 4]);
    const p = randArg([1, 2, 5, 7]);
    checkGradients('bilinear', ([x]) => projected(F.interpolate(x, { size: [5, 7], mode: 'bilinear' }), p), [x], [0]);
    checkGradients('bilinear align_corners', ([x]) => projected(F.interpolate(x, { size: [5, 7], mode: 'bilinear', alignCorners: true }), p),
      [x], [0]);
  });

  test('avg_pool2d (kernel 3, stride 2, padding 1, count_include_pad false)', () => {
    const x = randArg([1, 2, 5, 5]);
    const p = randArg([1, 2, 3, 3]);
    checkGradients('avg_pool2d', ([x]) => projected(F.avgPool2d(x, 3, { stride: 2, padding: 1, countIncludePad: false }), p), [x], [0]);
  });

  test('batch_norm (training), layer_norm, group_norm, mse, softmax', () => {
    const x = randArg([3, 4, 2, 2], 1.5);
    const w = randArg([4], 0.3, 1);
    const b = randArg([4]);
    const p = randArg([3, 4, 2, 2]);
    checkGradients('batch_norm', ([x, w, b]) => projected(F.batchNorm(x, null, null, { weight: w, bias: b, training: true }), p),
      [x, w, b], [0, 1, 2]);
    checkGradients('group_norm', ([x, w, b]) => projected(F.groupNorm(x, 2, w, b), p), [x, w, b], [0, 1, 2]);
    checkGradients('layer_norm', ([x]) => projected(F.layerNorm(x, [4, 2, 2]), p), [x], [0]);
    checkGradients('softmax', ([x]) => projected(F.softmax(x, 1), p), [x], [0]);
    checkGradients('mse', ([x, p]) => F.mseLoss(x, p), [x, p], [0, 1]);
  });
});

describe('second-order gradients (R1, WGAN-GP)', () => {
  T.manualSeed(11);
  const x = randArg([2, 2, 4, 4]);
  const w = randArg([3, 2, 3, 3], 0.4);
  const proj = randArg([2, 3, 4, 4]);

  // f(x, w) = Σ softplus(conv2d(x, w))²
  const f = (x: Tensor, w: Tensor): Tensor => F.softplus(F.conv2d(x, w, null, { padding: 1 })).pow(2).sum();
  // f(x, w) = Σ leaky_relu(conv2d(x, w), 0.2)·P  (a piecewise-linear D, as in StyleGAN2's R1)
  const g = (x: Tensor, w: Tensor): Tensor => projected(F.leakyRelu(F.conv2d(x, w, null, { padding: 1 }), 0.2), proj);

  /** ‖∂f/∂x‖² at (x, w), by an ordinary first-order backward (no createGraph). */
  function gradNormSq(fn: (x: Tensor, w: Tensor) => Tensor, xs: Tensor[]): Tensor {
    const [xx, ww] = xs;
    return T.scope(() => {
      const xg = T.enableGrad(() => {
        const xr = xx.detach().requiresGrad_();
        const [gx] = T.grad(fn(xr, ww), xr);
        return gx!;
      });
      return xg.pow(2).sum();
    });
  }

  for (const [name, fn] of [['softplus(conv)²', f], ['leaky_relu(conv)·P', g]] as const) {
    test(`grad(‖grad(f, x, createGraph)‖², w) matches finite differences of ‖grad(f, x)‖² — ${name}`, () => {
      const analytic = T.scope(() => {
        const xt = leaf(x, true);
        const wt = leaf(w, true);
        const [gx] = T.grad(fn(xt, wt), xt, { createGraph: true });
        assert.ok(gx);
        assert.ok(gx.requiresGrad, 'a createGraph gradient must itself require grad');
        // the createGraph gradient has the same value as a plain one
        const plain = T.grad(fn(xt, wt), xt)[0]!;
        assertClose(gx.toTypedArray() as Float64Array, plain.toTypedArray() as Float64Array, 1e-14, 1e-14, 'createGraph value');
        const penalty = gx.pow(2).sum();
        const [gw] = T.grad(penalty, wt);
        return gw!.toTypedArray() as Float64Array;
      });
      const numeric = finiteDifference((xs) => gradNormSq(fn, xs), [x, w], 1, 1e-6);
      let mag = 0;
      for (const v of numeric) mag = Math.max(mag, Math.abs(v));
      assert.ok(mag > 1e-2, `vanishing second-order gradient (max ${mag})`);
      assertClose(analytic, numeric, 1e-5, 1e-6, `second order, ${name}`);
    });
  }

  test('WGAN-GP: the penalty mean((‖∇x D‖ − 1)²) differentiates into D\'s weights', () => {
    const penalty = (xs: Tensor[]): Tensor => {
      const [x, w] = xs;
      return T.enableGrad(() => {
        const xr = x.requiresGrad ? x : x.detach().requiresGrad_();
        const [gx] = T.grad(f(xr, w), xr, { createGraph: true });
        return gx!.flatten(1).norm(2, 1).sub(1).pow(2).mean();
      });
    };
    checkGradients('wgan-gp', penalty, [x, w], [1], 1e-5, 1e-6);
  });
});

describe('autograd contract', () => {
  test('backward() accumulates into .grad across two calls; setting grad = null resets it', () => {
    T.scope(() => {
      const x = T.tensor([1, -2, 3], { dtype: 'float64', requiresGrad: true });
      assert.equal(x.grad, null);
      x.mul(x).sum().backward(); // 2x
      assert.deepEqual(x.grad!.toArray(), [2, -4, 6]);
      x.mul(3).sum().backward(); // + 3
      assert.deepEqual(x.grad!.toArray(), [5, -1, 9]);
      x.grad = null;
      assert.equal(x.grad, null);
      x.sum().backward();
      assert.deepEqual(x.grad!.toArray(), [1, 1, 1]);
    });
  });

  test('backward(gradient) of a non-scalar output; without one it throws a JS Error', () => {
    T.scope(() => {
      const x = T.tensor([1, 2, 3], { dtype: 'float32', requiresGrad: true });
      const y = x.mul(2);
      assert.throws(() => y.backward(), (e: unknown) => e instanceof Error && /scalar/.test(e.message));
      y.backward(T.tensor([1, 10, 100], { dtype: 'float32' }));
      assert.deepEqual(x.grad!.toArray(), [2, 20, 200]);
    });
  });

  test('a second backward through a freed graph throws a JS Error; retainGraph allows it', () => {
    T.scope(() => {
      const x = T.tensor([0.5, 1.5], { dtype: 'float64', requiresGrad: true });
      const y = x.exp().sum();
      y.backward(null, { retainGraph: true });
      y.backward();
      assertClose(x.grad!.toTypedArray() as Float64Array, [2 * Math.exp(0.5), 2 * Math.exp(1.5)], 1e-15, 0);
      const z = x.exp().sum();
      z.backward();
      assert.throws(() => z.backward(), Error);
    });
  });

  test('grad(): allowUnused gives null for an unused input, and without it throws', () => {
    T.scope(() => {
      const a = T.tensor([1, 2], { dtype: 'float64', requiresGrad: true });
      const b = T.tensor([3, 4], { dtype: 'float64', requiresGrad: true });
      const y = a.mul(a).sum();
      const [ga, gb] = T.grad(y, [a, b], { allowUnused: true, retainGraph: true });
      assert.deepEqual(ga!.toArray(), [2, 4]);
      assert.equal(gb, null);
      assert.throws(() => T.grad(y, [a, b]), (e: unknown) => e instanceof Error && e.message.length > 0);
      // grad() does not touch .grad
      assert.equal(a.grad, null);
    });
  });

  test('grad() with gradOutputs weights a non-scalar output', () => {
    T.scope(() => {
      const x = T.tensor([1, 2, 3], { dtype: 'float64', requiresGrad: true });
      const [g] = T.grad(x.pow(2), x, { gradOutputs: [T.tensor([1, 0.5, -1], { dtype: 'float64' })] });
      assert.deepEqual(g!.toArray(), [2, 2, -6]);
    });
  });

  test('noGrad() records no history; enableGrad() inside it does; the mode is restored, also after a throw', () => {
    T.scope(() => {
      const x = T.randn([3], { requiresGrad: true });
      assert.equal(T.isGradEnabled(), true);
      const y = T.noGrad(() => {
        assert.equal(T.isGradEnabled(), false);
        return x.mul(2).add(1).exp();
      });
      assert.equal(y.requiresGrad, false);
      assert.equal(y.gradFn, null);
      assert.equal(T.isGradEnabled(), true);
      const z = T.noGrad(() => T.enableGrad(() => x.mul(2)));
      assert.equal(z.requiresGrad, true);
      assert.match(z.gradFn ?? '', /^MulBackward/);
      assert.throws(() => T.noGrad(() => {
        throw new Error('boom');
      }), /boom/);
      assert.equal(T.isGradEnabled(), true, 'grad mode restored after a throw');
      const w = x.mul(2);
      assert.equal(w.requiresGrad, true);
      assert.equal(w.isLeaf, false);
      assert.equal(x.isLeaf, true);
      assert.equal(w.detach().requiresGrad, false);
    });
  });

  test('requiresGrad on an integer tensor throws a JS Error', () => {
    T.scope(() => {
      const i = T.tensor([1, 2, 3]);
      assert.throws(() => {
        i.requiresGrad = true;
      }, Error);
    });
  });
});
