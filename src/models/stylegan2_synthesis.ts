// StyleGAN2's synthesis network (Karras et al. 2020, §2 and appendix B; stylegan2-ada-
// pytorch training/networks.py SynthesisLayer, ToRGBLayer, SynthesisBlock,
// SynthesisNetwork): a learned 4×4 constant, then per resolution a block of two
// modulated 3×3 convolutions (the first upsampling with the [1,3,3,1] FIR filter) whose
// styles come from w through an affine layer (bias init 1), with per-pixel noise scaled
// by a learned strength, bias, lrelu (gain √2) and an optional clamp. Architectures
// 'skip' (default: every block adds its ToRGB to the upsampled image), 'orig' (one
// ToRGB at the end) and 'resnet' (a 1×1 up-convolution skip, branches scaled by √½).
//
// Precision: the reference runs its top num_fp16_res blocks in fp16 on GPUs; here every
// block runs in the network's dtype (as the reference with force_fp32), conv_clamp
// still clamping where set.
//
// Non-square images (beyond the reference, see aspect.ts): the blocks are those of the
// shorter side and keep its names and widths, so a 64×32 model has the keys of a 32 px one;
// 'b4.const', the noise maps and every feature map have the image's aspect.
//
// Keys as the reference: 'b4.const', 'b4.resample_filter', 'b4.conv1.weight',
// '.noise_strength', '.bias', '.resample_filter', '.noise_const', '.affine.weight|bias',
// 'b4.torgb.weight|bias|affine.*', 'b8.conv0.*', 'b8.skip.weight' (resnet) ...
import { Tensor, randn, scope, zeros } from '../torch/index.js';
import * as nn from '../nn/index.js';
import { aspectOf } from './aspect.js';

export type SynthesisArchitecture = 'orig' | 'skip' | 'resnet';
export const ARCHITECTURES: readonly SynthesisArchitecture[] = ['orig', 'skip', 'resnet'];

/** Refuses an architecture the reference does not have, naming the network. */
export function checkArchitecture(a: string, network: string): void {
  if (!ARCHITECTURES.includes(a as SynthesisArchitecture)) throw new RangeError(`${network} architecture must be orig, skip or resnet, got '${a}'`);
}
export type NoiseMode = 'random' | 'const' | 'none';
export const NOISE_MODES: readonly NoiseMode[] = ['random', 'const', 'none'];

export interface SynthesisConfig {
  wDim: number;
  /** The image side, or the shorter side of a non-square image. */
  imgResolution: number;
  /** A non-square image's [height, width] (null or absent: square). */
  imgShape?: readonly [number, number] | null;
  imgChannels: number;
  channelBase: number;
  channelMax: number;
  /** Accepted for the reference's configs; every block runs in the network's dtype here. */
  numFp16Res: number;
  architecture: SynthesisArchitecture;
  resampleFilter: number[];
  /** Clamp conv outputs to ±convClamp; null = none. */
  convClamp: number | null;
  useNoise: boolean;
  activation: nn.Activation;
  kernelSize: number;
}

export const SYNTHESIS_DEFAULTS: Omit<SynthesisConfig, 'wDim' | 'imgResolution' | 'imgShape' | 'imgChannels'> = {
  channelBase: 32768, channelMax: 512, numFp16Res: 0, architecture: 'skip', resampleFilter: [1, 3, 3, 1],
  convClamp: null, useNoise: true, activation: 'lrelu', kernelSize: 3,
};

export interface SynthesisForwardOptions {
  /** 'random' (fresh noise per image), 'const' (the stored noise_const maps) or 'none'. Default 'random'. */
  noiseMode?: NoiseMode;
  /**
   * Fused grouped modulated convolution. Default: as the reference (in eval mode only)
   * except on the CPU, where the per-sample form always runs (see modconvFused).
   */
  fusedModconv?: boolean;
}

/**
 * Whether the modulated convolutions run fused when the caller does not say. The reference
 * fuses in eval mode: one grouped convolution whose groups are the batch, over per-sample
 * weights. libtorch's CPU kernels run that grouped convolution far slower than the
 * per-sample form's one ordinary convolution over the whole batch (G_ema of --cfg cifar,
 * batch 16, 2 threads: 1.8 s fused against 1.05 s), so on the CPU the per-sample form
 * always runs. The two are the reference's own two paths of the same maths: outputs agree
 * within float rounding.
 */
export function modconvFused(training: boolean, device: string): boolean {
  return !training && !device.startsWith('cpu');
}

/** The reference's channels per resolution: min(channel_base / res, channel_max). */
export function channelsAt(res: number, channelBase: number, channelMax: number): number {
  return Math.min(Math.floor(channelBase / res), channelMax);
}

/** log2 of a power-of-two resolution ≥ 4, or an error. */
export function resolutionLog2(resolution: number): number {
  const r = Math.log2(resolution);
  if (!Number.isInteger(r) || r < 2) throw new RangeError(`StyleGAN2 resolution must be a power of two ≥ 4, got ${resolution}`);
  return r;
}

