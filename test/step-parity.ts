// Float32 training steps against a reference's, compared so that the comparison holds
// on any CPU (test/train-dcgan.test.ts; the translation families compare in float64).
//
// ATen, oneDNN and BLAS pick kernels by CPU, so the same sums round differently on
// different machines: from the same weights, a gradient error of about 1e-6 of each
// tensor's scale. But Adam divides each gradient by its own size: an element whose
// gradient nearly cancels moves by about ±lr whichever way rounding tipped it, and every
// later step starts from slightly different weights. Weights after several steps compared
// elementwise against |w| cannot hold across CPUs; instead each part of a step is checked
// where the comparison is well conditioned:
//
//  1. the optimisers alone: the recipe's optimisers, fed the reference's gradients of
//     every step from the reference's initial weights, land on the reference's final
//     weights. Elementwise arithmetic on identical inputs, so this is tight on any CPU
//     (lr, betas, eps, weight decay and which parameters each optimiser holds).
//  2. teacher-forced steps: the networks start each step from the reference's weights
//     (replayed in 1), and every optimiser step inside it is replaced by the reference's
//     (so a G step sees the D the reference's G step saw); the losses and the gradients
//     each step leaves must be the reference's, gradients within a tolerance scaled to
//     each tensor's size. Buffers (batch-norm statistics) evolve over these steps and
//     must end equal too. This holds as long as no ReLU input lies within rounding of 0
//     (it would take the other branch on another CPU): the fixture is drawn to keep them
//     1e-5 of their layer's scale away (make_dcgan_step_fixture.py).
//  3. free-running steps, as training runs them: the losses of every step, and each
//     weight's total update in units of lr, within a per-element tolerance that grows as
//     the reference's gradient of that element shrinks relative to its tensor's scale
//     (where Adam amplifies rounding), and never beyond what Adam can move a weight.
import assert from 'node:assert/strict';
import * as torch from '../src/torch/index.js';
import type { Tensor } from '../src/torch/index.js';
import type { Module } from '../src/nn/index.js';
import type { Recipe } from '../src/train/recipe.js';
import { assertClose } from './helpers.js';

type Arrays = Record<string, Record<string, Float32Array>>;

/** What a fixture holds about N reference steps, per network name. */
export interface ReferenceSteps {
  /** The networks the steps train (each has pre, post and gradients). */
  networks: string[];
  steps: number;
  /** The reference's optimiser settings (not the recipe's: those are under test). */
  lr: number;
  betas: [number, number];
  /** State dict before the first step and after the last. */
  pre(net: string): Record<string, Tensor>;
  post(net: string): Record<string, Tensor>;
  /** The parameters' gradients left by step `i` (1-based). */
  grads(i: number, net: string): Record<string, Tensor>;
  /** Reference losses by name, one per step. */
  losses: Record<string, number[]>;
  /**
   * The parameters that have no gradient in exact arithmetic (see NOISE_GRAD); any other
   * whose reference gradient is that small fails the check. Default: none.
   */
  mayHaveNoGradient?: (net: string, key: string) => boolean;
}

/**
 * Gradients are compared within GRAD_TOL × the tensor's largest reference gradient (at
 * that step). From the same weights, the DCGAN steps' differ from the reference's by at
 * most 7e-7 of that scale under every kernel variant of this machine (ATen capability
 * default, avx2, avx512; oneDNN capped at AVX2), with the fixture made under any of
 * them: a margin above 100. The other GAN loss or a wrong target moves whole tensors by
 * far more.
 */
export const GRAD_TOL = 1e-4;

/**
 * A tensor whose largest reference gradient is below NOISE_GRAD has no gradient in exact
 * arithmetic (the bias of a convolution followed by instance norm, which subtracts the
 * per-channel mean): what the reference stored is rounding noise (2e-6 at most in
 * float32, 2e-15 in float64), where every other tensor's scale in the step fixtures is
 * above 0.004. Ours must be noise too, and Adam may move each element anywhere within
 * its reach.
 */
export const NOISE_GRAD = 1e-4;

