// Learning-rate policies against the real torch.optim.lr_scheduler classes, configured as
// pytorch-CycleGAN-and-pix2pix's get_scheduler does (fixture: test/fixtures/train/
// make_lr_fixtures.py), and exact resume of the stateful 'plateau' policy.
import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import {
  lrMultiplier, learningRate, PlateauScheduler, LR_DEFAULTS, type LrScheduleOptions, type PlateauOptions, type PlateauState,
} from '../src/train/lr.js';
import { loadJson } from './helpers.js';

interface Case {
  opts: LrScheduleOptions;
  lrs: number[];
}
interface PlateauCase {
  name: string;
  lr: number;
  kwargs: Record<string, number | string>;
  metrics: number[];
  lrs: number[];
  states: { best: number | string; numBadEpochs: number; cooldownCounter: number; lastEpoch: number }[];
}
interface Fixture {
  baseLr: number;
  epochs: number;
  linear: Case[];
  step: Case;
  cosine: Case;
  plateau: PlateauCase[];
}

const fx = loadJson<Fixture>('test/fixtures/train/lr.json');

/**
 * |got − want| ≤ 1e-12·max(|want|, 1e-12·base): relative, except that PyTorch's chained
 * cosine update can land within 1e-20 of zero where the closed form gives exactly zero.
 */
function assertRate(got: number, want: number, what: string): void {
  const tol = 1e-12 * Math.max(Math.abs(want), 1e-12 * fx.baseLr);
  assert.ok(Math.abs(got - want) <= tol, `${what}: got ${got}, PyTorch ${want} (|diff| ${Math.abs(got - want)})`);
}

function plateauOptions(c: PlateauCase): PlateauOptions {
  const k = c.kwargs;
  return {
    lr: c.lr,
    mode: k.mode as 'min' | 'max' | undefined,
    factor: k.factor as number | undefined,
    patience: k.patience as number | undefined,
    threshold: k.threshold as number | undefined,
    thresholdMode: k.threshold_mode as 'rel' | 'abs' | undefined,
    cooldown: k.cooldown as number | undefined,
    minLr: k.min_lr as number | undefined,
  };
}

function decodeBest(b: number | string): number {
  return b === 'Infinity' ? Infinity : b === '-Infinity' ? -Infinity : (b as number);
}

describe('stateless policies match torch.optim.lr_scheduler', () => {
  test('linear (LambdaLR with the reference lambda_rule), several n_epochs/epoch_count', () => {
    for (const c of fx.linear) {
      assert.equal(c.lrs.length, fx.epochs);
      c.lrs.forEach((want, e) => {
        const got = learningRate('linear', fx.baseLr, e, c.opts);
        // Past n_epochs + n_epochs_decay the reference's rule turns negative; we stop at 0.
        if (want < 0) assert.equal(got, 0, `linear ${JSON.stringify(c.opts)} epoch ${e}: clamped at 0`);
        else assertRate(got, want, `linear ${JSON.stringify(c.opts)} epoch ${e}`);
      });
    }
  });

  test('linear: the decay reaches exactly 0 at epoch n_epochs + n_epochs_decay + 1 − epoch_count', () => {
    const o = { nEpochs: 10, nEpochsDecay: 10, epochCount: 1 };
    assert.equal(lrMultiplier('linear', 9, o), 1);
    assert.equal(lrMultiplier('linear', 20, o), 0);
    assert.equal(lrMultiplier('linear', 25, o), 0);
  });

  test('step (StepLR, step_size = lr_decay_iters, gamma 0.1)', () => {
    fx.step.lrs.forEach((want, e) => assertRate(learningRate('step', fx.baseLr, e, fx.step.opts), want, `step epoch ${e}`));
  });

  test('cosine (CosineAnnealingLR, T_max = n_epochs, eta_min 0), including past T_max', () => {
    fx.cosine.lrs.forEach((want, e) => assertRate(learningRate('cosine', fx.baseLr, e, fx.cosine.opts), want, `cosine epoch ${e}`));
  });

  test('constant, defaults, and fractional progress', () => {
    for (const e of [0, 1, 7.5, 1000]) assert.equal(lrMultiplier('constant', e), 1);
    // The reference defaults: 100 epochs flat, then 100 of decay.
    assert.equal(lrMultiplier('linear', 99), 1);
    assert.equal(lrMultiplier('linear', 100), 1 - 1 / 101);
    assert.equal(lrMultiplier('step', 49), 1);
    assert.equal(lrMultiplier('step', 50), LR_DEFAULTS.gamma);
    // Between two integer epochs 'linear' interpolates and 'step' holds.
    const o = { nEpochs: 10, nEpochsDecay: 10 };
    const mid = lrMultiplier('linear', 12.5, o);
    assert.ok(Math.abs(mid - (lrMultiplier('linear', 12, o) + lrMultiplier('linear', 13, o)) / 2) < 1e-15);
    assert.equal(lrMultiplier('step', 9.99, { lrDecayIters: 5 }), 0.1);
    assert.equal(lrMultiplier('cosine', 5, { nEpochs: 10 }), 0.5);
  });

  test('bad input gets a clear error', () => {
    assert.throws(() => lrMultiplier('exponential' as never, 0), /unknown learning-rate policy 'exponential'.*'linear'/);
    assert.throws(() => lrMultiplier('plateau', 0), /PlateauScheduler/);
    assert.throws(() => lrMultiplier('linear', -1), /epoch must be/);
    assert.throws(() => lrMultiplier('linear', NaN), /epoch must be/);
    assert.throws(() => lrMultiplier('step', 3, { lrDecayIters: 0 }), /lrDecayIters/);
    assert.throws(() => lrMultiplier('cosine', 3, { nEpochs: 0 }), /nEpochs/);
  });
});

