// The layers PGGAN and StyleGAN v1 share: equalised learning rate (scaling, init, the fused
// up/down convolutions and their identities with the unfused sequences, gradients against
// finite differences), pixel norm, minibatch stddev against a plain-JS implementation of
// the TF formula, and the resampling ops against hand-computed values.
import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { nn, manualSeed, tensor, randn, scope, liveTensors, Tensor, F, noGrad, fromTypedArray, grad } from '../src/index.js';
import { assertClose } from './helpers.js';

const { EqualizedLinear, EqualizedConv2d } = nn;

function arr(t: Tensor): number[] {
  return Array.from(t.toTypedArray() as Float32Array | Float64Array);
}

/** Sets a module parameter's values (no autograd). */
function setParam(p: Tensor, values: Tensor): void {
  noGrad(() => p.copy_(values));
}

describe('equalised learning rate', () => {
  test('weightGain is lrmul·gain/√fan_in; parameters are weight (and bias) in PyTorch layout', () => {
    const l = new EqualizedLinear(50, 7);
    assert.equal(l.weightGain, Math.SQRT2 / Math.sqrt(50));
    assert.deepEqual(l.weight.shape, [7, 50]);
    assert.deepEqual(Object.keys(l.stateDict()), ['weight', 'bias']);
    const l2 = new EqualizedLinear(16, 4, { gain: 1, lrmul: 0.01, bias: false });
    assert.equal(l2.weightGain, 0.01 / 4);
    assert.equal(l2.bias, null);
    assert.deepEqual(Object.keys(l2.stateDict()), ['weight']);
    const c = new EqualizedConv2d(3, 5, 3, { gain: 2 });
    assert.ok(Math.abs(c.weightGain - 2 / Math.sqrt(27)) < 1e-15);
    assert.deepEqual(c.weight.shape, [5, 3, 3, 3]);
    assert.deepEqual(c.bias?.shape, [5]);
    for (const m of [l, l2, c]) m.dispose();
  });

  test('init: weight ~ N(0, 1/lrmul²), bias 0', () => {
    manualSeed(0);
    for (const lrmul of [1, 0.01]) {
      const l = new EqualizedLinear(512, 256, { lrmul });
      const c = new EqualizedConv2d(64, 64, 3, { lrmul });
      for (const m of [l, c]) {
        scope(() => {
          const std = m.weight.std().item(), mean = m.weight.mean().item();
          assert.ok(Math.abs(std * lrmul - 1) < 0.02, `lrmul ${lrmul}: std ${std}, want ${1 / lrmul}`);
          assert.ok(Math.abs(mean * lrmul) < 0.02, `lrmul ${lrmul}: mean ${mean}`);
          assert.equal(m.bias!.abs().max().item(), 0);
        });
        m.dispose();
      }
    }
  });

  test('linear forward = x (W·weightGain)ᵀ + b·lrmul, computed element by element; x [N, ...] is flattened', () => {
    manualSeed(1);
    const [inF, outF, n] = [12, 5, 3];
    for (const o of [{}, { gain: 1, lrmul: 0.01 }, { gain: 0.5, lrmul: 3 }]) {
      const l = new EqualizedLinear(inF, outF, o);
      scope(() => {
        setParam(l.bias!, randn([outF]));
        const x = randn([n, 3, 2, 2]);
        const y = l.forward(x);
        assert.deepEqual(y.shape, [n, outF]);
        const gain = o.gain ?? Math.SQRT2, lrmul = o.lrmul ?? 1;
        const W = arr(l.weight), b = arr(l.bias!), xs = arr(x);
        const want: number[] = [];
        for (let i = 0; i < n; i++) {
          for (let j = 0; j < outF; j++) {
            let s = 0;
            for (let k = 0; k < inF; k++) s += xs[i * inF + k] * W[j * inF + k];
            want.push((s * lrmul * gain) / Math.sqrt(inF) + b[j] * lrmul);
          }
        }
        assertClose(arr(y), want, 1e-5, 1e-5, `linear ${JSON.stringify(o)}`);
      });
      l.dispose();
    }
    const l = new EqualizedLinear(4, 2);
    assert.throws(() => l.forward(randn([2, 5])), /input has 5 features/);
    l.dispose();
  });

  test('gain and lrmul scale the output as the formula says (same stored parameters)', () => {
    manualSeed(2);
    scope(() => {
      const x = randn([4, 3, 6, 6]);
      const w = randn([5, 3, 3, 3]), b = randn([5]);
      const out = (o: nn.EqualizedOptions): Tensor => {
        const c = new EqualizedConv2d(3, 5, 3, o);
        setParam(c.weight, w);
        if (c.bias) setParam(c.bias, b);
        const y = c.forward(x);
        c.dispose();
        return y;
      };
      const base = out({ gain: 1 });
      const noBias = out({ gain: 1, bias: false });
      const wTerm = base.sub(b.reshape(1, 5, 1, 1));
      assertClose(arr(noBias), arr(wTerm), 1e-5, 1e-5, 'bias adds b');
      // gain 3 → weight term ×3, bias unchanged
      assertClose(arr(out({ gain: 3 })), arr(wTerm.mul(3).add(b.reshape(1, 5, 1, 1))), 1e-5, 1e-5, 'gain 3');
      // lrmul 0.1 → weight term ×0.1 and bias ×0.1
      assertClose(arr(out({ gain: 1, lrmul: 0.1 })), arr(base.mul(0.1)), 1e-5, 1e-5, 'lrmul 0.1');
      // plain convolution with the scaled weight and 'same' padding
      const plain = F.conv2d(x, w.mul(1 / Math.sqrt(27)), b, { padding: 1 });
      assertClose(arr(base), arr(plain), 1e-5, 1e-5, 'plain conv');
      assert.deepEqual(base.shape, [4, 5, 6, 6]);
    });
  });

  test("fused 'down' equals conv then downscale2d, and 'up' equals upscale2d then conv with the kernel flipped (TF's conv2d_transpose)", () => {
    manualSeed(3);
    for (const k of [1, 3, 5]) {
      for (const lrmul of [1, 0.5]) {
        const none = new EqualizedConv2d(3, 4, k, { lrmul });
        const up = new EqualizedConv2d(3, 4, k, { lrmul, resample: 'up' });
        const down = new EqualizedConv2d(3, 4, k, { lrmul, resample: 'down' });
        scope(() => {
          const b = randn([4]);
          for (const m of [none, up, down]) { setParam(m.weight, none.weight); setParam(m.bias!, b); }
          const x = randn([2, 3, 6, 8], { dtype: 'float64' });
          for (const m of [none, up, down]) m.to('float64');
          const yDown = down.forward(x);
          assert.deepEqual(yDown.shape, [2, 4, 3, 4]);
          // average pooling of a bias-shifted map shifts by the same bias
          assertClose(arr(yDown), arr(nn.downscale2d(none.forward(x))), 1e-5, 1e-5, `down k=${k}`);
          const yUp = up.forward(x);
          assert.deepEqual(yUp.shape, [2, 4, 12, 16]);
          const flipped = F.conv2d(nn.upscale2d(x), none.weight.flip(2, 3).mul(none.weightGain), none.bias!.mul(lrmul), { padding: k >> 1 });
          assertClose(arr(yUp), arr(flipped), 1e-5, 1e-5, `up k=${k}`);
          if (k > 1) {
            // the flip is real: with the unflipped (asymmetric random) kernel it differs
            const unflipped = none.forward(nn.upscale2d(x));
            const d = yUp.sub(unflipped).abs().max().item();
            assert.ok(d > 1e-2, `up k=${k}: expected the unflipped sequence to differ, max diff ${d}`);
          }
        });
        for (const m of [none, up, down]) m.dispose();
      }
    }
    const d = new EqualizedConv2d(2, 2, 3, { resample: 'down' });
    assert.throws(() => d.forward(randn([1, 2, 5, 4])), /even height and width/);
    d.dispose();
    assert.throws(() => new EqualizedConv2d(2, 2, 4), /must be odd/);
  });

  test('gradients (weight, bias, input) match central finite differences in float64', () => {
    manualSeed(4);
    const cases: [string, () => nn.Module, number[]][] = [
      ['linear', () => new EqualizedLinear(6, 4, { lrmul: 0.1, gain: 1.5 }), [3, 6]],
      ['conv none', () => new EqualizedConv2d(2, 3, 3, { lrmul: 0.5 }), [2, 2, 4, 4]],
      ['conv up', () => new EqualizedConv2d(2, 3, 3, { lrmul: 2, resample: 'up' }), [2, 2, 3, 3]],
      ['conv down', () => new EqualizedConv2d(2, 3, 3, { resample: 'down' }), [2, 2, 4, 4]],
    ];
    for (const [name, make, xShape] of cases) {
      const m = make();
      m.to('float64');
      const params = m.parameters();
      noGrad(() => params[1].normal_(0, 1)); // nonzero bias: its gradient must still be exact
      const xData = scope(() => randn(xShape, { dtype: 'float64' }).toTypedArray() as Float64Array);
      const outShape = scope(() => m.forward(fromTypedArray(xData, xShape)).shape);
      const proj = scope(() => randn(outShape, { dtype: 'float64' }).toTypedArray() as Float64Array);
      const loss = (x: Tensor): Tensor => m.forward(x).mul(fromTypedArray(proj, outShape)).sum();
      const analytic = scope(() => {
        const x = fromTypedArray(xData, xShape).requiresGrad_();
        const gs = grad(loss(x), [x, ...params]);
        return gs.map((g) => arr(g!));
      });
      const evalLoss = (): number => noGrad(() => scope(() => loss(fromTypedArray(xData, xShape)).item()));
      const h = 1e-6;
      const targets: { data: Float64Array; apply: () => void }[] = [
        { data: xData, apply: () => {} },
        ...params.map((p) => {
          const data = scope(() => p.toTypedArray() as Float64Array);
          return { data, apply: () => noGrad(() => scope(() => { p.copy_(fromTypedArray(data, p.shape)); })) };
        }),
      ];
      targets.forEach((t, j) => {
        const numeric: number[] = [];
        for (let i = 0; i < t.data.length; i++) {
          const orig = t.data[i];
          t.data[i] = orig + h; t.apply();
          const up = evalLoss();
          t.data[i] = orig - h; t.apply();
          const dn = evalLoss();
          t.data[i] = orig; t.apply();
          numeric.push((up - dn) / (2 * h));
        }
        assert.ok(Math.max(...numeric.map(Math.abs)) > 1e-3, `${name}: vanishing gradient for target ${j}`);
        assertClose(analytic[j], numeric, 1e-5, 1e-7, `${name}: gradient of target ${j} (0 = input, then weight, bias)`);
      });
      m.dispose();
    }
  });
});

