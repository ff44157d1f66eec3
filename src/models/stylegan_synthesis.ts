// StyleGAN's synthesis network (Karras, Laine & Aila 2019; NVlabs/stylegan
// training/networks_stylegan.py, G_synthesis) with the paper's defaults: a learned 4×4
// constant, two layers per resolution, each ending in the same epilogue
//   noise (per-channel weight, init 0) → bias → leaky ReLU 0.2 → instance norm → style
//   modulation x·(y_s + 1) + y_b with [y_s, y_b] = dense(w_layer) (gain 1),
// upsampling blocks as the original's blur(upscale2d_conv2d(x)) (fused transposed
// convolution from 128×128 up when fusedScale is 'auto'), a 1×1 ToRGB (gain 1) per
// resolution, and PGGAN's progressive-growing fade driven by `lod`.
//
// State-dict keys follow the original's scopes ('4x4' is a valid name here):
//   '4x4.Const.const' [1, nf(1), 4, 4], '4x4.Const.Noise.weight', '4x4.Const.bias',
//   '4x4.Const.StyleMod.weight|bias', '4x4.Conv.conv.weight', '4x4.Conv.Noise.weight', ...,
//   '8x8.Conv0_up.conv.weight', '8x8.Conv1.conv.weight', ..., 'ToRGB_lod0.weight|bias',
//   and the fixed noise inputs 'noise0' ... 'noise{L-1}' [1, 1, h, w].
// The one departure from the TF names: a layer's convolution weight sits one level down
// ('Conv0_up.conv.weight' for TF's 'Conv0_up/weight'), because the layer's own bias is
// added after the noise, not by the convolution.
import { Tensor, F, randn, scope, zeros, ones } from '../torch/index.js';
import * as nn from '../nn/index.js';
import { activate } from './stylegan_mapping.js';

export type Structure = 'recursive' | 'linear' | 'fixed';

export interface StyleGANSynthesisConfig {
  /** Size of w (default 512). */
  dlatentSize: number;
  /** Output image channels (default 3). */
  numChannels: number;
  /** Output side: a power of two ≥ 4 (default 1024). */
  resolution: number;
  /** Feature maps at stage s: min(fmapBase / 2^(s·fmapDecay), fmapMax). */
  fmapBase: number;
  fmapDecay: number;
  fmapMax: number;
  /** Per-pixel noise inputs (default true). */
  useNoise: boolean;
  /** Default for forward(): fresh noise each call (true) or the stored 'noise{i}' buffers (false). */
  randomizeNoise: boolean;
  nonlinearity: 'lrelu' | 'relu';
  usePixelNorm: boolean;
  useInstanceNorm: boolean;
  /** Fused upscale+conv: 'auto' = from 128×128 output up (as the original). */
  fusedScale: boolean | 'auto';
  /** Low-pass filter after each upsampling convolution; null = none. */
  blurFilter: number[] | null;
  /**
   * 'recursive' (the original's default outside template graphs): only the resolutions
   * that contribute at the current lod run; 'linear': every resolution runs, blended by
   * lerp_clip (same result); 'fixed': no progressive growing, one ToRGB (lod must be 0).
   */
  structure: Structure;
}

export const STYLEGAN_SYNTHESIS_DEFAULTS: StyleGANSynthesisConfig = {
  dlatentSize: 512, numChannels: 3, resolution: 1024, fmapBase: 8192, fmapDecay: 1, fmapMax: 512, useNoise: true,
  randomizeNoise: true, nonlinearity: 'lrelu', usePixelNorm: false, useInstanceNorm: true, fusedScale: 'auto',
  blurFilter: [1, 2, 1], structure: 'recursive',
};

/** log2 of a power-of-two resolution ≥ 4, or an error. */
export function resolutionLog2(resolution: number): number {
  const r = Math.log2(resolution);
  if (!Number.isInteger(r) || r < 2) throw new RangeError(`StyleGAN resolution must be a power of two ≥ 4, got ${resolution}`);
  return r;
}

