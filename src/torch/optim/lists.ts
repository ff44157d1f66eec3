// Whole-parameter-list updates done in one native call: EMA of weights, copies, clipping.
import { N } from '../native.js';
import { handles, type Tensor } from '../tensor.js';

/** dst[i] ← dst[i] + weight·(src[i] − dst[i]) in place, without autograd (G EMA: weight = 1 − β). */
export function lerpAll(dst: readonly Tensor[], src: readonly Tensor[], weight: number): void {
  N.lerpAll_(handles(dst), handles(src), weight);
}

/** dst[i] ← src[i] in place, without autograd. */
export function copyAll(dst: readonly Tensor[], src: readonly Tensor[]): void {
  N.copyAll_(handles(dst), handles(src));
}

/** Scales gradients so their total p-norm is at most maxNorm; returns the norm before. */
export function clipGradNorm(params: readonly Tensor[], maxNorm: number, normType = 2): number {
  return N.clipGradNorm(handles(params), maxNorm, normType);
}

/** Every gradient of `params` through nan_to_num in place: NaN → nan, +∞ → posinf, −∞ → neginf, finite values kept. */
export function nanToNumGrads(params: readonly Tensor[], o: { nan: number; posinf: number; neginf: number }): void {
  N.nanToNumGrads_(handles(params), o.nan, o.posinf, o.neginf);
}
