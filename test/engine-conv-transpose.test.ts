// F.convTranspose2d on the CPU runs as a convolution's input gradient (native/conv_transpose.cc).
// Checked against an independent form of the same map — zeros inserted between the input's
// pixels, then an ordinary convolution with the flipped, transposed kernel — in float64
// (equal to rounding on any CPU), for the shapes the families use (k4 s2 p1, k3 s2 p1 with
// output padding, k3 s2 p0, a 1×1 input), groups, dilation and channels-last inputs; its
// gradients, and a second derivative (create_graph), against finite differences; the
// FLOP counter still sees transposed-convolution work; bad arguments are refused in
// libtorch's words.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as torch from '../src/torch/index.js';
import { F, type Tensor } from '../src/torch/index.js';
import { assertClose } from './helpers.js';
import { numericGrad, withGrads } from './grad-helpers.js';

interface Case { name: string; n: number; cin: number; cout: number; h: number; w: number; k: number; stride: number; padding: number; outputPadding?: number; groups?: number; dilation?: number }

const CASES: Case[] = [
  { name: 'DCGAN/pix2pix k4 s2 p1', n: 2, cin: 6, cout: 4, h: 5, w: 3, k: 4, stride: 2, padding: 1 },
  { name: 'DCGAN first layer k4 s1 p0 from 1×1', n: 3, cin: 7, cout: 5, h: 1, w: 1, k: 4, stride: 1, padding: 0 },
  { name: 'CycleGAN k3 s2 p1 output_padding 1', n: 2, cin: 4, cout: 6, h: 4, w: 5, k: 3, stride: 2, padding: 1, outputPadding: 1 },
  { name: 'StyleGAN2 up k3 s2 p0', n: 2, cin: 5, cout: 3, h: 3, w: 3, k: 3, stride: 2, padding: 0 },
  { name: 'groups 2, dilation 2', n: 2, cin: 4, cout: 6, h: 4, w: 3, k: 3, stride: 2, padding: 2, groups: 2, dilation: 2 },
];

/** The same map computed without a transposed convolution: zero insertion, padding, conv2d. */
function reference(x: Tensor, w: Tensor, b: Tensor | null, c: Case): Tensor {
  const [n, cin, h, wd] = x.shape;
  const s = c.stride, d = c.dilation ?? 1, g = c.groups ?? 1, op = c.outputPadding ?? 0;
  const k = w.shape[2];
  // Zeros between pixels: [N, C, H, s, W, s] with x at offset 0, cut to (H−1)s+1.
  const spread = F.pad(x.contiguous().view(n, cin, h, 1, wd, 1), [0, s - 1, 0, 0, 0, s - 1]).reshape(n, cin, h * s, wd * s).narrow(2, 0, (h - 1) * s + 1).narrow(3, 0, (wd - 1) * s + 1);
  const lo = d * (k - 1) - c.padding;
  const padded = F.pad(spread, [lo, lo + op, lo, lo + op]);
  // [in, out/g, k, k] → [out, in/g, k, k], flipped: a correlation with the flipped kernel is the transposed kernel's convolution.
  const outPerGroup = w.shape[1];
  const kernel = w.reshape(g, cin / g, outPerGroup, k, k).transpose(1, 2).reshape(g * outPerGroup, cin / g, k, k).flip(2, 3);
  return F.conv2d(padded, kernel, b, { dilation: d, groups: g });
}

function inputs(c: Case, seed: number) {
  return torch.withSeed(seed, () => ({
    x: torch.randn([c.n, c.cin, c.h, c.w], { dtype: 'float64' }),
    w: torch.randn([c.cin, c.cout / (c.groups ?? 1), c.k, c.k], { dtype: 'float64' }),
    b: torch.randn([c.cout], { dtype: 'float64' }),
  }));
}

const opts = (c: Case) => ({ stride: c.stride, padding: c.padding, outputPadding: c.outputPadding ?? 0, groups: c.groups ?? 1, dilation: c.dilation ?? 1 });
const values = (t: Tensor): Float64Array => t.contiguous().toTypedArray() as Float64Array;

