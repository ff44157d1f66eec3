// Improved precision and recall (Kynkäänniemi et al.): the share of generated samples inside
// the real manifold and of real samples inside the generated one, each manifold the union
// of balls reaching every feature's k-th nearest neighbour, as stylegan2-ada-pytorch's
// precision_recall.py computes it (VGG16 features held in float16, k = 3).
import * as torch from '../torch/index.js';
import type { Tensor } from '../torch/index.js';

/**
 * Euclidean distances [R, C] between rows, in float64 through ‖a‖² + ‖b‖² − 2abᵀ (what
 * torch.cdist does for sets of more than 25 rows), rounded to float16 as the reference's
 * distances of float16 features are.
 */
function distances(rows: Tensor, cols: Tensor, colSq: Tensor): Tensor {
  const rowSq = rows.square().sum(1, true);
  return rowSq.add(colSq).sub(rows.matmul(cols.t()).mul(2)).clamp(0).sqrt().to('float16').to('float64');
}

export interface PrOptions {
  /** Neighbourhood size k (the reference's nhood_size: 3). */
  k?: number;
  /** Rows of a distance block (memory: rowBatch × set size float64). */
  rowBatch?: number;
}

/** Precision and recall of generated against real features [N, D]. */
export function precisionRecall(real: Tensor, gen: Tensor, opts: PrOptions = {}): { precision: number; recall: number } {
  const k = opts.k ?? 3;
  const rowBatch = opts.rowBatch ?? 1024;
  return torch.scope(() => {
    // The reference keeps the features in float16.
    const r = real.to('float16').to('float64');
    const g = gen.to('float16').to('float64');
    const share = (manifold: Tensor, probes: Tensor): number => {
      if (manifold.shape[0] <= k) throw new Error(`precision/recall with k = ${k} needs more than ${k} features in each set`);
      const sq = manifold.square().sum(1).unsqueeze(0);
      const radii = torch.cat(
        manifold.split(rowBatch).map((rows) => torch.scope(() => distances(rows, manifold, sq).sort(1)[0].select(1, k))),
      );
      let inside = 0;
      for (const rows of probes.split(rowBatch)) {
        inside += torch.scope(() => distances(rows, manifold, sq).le(radii.unsqueeze(0)).to('float64').amax(1).sum().item());
      }
      return inside / probes.shape[0];
    };
    return { precision: share(r, g), recall: share(g, r) };
  });
}