/**
 * Free-running updates, in units of lr: |Δours − Δref| ≤ UPDATE_TOL_ABS + UPDATE_TOL_REL ·
 * scale / γ, where scale is the tensor's largest reference gradient over the steps and γ
 * the element's smallest |gradient| over them. Why: if each step's gradient is off by
 * δg ≤ ρ·scale, Adam's update m̂/√v̂ of that step moves by at most 2·R·ρ·scale/γ (R the
 * per-step reach, ≤ 1.14 here), so the sum over three steps stays within 7·ρ·scale/γ.
 * ρ is the rounding of that step's sums plus what earlier steps' differences did to its
 * weights. On this machine's kernel variants the DCGAN steps need no more than
 * UPDATE_TOL_ABS; replaying the reference with a random gradient error of 1e-5 × scale
 * per element and step (10 × float32's), 200 times, needed UPDATE_TOL_REL 0.0076 at
 * most. UPDATE_TOL_ABS covers float32 rounding of w − w₀ (about 0.001 lr). Elements
 * with tiny γ are held by Adam's reach only.
 */
export const UPDATE_TOL_ABS = 0.01;
export const UPDATE_TOL_REL = 0.02;
/** An update held within TIGHT lr counts as checked closely (see assertUpdatesClose's result). */
export const TIGHT = 0.5;

/**
 * The most Adam can move a weight in `steps` steps, in units of lr: per step
 * |m̂_t|/√v̂_t ≤ √(Σ_s a_s²/b_s) (Cauchy–Schwarz), with m̂_t = Σ a_s g_s and
 * v̂_t = Σ b_s g_s² the bias-corrected moments (1.054 at step 2 and 1.134 at step 3 for
 * β 0.5, 0.999). eps only shrinks it.
 */
export function adamReach(betas: [number, number], steps: number): number {
  const [b1, b2] = betas;
  let total = 0;
  for (let t = 1; t <= steps; t++) {
    let sum = 0;
    for (let s = 1; s <= t; s++) {
      const a = ((1 - b1) * b1 ** (t - s)) / (1 - b1 ** t);
      const b = ((1 - b2) * b2 ** (t - s)) / (1 - b2 ** t);
      sum += (a * a) / b;
    }
    total += Math.sqrt(sum);
  }
  return total * (1 + 1e-6);
}

/** float32's machine epsilon, 2^-23. */
const F32_EPS = 2 ** -23;

function f32(t: Tensor): Float32Array {
  return t.toTypedArray() as Float32Array;
}

function maxAbs(x: ArrayLike<number>): number {
  let m = 0;
  for (let i = 0; i < x.length; i++) m = Math.max(m, Math.abs(x[i]));
  return m;
}

function paramValues(nets: Record<string, Module>, names: string[]): Arrays {
  return Object.fromEntries(names.map((n) => [n, Object.fromEntries(nets[n].namedParameters().map(([k, p]) => [k, f32(p).slice()]))]));
}

function setParams(nets: Record<string, Module>, names: string[], values: Arrays): void {
  torch.scope(() => torch.noGrad(() => {
    for (const n of names) {
      for (const [k, p] of nets[n].namedParameters()) p.copy_(torch.fromTypedArray(values[n][k], p.shape));
    }
  }));
}

/** Loads the reference's initial state dicts into the recipe's networks. */
export function loadPre(recipe: Recipe, ref: ReferenceSteps): Record<string, Module> {
  const nets = recipe.networks();
  assert.ok(ref.networks.length > 0, 'the fixture names the networks it steps');
  for (const n of ref.networks) {
    assert.ok(nets[n], `the recipe has a network ${n}`);
    nets[n].loadStateDict(ref.pre(n));
  }
  return nets;
}

/** Each reference loss at step `i` (0-based) equals the recipe's (float32 tolerances by default). */
export function assertLosses(m: Record<string, number>, losses: Record<string, number[]>, i: number, label: string, rtol = 1e-5, atol = 1e-6): void {
  const names = Object.keys(losses);
  assert.ok(names.length > 0, 'the fixture holds losses');
  for (const k of names) {
    assert.ok(k in m, `${label}: the recipe reports ${k}`);
    assertClose([m[k]], [losses[k][i]], rtol, atol, `${label} ${k}`);
  }
}

