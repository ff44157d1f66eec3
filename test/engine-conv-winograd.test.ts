// F.conv2d runs 3×3, stride-1 float32 convolutions on the CPU by Winograd's F(4×4, 3×3)
// through oneDNN (native/conv_winograd.cc) where oneDNN has that kernel (AVX-512 CPUs).
// Checked against libtorch's direct convolution in float64 (which never takes that path):
// the outputs, the gradients in input, weight and bias, and a second derivative through a
// create_graph backward (R1's shape), within float32 rounding scaled to each tensor; the
// shapes that must keep libtorch's op (stride 2, channels-last, too few tiles, float64)
// keep it; the FLOP counter counts the direct convolution's work; GANFORGE_WINOGRAD=0
// turns the path off; a step leaves no tensor behind. On a CPU without the kernel the same
// value checks run against libtorch's op, and the checks that the path ran are skipped.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as torch from '../src/torch/index.js';
import { F, type Tensor } from '../src/torch/index.js';
import { profile } from '../src/torch/profiler.js';
import { fromRoot } from './helpers.js';

interface Case { name: string; n: number; cin: number; cout: number; h: number; w: number; padding: number; bias: boolean }

const CASES: Case[] = [
  { name: 'BigGAN/PGGAN block conv, padding 1', n: 4, cin: 32, cout: 48, h: 16, w: 16, padding: 1, bias: true },
  { name: 'CycleGAN resnet conv on a reflect-padded map, padding 0, not square', n: 2, cin: 16, cout: 16, h: 18, w: 26, padding: 0, bias: true },
  { name: 'first layer, 3 input channels, no bias, odd size', n: 6, cin: 3, cout: 16, h: 13, w: 15, padding: 1, bias: false },
];

/** Whether `f` ran the Winograd op (or its backward). */
function ranWinograd(f: () => unknown, op = 'ganforge::conv2d_winograd'): boolean {
  const { profile: p } = profile(() => torch.scope(() => { f(); }));
  return p.events.some((e) => e.name === op);
}

// Whether this CPU has oneDNN's Winograd kernel (and the addon was built against oneDNN).
const available = torch.scope(() => ranWinograd(() => F.conv2d(torch.randn([4, 16, 16, 16]), torch.randn([16, 16, 3, 3]), null, { padding: 1 })));
const onWinograd = { skip: available ? false : 'no Winograd kernel here (oneDNN has it on AVX-512 CPUs only)' };

function inputs(c: Case, seed: number) {
  return torch.withSeed(seed, () => ({
    x: torch.randn([c.n, c.cin, c.h, c.w], { dtype: 'float64' }),
    w: torch.randn([c.cout, c.cin, 3, 3], { dtype: 'float64' }).mul(1 / Math.sqrt(9 * c.cin)),
    b: torch.randn([c.cout], { dtype: 'float64' }),
  }));
}

/** max |a − e| ≤ tol · max |e|: float32 rounding, scaled to the tensor. */
function assertNear(a: Tensor, e: Tensor, tol: number, label: string): void {
  assert.deepEqual(a.shape, e.shape, label);
  const err = a.double().sub(e).abs().max().item();
  const scale = e.abs().max().item();
  assert.ok(scale > 0, `${label}: an all-zero reference checks nothing`);
  assert.ok(err <= tol * scale, `${label}: max error ${err.toExponential(2)} > ${tol} × ${scale.toExponential(2)}`);
}

/** Σ conv(x)·r and its gradients in x, w (and b), with fresh leaves of x0, w0, b0's dtype. */
function gradsOf(x0: Tensor, w0: Tensor, b0: Tensor | null, r: Tensor, padding: number) {
  const [x, w] = [x0, w0].map((t) => t.detach().clone().requiresGrad_(true));
  const b = b0 ? b0.detach().clone().requiresGrad_(true) : null;
  const y = F.conv2d(x, w, b, { padding });
  const g = torch.grad(y.mul(r.to({ dtype: y.dtype })).sum(), b ? [x, w, b] : [x, w]) as Tensor[];
  return { y: y.detach(), gx: g[0], gw: g[1], gb: g[2] ?? null };
}

for (const c of CASES) {
  test(`conv2d 3×3 in float32 equals the float64 direct convolution, with its gradients: ${c.name}`, () => torch.scope(() => {
    const { x, w, b } = inputs(c, 1);
    const bias = c.bias ? b : null;
    const r = torch.withSeed(2, () => torch.randn([c.n, c.cout, c.h + 2 * c.padding - 2, c.w + 2 * c.padding - 2], { dtype: 'float64' }));
    const want = gradsOf(x, w, bias, r, c.padding);
    const ours = gradsOf(x.float(), w.float(), bias?.float() ?? null, r, c.padding);
    // Winograd's transforms round more than the direct sum: a few 1e-7 to 1e-6 of the
    // tensor's largest value here; 1e-5 leaves room for other kernels' summation orders.
    assertNear(ours.y, want.y, 1e-5, `${c.name}: y`);
    assertNear(ours.gx, want.gx, 1e-5, `${c.name}: d/dx`);
    assertNear(ours.gw, want.gw, 1e-5, `${c.name}: d/dw`);
    if (c.bias) assertNear(ours.gb!, want.gb!, 1e-5, `${c.name}: d/db`);
  }));

  test(`conv2d 3×3 float32 runs as Winograd's convolution, forward and backward: ${c.name}`, onWinograd, () => torch.scope(() => {
    const { x, w, b } = inputs(c, 1);
    const [xf, wf] = [x.float().requiresGrad_(true), w.float().requiresGrad_(true)];
    const conv = () => F.conv2d(xf, wf, c.bias ? b.float() : null, { padding: c.padding });
    assert.ok(ranWinograd(conv));
    assert.ok(ranWinograd(() => conv().sum().backward(), 'ganforge::conv2d_winograd_backward'));
  }));
}

