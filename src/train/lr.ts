// Learning-rate policies: pytorch-CycleGAN-and-pix2pix's `--lr_policy` (models/networks.py,
// get_scheduler), as pure functions of training progress instead of stateful
// torch.optim.lr_scheduler objects. A recipe can ask for the rate at any step without
// replaying history, and a resumed run needs nothing saved but the epoch — except for
// 'plateau', whose decisions depend on the metrics seen so far (PlateauScheduler).
//
// Epoch convention: `epoch` is the number of scheduler.step() calls the reference would
// have made, so epoch 0 is the initial rate. Which rate a training epoch uses depends on
// where the loop steps the scheduler, and the reference has done both:
//   - until mid-2020, train.py called model.update_learning_rate() at the END of every
//     epoch, so training epoch k (0-based) ran with the multiplier at epoch k;
//   - since then it calls it at the BEGINNING (junyanz/pytorch-CycleGAN-and-pix2pix
//     #1100, the "lr_scheduler.step() before optimizer.step()" warning), so epoch k runs
//     with the multiplier at k + 1 and the first value of every schedule is skipped.
// The function is the same either way; the recipe picks the offset.
//
// Only the multiplier of the base rate is computed here (LambdaLR's view of the world);
// every policy but 'plateau' scales all parameter groups alike, so one number suffices.

/** `--lr_policy` of the reference. */
export type LrPolicy = 'constant' | 'linear' | 'step' | 'cosine' | 'plateau';

export const LR_POLICIES: readonly LrPolicy[] = ['constant', 'linear', 'step', 'cosine', 'plateau'];

/** The schedule's knobs, named after the reference's options (defaults are its defaults). */
export interface LrScheduleOptions {
  /** `--n_epochs`: epochs at the initial rate ('linear'); the half period T_max ('cosine'). Default 100. */
  nEpochs?: number;
  /** `--n_epochs_decay`: epochs of linear decay to zero after nEpochs ('linear'). Default 100. */
  nEpochsDecay?: number;
  /** `--epoch_count`: the number the first epoch gets; a continued run passes its start epoch. Default 1. */
  epochCount?: number;
  /** `--lr_decay_iters`: epochs between two decays ('step'). Default 50. */
  lrDecayIters?: number;
  /** Decay factor of 'step' (the reference hard-codes StepLR's gamma=0.1). */
  gamma?: number;
}

/** The reference's option defaults (options/train_options.py). */
export const LR_DEFAULTS: Readonly<Required<LrScheduleOptions>> = Object.freeze({
  nEpochs: 100,
  nEpochsDecay: 100,
  epochCount: 1,
  lrDecayIters: 50,
  gamma: 0.1,
});

function assertPolicy(policy: string): asserts policy is LrPolicy {
  if (!(LR_POLICIES as readonly string[]).includes(policy)) {
    throw new Error(`unknown learning-rate policy '${policy}'; expected one of ${LR_POLICIES.map((p) => `'${p}'`).join(', ')}`);
  }
}

function positiveInt(name: string, v: number): number {
  if (!Number.isInteger(v) || v < 1) throw new RangeError(`${name} must be a positive integer, got ${v}`);
  return v;
}

/**
 * The factor applied to the base learning rate after `epoch` scheduler steps.
 *
 * - 'constant': 1.
 * - 'linear': 1 − max(0, epoch + epochCount − nEpochs) / (nEpochsDecay + 1), the
 *   reference's lambda_rule for LambdaLR, clamped at 0: the reference's loop ends before
 *   the rule turns negative, but a run extended past nEpochs + nEpochsDecay would
 *   otherwise ascend the gradient.
 * - 'step': gamma^floor(epoch / lrDecayIters), StepLR(step_size=lr_decay_iters, gamma=0.1).
 * - 'cosine': (1 + cos(π·epoch / nEpochs)) / 2, CosineAnnealingLR(T_max=n_epochs,
 *   eta_min=0) in closed form. Like the reference it keeps oscillating after nEpochs (the
 *   reference trains nEpochs + nEpochsDecay epochs, so its rate climbs back up); PyTorch's
 *   chained update agrees with this to about 1e-14 relative.
 *
 * A fractional epoch (progress within an epoch) is accepted and interpolates 'linear' and
 * 'cosine' smoothly; integer epochs reproduce PyTorch's values. 'plateau' depends on the
 * metric history: use PlateauScheduler.
 */
