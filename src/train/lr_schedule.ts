// Applies `--lr_policy` to every optimiser of a recipe, once per data epoch, as the
// reference's update_learning_rate() does at the end of an epoch: training epoch k runs
// with the multiplier after k scheduler steps (so the schedule starts at its first value).
import type { optim } from '../torch/index.js';
import type { LrPolicyOptions } from './options.js';
import { type LrPolicy, lrMultiplier, PlateauScheduler, type PlateauState } from './lr.js';

export interface ScheduleState {
  epoch: number;
  plateau: PlateauState | null;
  /** Running sum and count of the plateau metric over the current epoch. */
  sum: number;
  count: number;
}

export class LrSchedule {
  readonly policy: LrPolicy;
  readonly #base: Map<optim.Optimizer, number>;
  readonly #plateau: PlateauScheduler | null;
  #epoch = 0;
  #sum = 0;
  #count = 0;

  /** Takes each optimiser's current lr as its base rate: build it before loading a checkpoint. */
  constructor(readonly o: LrPolicyOptions, optimizers: readonly optim.Optimizer[]) {
    this.policy = o.lr_policy;
    this.#base = new Map(optimizers.map((opt) => [opt, opt.lr]));
    this.#plateau = this.policy === 'plateau' ? new PlateauScheduler({ lr: 1 }) : null;
    this.#apply();
  }

  #multiplier(): number {
    if (this.#plateau) return this.#plateau.lr;
    return lrMultiplier(this.policy, this.#epoch, {
      nEpochs: this.o.n_epochs, nEpochsDecay: this.o.n_epochs_decay, lrDecayIters: this.o.lr_decay_iters,
    });
  }

  #apply(): void {
    const m = this.#multiplier();
    for (const [opt, base] of this.#base) opt.lr = base * m;
  }

  /** Before each step: `epoch` is the data epoch the step's batch comes from. */
  beforeStep(epoch: number): void {
    while (this.#epoch < epoch) {
      if (this.#plateau) this.#plateau.step(this.#count > 0 ? this.#sum / this.#count : 0);
      this.#epoch++;
      this.#sum = 0;
      this.#count = 0;
      this.#apply();
    }
  }

  /** After each step: the scalars it logged (the plateau policy watches one of them). */
  afterStep(metrics: Record<string, number>): void {
    const v = metrics[this.o.plateau_metric];
    if (this.#plateau && Number.isFinite(v)) {
      this.#sum += v;
      this.#count++;
    }
  }

  /** The multiplier in force (for logging). */
  get multiplier(): number {
    return this.#multiplier();
  }

  state(): ScheduleState {
    return { epoch: this.#epoch, plateau: this.#plateau?.state() ?? null, sum: this.#sum, count: this.#count };
  }

  load(s: ScheduleState): void {
    this.#epoch = s.epoch;
    this.#sum = s.sum;
    this.#count = s.count;
    if (this.#plateau && s.plateau) this.#plateau.load(s.plateau);
    this.#apply();
  }
}
