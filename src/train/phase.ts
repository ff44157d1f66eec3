// The phases of one training iteration, as stylegan2-ada-pytorch's training loop runs
// them. A family declares its phases — which networks each trains, with which optimiser,
// how often, over how many accumulated minibatches, and the loss — and the runner does
// everything around the loss, the same way for every family: zero_grad, freezing the
// networks the phase does not train, accumulation over minibatches, the gradient hook (an
// all-reduce under data parallelism), an optional nan_to_num of the gradients and the
// optimiser step. A family never steps an
// optimiser itself, so a new regulariser, cadence or backend touches one place.
import * as torch from '../torch/index.js';
import type { Tensor } from '../torch/index.js';
import type { Module } from '../nn/index.js';
import type { TensorBatch } from '../data/index.js';
import { type Precision, withPrecision } from './precision.js';

/** Where an iteration stands: iterations done before it, and real images shown before it. */
export interface StepContext {
  step: number;
  imagesSeen: number;
}

export interface PhaseContext<S> extends StepContext {
  /** The accumulation round (0-based) and how many there are. */
  round: number;
  rounds: number;
  /** The optimiser step within the phase's `steps` (0-based). */
  phaseStep: number;
  /** What the recipe's prepare() returned for this iteration (undefined without one). */
  shared: S;
}

export interface PhaseLoss {
  /** The scalar to backpropagate (the mean over this round's minibatch). */
  loss: Tensor;
  /** Scalars to log, averaged over the rounds; tensors are read once the phase has stepped. */
  log?: Record<string, Tensor | number>;
}

export interface Phase<S = unknown> {
  /** 'D', 'G', 'Dmain', 'Dreg', ... (shown in errors). */
  name: string;
  /** The networks this phase trains; every other network of the recipe is frozen while it runs. */
  nets: readonly Module[];
  /** Steps after the phase; built over (at least) the parameters of `nets`. */
  optimizer: torch.optim.Optimizer;
  /** Runs on iterations whose step is a multiple of this (default 1: every iteration). */
  interval?: number;
  /**
   * A lazy regulariser (StyleGAN2's Dreg/Greg): it runs every `interval` iterations, and its
   * optimiser, shared with the main phase, gets StyleGAN2's correction for the extra steps:
   * lr·r and β^r with r = interval / (interval + 1). The loss should carry the interval as
   * a gain, as the reference's does.
   */
  lazy?: boolean;
  /** Minibatches the iteration's batch is split into; their gradients are averaged before the step. */
  accumulate?: number;
  /**
   * Optimiser steps the phase takes in a row per iteration (BigGAN's num_D_steps), each on
   * its own equal slice of the batch (then split into `accumulate` minibatches). Default 1.
   */
  steps?: number;
  /**
   * false: every accumulation round gets the whole batch instead of a slice (a generator
   * phase that draws its own latents and reads no real images). Default true.
   */
  split?: boolean;
  /** Adds to the accumulated gradients before the step (a regulariser given directly as a gradient, e.g. BigGAN's orthogonal one). */
  beforeStep?(): void;
  /**
   * Just before the step, every gradient of the optimiser's parameters goes through
   * nan_to_num with these values (stylegan2-ada-pytorch's loop: NaN 0, ±∞ ±1e5), so one bad
   * minibatch cannot turn the weights into NaN. Default: gradients are stepped as they are.
   */
  nanToNum?: { nan: number; posinf: number; neginf: number };
  /** Overrides `interval` when a family's cadence is not periodic in steps (progressive D_repeats groups). */
  runs?(ctx: StepContext & { shared: S }): boolean;
  loss(batch: TensorBatch, ctx: PhaseContext<S>): PhaseLoss;
}

/** Called with each phase's parameters after accumulation, before the step: where data parallelism all-reduces. */
export type GradientHook = (params: readonly Tensor[], phase: string) => void;

/** What the runner needs of a recipe (the Recipe interface has it all). */
export interface PhasedRecipe<S = unknown> {
  networks(): Record<string, Module>;
  readonly phases: readonly Phase<S>[];
  prepare?(batch: TensorBatch, ctx: StepContext): S;
  stepLog?(): Record<string, number>;
}

/** Optimisers already corrected for lazy regularisation (a second runner must not correct them again). */
const adjusted = new WeakSet<torch.optim.Optimizer>();

/** StyleGAN2's correction of an optimiser shared by a main phase and a lazy one of `interval`. */
export function lazyRegularization(opt: torch.optim.Optimizer, interval: number): void {
  const r = interval / (interval + 1);
  opt.lr *= r;
  if (opt instanceof torch.optim.Adam) opt.betas = [opt.betas[0] ** r, opt.betas[1] ** r];
  else throw new Error(`lazy regularisation needs Adam (StyleGAN2's correction is defined for its betas), got ${opt.constructor.name}`);
}

/** Splits a batch into `rounds` equal minibatches along the first dimension. */
function splitBatch(batch: TensorBatch, rounds: number, phase: string): TensorBatch[] {
  if (rounds === 1) return [batch];
  const n = batch.a.shape[0];
  if (n % rounds !== 0) throw new Error(`phase ${phase}: a batch of ${n} does not split into ${rounds} equal minibatches`);
  const size = n / rounds;
  const parts = (t: Tensor | null) => (t ? t.split(size, 0) : null);
  const a = parts(batch.a)!, b = parts(batch.b), labels = parts(batch.labels);
  return a.map((ai, i) => ({ ...batch, a: ai, b: b ? b[i] : null, labels: labels ? labels[i] : null }));
}

