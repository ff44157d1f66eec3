// Adam (Kingma & Ba), stepped for all parameters in one native call with PyTorch's arithmetic.
import { N } from '../native.js';
import { handles } from '../tensor.js';
import type { Tensor } from '../tensor.js';
import { Optimizer, checkPositive } from './optimizer.js';

export interface AdamOptions {
  lr?: number;
  betas?: [number, number];
  eps?: number;
  /** L2 penalty added to the gradient (Adam's, not AdamW's decoupled decay). */
  weightDecay?: number;
  amsgrad?: boolean;
}

export class Adam extends Optimizer {
  betas: [number, number];
  eps: number;
  weightDecay: number;
  readonly amsgrad: boolean;
  #m: Tensor[];
  #v: Tensor[];
  #vmax: Tensor[] | null;

  constructor(params: Iterable<Tensor>, o: AdamOptions = {}) {
    super(params, o.lr ?? 1e-3);
    this.betas = o.betas ?? [0.9, 0.999];
    for (const b of this.betas) if (!(b >= 0 && b < 1)) throw new RangeError(`Adam betas must be in [0, 1), got [${this.betas.join(', ')}]`);
    this.eps = o.eps ?? 1e-8;
    checkPositive('eps', this.eps, true);
    this.weightDecay = o.weightDecay ?? 0;
    checkPositive('weightDecay', this.weightDecay, true);
    this.amsgrad = o.amsgrad ?? false;
    this.#m = this.addSlot('exp_avg');
    this.#v = this.addSlot('exp_avg_sq');
    this.#vmax = this.amsgrad ? this.addSlot('max_exp_avg_sq') : null;
  }

  step(): void {
    N.adamStep(handles(this.params), handles(this.#m), handles(this.#v), this.steps, this.lr, this.betas[0], this.betas[1],
      this.eps, this.weightDecay, this.#vmax ? handles(this.#vmax) : null);
  }

  protected hyper(): Record<string, number | boolean | number[]> {
    return { beta1: this.betas[0], beta2: this.betas[1], eps: this.eps, weightDecay: this.weightDecay, amsgrad: this.amsgrad };
  }

  protected setHyper(h: Record<string, number | boolean | number[]>): void {
    if (h.amsgrad !== undefined && h.amsgrad !== this.amsgrad) throw new Error('optimizer state was saved with a different amsgrad setting');
    if (typeof h.beta1 === 'number' && typeof h.beta2 === 'number') this.betas = [h.beta1, h.beta2];
    if (typeof h.eps === 'number') this.eps = h.eps;
    if (typeof h.weightDecay === 'number') this.weightDecay = h.weightDecay;
  }
}
