// Tensors packed into flat buffers of a few megabytes, so a collective over hundreds of
// small tensors is a handful of calls (DDP's gradient buckets, 25 MB there; smaller here,
// where a CPU step is short and the first bucket can start sooner).
import * as torch from '../torch/index.js';
import type { Tensor } from '../torch/index.js';

export const BUCKET_BYTES = 4 << 20;

/** Consecutive tensors of one dtype, up to `bytes` per group (a larger tensor gets a group of its own). */
export function bucketize(ts: readonly Tensor[], bytes = BUCKET_BYTES): Tensor[][] {
  const out: Tensor[][] = [];
  let cur: Tensor[] = [];
  let size = 0;
  for (const t of ts) {
    const b = t.numel * torch.itemSize(t.dtype);
    if (cur.length && (size + b > bytes || cur[0].dtype !== t.dtype)) {
      out.push(cur);
      cur = [];
      size = 0;
    }
    cur.push(t);
    size += b;
  }
  if (cur.length) out.push(cur);
  return out;
}

/**
 * Runs `collective` on each bucket of `ts` as one flat buffer and copies the result back
 * into the tensors (in place, outside autograd).
 */
export function throughBuckets(ts: readonly Tensor[], collective: (flat: Tensor) => void, bytes = BUCKET_BYTES): void {
  torch.noGrad(() => {
    for (const group of bucketize(ts, bytes)) {
      torch.scope(() => {
        const flat = group.length === 1 ? group[0].flatten().clone() : torch.cat(group.map((t) => t.flatten()));
        collective(flat);
        const parts = flat.split(group.map((t) => t.numel));
        group.forEach((t, i) => t.copy_(parts[i].view(t.shape)));
      });
    }
  });
}
