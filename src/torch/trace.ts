// Tracing: a record of every native call made while a function runs, for exporters
// (src/export/ turns the record into an ONNX graph). Every op of the tensor layer reaches
// libtorch through one object, `N`, one function per op, so that object is the single
// place to listen. While a trace runs, each of N's functions is swapped for a recording
// twin and put back afterwards: when nothing is traced, ops pay nothing at all.
import { N, type Handle, type NativeFn } from './native.js';

/** One native call: its name, its arguments as given (handles, numbers, lists) and its result. */
export interface TracedCall {
  readonly op: string;
  readonly args: readonly unknown[];
  readonly result: unknown;
}

/**
 * Calls that only read a tensor's metadata or manage memory: not ops. Those that read a
 * tensor's values (item, toBytes, equal) are recorded, because a forward pass that
 * branches on values cannot be a static graph and the exporter must be able to say so.
 */
const NOT_OPS = new Set([
  'shape', 'numel', 'dtype', 'device', 'strides', 'isContiguous', 'requiresGrad', 'setRequiresGrad', 'dispose',
  'isLeaf', 'gradFnName', 'gradOf', 'sameStorage', 'liveTensors', 'setNumThreads', 'getNumThreads', 'buildInfo',
  'isGradEnabled', 'setGradEnabled', 'isLive', 'profilerStart', 'profilerStop', 'flopCounterStart', 'flopCounterStop',
]);

let tracing = false;

// The untouched functions, for the helpers below (they run inside a trace's callback).
const raw: Record<string, NativeFn> = { ...(N as Record<string, NativeFn>) };

/** True while `traceCalls` runs. */
export function isTracing(): boolean {
  return tracing;
}

/**
 * Runs `fn` (synchronously) and hands every native op call it makes to `onCall`, in
 * order, after the call returned. Traces do not nest.
 */
export function traceCalls<T>(fn: () => T, onCall: (call: TracedCall) => void): T {
  if (tracing) throw new Error('traceCalls: a trace is already running (traces do not nest)');
  const table = N as Record<string, NativeFn>;
  const saved = new Map<string, NativeFn>();
  for (const [name, f] of Object.entries(table)) {
    if (typeof f !== 'function' || NOT_OPS.has(name)) continue;
    saved.set(name, f);
    table[name] = (...args: unknown[]) => {
      const result = f(...args);
      onCall({ op: name, args, result });
      return result;
    };
  }
  tracing = true;
  try {
    const out = fn();
    if (out instanceof Promise) throw new Error('traceCalls(fn): fn must be synchronous');
    return out;
  } finally {
    for (const [name, f] of saved) table[name] = f;
    tracing = false;
  }
}

/** A native tensor handle (an opaque external), as opposed to a number, list or string argument. */
export function isHandle(v: unknown): v is Handle {
  return typeof v === 'object' && v !== null && !Array.isArray(v) && Object.getPrototypeOf(v) === null;
}

/** A tensor's contents at one moment: what an exporter keeps of a weight or a constant. */
export interface TensorSnapshot {
  shape: number[];
  dtype: string;
  /** Little-endian elements, row-major. */
  data: Uint8Array;
}

/** Copies out a handle's shape, dtype and elements (for constants met during a trace). */
export function snapshot(h: Handle): TensorSnapshot {
  const c = raw.contiguous(h);
  try {
    return { shape: raw.shape(c) as number[], dtype: raw.dtype(c) as string, data: new Uint8Array(raw.toBytes(c) as ArrayBuffer).slice() };
  } finally {
    raw.dispose(c);
  }
}

/** A handle's shape and dtype (no copy). */
export function handleMeta(h: Handle): { shape: number[]; dtype: string } {
  return { shape: raw.shape(h) as number[], dtype: raw.dtype(h) as string };
}

/** Whether two handles look at the same storage (a view and its base); a disposed handle shares nothing. */
export function sharesStorage(a: Handle, b: Handle): boolean {
  return (raw.isLive(a) as boolean) && (raw.isLive(b) as boolean) && (raw.sameStorage(a, b) as boolean);
}
