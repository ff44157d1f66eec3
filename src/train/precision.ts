// --precision: the arithmetic of a training step. 'fp32' computes everything in float32;
// 'bf16' is mixed precision: each phase's forward pass and loss run under autocast to
// bfloat16 (convolutions, transposed ones too, and matrix products in bf16; norms,
// losses, reductions and softmax in fp32: torch.autocast and native/autocast.cc hold the
// policy), gradients flow back in the types of the forward ops. The parameters, their
// gradients, the optimiser state, the EMA, the checkpoints and sampling stay fp32: bf16
// has fp32's exponent range, so no loss scaling is needed.
//
// Precision is the loop's business: a family's networks and losses know nothing of it.
import { readFileSync } from 'node:fs';
import * as torch from '../torch/index.js';

export const PRECISIONS = ['fp32', 'bf16'] as const;
export type Precision = (typeof PRECISIONS)[number];

/** Runs `fn` (a phase's forward pass and loss) at `precision` for tensors on `device`. */
export function withPrecision<T>(precision: Precision, device: string, fn: () => T): T {
  return precision === 'bf16' ? torch.autocast('bf16', fn, { device }) : fn();
}

/**
 * Whether this CPU has bf16 dot products in hardware (x86 AVX-512-BF16 or AMX, Arm BF16),
 * from Linux's /proc/cpuinfo; null where that cannot be told. Without them oneDNN emulates
 * bf16 and a bf16 step is slower than an fp32 one.
 */
export function cpuHasBf16(): boolean | null {
  let info: string;
  try {
    info = readFileSync('/proc/cpuinfo', 'utf8');
  } catch {
    return null;
  }
  const x86 = /^flags\s*:(.*)$/m.exec(info);
  if (x86) return /\s(avx512_bf16|amx_bf16)(\s|$)/.test(x86[1]);
  const arm = /^Features\s*:(.*)$/m.exec(info);
  if (arm) return /\sbf16(\s|$)/.test(arm[1]);
  return null;
}

/** A warning before training at `precision` on `device`, or null when there is nothing to say. */
export function precisionWarning(precision: Precision, device: string): string | null {
  if (precision !== 'bf16' || device !== 'cpu' || cpuHasBf16() !== false) return null;
  return '--precision bf16: this CPU has no bf16 instructions (AVX-512-BF16 or AMX); libtorch emulates bf16 here, usually slower than fp32';
}