export class PhaseRunner<S = unknown> {
  readonly #recipe: PhasedRecipe<S>;
  readonly #hook: GradientHook | null;
  readonly #precision: Precision;
  readonly #device: string;
  /** Per phase, the parameters of the recipe's other networks: the ones it freezes while it runs. */
  readonly #others = new Map<Phase<S>, Tensor[]>();

  /**
   * `precision` 'bf16' runs prepare() and every phase's loss (the forward passes) under
   * autocast for tensors on `device` (default 'cpu'); backward and the optimiser steps stay outside it.
   */
  constructor(recipe: PhasedRecipe<S>, opts: { gradientHook?: GradientHook; precision?: Precision; device?: string } = {}) {
    this.#recipe = recipe;
    this.#hook = opts.gradientHook ?? null;
    this.#precision = opts.precision ?? 'fp32';
    this.#device = opts.device ?? 'cpu';
    const names = new Set<string>();
    for (const p of recipe.phases) {
      if (names.has(p.name)) throw new Error(`internal: two phases are named ${p.name}`);
      names.add(p.name);
      const interval = p.interval ?? 1;
      if (!Number.isInteger(interval) || interval < 1) throw new Error(`internal: phase ${p.name} has interval ${interval}`);
      if (!Number.isInteger(p.accumulate ?? 1) || (p.accumulate ?? 1) < 1) throw new Error(`internal: phase ${p.name} accumulates ${p.accumulate} minibatches`);
      if (!Number.isInteger(p.steps ?? 1) || (p.steps ?? 1) < 1) throw new Error(`internal: phase ${p.name} takes ${p.steps} steps`);
      if (p.nets.length === 0) throw new Error(`internal: phase ${p.name} trains no network`);
      if (p.lazy && interval > 1 && !adjusted.has(p.optimizer)) {
        lazyRegularization(p.optimizer, interval);
        adjusted.add(p.optimizer);
      }
      const training = new Set<Tensor>(p.nets.flatMap((n) => n.parameters()));
      this.#others.set(p, Object.values(recipe.networks()).flatMap((n) => n.parameters()).filter((t) => !training.has(t)));
    }
  }

  /** Whether `phase` runs in the iteration at `ctx`. */
  #due(phase: Phase<S>, ctx: StepContext & { shared: S }): boolean {
    return phase.runs ? phase.runs(ctx) : ctx.step % (phase.interval ?? 1) === 0;
  }

  /**
   * One training iteration on `batch`: prepare, then each due phase in order. Returns the
   * scalars the phases and the recipe logged. Runs in the caller's scope: wrap it in
   * torch.scope() to free the iteration's tensors.
   */
  run(batch: TensorBatch, ctx: StepContext): Record<string, number> {
    const r = this.#recipe;
    const shared = (r.prepare ? withPrecision(this.#precision, this.#device, () => r.prepare!(batch, ctx)) : undefined) as S;
    const out: Record<string, number> = {};
    for (const phase of r.phases) {
      if (!this.#due(phase, { ...ctx, shared })) continue;
      Object.assign(out, this.#runPhase(phase, batch, ctx, shared));
    }
    if (r.stepLog) Object.assign(out, r.stepLog());
    return out;
  }

  #runPhase(phase: Phase<S>, batch: TensorBatch, ctx: StepContext, shared: S): Record<string, number> {
    // Freeze every parameter the phase does not train (remembering which were trainable:
    // a generator average is frozen for good), so backward computes only what it updates.
    const frozen = this.#others.get(phase)!.filter((p) => p.requiresGrad);
    for (const p of frozen) p.requiresGrad = false;
    const sums: Record<string, Tensor | number> = {};
    try {
      const rounds = phase.accumulate ?? 1;
      const steps = phase.steps ?? 1;
      const oneStep = (slice: TensorBatch, phaseStep: number): Record<string, Tensor | number> => {
        const local = { ...sums };
        phase.optimizer.zeroGrad();
        const parts = phase.split === false ? Array.from({ length: rounds }, () => slice) : splitBatch(slice, rounds, phase.name);
        parts.forEach((part, round) => {
          const { loss, log } = withPrecision(this.#precision, this.#device, () => phase.loss(part, { ...ctx, round, rounds, phaseStep, shared }));
          (rounds === 1 ? loss : loss.div(rounds)).backward();
          // Logged scalars: the mean over every minibatch of every step.
          const n = rounds * steps;
          for (const [k, v] of Object.entries(log ?? {})) {
            const x = typeof v === 'number' ? v / n : v.detach().div(n);
            const prev = local[k];
            if (prev === undefined) local[k] = x;
            else if (typeof prev === 'number') local[k] = typeof x === 'number' ? prev + x : x.add(prev);
            else local[k] = prev.add(x);
          }
        });
        this.#hook?.(phase.optimizer.params, phase.name);
        phase.beforeStep?.();
        if (phase.nanToNum) torch.optim.nanToNumGrads(phase.optimizer.params, phase.nanToNum);
        phase.optimizer.step();
        return local;
      };
      // Several steps: each frees its activations before the next (only the logged sums stay).
      splitBatch(batch, steps, phase.name).forEach((slice, i) => Object.assign(sums, steps === 1 ? oneStep(slice, i) : torch.scope(() => oneStep(slice, i))));
    } finally {
      for (const p of frozen) p.requiresGrad = true;
    }
    return Object.fromEntries(Object.entries(sums).map(([k, v]) => [k, typeof v === 'number' ? v : v.item()]));
  }
}
