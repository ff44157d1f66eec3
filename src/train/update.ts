// One optimiser update with some networks held fixed: the references' pattern for G's
// step (set_requires_grad(D, False), zero_grad, backward, step, set_requires_grad(D,
// True)). D's weights are left out of autograd, so the backward pass computes no
// gradients they would not use, and they get their gradients back afterwards whatever
// happens, so the next D step needs nothing switched on.
import type { Tensor, optim } from '../torch/index.js';
import type { Module } from '../nn/index.js';

/**
 * Zeroes `opt`'s gradients, computes `fn()` with the `frozen` networks' parameters not
 * requiring gradients, backpropagates its `loss` and steps `opt`. Returns what `fn`
 * returned (the loss and any parts the recipe logs).
 */
export function optimizerStep<T extends { loss: Tensor }>(opt: optim.Optimizer, frozen: readonly Module[], fn: () => T): T {
  for (const net of frozen) net.requiresGrad_(false);
  try {
    opt.zeroGrad();
    const out = fn();
    out.loss.backward();
    opt.step();
    return out;
  } finally {
    for (const net of frozen) net.requiresGrad_(true);
  }
}
