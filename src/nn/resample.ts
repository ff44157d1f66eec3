// Resampling ops of PGGAN and StyleGAN v1 (NCHW): nearest upscaling, box downscaling and
// StyleGAN's separable blur, written after NVlabs/stylegan's _upscale2d, _downscale2d and
// _blur2d. Autograd gives the gradients the originals write by hand (the gradient of the
// blur is the flipped blur, of upscaling the summed box, of downscaling the spread box).
import { Tensor, F, tensor, scope } from '../torch/index.js';
import { Module } from './module.js';

function check4d(x: Tensor, what: string): number[] {
  const s = x.shape;
  if (s.length !== 4) throw new Error(`${what} expects an NCHW tensor, got shape [${s.join(', ')}]`);
  return s;
}

function checkFactor(factor: number, what: string): void {
  if (!Number.isInteger(factor) || factor < 1) throw new RangeError(`${what}: factor must be a positive integer, got ${factor}`);
}

/** Nearest-neighbour upscaling by an integer factor: [N, C, H, W] → [N, C, H·f, W·f]. */
export function upscale2d(x: Tensor, factor = 2): Tensor {
  checkFactor(factor, 'upscale2d');
  const [n, c, h, w] = check4d(x, 'upscale2d');
  if (factor === 1) return x;
  return scope(() => x.reshape(n, c, h, 1, w, 1).expand(n, c, h, factor, w, factor).reshape(n, c, h * factor, w * factor));
}

/** Box-filter (average pool) downscaling by an integer factor: [N, C, H, W] → [N, C, H/f, W/f] (floor). */
export function downscale2d(x: Tensor, factor = 2): Tensor {
  checkFactor(factor, 'downscale2d');
  check4d(x, 'downscale2d');
  if (factor === 1) return x;
  return F.avgPool2d(x, factor);
}

/** The 2-D filter _blur2d builds: outer product of a 1-D `f` (or `f` itself), normalised, flipped. */
export function blurKernel(f: readonly number[] | readonly (readonly number[])[] = [1, 2, 1], normalize = true, flip = false): number[][] {
  let k: number[][];
  if (f.length === 0) throw new Error('blur2d: empty filter');
  if (Array.isArray(f[0])) {
    k = (f as readonly (readonly number[])[]).map((r) => [...r]);
    if (k.some((r) => r.length !== k[0].length || r.length === 0)) throw new Error('blur2d: ragged 2-D filter');
  } else {
    const v = f as readonly number[];
    k = v.map((a) => v.map((b) => a * b));
  }
  if (normalize) {
    const s = k.flat().reduce((a, b) => a + b, 0);
    if (s === 0) throw new Error('blur2d: cannot normalise a filter that sums to 0');
    k = k.map((r) => r.map((v) => v / s));
  }
  if (flip) k = k.reverse().map((r) => r.reverse());
  return k;
}

/**
 * StyleGAN's blur: each channel cross-correlated with the 2-D filter from `f` (a 1-D `f`
 * becomes the outer product f ⊗ f), normalised to sum 1 when `normalize`, flipped in both
 * axes when `flip`, with TF's 'SAME' zero padding (for an even filter length K the extra
 * row/column goes at the bottom/right: (K-1)//2 before, K-1-(K-1)//2 after).
 */
export function blur2d(x: Tensor, f: readonly number[] | readonly (readonly number[])[] = [1, 2, 1], normalize = true, flip = false): Tensor {
  const [, c] = check4d(x, 'blur2d');
  const k = blurKernel(f, normalize, flip);
  const kh = k.length, kw = k[0].length;
  if (kh === 1 && kw === 1 && k[0][0] === 1) return x;
  return scope(() => {
    const weight = tensor(k, { dtype: x.dtype, device: x.device }).reshape(1, 1, kh, kw).expand(c, 1, kh, kw);
    const top = (kh - 1) >> 1, left = (kw - 1) >> 1;
    const padded = F.pad(x, [left, kw - 1 - left, top, kh - 1 - top]);
    return F.conv2d(padded, weight, null, { groups: c });
  });
}

export class Blur2d extends Module {
  readonly kernel: number[][];
  constructor(readonly f: readonly number[] | readonly (readonly number[])[] = [1, 2, 1], readonly normalize = true, readonly flip = false) {
    super();
    this.kernel = blurKernel(f, normalize, flip);
  }
  forward(x: Tensor): Tensor {
    return blur2d(x, this.f, this.normalize, this.flip);
  }
}