describe('pixel norm', () => {
  test('x / √(mean over channels of x² + eps) for [N, C] and [N, C, H, W]', () => {
    manualSeed(5);
    scope(() => {
      const x2 = randn([3, 5], { dtype: 'float64' });
      const v = arr(x2);
      const want = v.map((a, i) => {
        const r = Math.floor(i / 5);
        let ms = 0;
        for (let c = 0; c < 5; c++) ms += v[r * 5 + c] ** 2;
        return a / Math.sqrt(ms / 5 + 1e-8);
      });
      assertClose(arr(nn.pixelNorm(x2)), want, 1e-12, 1e-12, '[N, C]');
      const [N, C, H, W] = [2, 3, 2, 2];
      const x4 = randn([N, C, H, W], { dtype: 'float64' }).mul(1e-3);
      const u = arr(x4);
      const eps = 1e-6;
      const want4 = u.map((a, i) => {
        const n = Math.floor(i / (C * H * W)), p = i % (H * W);
        let ms = 0;
        for (let c = 0; c < C; c++) ms += u[n * C * H * W + c * H * W + p] ** 2;
        return a / Math.sqrt(ms / C + eps);
      });
      assertClose(arr(new nn.PixelNorm(eps).forward(x4)), want4, 1e-12, 1e-14, '[N, C, H, W] with eps 1e-6');
      // the result has unit mean square per pixel (eps negligible at this scale)
      const ms = nn.pixelNorm(x4.mul(1e3)).square().mean(1);
      assertClose(arr(ms), new Array(N * H * W).fill(1), 1e-6, 1e-6, 'unit mean square');
    });
  });
});

