// StyleGAN2's resampling primitive (Karras et al. 2020, appendix B; stylegan2-ada-pytorch
// torch_utils/ops/upfirdn2d.py): upsample by zero insertion, pad (negative pads crop),
// convolve every channel with one 2-D FIR filter, keep every `down`-th pixel. Written as
// the reference's CPU path (pad + depthwise conv2d, strided where it downsamples), so
// gradients of any order come from autograd. Filters are always 2-D here: a 1-D filter
// becomes its outer product, which is what the reference's separable form computes too.
import { Tensor, F, tensor, scope } from '../torch/index.js';

/** [x0, x1, y0, y1]: before/after in x, before/after in y (the reference's order). */
export type Padding4 = [number, number, number, number];
export type PaddingArg = number | readonly [number, number] | readonly [number, number, number, number];

export function parsePadding(p: PaddingArg = 0): Padding4 {
  if (typeof p === 'number') return [p, p, p, p];
  if (p.length === 2) return [p[0], p[0], p[1], p[1]];
  if (p.length === 4) return [p[0], p[1], p[2], p[3]];
  throw new RangeError(`padding must be a number, [x, y] or [x0, x1, y0, y1], got [${(p as number[]).join(', ')}]`);
}

/**
 * setup_filter: a list of taps (1-D: the outer product with itself) or a 2-D array as a
 * float32 [fh, fw] tensor, normalised to sum 1 (so a constant signal keeps its level),
 * optionally flipped and scaled by gain (applied as gain^(ndim/2) to each of the two axes).
 */
export function setupFilter(f: readonly number[] | readonly (readonly number[])[] = [1, 3, 3, 1], o: { normalize?: boolean; flip?: boolean; gain?: number } = {}): Tensor {
  if (f.length === 0) throw new RangeError('setupFilter: empty filter');
  let k: number[][] = Array.isArray(f[0])
    ? (f as readonly (readonly number[])[]).map((r) => [...r])
    : (f as readonly number[]).map((a) => (f as readonly number[]).map((b) => a * b));
  if (k.some((r) => r.length !== k[0].length || r.length === 0)) throw new RangeError('setupFilter: ragged 2-D filter');
  if (o.normalize ?? true) {
    const s = k.flat().reduce((a, b) => a + b, 0);
    if (s === 0) throw new RangeError('setupFilter: cannot normalise a filter that sums to 0');
    k = k.map((r) => r.map((v) => v / s));
  }
  if (o.flip) k = k.reverse().map((r) => r.reverse());
  const g = o.gain ?? 1;
  if (g !== 1) k = k.map((r) => r.map((v) => v * g));
  return tensor(k, { dtype: 'float32' });
}

export interface UpFirDnOptions {
  up?: number;
  down?: number;
  /** With respect to the upsampled image; negative values crop. */
  padding?: PaddingArg;
  /** false: convolution (the filter is flipped before the correlation conv2d computes); true: correlation. */
  flipFilter?: boolean;
  gain?: number;
}

function checkFactor(v: number, name: string): void {
  if (!Number.isInteger(v) || v < 1) throw new RangeError(`upfirdn2d: ${name} must be a positive integer, got ${v}`);
}

/** f null = the identity filter. x [N, C, H, W] → [N, C, (H·up + py0 + py1 − fh + 1)/down, ...]. */
export function upfirdn2d(x: Tensor, f: Tensor | null, o: UpFirDnOptions = {}): Tensor {
  const up = o.up ?? 1, down = o.down ?? 1;
  checkFactor(up, 'up');
  checkFactor(down, 'down');
  if (x.ndim !== 4) throw new Error(`upfirdn2d expects an NCHW tensor, got shape [${x.shape.join(', ')}]`);
  if (f !== null && f.ndim !== 2) throw new Error(`upfirdn2d expects a 2-D filter, got shape [${f.shape.join(', ')}]`);
  const [px0, px1, py0, py1] = parsePadding(o.padding);
  const gain = o.gain ?? 1;
  return scope(() => {
    const [n, c, h, w] = x.shape;
    let y = x;
    if (up > 1) y = F.pad(y.reshape(n, c, h, 1, w, 1), [0, up - 1, 0, 0, 0, up - 1]).reshape(n, c, h * up, w * up);
    // Zero padding equal on opposite sides is the filter convolution's own (no padded copy).
    const convPad = f !== null && px0 === px1 && py0 === py1 && px0 >= 0 && py0 >= 0;
    if (!convPad && (px0 > 0 || px1 > 0 || py0 > 0 || py1 > 0)) y = F.pad(y, [Math.max(px0, 0), Math.max(px1, 0), Math.max(py0, 0), Math.max(py1, 0)]);
    if (px0 < 0 || px1 < 0 || py0 < 0 || py1 < 0) {
      y = y.slice(2, Math.max(-py0, 0), y.size(2) - Math.max(-py1, 0)).slice(3, Math.max(-px0, 0), y.size(3) - Math.max(-px1, 0));
    }
    if (f !== null) {
      let k = f.to({ dtype: x.dtype, device: x.device });
      if (gain !== 1) k = k.mul(gain); // gain^(ndim/2) with ndim 2
      if (!o.flipFilter) k = k.flip(0, 1);
      const [fh, fw] = k.shape;
      // The strided convolution computes just the pixels that downsampling keeps (the
      // reference filters every pixel, then slices): the same sums, 1/down² of the work.
      return F.conv2d(y, k.reshape(1, 1, fh, fw).expand(c, 1, fh, fw), null, { groups: c, stride: down, padding: convPad ? [py0, px0] : 0 });
    } else if (gain !== 1) {
      y = y.mul(gain);
    }
    if (down > 1) y = y.slice(2, 0, y.size(2), down).slice(3, 0, y.size(3), down);
    return y;
  });
}

function filterSize(f: Tensor | null): [number, number] {
  return f === null ? [1, 1] : [f.size(1), f.size(0)];
}

/** Upsampling by `up` with the FIR filter, padded so the output is exactly up× the input (gain up² keeps the level). */
export function upsample2d(x: Tensor, f: Tensor | null, up = 2, o: { padding?: PaddingArg; flipFilter?: boolean; gain?: number } = {}): Tensor {
  const [x0, x1, y0, y1] = parsePadding(o.padding);
  const [fw, fh] = filterSize(f);
  const p: Padding4 = [x0 + ((fw + up - 1) >> 1), x1 + ((fw - up) >> 1), y0 + ((fh + up - 1) >> 1), y1 + ((fh - up) >> 1)];
  return upfirdn2d(x, f, { up, padding: p, flipFilter: o.flipFilter, gain: (o.gain ?? 1) * up * up });
}

/** Downsampling by `down` with the FIR filter, padded so the output is exactly 1/down of the input. */
export function downsample2d(x: Tensor, f: Tensor | null, down = 2, o: { padding?: PaddingArg; flipFilter?: boolean; gain?: number } = {}): Tensor {
  const [x0, x1, y0, y1] = parsePadding(o.padding);
  const [fw, fh] = filterSize(f);
  const p: Padding4 = [x0 + ((fw - down + 1) >> 1), x1 + ((fw - down) >> 1), y0 + ((fh - down + 1) >> 1), y1 + ((fh - down) >> 1)];
  return upfirdn2d(x, f, { down, padding: p, flipFilter: o.flipFilter, gain: o.gain });
}