export class SynthesisLayer extends nn.Module {
  readonly affine: nn.FullyConnectedLayer;
  readonly weight: Tensor;
  readonly noiseStrength: Tensor | null;
  readonly bias: Tensor;
  readonly resampleFilter: Tensor;
  readonly padding: number;
  /** The [height, width] of the output (and noise) maps: the resolution stretched by the aspect. */
  readonly size: [number, number];

  constructor(
    inChannels: number, readonly outChannels: number, wDim: number, readonly resolution: number,
    readonly up: number, readonly useNoise: boolean, readonly activation: nn.Activation, resampleFilter: number[],
    readonly convClamp: number | null, kernelSize: number, aspect: readonly [number, number] = [1, 1],
  ) {
    super();
    this.size = [resolution * aspect[0], resolution * aspect[1]];
    this.resampleFilter = this.registerBuffer('resample_filter', nn.setupFilter(resampleFilter));
    this.padding = kernelSize >> 1;
    this.affine = this.registerModule('affine', new nn.FullyConnectedLayer(wDim, inChannels, { biasInit: 1 }));
    this.weight = this.registerParameter('weight', randn([outChannels, inChannels, kernelSize, kernelSize]));
    this.noiseStrength = null;
    if (useNoise) {
      this.registerBuffer('noise_const', randn(this.size));
      this.noiseStrength = this.registerParameter('noise_strength', zeros([]));
    }
    this.bias = this.registerParameter('bias', zeros([outChannels]));
  }

  get noiseConst(): Tensor | null {
    return this.own('noise_const');
  }

  forward(x: Tensor, w: Tensor, o: { noiseMode: NoiseMode; fused: boolean; gain?: number }): Tensor {
    return scope(() => {
      const styles = this.affine.forward(w);
      let noise: Tensor | null = null;
      if (this.useNoise && o.noiseMode === 'random') {
        // Drawn and scaled in float32 whatever the network's dtype, as the reference (a 0-d
        // strength does not promote the noise): a float64 network then sees the same values.
        const z = randn([x.size(0), 1, ...this.size], { device: x.device }).mul(this.noiseStrength!);
        noise = z.dtype === x.dtype ? z : z.to(x.dtype);
      } else if (this.useNoise && o.noiseMode === 'const') {
        noise = this.noiseConst!.mul(this.noiseStrength!);
      }
      const gain = o.gain ?? 1;
      const actGain = nn.ACTIVATIONS[this.activation].gain * gain;
      const clamp = this.convClamp === null ? null : this.convClamp * gain;
      const rs = { up: this.up, padding: this.padding, filter: this.resampleFilter, flipWeight: this.up === 1, fused: o.fused };
      if (!nn.commutesWithGain(this.activation) || !(actGain > 0)) {
        return nn.biasAct(nn.modulatedConv2d(x, this.weight, styles, { ...rs, noise }), this.bias, { act: this.activation, gain: actGain, clamp });
      }
      // act(conv·d + noise + b)·g = act(conv·(d·g) + noise·g + b·g): the gain goes into the
      // demodulation coefficients, the (small) noise and the bias, not over the activations.
      const y = nn.modulatedConv2d(x, this.weight, styles, { ...rs, gain: actGain, noise: noise && actGain !== 1 ? noise.mul(actGain) : noise });
      return nn.biasAct(y, actGain !== 1 ? this.bias.mul(actGain) : this.bias, { act: this.activation, gain: 1, clamp });
    });
  }
}

export class ToRGBLayer extends nn.Module {
  readonly affine: nn.FullyConnectedLayer;
  readonly weight: Tensor;
  readonly bias: Tensor;
  readonly weightGain: number;

  constructor(inChannels: number, outChannels: number, wDim: number, readonly convClamp: number | null, kernelSize = 1) {
    super();
    this.affine = this.registerModule('affine', new nn.FullyConnectedLayer(wDim, inChannels, { biasInit: 1 }));
    this.weight = this.registerParameter('weight', randn([outChannels, inChannels, kernelSize, kernelSize]));
    this.bias = this.registerParameter('bias', zeros([outChannels]));
    this.weightGain = 1 / Math.sqrt(inChannels * kernelSize * kernelSize);
  }

  forward(x: Tensor, w: Tensor, fused: boolean): Tensor {
    return scope(() => {
      const styles = this.affine.forward(w).mul(this.weightGain);
      const y = nn.modulatedConv2d(x, this.weight, styles, { demodulate: false, fused });
      return nn.biasAct(y, this.bias, { clamp: this.convClamp });
    });
  }
}

export class SynthesisBlock extends nn.Module {
  readonly const: Tensor | null;
  readonly conv0: SynthesisLayer | null;
  readonly conv1: SynthesisLayer;
  readonly torgb: ToRGBLayer | null;
  readonly skip: nn.Conv2dLayer | null;
  readonly resampleFilter: Tensor;
  /** The w's this block reads: its convolutions', then its ToRGB's. */
  readonly numConv: number;
  readonly numTorgb: number;

