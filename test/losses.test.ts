// GAN losses and regularisers: values and gradients against hand computation in plain JS,
// against PyTorch (test/fixtures/train/make_loss_fixtures.py), second-order gradients of
// R1 against finite differences, and no leaked tensors.
import { test, describe, beforeEach } from 'node:test';
import assert from 'node:assert/strict';
import * as T from '../src/torch/index.js';
import { type Tensor } from '../src/torch/index.js';
import {
  GAN_LOSSES, isGanLoss, discriminatorLoss, generatorLoss, ganLossTarget, r1Penalty, gradientPenalty, type GanLoss,
} from '../src/losses/index.js';
import { assertClose, loadJson } from './helpers.js';

const { F } = T;

interface LossCase {
  dReal: number;
  dFake: number;
  dLoss: number;
  dGradReal: number[];
  dGradFake: number[];
  g: number;
  gGrad: number[];
}
interface Fixture {
  logits: { real: number[]; realShape: number[]; fake: number[]; fakeShape: number[] };
  drift: number;
  losses: Record<GanLoss, LossCase>;
  toyD: {
    shape: number[];
    w1: number[]; w1Shape: number[]; b1: number[]; w2: number[]; w2Shape: number[];
    real: number[]; fake: number[]; alpha: number[];
  };
  r1: { penalty: number; paramGrads: number[][] };
  gp: Record<string, { penalty: number; paramGrads: number[][] }>;
}

const fx = loadJson<Fixture>('test/fixtures/train/losses.json');
const REAL = fx.logits.real;
const FAKE = fx.logits.fake;

function f64(data: readonly number[], shape: readonly number[], requiresGrad = false): Tensor {
  const t = T.fromTypedArray(Float64Array.from(data), shape);
  if (requiresGrad) t.requiresGrad = true;
  return t;
}

function values(t: Tensor): number[] {
  return Array.from(t.toTypedArray() as Float64Array);
}

// ---- the losses by hand, in plain JS ----

const sigmoid = (x: number): number => 1 / (1 + Math.exp(-x));
// log(1 + e^x) without overflow: what BCE with logits computes.
const log1pExp = (x: number): number => Math.max(x, 0) + Math.log1p(Math.exp(-Math.abs(x)));
// F.softplus returns x itself above its threshold of 20 (off by < 2e-9 there).
const softplus = (x: number): number => (x > 20 ? x : log1pExp(x));
const mean = (xs: readonly number[]): number => xs.reduce((a, b) => a + b, 0) / xs.length;

interface Hand {
  real: number; // D's term on real logits
  fake: number; // D's term on fake logits
  g: number; // G's loss
  dReal: (x: number, n: number) => number; // d real-term / d real logit
  dFake: (x: number, n: number) => number;
  dG: (x: number, n: number) => number;
}

function hand(kind: GanLoss, real: readonly number[], fake: readonly number[], drift: number): Hand {
  switch (kind) {
    case 'logistic':
    case 'vanilla': {
      // BCE(x, 1) = softplus(−x), BCE(x, 0) = softplus(x): one function under two names,
      // but only F.softplus cuts off at 20, so at extreme logits they differ by ~1e-10.
      const sp = kind === 'logistic' ? softplus : log1pExp;
      return {
        real: mean(real.map((x) => sp(-x))),
        fake: mean(fake.map((x) => sp(x))),
        g: mean(fake.map((x) => sp(-x))),
        dReal: (x, n) => -sigmoid(-x) / n,
        dFake: (x, n) => sigmoid(x) / n,
        dG: (x, n) => -sigmoid(-x) / n,
      };
    }
    case 'lsgan':
      return {
        real: mean(real.map((x) => (x - 1) ** 2)),
        fake: mean(fake.map((x) => x ** 2)),
        g: mean(fake.map((x) => (x - 1) ** 2)),
        dReal: (x, n) => (2 * (x - 1)) / n,
        dFake: (x, n) => (2 * x) / n,
        dG: (x, n) => (2 * (x - 1)) / n,
      };
    case 'wgangp':
      return {
        real: -mean(real) + drift * mean(real.map((x) => x * x)),
        fake: mean(fake),
        g: -mean(fake),
        dReal: (x, n) => (-1 + 2 * drift * x) / n,
        dFake: (_x, n) => 1 / n,
        dG: (_x, n) => -1 / n,
      };
    case 'hinge':
      return {
        real: mean(real.map((x) => Math.max(0, 1 - x))),
        fake: mean(fake.map((x) => Math.max(0, 1 + x))),
        g: -mean(fake),
        dReal: (x, n) => (1 - x > 0 ? -1 / n : 0),
        dFake: (x, n) => (1 + x > 0 ? 1 / n : 0),
        dG: (_x, n) => -1 / n,
      };
  }
}

