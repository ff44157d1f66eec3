// Progressive GAN (Karras, Aila, Laine & Lehtinen 2018): the paper's generator and
// discriminator, as tkarras/progressive_growing_of_gans networks.py G_paper and D_paper
// with their defaults. Every resolution's layers exist from the start; `lod` (level of
// detail: 0 = full resolution, log2(resolution) − 2 = 4×4) picks which of them run.
//
// Structure: the original's 'recursive' one. Only the layers of the resolutions the
// current lod needs run (cost follows the current resolution, and inactive layers get no
// gradient). The result equals the 'linear' structure's formula: at lod = k + α (α ∈ [0, 1))
// G's image is lerp(toRGB(block_R), upscale(toRGB(block_R/2)), α) for R = full >> k,
// nearest-upscaled by 2^k to the full resolution; D fades its input the same way.
//
// State-dict keys follow the original's variable scopes: '4x4.Dense.weight',
// '8x8.Conv0_up.weight', 'ToRGB_lod1.bias', 'FromRGB_lod0.weight', '4x4.Dense1.bias'.
// Weights are stored PyTorch-style ([out, in] and [out, in, k, k]), not TensorFlow's
// [in, out] / [k, k, in, out]; the original's non-trainable 'lod' variable is not a
// buffer here: lod is an argument of forward().
import { Tensor, F, cat, empty, noGrad, scope } from '../torch/index.js';
import * as nn from '../nn/index.js';

export interface PGGANConfig {
  /** Output (G) / input (D) side in pixels: a power of two, at least 4. */
  resolution: number;
  /** Image channels. */
  numChannels: number;
  /** Latent vector size (the original's default: nf(0) = 512). */
  latentSize: number;
  /** Label vector size (one-hot classes, say); 0 for an unconditional model. */
  labelSize: number;
  /** Feature maps at stage s: min(fmapBase / 2^(s·fmapDecay), fmapMax). */
  fmapBase: number;
  fmapDecay: number;
  fmapMax: number;
  /** Pixel-normalise the latent vectors before G's first layer. */
  normalizeLatents: boolean;
  /** Equalized learning rate (weights N(0, 1) scaled by He's constant at run time). */
  useWscale: boolean;
  /** Pixelwise feature-vector normalisation after each of G's convolutions. */
  usePixelnorm: boolean;
  /** Fused upscale+conv (transposed conv) in G and conv+downscale in D, vs. separate nearest / box layers. */
  fusedScale: boolean;
  /** Minibatch standard-deviation group size in D's 4×4 block; 0 or 1 disables it. */
  mbstdGroupSize: number;
}

export const PGGAN_DEFAULTS: Omit<PGGANConfig, 'resolution'> = {
  numChannels: 3,
  latentSize: 512,
  labelSize: 0,
  fmapBase: 8192,
  fmapDecay: 1,
  fmapMax: 512,
  normalizeLatents: true,
  useWscale: true,
  usePixelnorm: true,
  fusedScale: true,
  mbstdGroupSize: 4,
};

/** Fills in the defaults and checks the values. */
export function pgganConfig(c: Partial<PGGANConfig> & { resolution: number }): PGGANConfig {
  const cfg: PGGANConfig = { ...PGGAN_DEFAULTS, ...c };
  resolutionLog2(cfg.resolution);
  const ints: (keyof PGGANConfig)[] = ['numChannels', 'latentSize', 'labelSize', 'fmapMax', 'mbstdGroupSize'];
  for (const k of ints) {
    const v = cfg[k] as number;
    if (!Number.isInteger(v) || v < (k === 'labelSize' || k === 'mbstdGroupSize' ? 0 : 1)) {
      throw new RangeError(`PGGAN ${k} must be a ${k === 'labelSize' || k === 'mbstdGroupSize' ? 'non-negative' : 'positive'} integer, got ${v}`);
    }
  }
  if (!(cfg.fmapBase > 0) || !Number.isFinite(cfg.fmapDecay)) throw new RangeError(`PGGAN fmapBase must be positive and fmapDecay finite`);
  return cfg;
}

/** log2 of a power-of-two resolution ≥ 4. */
export function resolutionLog2(resolution: number): number {
  const n = Math.log2(resolution);
  if (!Number.isInteger(n) || n < 2) throw new RangeError(`PGGAN resolution must be a power of two, at least 4, got ${resolution}`);
  return n;
}

/** Feature maps at a stage (stage s serves resolution 2^(s+1) in G and D): min(⌊base / 2^(s·decay)⌋, max). */
export function nf(stage: number, cfg: Pick<PGGANConfig, 'fmapBase' | 'fmapDecay' | 'fmapMax'> = PGGAN_DEFAULTS): number {
  return Math.min(Math.floor(cfg.fmapBase / 2 ** (stage * cfg.fmapDecay)), cfg.fmapMax);
}

