// Gradients: libtorch's autograd with higher-order gradients, and grad-mode control.
import { N } from './native.js';
import { Tensor, handles, wrapOpt } from './tensor.js';

export interface GradOptions {
  /** Weights for the outputs (PyTorch's grad_outputs); needed for non-scalar outputs. */
  gradOutputs?: readonly Tensor[] | null;
  /** Keep the graph for another backward pass (defaults to createGraph). */
  retainGraph?: boolean;
  /** Build a graph of the gradient itself, so it can be differentiated again (R1, WGAN-GP, path length). */
  createGraph?: boolean;
  /** Give null for inputs the outputs do not depend on, instead of raising. */
  allowUnused?: boolean;
}

/** d(sum of outputs)/d(inputs), like `torch.autograd.grad`. */
export function grad(outputs: Tensor | readonly Tensor[], inputs: Tensor | readonly Tensor[], opts: GradOptions = {}): (Tensor | null)[] {
  const outs = outputs instanceof Tensor ? [outputs] : outputs;
  const ins = inputs instanceof Tensor ? [inputs] : inputs;
  const res: unknown[] = N.grad(
    handles(outs),
    handles(ins),
    opts.gradOutputs ? handles(opts.gradOutputs) : null,
    opts.retainGraph ?? null,
    opts.createGraph ?? false,
    opts.allowUnused ?? false,
  );
  return res.map((x) => wrapOpt(x as never));
}

function withGradMode<T>(enabled: boolean, fn: () => T): T {
  const prev: boolean = N.setGradEnabled(enabled);
  try {
    const r = fn();
    if (r instanceof Promise) {
      throw new Error('noGrad/enableGrad: fn must be synchronous (grad mode is per thread and would leak across awaits)');
    }
    return r;
  } finally {
    N.setGradEnabled(prev);
  }
}

/** Runs `fn` without recording autograd history (sampling, EMA, evaluation). */
export function noGrad<T>(fn: () => T): T {
  return withGradMode(false, fn);
}

/** Runs `fn` with autograd on, even inside `noGrad`. */
export function enableGrad<T>(fn: () => T): T {
  return withGradMode(true, fn);
}

export function isGradEnabled(): boolean {
  return N.isGradEnabled();
}