describe('GAN losses against hand computation and PyTorch (float64)', () => {
  for (const kind of GAN_LOSSES) {
    test(`${kind}: D terms, G loss, and their gradients wrt the logits`, () => {
      const drift = kind === 'wgangp' ? fx.drift : 0;
      const h = hand(kind, REAL, FAKE, drift);
      const ref = fx.losses[kind];
      T.scope(() => {
        const real = f64(REAL, fx.logits.realShape, true); // a PatchGAN map [2, 1, 2, 2]
        const fake = f64(FAKE, fx.logits.fakeShape, true); // per-sample scores [5, 1]
        const d = discriminatorLoss(kind, real, fake);
        for (const t of [d.loss, d.real, d.fake]) assert.deepEqual(t.shape, [], 'every term is a scalar');
        assertClose([d.real.item(), d.fake.item(), d.loss.item()], [h.real, h.fake, h.real + h.fake], 1e-12, 1e-14, `${kind} D by hand`);
        assertClose([d.real.item(), d.fake.item(), d.loss.item()], [ref.dReal, ref.dFake, ref.dLoss], 1e-12, 1e-14, `${kind} D vs PyTorch`);

        // Gradient tolerances allow for F.softplus's threshold: above 20 its derivative is
        // exactly 1 where the analytic σ(x) falls short of 1 by < 3e-9 (divided by n here).
        const [gr, gf] = T.grad(d.loss, [real, fake]);
        assertClose(values(gr!), REAL.map((x) => h.dReal(x, REAL.length)), 1e-12, 1e-9, `${kind} dD/dreal by hand`);
        assertClose(values(gf!), FAKE.map((x) => h.dFake(x, FAKE.length)), 1e-12, 1e-9, `${kind} dD/dfake by hand`);
        assertClose(values(gr!), ref.dGradReal, 1e-12, 1e-15, `${kind} dD/dreal vs PyTorch`);
        assertClose(values(gf!), ref.dGradFake, 1e-12, 1e-15, `${kind} dD/dfake vs PyTorch`);

        const g = generatorLoss(kind, fake);
        assert.deepEqual(g.shape, []);
        assertClose([g.item()], [h.g], 1e-12, 1e-14, `${kind} G by hand`);
        assertClose([g.item()], [ref.g], 1e-12, 1e-14, `${kind} G vs PyTorch`);
        const [gg] = T.grad(g, fake);
        assertClose(values(gg!), FAKE.map((x) => h.dG(x, FAKE.length)), 1e-12, 1e-9, `${kind} dG/dfake by hand`);
        assertClose(values(gg!), ref.gGrad, 1e-12, 1e-15, `${kind} dG/dfake vs PyTorch`);
      });
    });
  }

  test('wgangp drift is a parameter (0 turns it off) and may be added to any loss', () => {
    T.scope(() => {
      const real = f64(REAL, fx.logits.realShape);
      const fake = f64(FAKE, fx.logits.fakeShape);
      const sq = mean(REAL.map((x) => x * x));
      const plain = discriminatorLoss('wgangp', real, fake, { drift: 0 });
      assertClose([plain.real.item()], [-mean(REAL)], 1e-12, 1e-12);
      const strong = discriminatorLoss('wgangp', real, fake, { drift: 0.5 });
      assertClose([strong.real.item()], [-mean(REAL) + 0.5 * sq], 1e-12, 1e-12);
      const hinge = discriminatorLoss('hinge', real, fake, { drift: 0.01 });
      assertClose([hinge.real.item()], [hand('hinge', REAL, FAKE, 0).real + 0.01 * sq], 1e-12, 1e-12);
      assert.throws(() => discriminatorLoss('wgangp', real, fake, { drift: -1 }), /drift/);
    });
  });

  test('float32 logits of any shape give float32 scalars', () => {
    T.scope(() => {
      for (const shape of [[6], [6, 1], [2, 1, 3, 1]]) {
        const x = T.tensor([0.5, -1, 2, -0.25, 0.1, 3]).reshape(shape);
        for (const kind of GAN_LOSSES) {
          const d = discriminatorLoss(kind, x, x);
          assert.equal(d.loss.dtype, 'float32');
          assert.deepEqual(d.loss.shape, []);
          const h = hand(kind, [0.5, -1, 2, -0.25, 0.1, 3], [0.5, -1, 2, -0.25, 0.1, 3], kind === 'wgangp' ? 0.001 : 0);
          assertClose([d.loss.item(), generatorLoss(kind, x).item()], [h.real + h.fake, h.g], 1e-6, 1e-6, `${kind} ${shape}`);
        }
      }
    });
  });

  test("ganLossTarget mirrors the reference GANLoss(prediction, target_is_real)", () => {
    T.scope(() => {
      const real = f64(REAL, fx.logits.realShape);
      const fake = f64(FAKE, fx.logits.fakeShape);
      for (const kind of ['vanilla', 'lsgan', 'logistic'] as const) {
        const h = hand(kind, REAL, FAKE, 0);
        assertClose([ganLossTarget(kind, real, true).item()], [h.real], 1e-12, 1e-12, `${kind} real`);
        assertClose([ganLossTarget(kind, fake, false).item()], [h.fake], 1e-12, 1e-12, `${kind} fake`);
        assertClose([ganLossTarget(kind, fake, true).item()], [h.g], 1e-12, 1e-12, `${kind} G`);
      }
      // The reference's wgangp branch: −mean for a real target, mean for a fake one, no drift.
      assertClose([ganLossTarget('wgangp', real, true).item()], [-mean(REAL)], 1e-12, 1e-12);
      assertClose([ganLossTarget('wgangp', fake, false).item()], [mean(FAKE)], 1e-12, 1e-12);
      const hh = hand('hinge', REAL, FAKE, 0);
      assertClose([ganLossTarget('hinge', real, true, { role: 'discriminator' }).item()], [hh.real], 1e-12, 1e-12);
      assertClose([ganLossTarget('hinge', fake, false, { role: 'discriminator' }).item()], [hh.fake], 1e-12, 1e-12);
      assertClose([ganLossTarget('hinge', fake, true, { role: 'generator' }).item()], [hh.g], 1e-12, 1e-12);
      assert.throws(() => ganLossTarget('hinge', fake, true), /'hinge' needs opts\.role/);
      assert.throws(() => ganLossTarget('hinge', fake, false, { role: 'generator' }), /targetIsReal = true/);
    });
  });

  test('unknown names and bad inputs throw clear errors', () => {
    T.scope(() => {
      const x = T.tensor([0.5, -1]);
      assert.throws(() => discriminatorLoss('wgan' as GanLoss, x, x), /unknown GAN loss 'wgan'; expected one of 'logistic', 'vanilla', 'lsgan', 'wgangp', 'hinge'/);
      assert.throws(() => generatorLoss('bce' as GanLoss, x), /generatorLoss\(\): unknown GAN loss 'bce'/);
      assert.throws(() => ganLossTarget('LSGAN' as GanLoss, x, true), /unknown GAN loss 'LSGAN'/);
      assert.throws(() => generatorLoss('hinge', T.tensor([1, 2])), /floating point/);
      assert.throws(() => generatorLoss('hinge', T.zeros([0])), /empty/);
      assert.throws(() => discriminatorLoss('hinge', [1, 2] as never, x), /realLogits must be a Tensor/);
      assert.equal(isGanLoss('hinge'), true);
      assert.equal(isGanLoss('wgan-gp'), false);
    });
  });
});