/** The largest lod of a resolution: log2(resolution) − 2 (the 4×4 stage). */
export function maxLod(resolution: number): number {
  return resolutionLog2(resolution) - 2;
}

function checkLod(lod: number, resolution: number): void {
  const m = maxLod(resolution);
  if (typeof lod !== 'number' || !(lod >= 0 && lod <= m)) {
    throw new RangeError(`PGGAN lod must be a number from 0 (${resolution}×${resolution}) to ${m} (4×4), got ${lod}`);
  }
}

const lrelu = (x: Tensor): Tensor => F.leakyRelu(x, 0.2);

/**
 * G's first layer: latent → nf·16 features reshaped to [N, nf, 4, 4], with one bias per
 * feature map (the original applies the bias after the reshape), and the original's gain
 * √2/4 ("to match the original Theano implementation"). Equalized learning rate as
 * EqualizedLinear's: weight N(0, 1) times gain/√fan_in at run time (or N(0, gain²/fan_in)
 * stored directly when useWscale is off).
 */
export class Dense4x4 extends nn.Module {
  readonly weight: Tensor;
  readonly bias: Tensor;
  /** The run-time multiplier of the weight: gain/√inFeatures (1 when useWscale is off). */
  readonly weightGain: number;

  constructor(readonly inFeatures: number, readonly fmaps: number, gain: number, useWscale: boolean) {
    super();
    const std = gain / Math.sqrt(inFeatures);
    this.weightGain = useWscale ? std : 1;
    this.weight = this.registerParameter('weight', empty([fmaps * 16, inFeatures]));
    this.bias = this.registerParameter('bias', empty([fmaps]));
    noGrad(() => {
      this.weight.normal_(0, useWscale ? 1 : std);
      this.bias.zero_();
    });
  }

  forward(x: Tensor): Tensor {
    return scope(() => {
      const w = this.weightGain === 1 ? this.weight : this.weight.mul(this.weightGain);
      return F.linear(x, w).reshape(x.shape[0], this.fmaps, 4, 4).add(this.bias.reshape(1, -1, 1, 1));
    });
  }
}

function conv(inC: number, outC: number, k: number, cfg: PGGANConfig, o: { gain?: number; resample?: 'none' | 'up' | 'down' } = {}): nn.EqualizedConv2d {
  return plainUnlessWscale(new nn.EqualizedConv2d(inC, outC, k, { gain: o.gain ?? Math.SQRT2, resample: o.resample ?? 'none' }), cfg);
}

function dense(inF: number, outF: number, cfg: PGGANConfig, gain = Math.SQRT2): nn.EqualizedLinear {
  return plainUnlessWscale(new nn.EqualizedLinear(inF, outF, { gain }), cfg);
}

/**
 * useWscale off (the original's get_weight(use_wscale=False)): no run-time scale, the
 * weight drawn N(0, (gain/√fan_in)²) instead. nn's equalized layers have no such switch,
 * so the layer's run-time multiplier is set to 1 and its weight redrawn.
 */
function plainUnlessWscale<L extends nn.EqualizedConv2d | nn.EqualizedLinear>(layer: L, cfg: PGGANConfig): L {
  if (cfg.useWscale) return layer;
  const std = layer.weightGain; // lrmul 1: gain/√fan_in
  Object.defineProperty(layer, 'weightGain', { value: 1, writable: false, enumerable: true, configurable: true });
  noGrad(() => layer.weight.normal_(0, std));
  return layer;
}

/** One resolution of G: '4x4' (Dense, Conv) or 'RxR' (Conv0_up or Conv0, Conv1). */
export class GBlock extends nn.Module {
  readonly layers: [string, nn.Module & { forward(x: Tensor): Tensor }][] = [];

  constructor(readonly res: number, readonly cfg: PGGANConfig) {
    super();
    const f = nf(res - 1, cfg);
    if (res === 2) {
      this.add('Dense', new Dense4x4(cfg.latentSize + cfg.labelSize, f, Math.SQRT2 / 4, cfg.useWscale));
      this.add('Conv', conv(f, f, 3, cfg));
    } else {
      const fin = nf(res - 2, cfg);
      if (cfg.fusedScale) this.add('Conv0_up', conv(fin, f, 3, cfg, { resample: 'up' }));
      else this.add('Conv0', conv(fin, f, 3, cfg));
      this.add('Conv1', conv(f, f, 3, cfg));
    }
  }

  private add(name: string, m: nn.Module & { forward(x: Tensor): Tensor }): void {
    this.registerModule(name, m);
    this.layers.push([name, m]);
  }