export function lrMultiplier(policy: LrPolicy, epoch: number, opts: LrScheduleOptions = {}): number {
  assertPolicy(policy);
  if (!Number.isFinite(epoch) || epoch < 0) throw new RangeError(`epoch must be a finite number >= 0, got ${epoch}`);
  const o = { ...LR_DEFAULTS, ...opts };
  switch (policy) {
    case 'constant':
      return 1;
    case 'linear': {
      if (!Number.isInteger(o.nEpochs) || o.nEpochs < 0) throw new RangeError(`nEpochs must be an integer >= 0, got ${o.nEpochs}`);
      if (!Number.isInteger(o.nEpochsDecay) || o.nEpochsDecay < 0) {
        throw new RangeError(`nEpochsDecay must be an integer >= 0, got ${o.nEpochsDecay}`);
      }
      if (!Number.isInteger(o.epochCount)) throw new RangeError(`epochCount must be an integer, got ${o.epochCount}`);
      // Same operation order as the Python rule, so integer epochs match bit for bit.
      const m = 1.0 - Math.max(0, epoch + o.epochCount - o.nEpochs) / (o.nEpochsDecay + 1);
      return Math.max(0, m);
    }
    case 'step': {
      positiveInt('lrDecayIters', o.lrDecayIters);
      if (!(o.gamma > 0)) throw new RangeError(`gamma must be > 0, got ${o.gamma}`);
      return o.gamma ** Math.floor(epoch / o.lrDecayIters);
    }
    case 'cosine': {
      positiveInt('nEpochs', o.nEpochs);
      return (1 + Math.cos((Math.PI * epoch) / o.nEpochs)) / 2;
    }
    case 'plateau':
      throw new Error("lrMultiplier(): the 'plateau' policy depends on the metric history; use PlateauScheduler");
  }
}

/** `baseLr × lrMultiplier(...)`: the rate to put into the optimiser. */
export function learningRate(policy: LrPolicy, baseLr: number, epoch: number, opts: LrScheduleOptions = {}): number {
  return baseLr * lrMultiplier(policy, epoch, opts);
}

// ---- 'plateau' ----

export interface PlateauOptions {
  /** The initial learning rate (the optimiser's lr when the scheduler is made). */
  lr: number;
  /** 'min': the metric should go down (a loss); 'max': up (an accuracy). Default 'min'. */
  mode?: 'min' | 'max';
  /** Multiplier applied on a plateau. Default 0.2 (the reference; PyTorch's own default is 0.1). */
  factor?: number;
  /** Epochs without improvement tolerated before a cut. Default 5 (the reference; PyTorch's is 10). */
  patience?: number;
  /** How much better counts as better. Default 0.01 (the reference; PyTorch's is 1e-4). */
  threshold?: number;
  /** 'rel': better than best·(1 ∓ threshold); 'abs': better than best ∓ threshold. Default 'rel'. */
  thresholdMode?: 'rel' | 'abs';
  /** Epochs after a cut during which bad epochs are not counted. Default 0. */
  cooldown?: number;
  /** The rate never goes below this. Default 0. */
  minLr?: number;
  /** A cut smaller than this is skipped (stops the rate shrinking forever). Default 1e-8. */
  eps?: number;
}

/**
 * Everything a PlateauScheduler is, as JSON (for state.json). `best` is a string when it
 * is infinite, because JSON has no Infinity: before the first metric it is the mode's worst.
 */
export interface PlateauState {
  options: Required<PlateauOptions>;
  lr: number;
  best: number | 'Infinity' | '-Infinity';
  numBadEpochs: number;
  cooldownCounter: number;
  lastEpoch: number;
}

/**
 * torch.optim.lr_scheduler.ReduceLROnPlateau for one parameter group, configured by
 * default as the reference's get_scheduler does (mode 'min', factor 0.2, threshold 0.01
 * relative, patience 5). Call `step(metric)` once per epoch; `lr` is then the rate to use.
 * The reference feeds it BaseModel.metric, which no shipped model ever changes from 0, so
 * there it cuts the rate every patience + 1 epochs until `eps` stops it.
 */
export class PlateauScheduler {
  #o: Required<PlateauOptions>;
  #lr: number;
  #best: number;
  #numBadEpochs = 0;
  #cooldownCounter = 0;
  #lastEpoch = 0;

