// Data parallelism over a c10d process group, as PyTorch's DDP does it, for any set of
// networks: the same weights everywhere at the start (rank 0's), gradients averaged over
// the ranks before every optimiser step (bucketed), batch norm optionally over the whole
// global batch, and the few agreements a training loop needs (stop together; gather
// per-rank state for rank 0 to save).
import * as torch from '../torch/index.js';
import type { Tensor, ProcessGroup } from '../torch/index.js';
import { BatchNorm2d, type Module } from '../nn/index.js';
import { BUCKET_BYTES, throughBuckets } from './buckets.js';

export class DataParallel {
  readonly group: ProcessGroup;
  readonly bucketBytes: number;
  readonly #synced: BatchNorm2d[] = [];

  constructor(group: ProcessGroup, opts: { bucketBytes?: number } = {}) {
    this.group = group;
    this.bucketBytes = opts.bucketBytes ?? BUCKET_BYTES;
  }

  get rank(): number {
    return this.group.rank;
  }

  get size(): number {
    return this.group.size;
  }

  /** Rank 0's parameters and buffers, copied into every rank's networks. */
  broadcastFromRoot(nets: readonly Module[]): void {
    const ts = nets.flatMap((n) => [...n.parameters(), ...n.buffers()]);
    throughBuckets(ts, (flat) => this.group.broadcast(flat, 0), this.bucketBytes);
  }

  /**
   * The phase runner's gradient hook: each parameter's gradient replaced by its mean over
   * the ranks (parameters without a gradient are left out: they are the same on every
   * rank, because every rank runs the same graph).
   */
  readonly gradientHook = (params: readonly Tensor[]): void => {
    const grads = params.map((p) => p.grad).filter((g): g is Tensor => g !== null);
    throughBuckets(grads, (flat) => this.group.allReduce(flat, 'avg'), this.bucketBytes);
  };

  /** --sync_bn: the batch norms of `nets` normalise with the statistics of the global batch. */
  syncBatchNorm(nets: readonly Module[]): number {
    for (const net of nets) {
      for (const m of net.modules()) {
        if (m instanceof BatchNorm2d) {
          m.replicaSum = (x) => this.group.allReduceSumGrad(x);
          this.#synced.push(m);
        }
      }
    }
    return this.#synced.length;
  }

  /**
   * Runs `fn` on this rank alone: synchronised batch norms use this process's statistics
   * meanwhile. For what one rank does by itself (rank 0's sample grids, where a pix2pix
   * generator normalises in training mode), which must not enter a collective.
   */
  alone<T>(fn: () => T): T {
    const sums = this.#synced.map((m) => m.replicaSum);
    for (const m of this.#synced) m.replicaSum = null;
    try {
      return fn();
    } finally {
      this.#synced.forEach((m, i) => (m.replicaSum = sums[i]));
    }
  }

  /** Whether any rank says yes (every rank must ask, at the same point). */
  any(flag: boolean): boolean {
    return this.group.allGatherNumbers([flag ? 1 : 0]).some(([v]) => v !== 0);
  }

  /** The element-wise sums of `values` over the ranks (every rank must ask, at the same point). */
  sum(values: readonly number[]): number[] {
    return this.group.allGatherNumbers([...values]).reduce((acc, v) => acc.map((a, i) => a + v[i]));
  }

  /** Every rank's bytes (of one length on every rank), in rank order. */
  gatherBytes(bytes: Uint8Array): Uint8Array[] {
    return torch.scope(() => this.group.allGather(torch.fromBytes(bytes, [bytes.length], 'uint8')).map((t) => t.toBytes()));
  }
}
