// Resampling folded into a 3×3 convolution (nn/resample_conv.ts) against the two steps
// done apart: conv3x3(nearest-upsample(x)) and avgpool2(conv3x3(x)). Values and the
// gradients in x, the weight and the bias, in float64 (so equal to rounding on any CPU),
// for NCHW and channels-last inputs and sizes that are not square.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as torch from '../src/torch/index.js';
import { F } from '../src/torch/index.js';
import * as nn from '../src/nn/index.js';
import { assertClose } from './helpers.js';
import { withGrads } from './grad-helpers.js';

function close(a: torch.Tensor, b: torch.Tensor, label: string): void {
  assert.deepEqual(a.shape, b.shape, `${label}: shape`);
  // Tolerances scaled to the tensor: the sums are regrouped, so they differ by rounding only.
  const scale = b.abs().max().item() as number;
  assertClose(a.contiguous().toTypedArray() as Float64Array, b.contiguous().toTypedArray() as Float64Array, 1e-12, 1e-12 * scale, label);
}

for (const layout of ['NCHW', 'channels-last'] as const) {
  const input = (shape: number[]) => {
    const x = torch.withSeed(1, () => torch.randn(shape, { dtype: 'float64' }));
    return layout === 'NCHW' ? x : x.channelsLast();
  };
  const weights = (o: number, i: number) => torch.withSeed(2, () => [torch.randn([o, i, 3, 3], { dtype: 'float64' }), torch.randn([o], { dtype: 'float64' })]);

  test(`upsampleConv3x3 equals conv3x3 of the nearest 2× upsampled input, values and gradients (${layout})`, () => torch.scope(() => {
    const x = input([2, 5, 3, 4]);
    const [w, b] = weights(6, 5);
    const two = withGrads((x, w, b) => F.conv2d(F.interpolate(x, { scaleFactor: 2 }), w, b, { padding: 1 }), x, w, b, null);
    const one = withGrads((x, w, b) => nn.upsampleConv3x3(x, w, b), x, w, b, two.r);
    assert.deepEqual(one.y.shape, [2, 6, 6, 8]);
    close(one.y, two.y, 'output');
    close(one.gx, two.gx, 'gradient in x');
    close(one.gw, two.gw, 'gradient in the weight');
    close(one.gb, two.gb, 'gradient in the bias');
    if (layout === 'channels-last') assert.equal(one.y.strides[1], 1, 'the output stays channels-last');
    // Without a bias too.
    close(nn.upsampleConv3x3(x, w, null), F.conv2d(F.interpolate(x, { scaleFactor: 2 }), w, null, { padding: 1 }), 'output without bias');
  }));

  test(`conv3x3AvgPool equals 2×2 average pooling of conv3x3, values and gradients (${layout})`, () => torch.scope(() => {
    const x = input([2, 5, 6, 8]);
    const [w, b] = weights(7, 5);
    const two = withGrads((x, w, b) => F.avgPool2d(F.conv2d(x, w, b, { padding: 1 }), 2), x, w, b, null);
    const one = withGrads((x, w, b) => nn.conv3x3AvgPool(x, w, b), x, w, b, two.r);
    assert.deepEqual(one.y.shape, [2, 7, 3, 4]);
    close(one.y, two.y, 'output');
    close(one.gx, two.gx, 'gradient in x');
    close(one.gw, two.gw, 'gradient in the weight');
    close(one.gb, two.gb, 'gradient in the bias');
  }));
}

test('the folded convolutions refuse a kernel that is not 3×3', () => torch.scope(() => {
  const x = torch.randn([1, 2, 4, 4]);
  assert.throws(() => nn.upsampleConv3x3(x, torch.randn([3, 2, 1, 1]), null), /folds a 3×3 convolution, got a 1×1 kernel/);
  assert.throws(() => nn.conv3x3AvgPool(x, torch.randn([3, 2, 5, 5]), null), /folds a 3×3 convolution, got a 5×5 kernel/);
}));

// Where the 3×3 convolution runs by Winograd's algorithm (float32 on CPUs whose oneDNN has
// it), the layers take the plain order instead of the folds: the same map, in float32.
const winograd = torch.scope(() => F.winogradConv3x3(torch.randn([4, 16, 16, 16]), 16));
test('in float32 with Winograd convolutions, the resampling layers run the plain order: equal to float64, Winograd in the profile', { skip: winograd ? false : 'no Winograd kernel here (AVX-512 CPUs only)' }, () => torch.scope(() => {
  const x = torch.withSeed(3, () => torch.randn([4, 16, 16, 12], { dtype: 'float64' }));
  const [w, b] = torch.withSeed(4, () => [torch.randn([24, 16, 3, 3], { dtype: 'float64' }).mul(0.1), torch.randn([24], { dtype: 'float64' })]);
  const cases: Array<[string, (x: torch.Tensor, w: torch.Tensor, b: torch.Tensor) => torch.Tensor, (x: torch.Tensor, w: torch.Tensor, b: torch.Tensor) => torch.Tensor]> = [
    ['upsampleConv3x3', (x, w, b) => nn.upsampleConv3x3(x, w, b), (x, w, b) => F.conv2d(F.interpolate(x, { scaleFactor: 2 }), w, b, { padding: 1 })],
    ['conv3x3AvgPool', (x, w, b) => nn.conv3x3AvgPool(x, w, b), (x, w, b) => F.avgPool2d(F.conv2d(x, w, b, { padding: 1 }), 2)],
  ];
  for (const [name, layer, plain] of cases) {
    const want = withGrads(plain, x, w, b, null);
    const { result: got, profile } = torch.profiler.profile(() => withGrads(layer, x.float(), w.float(), b.float(), want.r.float()));
    assert.ok(profile.events.some((e) => e.name === 'ganforge::conv2d_winograd'), `${name}: no Winograd convolution ran`);
    for (const k of ['y', 'gx', 'gw', 'gb'] as const) {
      const err = got[k].double().sub(want[k]).abs().max().item(), scale = want[k].abs().max().item();
      assert.ok(err <= 1e-5 * scale, `${name} ${k}: max error ${err} against scale ${scale}`);
    }
  }
  // Where it would not run, they fold: float64, channels-last, or too few tiles (one 4×4 sample).
  assert.equal(F.winogradConv3x3(x, 24), false);
  assert.equal(F.winogradConv3x3(x.float().channelsLast(), 24), false);
  assert.equal(F.winogradConv3x3(torch.randn([1, 16, 4, 4]), 24, { size: [8, 8] }), false);
  assert.equal(F.winogradConv3x3(torch.randn([1, 16, 4, 4]), 24, { size: [32, 32] }), true);
}));