  /** res 2: x = [N, latent + label] (already concatenated); otherwise the previous block's maps. */
  forward(x: Tensor): Tensor {
    return scope(() => {
      const pn = (t: Tensor): Tensor => (this.cfg.usePixelnorm ? nn.pixelNorm(t) : t);
      let y = x;
      if (this.res === 2 && this.cfg.normalizeLatents) y = nn.pixelNorm(y);
      for (const [name, m] of this.layers) {
        // Non-fused: upscale2d then Conv0, folded into one phase convolution.
        const upscaled = name === 'Conv0' && this.res > 2;
        y = pn(lrelu(upscaled ? (m as nn.EqualizedConv2d).forwardUpscaled(y) : m.forward(y)));
      }
      return y;
    });
  }
}

/** One resolution of D: 'RxR' (Conv0, Conv1_down or Conv1 + box downscale) or '4x4' (minibatch stddev, Conv, Dense0, Dense1). */
export class DBlock extends nn.Module {
  readonly layers: [string, nn.Module & { forward(x: Tensor): Tensor }][] = [];

  constructor(readonly res: number, readonly cfg: PGGANConfig) {
    super();
    if (res >= 3) {
      this.add('Conv0', conv(nf(res - 1, cfg), nf(res - 1, cfg), 3, cfg));
      if (cfg.fusedScale) this.add('Conv1_down', conv(nf(res - 1, cfg), nf(res - 2, cfg), 3, cfg, { resample: 'down' }));
      else this.add('Conv1', conv(nf(res - 1, cfg), nf(res - 2, cfg), 3, cfg));
    } else {
      const f = nf(1, cfg);
      const inC = f + (cfg.mbstdGroupSize > 1 ? 1 : 0);
      this.add('Conv', conv(inC, f, 3, cfg));
      this.add('Dense0', dense(f * 16, nf(0, cfg), cfg));
      this.add('Dense1', dense(nf(0, cfg), 1 + cfg.labelSize, cfg, 1));
    }
  }

  private add(name: string, m: nn.Module & { forward(x: Tensor): Tensor }): void {
    this.registerModule(name, m);
    this.layers.push([name, m]);
  }

  /** [N, nf(res−1), R, R] → [N, nf(res−2), R/2, R/2]; the 4×4 block → [N, 1 + labelSize]. */
  forward(x: Tensor): Tensor {
    return scope(() => {
      if (this.res >= 3) {
        let y = lrelu(this.layers[0][1].forward(x));
        y = lrelu(this.layers[1][1].forward(y));
        return this.cfg.fusedScale ? y : nn.downscale2d(y);
      }
      let y = this.cfg.mbstdGroupSize > 1 ? nn.minibatchStddev(x, this.cfg.mbstdGroupSize) : x;
      y = lrelu(this.layers[0][1].forward(y));
      y = lrelu(this.layers[1][1].forward(y.flatten(1)));
      return this.layers[2][1].forward(y);
    });
  }
}

/** 1×1 convolution to image channels, linear, gain 1. */
function toRGB(inC: number, cfg: PGGANConfig): nn.EqualizedConv2d {
  return conv(inC, cfg.numChannels, 1, cfg, { gain: 1 });
}

/** 1×1 convolution from image channels (followed by leaky ReLU 0.2 in D's forward). */
function fromRGB(outC: number, cfg: PGGANConfig): nn.EqualizedConv2d {
  return conv(cfg.numChannels, outC, 1, cfg);
}

export class PGGANGenerator extends nn.Module {
  readonly cfg: PGGANConfig;
  readonly resolutionLog2: number;
  /** blocks[i] serves resolution 2^(i+2) (key '4x4', '8x8', ...). */
  readonly blocks: GBlock[] = [];
  /** toRGB[i] turns blocks[i]'s maps into an image (key 'ToRGB_lod' + (log2(R) − 2 − i)). */
  readonly toRGB: nn.EqualizedConv2d[] = [];

  constructor(config: Partial<PGGANConfig> & { resolution: number }) {
    super();
    this.cfg = pgganConfig(config);
    this.resolutionLog2 = resolutionLog2(this.cfg.resolution);
    for (let res = 2; res <= this.resolutionLog2; res++) {
      const s = 2 ** res;
      this.blocks.push(this.registerModule(`${s}x${s}`, new GBlock(res, this.cfg)));
      this.toRGB.push(this.registerModule(`ToRGB_lod${this.resolutionLog2 - res}`, toRGB(nf(res - 1, this.cfg), this.cfg)));
    }
  }

  get maxLod(): number {
    return this.resolutionLog2 - 2;
  }

