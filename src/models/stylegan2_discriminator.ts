// StyleGAN2's discriminator (Karras et al. 2020, appendix B; stylegan2-ada-pytorch
// training/networks.py DiscriminatorBlock, DiscriminatorEpilogue, Discriminator): per
// resolution two 3×3 convolutions, the second downsampling with the [1,3,3,1] FIR filter;
// architecture 'resnet' (default: a 1×1 down-convolution skip, both branches scaled √½),
// 'skip' (a FromRGB per block, the image downsampled alongside) or 'orig' (FromRGB at the
// top only); then at 4×4 minibatch stddev, a 3×3 conv, a dense layer and the output. A
// conditional D projects its output onto a vector mapped from the label (cmap, through a
// mapping network of 8 layers), scaled by 1/√cmap_dim.
//
// A non-square D (see aspect.ts) has the blocks and keys of its shorter side; its epilogue
// works on the 4×4·k map, so only 'b4.fc' widens.
//
// Keys as the reference: 'b32.fromrgb.*', 'b32.conv0.*', 'b32.conv1.*', 'b32.skip.weight',
// 'b32.resample_filter', 'mapping.embed.*', 'mapping.fc0.*', 'b4.conv.*', 'b4.fc.*', 'b4.out.*'.
import { Tensor, scope } from '../torch/index.js';
import * as nn from '../nn/index.js';
import { MappingNetwork, MAPPING_DEFAULTS, type MappingConfig } from './stylegan2_mapping.js';
import { channelsAt, checkArchitecture, resolutionLog2, type SynthesisArchitecture } from './stylegan2_synthesis.js';
import { aspectOf } from './aspect.js';

export interface DiscriminatorConfig {
  cDim: number;
  /** The image side, or the shorter side of a non-square image. */
  imgResolution: number;
  /** A non-square image's [height, width] (null or absent: square). */
  imgShape?: readonly [number, number] | null;
  imgChannels: number;
  architecture: SynthesisArchitecture;
  channelBase: number;
  channelMax: number;
  /** Accepted for the reference's configs; every block runs in the network's dtype here. */
  numFp16Res: number;
  convClamp: number | null;
  /** Size of the label projection (null: the 4×4 channels). */
  cmapDim: number | null;
  activation: nn.Activation;
  resampleFilter: number[];
  /** Minibatch stddev group (null: the whole minibatch). */
  mbstdGroupSize: number | null;
  /** Minibatch stddev features (0: no stddev layer). */
  mbstdNumChannels: number;
  /** The label mapping network's settings (the reference's D mapping_kwargs). */
  mapping: Partial<Pick<MappingConfig, 'numLayers' | 'embedFeatures' | 'layerFeatures' | 'activation' | 'lrMultiplier'>>;
}

export const DISCRIMINATOR_DEFAULTS: Omit<DiscriminatorConfig, 'cDim' | 'imgResolution' | 'imgShape' | 'imgChannels'> = {
  architecture: 'resnet', channelBase: 32768, channelMax: 512, numFp16Res: 0, convClamp: null, cmapDim: null,
  activation: 'lrelu', resampleFilter: [1, 3, 3, 1], mbstdGroupSize: 4, mbstdNumChannels: 1, mapping: {},
};

export class DiscriminatorBlock extends nn.Module {
  readonly resampleFilter: Tensor;
  readonly fromrgb: nn.Conv2dLayer | null;
  readonly conv0: nn.Conv2dLayer;
  readonly conv1: nn.Conv2dLayer;
  readonly skip: nn.Conv2dLayer | null;

  constructor(readonly inChannels: number, tmpChannels: number, outChannels: number, readonly resolution: number, readonly cfg: DiscriminatorConfig) {
    super();
    const c = cfg;
    const act = c.activation, clamp = c.convClamp;
    this.resampleFilter = this.registerBuffer('resample_filter', nn.setupFilter(c.resampleFilter));
    this.fromrgb = inChannels === 0 || c.architecture === 'skip'
      ? this.registerModule('fromrgb', new nn.Conv2dLayer(c.imgChannels, tmpChannels, 1, { activation: act, convClamp: clamp }))
      : null;
    this.conv0 = this.registerModule('conv0', new nn.Conv2dLayer(tmpChannels, tmpChannels, 3, { activation: act, convClamp: clamp }));
    this.conv1 = this.registerModule('conv1', new nn.Conv2dLayer(tmpChannels, outChannels, 3, { activation: act, down: 2, resampleFilter: c.resampleFilter, convClamp: clamp }));
    this.skip = c.architecture === 'resnet'
      ? this.registerModule('skip', new nn.Conv2dLayer(tmpChannels, outChannels, 1, { bias: false, down: 2, resampleFilter: c.resampleFilter }))
      : null;
  }

