// The augmentation pipeline of ADA (Karras et al. 2020, "Training Generative Adversarial
// Networks with Limited Data"; stylegan2-ada-pytorch training/augment.py): every image D
// sees, real or generated, goes through the same random, differentiable transforms, each
// applied with probability (its multiplier × p), so that D cannot learn the augmentations
// and G never needs to produce them (they do not "leak" while p stays below ~0.8).
//
// As the reference:
// - the pixel blits (xflip, 90° rotations, integer translation) and the general geometric
//   transforms (isotropic scaling, rotation before and after anisotropic scaling,
//   fractional translation) compose into one inverse 2-D matrix per image, executed as a
//   single resampling: reflect padding large enough for the transformed corners, 2×
//   upsampling with the sym6 wavelet low-pass filter, bilinear grid_sample, 2× downsampling
//   with the same filter;
// - the colour transforms (brightness, contrast, luma flip, hue rotation, saturation)
//   compose into one 4×4 matrix per image acting on homogeneous RGB;
// - image-space filtering scales four frequency bands of each image by random gains
//   (normalised to keep the expected power of a 1/f spectrum), one separable filter per
//   image from a filter bank built from the sym2 wavelet;
// - noise and cutout act on the result;
// - the random numbers are drawn in the reference's order, shapes and dtype (float32, on
//   the images' device), so with the same seed the same images get the same transforms;
//   a stage whose multipliers are all zero draws nothing and does not run.
// The geometric stage runs whenever one of its multipliers is non-zero, even at p = 0 (the
// reference's `G_inv is not I_3`): its filters then still touch the image slightly.
import * as torch from '../torch/index.js';
import { Tensor } from '../torch/index.js';
import { setupFilter, upsample2d, downsample2d } from '../nn/upfirdn2d.js';

/** Daubechies' least-asymmetric wavelet of 6 vanishing moments (sym6): the reference's low-pass for the geometric resampling. */
export const SYM6 = [
  0.015404109327027373, 0.0034907120842174702, -0.11799011114819057, -0.048311742585633, 0.4910559419267466, 0.787641141030194,
  0.3379294217276218, -0.07263752278646252, -0.021060292512300564, 0.04472490177066578, 0.0017677118642428036, -0.007800708325034148,
];

/** Daubechies' least-asymmetric wavelet of 2 vanishing moments (sym2): the filter bank's prototype. */
const SYM2 = [-0.12940952255092145, 0.22414386804185735, 0.836516303737469, 0.48296291314469025];

/** Full 1-D convolution. */
function convolve(a: readonly number[], b: readonly number[]): number[] {
  const out = new Array<number>(a.length + b.length - 1).fill(0);
  a.forEach((x, i) => b.forEach((y, j) => (out[i + j] += x * y)));
  return out;
}

/**
 * The reference's bank of four band-pass filters (rows, 43 taps each): band 0 the lowest
 * octave, band 3 the highest, built by repeatedly upsampling the bank and low-passing it
 * with H(z)H(z⁻¹)/2 while adding the next band's H(−z)H(−z⁻¹)/2 at the centre. Rows sum to
 * the identity filter: with every gain 1 the image is unchanged.
 */
export function filterBank(): number[][] {
  const lo = SYM2, hi = SYM2.map((v, i) => (i % 2 ? -v : v));
  const lo2 = convolve(lo, [...lo].reverse()).map((v) => v / 2);
  const hi2 = convolve(hi, [...hi].reverse()).map((v) => v / 2);
  let bank: number[][] = [[1], [0], [0], [0]];
  for (let i = 1; i < bank.length; i++) {
    bank = bank.map((row) => convolve(row.flatMap((v, k) => (k < row.length - 1 ? [v, 0] : [v])), lo2));
    const n = bank[i].length, start = (n - hi2.length) >> 1;
    hi2.forEach((v, k) => (bank[i][start + k] += v));
  }
  return bank;
}

/** Probability multipliers (0: off) and ranges of each augmentation, under the reference's names and with its defaults. */
export interface AugmentSpec {
  xflip: number; rotate90: number; xint: number; xint_max: number;
  scale: number; rotate: number; aniso: number; xfrac: number;
  scale_std: number; rotate_max: number; aniso_std: number; xfrac_std: number;
  brightness: number; contrast: number; lumaflip: number; hue: number; saturation: number;
  brightness_std: number; contrast_std: number; hue_max: number; saturation_std: number;
  imgfilter: number; imgfilter_std: number;
  /** Probability multipliers of the four frequency bands (low to high). */
  imgfilter_bands: readonly number[];
  noise: number; cutout: number; noise_std: number; cutout_size: number;
}

