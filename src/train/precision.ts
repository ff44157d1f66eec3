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
import { UsageError } from '../config/errors.js';

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

let cpuBf16Runs: boolean | null = null;

/**
 * Whether libtorch can run bf16 convolutions on this CPU at all: oneDNN builds them only
 * where it finds AVX-512 (emulated without AVX-512-BF16); on AVX2-only CPUs (or under
 * ONEDNN_MAX_CPU_ISA=AVX2) it fails to create the primitive. Probed once with a tiny one.
 */
export function bf16ConvRuns(): boolean {
  if (cpuBf16Runs === null) {
    try {
      torch.scope(() => torch.noGrad(() => torch.autocast('bf16', () => torch.F.conv2d(torch.zeros([1, 1, 2, 2]), torch.zeros([1, 1, 1, 1])))));
      cpuBf16Runs = true;
    } catch {
      cpuBf16Runs = false;
    }
  }
  return cpuBf16Runs;
}

/** Refuses --precision bf16 on a CPU whose oneDNN cannot run it (one line, before any work). */
export function checkPrecision(precision: Precision, device: string): void {
  if (precision === 'bf16' && device === 'cpu' && !bf16ConvRuns()) {
    throw new UsageError('--precision bf16: libtorch cannot run bf16 convolutions on this CPU (oneDNN needs AVX-512 for them); use --precision fp32');
  }
}