/** The originals' nf(stage): feature maps of stage s (4×4 is stage 1, 8×8 stage 2, ...). */
export function featureMaps(stage: number, fmapBase = 8192, fmapDecay = 1, fmapMax = 512): number {
  return Math.min(Math.floor(fmapBase / 2 ** (stage * fmapDecay)), fmapMax);
}

/** Style modulation (AdaIN's affine part): x·(style[:, :C] + 1) + style[:, C:], style [N, 2C]. */
export function styleModulate(x: Tensor, style: Tensor): Tensor {
  return scope(() => {
    const c = x.size(1);
    const s = style.reshape(style.size(0), 2, c, 1, 1);
    return x.mul(s.select(1, 0).add(1)).add(s.select(1, 1));
  });
}

/** The original's instance_norm: per sample and channel, zero mean and unit mean square (eps 1e-8). */
export function instanceNorm(x: Tensor): Tensor {
  return F.instanceNorm(x, { eps: 1e-8 });
}

/** Noise input: x + noise·weight (per channel); noise [N or 1, 1, H, W] is broadcast over channels. */
export class NoiseInjection extends nn.Module {
  readonly weight: Tensor;

  constructor(readonly channels: number) {
    super();
    this.weight = this.registerParameter('weight', zeros([channels]));
  }

  /** `noise` null draws fresh N(0, 1) noise [N, 1, H, W] from the global generator. */
  forward(x: Tensor, noise: Tensor | null = null): Tensor {
    return scope(() => {
      const [n, , h, w] = x.shape;
      const z = noise ?? randn([n, 1, h, w], { dtype: x.dtype, device: x.device });
      return x.add(z.mul(this.weight.reshape(1, -1, 1, 1)));
    });
  }
}

/**
 * One synthesis layer: its input (the learned constant, a 3×3 convolution, or an
 * upsampling 3×3 convolution followed by the blur) and the epilogue.
 */
export class SynthesisLayer extends nn.Module {
  /** The learned 4×4 input of the first layer (init ones), else null. */
  readonly constInput: Tensor | null;
  readonly conv: nn.EqualizedConv2d | null;
  readonly noise: NoiseInjection | null;
  readonly bias: Tensor;
  readonly styleMod: nn.EqualizedLinear;

  constructor(
    readonly kind: 'const' | 'conv' | 'up',
    inChannels: number,
    readonly channels: number,
    readonly cfg: StyleGANSynthesisConfig,
    /** Upsampling layers only: fused transposed convolution or upscale2d + conv. */
    readonly fused = false,
  ) {
    super();
    this.constInput = this.registerParameter('const', kind === 'const' ? ones([1, channels, 4, 4]) : null);
    this.conv = this.registerModule('conv', kind === 'const' ? null
      : new nn.EqualizedConv2d(inChannels, channels, 3, { gain: Math.SQRT2, bias: false, resample: kind === 'up' && fused ? 'up' : 'none' }));
    this.noise = this.registerModule('Noise', cfg.useNoise ? new NoiseInjection(channels) : null);
    this.bias = this.registerParameter('bias', zeros([channels]));
    this.styleMod = this.registerModule('StyleMod', new nn.EqualizedLinear(cfg.dlatentSize, 2 * channels, { gain: 1 }));
  }

  /** x: the previous layer's output (ignored by the constant layer except for its batch size N); w: [N, dlatentSize]. */
  forward(x: Tensor | null, w: Tensor, noise: Tensor | null = null): Tensor {
    return scope(() => {
      let y: Tensor;
      if (this.constInput) {
        y = this.constInput.expand(w.size(0), -1, -1, -1);
      } else {
        if (!x) throw new Error('SynthesisLayer: a convolution layer needs an input');
        const conv = this.conv!;
        if (this.kind === 'up') {
          y = conv.resample === 'up' ? conv.forward(x) : conv.forwardUpscaled(x);
          if (this.cfg.blurFilter) y = nn.blur2d(y, this.cfg.blurFilter);
        } else {
          y = conv.forward(x);
        }
      }
      return this.epilogue(y, w, noise);
    });
  }

