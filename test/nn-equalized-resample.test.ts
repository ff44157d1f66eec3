// EqualizedConv2d's folded resampling (forwardUpscaled, forwardDownscaled: PGGAN's and
// StyleGAN's non-fused up/down layers) against the plain order, upscale2d then forward and
// forward then downscale2d: values and the gradients in the input, the weight and the bias,
// in float64 (equal to rounding on any CPU), with lrmul ≠ 1 so the bias's scale is covered.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as torch from '../src/torch/index.js';
import * as nn from '../src/nn/index.js';
import { assertClose } from './helpers.js';

function close(a: torch.Tensor, b: torch.Tensor, label: string): void {
  assert.deepEqual(a.shape, b.shape, `${label}: shape`);
  const scale = b.abs().max().item() as number;
  assert.ok(scale > 0, `${label}: a zero reference proves nothing`);
  assertClose(a.contiguous().toTypedArray() as Float64Array, b.contiguous().toTypedArray() as Float64Array, 1e-12, 1e-12 * scale, label);
}

/** The output and the gradients of Σ out·r in x and every parameter of `conv`. */
function run(conv: nn.EqualizedConv2d, f: (x: torch.Tensor) => torch.Tensor, x0: torch.Tensor, r: torch.Tensor | null) {
  const x = x0.detach().clone();
  x.requiresGrad = true;
  const y = f(x);
  const rr = r ?? torch.withSeed(5, () => torch.randn(y.shape, { dtype: 'float64' }));
  const params = conv.parameters();
  const g = torch.grad(y.mul(rr).sum(), [x, ...params]) as torch.Tensor[];
  return { y: y.detach(), grads: g, r: rr };
}

function layer(k: number, lrmul: number): nn.EqualizedConv2d {
  const conv = torch.withSeed(3, () => new nn.EqualizedConv2d(5, 6, k, { lrmul }).to('float64'));
  // A non-zero bias, so that where it is added matters.
  torch.noGrad(() => conv.bias!.copy_(torch.withSeed(4, () => torch.randn([6], { dtype: 'float64' }))));
  return conv;
}

const CASES = [
  { name: 'forwardUpscaled equals forward(upscale2d(x))', input: [2, 5, 3, 4], output: [2, 6, 6, 8],
    plain: (c: nn.EqualizedConv2d, x: torch.Tensor) => c.forward(nn.upscale2d(x)), folded: (c: nn.EqualizedConv2d, x: torch.Tensor) => c.forwardUpscaled(x) },
  { name: 'forwardDownscaled equals downscale2d(forward(x))', input: [2, 5, 6, 8], output: [2, 6, 3, 4],
    plain: (c: nn.EqualizedConv2d, x: torch.Tensor) => nn.downscale2d(c.forward(x)), folded: (c: nn.EqualizedConv2d, x: torch.Tensor) => c.forwardDownscaled(x) },
];

for (const k of [3, 1]) {
  for (const c of CASES) {
    test(`${c.name}, values and gradients (${k}×${k}, float64)`, () => torch.scope(() => {
      const conv = layer(k, 0.5);
      const x = torch.withSeed(1, () => torch.randn(c.input, { dtype: 'float64' }));
      const plain = run(conv, (x) => c.plain(conv, x), x, null);
      const folded = run(conv, (x) => c.folded(conv, x), x, plain.r);
      assert.deepEqual(folded.y.shape, c.output);
      close(folded.y, plain.y, 'output');
      ['input', 'weight', 'bias'].forEach((name, i) => close(folded.grads[i], plain.grads[i], `gradient in the ${name}`));
    }));
  }
}

test('the folded forms refuse a layer that already resamples', () => torch.scope(() => {
  const x = torch.randn([1, 2, 4, 4]);
  assert.throws(() => new nn.EqualizedConv2d(2, 3, 3, { resample: 'up' }).forwardUpscaled(x), /forwardUpscaled is for resample 'none' layers, this one has 'up'/);
  assert.throws(() => new nn.EqualizedConv2d(2, 3, 3, { resample: 'down' }).forwardDownscaled(x), /forwardDownscaled is for resample 'none' layers, this one has 'down'/);
}));