/** The TF minibatch_stddev_layer in plain JS, float64: group of sample i is i mod M. */
function stddevReference(x: number[], [N, C, H, W]: number[], groupSize: number, nf: number): number[] {
  const G = Math.min(groupSize, N), M = N / G, cpf = C / nf;
  const at = (n: number, c: number, h: number, w: number): number => x[((n * C + c) * H + h) * W + w];
  const feat: number[][] = [];
  for (let m = 0; m < M; m++) {
    feat.push([]);
    for (let f = 0; f < nf; f++) {
      let acc = 0;
      for (let c = f * cpf; c < (f + 1) * cpf; c++) {
        for (let h = 0; h < H; h++) {
          for (let w = 0; w < W; w++) {
            const vals: number[] = [];
            for (let g = 0; g < G; g++) vals.push(at(g * M + m, c, h, w));
            const mean = vals.reduce((a, b) => a + b, 0) / G;
            const v = vals.reduce((a, b) => a + (b - mean) ** 2, 0) / G;
            acc += Math.sqrt(v + 1e-8);
          }
        }
      }
      feat[m].push(acc / (cpf * H * W));
    }
  }
  const out: number[] = [];
  for (let n = 0; n < N; n++) {
    for (let c = 0; c < C + nf; c++) {
      for (let h = 0; h < H; h++) for (let w = 0; w < W; w++) out.push(c < C ? at(n, c, h, w) : feat[n % M][c - C]);
    }
  }
  return out;
}