  /** The original's layer_epilogue. */
  epilogue(x: Tensor, w: Tensor, noise: Tensor | null = null): Tensor {
    return scope(() => {
      let y = this.noise ? this.noise.forward(x, noise) : x;
      y = activate(y.add(this.bias.reshape(1, -1, 1, 1)), this.cfg.nonlinearity);
      if (this.cfg.usePixelNorm) y = nn.pixelNorm(y);
      if (this.cfg.useInstanceNorm) y = instanceNorm(y);
      return styleModulate(y, this.styleMod.forward(w));
    });
  }
}

/** The two layers of one resolution: '4x4' holds Const and Conv, the others Conv0_up and Conv1. */
export class SynthesisBlock extends nn.Module {
  readonly layers: [SynthesisLayer, SynthesisLayer];

  /** res: log2 of the block's side (2 for 4×4). */
  constructor(readonly res: number, inChannels: number, readonly channels: number, cfg: StyleGANSynthesisConfig) {
    super();
    if (res === 2) {
      this.layers = [
        this.registerModule('Const', new SynthesisLayer('const', 0, channels, cfg)),
        this.registerModule('Conv', new SynthesisLayer('conv', channels, channels, cfg)),
      ];
    } else {
      const fused = cfg.fusedScale === 'auto' ? 2 ** res >= 128 : cfg.fusedScale;
      this.layers = [
        this.registerModule('Conv0_up', new SynthesisLayer('up', inChannels, channels, cfg, fused)),
        this.registerModule('Conv1', new SynthesisLayer('conv', channels, channels, cfg)),
      ];
    }
  }

  /** x: [N, C, side/2, side/2] (null for 4×4); dlatents [N, L, D]; noises for the block's two layers. */
  forward(x: Tensor | null, dlatents: Tensor, noises: [Tensor | null, Tensor | null]): Tensor {
    return scope(() => {
      const first = 2 * this.res - 4;
      const y = this.layers[0].forward(x, dlatents.select(1, first), noises[0]);
      return this.layers[1].forward(y, dlatents.select(1, first + 1), noises[1]);
    });
  }
}

/** The resolution whose block is the highest to run at `lod`, and the fade weight toward the one below. */
export function lodSplit(lod: number, resolutionLog2: number): { top: number; alpha: number } {
  if (!(lod >= 0 && lod <= resolutionLog2 - 2)) throw new RangeError(`lod must be in [0, ${resolutionLog2 - 2}], got ${lod}`);
  const whole = Math.floor(lod);
  return { top: resolutionLog2 - whole, alpha: lod - whole };
}

export interface SynthesisForwardOptions {
  /** Level of detail: 0 = full resolution, resolutionLog2 − 2 = 4×4 only; fractions fade (default 0). */
  lod?: number;
  /** Override the config's randomizeNoise for this call. */
  randomizeNoise?: boolean;
}

export class StyleGANSynthesis extends nn.Module {
  readonly cfg: StyleGANSynthesisConfig;
  readonly resolutionLog2: number;
  /** 2·log2(resolution) − 2: the number of layers, and of w copies the input carries. */
  readonly numLayers: number;
  /** blocks[i] is the block of side 2^(i+2). */
  readonly blocks: SynthesisBlock[] = [];
  /** toRGB[i] converts the output of blocks[i] (null below the top resolution for 'fixed'). */
  readonly toRGB: (nn.EqualizedConv2d | null)[] = [];
  /** The stored noise inputs used when noise is not randomised, one [1, 1, h, w] per layer. */
  readonly noiseInputs: Tensor[] = [];

