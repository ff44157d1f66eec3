// Kernel Inception Distance (Bińkowski et al.): the unbiased MMD² between feature sets
// with the cubic polynomial kernel k(x, y) = (xᵀy / d + 1)³, averaged over random subsets
// as stylegan2-ada-pytorch (and clean-fid) compute it.
import * as torch from '../torch/index.js';
import type { Tensor } from '../torch/index.js';

export interface KidOptions {
  /** Subsets drawn (the reference: 100). */
  numSubsets?: number;
  /** Largest subset (the reference: 1000); smaller sets give subsets of their size. */
  maxSubsetSize?: number;
  /** Seed of the subset draws (results are reproducible; the reference's are not). */
  seed?: number;
  /** The subsets themselves, each a list of row indices (tests use the reference's draws). */
  subsets?: { gen: number[][]; real: number[][] };
}

/** KID between real and generated features [N, D], float64. */
export function kernelInceptionDistance(real: Tensor, gen: Tensor, opts: KidOptions = {}): number {
  const d = real.shape[1];
  if (gen.shape[1] !== d) throw new Error(`KID: real features have ${d} dimensions, generated ones ${gen.shape[1]}`);
  const given = opts.subsets;
  const numSubsets = given ? given.gen.length : opts.numSubsets ?? 100;
  const m = given ? given.gen[0].length : Math.min(real.shape[0], gen.shape[0], opts.maxSubsetSize ?? 1000);
  if (m < 2) throw new Error('KID needs at least 2 images in each set');
  return torch.scope(() => {
    const x64 = gen.to('float64');
    const y64 = real.to('float64');
    const pick = (all: Tensor, idx: number[] | undefined, n: number) =>
      all.indexSelect(0, idx ? torch.tensor(idx, { dtype: 'int64' }) : torch.randperm(n).narrow(0, 0, m));
    const draw = () => {
      let t = 0;
      for (let s = 0; s < numSubsets; s++) {
        t += torch.scope(() => {
          const x = pick(x64, given?.gen[s], x64.shape[0]);
          const y = pick(y64, given?.real[s], y64.shape[0]);
          const kernel = (p: Tensor, q: Tensor) => p.matmul(q.t()).div(d).add(1).pow(3);
          const a = kernel(x, x).add(kernel(y, y));
          const b = kernel(x, y);
          return (a.sum().item() - a.diag().sum().item()) / (m - 1) - (b.sum().item() * 2) / m;
        });
      }
      return t;
    };
    const t = given ? draw() : torch.withSeed(opts.seed ?? 0, draw);
    return t / numSubsets / m;
  });
}
