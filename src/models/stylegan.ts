// StyleGAN v1 (Karras, Laine & Aila 2019), the networks of NVlabs/stylegan
// training/networks_stylegan.py with its defaults:
//  - StyleGANGenerator = G_style: the mapping network (stylegan_mapping.ts), the tracked
//    average of w ('dlatent_avg', β 0.995 while training), style-mixing regularisation
//    (probability 0.9 while training), the truncation trick (ψ, cutoff 8) and the
//    synthesis network (stylegan_synthesis.ts);
//  - StyleGANDiscriminator = D_basic: PGGAN's discriminator with a [1, 2, 1] blur before
//    every downscaling convolution, minibatch stddev (group 4, 1 feature) and lod fading.
//
// State-dict keys: 'mapping.Dense0.weight', 'synthesis.4x4.Const.const',
// 'synthesis.ToRGB_lod0.weight', 'dlatent_avg'; D: 'FromRGB_lod0.weight', '1024x1024.Conv0.weight',
// '1024x1024.Conv1_down.weight', ..., '4x4.Conv.weight', '4x4.Dense0.weight', '4x4.Dense1.weight'.
// Weights are PyTorch-laid ([out, in, k, k]); a TF weight maps by permuting axes only.
import { Tensor, noGrad, rand, randint, randn, scope, arange, where, zeros } from '../torch/index.js';
import * as nn from '../nn/index.js';
import { StyleGANMapping, STYLEGAN_MAPPING_DEFAULTS, labelMatrix, activate, type StyleGANMappingConfig } from './stylegan_mapping.js';
import {
  StyleGANSynthesis, STYLEGAN_SYNTHESIS_DEFAULTS, featureMaps, lodSplit, resolutionLog2, type StyleGANSynthesisConfig, type Structure,
} from './stylegan_synthesis.js';

export { StyleGANMapping, STYLEGAN_MAPPING_DEFAULTS, labelMatrix, type StyleGANMappingConfig } from './stylegan_mapping.js';
export {
  StyleGANSynthesis, SynthesisBlock, SynthesisLayer, NoiseInjection, STYLEGAN_SYNTHESIS_DEFAULTS, featureMaps, lodSplit, resolutionLog2,
  styleModulate, instanceNorm, type StyleGANSynthesisConfig, type SynthesisForwardOptions, type Structure,
} from './stylegan_synthesis.js';

// ---------------------------------------------------------------------------------------
// Generator (G_style)

export interface StyleGANGeneratorConfig extends Omit<StyleGANMappingConfig, 'dlatentBroadcast'>, StyleGANSynthesisConfig {
  /** Layers below this index are truncated when a ψ is given (default 8); null or ≤ 0 = none. */
  truncationCutoff: number | null;
  /** Decay of the running average of w while training (default 0.995); null = not tracked. */
  dlatentAvgBeta: number | null;
  /** Probability of style mixing while training (default 0.9); null or 0 = never. */
  styleMixingProb: number | null;
}

export const STYLEGAN_G_DEFAULTS: StyleGANGeneratorConfig = {
  ...(({ dlatentBroadcast: _, ...m }) => m)(STYLEGAN_MAPPING_DEFAULTS),
  ...STYLEGAN_SYNTHESIS_DEFAULTS,
  truncationCutoff: 8, dlatentAvgBeta: 0.995, styleMixingProb: 0.9,
};

export interface StyleGANForwardOptions {
  /** Level of detail (default 0: full resolution). */
  lod?: number;
  /**
   * Truncation ψ (the original's 0.7 for its figures); default none, in either mode. The
   * original switched it on in eval mode; here it is always the caller's explicit choice,
   * so a metric computed on an averaged G never measures truncated samples by accident.
   */
  truncationPsi?: number | null;
  truncationCutoff?: number | null;
  /** Style-mixing probability. Default: the config's (0.9) in training mode, none in eval mode. */
  styleMixingProb?: number | null;
  /**
   * Forces the crossover layer (in either mode): layers < cutoff take w1, the others w2 of a
   * fresh second latent; a cutoff at or past the active layers (numLayers − 2·⌊lod⌋) mixes nothing.
   */
  mixingCutoff?: number;
  /** Fresh noise (true) or the stored noise inputs (false); default the config's (true). */
  randomizeNoise?: boolean;
  /** Update dlatent_avg from this batch; default: in training mode when dlatentAvgBeta is set. */
  updateDlatentAvg?: boolean;
}

/**
 * Style mixing: dlatents1 at layers < cutoff, dlatents2 from cutoff on ([N, L, D] both).
 * A pure function, as tf.where(layer_idx < mixing_cutoff, dlatents, dlatents2).
 */