  constructor(opts: PlateauOptions) {
    this.#o = PlateauScheduler.#validate({
      lr: opts.lr,
      mode: opts.mode ?? 'min',
      factor: opts.factor ?? 0.2,
      patience: opts.patience ?? 5,
      threshold: opts.threshold ?? 0.01,
      thresholdMode: opts.thresholdMode ?? 'rel',
      cooldown: opts.cooldown ?? 0,
      minLr: opts.minLr ?? 0,
      eps: opts.eps ?? 1e-8,
    });
    this.#lr = this.#o.lr;
    this.#best = this.#worst();
  }

  static #validate(o: Required<PlateauOptions>): Required<PlateauOptions> {
    if (!(Number.isFinite(o.lr) && o.lr >= 0)) throw new RangeError(`PlateauScheduler: lr must be a finite number >= 0, got ${o.lr}`);
    if (o.mode !== 'min' && o.mode !== 'max') throw new RangeError(`PlateauScheduler: mode must be 'min' or 'max', got '${o.mode}'`);
    // PyTorch refuses factor >= 1: the rate must shrink.
    if (!(o.factor >= 0 && o.factor < 1)) throw new RangeError(`PlateauScheduler: factor must be in [0, 1), got ${o.factor}`);
    if (!Number.isInteger(o.patience) || o.patience < 0) throw new RangeError(`PlateauScheduler: patience must be an integer >= 0, got ${o.patience}`);
    if (!Number.isInteger(o.cooldown) || o.cooldown < 0) throw new RangeError(`PlateauScheduler: cooldown must be an integer >= 0, got ${o.cooldown}`);
    if (o.thresholdMode !== 'rel' && o.thresholdMode !== 'abs') {
      throw new RangeError(`PlateauScheduler: thresholdMode must be 'rel' or 'abs', got '${o.thresholdMode}'`);
    }
    if (!Number.isFinite(o.threshold)) throw new RangeError(`PlateauScheduler: threshold must be finite, got ${o.threshold}`);
    if (!(o.minLr >= 0)) throw new RangeError(`PlateauScheduler: minLr must be >= 0, got ${o.minLr}`);
    if (!(o.eps >= 0)) throw new RangeError(`PlateauScheduler: eps must be >= 0, got ${o.eps}`);
    return o;
  }

  #worst(): number {
    return this.#o.mode === 'min' ? Infinity : -Infinity;
  }

  // PyTorch's _cmp, including its use of a multiplicative threshold even for negative
  // bests (where 'rel' then demands less than it seems): exact resume needs its quirks.
  #isBetter(a: number, best: number): boolean {
    const { mode, thresholdMode, threshold } = this.#o;
    if (mode === 'min') return thresholdMode === 'rel' ? a < best * (1 - threshold) : a < best - threshold;
    return thresholdMode === 'rel' ? a > best * (threshold + 1) : a > best + threshold;
  }

  /** The learning rate to use now. */
  get lr(): number {
    return this.#lr;
  }

  /** `lr / initial lr` (1 when the initial lr is 0). */
  get multiplier(): number {
    return this.#o.lr === 0 ? 1 : this.#lr / this.#o.lr;
  }

  /** The best metric so far (the mode's worst, ±Infinity, before any). */
  get best(): number {
    return this.#best;
  }

  /** How many times step() was called. */
  get lastEpoch(): number {
    return this.#lastEpoch;
  }

  /** Reports an epoch's metric; returns the (possibly reduced) learning rate. NaN counts as no improvement. */
  step(metric: number): number {
    if (typeof metric !== 'number') throw new TypeError(`PlateauScheduler.step(): metric must be a number, got ${typeof metric}`);
    this.#lastEpoch += 1;
    if (this.#isBetter(metric, this.#best)) {
      this.#best = metric;
      this.#numBadEpochs = 0;
    } else {
      this.#numBadEpochs += 1;
    }
    if (this.#cooldownCounter > 0) {
      this.#cooldownCounter -= 1;
      this.#numBadEpochs = 0; // bad epochs in cooldown are forgiven
    }
    if (this.#numBadEpochs > this.#o.patience) {
      const next = Math.max(this.#lr * this.#o.factor, this.#o.minLr);
      // The eps test is on the absolute rate, which is why this class holds the rate
      // itself rather than a multiplier: it decides when cutting stops.
      if (this.#lr - next > this.#o.eps) this.#lr = next;
      this.#cooldownCounter = this.#o.cooldown;
      this.#numBadEpochs = 0;
    }
    return this.#lr;
  }

  /** A JSON-safe snapshot; `load` of it resumes identically. */
  state(): PlateauState {
    const b = this.#best;
    return {
      options: { ...this.#o },
      lr: this.#lr,
      best: b === Infinity ? 'Infinity' : b === -Infinity ? '-Infinity' : b,
      numBadEpochs: this.#numBadEpochs,
      cooldownCounter: this.#cooldownCounter,
      lastEpoch: this.#lastEpoch,
    };
  }

  /** Restores a `state()` snapshot, options included (as PyTorch's load_state_dict does). */
  load(s: PlateauState): void {
    if (s === null || typeof s !== 'object' || typeof s.options !== 'object' || s.options === null) {
      throw new TypeError('PlateauScheduler.load(): expected an object from state()');
    }
    const o = PlateauScheduler.#validate({ ...s.options });
    const best = s.best === 'Infinity' ? Infinity : s.best === '-Infinity' ? -Infinity : s.best;
    if (typeof best !== 'number' || Number.isNaN(best)) throw new TypeError(`PlateauScheduler.load(): bad best ${String(s.best)}`);
    for (const k of ['numBadEpochs', 'cooldownCounter', 'lastEpoch'] as const) {
      if (!Number.isInteger(s[k]) || s[k] < 0) throw new TypeError(`PlateauScheduler.load(): ${k} must be an integer >= 0, got ${s[k]}`);
    }
    if (!(Number.isFinite(s.lr) && s.lr >= 0)) throw new TypeError(`PlateauScheduler.load(): bad lr ${s.lr}`);
    this.#o = o;
    this.#lr = s.lr;
    this.#best = best;
    this.#numBadEpochs = s.numBadEpochs;
    this.#cooldownCounter = s.cooldownCounter;
    this.#lastEpoch = s.lastEpoch;
  }

  /** A scheduler resumed from a `state()` snapshot. */
  static fromState(s: PlateauState): PlateauScheduler {
    const p = new PlateauScheduler({ lr: s?.options?.lr ?? 0 });
    p.load(s);
    return p;
  }
}
