// BigGAN-deep (Brock, Donahue & Simonyan 2019, appendix B) as ajbrock/BigGAN-PyTorch's
// BigGANdeep.py builds it: G_depth / D_depth bottleneck residual blocks per resolution
// (1×1 convolution down to a quarter of the channels, two 3×3 convolutions, 1×1 back up),
// G's skip dropping channels and D's skip concatenating learned ones instead of 1×1
// projections, and the whole z (not a chunk) concatenated to the shared class embedding
// for the first linear layer and every block's conditional batch norm. The layers are
// BigGAN's (spectral norm, ccbn, attention, initialisations); module names, and so the
// state-dict keys, are the reference's.
import { Tensor, F, cat } from '../torch/index.js';
import * as nn from '../nn/index.js';
import { BIGGAN_ARCH_DEFAULTS, attentionResolutions, initBigGAN, type BigGANArch, type ConvFactory, type Stage } from './biggan.js';

/** BigGAN's architecture options plus the number of blocks per resolution. */
export interface BigGANDeepArch extends BigGANArch {
  G_depth: number;
  D_depth: number;
}

/** The deep model's defaults: the parser's, with launch_BigGAN_deep.sh's structural choices (depth 2, shared embedding, hierarchical z). */
export const BIGGAN_DEEP_ARCH_DEFAULTS: BigGANDeepArch = {
  ...BIGGAN_ARCH_DEFAULTS, G_shared: true, hier: true, shared_dim: 128, G_depth: 2, D_depth: 2,
};

/** The bottleneck width of a block with `channels` channels (BigGANdeep.py's channel_ratio 4). */
const CHANNEL_RATIO = 4;

export interface DeepGArch {
  inChannels: number[];
  outChannels: number[];
  resolution: number[];
  attention: boolean[];
}

export interface DeepDArch extends DeepGArch {
  downsample: boolean[];
}

const G_TABLE: Record<number, [number[], number[]]> = {
  256: [[16, 16, 8, 8, 4, 2], [16, 8, 8, 4, 2, 1]],
  128: [[16, 16, 8, 4, 2], [16, 8, 4, 2, 1]],
  64: [[16, 16, 8, 4], [16, 8, 4, 2]],
  32: [[4, 4, 4], [4, 4, 4]],
};

/** BigGANdeep.G_arch: stage widths (multiples of ch) and the resolution after each stage. */
export function deepGArch(ch: number, attention: string, resolution: number): DeepGArch {
  const t = G_TABLE[resolution];
  if (!t) throw new Error(`BigGAN-deep's G has architectures for resolutions ${Object.keys(G_TABLE).join(', ')}, not ${resolution}`);
  const attn = attentionResolutions(attention);
  const res = t[0].map((_, i) => 8 * 2 ** i);
  return { inChannels: t[0].map((m) => m * ch), outChannels: t[1].map((m) => m * ch), resolution: res, attention: res.map((r) => attn.includes(r)) };
}

const D_TABLE: Record<number, { inM: number[]; outM: number[]; down: boolean[]; res: number[] }> = {
  256: { inM: [1, 2, 4, 8, 8, 16], outM: [2, 4, 8, 8, 16, 16], down: [true, true, true, true, true, true], res: [128, 64, 32, 16, 8, 4] },
  128: { inM: [1, 2, 4, 8, 16], outM: [2, 4, 8, 16, 16], down: [true, true, true, true, true], res: [64, 32, 16, 8, 4] },
  64: { inM: [1, 2, 4, 8], outM: [2, 4, 8, 16], down: [true, true, true, true], res: [32, 16, 8, 4] },
  32: { inM: [4, 4, 4], outM: [4, 4, 4], down: [true, true, false], res: [16, 16, 16] },
};

/** BigGANdeep.D_arch: stage widths after input_conv; the attention flag is by each stage's resolution. */
export function deepDArch(ch: number, attention: string, resolution: number): DeepDArch {
  const t = D_TABLE[resolution];
  if (!t) throw new Error(`BigGAN-deep's D has architectures for resolutions ${Object.keys(D_TABLE).join(', ')}, not ${resolution}`);
  const attn = attentionResolutions(attention);
  return {
    inChannels: t.inM.map((m) => m * ch), outChannels: t.outM.map((m) => m * ch),
    downsample: t.down, resolution: t.res, attention: t.res.map((r) => attn.includes(r)),
  };
}