export function mixDlatents(dlatents1: Tensor, dlatents2: Tensor, cutoff: number): Tensor {
  return scope(() => {
    const L = dlatents1.size(1);
    const mask = arange(L, undefined, 1, { device: dlatents1.device }).lt(cutoff).reshape(1, L, 1);
    return where(mask, dlatents1, dlatents2);
  });
}

/**
 * The crossover layer of the original's style mixing: with probability `prob` an integer
 * uniform in [1, curLayers), else curLayers (no mixing among the active layers), where
 * curLayers = numLayers − 2·⌊lod⌋. Draws from the global torch generator.
 */
export function drawMixingCutoff(numLayers: number, lod: number, prob: number): number {
  const cur = numLayers - 2 * Math.trunc(lod);
  return scope(() => {
    if (rand([1]).item() < prob) return randint(1, cur, [1]).item();
    return cur;
  });
}

/** Truncation: lerp(avg, w, ψ) at layers < cutoff; the other layers keep w exactly. */
export function truncateDlatents(dlatents: Tensor, dlatentAvg: Tensor, psi: number, cutoff: number): Tensor {
  return scope(() => {
    const avg = dlatentAvg.reshape(1, 1, -1).to(dlatents.dtype);
    return mixDlatents(dlatents.sub(avg).mul(psi).add(avg), dlatents, cutoff);
  });
}

export class StyleGANGenerator extends nn.Module {
  readonly cfg: StyleGANGeneratorConfig;
  readonly mapping: StyleGANMapping;
  readonly synthesis: StyleGANSynthesis;
  readonly numLayers: number;

  constructor(cfg: Partial<StyleGANGeneratorConfig> = {}) {
    super();
    const c = (this.cfg = { ...STYLEGAN_G_DEFAULTS, ...cfg });
    // Synthesis first, as the original: it fixes the number of w copies the mapping broadcasts.
    const synthesis = new StyleGANSynthesis(pick(c, Object.keys(STYLEGAN_SYNTHESIS_DEFAULTS) as (keyof StyleGANSynthesisConfig)[]));
    this.numLayers = synthesis.numLayers;
    this.mapping = this.registerModule('mapping', new StyleGANMapping({
      ...pick(c, Object.keys(STYLEGAN_MAPPING_DEFAULTS).filter((k) => k !== 'dlatentBroadcast') as Exclude<keyof StyleGANMappingConfig, 'dlatentBroadcast'>[]),
      dlatentBroadcast: this.numLayers,
    }));
    this.synthesis = this.registerModule('synthesis', synthesis);
    this.registerBuffer('dlatent_avg', zeros([c.dlatentSize]));
  }

  /** The running average of w [dlatentSize] (the buffer itself: read it, do not dispose it). */
  get dlatentAvg(): Tensor {
    return this.own('dlatent_avg')!;
  }

  /** dlatent_avg ← lerp(batch mean of w, dlatent_avg, β), i.e. β·avg + (1 − β)·mean (no gradient). */
  updateDlatentAvg(dlatents: Tensor, beta = this.cfg.dlatentAvgBeta ?? 0.995): void {
    noGrad(() => scope(() => {
      const w = dlatents.ndim === 3 ? dlatents.select(1, 0) : dlatents;
      this.dlatentAvg.lerp_(w.mean(0).to(this.dlatentAvg.dtype), 1 - beta);
    }));
  }

  /**
   * z [N, latentSize] (and labels for a conditional model) → w broadcast [N, numLayers, D],
   * after the average update, style mixing and truncation that `opts` and the mode select.
   */
  dlatents(z: Tensor, labels: Tensor | null = null, opts: StyleGANForwardOptions = {}): Tensor {
    const c = this.cfg;
    const lod = opts.lod ?? 0;
    const psi = opts.truncationPsi ?? null;
    const cutoff = opts.truncationCutoff !== undefined ? opts.truncationCutoff : c.truncationCutoff;
    const mixProb = opts.styleMixingProb !== undefined ? opts.styleMixingProb : this.training ? c.styleMixingProb : null;
    const update = opts.updateDlatentAvg ?? (this.training && c.dlatentAvgBeta !== null);
    return scope(() => {
      let w = this.mapping.forward(z, labels);
      if (update) this.updateDlatentAvg(w, c.dlatentAvgBeta ?? 0.995);
      const curLayers = this.numLayers - 2 * Math.trunc(lod);
      let mixAt: number | null = null;
      if (opts.mixingCutoff !== undefined) mixAt = opts.mixingCutoff;
      else if (mixProb !== null && mixProb > 0) mixAt = drawMixingCutoff(this.numLayers, lod, mixProb);
      // A crossover at or past the active layers changes nothing the synthesis reads: skip the second mapping.
      if (mixAt !== null && mixAt < curLayers) {
        const z2 = randn(z.shape, { dtype: z.dtype, device: z.device });
        w = mixDlatents(w, this.mapping.forward(z2, labels), mixAt);
      }
      if (psi !== null && psi !== 1 && cutoff !== null && cutoff > 0) w = truncateDlatents(w, this.dlatentAvg, psi, cutoff);
      return w;
    });
  }

