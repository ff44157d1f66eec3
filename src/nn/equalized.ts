// Equalised learning rate (Karras et al. 2018, PGGAN §4.1) with StyleGAN's learning-rate
// multiplier, as get_weight(use_wscale=True, lrmul) in tkarras/progressive_growing_of_gans
// and NVlabs/stylegan: the stored weight is drawn N(0, 1/lrmul²) and multiplied at run
// time by weightGain = lrmul·gain/√fan_in; the bias starts at 0 and is multiplied by lrmul.
//
// Layout: weights are PyTorch's ([out, in] and [out, in, k, k]); a TF weight [in, out] or
// [k, k, in, out] maps here by permuting axes only (no spatial flip), for every resample
// mode, because the fused ops below follow the TF code literally.
import { Tensor, F, empty, scope, noGrad } from '../torch/index.js';
import { Module } from './module.js';
import { upscale2d, downscale2d } from './resample.js';
import { upsampleConv3x3, conv3x3AvgPool } from './resample_conv.js';

export interface EqualizedOptions {
  /** He gain of the layer (default √2). */
  gain?: number;
  /** Learning-rate multiplier (default 1; StyleGAN's mapping network uses 0.01). */
  lrmul?: number;
  /** Learn a bias (default true). */
  bias?: boolean;
}

export type Resample = 'none' | 'up' | 'down';

function resolve(o: EqualizedOptions): { gain: number; lrmul: number; bias: boolean } {
  const gain = o.gain ?? Math.SQRT2;
  const lrmul = o.lrmul ?? 1;
  if (!(lrmul > 0) || !Number.isFinite(lrmul)) throw new RangeError(`lrmul must be a positive number, got ${lrmul}`);
  if (!Number.isFinite(gain)) throw new RangeError(`gain must be a finite number, got ${gain}`);
  return { gain, lrmul, bias: o.bias ?? true };
}

function checkPositiveInt(v: number, name: string): void {
  if (!Number.isInteger(v) || v < 1) throw new RangeError(`${name} must be a positive integer, got ${v}`);
}

/** The parameters and run-time scales every equalised layer shares. */
function initParams(weight: Tensor, bias: Tensor | null, lrmul: number): void {
  noGrad(() => {
    weight.normal_(0, 1 / lrmul);
    bias?.zero_();
  });
}

/** Equalised dense layer: y = x (weight·weightGain)ᵀ + bias·lrmul; x [N, ...] is flattened to [N, inFeatures]. */
export class EqualizedLinear extends Module {
  readonly weight: Tensor;
  readonly bias: Tensor | null;
  readonly gain: number;
  readonly lrmul: number;
  /** The run-time multiplier of the weight: lrmul·gain/√inFeatures. */
  readonly weightGain: number;

  constructor(readonly inFeatures: number, readonly outFeatures: number, o: EqualizedOptions = {}) {
    super();
    checkPositiveInt(inFeatures, 'inFeatures');
    checkPositiveInt(outFeatures, 'outFeatures');
    const r = resolve(o);
    this.gain = r.gain;
    this.lrmul = r.lrmul;
    this.weightGain = (r.lrmul * r.gain) / Math.sqrt(inFeatures);
    this.weight = this.registerParameter('weight', empty([outFeatures, inFeatures]));
    this.bias = this.registerParameter('bias', r.bias ? empty([outFeatures]) : null);
    initParams(this.weight, this.bias, r.lrmul);
  }

  forward(x: Tensor): Tensor {
    return scope(() => {
      const flat = x.ndim === 2 ? x : x.reshape(x.size(0), -1);
      if (flat.size(1) !== this.inFeatures) {
        throw new Error(`EqualizedLinear(${this.inFeatures}, ${this.outFeatures}): input has ${flat.size(1)} features per sample (shape [${x.shape.join(', ')}])`);
      }
      const w = this.weight.mul(this.weightGain);
      const b = this.bias === null ? null : this.lrmul === 1 ? this.bias : this.bias.mul(this.lrmul);
      return F.linear(flat, w, b);
    });
  }
}

/**
 * Equalised convolution with 'same' padding (k//2, odd k only, as the originals).
 *
 * resample 'up' is the originals' fused upscale2d_conv2d: the kernel, transposed to
 * [in, out, k, k], is zero-padded by 1 and the four one-pixel shifts summed into a
 * (k+1)×(k+1) kernel, used by a stride-2 transposed convolution (padding k//2) → 2H×2W.
 * Being a transposed convolution (which correlates with the spatially flipped kernel),
 * it equals upscale2d followed by a plain conv with the kernel flipped in both spatial
 * axes, exactly as in TF; weights converted from TF need no flip.
 *
 * resample 'down' is the fused conv2d_downscale2d: the same (k+1)×(k+1) summed kernel
 * ×0.25 in a stride-2 convolution (padding k//2) → H/2×W/2 (H, W even); it equals the
 * plain conv followed by downscale2d with the same kernel.
 *
 * The bias (×lrmul) is added after the resampling in every mode.
 */
