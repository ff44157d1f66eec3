// Non-square images for generators that grow from a 4×4 start (StyleGAN2, DCGAN): an image
// of H × W, both powers of two, is built by the blocks of its shorter side R, each map
// stretched by the aspect — the 4×4 constant becomes 4·(H/R) × 4·(W/R) and every later map
// keeps that ratio. A square image has the aspect [1, 1], so its networks do not change.

/** [H/R, W/R] for an image of `shape` = [height, width] whose shorter side is `resolution`; [1, 1] without one. */
export function aspectOf(resolution: number, shape: readonly [number, number] | null | undefined, network: string): [number, number] {
  if (!shape) return [1, 1];
  const [h, w] = shape;
  const pow2 = (n: number): boolean => Number.isInteger(n) && n > 0 && (n & (n - 1)) === 0;
  if (!pow2(h) || !pow2(w) || Math.min(h, w) !== resolution) {
    throw new RangeError(`${network}: an image of ${w}x${h} (width x height) needs powers of two for sides and ${resolution}, the resolution, as the shorter`);
  }
  return [h / resolution, w / resolution];
}