  /** z [N, latentSize] → images [N, numChannels, resolution, resolution]. */
  forward(z: Tensor, labels: Tensor | null = null, opts: StyleGANForwardOptions = {}): Tensor {
    return scope(() => this.synthesis.forward(this.dlatents(z, labels, opts), { lod: opts.lod, randomizeNoise: opts.randomizeNoise }));
  }
}

function pick<T extends object, K extends keyof T>(o: T, keys: K[]): Pick<T, K> {
  const out = {} as Pick<T, K>;
  for (const k of keys) out[k] = o[k];
  return out;
}

// ---------------------------------------------------------------------------------------
// Discriminator (D_basic)

export interface StyleGANDiscriminatorConfig {
  numChannels: number;
  resolution: number;
  /** Classes (one-hot label size); 0 for an unconditional model (the output is then one score). */
  labelSize: number;
  fmapBase: number;
  fmapDecay: number;
  fmapMax: number;
  nonlinearity: 'lrelu' | 'relu';
  /** Minibatch stddev group size; ≤ 1 disables the layer. */
  mbstdGroupSize: number;
  mbstdNumFeatures: number;
  /** Fused conv+downscale: 'auto' = from 128×128 input up. */
  fusedScale: boolean | 'auto';
  blurFilter: number[] | null;
  structure: Structure;
}

export const STYLEGAN_D_DEFAULTS: StyleGANDiscriminatorConfig = {
  numChannels: 3, resolution: 1024, labelSize: 0, fmapBase: 8192, fmapDecay: 1, fmapMax: 512, nonlinearity: 'lrelu',
  mbstdGroupSize: 4, mbstdNumFeatures: 1, fusedScale: 'auto', blurFilter: [1, 2, 1], structure: 'recursive',
};

/** One resolution ≥ 8×8: Conv0 (3×3) then Conv1_down (blur → 3×3 conv → downscale, fused from 128×128 up). */
export class DiscriminatorBlock extends nn.Module {
  readonly conv0: nn.EqualizedConv2d;
  readonly conv1Down: nn.EqualizedConv2d;

  constructor(readonly res: number, inChannels: number, outChannels: number, readonly cfg: StyleGANDiscriminatorConfig) {
    super();
    const fused = cfg.fusedScale === 'auto' ? 2 ** res >= 128 : cfg.fusedScale;
    this.conv0 = this.registerModule('Conv0', new nn.EqualizedConv2d(inChannels, inChannels, 3));
    this.conv1Down = this.registerModule('Conv1_down', new nn.EqualizedConv2d(inChannels, outChannels, 3, { resample: fused ? 'down' : 'none' }));
  }

  forward(x: Tensor): Tensor {
    return scope(() => {
      const act = (t: Tensor): Tensor => activate(t, this.cfg.nonlinearity);
      let y = act(this.conv0.forward(x));
      if (this.cfg.blurFilter) y = nn.blur2d(y, this.cfg.blurFilter);
      // Non-fused: conv, bias, box downscale, the pooling folded into the convolution's kernel.
      y = this.conv1Down.resample === 'down' ? this.conv1Down.forward(y) : this.conv1Down.forwardDownscaled(y);
      return act(y);
    });
  }
}

/** The 4×4 head: minibatch stddev, Conv (3×3), Dense0, Dense1 (gain 1). */
export class DiscriminatorHead extends nn.Module {
  readonly conv: nn.EqualizedConv2d;
  readonly dense0: nn.EqualizedLinear;
  readonly dense1: nn.EqualizedLinear;

  constructor(channels: number, hidden: number, outputs: number, readonly cfg: StyleGANDiscriminatorConfig) {
    super();
    const extra = cfg.mbstdGroupSize > 1 ? cfg.mbstdNumFeatures : 0;
    this.conv = this.registerModule('Conv', new nn.EqualizedConv2d(channels + extra, channels, 3));
    this.dense0 = this.registerModule('Dense0', new nn.EqualizedLinear(channels * 16, hidden));
    this.dense1 = this.registerModule('Dense1', new nn.EqualizedLinear(hidden, outputs, { gain: 1 }));
  }

  forward(x: Tensor): Tensor {
    return scope(() => {
      const act = (t: Tensor): Tensor => activate(t, this.cfg.nonlinearity);
      let y = this.cfg.mbstdGroupSize > 1 ? nn.minibatchStddev(x, this.cfg.mbstdGroupSize, this.cfg.mbstdNumFeatures) : x;
      y = act(this.conv.forward(y));
      y = act(this.dense0.forward(y));
      return this.dense1.forward(y);
    });
  }
}