/** AugmentPipe's defaults: every augmentation off, the reference's ranges. */
export const AUGMENT_DEFAULTS: AugmentSpec = {
  xflip: 0, rotate90: 0, xint: 0, xint_max: 0.125,
  scale: 0, rotate: 0, aniso: 0, xfrac: 0, scale_std: 0.2, rotate_max: 1, aniso_std: 0.2, xfrac_std: 0.125,
  brightness: 0, contrast: 0, lumaflip: 0, hue: 0, saturation: 0, brightness_std: 0.2, contrast_std: 0.5, hue_max: 1, saturation_std: 1,
  imgfilter: 0, imgfilter_bands: [1, 1, 1, 1], imgfilter_std: 1,
  noise: 0, cutout: 0, noise_std: 0.1, cutout_size: 0.5,
};

const BLIT = { xflip: 1, rotate90: 1, xint: 1 };
const GEOM = { scale: 1, rotate: 1, aniso: 1, xfrac: 1 };
const COLOR = { brightness: 1, contrast: 1, lumaflip: 1, hue: 1, saturation: 1 };

/** train.py's --augpipe choices. */
export const AUGPIPES = {
  blit: BLIT,
  geom: GEOM,
  color: COLOR,
  filter: { imgfilter: 1 },
  noise: { noise: 1 },
  cutout: { cutout: 1 },
  bg: { ...BLIT, ...GEOM },
  bgc: { ...BLIT, ...GEOM, ...COLOR },
  bgcf: { ...BLIT, ...GEOM, ...COLOR, imgfilter: 1 },
  bgcfn: { ...BLIT, ...GEOM, ...COLOR, imgfilter: 1, noise: 1 },
  bgcfnc: { ...BLIT, ...GEOM, ...COLOR, imgfilter: 1, noise: 1, cutout: 1 },
} as const satisfies Record<string, Partial<AugmentSpec>>;
export type AugpipeName = keyof typeof AUGPIPES;
export const AUGPIPE_NAMES = Object.keys(AUGPIPES) as AugpipeName[];

/** The drawn transforms of one batch (AugmentPipe.sample); null: that stage does nothing. */
export interface AugmentParams {
  /** [B, 3, 3]: output pixel → input pixel, homogeneous, in pixels from the image centre (the reference's G_inv). */
  G: Tensor | null;
  /** [B, 4, 4]: homogeneous RGB in → RGB out. */
  C: Tensor | null;
  /** [B, taps]: each image's separable filter. */
  filter: Tensor | null;
  /** [B, C, H, W], added. */
  noise: Tensor | null;
  /** [B, 1, H, W] of 0 and 1, multiplied. */
  cutout: Tensor | null;
}

/** The luma axis (1, 1, 1)/√3 in homogeneous RGB, with float32 components. */
export const LUMA = [Math.fround(1 / Math.sqrt(3)), Math.fround(1 / Math.sqrt(3)), Math.fround(1 / Math.sqrt(3)), 0];

type El = Tensor | number;

/**
 * A matrix from rows of numbers and [B] tensors, as the reference's matrix(): [R, C] when
 * every element is a number, else [B, R, C] with the numbers broadcast.
 */
function matrix(rows: El[][], device: torch.Device): Tensor {
  const ref = rows.flat().find((e): e is Tensor => e instanceof Tensor);
  if (!ref) return torch.tensor(rows as number[][], { dtype: 'float32', device });
  const els = rows.flat().map((e) => (e instanceof Tensor ? e : torch.full(ref.shape, e, { dtype: 'float32', device })));
  return torch.stack(els, -1).reshape([...ref.shape, rows.length, rows[0].length]);
}

