import { Tensor, F, empty } from '../torch/index.js';
import { Module } from './module.js';
import { kaimingUniform_, uniform_, fanInAndFanOut } from './init.js';

/** y = x Wᵀ + b, with PyTorch's default initialisation. */
export class Linear extends Module {
  readonly weight: Tensor;
  readonly bias: Tensor | null;

  constructor(readonly inFeatures: number, readonly outFeatures: number, opts: { bias?: boolean } = {}) {
    super();
    this.weight = this.registerParameter('weight', empty([outFeatures, inFeatures]));
    this.bias = this.registerParameter('bias', opts.bias === false ? null : empty([outFeatures]));
    this.resetParameters();
  }

  resetParameters(): void {
    // PyTorch's choice: kaiming_uniform with a = √5, which gives U(-1/√fan_in, 1/√fan_in).
    kaimingUniform_(this.weight, { a: Math.sqrt(5) });
    if (this.bias) {
      const [fanIn] = fanInAndFanOut(this.weight);
      const bound = fanIn > 0 ? 1 / Math.sqrt(fanIn) : 0;
      uniform_(this.bias, -bound, bound);
    }
  }

  forward(x: Tensor): Tensor {
    return F.linear(x, this.weight, this.bias);
  }
}