// ---- regularisers ----

/** A per-sample quadratic D(x) = Σ w·x² over C, H, W: ∇ₓD = 2w·x, so R1 is closed-form. */
function quadraticD(x: Tensor, w: Tensor): Tensor {
  return x.square().mul(w).sum([1, 2, 3]);
}

/** The nonlinear toy D of the PyTorch fixture: tanh MLP on flattened images → [N, 1]. */
function toyD(x: Tensor, w1: Tensor, b1: Tensor, w2: Tensor): Tensor {
  return F.linear(F.tanh(F.linear(x.flatten(1), w1, b1)), w2);
}

function toyParams(): [Tensor, Tensor, Tensor] {
  const t = fx.toyD;
  return [f64(t.w1, t.w1Shape, true), f64(t.b1, [t.b1.length], true), f64(t.w2, t.w2Shape, true)];
}

describe('R1 penalty', () => {
  beforeEach(() => T.manualSeed(11));

  const shape = [3, 2, 2, 3];
  const wShape = shape.slice(1);

  function r1Of(xData: Float64Array, wData: Float64Array, wGrad: boolean): { penalty: Tensor; w: Tensor } {
    const x = T.fromTypedArray(xData, shape);
    x.requiresGrad = true;
    const w = T.fromTypedArray(wData, wShape);
    if (wGrad) w.requiresGrad = true;
    return { penalty: r1Penalty(x, quadraticD(x, w)), w };
  }

  test('equals the analytic mean_n Σ (2w·x)² and backpropagates to D (second order)', () => {
    const [xData, wData] = T.scope(() => [
      T.randn(shape, { dtype: 'float64' }).toTypedArray() as Float64Array,
      T.randn(wShape, { dtype: 'float64' }).toTypedArray() as Float64Array,
    ]);
    const per = wData.length;
    const n = shape[0];
    let expected = 0;
    const dW = new Float64Array(per);
    for (let s = 0; s < n; s++) {
      for (let i = 0; i < per; i++) {
        const x = xData[s * per + i];
        expected += (2 * wData[i] * x) ** 2 / n;
        dW[i] += (8 * wData[i] * x * x) / n; // d/dw of 4w²x², averaged over the batch
      }
    }
    const [value, grad] = T.scope(() => {
      const { penalty, w } = r1Of(xData, wData, true);
      assert.deepEqual(penalty.shape, []);
      assert.ok(penalty.requiresGrad, 'the penalty must be differentiable (createGraph)');
      penalty.backward();
      return [penalty.item(), values(w.grad!)];
    });
    assertClose([value], [expected], 1e-12, 1e-12, 'R1 value');
    assertClose(grad, dW, 1e-10, 1e-12, 'dR1/dw, analytic');

    // Central differences of the penalty as a function of w.
    const h = 1e-6;
    const numeric = Array.from(wData, (_, i) => {
      const at = (d: number): number => T.scope(() => {
        const wd = Float64Array.from(wData);
        wd[i] += d;
        return r1Of(xData, wd, false).penalty.item();
      });
      return (at(h) - at(-h)) / (2 * h);
    });
    assertClose(grad, numeric, 1e-6, 1e-8, 'dR1/dw vs finite differences');
  });

  test('matches PyTorch (StyleGAN2 formulation) on a nonlinear D, value and dR1/dweights', () => {
    T.scope(() => {
      const t = fx.toyD;
      const params = toyParams();
      const x = f64(t.real, t.shape, true);
      const logits = toyD(x, ...params);
      const r1 = r1Penalty(x, logits);
      assertClose([r1.item()], [fx.r1.penalty], 1e-12, 1e-14, 'R1 vs PyTorch');
      const grads = T.grad(r1, params);
      grads.forEach((g, i) => assertClose(values(g!), fx.r1.paramGrads[i], 1e-10, 1e-13, `dR1/dparam ${i} vs PyTorch`));
    });
  });

  test('the logits stay usable for the main D loss afterwards (graph retained)', () => {
    T.scope(() => {
      const t = fx.toyD;
      const params = toyParams();
      const x = f64(t.real, t.shape, true);
      const logits = toyD(x, ...params);
      const r1 = r1Penalty(x, logits);
      // StyleGAN2's 'Dboth' phase: main loss and penalty from one forward pass.
      const total = F.softplus(logits.neg()).mean().add(r1.mul(5));
      total.backward();
      assert.ok(params.every((p) => p.grad !== null));
    });
  });

  test('clear errors when the input was not marked or the logits have no history', () => {
    T.scope(() => {
      const w = T.randn(wShape, { dtype: 'float64' });
      const x = T.randn(shape, { dtype: 'float64' });
      assert.throws(() => r1Penalty(x, quadraticD(x, w)), /requiresGrad must be set before D runs/);
      x.requiresGrad = true;
      const detached = T.noGrad(() => quadraticD(x, w));
      assert.throws(() => r1Penalty(x, detached), /no autograd history/);
      const other = T.randn(shape, { dtype: 'float64', requiresGrad: true });
      assert.throws(() => r1Penalty(other, quadraticD(x, w)), /do not depend on realImages/);
    });
  });
});