function bottleneck(channels: number, what: string): number {
  const hidden = Math.floor(channels / CHANNEL_RATIO);
  if (hidden < 1) throw new Error(`BigGAN-deep: a ${what} block of ${channels} channels has no bottleneck channels (it needs at least ${CHANNEL_RATIO}); raise the channel multiplier`);
  return hidden;
}

/**
 * BigGANdeep.GBlock: ccbn → ReLU → 1×1 conv → ccbn → ReLU → (2× nearest upsample) → 3×3 conv
 * → ccbn → ReLU → 3×3 conv → ccbn → ReLU → 1×1 conv, plus the input's first out-channels
 * (upsampled), with no shortcut weights.
 */
export class DeepGBlock extends nn.Module {
  readonly hidden: number;
  readonly conv1: nn.Conv2d;
  readonly conv2: nn.Conv2d;
  readonly conv3: nn.Conv2d;
  readonly conv4: nn.Conv2d;
  readonly bn1: nn.CCBN;
  readonly bn2: nn.CCBN;
  readonly bn3: nn.CCBN;
  readonly bn4: nn.CCBN;

  constructor(readonly inChannels: number, readonly outChannels: number, conv: ConvFactory, bn: (c: number) => nn.CCBN, readonly upsample: boolean) {
    super();
    if (outChannels > inChannels) throw new Error(`BigGAN-deep: a G block cannot widen its skip (${inChannels} → ${outChannels} channels)`);
    const hidden = (this.hidden = bottleneck(inChannels, 'G'));
    this.conv1 = this.registerModule('conv1', conv(inChannels, hidden, 1));
    this.conv2 = this.registerModule('conv2', conv(hidden, hidden));
    this.conv3 = this.registerModule('conv3', conv(hidden, hidden));
    this.conv4 = this.registerModule('conv4', conv(hidden, outChannels, 1));
    this.bn1 = this.registerModule('bn1', bn(inChannels));
    this.bn2 = this.registerModule('bn2', bn(hidden));
    this.bn3 = this.registerModule('bn3', bn(hidden));
    this.bn4 = this.registerModule('bn4', bn(hidden));
  }

  // The upsampling is folded into conv2 (nn/resample_conv.ts), and the skip's nearest
  // upsampling is a broadcast add over each 2×2 block of h, as in BigGAN's GBlock.
  forward(x: Tensor, y: Tensor): Tensor {
    let h = this.conv1.forward(this.bn1.forward(x, y).relu_());
    h = this.bn2.forward(h, y).relu_();
    h = this.upsample ? nn.upsampleConv3x3(h, this.conv2.effectiveWeight(), this.conv2.bias) : this.conv2.forward(h);
    h = this.conv3.forward(this.bn3.forward(h, y).relu_());
    h = this.conv4.forward(this.bn4.forward(h, y).relu_());
    const sc = this.inChannels !== this.outChannels ? x.narrow(1, 0, this.outChannels) : x;
    if (!this.upsample) return h.add(sc);
    const [, c, hh, ww] = sc.shape;
    return h.view(-1, c, hh, 2, ww, 2).add(sc.reshape(-1, c, hh, 1, ww, 1)).view(-1, c, 2 * hh, 2 * ww);
  }
}

/**
 * BigGANdeep.DBlock: ReLU → 1×1 conv → ReLU → 3×3 conv → ReLU → 3×3 conv → ReLU → (2×2 average
 * pool) → 1×1 conv, plus the (pooled) input with learned channels concatenated when it widens.
 */
export class DeepDBlock extends nn.Module {
  readonly hidden: number;
  readonly conv1: nn.Conv2d;
  readonly conv2: nn.Conv2d;
  readonly conv3: nn.Conv2d;
  readonly conv4: nn.Conv2d;
  readonly conv_sc: nn.Conv2d | null;

  constructor(inChannels: number, readonly outChannels: number, conv: ConvFactory, readonly downsample: boolean) {
    super();
    if (outChannels < inChannels) throw new Error(`BigGAN-deep: a D block cannot narrow its skip (${inChannels} → ${outChannels} channels)`);
    const hidden = (this.hidden = bottleneck(outChannels, 'D'));
    this.conv1 = this.registerModule('conv1', conv(inChannels, hidden, 1));
    this.conv2 = this.registerModule('conv2', conv(hidden, hidden));
    this.conv3 = this.registerModule('conv3', conv(hidden, hidden));
    this.conv4 = this.registerModule('conv4', conv(hidden, outChannels, 1));
    this.conv_sc = this.registerModule('conv_sc', inChannels !== outChannels ? conv(inChannels, outChannels - inChannels, 1) : null);
  }

