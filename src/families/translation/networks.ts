// What pix2pix and CycleGAN share: the network options of pytorch-CycleGAN-and-pix2pix
// (same names and defaults), building networks from them, and running a generator the
// way the reference's test.py does.
import * as torch from '../../torch/index.js';
import type * as nn from '../../nn/index.js';
import { defineSchema, type OptionsOf } from '../../config/options.js';
import type { TensorBatch } from '../../data/index.js';
import type { SampleInputs } from '../../train/recipe.js';
import { UsageError } from '../../config/errors.js';
import {
  defineG, defineD, generatorStride, GENERATORS, DISCRIMINATORS, NORM_KINDS, INIT_TYPES,
  type GeneratorName, type DiscriminatorName, type NormKind, type InitType,
} from '../../models/pix2pix.js';

/** An image-to-image network: a generator, or a (Patch)GAN discriminator mapping images to logit maps. */
export type Network = nn.Module & nn.UnaryModule;
export type Generator = Network;

/** Network and optimiser options of both families; each recipe overrides a few defaults. */
export const NETWORK_SCHEMA = defineSchema({
  netG: { type: 'string', default: 'resnet_9blocks', choices: GENERATORS, help: 'generator architecture (unet_32/unet_64: ganforge additions for small images)' },
  netD: { type: 'string', default: 'basic', choices: DISCRIMINATORS, help: "discriminator: 'basic' 70×70 PatchGAN, 'n_layers' (--n_layers_D), 'pixel' 1×1" },
  n_layers_D: { type: 'int', default: 3, help: "stride-2 layers of an 'n_layers' discriminator", min: 1, max: 10 },
  ngf: { type: 'int', default: 64, help: 'generator filters in the last conv layer', min: 1 },
  ndf: { type: 'int', default: 64, help: 'discriminator filters in the first conv layer', min: 1 },
  norm: { type: 'string', default: 'instance', choices: NORM_KINDS, help: 'normalisation layers' },
  no_dropout: { type: 'bool', default: false, help: 'no dropout in the generator' },
  init_type: { type: 'string', default: 'normal', choices: INIT_TYPES, help: 'weight initialisation' },
  init_gain: { type: 'float', default: 0.02, help: 'scale of normal, xavier and orthogonal initialisation', min: 0 },
  gan_mode: { type: 'string', default: 'lsgan', choices: ['vanilla', 'lsgan', 'wgangp'], help: "adversarial loss: 'vanilla' cross-entropy, 'lsgan' least squares, 'wgangp' Wasserstein" },
  lambda_gp: {
    type: 'float', default: 10, min: 0,
    help: "gradient-penalty weight in --gan_mode wgangp (the reference defines the penalty but never applies it: 0 trains as it does)",
  },
  lr: { type: 'float', default: 2e-4, help: 'initial Adam learning rate', min: 0 },
  beta1: { type: 'float', default: 0.5, help: 'Adam β1', min: 0, max: 0.999999 },
});

/** What building a family's networks reads of its options. */
export type NetworkOptions = OptionsOf<typeof NETWORK_SCHEMA>;

/** Trainer defaults of both families: the reference trains one image at a time, with the lr decaying linearly to zero. */
export const TRANSLATION_TRAINER_DEFAULTS = { batch: 1, lr_policy: 'linear', n_samples: 8 } as const;

/** Refuses an image size the generator cannot take, naming what would work. */
export function checkGeneratorSize(netG: GeneratorName, side: number): void {
  const stride = generatorStride(netG);
  if (side % stride !== 0) {
    const fits = GENERATORS.filter((g) => side % generatorStride(g) === 0).join(', ');
    throw new UsageError(`--netG ${netG} needs images whose side is a multiple of ${stride}, but --crop_size is ${side}; choose a crop size that is, or one of: ${fits}`);
  }
}

/** Refuses an image size the generator or the discriminator cannot take. */
export function checkImageSize(o: Pick<NetworkOptions, 'netG' | 'netD' | 'n_layers_D'>, side: number): void {
  checkGeneratorSize(o.netG, side);
  // A PatchGAN halves the image n times, then two 4×4 convolutions (padding 1) shrink it
  // by one pixel each, so at least 3 pixels must remain.
  const n = o.netD === 'pixel' ? 0 : o.netD === 'basic' ? 3 : o.n_layers_D;
  let left = side;
  for (let i = 0; i < n; i++) left = Math.floor(left / 2);
  if (o.netD !== 'pixel' && left < 3) {
    throw new UsageError(`--netD ${o.netD} halves the image ${n} times and needs --crop_size at least ${3 * 2 ** n}, got ${side}; use fewer --n_layers_D with --netD n_layers, or --netD pixel`);
  }
}

export function buildG(o: Pick<NetworkOptions, 'netG' | 'ngf' | 'norm' | 'no_dropout' | 'init_type' | 'init_gain'>, inputNc: number, outputNc: number, device: string): Generator {
  return defineG({
    inputNc, outputNc, ngf: o.ngf, netG: o.netG, norm: o.norm,
    useDropout: !o.no_dropout, initType: o.init_type, initGain: o.init_gain,
  }).to(device);
}

export function buildD(o: Pick<NetworkOptions, 'netD' | 'ndf' | 'n_layers_D' | 'norm' | 'init_type' | 'init_gain'>, inputNc: number, device: string): Network {
  return defineD({
    inputNc, ndf: o.ndf, netD: o.netD, nLayersD: o.n_layers_D, norm: o.norm,
    initType: o.init_type, initGain: o.init_gain,
  }).to(device);
}

/**
 * Runs a generator over images [N, C, H, W] as the reference's test.py does by default:
 * in training mode, one image at a time, so batch norm normalises each image by its own
 * statistics and dropout stays on (pix2pix's noise source). The running statistics this
 * updates are put back afterwards, so translating never changes a model. With
 * `evalMode` (the reference's --eval) the running statistics are used instead and the
 * batch goes through at once.
 */
export function translateImages(G: Generator, x: torch.Tensor, evalMode = false): torch.Tensor {
  const wasTraining = G.training;
  if (evalMode) {
    G.eval();
    try {
      return G.forward(x);
    } finally {
      G.train(wasTraining);
    }
  }
  const buffers = G.buffers();
  const saved = buffers.map((b) => b.clone());
  G.train();
  try {
    return torch.cat(x.split(1, 0).map((xi) => G.forward(xi)), 0);
  } finally {
    G.train(wasTraining);
    torch.noGrad(() => buffers.forEach((b, i) => b.copy_(saved[i])));
    for (const t of saved) t.dispose();
  }
}

/** Grayscale images as RGB, so inputs and outputs of different channel counts share a grid. */
export function asRgb(x: torch.Tensor): torch.Tensor {
  return x.shape[1] === 1 ? x.expand([x.shape[0], 3, x.shape[2], x.shape[3]]) : x;
}

/** Interleaves equal-length image batches into grid rows: row i = (cols[0][i], cols[1][i], ...). */
export function gridRows(cols: torch.Tensor[]): torch.Tensor {
  const rgb = cols.map(asRgb);
  const [n, c, h, w] = rgb[0].shape;
  return torch.stack(rgb, 1).reshape([n * rgb.length, c, h, w]);
}

/** A translation grid's fixed inputs: the real images the trainer read for it. */
export function realSampleInputs(real: TensorBatch | undefined, family: string): SampleInputs {
  if (!real?.b) throw new Error(`${family} sample grids need images of both sides (the trainer passes the dataset's first samples)`);
  return { z: null, labels: null, a: real.a, b: real.b };
}