export interface StyleGANDiscriminatorForwardOptions {
  /** Level of detail (default 0); the input stays at full resolution and is downscaled by 2^⌊lod⌋. */
  lod?: number;
}

export class StyleGANDiscriminator extends nn.Module {
  readonly cfg: StyleGANDiscriminatorConfig;
  readonly resolutionLog2: number;
  /** fromRGB[i] reads images of side 2^(i+2) (null below the top for 'fixed'). */
  readonly fromRGB: (nn.EqualizedConv2d | null)[] = [];
  /** blocks[i] is the block of side 2^(i+3); the 4×4 head is separate. */
  readonly blocks: DiscriminatorBlock[] = [];
  readonly head: DiscriminatorHead;

  constructor(cfg: Partial<StyleGANDiscriminatorConfig> = {}) {
    super();
    const c = (this.cfg = { ...STYLEGAN_D_DEFAULTS, ...cfg });
    const R = (this.resolutionLog2 = resolutionLog2(c.resolution));
    const nf = (s: number): number => featureMaps(s, c.fmapBase, c.fmapDecay, c.fmapMax);
    // Registration order as the original creates the variables: FromRGB of the top, then
    // downward blocks, each followed by the next FromRGB (recursive/linear structures).
    const fromRGBs: (nn.EqualizedConv2d | null)[] = new Array(R - 1).fill(null);
    const blocks: DiscriminatorBlock[] = new Array(R - 2);
    const addFromRGB = (res: number): void => {
      fromRGBs[res - 2] = this.registerModule(`FromRGB_lod${R - res}`, new nn.EqualizedConv2d(c.numChannels, nf(res - 1), 1));
    };
    addFromRGB(R);
    for (let res = R; res >= 3; res--) {
      const side = 2 ** res;
      blocks[res - 3] = this.registerModule(`${side}x${side}`, new DiscriminatorBlock(res, nf(res - 1), nf(res - 2), c));
      if (c.structure !== 'fixed') addFromRGB(res - 1);
    }
    this.fromRGB.push(...fromRGBs);
    this.blocks.push(...blocks);
    this.head = this.registerModule('4x4', new DiscriminatorHead(nf(1), nf(0), Math.max(c.labelSize, 1), c));
  }

  #fromRGB(images: Tensor, res: number): Tensor {
    const t = this.fromRGB[res - 2];
    if (!t) throw new Error(`no FromRGB layer at ${2 ** res}×${2 ** res} (structure 'fixed')`);
    return activate(t.forward(nn.downscale2d(images, 2 ** (this.resolutionLog2 - res))), this.cfg.nonlinearity);
  }

  #block(x: Tensor, res: number): Tensor {
    return res === 2 ? this.head.forward(x) : this.blocks[res - 3].forward(x);
  }

  /** images [N, numChannels, R, R] in [-1, 1] → scores [N] (for a conditional D, the score of each sample's class). */
  forward(images: Tensor, labels: Tensor | null = null, opts: StyleGANDiscriminatorForwardOptions = {}): Tensor {
    const c = this.cfg;
    const R = this.resolutionLog2;
    const lod = opts.lod ?? 0;
    if (images.ndim !== 4 || images.size(1) !== c.numChannels || images.size(2) !== c.resolution || images.size(3) !== c.resolution) {
      throw new Error(`StyleGAN discriminator: images must have shape [N, ${c.numChannels}, ${c.resolution}, ${c.resolution}], got [${images.shape.join(', ')}]`);
    }
    if (c.structure === 'fixed' && lod !== 0) throw new RangeError(`structure 'fixed' has no progressive growing: lod must be 0, got ${lod}`);
    const { top, alpha } = lodSplit(lod, R);
    return scope(() => {
      let x: Tensor;
      if (c.structure === 'linear') {
        // Every resolution runs; after each block the input image's FromRGB one octave down is blended in.
        let img = images;
        x = activate(this.fromRGB[R - 2]!.forward(img), c.nonlinearity);
        for (let res = R; res >= 3; res--) {
          x = this.#block(x, res);
          img = nn.downscale2d(img);
          const y = activate(this.fromRGB[res - 3]!.forward(img), c.nonlinearity);
          x = x.lerp(y, Math.min(Math.max(lod - (R - res), 0), 1));
        }
        x = this.#block(x, 2);
      } else {
        x = this.#block(this.#fromRGB(images, top), top);
        if (alpha > 0) x = x.lerp(this.#fromRGB(images, top - 1), alpha);
        for (let res = top - 1; res >= 2; res--) x = this.#block(x, res);
      }
      if (c.labelSize > 0) {
        if (!labels) throw new Error('this StyleGAN discriminator is conditional: pass class labels');
        return x.mul(labelMatrix(labels, c.labelSize, x.dtype)).sum(1);
      }
      return x.reshape(-1);
    });
  }
}
