// BigGAN (Brock, Donahue & Simonyan 2019) as ajbrock/BigGAN-PyTorch's BigGAN.py builds it:
// the architecture tables per resolution, G with a shared class embedding, hierarchical
// z and class-conditional batch norm in residual up-blocks, D with pre-activation
// residual down-blocks and a projection head, self-attention at chosen resolutions, and
// spectral norm throughout. Option names, module names and therefore state-dict keys are
// the reference's, so its checkpoints load unchanged.
import { Tensor, F, cat, noGrad } from '../torch/index.js';
import * as nn from '../nn/index.js';

/** The reference's initialisations (G_init / D_init). */
export const BIGGAN_INITS = ['ortho', 'N02', 'glorot', 'xavier'] as const;
export type BigGANInit = (typeof BIGGAN_INITS)[number];

/** The architecture options, named as the reference's config (and its state_dict.pth). */
export interface BigGANArch {
  resolution: number;
  n_classes: number;
  G_ch: number;
  D_ch: number;
  dim_z: number;
  bottom_width: number;
  /** Resolutions with self-attention, '_'-separated ('64', '32_64'; '0' for none). */
  G_attn: string;
  D_attn: string;
  G_shared: boolean;
  /** 0: the size of z. */
  shared_dim: number;
  hier: boolean;
  mybn: boolean;
  BN_eps: number;
  SN_eps: number;
  num_G_SVs: number;
  num_G_SV_itrs: number;
  num_D_SVs: number;
  num_D_SV_itrs: number;
  /** 'SN' for spectral norm in G; anything else: plain layers. */
  G_param: string;
  D_wide: boolean;
  G_init: BigGANInit;
  D_init: BigGANInit;
  /** Image channels (the reference: always 3). */
  channels: number;
}

/** utils.prepare_parser's defaults. */
export const BIGGAN_ARCH_DEFAULTS: BigGANArch = {
  resolution: 128, n_classes: 1000, G_ch: 64, D_ch: 64, dim_z: 128, bottom_width: 4, G_attn: '64', D_attn: '64',
  G_shared: false, shared_dim: 0, hier: false, mybn: false, BN_eps: 1e-5, SN_eps: 1e-8, num_G_SVs: 1, num_G_SV_itrs: 1,
  num_D_SVs: 1, num_D_SV_itrs: 1, G_param: 'SN', D_wide: true, G_init: 'ortho', D_init: 'ortho', channels: 3,
};

export interface GArch {
  inChannels: number[];
  outChannels: number[];
  resolution: number[];
  attention: boolean[];
}

export interface DArch extends GArch {
  downsample: boolean[];
}

/** The resolutions an attention string names ('0' and '' name none). */
export function attentionResolutions(s: string): number[] {
  const out = String(s).split('_').filter((t) => t !== '').map((t) => Number(t));
  if (out.some((r) => !Number.isInteger(r) || r < 0)) throw new Error(`attention resolutions must be '_'-separated integers such as 32_64, got '${s}'`);
  return out;
}

const G_TABLE: Record<number, [number[], number[]]> = {
  512: [[16, 16, 8, 8, 4, 2, 1], [16, 8, 8, 4, 2, 1, 1]],
  256: [[16, 16, 8, 8, 4, 2], [16, 8, 8, 4, 2, 1]],
  128: [[16, 16, 8, 4, 2], [16, 8, 4, 2, 1]],
  64: [[16, 16, 8, 4], [16, 8, 4, 2]],
  32: [[4, 4, 4], [4, 4, 4]],
};

/** BigGAN.G_arch: block widths (multiples of ch) and the resolution after each up-block. */
export function gArch(ch: number, attention: string, resolution: number): GArch {
  const t = G_TABLE[resolution];
  if (!t) throw new Error(`BigGAN's G has architectures for resolutions ${Object.keys(G_TABLE).join(', ')}, not ${resolution}`);
  const attn = attentionResolutions(attention);
  const res = t[0].map((_, i) => 8 * 2 ** i);
  return { inChannels: t[0].map((m) => m * ch), outChannels: t[1].map((m) => m * ch), resolution: res, attention: res.map((r) => attn.includes(r)) };
}

