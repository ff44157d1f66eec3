// PGGAN's just-in-time processing of real images (tkarras/progressive_growing_of_gans
// train.py process_reals), minus its dynamic-range step: our images already lie in
// [-1, 1]. The reals arrive at the resolution of the level being trained,
// full >> ⌊lod⌋, and leave at the full resolution the networks take, faded between that
// level and the one below it exactly as G fades its output.
import { Tensor, rand, where, scope } from '../../torch/index.js';
import { upscale2d, downscale2d } from '../../nn/index.js';

/**
 * x: [N, C, H, W] in [-1, 1], H = W = resolution >> ⌊lod⌋ (even when lod is fractional);
 * lod ≥ 0. Steps, in the original's order:
 * 1. mirrorAugment: each image flipped left-right with probability ½ (torch's RNG);
 * 2. fade: lerp(x, upscale2d(downscale2d(x)), lod − ⌊lod⌋) (2×2 box average, then nearest);
 * 3. nearest upscaling by 2^⌊lod⌋.
 * Returns a new tensor [N, C, H·2^⌊lod⌋, W·2^⌊lod⌋]; x itself is never returned or changed.
 */
export function processReals(x: Tensor, lod: number, mirrorAugment: boolean): Tensor {
  if (typeof lod !== 'number' || !(lod >= 0) || !Number.isFinite(lod)) throw new RangeError(`processReals: lod must be a finite number ≥ 0, got ${lod}`);
  const s = x.shape;
  if (s.length !== 4) throw new Error(`processReals expects NCHW images, got shape [${s.join(', ')}]`);
  const base = Math.floor(lod);
  const alpha = lod - base;
  if (alpha > 0 && (s[2] % 2 || s[3] % 2)) throw new Error(`processReals: fading needs an even height and width, got ${s[2]}×${s[3]}`);
  return scope(() => {
    let y = x;
    if (mirrorAugment) {
      const mask = rand([s[0], 1, 1, 1], { device: x.device }).lt(0.5);
      y = where(mask, y, y.flip(3));
    }
    if (alpha > 0) y = y.lerp(upscale2d(downscale2d(y)), alpha);
    y = upscale2d(y, 2 ** base);
    return y === x ? x.clone() : y;
  });
}