const translate2d = (tx: El, ty: El, d: torch.Device) => matrix([[1, 0, tx], [0, 1, ty], [0, 0, 1]], d);
const scale2d = (sx: El, sy: El, d: torch.Device) => matrix([[sx, 0, 0], [0, sy, 0], [0, 0, 1]], d);
const translate3d = (t: Tensor, d: torch.Device) => matrix([[1, 0, 0, t], [0, 1, 0, t], [0, 0, 1, t], [0, 0, 0, 1]], d);
const scale3d = (s: Tensor, d: torch.Device) => matrix([[s, 0, 0, 0], [0, s, 0, 0], [0, 0, s, 0], [0, 0, 0, 1]], d);
const neg = (e: El): El => (e instanceof Tensor ? e.neg() : -e);
const inv = (e: El): El => (e instanceof Tensor ? e.reciprocal() : 1 / e);
/** The inverse maps the reference composes G_inv from. */
const translate2dInv = (tx: El, ty: El, d: torch.Device) => translate2d(neg(tx), neg(ty), d);
const scale2dInv = (sx: El, sy: El, d: torch.Device) => scale2d(inv(sx), inv(sy), d);
/** [[cos θ, sin(−θ)], [sin θ, cos θ]] */
function rotate2d(theta: Tensor, d: torch.Device): Tensor {
  return matrix([[theta.cos(), theta.neg().sin(), 0], [theta.sin(), theta.cos(), 0], [0, 0, 1]], d);
}
/** Rotation by θ [B] about the unit axis v (given by its three float32 components). */
function rotate3d(v: readonly number[], theta: Tensor, d: torch.Device): Tensor {
  const [vx, vy, vz] = v;
  const s = theta.sin(), c = theta.cos(), cc = c.rsub(1);
  const f = Math.fround;
  const e = (a: number, b: number, sgn: number, k: number): Tensor => {
    const t = cc.mul(f(a * b));
    return sgn === 0 ? t.add(c) : t.add(s.mul(sgn * k));
  };
  return matrix([
    [e(vx, vx, 0, 0), e(vx, vy, -1, vz), e(vx, vz, 1, vy), 0],
    [e(vy, vx, 1, vz), e(vy, vy, 0, 0), e(vy, vz, -1, vx), 0],
    [e(vz, vx, -1, vy), e(vz, vy, 1, vx), e(vz, vz, 0, 0), 0],
    [0, 0, 0, 1],
  ], d);
}

export class AugmentPipe {
  readonly spec: AugmentSpec;
  /** The overall probability multiplier (the reference's `p` buffer, a float32 value; ADA moves it). */
  p = 0;
  readonly #hz: Tensor;

  constructor(spec: Partial<AugmentSpec> = {}) {
    this.spec = { ...AUGMENT_DEFAULTS, ...spec };
    for (const [k, v] of Object.entries(this.spec)) {
      if (k === 'imgfilter_bands') {
        if (!Array.isArray(v) || v.length !== 4 || v.some((x) => !(x >= 0))) throw new RangeError(`AugmentPipe: imgfilter_bands must be four non-negative numbers, got ${String(v)}`);
      } else if (typeof v !== 'number' || !Number.isFinite(v) || v < 0) throw new RangeError(`AugmentPipe: ${k} must be a non-negative number, got ${String(v)}`);
    }
    this.#hz = setupFilter(SYM6).keep();
  }

  /** Named as train.py's --augpipe. */
  static named(name: AugpipeName): AugmentPipe {
    const spec = AUGPIPES[name];
    if (!spec) throw new RangeError(`unknown augmentation pipeline '${name}' (${AUGPIPE_NAMES.join(', ')})`);
    return new AugmentPipe(spec);
  }

  dispose(): void {
    this.#hz.dispose();
  }

  /** Augments images [B, C, H, W] (C = 3, or 1 for the colour transforms), differentiably with respect to them. */
  forward(images: Tensor): Tensor {
    if (images.ndim !== 4) throw new Error(`AugmentPipe expects images [B, C, H, W], got [${images.shape.join(', ')}]`);
    return torch.scope(() => this.apply(images, this.sample(images.shape, images.device)));
  }

  /**
   * The random transforms of a batch of `shape` [B, C, H, W], drawn as the reference draws
   * them (its execution draws nothing, so drawing first keeps its order).
   */
  sample(shape: readonly number[], device: torch.Device = 'cpu'): AugmentParams {
    const [B, C, H, W] = shape;
    const G = this.#sampleGeometric(B, H, W, device);
    const Cm = this.#sampleColor(B, C, device);
    const filter = this.#sampleFilter(B, device);
    return { G, C: Cm, filter, ...this.#sampleCorruptions(shape, device) };
  }

  /** Executes drawn transforms on images (any floating dtype; the transforms are float32). */
  apply(images: Tensor, t: AugmentParams): Tensor {
    return torch.scope(() => {
      let x = t.G ? this.#resample(images, t.G) : images;
      if (t.C) x = applyColor(x, t.C);
      if (t.filter) x = applyFilter(x, t.filter);
      if (t.noise) x = x.add(t.noise.to(x.dtype));
      if (t.cutout) x = x.mul(t.cutout.to(x.dtype));
      return x;
    });
  }

  /** `rand([B, ...]) < multiplier·p`, in float32 as the reference's tensor product. */
  #chance(shape: number[], multiplier: number, device: torch.Device): Tensor {
    return torch.rand(shape, { device }).lt(Math.fround(multiplier * Math.fround(this.p)));
  }