test('conv2d: a second derivative through a create_graph backward (R1) equals float64', () => torch.scope(() => {
  const c = CASES[0];
  const { x, w, b } = inputs(c, 3);
  const r = torch.withSeed(4, () => torch.randn([c.n, c.cout, c.h, c.w], { dtype: 'float64' }));
  // ‖d(Σ tanh(conv(x))·r)/dx‖² as a function of w: its gradient differentiates the backward.
  const penaltyGrad = (x0: Tensor, w0: Tensor, b0: Tensor): Tensor => {
    const xg = x0.detach().clone().requiresGrad_(true);
    const wg = w0.detach().clone().requiresGrad_(true);
    const [gx] = torch.grad(F.conv2d(xg, wg, b0, { padding: 1 }).tanh().mul(r.to({ dtype: x0.dtype })).sum(), [xg], { createGraph: true }) as Tensor[];
    return (torch.grad(gx.square().sum(), [wg]) as Tensor[])[0];
  };
  assertNear(penaltyGrad(x.float(), w.float(), b.float()), penaltyGrad(x, w, b), 1e-4, 'd‖dL/dx‖²/dw');
}));

test('conv2d keeps libtorch\'s op where Winograd does not fit, with the same values', onWinograd, () => torch.scope(() => {
  const { x, w, b } = inputs(CASES[0], 5);
  const xf = x.float(), wf = w.float(), bf = b.float();
  const others: Array<[string, () => Tensor, () => Tensor]> = [
    ['stride 2', () => F.conv2d(xf, wf, bf, { padding: 1, stride: 2 }), () => F.conv2d(x, w, b, { padding: 1, stride: 2 })],
    ['dilation 2', () => F.conv2d(xf, wf, bf, { padding: 2, dilation: 2 }), () => F.conv2d(x, w, b, { padding: 2, dilation: 2 })],
    ['padding 2', () => F.conv2d(xf, wf, bf, { padding: 2 }), () => F.conv2d(x, w, b, { padding: 2 })],
    ['channels-last input', () => F.conv2d(xf.channelsLast(), wf, bf, { padding: 1 }), () => F.conv2d(x, w, b, { padding: 1 })],
    ['one sample of 8×8 (4 tiles)', () => F.conv2d(xf.narrow(0, 0, 1).narrow(2, 0, 8).narrow(3, 0, 8), wf, bf, { padding: 1 }),
      () => F.conv2d(x.narrow(0, 0, 1).narrow(2, 0, 8).narrow(3, 0, 8), w, b, { padding: 1 })],
    ['float64', () => F.conv2d(x, w, b, { padding: 1 }), () => F.conv2d(x, w, b, { padding: 1 })],
  ];
  for (const [name, ours, theirs] of others) {
    assert.equal(ranWinograd(ours), false, `${name}: took the Winograd path`);
    assertNear(ours(), theirs(), 1e-5, name);
  }
}));

test('conv2d: the FLOP counter counts a Winograd convolution as the direct one, forward and both gradients', () => torch.scope(() => {
  const c = CASES[0];
  const { x, w } = inputs(c, 6);
  const macs = c.n * c.cout * c.h * c.w * c.cin * 9;
  const xf = x.float().requiresGrad_(true), wf = w.float().requiresGrad_(true);
  const fwd = torch.countFlops(() => torch.noGrad(() => F.conv2d(xf, wf, null, { padding: 1 }))).flops;
  assert.equal(fwd.forward.conv, 2 * macs);
  const both = torch.countFlops(() => { F.conv2d(xf, wf, null, { padding: 1 }).sum().backward(); }).flops;
  assert.equal(both.forward.conv, 2 * macs);
  assert.equal(both.backward.conv, 2 * 2 * macs);
}));

test('conv2d: a forward and backward in scope() leave no tensor behind', () => {
  const [xf, wf, bf] = torch.scope(() => { const { x, w, b } = inputs(CASES[0], 7); return [x.float(), w.float(), b.float()]; });
  for (const t of [xf, wf, bf]) t.requiresGrad = true;
  const step = (): void => torch.scope(() => { F.conv2d(xf, wf, bf, { padding: 1 }).square().sum().backward(); });
  step();
  const before = torch.liveTensors();
  step();
  assert.equal(torch.liveTensors(), before);
});

test('GANFORGE_WINOGRAD=0 keeps every convolution libtorch\'s', onWinograd, () => {
  const script = `
    const torch = await import(${JSON.stringify(fromRoot('dist/src/torch/index.js'))});
    const { profile } = await import(${JSON.stringify(fromRoot('dist/src/torch/profiler.js'))});
    const { profile: p } = profile(() => torch.F.conv2d(torch.randn([4, 16, 16, 16]), torch.randn([16, 16, 3, 3]), null, { padding: 1 }));
    console.log(p.events.map((e) => e.name).filter((n) => n.includes('conv')).join(','));`;
  const run = (env: Record<string, string>) => spawnSync(process.execPath, ['--input-type=module', '-e', script], { env: { ...process.env, ...env }, encoding: 'utf8' });
  const off = run({ GANFORGE_WINOGRAD: '0' });
  assert.equal(off.status, 0, off.stderr);
  assert.match(off.stdout, /aten::conv/);
  assert.doesNotMatch(off.stdout, /winograd/);
  const on = run({});
  assert.match(on.stdout, /ganforge::conv2d_winograd/);
});