/**
 * 1. The recipe's optimisers alone: from the reference's initial weights, fed the
 * reference's gradients of each step, they must land on its final weights (tight:
 * elementwise arithmetic on identical inputs). Returns the parameters before each step
 * (index i: before step i + 1) and after the last, for the teacher-forced steps.
 */
export function replayOptimizers(recipe: Recipe, ref: ReferenceSteps): Arrays[] {
  const nets = loadPre(recipe, ref);
  const opts = Object.values(recipe.optimizers());
  assert.ok(opts.length > 0, 'the recipe has optimisers');
  const out: Arrays[] = [paramValues(nets, ref.networks)];
  for (let i = 1; i <= ref.steps; i++) {
    torch.scope(() => {
      for (const n of ref.networks) {
        const g = ref.grads(i, n);
        const params = nets[n].namedParameters();
        assert.ok(params.length > 0, `${n} has parameters`);
        for (const [k, p] of params) {
          assert.ok(g[k], `the fixture has step ${i}'s gradient of ${n}.${k}`);
          p.grad = g[k].clone();
        }
      }
      for (const o of opts) o.step();
      for (const o of opts) o.zeroGrad();
    });
    out.push(paramValues(nets, ref.networks));
  }
  for (const n of ref.networks) {
    const post = ref.post(n);
    for (const [k, v] of Object.entries(out[ref.steps][n])) {
      assertClose(v, f32(post[k]), 1e-6, 1e-9, `${n}.${k}: the recipe's optimisers, fed the reference's gradients of ${ref.steps} steps`);
    }
  }
  return out;
}

/**
 * 2. Teacher-forced steps: before step i the networks get the reference's parameters
 * before its step i (`before`, from replayOptimizers), then `step(i)` runs the recipe's
 * step (0-based i), in which each optimiser's step, which must come exactly once, sets
 * its parameters to the reference's after step i instead of updating them; the step's
 * losses and the gradients it leaves must be the reference's. The buffers evolve over
 * the steps and must end as the reference's.
 */
export function assertTeacherForcedSteps(recipe: Recipe, ref: ReferenceSteps, before: Arrays[], step: (i: number) => Record<string, number>): void {
  const nets = loadPre(recipe, ref);
  const owner = new Map<Tensor, [string, string]>();
  for (const n of ref.networks) for (const [k, p] of nets[n].namedParameters()) owner.set(p, [n, k]);
  const opts = Object.entries(recipe.optimizers());
  const calls = new Map<string, number>();
  let after: Arrays = before[0];
  for (const [name, opt] of opts) {
    // An own property shadows the class's step until it is deleted below.
    opt.step = () => {
      calls.set(name, (calls.get(name) ?? 0) + 1);
      torch.scope(() => torch.noGrad(() => {
        for (const p of opt.params) {
          const at = owner.get(p);
          assert.ok(at, `optimiser ${name} holds a parameter of none of ${ref.networks.join(', ')}`);
          p.copy_(torch.fromTypedArray(after[at[0]][at[1]], p.shape));
        }
      }));
    };
  }
  try {
    for (let i = 0; i < ref.steps; i++) {
      setParams(nets, ref.networks, before[i]);
      after = before[i + 1];
      calls.clear();
      const m = step(i);
      const label = `step ${i + 1} from the reference's weights`;
      for (const [name] of opts) assert.equal(calls.get(name), 1, `${label}: optimiser ${name} stepped once`);
      assertLosses(m, ref.losses, i, label);
      for (const n of ref.networks) {
        const want = ref.grads(i + 1, n);
        for (const [k, p] of nets[n].namedParameters()) {
          const g = p.grad;
          assert.ok(g, `${label}: ${n}.${k} has a gradient`);
          const ours = f32(g), theirs = f32(want[k]);
          const scale = maxAbs(theirs);
          if (scale < NOISE_GRAD) {
            assert.ok(ref.mayHaveNoGradient?.(n, k), `${label}: ${n}.${k} has no gradient in the reference (${scale}), yet it should`);
            assert.ok(maxAbs(ours) < NOISE_GRAD, `${label}: ${n}.${k}'s gradient is rounding noise in the reference (${scale}), ours is ${maxAbs(ours)}`);
            continue;
          }
          assertClose(ours, theirs, 0, GRAD_TOL * scale, `${label}: gradient of ${n}.${k} (scale ${scale.toPrecision(3)})`);
        }
      }
    }
  } finally {
    for (const [, opt] of opts) delete (opt as { step?: unknown }).step;
  }
  for (const n of ref.networks) {
    const post = ref.post(n);
    const params = new Set(nets[n].namedParameters().map(([k]) => k));
    const sd = nets[n].stateDict();
    assert.deepEqual(Object.keys(sd), Object.keys(post), `${n}: state-dict keys`);
    for (const [k, t] of Object.entries(sd)) {
      if (params.has(k)) continue;
      assertClose(t.toTypedArray(), post[k].toTypedArray(), 1e-4, 1e-6, `${n}.${k} after ${ref.steps} steps from the reference's weights`);
    }
  }
}