  forward(x: Tensor): Tensor {
    // Out of place: x is the skip's input too.
    let h = this.conv1.forward(F.relu(x)).relu_();
    h = this.conv2.forward(h).relu_();
    h = this.conv3.forward(h).relu_();
    if (this.downsample) h = F.avgPool2d(h, 2);
    h = this.conv4.forward(h);
    const xs = this.downsample ? F.avgPool2d(x, 2) : x;
    return h.add_(this.conv_sc ? cat([xs, this.conv_sc.forward(xs)], 1) : xs);
  }
}

/** BigGANdeep.Generator. `forward(z, y)` takes y already through `shared`, `generate` class indices. */
export class BigGANDeepGenerator extends nn.Module {
  readonly arch: DeepGArch;
  readonly dimZ: number;
  readonly sharedDim: number;
  readonly shared: nn.Embedding;
  readonly linear: nn.UnaryModule;
  readonly blocks: nn.ModuleList<Stage>;
  readonly output_layer: nn.Sequential;

  constructor(readonly cfg: BigGANDeepArch) {
    super();
    // The reference sizes the first linear layer and every ccbn for [shared(y), z]: without
    // the shared embedding and hierarchical z its forward cannot run.
    if (!cfg.G_shared || !cfg.hier) throw new Error('BigGAN-deep needs the shared embedding and hierarchical z (--G_shared --hier)');
    if (!Number.isInteger(cfg.G_depth) || cfg.G_depth < 1) throw new Error(`BigGAN-deep: G_depth must be a positive integer, got ${cfg.G_depth}`);
    this.arch = deepGArch(cfg.G_ch, cfg.G_attn, cfg.resolution);
    this.dimZ = cfg.dim_z;
    this.sharedDim = cfg.shared_dim > 0 ? cfg.shared_dim : cfg.dim_z;
    const sn = cfg.G_param === 'SN';
    const snOpts = { numSvs: cfg.num_G_SVs, numItrs: cfg.num_G_SV_itrs, eps: cfg.SN_eps };
    const conv: ConvFactory = (i, o, k = 3, bias = true) => (sn ? new nn.SNConv2d(i, o, k, { padding: (k - 1) / 2, bias, ...snOpts }) : new nn.Conv2d(i, o, k, { padding: (k - 1) / 2, bias }));
    const linear = (i: number, o: number, bias = true) => (sn ? new nn.SNLinear(i, o, { bias, ...snOpts }) : new nn.Linear(i, o, { bias }));
    const condDim = this.sharedDim + this.dimZ;
    const bnOpts = { eps: cfg.BN_eps, mybn: cfg.mybn };
    const bn = (c: number) => new nn.CCBN(c, condDim, (i, o) => linear(i, o, false), bnOpts);

    this.shared = this.registerModule('shared', new nn.Embedding(cfg.n_classes, this.sharedDim));
    this.linear = this.registerModule('linear', linear(condDim, this.arch.inChannels[0] * cfg.bottom_width ** 2));
    const a = this.arch, depth = cfg.G_depth;
    // As the reference: a stage's first block keeps its input width, the others narrow to the
    // stage's output width, and the last upsamples. Depths other than 2 only chain where the
    // widths agree (32 px), so the chain is checked here rather than failing in a forward.
    // Unlike D, every G block is its own entry of `blocks` (the reference's list of one-block
    // lists), the attention layer joining the entry of its stage's last block.
    let width = a.inChannels[0];
    const entries: Stage[] = [];
    a.outChannels.forEach((out, i) => {
      for (let j = 0; j < depth; j++) {
        if (width !== a.inChannels[i]) throw new Error(`BigGAN-deep: G_depth ${depth} does not chain at resolution ${cfg.resolution} (a block of ${a.inChannels[i]} channels would get ${width}); the reference builds it only with depth 2 there`);
        width = j === 0 ? a.inChannels[i] : out;
        entries.push(new nn.ModuleList<nn.Module>([new DeepGBlock(a.inChannels[i], width, conv, bn, j === depth - 1)]));
      }
      if (a.attention[i]) entries[entries.length - 1].append(new nn.Attention(width, (ci, co) => conv(ci, co, 1, false)));
    });
    this.blocks = this.registerModule('blocks', new nn.ModuleList(entries));
    if (width !== a.outChannels[a.outChannels.length - 1]) throw new Error(`BigGAN-deep: G_depth ${depth} does not reach the output width at resolution ${cfg.resolution}; the reference builds it only with depth 2 there`);
    const last = a.outChannels[a.outChannels.length - 1];
    this.output_layer = this.registerModule('output_layer', new nn.Sequential(new nn.BN(last, { mybn: cfg.mybn }), new nn.ReLU(), conv(last, cfg.channels)));
    initBigGAN(this, cfg.G_init);
  }

