// What every optimiser shares: its parameters, a learning rate that may change every
// step, per-parameter step counts, and a state that round-trips through checkpoints.
import { N } from '../native.js';
import { Tensor, handles } from '../tensor.js';
import { zerosLike } from '../creation.js';
import { noGrad } from '../autograd.js';

export interface OptimizerState {
  /** State tensors by name (`<index>.exp_avg`, ...): the optimiser's own, do not dispose. */
  tensors: Record<string, Tensor>;
  /** Hyper-parameters and step counts (JSON-safe). */
  hyper: Record<string, number | boolean | number[]>;
}

export abstract class Optimizer {
  readonly params: readonly Tensor[];
  lr: number;
  protected readonly steps: Float64Array;
  protected readonly slots: Record<string, Tensor[]> = {};

  constructor(params: Iterable<Tensor>, lr: number) {
    this.params = [...params];
    if (this.params.length === 0) throw new Error('optimizer got an empty parameter list');
    const seen = new Set<Tensor>();
    for (const p of this.params) {
      if (seen.has(p)) throw new Error('optimizer got the same parameter twice');
      seen.add(p);
      if (!p.isFloatingPoint) throw new Error(`optimizer parameters must be floating point, got ${p.dtype}`);
    }
    checkPositive('lr', lr, true);
    this.lr = lr;
    this.steps = new Float64Array(this.params.length);
  }

  /** A zero tensor per parameter, owned by the optimiser (kept out of every scope). */
  protected addSlot(name: string): Tensor[] {
    const slot = noGrad(() => this.params.map((p) => zerosLike(p).keep()));
    this.slots[name] = slot;
    return slot;
  }

  /** Applies one update from the parameters' current `.grad` (parameters without one are skipped). */
  abstract step(): void;

  protected abstract hyper(): Record<string, number | boolean | number[]>;
  protected abstract setHyper(h: Record<string, number | boolean | number[]>): void;

  /** Drops every parameter's gradient (PyTorch's zero_grad(set_to_none=True)). */
  zeroGrad(): void {
    N.zeroGrads(handles(this.params));
  }

  stateDict(): OptimizerState {
    const tensors: Record<string, Tensor> = {};
    for (const [name, slot] of Object.entries(this.slots)) slot.forEach((t, i) => (tensors[`${i}.${name}`] = t));
    return { tensors, hyper: { ...this.hyper(), lr: this.lr, step: Array.from(this.steps) } };
  }

  /** Restores a state from `stateDict()` of an optimiser over parameters of the same shapes. */
  loadStateDict(state: OptimizerState): void {
    const steps = state.hyper.step;
    if (!Array.isArray(steps) || steps.length !== this.params.length) {
      throw new Error(`optimizer state is for ${Array.isArray(steps) ? steps.length : '?'} parameters, this optimizer has ${this.params.length}`);
    }
    noGrad(() => {
      for (const [name, slot] of Object.entries(this.slots)) {
        slot.forEach((t, i) => {
          const src = state.tensors[`${i}.${name}`];
          if (!src) throw new Error(`optimizer state lacks '${i}.${name}'`);
          const a = src.shape.join(','), b = t.shape.join(',');
          if (a !== b) throw new Error(`optimizer state '${i}.${name}' has shape [${a}], parameter ${i} needs [${b}]`);
          t.copy_(src);
        });
      }
    });
    this.steps.set(steps);
    if (typeof state.hyper.lr === 'number') this.lr = state.hyper.lr;
    this.setHyper(state.hyper);
  }

  /**
   * Forgets what the optimiser has learned about the gradients (moments zeroed, step
   * counts back to 0) while keeping its hyper-parameters: PGGAN's reset_opt_for_new_lod.
   */
  resetState(): void {
    noGrad(() => {
      for (const slot of Object.values(this.slots)) for (const t of slot) t.zero_();
    });
    this.steps.fill(0);
  }

  /** Frees the optimiser's state tensors. */
  dispose(): void {
    for (const slot of Object.values(this.slots)) for (const t of slot) t.dispose();
  }
}

export function checkPositive(name: string, v: number, allowZero = false): void {
  if (!Number.isFinite(v) || v < 0 || (!allowZero && v === 0)) {
    throw new RangeError(`${name} must be ${allowZero ? 'non-negative' : 'positive'} and finite, got ${v}`);
  }
}