const D_TABLE: Record<number, { inM: number[]; outM: number[]; down: boolean[]; res: number[] }> = {
  256: { inM: [1, 2, 4, 8, 8, 16], outM: [1, 2, 4, 8, 8, 16, 16], down: [true, true, true, true, true, true, false], res: [128, 64, 32, 16, 8, 4, 4] },
  128: { inM: [1, 2, 4, 8, 16], outM: [1, 2, 4, 8, 16, 16], down: [true, true, true, true, true, false], res: [64, 32, 16, 8, 4, 4] },
  64: { inM: [1, 2, 4, 8], outM: [1, 2, 4, 8, 16], down: [true, true, true, true, false], res: [32, 16, 8, 4, 4] },
  32: { inM: [4, 4, 4], outM: [4, 4, 4, 4], down: [true, true, false, false], res: [16, 16, 16, 16] },
};

/** BigGAN.D_arch: the first block takes the image; the attention flag is by each block's resolution. */
export function dArch(ch: number, attention: string, resolution: number, channels = 3): DArch {
  const t = D_TABLE[resolution];
  if (!t) throw new Error(`BigGAN's D has architectures for resolutions ${Object.keys(D_TABLE).join(', ')}, not ${resolution}`);
  const attn = attentionResolutions(attention);
  return {
    inChannels: [channels, ...t.inM.map((m) => m * ch)], outChannels: t.outM.map((m) => m * ch),
    downsample: t.down, resolution: t.res, attention: t.res.map((r) => attn.includes(r)),
  };
}

/** Re-initialises every convolution, linear and embedding weight as Generator/Discriminator.init_weights. */
export function initBigGAN(net: nn.Module, init: BigGANInit): void {
  noGrad(() => {
    for (const m of net.modules()) {
      if (!(m instanceof nn.Conv2d || m instanceof nn.Linear || m instanceof nn.Embedding)) continue;
      switch (init) {
        case 'ortho': nn.init.orthogonal_(m.weight); break;
        case 'N02': nn.init.normal_(m.weight, 0, 0.02); break;
        case 'glorot': case 'xavier': nn.init.xavierUniform_(m.weight); break;
        default: throw new Error(`unknown BigGAN initialisation '${String(init)}': expected one of ${BIGGAN_INITS.join(', ')}`);
      }
    }
  });
}

export type ConvFactory = (inC: number, outC: number, kernel?: number, bias?: boolean) => nn.Conv2d;

/** A block of G or D with its optional attention layer: the reference's inner ModuleList. */
export type Stage = nn.ModuleList;

/** layers.GBlock: ccbn → ReLU → 2× nearest upsample → conv → ccbn → ReLU → conv, plus a 1×1 conv of the upsampled input. */
export class GBlock extends nn.Module {
  readonly conv1: nn.Conv2d;
  readonly conv2: nn.Conv2d;
  readonly conv_sc: nn.Conv2d | null;
  readonly bn1: nn.CCBN;
  readonly bn2: nn.CCBN;

  constructor(readonly inChannels: number, readonly outChannels: number, conv: ConvFactory, bn: (c: number) => nn.CCBN, readonly upsample: boolean) {
    super();
    this.conv1 = this.registerModule('conv1', conv(inChannels, outChannels));
    this.conv2 = this.registerModule('conv2', conv(outChannels, outChannels));
    this.conv_sc = this.registerModule('conv_sc', inChannels !== outChannels || upsample ? conv(inChannels, outChannels, 1) : null);
    this.bn1 = this.registerModule('bn1', bn(inChannels));
    this.bn2 = this.registerModule('bn2', bn(outChannels));
  }

  // The upsampling is folded into conv1 (nn/resample_conv.ts), and the 1×1 shortcut
  // convolution, which commutes with nearest upsampling, runs before it at a quarter of
  // the pixels: the reference's values, for 16/36 of conv1's work and 1/4 of conv_sc's.
  // Its nearest upsampling is a broadcast over each 2×2 block of h rather than a copy. (In-place
  // ReLUs: no backward reads the values they overwrite.)
  forward(x: Tensor, y: Tensor): Tensor {
    const a = this.bn1.forward(x, y).relu_();
    const h1 = this.upsample ? nn.upsampleConv3x3(a, this.conv1.effectiveWeight(), this.conv1.bias) : this.conv1.forward(a);
    const h = this.conv2.forward(this.bn2.forward(h1, y).relu_());
    const sc = this.conv_sc ? this.conv_sc.forward(x) : x;
    if (!this.upsample) return h.add(sc);
    const [, c, hh, ww] = sc.shape;
    return h.view(-1, c, hh, 2, ww, 2).add(sc.view(-1, c, hh, 1, ww, 1)).view(-1, c, 2 * hh, 2 * ww);
  }
}

