// StyleGAN2's ops (src/nn: upfirdn2d, conv2d_resample, modulated_conv2d, bias_act and the
// layers with run-time gains) against stylegan2-ada-pytorch's own functions, in float64
// (test/fixtures/stylegan2/make_ops_fixtures.py), plus gradients against finite differences.
import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import * as torch from '../src/torch/index.js';
import { Tensor, scope } from '../src/torch/index.js';
import * as nn from '../src/nn/index.js';
import * as io from '../src/io/index.js';
import { assertClose, fromRoot } from './helpers.js';

const { tensors: t } = io.loadSafetensors(fromRoot('test/fixtures/stylegan2/ops.safetensors'));
const arr = (x: Tensor): number[] => Array.from(x.toTypedArray() as Float64Array);
const same = (got: Tensor, want: Tensor, msg: string): void => {
  assert.deepEqual(got.shape, want.shape, `${msg}: shape`);
  assertClose(arr(got), arr(want), 1e-10, 1e-11, msg);
};

describe('upfirdn2d against the reference (float64)', () => {
  test('setupFilter([1,3,3,1]) is the reference filter', () => {
    scope(() => same(nn.setupFilter([1, 3, 3, 1]).double(), t.filter, 'filter'));
  });
  test('up, down, crop with a flipped filter, upsample2d, downsample2d', () => {
    scope(() => {
      const f = t.filter;
      same(nn.upfirdn2d(t.x, f, { up: 2, padding: [2, 1, 2, 1], gain: 4 }), t['up2.y'], 'up 2');
      same(nn.upfirdn2d(t.x, f, { down: 2, padding: [1, 1, 1, 1] }), t['down2.y'], 'down 2');
      same(nn.upfirdn2d(t.x, f, { padding: [-1, 2, 0, -2], flipFilter: true }), t['crop.y'], 'negative padding');
      same(nn.upsample2d(t.x, f), t['upsample2d.y'], 'upsample2d');
      same(nn.downsample2d(t.x, f), t['downsample2d.y'], 'downsample2d');
    });
  });
  test('bad arguments are refused', () => {
    scope(() => {
      assert.throws(() => nn.upfirdn2d(t.x, t.filter, { up: 0 }), /up must be a positive integer/);
      assert.throws(() => nn.upfirdn2d(t.x.select(0, 0), t.filter), /NCHW/);
    });
  });
});

describe('conv2d_resample against the reference (float64)', () => {
  test('3×3 and 1×1 kernels, up and down', () => {
    scope(() => {
      const f = t.filter;
      same(nn.conv2dResample(t.xc, t.w3, { filter: f, padding: 1 }), t['resample.none'], 'plain');
      same(nn.conv2dResample(t.xc, t.w3, { filter: f, up: 2, padding: 1, flipWeight: false }), t['resample.up3'], '3×3 up');
      same(nn.conv2dResample(t.xc, t.w3, { filter: f, down: 2, padding: 1 }), t['resample.down3'], '3×3 down');
      same(nn.conv2dResample(t.xc, t.w1, { filter: f, up: 2 }), t['resample.up1'], '1×1 up');
      same(nn.conv2dResample(t.xc, t.w1, { filter: f, down: 2 }), t['resample.down1'], '1×1 down');
    });
  });
});

describe('modulated_conv2d against the reference (float64)', () => {
  for (const demod of [true, false]) {
    for (const fused of [true, false]) {
      const name = `modconv.${demod ? 'demod' : 'nodemod'}.${fused ? 'fused' : 'sep'}`;
      test(`${demod ? 'with' : 'without'} demodulation, ${fused ? 'fused (grouped)' : 'per sample'}; and upsampling with noise`, () => {
        scope(() => {
          same(nn.modulatedConv2d(t.xc, t.w3, t.styles, { padding: 1, filter: t.filter, demodulate: demod, fused }), t[name], name);
          same(nn.modulatedConv2d(t.xc, t.w3, t.styles, { noise: t.noise, up: 2, padding: 1, filter: t.filter, demodulate: demod, flipWeight: false, fused }), t[`${name}.up`], `${name}.up`);
        });
      });
    }
  }
  test('fused and per-sample forms have the same weight gradient', () => {
    scope(() => {
      const g = [true, false].map((fused) => {
        const w = t.w3.clone().requiresGrad_(true);
        nn.modulatedConv2d(t.xc, w, t.styles, { up: 2, padding: 1, filter: t.filter, flipWeight: false, fused }).square().sum().backward();
        return arr(w.grad!);
      });
      assertClose(g[0], g[1], 1e-10, 1e-10);
    });
  });
});

describe('bias_act against the reference (float64)', () => {
  test('lrelu with gain √2; gain and clamp', () => {
    scope(() => {
      const x = t.xc.mul(3);
      same(nn.biasAct(x, t.bias, { act: 'lrelu' }), t['biasact.lrelu'], 'lrelu');
      same(nn.biasAct(x, t.bias, { act: 'lrelu', gain: 0.7, clamp: 1.5 }), t['biasact.clamp'], 'clamp');
    });
  });
});