export class EqualizedConv2d extends Module {
  readonly weight: Tensor;
  readonly bias: Tensor | null;
  readonly gain: number;
  readonly lrmul: number;
  readonly resample: Resample;
  readonly padding: number;
  /** The run-time multiplier of the weight: lrmul·gain/√(inChannels·k²). */
  readonly weightGain: number;

  constructor(readonly inChannels: number, readonly outChannels: number, readonly kernelSize: number, o: EqualizedOptions & { resample?: Resample } = {}) {
    super();
    checkPositiveInt(inChannels, 'inChannels');
    checkPositiveInt(outChannels, 'outChannels');
    checkPositiveInt(kernelSize, 'kernelSize');
    if (kernelSize % 2 !== 1) throw new RangeError(`EqualizedConv2d: the kernel size must be odd ('same' padding), got ${kernelSize}`);
    const resample = o.resample ?? 'none';
    if (resample !== 'none' && resample !== 'up' && resample !== 'down') throw new RangeError(`EqualizedConv2d: resample must be 'none', 'up' or 'down', got '${String(resample)}'`);
    const r = resolve(o);
    this.gain = r.gain;
    this.lrmul = r.lrmul;
    this.resample = resample;
    this.padding = kernelSize >> 1;
    this.weightGain = (r.lrmul * r.gain) / Math.sqrt(inChannels * kernelSize * kernelSize);
    this.weight = this.registerParameter('weight', empty([outChannels, inChannels, kernelSize, kernelSize]));
    this.bias = this.registerParameter('bias', r.bias ? empty([outChannels]) : null);
    initParams(this.weight, this.bias, r.lrmul);
  }

  forward(x: Tensor): Tensor {
    return scope(() => {
      const w = this.weight.mul(this.weightGain);
      const b = this.#bias();
      const p = this.padding;
      switch (this.resample) {
        case 'none':
          return F.conv2d(x, w, b, { padding: p });
        case 'up':
          return F.convTranspose2d(x, shiftSum(w.transpose(0, 1)), b, { stride: 2, padding: p });
        case 'down': {
          const [, , h, wd] = x.shape;
          if (h % 2 || wd % 2) throw new Error(`EqualizedConv2d(resample='down') needs an even height and width, got ${h}×${wd}`);
          return F.conv2d(x, shiftSum(w).mul(0.25), b, { stride: 2, padding: p });
        }
      }
    });
  }

  /**
   * this.forward(upscale2d(x)) for resample 'none' (PGGAN's and StyleGAN's non-fused
   * upsampling layers): a 3×3 kernel runs as four 2×2 phase kernels on x itself
   * (nn/resample_conv.ts), 16 instead of 36 multiply-adds per input pixel and channel pair.
   * Other kernel sizes upsample first.
   */
  forwardUpscaled(x: Tensor): Tensor {
    if (this.resample !== 'none') throw new Error(`EqualizedConv2d.forwardUpscaled is for resample 'none' layers, this one has '${this.resample}'`);
    if (this.kernelSize !== 3) return scope(() => this.forward(upscale2d(x)));
    return scope(() => upsampleConv3x3(x, this.weight.mul(this.weightGain), this.#bias()));
  }

  /**
   * downscale2d(this.forward(x)) for resample 'none' (the non-fused convolve-then-pool of
   * StyleGAN's D, the bias coming straight after the convolution, which commutes with the
   * box filter): a 3×3 kernel and the 2×2 average become one 4×4 stride-2 convolution.
   */
  forwardDownscaled(x: Tensor): Tensor {
    if (this.resample !== 'none') throw new Error(`EqualizedConv2d.forwardDownscaled is for resample 'none' layers, this one has '${this.resample}'`);
    if (this.kernelSize !== 3) return scope(() => downscale2d(this.forward(x)));
    return scope(() => conv3x3AvgPool(x, this.weight.mul(this.weightGain), this.#bias()));
  }

  #bias(): Tensor | null {
    return this.bias === null ? null : this.lrmul === 1 ? this.bias : this.bias.mul(this.lrmul);
  }
}

/** The kernel zero-padded by 1 with its four one-pixel shifts summed: k×k → (k+1)×(k+1). */
function shiftSum(w: Tensor): Tensor {
  const q = F.pad(w, [1, 1, 1, 1]);
  const a = q.slice(2, 1).slice(3, 1);
  const b = q.slice(2, 0, -1).slice(3, 1);
  const c = q.slice(2, 1).slice(3, 0, -1);
  const d = q.slice(2, 0, -1).slice(3, 0, -1);
  return a.add(b).add(c).add(d);
}
