// Pixelwise feature normalisation (Karras et al. 2018, PGGAN §4.2): each feature vector
// (over dim 1) scaled to unit mean square.
import { Tensor, scope } from '../torch/index.js';
import { Module } from './module.js';

/** x · rsqrt(mean over dim 1 of x² + eps), for [N, C] or [N, C, H, W] (any rank ≥ 2). */
export function pixelNorm(x: Tensor, eps = 1e-8): Tensor {
  if (x.ndim < 2) throw new Error(`pixelNorm expects at least 2 dimensions (N, C, ...), got shape [${x.shape.join(', ')}]`);
  return scope(() => x.mul(x.square().mean(1, true).add(eps).rsqrt()));
}

export class PixelNorm extends Module {
  constructor(readonly eps = 1e-8) { super(); }
  forward(x: Tensor): Tensor { return pixelNorm(x, this.eps); }
}