  /** G_inv [B, 3, 3]: output pixel → input pixel, in pixels from the image centre; null when no geometric augmentation is on. */
  #sampleGeometric(B: number, H: number, W: number, d: torch.Device): Tensor | null {
    const s = this.spec;
    const geometric = [s.xflip, s.rotate90, s.xint, s.scale, s.rotate, s.aniso, s.xfrac].some((m) => m > 0);
    if (!geometric) return null;
    const rand = (...shape: number[]) => torch.rand(shape, { device: d });
    const randn = (...shape: number[]) => torch.randn(shape, { device: d });
    let G: Tensor | null = null; // null: the identity
    const then = (m: Tensor): void => {
      G = G ? G.matmul(m) : m;
    };
    if (s.xflip > 0) {
      const i = rand(B).mul(2).floor();
      then(scale2dInv(torch.where(this.#chance([B], s.xflip, d), i, 0).mul(-2).add(1), 1, d));
    }
    if (s.rotate90 > 0) {
      const i = rand(B).mul(4).floor();
      const keep = this.#chance([B], s.rotate90, d);
      // rotate2d_inv(−π/2·i)
      then(rotate2d(torch.where(keep, i, 0).mul(-Math.PI / 2).neg(), d));
    }
    if (s.xint > 0) {
      const t0 = rand(B, 2).mul(2).sub(1).mul(s.xint_max);
      const t = torch.where(this.#chance([B, 1], s.xint, d), t0, 0);
      then(translate2dInv(t.select(1, 0).mul(W).round(), t.select(1, 1).mul(H).round(), d));
    }
    if (s.scale > 0) {
      const v = randn(B).mul(s.scale_std).rpow(2);
      const k = torch.where(this.#chance([B], s.scale, d), v, 1);
      then(scale2dInv(k, k, d));
    }
    // Rotation before and after the anisotropic scaling, each with p_rot, so that at least one
    // happens with probability rotate·p.
    const f = Math.fround;
    const pRot = f(1 - f(Math.sqrt(Math.min(Math.max(f(1 - f(s.rotate * f(this.p))), 0), 1))));
    const rotation = (): void => {
      const theta = rand(B).mul(2).sub(1).mul(Math.PI * s.rotate_max);
      const keep = rand(B).lt(pRot);
      then(rotate2d(torch.where(keep, theta, 0), d)); // rotate2d_inv(−θ)
    };
    if (s.rotate > 0) rotation();
    if (s.aniso > 0) {
      const v = randn(B).mul(s.aniso_std).rpow(2);
      const k = torch.where(this.#chance([B], s.aniso, d), v, 1);
      then(scale2dInv(k, k.reciprocal(), d));
    }
    if (s.rotate > 0) rotation();
    if (s.xfrac > 0) {
      const t0 = randn(B, 2).mul(s.xfrac_std);
      const t = torch.where(this.#chance([B, 1], s.xfrac, d), t0, 0);
      then(translate2dInv(t.select(1, 0).mul(W), t.select(1, 1).mul(H), d));
    }
    return G;
  }

  /** The reference's execution of G_inv: reflect padding, 2× up, grid_sample, 2× down. */
  #resample(images: Tensor, G: Tensor): Tensor {
    const [B, C, H, W] = images.shape;
    const d = images.device;
    let Ginv = G;

    // Padding: enough to cover where the output's corners come from, plus the filter's reach.
    const cx = (W - 1) / 2, cy = (H - 1) / 2;
    const hzPad = Math.floor(SYM6.length / 4);
    const corners = matrix([[-cx, -cy, 1], [cx, -cy, 1], [cx, cy, 1], [-cx, cy, 1]], d);
    const cp = Ginv.matmul(corners.t()); // [B, xyz, corner]
    let margin = cp.narrow(1, 0, 2).permute(1, 0, 2).flatten(1); // [xy, B·corner]
    margin = torch.cat([margin.neg(), margin]).amax(1); // [x0, y0, x1, y1]
    margin = margin.add(torch.tensor([hzPad * 2 - cx, hzPad * 2 - cy, hzPad * 2 - cx, hzPad * 2 - cy], { dtype: 'float32', device: d }));
    margin = margin.clamp(0).minimum(torch.tensor([W - 1, H - 1, W - 1, H - 1], { dtype: 'float32', device: d }));
    const [mx0, my0, mx1, my1] = margin.ceil().toArray() as number[];

    let x = torch.F.pad(images, [mx0, mx1, my0, my1], { mode: 'reflect' });
    Ginv = translate2d((mx0 - mx1) / 2, (my0 - my1) / 2, d).matmul(Ginv);

    x = upsample2d(x, this.#hz, 2);
    Ginv = scale2d(2, 2, d).matmul(Ginv).matmul(scale2dInv(2, 2, d));
    Ginv = translate2d(-0.5, -0.5, d).matmul(Ginv).matmul(translate2dInv(-0.5, -0.5, d));

    // Into grid_sample's normalised coordinates: the output is the padded size, upsampled.
    const shape = [B, C, (H + hzPad * 2) * 2, (W + hzPad * 2) * 2];
    Ginv = scale2d(2 / x.size(3), 2 / x.size(2), d).matmul(Ginv).matmul(scale2dInv(2 / shape[3], 2 / shape[2], d));
    const grid = torch.F.affineGrid(Ginv.narrow(1, 0, 2), shape).to(images.dtype);
    x = torch.F.gridSample(x, grid);
    return downsample2d(x, this.#hz, 2, { padding: -hzPad * 2, flipFilter: true });
  }

  /** C [B, 4, 4]: homogeneous RGB in → out; null when no colour augmentation is on. */
  #sampleColor(B: number, C: number, d: torch.Device): Tensor | null {
    const s = this.spec;
    const rand = (...shape: number[]) => torch.rand(shape, { device: d });
    const randn = (...shape: number[]) => torch.randn(shape, { device: d });
    let M: Tensor | null = null; // null: the identity; each transform multiplies on the left
    const then = (m: Tensor): void => {
      M = M ? m.matmul(M) : m;
    };
    const I4 = () => torch.eye(4, 4, { dtype: 'float32', device: d });
    const vv = () => { const v = torch.tensor(LUMA, { dtype: 'float32', device: d }); return v.outer(v); };

    if (s.brightness > 0) {
      const b = randn(B).mul(s.brightness_std);
      then(translate3d(torch.where(this.#chance([B], s.brightness, d), b, 0), d));
    }
    if (s.contrast > 0) {
      const c = randn(B).mul(s.contrast_std).rpow(2);
      then(scale3d(torch.where(this.#chance([B], s.contrast, d), c, 1), d));
    }
    if (s.lumaflip > 0) {
      const i0 = rand(B, 1, 1).mul(2).floor();
      const i = torch.where(this.#chance([B, 1, 1], s.lumaflip, d), i0, 0);
      // Householder reflection through the plane orthogonal to the luma axis.
      then(I4().sub(vv().mul(2).mul(i)));
    }
    if (s.hue > 0 && C > 1) {
      const theta = rand(B).mul(2).sub(1).mul(Math.PI * s.hue_max);
      then(rotate3d(LUMA, torch.where(this.#chance([B], s.hue, d), theta, 0), d));
    }
    if (s.saturation > 0 && C > 1) {
      const k = randn(B, 1, 1).mul(s.saturation_std).rpow(2);
      const sat = torch.where(this.#chance([B, 1, 1], s.saturation, d), k, 1);
      then(vv().add(I4().sub(vv()).mul(sat)));
    }
    return M;
  }

  /**
   * Each image's filter [B, 43]: every band's gain is 2^N(0, imgfilter_std) with
   * probability imgfilter·band·p, each gain vector renormalised so a 1/f spectrum keeps its
   * expected power, the gains multiplied, then mixed through the filter bank.
   */
  #sampleFilter(B: number, d: torch.Device): Tensor | null {
    const s = this.spec;
    if (!(s.imgfilter > 0)) return null;
    const bank = filterBank();
    const bands = bank.length;
    const power = torch.tensor([10 / 13, 1 / 13, 1 / 13, 1 / 13], { dtype: 'float32', device: d }); // 1/f
    let g = torch.ones([B, bands], { device: d });
    s.imgfilter_bands.forEach((strength, i) => {
      const ti = torch.randn([B], { device: d }).mul(s.imgfilter_std).rpow(2);
      const keep = this.#chance([B], s.imgfilter * strength, d);
      const column = torch.tensor([bank.map((_, k) => k === i)], { device: d });
      // [B, bands]: ones, with t_i in column i.
      let t = torch.where(column, torch.where(keep, ti, 1).unsqueeze(1), 1);
      t = t.div(t.square().mul(power).sum(-1, true).sqrt());
      g = g.mul(t);
    });
    return g.matmul(torch.tensor(bank, { dtype: 'float32', device: d }));
  }

  /** Additive noise [B, C, H, W] and the cutout mask [B, 1, H, W], each null when off. */
  #sampleCorruptions(shape: readonly number[], d: torch.Device): { noise: Tensor | null; cutout: Tensor | null } {
    const s = this.spec;
    const [B, C, H, W] = shape;
    let noise: Tensor | null = null, cutout: Tensor | null = null;
    if (s.noise > 0) {
      const sigma = torch.randn([B, 1, 1, 1], { device: d }).abs().mul(s.noise_std);
      const keep = this.#chance([B, 1, 1, 1], s.noise, d);
      noise = torch.randn([B, C, H, W], { device: d }).mul(torch.where(keep, sigma, 0));
    }
    if (s.cutout > 0) {
      // A rectangle of cutout_size × the image, centred uniformly, is zeroed.
      const full = torch.full([B, 2, 1, 1, 1], s.cutout_size, { device: d });
      const size = torch.where(this.#chance([B, 1, 1, 1, 1], s.cutout, d), full, 0);
      const center = torch.rand([B, 2, 1, 1, 1], { device: d });
      const cx = torch.arange(W, undefined, 1, { device: d }).reshape(1, 1, 1, -1).add(0.5).div(W);
      const cy = torch.arange(H, undefined, 1, { device: d }).reshape(1, 1, -1, 1).add(0.5).div(H);
      const mx = cx.sub(center.select(1, 0)).abs().ge(size.select(1, 0).div(2));
      const my = cy.sub(center.select(1, 1)).abs().ge(size.select(1, 1).div(2));
      cutout = mx.logicalOr(my).to('float32');
    }
    return { noise, cutout };
  }
}

/** Filters each image with its own separable filter [B, taps] (reflect padding, as the reference). */
export function applyFilter(images: Tensor, f: Tensor): Tensor {
  return torch.scope(() => {
    const [B, ch, H, W] = images.shape;
    const taps = f.size(1), p = taps >> 1;
    if (p >= H || p >= W) throw new Error(`image-space filtering needs images larger than ${p} pixels (its reflect padding), got ${H}×${W}`);
    const k = f.to(images.dtype).unsqueeze(1).expand(B, ch, taps).reshape(B * ch, 1, taps);
    let x = torch.F.pad(images.reshape(1, B * ch, H, W), [p, p, p, p], { mode: 'reflect' });
    x = torch.F.conv2d(x, k.unsqueeze(2), null, { groups: B * ch });
    x = torch.F.conv2d(x, k.unsqueeze(3), null, { groups: B * ch });
    return x.reshape(B, ch, H, W);
  });
}

/** Applies C [B, 4, 4] to RGB images (greyscale: the mean of C's RGB rows, as the reference). */
export function applyColor(images: Tensor, C: Tensor): Tensor {
  return torch.scope(() => {
    const [B, ch, H, W] = images.shape;
    const Cm = C.to(images.dtype);
    const flat = images.reshape(B, ch, H * W);
    let out: Tensor;
    if (ch === 3) out = Cm.narrow(1, 0, 3).narrow(2, 0, 3).matmul(flat).add(Cm.narrow(1, 0, 3).narrow(2, 3, 1));
    else if (ch === 1) {
      const m = Cm.narrow(1, 0, 3).mean(1, true); // [B, 1, 4]: the grey level's row
      out = flat.mul(m.narrow(2, 0, 3).sum(2, true)).add(m.narrow(2, 3, 1));
    } else throw new Error(`ADA's colour transforms need RGB (3 channels) or greyscale (1 channel) images, got ${ch} channels`);
    return out.reshape(B, ch, H, W);
  });
}