describe('minibatch stddev', () => {
  test('matches a plain-JS implementation of the TF formula (groups, new features, small batches)', () => {
    manualSeed(6);
    const cases: [number[], number, number][] = [
      [[8, 4, 2, 3], 4, 1],
      [[8, 4, 2, 3], 4, 2],
      [[8, 6, 3, 2], 2, 3],
      [[2, 3, 2, 2], 4, 1], // group = min(4, N) = 2
      [[4, 2, 1, 1], 1, 1], // group of one: stddev √1e-8
    ];
    for (const [shape, g, nf] of cases) {
      scope(() => {
        const x = randn(shape, { dtype: 'float64' });
        const y = nn.minibatchStddev(x, g, nf);
        assert.deepEqual(y.shape, [shape[0], shape[1] + nf, shape[2], shape[3]]);
        assertClose(arr(y), stddevReference(arr(x), shape, g, nf), 1e-10, 1e-12, `shape ${shape} group ${g} features ${nf}`);
        const m = new nn.MinibatchStddev(g, nf);
        assertClose(arr(m.forward(x)), arr(y), 0, 0, 'module = function');
      });
    }
    // float32 input stays float32
    scope(() => assert.equal(nn.minibatchStddev(randn([4, 2, 2, 2])).dtype, 'float32'));
  });

  test('grouping is by i mod (N/G): samples 0 and 2 form one group of a batch of 4 with group size 2', () => {
    scope(() => {
      // samples 0,2 identical → stddev ≈ 0 for them (and for their group); 1,3 differ by 2 → stddev 1
      const x = tensor([[[[5]]], [[[0]]], [[[5]]], [[[2]]]], { dtype: 'float64' });
      const y = arr(nn.minibatchStddev(x, 2).select(1, 1).flatten());
      assertClose(y, [1e-4, Math.sqrt(1 + 1e-8), 1e-4, Math.sqrt(1 + 1e-8)], 1e-12, 1e-15);
    });
  });

  test('an indivisible batch, or features not dividing the channels, throws a clear error', () => {
    assert.throws(() => nn.minibatchStddev(randn([6, 2, 2, 2]), 4), /batch size 6 must be divisible by the group size 4/);
    assert.throws(() => nn.minibatchStddev(randn([4, 3, 2, 2]), 4, 2), /numNewFeatures \(2\)/);
  });
});

