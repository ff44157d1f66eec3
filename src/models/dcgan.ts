// DCGAN (Radford, Metz & Chintala 2016): all-convolutional G and D with batch norm,
// ReLU in G, leaky ReLU in D, tanh output. The layer order and `main.N` keys follow
// pytorch/examples' dcgan, so its 64×64 weights (nz=100, ngf=ndf=64) load unchanged;
// other resolutions add or remove one stride-2 block per octave.
import { Tensor, cat, noGrad } from '../torch/index.js';
import * as nn from '../nn/index.js';
import { aspectOf } from './aspect.js';

export interface DCGANConfig {
  /** Output side in pixels (the shorter side of a non-square image): a power of two from 16 to 128. */
  resolution: number;
  /**
   * A non-square image's [height, width] (null or absent: square): G's first and D's last
   * 4×4 kernels become 4·(H/R) × 4·(W/R), the layers between are unchanged (see aspect.ts).
   */
  shape?: readonly [number, number] | null;
  /** Latent size (pytorch/examples: nz). */
  nz: number;
  /** Base widths of G and D (ngf, ndf). */
  ngf: number;
  ndf: number;
  /** Image channels. */
  nc: number;
  /** Classes for a conditional model; 0 for an unconditional one. */
  numClasses: number;
  /** Size of G's label embedding, concatenated to z (conditional only). */
  embedDim: number;
}

export const DCGAN_DEFAULTS: DCGANConfig = { resolution: 64, nz: 100, ngf: 64, ndf: 64, nc: 3, numClasses: 0, embedDim: 50 };

/** Number of stride-2 layers between 4×4 and the resolution. */
function octaves(resolution: number): number {
  const n = Math.log2(resolution);
  if (!Number.isInteger(n) || resolution < 16 || resolution > 128) {
    throw new Error(`DCGAN resolution must be a power of two from 16 to 128, got ${resolution}`);
  }
  return n - 2;
}

/** pytorch/examples' weights_init: conv weights N(0, 0.02); batch-norm scale N(1, 0.02), shift 0. */
export function dcganInit(m: nn.Module): void {
  noGrad(() => {
    if (m instanceof nn.Conv2d || m instanceof nn.ConvTranspose2d) m.weight.normal_(0, 0.02);
    else if (m instanceof nn.BatchNorm2d) {
      m.weight?.normal_(1, 0.02);
      m.bias?.zero_();
    }
  });
}

export class DCGANGenerator extends nn.Module {
  readonly main: nn.Sequential;
  readonly embed: nn.Embedding | null;

  constructor(readonly cfg: DCGANConfig) {
    super();
    const n = octaves(cfg.resolution);
    const zIn = cfg.nz + (cfg.numClasses > 0 ? cfg.embedDim : 0);
    // Width halves at each upsampling and ends at ngf before the RGB layer.
    let ch = cfg.ngf * 2 ** (n - 1);
    const [ah, aw] = aspectOf(cfg.resolution, cfg.shape, 'DCGAN generator');
    const layers: nn.UnaryModule[] = [new nn.ConvTranspose2d(zIn, ch, [4 * ah, 4 * aw], { stride: 1, padding: 0, bias: false }), new nn.BatchNorm2d(ch), new nn.ReLU(true)];
    for (let i = 1; i < n; i++) {
      layers.push(new nn.ConvTranspose2d(ch, ch / 2, 4, { stride: 2, padding: 1, bias: false }), new nn.BatchNorm2d(ch / 2), new nn.ReLU(true));
      ch /= 2;
    }
    layers.push(new nn.ConvTranspose2d(ch, cfg.nc, 4, { stride: 2, padding: 1, bias: false }), new nn.Tanh());
    this.main = this.registerModule('main', new nn.Sequential(...layers));
    this.embed = this.registerModule('embed', cfg.numClasses > 0 ? new nn.Embedding(cfg.numClasses, cfg.embedDim) : null);
    this.apply(dcganInit);
  }

  /** z: [N, nz] (or [N, nz, 1, 1]); labels: int64 [N] for a conditional model. */
  forward(z: Tensor, labels: Tensor | null = null): Tensor {
    let x = z.reshape(z.shape[0], this.cfg.nz, 1, 1);
    if (this.embed) {
      if (!labels) throw new Error('this DCGAN generator is conditional: pass class labels');
      x = cat([x, this.embed.forward(labels).reshape(z.shape[0], this.cfg.embedDim, 1, 1)], 1);
    }
    return this.main.forward(x);
  }
}

export class DCGANDiscriminator extends nn.Module {
  readonly main: nn.Sequential;
  /** A conditional D sees its label as one extra input plane (a learned H×W map per class). */
  readonly embed: nn.Embedding | null;
  /** The [height, width] of the images it takes. */
  readonly size: [number, number];

  constructor(readonly cfg: DCGANConfig) {
    super();
    const n = octaves(cfg.resolution);
    const inC = cfg.nc + (cfg.numClasses > 0 ? 1 : 0);
    let ch = cfg.ndf;
    const layers: nn.UnaryModule[] = [new nn.Conv2d(inC, ch, 4, { stride: 2, padding: 1, bias: false }), new nn.LeakyReLU(0.2, true)];
    for (let i = 1; i < n; i++) {
      layers.push(new nn.Conv2d(ch, ch * 2, 4, { stride: 2, padding: 1, bias: false }), new nn.BatchNorm2d(ch * 2), new nn.LeakyReLU(0.2, true));
      ch *= 2;
    }
    // The reference ends with a sigmoid; we return logits and let the loss apply it stably.
    const [ah, aw] = aspectOf(cfg.resolution, cfg.shape, 'DCGAN discriminator');
    layers.push(new nn.Conv2d(ch, 1, [4 * ah, 4 * aw], { stride: 1, padding: 0, bias: false }));
    this.main = this.registerModule('main', new nn.Sequential(...layers));
    this.size = [cfg.resolution * ah, cfg.resolution * aw];
    this.embed = this.registerModule('embed', cfg.numClasses > 0 ? new nn.Embedding(cfg.numClasses, this.size[0] * this.size[1]) : null);
    this.apply(dcganInit);
  }

  /** images: [N, nc, H, W] (R × R when square) in [-1, 1] → logits [N]. */
  forward(images: Tensor, labels: Tensor | null = null): Tensor {
    let x = images;
    if (this.embed) {
      if (!labels) throw new Error('this DCGAN discriminator is conditional: pass class labels');
      x = cat([x, this.embed.forward(labels).reshape(images.shape[0], 1, ...this.size)], 1);
    }
    return this.main.forward(x).reshape(-1);
  }
}
