// Floating-point work of convolutions and matrix products, counted from the ops libtorch
// actually runs (native/flops.cc observes them), so a benchmark can turn seconds into
// GFLOP/s without a per-layer formula that could drift from the networks.
import { N } from './native.js';

/** FLOPs (one multiply-add = 2) by kind of op. */
export interface FlopKinds {
  conv: number;
  convTranspose: number;
  matmul: number;
}

export interface FlopCount {
  /** Ops run outside autograd's backward (the forward passes). */
  forward: FlopKinds;
  /** Ops run by autograd's backward (convolution_backward: input and/or weight gradient, as computed). */
  backward: FlopKinds;
  /** How many ops were counted, same layout. */
  calls: { forward: FlopKinds; backward: FlopKinds };
  /** Everything, forward and backward. */
  total: number;
}

const sum = (k: FlopKinds): number => k.conv + k.convTranspose + k.matmul;

/**
 * Runs `fn` (synchronously) and counts the FLOPs of the convolutions (also transposed)
 * and matrix products (mm, addmm, bmm, baddbmm, mv, addmv) it makes libtorch run, the
 * backward passes it starts included. Convention: 2 FLOPs per multiply-add; a
 * convolution's input gradient and its weight gradient each cost as much as its forward
 * (3× forward when both are computed, 2× for a first layer whose input needs no
 * gradient); biases, norms and element-wise ops are not counted. Counts do not nest.
 */
export function countFlops<T>(fn: () => T): { result: T; flops: FlopCount } {
  N.flopCounterStart();
  let raw: Omit<FlopCount, 'total'> | null = null;
  try {
    const result = fn();
    if (result instanceof Promise) throw new Error('countFlops(fn): fn must be synchronous');
    raw = N.flopCounterStop();
    return { result, flops: { ...raw!, total: sum(raw!.forward) + sum(raw!.backward) } };
  } finally {
    if (raw === null) N.flopCounterStop();
  }
}