/** layers.DBlock: (ReLU if pre-activated) → conv → ReLU → conv → 2×2 average pool, plus a shortcut. */
export class DBlock extends nn.Module {
  readonly conv1: nn.Conv2d;
  readonly conv2: nn.Conv2d;
  readonly conv_sc: nn.Conv2d | null;

  constructor(inChannels: number, outChannels: number, conv: ConvFactory, wide: boolean, readonly preactivation: boolean, readonly downsample: boolean) {
    super();
    const hidden = wide ? outChannels : inChannels;
    this.conv1 = this.registerModule('conv1', conv(inChannels, hidden));
    this.conv2 = this.registerModule('conv2', conv(hidden, outChannels));
    this.conv_sc = this.registerModule('conv_sc', inChannels !== outChannels || downsample ? conv(inChannels, outChannels, 1) : null);
  }

  // The pooling is folded into conv2 (one 4×4 convolution of stride 2, nn/resample_conv.ts).
  // The reference's pre-activated blocks convolve the shortcut before pooling it, its first
  // block after: a 1×1 convolution commutes with average pooling, so both pool first here
  // (the same values, a quarter of the shortcut's work).
  forward(x: Tensor): Tensor {
    // Out of place: x is the shortcut's input too (the reference's "NOT TODAY SATAN").
    const h0 = this.preactivation ? F.relu(x) : x;
    const h1 = this.conv1.forward(h0).relu_();
    const h = this.downsample ? nn.conv3x3AvgPool(h1, this.conv2.effectiveWeight(), this.conv2.bias) : this.conv2.forward(h1);
    const xs = this.downsample ? F.avgPool2d(x, 2) : x;
    return h.add_(this.conv_sc ? this.conv_sc.forward(xs) : xs);
  }
}

function attentionStage(block: nn.Module, attention: boolean, ch: number, conv: ConvFactory): Stage {
  const stage = new nn.ModuleList([block]);
  if (attention) stage.append(new nn.Attention(ch, (i, o) => conv(i, o, 1, false)));
  return stage;
}

/** BigGAN.Generator. `forward(z, y)` takes y already through `shared` (as the reference), `generate` class indices. */
export class BigGANGenerator extends nn.Module {
  readonly arch: GArch;
  /** z's size after the hierarchical split rounds it down to a multiple of the slots. */
  readonly dimZ: number;
  readonly numSlots: number;
  readonly zChunkSize: number;
  readonly sharedDim: number;
  readonly shared: nn.Embedding | nn.Identity;
  readonly linear: nn.UnaryModule;
  readonly blocks: nn.ModuleList<Stage>;
  readonly output_layer: nn.Sequential;

  constructor(readonly cfg: BigGANArch) {
    super();
    this.arch = gArch(cfg.G_ch, cfg.G_attn, cfg.resolution);
    const nBlocks = this.arch.inChannels.length;
    if (cfg.hier && !cfg.G_shared) throw new Error('BigGAN: hierarchical z (--hier) needs the shared embedding (--G_shared)');
    this.numSlots = cfg.hier ? nBlocks + 1 : 1;
    this.zChunkSize = cfg.hier ? Math.floor(cfg.dim_z / this.numSlots) : 0;
    this.dimZ = cfg.hier ? this.zChunkSize * this.numSlots : cfg.dim_z;
    if (this.dimZ < this.numSlots) throw new Error(`BigGAN: dim_z ${cfg.dim_z} is too small to split over ${this.numSlots} slots`);
    this.sharedDim = cfg.shared_dim > 0 ? cfg.shared_dim : cfg.dim_z;
    const sn = cfg.G_param === 'SN';
    const snOpts = { numSvs: cfg.num_G_SVs, numItrs: cfg.num_G_SV_itrs, eps: cfg.SN_eps };
    const conv: ConvFactory = (i, o, k = 3, bias = true) => (sn ? new nn.SNConv2d(i, o, k, { padding: (k - 1) / 2, bias, ...snOpts }) : new nn.Conv2d(i, o, k, { padding: (k - 1) / 2, bias }));
    const linear = (i: number, o: number, bias = true) => (sn ? new nn.SNLinear(i, o, { bias, ...snOpts }) : new nn.Linear(i, o, { bias }));
    // ccbn's gain and bias: linear maps of [shared embedding, z chunk], or (without the
    // shared embedding) embeddings of the class; never spectrally normalised embeddings.
    const bnLinear = cfg.G_shared ? (i: number, o: number) => linear(i, o, false) : (i: number, o: number) => new nn.Embedding(i, o);
    const bnInput = cfg.G_shared ? this.sharedDim + this.zChunkSize : cfg.n_classes;
    const bnOpts = { eps: cfg.BN_eps, mybn: cfg.mybn };
    const bn = (c: number) => new nn.CCBN(c, bnInput, bnLinear, bnOpts);

    this.shared = this.registerModule('shared', cfg.G_shared ? new nn.Embedding(cfg.n_classes, this.sharedDim) : new nn.Identity());
    this.linear = this.registerModule('linear', linear(this.dimZ / this.numSlots, this.arch.inChannels[0] * cfg.bottom_width ** 2));
    const a = this.arch;
    this.blocks = this.registerModule('blocks', new nn.ModuleList(a.outChannels.map((out, i) =>
      attentionStage(new GBlock(a.inChannels[i], out, conv, bn, true), a.attention[i], out, conv))));
    const last = a.outChannels[nBlocks - 1];
    this.output_layer = this.registerModule('output_layer', new nn.Sequential(new nn.BN(last, bnOpts), new nn.ReLU(true), conv(last, cfg.channels)));
    initBigGAN(this, cfg.G_init);
  }

