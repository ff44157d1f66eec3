// The Fréchet distance between two Gaussians fitted to feature sets (FID, Heusel et al.):
// ‖μ1 − μ2‖² + Tr Σ1 + Tr Σ2 − 2 Tr √(Σ1 Σ2).
import * as torch from '../torch/index.js';
import { linalg } from '../torch/index.js';
import type { MeanCov } from './feature_stats.js';

/**
 * FID between two feature statistics, in float64. The references take scipy's sqrtm of the
 * non-symmetric product Σ1Σ2 and drop the imaginary round-off. Here the trace term is the
 * sum of the singular values of √Σ1 √Σ2 (the square roots of the eigenvalues of the
 * symmetric √Σ1 Σ2 √Σ1, which is similar to Σ1Σ2): each symmetric square root comes from
 * an eigendecomposition, and the singular values carry no square-root amplification of
 * round-off near zero, so FID(x, x) is 0 to within 1e-9 even when Σ is singular (fewer
 * images than feature dimensions), and FID(x, y) = FID(y, x) to rounding.
 */
export function frechetDistance(a: MeanCov, b: MeanCov): number {
  return torch.scope(() => {
    const diff = a.mean.to('float64').sub(b.mean.to('float64'));
    const s1 = a.cov.to('float64');
    const s2 = b.cov.to('float64');
    const [, sv] = linalg.svd(linalg.sqrtmPsd(s1).matmul(linalg.sqrtmPsd(s2)));
    const fid = diff.square().sum().item() + s1.trace().item() + s2.trace().item() - 2 * sv.sum().item();
    return fid;
  });
}