  constructor(readonly inChannels: number, outChannels: number, readonly resolution: number, readonly isLast: boolean, readonly cfg: SynthesisConfig) {
    super();
    const c = cfg;
    this.resampleFilter = this.registerBuffer('resample_filter', nn.setupFilter(c.resampleFilter));
    const aspect = aspectOf(c.imgResolution, c.imgShape, 'StyleGAN2 synthesis');
    this.const = inChannels === 0 ? this.registerParameter('const', randn([outChannels, resolution * aspect[0], resolution * aspect[1]])) : null;
    const layer = (cin: number, up: number): SynthesisLayer =>
      new SynthesisLayer(cin, outChannels, c.wDim, resolution, up, c.useNoise, c.activation, c.resampleFilter, c.convClamp, c.kernelSize, aspect);
    this.conv0 = inChannels !== 0 ? this.registerModule('conv0', layer(inChannels, 2)) : null;
    this.conv1 = this.registerModule('conv1', layer(outChannels, 1));
    this.numConv = inChannels !== 0 ? 2 : 1;
    const hasRgb = isLast || c.architecture === 'skip';
    this.torgb = hasRgb ? this.registerModule('torgb', new ToRGBLayer(outChannels, c.imgChannels, c.wDim, c.convClamp)) : null;
    this.numTorgb = hasRgb ? 1 : 0;
    this.skip = inChannels !== 0 && c.architecture === 'resnet'
      ? this.registerModule('skip', new nn.Conv2dLayer(inChannels, outChannels, 1, { bias: false, up: 2, resampleFilter: c.resampleFilter }))
      : null;
  }

  /** ws [N, numConv + numTorgb, wDim]; returns the features and the image so far. */
  forward(x: Tensor | null, img: Tensor | null, ws: Tensor, o: { noiseMode: NoiseMode; fused: boolean }): [Tensor, Tensor | null] {
    return scope(() => {
      const w = ws.unbind(1);
      let i = 0;
      let y: Tensor;
      if (this.const) {
        y = this.conv1.forward(this.const.unsqueeze(0).repeat(ws.size(0), 1, 1, 1), w[i++], o);
      } else if (this.skip) {
        const s = this.skip.forward(x!, Math.SQRT1_2);
        y = this.conv0!.forward(x!, w[i++], o);
        y = s.add(this.conv1.forward(y, w[i++], { ...o, gain: Math.SQRT1_2 }));
      } else {
        y = this.conv0!.forward(x!, w[i++], o);
        y = this.conv1.forward(y, w[i++], o);
      }
      let im = img ? nn.upsample2d(img, this.resampleFilter) : null;
      if (this.torgb) {
        const rgb = this.torgb.forward(y, w[i++], o.fused);
        im = im ? im.add(rgb) : rgb;
      }
      return [y, im];
    });
  }
}

export class SynthesisNetwork extends nn.Module {
  readonly cfg: SynthesisConfig;
  readonly blocks: SynthesisBlock[] = [];
  readonly numWs: number;

  constructor(cfg: Partial<SynthesisConfig> & Pick<SynthesisConfig, 'wDim' | 'imgResolution' | 'imgChannels'>) {
    super();
    const c = (this.cfg = { ...SYNTHESIS_DEFAULTS, ...cfg });
    checkArchitecture(c.architecture, 'synthesis');
    const R = resolutionLog2(c.imgResolution);
    aspectOf(c.imgResolution, c.imgShape, 'StyleGAN2 synthesis');
    let numWs = 0;
    for (let r = 2; r <= R; r++) {
      const res = 2 ** r;
      const inCh = res > 4 ? channelsAt(res / 2, c.channelBase, c.channelMax) : 0;
      const block = this.registerModule(`b${res}`, new SynthesisBlock(inCh, channelsAt(res, c.channelBase, c.channelMax), res, r === R, c));
      this.blocks.push(block);
      numWs += block.numConv + (r === R ? block.numTorgb : 0);
    }
    this.numWs = numWs;
  }

  /** ws [N, numWs, wDim] → images [N, imgChannels, H, W] (R × R when square). */
  forward(ws: Tensor, o: SynthesisForwardOptions = {}): Tensor {
    const c = this.cfg;
    if (ws.ndim !== 3 || ws.size(1) !== this.numWs || ws.size(2) !== c.wDim) {
      throw new Error(`synthesis: ws must have shape [N, ${this.numWs}, ${c.wDim}], got [${ws.shape.join(', ')}]`);
    }
    const noiseMode = o.noiseMode ?? 'random';
    if (!NOISE_MODES.includes(noiseMode)) throw new RangeError(`noise_mode must be random, const or none, got '${noiseMode}'`);
    const fused = o.fusedModconv ?? modconvFused(this.training, ws.device);
    return scope(() => {
      let x: Tensor | null = null, img: Tensor | null = null;
      let at = 0;
      for (const b of this.blocks) {
        // Each block reads its convolutions' w's and the ToRGB's, which is the next block's first.
        [x, img] = b.forward(x, img, ws.narrow(1, at, b.numConv + b.numTorgb), { noiseMode, fused });
        at += b.numConv;
      }
      return img!;
    });
  }
}