describe('FullyConnectedLayer and Conv2dLayer', () => {
  test('run-time gains: lr multiplier on the weight and bias, the activation gain after it', () => {
    scope(() => {
      const fc = new nn.FullyConnectedLayer(6, 3, { activation: 'lrelu', lrMultiplier: 0.01, biasInit: 0.5 }).to('float64');
      const x = torch.randn([4, 6], { dtype: 'float64' });
      const pre = x.matmul(fc.weight.mul(0.01 / Math.sqrt(6)).t()).add(fc.bias!.mul(0.01));
      same(fc.forward(x), torch.F.leakyRelu(pre, 0.2).mul(Math.SQRT2), 'fc');
      assert.deepEqual(Object.keys(fc.stateDict()), ['weight', 'bias']);
      assert.ok(Math.abs(arr(fc.bias!)[0] - 0.5) < 1e-12, 'bias_init');
      fc.dispose();
      const conv = new nn.Conv2dLayer(4, 5, 3, { activation: 'lrelu', down: 2, convClamp: 256 }).to('float64');
      assert.deepEqual(Object.keys(conv.stateDict()), ['weight', 'bias', 'resample_filter']);
      const y = conv.forward(t.xc, Math.SQRT1_2);
      const want = nn.biasAct(nn.conv2dResample(t.xc, conv.weight.mul(1 / Math.sqrt(36)), { filter: t.filter, down: 2, padding: 1 }), conv.bias, { act: 'lrelu', gain: 1, clamp: 256 * Math.SQRT1_2 });
      same(y, want, 'conv');
      conv.dispose();
    });
  });
  test('upfirdn2d gradient matches finite differences', () => {
    scope(() => {
      const x = torch.randn([1, 1, 4, 4], { dtype: 'float64' }).requiresGrad_(true);
      const loss = (v: Tensor): Tensor => nn.upsample2d(v, t.filter).square().sum();
      loss(x).backward();
      const g = arr(x.grad!);
      const base = arr(x.detach());
      const eps = 1e-6;
      for (const i of [0, 5, 15]) {
        const p = base.slice(), m = base.slice();
        p[i] += eps; m[i] -= eps;
        const fd = (loss(torch.tensor(p, { dtype: 'float64' }).reshape(1, 1, 4, 4)).item() - loss(torch.tensor(m, { dtype: 'float64' }).reshape(1, 1, 4, 4)).item()) / (2 * eps);
        assert.ok(Math.abs(fd - g[i]) < 1e-6 * Math.max(1, Math.abs(fd)), `element ${i}: ${g[i]} vs ${fd}`);
      }
    });
  });
});

// The speed-ups of src/nn keep the maths: each faster form against the plain one, in float64.
describe('faster forms of the same maths (float64)', () => {
  const paths: [string, Tensor, nn.Conv2dResampleOptions][] = [
    ['plain', t.w3, { padding: 1 }], ['3×3 up', t.w3, { up: 2, padding: 1, flipWeight: false }], ['3×3 down', t.w3, { down: 2, padding: 1 }],
    ['1×1 up', t.w1, { up: 2 }], ['1×1 down', t.w1, { down: 2 }],
  ];
  test('conv2dResample with a bias (added by the convolution where it is the last op) = adding it afterwards', () => {
    scope(() => {
      for (const [name, w, o] of paths) {
        const b = torch.randn([w.size(0)], { dtype: 'float64' });
        const plain = nn.conv2dResample(t.xc, w, { ...o, filter: t.filter });
        same(nn.conv2dResample(t.xc, w, { ...o, filter: t.filter, bias: b }), plain.add(b.reshape(1, -1, 1, 1)), name);
      }
      assert.throws(() => nn.conv2dResample(t.xc, t.w3, { bias: torch.zeros([2], { dtype: 'float64' }) }), /bias must be \[/);
    });
  });
  test('modulatedConv2d gain scales the convolution, not the noise (fused and per sample, with and without demodulation)', () => {
    scope(() => {
      for (const demodulate of [true, false]) {
        for (const fused of [true, false]) {
          const o = { up: 2, padding: 1, filter: t.filter, flipWeight: false, demodulate, fused };
          const want = nn.modulatedConv2d(t.xc, t.w3, t.styles, o).mul(1.7).add(t.noise);
          same(nn.modulatedConv2d(t.xc, t.w3, t.styles, { ...o, gain: 1.7, noise: t.noise }), want, `demod ${demodulate}, fused ${fused}`);
        }
      }
    });
  });
  test('Conv2dLayer: the activation gain folded into the weight and bias gives act(conv + b)·gain, for every activation', () => {
    scope(() => {
      for (const activation of ['linear', 'lrelu', 'relu', 'tanh'] as const) {
        const conv = new nn.Conv2dLayer(4, 5, 3, { activation, down: 2 }).to('float64');
        torch.noGrad(() => conv.bias!.normal_(0, 1));
        const want = nn.biasAct(nn.conv2dResample(t.xc, conv.weight.mul(1 / Math.sqrt(36)), { filter: t.filter, down: 2, padding: 1 }), conv.bias, { act: activation, gain: nn.ACTIVATIONS[activation].gain * 0.5 });
        same(conv.forward(t.xc, 0.5), want, activation);
        conv.dispose();
      }
    });
  });
  test('channels-last convolutions give the NCHW values (GANFORGE_CHANNELS_LAST=1 against =0)', () => {
    const saved = process.env.GANFORGE_CHANNELS_LAST;
    try {
      scope(() => {
        const run = (flag: string): Tensor[] => {
          process.env.GANFORGE_CHANNELS_LAST = flag;
          return paths.map(([, w, o]) => nn.conv2dResample(t.xc, w, { ...o, filter: t.filter }));
        };
        const cl = run('1'), nchw = run('0');
        paths.forEach(([name], i) => {
          same(cl[i], nchw[i], name);
          assert.ok(nchw[i].isContiguous, `${name}: NCHW`);
        });
        // The plain convolution returns what oneDNN computed: channels-last strides.
        const [, c, h, w] = cl[0].shape;
        assert.deepEqual(cl[0].strides, [h * w * c, 1, w * c, c], 'plain: channels-last strides');
      });
    } finally {
      if (saved === undefined) delete process.env.GANFORGE_CHANNELS_LAST;
      else process.env.GANFORGE_CHANNELS_LAST = saved;
    }
  });
});
