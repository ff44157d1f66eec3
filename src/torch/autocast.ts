// Mixed precision: libtorch's autocast, scoped to a function as torch.autocast is to a
// `with` block. Inside it, convolutions, linear layers and matrix products run in the
// lower type (transposed convolutions in fp32: native/autocast.cc says why); norms, losses, reductions, softmax and the other ops
// libtorch keeps in fp32 stay there; every other op runs in the type of its inputs, with
// the usual promotion (bf16 + fp32 gives fp32). Parameters are untouched: their casts
// are made per call (and cached while the outermost autocast lasts), and their gradients
// arrive in fp32. native/autocast.cc lists the policy, libtorch's and ours.
import { N } from './native.js';

/** The types autocast computes in: 'bf16' (bfloat16, fp32's range) or 'fp16' (float16, CUDA only in practice). */
export type AutocastType = 'bf16' | 'bfloat16' | 'fp16' | 'float16';

const NATIVE_NAME: Record<AutocastType, string> = { bf16: 'bfloat16', bfloat16: 'bfloat16', fp16: 'float16', float16: 'float16' };

export interface AutocastOptions {
  /** Tensors of which device type it applies to: 'cpu' (default) or 'cuda' (any 'cuda:N'). */
  device?: string;
}

function deviceType(device: string | undefined): 'cpu' | 'cuda' {
  const d = device ?? 'cpu';
  if (d === 'cpu') return 'cpu';
  if (/^cuda(:\d+)?$/.test(d)) return 'cuda';
  throw new Error(`autocast(): device must be 'cpu', 'cuda' or 'cuda:N', got '${d}'`);
}

/**
 * Runs `fn` under autocast to `type` (null: with autocast off, inside an autocast region
 * too) and returns its result. Like grad mode, autocast belongs to the calling thread, so
 * `fn` must be synchronous. Gradients (backward, grad) are always computed outside it,
 * each backward op in the type of its forward op. Nested calls restore the state around
 * them; the outermost one drops the cached casts of the weights, so call it again after
 * an optimiser step rather than stepping inside it.
 */
export function autocast<T>(type: AutocastType | null, fn: () => T, opts: AutocastOptions = {}): T {
  const dev = deviceType(opts.device);
  if (type !== null && !(type in NATIVE_NAME)) throw new Error(`autocast(): type must be one of ${Object.keys(NATIVE_NAME).join(', ')}, got '${String(type)}'`);
  const [prevEnabled, prevType] = N.autocastEnter(dev, type !== null, type === null ? null : NATIVE_NAME[type]) as [boolean, string];
  try {
    const r = fn();
    if (r instanceof Promise) throw new Error('autocast(): fn must be synchronous (autocast is per thread and would leak across awaits)');
    return r;
  } finally {
    N.autocastExit(dev, prevEnabled, prevType);
  }
}

/** Whether autocast is on for `device`'s tensors on this thread, and its type. */
export function autocastState(device = 'cpu'): { enabled: boolean; dtype: 'bfloat16' | 'float16' } {
  return N.autocastState(deviceType(device));
}