describe('WGAN-GP gradient penalty', () => {
  beforeEach(() => T.manualSeed(5));

  const shape = [4, 3, 2, 2];

  /** D(x) = <w, x> per sample: its input gradient is w everywhere, whatever the mix. */
  function linearD(w: Tensor): (x: Tensor) => Tensor {
    return (x) => x.mul(w).sum([1, 2, 3]);
  }

  test('is (‖w‖ − target)² / target² for a linear D, for any alpha', () => {
    T.scope(() => {
      const w = T.randn(shape.slice(1), { dtype: 'float64' });
      const norm = Math.sqrt((values(w) as number[]).reduce((a, b) => a + b * b, 0));
      const real = T.randn(shape, { dtype: 'float64' });
      const fake = T.randn(shape, { dtype: 'float64' });
      for (const target of [1, 2.5, 750]) {
        const expected = (norm - target) ** 2 / target ** 2;
        const alphas: (Tensor | number | undefined)[] = [undefined, undefined, 0, 1, 0.3, T.rand([4, 1, 1, 1], { dtype: 'float64' })];
        for (const alpha of alphas) {
          const gp = gradientPenalty(linearD(w), real, fake, { target, alpha });
          assert.deepEqual(gp.shape, []);
          assertClose([gp.item()], [expected], 1e-12, 1e-14, `target ${target}, alpha ${alpha === undefined ? 'drawn' : String(alpha)}`);
        }
      }
    });
  });

  test('backpropagates to D and not to the generator; d/dw = 2(‖w‖ − 1)·w/‖w‖', () => {
    T.scope(() => {
      const w = T.randn(shape.slice(1), { dtype: 'float64', requiresGrad: true });
      const wv = values(w);
      const norm = Math.sqrt(wv.reduce((a, b) => a + b * b, 0));
      const g = T.randn(shape, { dtype: 'float64', requiresGrad: true }); // stands for G's parameters
      const fake = g.mul(2);
      const gp = gradientPenalty(linearD(w), T.randn(shape, { dtype: 'float64' }), fake);
      gp.backward();
      assertClose(values(w.grad!), wv.map((x) => (2 * (norm - 1) * x) / norm), 1e-12, 1e-14);
      assert.equal(g.grad, null, 'the penalty must not reach the generator');
    });
  });

  test('matches PyTorch (PGGAN formulation) on a nonlinear D with fixed alpha', () => {
    T.scope(() => {
      const t = fx.toyD;
      const params = toyParams();
      const D = (x: Tensor): Tensor => toyD(x, ...params);
      const alpha = f64(t.alpha, [t.shape[0], 1, 1, 1]);
      for (const [target, ref] of Object.entries(fx.gp)) {
        const gp = gradientPenalty(D, f64(t.real, t.shape), f64(t.fake, t.shape), { target: Number(target), alpha });
        assertClose([gp.item()], [ref.penalty], 1e-12, 1e-14, `GP target ${target} vs PyTorch`);
        const grads = T.grad(gp, params);
        grads.forEach((g, i) => assertClose(values(g!), ref.paramGrads[i], 1e-10, 1e-13, `dGP/dparam ${i}, target ${target}`));
      }
    });
  });

  test('alpha is drawn per sample from the global generator (seeded runs repeat)', () => {
    T.scope(() => {
      // D(x) = Σ x²: ‖∇‖ = 2‖x̂‖ depends on the mix, so the penalty reveals alpha.
      const D = (x: Tensor): Tensor => x.square().sum([1, 2, 3]);
      const real = T.randn(shape, { dtype: 'float64' });
      const fake = T.randn(shape, { dtype: 'float64' });
      T.manualSeed(99);
      const a = gradientPenalty(D, real, fake).item();
      T.manualSeed(99);
      const b = gradientPenalty(D, real, fake).item();
      T.manualSeed(99);
      const alpha = T.rand([shape[0], 1, 1, 1], { dtype: 'float64' });
      const c = gradientPenalty(D, real, fake, { alpha }).item();
      assert.equal(a, b);
      assert.equal(a, c);
      assert.notEqual(gradientPenalty(D, real, fake).item(), a);
    });
  });

  test('a zero input gradient gives a finite penalty and zero (not NaN) weight gradients', () => {
    T.scope(() => {
      const w = T.zeros(shape.slice(1), { dtype: 'float64', requiresGrad: true });
      const gp = gradientPenalty(linearD(w), T.randn(shape, { dtype: 'float64' }), T.randn(shape, { dtype: 'float64' }));
      assert.equal(gp.item(), 1);
      gp.backward();
      assert.ok(values(w.grad!).every((v) => v === 0), 'NaN or nonzero gradient at ‖g‖ = 0');
    });
  });

  test('clear errors', () => {
    T.scope(() => {
      const w = T.randn(shape.slice(1), { dtype: 'float64' });
      const real = T.randn(shape, { dtype: 'float64' });
      assert.throws(() => gradientPenalty(linearD(w), real, T.randn([4, 3, 2, 1], { dtype: 'float64' })), /same shape/);
      assert.throws(() => gradientPenalty(linearD(w), real, real, { target: 0 }), /target/);
      assert.throws(() => gradientPenalty((x) => T.noGrad(() => x.sum([1, 2, 3])), real, real), /no autograd history/);
      assert.throws(() => gradientPenalty(() => T.ones([4], { dtype: 'float64', requiresGrad: true }), real, real), /does not depend on its input/);
    });
  });
});