  /** z [N, dimZ] and y [N, shared_dim] (G.shared's output; class indices without a shared embedding) → images in [-1, 1]. */
  forward(z: Tensor, y: Tensor): Tensor {
    const nStages = this.blocks.length;
    let ys: Tensor[];
    if (this.cfg.hier) {
      const zs = z.split(this.zChunkSize, 1);
      z = zs[0];
      ys = zs.slice(1).map((zi) => cat([y, zi], 1));
    } else ys = Array.from({ length: nStages }, () => y);
    let h = this.linear.forward(z);
    h = h.view(h.shape[0], -1, this.cfg.bottom_width, this.cfg.bottom_width);
    this.blocks.items.forEach((stage, i) => {
      for (const block of stage) h = block instanceof GBlock ? block.forward(h, ys[i]) : (block as nn.Attention).forward(h);
    });
    return F.tanh(this.output_layer.forward(h));
  }

  /** Images for class indices `classes` [N] (int64). */
  generate(z: Tensor, classes: Tensor): Tensor {
    return this.forward(z, this.shared.forward(classes));
  }
}

/** BigGAN.Discriminator: residual down-blocks, ReLU, global sum pooling, linear + projection ⟨embed(y), h⟩. */
export class BigGANDiscriminator extends nn.Module {
  readonly arch: DArch;
  readonly blocks: nn.ModuleList<Stage>;
  readonly linear: nn.SNLinear;
  readonly embed: nn.SNEmbedding;

  constructor(readonly cfg: BigGANArch, outputDim = 1) {
    super();
    this.arch = dArch(cfg.D_ch, cfg.D_attn, cfg.resolution, cfg.channels);
    const snOpts = { numSvs: cfg.num_D_SVs, numItrs: cfg.num_D_SV_itrs, eps: cfg.SN_eps };
    const conv: ConvFactory = (i, o, k = 3, bias = true) => new nn.SNConv2d(i, o, k, { padding: (k - 1) / 2, bias, ...snOpts });
    const a = this.arch;
    this.blocks = this.registerModule('blocks', new nn.ModuleList(a.outChannels.map((out, i) =>
      attentionStage(new DBlock(a.inChannels[i], out, conv, cfg.D_wide, i > 0, a.downsample[i]), a.attention[i], out, conv))));
    const last = a.outChannels[a.outChannels.length - 1];
    this.linear = this.registerModule('linear', new nn.SNLinear(last, outputDim, snOpts));
    this.embed = this.registerModule('embed', new nn.SNEmbedding(cfg.n_classes, last, snOpts));
    initBigGAN(this, cfg.D_init);
  }

  /** x [N, C, H, W] and class indices y [N] → [N, outputDim]. */
  forward(x: Tensor, y: Tensor): Tensor {
    let h = x;
    for (const stage of this.blocks) for (const block of stage) h = (block as DBlock | nn.Attention).forward(h);
    h = F.relu(h).sum([2, 3]);
    return this.linear.forward(h).add(this.embed.forward(y).mul(h).sum(1, true));
  }
}