describe('resampling', () => {
  test('upscale2d: nearest neighbour, shapes and values', () => {
    scope(() => {
      const x = tensor([[[[1, 2], [3, 4]]]], { dtype: 'float32' });
      const y = nn.upscale2d(x);
      assert.deepEqual(y.shape, [1, 1, 4, 4]);
      assert.deepEqual(arr(y), [1, 1, 2, 2, 1, 1, 2, 2, 3, 3, 4, 4, 3, 3, 4, 4]);
      assert.deepEqual(nn.upscale2d(randn([2, 3, 2, 5]), 3).shape, [2, 3, 6, 15]);
      assert.deepEqual(arr(nn.upscale2d(x, 3).select(2, 2).flatten()), [1, 1, 1, 2, 2, 2]);
    });
  });

  test('downscale2d: box average, and the left inverse of upscale2d', () => {
    scope(() => {
      const x = tensor([[[[0, 1, 2, 3], [4, 5, 6, 7], [8, 9, 10, 11], [12, 13, 14, 15]]]], { dtype: 'float32' });
      const y = nn.downscale2d(x);
      assert.deepEqual(y.shape, [1, 1, 2, 2]);
      assert.deepEqual(arr(y), [2.5, 4.5, 10.5, 12.5]);
      assert.deepEqual(arr(nn.downscale2d(x, 4)), [7.5]);
      const r = randn([2, 3, 4, 6]);
      assertClose(arr(nn.downscale2d(nn.upscale2d(r))), arr(r), 1e-6, 1e-7);
    });
  });

  test('blur2d: [1,2,1] ⊗ [1,2,1]/16 with SAME padding, flip, normalize, even filters, depthwise', () => {
    scope(() => {
      // impulse at a corner: only the kernel's centre/right/bottom taps reach the border pixels
      const corner = tensor([[[[1, 0, 0], [0, 0, 0], [0, 0, 0]]]], { dtype: 'float32' });
      assertClose(arr(nn.blur2d(corner)), [4, 2, 0, 2, 1, 0, 0, 0, 0].map((v) => v / 16), 1e-7, 1e-8, 'corner');
      assertClose(arr(nn.blur2d(corner, [1, 2, 1], false)), [4, 2, 0, 2, 1, 0, 0, 0, 0], 1e-7, 1e-8, 'unnormalised');
      // an asymmetric filter: cross-correlation shows the kernel reversed around an impulse, flip shows it as written
      const centre = tensor([[[[0, 0, 0], [0, 1, 0], [0, 0, 0]]]], { dtype: 'float32' });
      assertClose(arr(nn.blur2d(centre, [1, 2, 3])), [9, 6, 3, 6, 4, 2, 3, 2, 1].map((v) => v / 36), 1e-7, 1e-8, 'no flip');
      assertClose(arr(nn.blur2d(centre, [1, 2, 3], true, true)), [1, 2, 3, 2, 4, 6, 3, 6, 9].map((v) => v / 36), 1e-7, 1e-8, 'flip');
      assertClose(arr(new nn.Blur2d([1, 2, 3], true, true).forward(centre)), [1, 2, 3, 2, 4, 6, 3, 6, 9].map((v) => v / 36), 1e-7, 1e-8, 'module');
      // even length: TF SAME pads 0 before and 1 after
      const ramp = tensor([[[[0, 1, 2], [3, 4, 5], [6, 7, 8]]]], { dtype: 'float32' });
      assertClose(arr(nn.blur2d(ramp, [1, 1])), [2, 3, 1.75, 5, 6, 3.25, 3.25, 3.75, 2], 1e-6, 1e-7, 'even filter');
      // depthwise: channels do not mix; a constant interior stays constant
      const two = randn([1, 1, 5, 5]); // channel 1 = 3 × channel 0
      const y = nn.blur2d(two.repeat(2, 2, 1, 1).mul(tensor([1, 3], { dtype: 'float32' }).reshape(1, 2, 1, 1)));
      assert.deepEqual(y.shape, [2, 2, 5, 5]);
      assertClose(arr(y.select(1, 1)), arr(y.select(1, 0).mul(3)), 1e-5, 1e-6, 'depthwise');
      const ones = nn.blur2d(tensor(new Array(25).fill(1), { dtype: 'float32' }).reshape(1, 1, 5, 5));
      assert.equal(ones.select(2, 2).select(2, 2).item(), 1);
    });
  });

  test('none of these layers leaks tensors', () => {
    const conv = new EqualizedConv2d(2, 3, 3, { lrmul: 0.5, resample: 'up' });
    const lin = new EqualizedLinear(8, 3, { lrmul: 0.5 });
    const x = randn([4, 2, 2, 2]).keep();
    const live = liveTensors();
    scope(() => {
      conv.forward(x); lin.forward(x); nn.pixelNorm(x); nn.minibatchStddev(x); nn.blur2d(x); nn.upscale2d(x); nn.downscale2d(x);
    });
    assert.equal(liveTensors(), live);
    conv.dispose(); lin.dispose(); x.dispose();
  });
});