describe('plateau (ReduceLROnPlateau)', () => {
  for (const c of fx.plateau) {
    test(`matches PyTorch: ${c.name}`, () => {
      const s = new PlateauScheduler(plateauOptions(c));
      assert.equal(s.lr, c.lrs[0]);
      c.metrics.forEach((m, i) => {
        const returned = s.step(m);
        assert.equal(returned, s.lr);
        assertRate(s.lr, c.lrs[i + 1], `${c.name}, after step ${i + 1} (metric ${m})`);
        const st = s.state();
        const want = c.states[i];
        assert.equal(decodeBest(st.best), decodeBest(want.best), `best after step ${i + 1}`);
        assert.equal(st.numBadEpochs, want.numBadEpochs, `num_bad_epochs after step ${i + 1}`);
        assert.equal(st.cooldownCounter, want.cooldownCounter, `cooldown_counter after step ${i + 1}`);
        assert.equal(st.lastEpoch, want.lastEpoch, `last_epoch after step ${i + 1}`);
      });
    });
  }

  test('the reference configuration is the default', () => {
    const st = new PlateauScheduler({ lr: 0.0002 }).state();
    assert.deepEqual(
      { mode: st.options.mode, factor: st.options.factor, threshold: st.options.threshold, thresholdMode: st.options.thresholdMode, patience: st.options.patience },
      { mode: 'min', factor: 0.2, threshold: 0.01, thresholdMode: 'rel', patience: 5 },
    );
    assert.equal(st.best, 'Infinity');
  });

  test('state() through JSON and load() resume identically, at every split point', () => {
    for (const c of fx.plateau) {
      const whole = new PlateauScheduler(plateauOptions(c));
      const expected = c.metrics.map((m) => whole.step(m));
      for (let k = 0; k <= c.metrics.length; k++) {
        const first = new PlateauScheduler(plateauOptions(c));
        for (const m of c.metrics.slice(0, k)) first.step(m);
        const saved = JSON.parse(JSON.stringify(first.state())) as PlateauState;
        // Resume into a scheduler built with different options: load() must restore them too.
        const resumed = new PlateauScheduler({ lr: 1, mode: 'max', factor: 0.9, patience: 0 });
        resumed.load(saved);
        const rest = c.metrics.slice(k).map((m) => resumed.step(m));
        assert.deepEqual(rest, expected.slice(k), `${c.name}: resumed after step ${k}`);
        assert.deepEqual(resumed.state(), whole.state(), `${c.name}: final state after resuming at ${k}`);
        const viaStatic = PlateauScheduler.fromState(saved);
        assert.deepEqual(viaStatic.state(), saved);
      }
    }
  });

  test('NaN never counts as an improvement; bad options and states are refused', () => {
    const s = new PlateauScheduler({ lr: 1, patience: 1 });
    s.step(1);
    s.step(NaN);
    assert.equal(s.lr, 1);
    s.step(NaN);
    assert.equal(s.lr, 0.2);
    assert.equal(s.best, 1);
    assert.throws(() => new PlateauScheduler({ lr: 1, factor: 1 }), /factor/);
    assert.throws(() => new PlateauScheduler({ lr: 1, mode: 'minimum' as never }), /mode/);
    assert.throws(() => new PlateauScheduler({ lr: 1, patience: 1.5 }), /patience/);
    assert.throws(() => s.load({ ...s.state(), best: 'NaN' as never }), /best/);
    assert.throws(() => s.load({ ...s.state(), numBadEpochs: -1 }), /numBadEpochs/);
    assert.throws(() => s.step('0.5' as never), /metric must be a number/);
  });
});