  constructor(cfg: Partial<StyleGANSynthesisConfig> = {}) {
    super();
    this.cfg = { ...STYLEGAN_SYNTHESIS_DEFAULTS, ...cfg };
    const c = this.cfg;
    const R = (this.resolutionLog2 = resolutionLog2(c.resolution));
    this.numLayers = 2 * R - 2;
    const nf = (s: number): number => featureMaps(s, c.fmapBase, c.fmapDecay, c.fmapMax);
    if (c.useNoise) {
      for (let i = 0; i < this.numLayers; i++) {
        const side = 2 ** ((i >> 1) + 2);
        this.noiseInputs.push(this.registerBuffer(`noise${i}`, randn([1, 1, side, side])));
      }
    }
    for (let res = 2; res <= R; res++) {
      const side = 2 ** res;
      this.blocks.push(this.registerModule(`${side}x${side}`, new SynthesisBlock(res, nf(res - 2), nf(res - 1), c)));
    }
    for (let res = 2; res <= R; res++) {
      const rgb = c.structure === 'fixed' && res < R ? null : new nn.EqualizedConv2d(nf(res - 1), c.numChannels, 1, { gain: 1 });
      this.toRGB.push(this.registerModule(`ToRGB_lod${R - res}`, rgb));
    }
  }

  /** Runs the block of resolution 2^res. */
  #block(res: number, x: Tensor | null, dlatents: Tensor, randomize: boolean): Tensor {
    const first = 2 * res - 4;
    const noise = (i: number): Tensor | null => (randomize || !this.cfg.useNoise ? null : this.noiseInputs[i]);
    return this.blocks[res - 2].forward(x, dlatents, [noise(first), noise(first + 1)]);
  }

  #rgb(res: number, x: Tensor): Tensor {
    const t = this.toRGB[res - 2];
    if (!t) throw new Error(`no ToRGB layer at ${2 ** res}×${2 ** res} (structure 'fixed')`);
    return t.forward(x);
  }

  /** dlatents: [N, numLayers, dlatentSize] → images [N, numChannels, resolution, resolution]. */
  forward(dlatents: Tensor, opts: SynthesisForwardOptions = {}): Tensor {
    const c = this.cfg;
    const R = this.resolutionLog2;
    if (dlatents.ndim !== 3 || dlatents.size(1) !== this.numLayers || dlatents.size(2) !== c.dlatentSize) {
      throw new Error(`StyleGAN synthesis: dlatents must have shape [N, ${this.numLayers}, ${c.dlatentSize}], got [${dlatents.shape.join(', ')}]`);
    }
    const lod = opts.lod ?? 0;
    const randomize = opts.randomizeNoise ?? c.randomizeNoise;
    if (c.structure === 'fixed' && lod !== 0) throw new RangeError(`structure 'fixed' has no progressive growing: lod must be 0, got ${lod}`);
    const { top, alpha } = lodSplit(lod, R);
    return scope(() => {
      if (c.structure === 'linear') {
        // Every resolution runs; each step blends the new ToRGB with the upscaled image so far.
        let x = this.#block(2, null, dlatents, randomize);
        let images = this.#rgb(2, x);
        for (let res = 3; res <= R; res++) {
          x = this.#block(res, x, dlatents, randomize);
          const img = this.#rgb(res, x);
          const t = Math.min(Math.max(lod - (R - res), 0), 1);
          images = img.lerp(nn.upscale2d(images), t);
        }
        return images;
      }
      // 'recursive' and 'fixed': blocks up to `top` only; blend with the ToRGB below while fading in.
      let x = this.#block(2, null, dlatents, randomize);
      let prev: Tensor | null = null;
      for (let res = 3; res <= top; res++) {
        prev = x;
        x = this.#block(res, x, dlatents, randomize);
      }
      let images = this.#rgb(top, x);
      if (alpha > 0) images = images.lerp(nn.upscale2d(this.#rgb(top - 1, prev!)), alpha);
      return nn.upscale2d(images, 2 ** (R - top));
    });
  }
}