  forward(x: Tensor | null, img: Tensor | null): [Tensor, Tensor | null] {
    return scope(() => {
      let h = x;
      let im = img;
      if (this.fromrgb) {
        const y = this.fromrgb.forward(im!);
        h = h ? h.add(y) : y;
        im = this.cfg.architecture === 'skip' ? nn.downsample2d(im!, this.resampleFilter) : null;
      }
      if (this.skip) {
        const s = this.skip.forward(h!, Math.SQRT1_2);
        h = s.add(this.conv1.forward(this.conv0.forward(h!), Math.SQRT1_2));
      } else {
        h = this.conv1.forward(this.conv0.forward(h!));
      }
      return [h, im];
    });
  }
}

export class DiscriminatorEpilogue extends nn.Module {
  readonly fromrgb: nn.Conv2dLayer | null;
  readonly conv: nn.Conv2dLayer;
  readonly fc: nn.FullyConnectedLayer;
  readonly out: nn.FullyConnectedLayer;

  constructor(readonly inChannels: number, readonly cmapDim: number, readonly resolution: number, readonly cfg: DiscriminatorConfig) {
    super();
    const c = cfg;
    this.fromrgb = c.architecture === 'skip' ? this.registerModule('fromrgb', new nn.Conv2dLayer(c.imgChannels, inChannels, 1, { activation: c.activation })) : null;
    this.conv = this.registerModule('conv', new nn.Conv2dLayer(inChannels + c.mbstdNumChannels, inChannels, 3, { activation: c.activation, convClamp: c.convClamp }));
    const [ah, aw] = aspectOf(c.imgResolution, c.imgShape, 'StyleGAN2 discriminator');
    this.fc = this.registerModule('fc', new nn.FullyConnectedLayer(inChannels * resolution * ah * resolution * aw, inChannels, { activation: c.activation }));
    this.out = this.registerModule('out', new nn.FullyConnectedLayer(inChannels, cmapDim === 0 ? 1 : cmapDim));
  }

  forward(x: Tensor, img: Tensor | null, cmap: Tensor | null): Tensor {
    const c = this.cfg;
    return scope(() => {
      let h = x;
      if (this.fromrgb) h = h.add(this.fromrgb.forward(img!));
      if (c.mbstdNumChannels > 0) h = nn.minibatchStddev(h, c.mbstdGroupSize ?? h.size(0), c.mbstdNumChannels);
      h = this.conv.forward(h);
      h = this.out.forward(this.fc.forward(h.flatten(1)));
      if (this.cmapDim > 0) h = h.mul(cmap!).sum(1, true).mul(1 / Math.sqrt(this.cmapDim));
      return h;
    });
  }
}

export class Discriminator extends nn.Module {
  readonly cfg: DiscriminatorConfig;
  readonly blocks: DiscriminatorBlock[] = [];
  readonly mapping: MappingNetwork | null;
  readonly b4: DiscriminatorEpilogue;
  /** The image size it takes. */
  readonly #height: number;
  readonly #width: number;

  constructor(cfg: Partial<DiscriminatorConfig> & Pick<DiscriminatorConfig, 'cDim' | 'imgResolution' | 'imgChannels'>) {
    super();
    const c = (this.cfg = { ...DISCRIMINATOR_DEFAULTS, ...cfg });
    checkArchitecture(c.architecture, 'discriminator');
    const R = resolutionLog2(c.imgResolution);
    [this.#height, this.#width] = aspectOf(c.imgResolution, c.imgShape, 'StyleGAN2 discriminator').map((a) => a * c.imgResolution);
    const ch = (res: number): number => channelsAt(res, c.channelBase, c.channelMax);
    const cmapDim = c.cDim === 0 ? 0 : c.cmapDim ?? ch(4);
    for (let r = R; r >= 3; r--) {
      const res = 2 ** r;
      const inCh = res < c.imgResolution ? ch(res) : 0;
      this.blocks.push(this.registerModule(`b${res}`, new DiscriminatorBlock(inCh, ch(res), ch(res / 2), res, c)));
    }
    this.mapping = c.cDim > 0
      ? this.registerModule('mapping', new MappingNetwork({ ...MAPPING_DEFAULTS, ...c.mapping, zDim: 0, cDim: c.cDim, wDim: cmapDim, numWs: null, wAvgBeta: null }))
      : null;
    this.b4 = this.registerModule('b4', new DiscriminatorEpilogue(ch(4), cmapDim, 4, c));
  }

  /** img [N, C, H, W] (R × R when square); c [N, cDim] or class indices [N] for a conditional D → logits [N, 1]. */
  forward(img: Tensor, c: Tensor | null = null): Tensor {
    const cfg = this.cfg;
    if (img.ndim !== 4 || img.size(1) !== cfg.imgChannels || img.size(2) !== this.#height || img.size(3) !== this.#width) {
      throw new Error(`StyleGAN2 discriminator: images must have shape [N, ${cfg.imgChannels}, ${this.#height}, ${this.#width}], got [${img.shape.join(', ')}]`);
    }
    return scope(() => {
      let x: Tensor | null = null;
      let im: Tensor | null = img;
      for (const b of this.blocks) [x, im] = b.forward(x, im);
      const cmap = this.mapping ? this.mapping.forward(null, c) : null;
      return this.b4.forward(x!, im, cmap);
    });
  }
}