/**
 * 3. After free-running steps: every parameter's update (post − pre) in units of lr
 * equals the reference's within UPDATE_TOL_ABS + UPDATE_TOL_REL · scale / γ (see there),
 * and neither side moved any weight further than Adam can. Returns how many elements
 * were held within TIGHT lr, of how many, so the caller can show the check has teeth.
 */
export function assertUpdatesClose(nets: Record<string, Module>, ref: ReferenceSteps): { tight: number; total: number } {
  const adamSteps = adamReach(ref.betas, ref.steps);
  let tight = 0, total = 0;
  for (const n of ref.networks) {
    const pre = ref.pre(n), post = ref.post(n);
    const grads = Array.from({ length: ref.steps }, (_, s) => ref.grads(s + 1, n));
    for (const [k, p] of nets[n].namedParameters()) {
      const w = f32(p), w0 = f32(pre[k]), w1 = f32(post[k]);
      const gs = grads.map((g) => f32(g[k]));
      const scale = Math.max(...gs.map(maxAbs));
      const label = `${n}.${k} after ${ref.steps} steps`;
      let bad = 0, worst = -1, worstExcess = -Infinity, worstTol = 0;
      for (let i = 0; i < w.length; i++) {
        const ours = (w[i] - w0[i]) / ref.lr, theirs = (w1[i] - w0[i]) / ref.lr;
        // float32 weights: allow their rounding (2 ulp) beyond the reach.
        const reach = adamSteps + (2 * F32_EPS * Math.max(Math.abs(w0[i]), Math.abs(w1[i]), Math.abs(w[i]))) / ref.lr;
        assert.ok(Math.abs(theirs) <= reach, `${label}: the reference moved [${i}] by ${theirs} lr, beyond Adam's reach ${reach}`);
        assert.ok(Math.abs(ours) <= reach, `${label}: [${i}] moved by ${ours} lr, beyond Adam's reach ${reach} (reference: ${theirs})`);
        if (scale < NOISE_GRAD) continue;
        let gamma = Infinity;
        for (const g of gs) gamma = Math.min(gamma, Math.abs(g[i]));
        const tol = UPDATE_TOL_ABS + (UPDATE_TOL_REL * scale) / gamma;
        total++;
        if (tol <= TIGHT) tight++;
        const excess = Math.abs(ours - theirs) - tol;
        if (excess > 0) {
          bad++;
          if (excess > worstExcess) [worst, worstExcess, worstTol] = [i, excess, tol];
        }
      }
      if (bad > 0) {
        assert.fail(`${label}: ${bad} of ${w.length} updates differ from the reference's; worst [${worst}]: ` +
          `${(w[worst] - w0[worst]) / ref.lr} lr vs ${(w1[worst] - w0[worst]) / ref.lr} lr (tolerance ${worstTol} lr)`);
      }
    }
  }
  return { tight, total };
}