  /** z [N, dim_z] and y [N, shared_dim] (G.shared's output) → images in [-1, 1]. */
  forward(z: Tensor, y: Tensor): Tensor {
    const zy = cat([y, z], 1);
    let h = this.linear.forward(zy);
    h = h.view(h.shape[0], -1, this.cfg.bottom_width, this.cfg.bottom_width);
    for (const stage of this.blocks) {
      for (const block of stage) h = block instanceof DeepGBlock ? block.forward(h, zy) : (block as nn.Attention).forward(h);
    }
    return F.tanh(this.output_layer.forward(h));
  }

  /** Images for class indices `classes` [N] (int64). */
  generate(z: Tensor, classes: Tensor): Tensor {
    return this.forward(z, this.shared.forward(classes));
  }
}

/** BigGANdeep.Discriminator: input conv, bottleneck down-blocks, ReLU, global sum pooling, linear + projection. */
export class BigGANDeepDiscriminator extends nn.Module {
  readonly arch: DeepDArch;
  readonly input_conv: nn.Conv2d;
  readonly blocks: nn.ModuleList<Stage>;
  readonly linear: nn.SNLinear;
  readonly embed: nn.SNEmbedding;

  constructor(readonly cfg: BigGANDeepArch, outputDim = 1) {
    super();
    if (!Number.isInteger(cfg.D_depth) || cfg.D_depth < 1) throw new Error(`BigGAN-deep: D_depth must be a positive integer, got ${cfg.D_depth}`);
    this.arch = deepDArch(cfg.D_ch, cfg.D_attn, cfg.resolution);
    const snOpts = { numSvs: cfg.num_D_SVs, numItrs: cfg.num_D_SV_itrs, eps: cfg.SN_eps };
    const conv: ConvFactory = (i, o, k = 3, bias = true) => new nn.SNConv2d(i, o, k, { padding: (k - 1) / 2, bias, ...snOpts });
    const a = this.arch;
    this.input_conv = this.registerModule('input_conv', conv(cfg.channels, a.inChannels[0]));
    // Each stage's first block widens and downsamples; the rest keep its width.
    this.blocks = this.registerModule('blocks', new nn.ModuleList(a.outChannels.map((out, i) => {
      const stage: Stage = new nn.ModuleList<nn.Module>(Array.from({ length: cfg.D_depth }, (_, j) =>
        new DeepDBlock(j === 0 ? a.inChannels[i] : out, out, conv, a.downsample[i] && j === 0)));
      if (a.attention[i]) stage.append(new nn.Attention(out, (ci, co) => conv(ci, co, 1, false)));
      return stage;
    })));
    const last = a.outChannels[a.outChannels.length - 1];
    this.linear = this.registerModule('linear', new nn.SNLinear(last, outputDim, snOpts));
    this.embed = this.registerModule('embed', new nn.SNEmbedding(cfg.n_classes, last, snOpts));
    initBigGAN(this, cfg.D_init);
  }

  /** x [N, C, H, W] and class indices y [N] → [N, outputDim]. */
  forward(x: Tensor, y: Tensor): Tensor {
    let h = this.input_conv.forward(x);
    for (const stage of this.blocks) for (const block of stage) h = (block as DeepDBlock | nn.Attention).forward(h);
    h = F.relu(h).sum([2, 3]);
    return this.linear.forward(h).add(this.embed.forward(y).mul(h).sum(1, true));
  }
}