  /**
   * z: [N, latentSize]; labels: [N, labelSize] (float, e.g. one-hot) or null when
   * labelSize = 0; lod ∈ [0, maxLod]. Returns images [N, numChannels, R, R] at the full
   * resolution R whatever the lod (lower levels are nearest-upscaled, as the original).
   */
  forward(z: Tensor, labels: Tensor | null, lod: number): Tensor {
    const { cfg } = this;
    checkLod(lod, cfg.resolution);
    if (z.ndim !== 2 || z.shape[1] !== cfg.latentSize) throw new Error(`PGGAN G expects latents [N, ${cfg.latentSize}], got [${z.shape.join(', ')}]`);
    return scope(() => {
      let x = z;
      if (cfg.labelSize > 0) {
        if (!labels || labels.ndim !== 2 || labels.shape[0] !== z.shape[0] || labels.shape[1] !== cfg.labelSize) {
          throw new Error(`this PGGAN generator is conditional: pass labels [${z.shape[0]}, ${cfg.labelSize}], got ${labels ? `[${labels.shape.join(', ')}]` : 'null'}`);
        }
        x = cat([z, labels.to({ dtype: z.dtype })], 1);
      } else if (labels && labels.numel > 0) {
        throw new Error('this PGGAN generator is unconditional (labelSize 0): pass null labels');
      }
      // Grow from 4×4 while the lod asks for finer detail: the level with lod k = maxLod − i
      // runs block i, and the next block runs only when lod < k.
      let prev = x;
      let cur = this.blocks[0].forward(x);
      let i = 0;
      while (i < this.maxLod && lod < this.maxLod - i) {
        prev = cur;
        cur = this.blocks[++i].forward(prev);
      }
      const k = this.maxLod - i;
      let img = this.toRGB[i].forward(cur);
      if (i > 0 && lod > k) img = img.lerp(nn.upscale2d(this.toRGB[i - 1].forward(prev)), lod - k);
      return k > 0 ? nn.upscale2d(img, 2 ** k) : img;
    });
  }
}

export interface DiscriminatorOutput {
  /** Real/fake scores [N, 1]. */
  scores: Tensor;
  /** Auxiliary-classifier label predictions [N, labelSize], or null when labelSize = 0. */
  labels: Tensor | null;
}

export class PGGANDiscriminator extends nn.Module {
  readonly cfg: PGGANConfig;
  readonly resolutionLog2: number;
  /** fromRGB[i] reads an image at resolution 2^(i+2) (key 'FromRGB_lod' + (log2(R) − 2 − i)). */
  readonly fromRGB: nn.EqualizedConv2d[] = [];
  /** blocks[i] serves resolution 2^(i+2) (key '4x4', '8x8', ...). */
  readonly blocks: DBlock[] = [];

  constructor(config: Partial<PGGANConfig> & { resolution: number }) {
    super();
    this.cfg = pgganConfig(config);
    this.resolutionLog2 = resolutionLog2(this.cfg.resolution);
    // Registered from the full resolution down, as the original's linear structure creates them.
    const fr: nn.EqualizedConv2d[] = [];
    const bl: DBlock[] = [];
    for (let res = this.resolutionLog2; res >= 2; res--) {
      const s = 2 ** res;
      fr[res - 2] = this.registerModule(`FromRGB_lod${this.resolutionLog2 - res}`, fromRGB(nf(res - 1, this.cfg), this.cfg));
      bl[res - 2] = this.registerModule(`${s}x${s}`, new DBlock(res, this.cfg));
    }
    this.fromRGB.push(...fr);
    this.blocks.push(...bl);
  }

  get maxLod(): number {
    return this.resolutionLog2 - 2;
  }

  /**
   * images: [N, numChannels, R, R] at the full resolution (reals through processReals,
   * fakes from G at the same lod); lod ∈ [0, maxLod].
   */
  forward(images: Tensor, lod: number): DiscriminatorOutput {
    const { cfg } = this;
    checkLod(lod, cfg.resolution);
    const s = images.shape;
    if (s.length !== 4 || s[1] !== cfg.numChannels || s[2] !== cfg.resolution || s[3] !== cfg.resolution) {
      throw new Error(`PGGAN D expects images [N, ${cfg.numChannels}, ${cfg.resolution}, ${cfg.resolution}], got [${s.join(', ')}]`);
    }
    return scope(() => {
      // The finest level the lod reaches: k = ⌊lod⌋ (its block index i = maxLod − k).
      const k = Math.min(Math.floor(lod), this.maxLod);
      let i = this.maxLod - k;
      const rgb = (j: number, factor: number): Tensor => lrelu(this.fromRGB[j].forward(factor > 1 ? nn.downscale2d(images, factor) : images));
      let x = this.blocks[i].forward(rgb(i, 2 ** k));
      if (i > 0 && lod > k) x = x.lerp(rgb(i - 1, 2 ** (k + 1)), lod - k);
      while (i > 0) x = this.blocks[--i].forward(x);
      const scores = x.slice(1, 0, 1);
      const labels = cfg.labelSize > 0 ? x.slice(1, 1, 1 + cfg.labelSize) : null;
      return { scores, labels };
    });
  }
}