describe('memory', () => {
  test('no function leaves tensors behind but the ones it returns', () => {
    const outside = T.liveTensors();
    T.scope(() => {
      const real = T.randn([2, 1, 3, 3], { requiresGrad: true });
      const fake = T.randn([2, 1, 3, 3], { requiresGrad: true });
      const params = toyParams();
      const t = fx.toyD;
      const D = (x: Tensor): Tensor => toyD(x, ...params);
      const xr = f64(t.real, t.shape, true);
      const xf = f64(t.fake, t.shape);

      const counted = (returns: number, fn: () => void, what: string): void => {
        const before = T.liveTensors();
        fn();
        assert.equal(T.liveTensors() - before, returns, `${what}: live tensors beyond its results`);
      };
      for (const kind of GAN_LOSSES) {
        counted(3, () => discriminatorLoss(kind, real, fake), `discriminatorLoss ${kind}`);
        counted(1, () => generatorLoss(kind, fake), `generatorLoss ${kind}`);
        counted(1, () => ganLossTarget(kind, fake, true, { role: 'discriminator' }), `ganLossTarget ${kind}`);
      }
      counted(0, () => assert.throws(() => ganLossTarget('hinge', fake, false, { role: 'generator' }), /targetIsReal/), 'a throwing call');
      counted(0, () => assert.throws(() => gradientPenalty(() => T.ones([2]), xr, xf), /autograd history/), 'a throwing D');
      const logits = D(xr);
      counted(1, () => r1Penalty(xr, logits), 'r1Penalty');
      counted(1, () => gradientPenalty(D, xr, xf), 'gradientPenalty (drawn alpha)');
      counted(1, () => gradientPenalty(D, xr, xf, { alpha: 0.5 }), 'gradientPenalty (number alpha)');
      // A backward pass through everything still works after our handles are gone.
      counted(0, () => {
        const total = T.scope(() => r1Penalty(xr, logits).add(gradientPenalty(D, xr, xf)).add(discriminatorLoss('logistic', logits, D(xf)).loss));
        total.backward();
        total.dispose();
      }, 'backward after disposal');
      assert.ok(params.every((p) => p.grad !== null));
    });
    assert.equal(T.liveTensors(), outside, 'the enclosing scope frees the results');
  });
});
