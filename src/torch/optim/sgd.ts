// Stochastic gradient descent with momentum, dampening, Nesterov and L2 decay, as PyTorch.
import { N } from '../native.js';
import { handles } from '../tensor.js';
import type { Tensor } from '../tensor.js';
import { Optimizer, checkPositive } from './optimizer.js';

export interface SGDOptions {
  lr: number;
  momentum?: number;
  dampening?: number;
  weightDecay?: number;
  nesterov?: boolean;
}

export class SGD extends Optimizer {
  momentum: number;
  dampening: number;
  weightDecay: number;
  nesterov: boolean;
  #buf: Tensor[];

  constructor(params: Iterable<Tensor>, o: SGDOptions) {
    super(params, o.lr);
    this.momentum = o.momentum ?? 0;
    this.dampening = o.dampening ?? 0;
    this.weightDecay = o.weightDecay ?? 0;
    this.nesterov = o.nesterov ?? false;
    checkPositive('momentum', this.momentum, true);
    checkPositive('weightDecay', this.weightDecay, true);
    if (this.nesterov && (this.momentum <= 0 || this.dampening !== 0)) {
      throw new Error('Nesterov momentum requires a momentum and zero dampening');
    }
    this.#buf = this.momentum !== 0 ? this.addSlot('momentum_buffer') : [];
  }

  step(): void {
    N.sgdStep(handles(this.params), handles(this.#buf), this.steps, this.lr, this.momentum, this.dampening, this.weightDecay, this.nesterov);
  }

  protected hyper(): Record<string, number | boolean | number[]> {
    return { momentum: this.momentum, dampening: this.dampening, weightDecay: this.weightDecay, nesterov: this.nesterov };
  }

  protected setHyper(h: Record<string, number | boolean | number[]>): void {
    if (typeof h.momentum === 'number' && (h.momentum === 0) !== (this.momentum === 0)) {
      throw new Error('optimizer state was saved with a different momentum setting');
    }
  }
}