for (const c of CASES) {
  test(`convTranspose2d equals zero insertion + conv2d: ${c.name} (float64, NCHW and channels-last, float32 too)`, () => torch.scope(() => {
    const { x, w, b } = inputs(c, 1);
    const want = reference(x, w, b, c);
    for (const xi of [x, x.channelsLast()]) {
      const y = F.convTranspose2d(xi, w, b, opts(c));
      assert.deepEqual(y.shape, want.shape);
      assertClose(values(y), values(want), 1e-12, 1e-12, c.name);
    }
    const y32 = F.convTranspose2d(x.float(), w.float(), b.float(), opts(c));
    assertClose(values(y32.double()), values(want), 1e-4, 1e-5, `${c.name} float32`);
  }));

  test(`convTranspose2d gradients in x, weight and bias equal the independent form's: ${c.name}`, () => torch.scope(() => {
    const { x, w, b } = inputs(c, 2);
    const theirs = withGrads((x, w, b) => reference(x, w, b, c), x, w, b, null);
    const ours = withGrads((x, w, b) => F.convTranspose2d(x, w, b, opts(c)), x, w, b, theirs.r);
    for (const [name, k] of [['x', 'gx'], ['weight', 'gw'], ['bias', 'gb']] as const) assertClose(values(ours[k]), values(theirs[k]), 1e-12, 1e-12, `${c.name}: d/d${name}`);
  }));
}

test('convTranspose2d: the weight gradient against finite differences, and a second derivative (create_graph) against finite differences of the first', () => torch.scope(() => {
  const c = CASES[0];
  const { x, w: w0, b } = inputs(c, 4);
  const w = w0.detach().clone().requiresGrad_(true);
  const r = torch.withSeed(5, () => torch.randn([c.n, c.cout, 2 * c.h, 2 * c.w], { dtype: 'float64' }));
  const loss = () => torch.scope(() => F.convTranspose2d(x, w, b, opts(c)).tanh().mul(r).sum().item());
  const [g] = torch.grad(F.convTranspose2d(x, w, b, opts(c)).tanh().mul(r).sum(), [w]) as Tensor[];
  const idx = [0, 7, 31, 95].filter((i) => i < w.numel);
  const fd = torch.noGrad(() => numericGrad(loss, w, idx));
  const gv = values(g);
  assertClose(idx.map((i) => gv[i]), fd, 1e-6, 1e-8, 'dL/dw');
  // ‖dL/dx‖² as a function of w: its gradient goes through the backward's own ops.
  const xg = x.detach().clone().requiresGrad_(true);
  const penalty = (): Tensor => {
    const [gx] = torch.grad(F.convTranspose2d(xg, w, b, opts(c)).tanh().mul(r).sum(), [xg], { createGraph: true }) as Tensor[];
    return gx.square().sum();
  };
  const [gw2] = torch.grad(penalty(), [w]) as Tensor[];
  const fd2 = torch.noGrad(() => numericGrad(() => torch.scope(() => torch.enableGrad(() => penalty().item())), w, idx));
  const g2 = values(gw2);
  assertClose(idx.map((i) => g2[i]), fd2, 1e-5, 1e-7, 'd‖dL/dx‖²/dw');
}));

test('convTranspose2d: the FLOP counter sees transposed-convolution work, forward and both gradients', () => torch.scope(() => {
  const c = CASES[0];
  const { x, w } = inputs(c, 6);
  const macs = x.numel * c.cout * c.k * c.k;
  const fwd = torch.countFlops(() => torch.noGrad(() => F.convTranspose2d(x, w, null, opts(c)))).flops;
  assert.equal(fwd.forward.convTranspose, 2 * macs);
  const wg = w.detach().clone().requiresGrad_(true), xg = x.detach().clone().requiresGrad_(true);
  const both = torch.countFlops(() => { F.convTranspose2d(xg, wg, null, opts(c)).sum().backward(); }).flops;
  assert.equal(both.forward.convTranspose, 2 * macs);
  assert.equal(both.backward.convTranspose, 2 * 2 * macs);
}));

test('convTranspose2d: arguments libtorch refuses are refused in one line', () => torch.scope(() => {
  const x = torch.randn([1, 3, 4, 4]);
  assert.throws(() => F.convTranspose2d(x, torch.randn([4, 2, 3, 3]), null, { stride: 2 }), /channels|weight|size/i);
  assert.throws(() => F.convTranspose2d(x, torch.randn([3, 2, 3, 3]), null, { stride: 2, outputPadding: 2 }), /output padding/i);
}));
