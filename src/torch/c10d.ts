// c10d's process group (PyTorch's distributed engine inside libtorch), typed: a group of
// `size` processes joined through a store, and the collectives data parallelism uses.
// Each collective waits at most the group's timeout and then throws; a peer that died
// makes the survivors' next collective throw at once (its sockets close).
import { N } from './native.js';
import { Tensor, handles, wrap, wrapList } from './tensor.js';

export type ReduceOp = 'sum' | 'avg' | 'max' | 'min' | 'product';

export interface ProcessGroupOptions {
  rank: number;
  size: number;
  /** Every collective fails after this long. */
  timeoutMs: number;
  /** Joining fails when the other ranks have not all come within this long (default: timeoutMs). */
  joinTimeoutMs?: number;
  /** A TCPStore served by rank 0 at host:port (torchrun's MASTER_ADDR/MASTER_PORT), or a FileStore at a path every rank can reach. */
  store: { kind: 'tcp'; host: string; port: number } | { kind: 'file'; path: string };
  /** 'gloo' (CPU tensors) or 'nccl' (CUDA tensors; only in an addon built with NCCL). */
  backend?: 'gloo' | 'nccl';
  /** Keys of this group in the store are prefixed with it (several groups over one store stay apart). */
  prefix?: string;
}

/** Which c10d backends this build of the addon has. */
export function c10dBackends(): { gloo: boolean; nccl: boolean } {
  return N.c10dInfo();
}

/** Throws, saying why, where this build of the addon has no process group. */
export function requireC10d(): void {
  if (!c10dBackends().gloo) {
    throw new Error('this build of the ganforge addon has no c10d process group: it was built without the gloo headers (apt-get install libgloo-dev, then rebuild the addon)');
  }
}

export class ProcessGroup {
  readonly rank: number;
  readonly size: number;
  readonly timeoutMs: number;
  #id: number | null;

  /** Joins the group: blocks until all `size` ranks have joined, or the timeout. */
  constructor(o: ProcessGroupOptions) {
    requireC10d();
    const store = o.store.kind === 'tcp' ? { store: 'tcp', host: o.store.host, port: o.store.port } : { store: 'file', path: o.store.path };
    this.#id = N.pgCreate({ ...store, rank: o.rank, size: o.size, timeoutMs: Math.round(o.timeoutMs), joinTimeoutMs: Math.round(o.joinTimeoutMs ?? o.timeoutMs), backend: o.backend ?? 'gloo', prefix: o.prefix ?? 'ganforge' });
    this.rank = o.rank;
    this.size = o.size;
    this.timeoutMs = o.timeoutMs;
  }

  get #handle(): number {
    if (this.#id === null) throw new Error('the process group was destroyed');
    return this.#id;
  }

  /** Reduces `tensors` (contiguous, one device) in place across the ranks; 'avg' divides the sum by the world size. */
  allReduce(tensors: Tensor | readonly Tensor[], op: ReduceOp = 'sum'): void {
    N.pgAllReduce(this.#handle, handles(tensors instanceof Tensor ? [tensors] : tensors), op);
  }

  /**
   * The sum of `x` over the ranks as a new tensor that autograd differentiates: the
   * gradient reaching each rank's `x` is the sum of every rank's output gradient (a second
   * all-reduce in backward). Every rank must run backward through it, in the same order.
   */
  allReduceSumGrad(x: Tensor): Tensor {
    return wrap(N.pgAllReduceSumGrad(this.#handle, x.handle));
  }

  /** Copies `root`'s tensors into every rank's (in place). */
  broadcast(tensors: Tensor | readonly Tensor[], root = 0): void {
    N.pgBroadcast(this.#handle, handles(tensors instanceof Tensor ? [tensors] : tensors), root);
  }

  /** Every rank's `x` (same shape on all), in rank order. */
  allGather(x: Tensor): Tensor[] {
    return wrapList(N.pgAllGather(this.#handle, x.handle));
  }

  /** Every rank's numbers (as float64; the same count on every rank), in rank order. */
  allGatherNumbers(values: readonly number[]): number[][] {
    const t = wrap(N.fromBytes(new Uint8Array(Float64Array.from(values).buffer), [values.length], 'float64'));
    try {
      return this.allGather(t).map((x) => {
        const a = Array.from(x.toTypedArray() as Float64Array);
        x.dispose();
        return a;
      });
    } finally {
      t.dispose();
    }
  }

  barrier(): void {
    N.pgBarrier(this.#handle);
  }

  /** A small string in the group's store, for every rank to read. */
  storeSet(key: string, value: string): void {
    N.pgStoreSet(this.#handle, key, value);
  }

  /** Waits up to `timeoutMs` for `key` to be set, then reads it. */
  storeGet(key: string, timeoutMs = this.timeoutMs): string {
    return N.pgStoreGet(this.#handle, key, Math.round(timeoutMs));
  }

  /** Leaves the group (its sockets close); later calls throw. */
  destroy(): void {
    if (this.#id !== null) N.pgDestroy(this.#id);
    this.#id = null;
  }

  [Symbol.dispose](): void {
    this.destroy();
  }
}
