// pix2pix / CycleGAN networks (Isola et al. 2017; Zhu et al. 2017) built by name, as
// junyanz/pytorch-CycleGAN-and-pix2pix's define_G / define_D do, with the same
// option names and the same state-dict keys, so that repository's checkpoints load
// into these modules unchanged and give the same outputs.
import * as nn from '../nn/index.js';
import { UnetGenerator } from './unet.js';
import { ResnetGenerator } from './resnet_generator.js';
import { NLayerDiscriminator, PixelDiscriminator } from './patchgan.js';
import { initWeights, type InitType } from './init.js';

export { UnetGenerator, UnetSkipBlock } from './unet.js';
export { ResnetGenerator, ResnetBlock, type PaddingType } from './resnet_generator.js';
export { NLayerDiscriminator, PixelDiscriminator } from './patchgan.js';
export { initWeights, INIT_TYPES, type InitType } from './init.js';

export const NORM_KINDS = ['batch', 'instance', 'none'] as const;
export type NormKind = (typeof NORM_KINDS)[number];

/**
 * The reference's four generators, plus unet_32 and unet_64: the same U-Net with 5 and 6
 * levels, for images too small for unet_128 (the reference's UnetGenerator takes any
 * num_downs; its define_G names only 7 and 8).
 */
export const GENERATORS = ['unet_128', 'unet_256', 'resnet_6blocks', 'resnet_9blocks', 'unet_32', 'unet_64'] as const;
export type GeneratorName = (typeof GENERATORS)[number];

/** The side an image must be a multiple of for a generator (U-Nets halve it numDowns times; ResNets twice). */
export function generatorStride(netG: GeneratorName): number {
  switch (netG) {
    case 'unet_32': return 32;
    case 'unet_64': return 64;
    case 'unet_128': return 128;
    case 'unet_256': return 256;
    default: return 4;
  }
}

export const DISCRIMINATORS = ['basic', 'n_layers', 'pixel'] as const;
export type DiscriminatorName = (typeof DISCRIMINATORS)[number];

/**
 * How a network normalises: a factory for one normalisation layer, and whether the
 * convolutions feeding it carry a bias. A bias is redundant before batch norm (its shift
 * absorbs it), and the reference keeps it only for instance norm, so with no norm at all
 * those convolutions have no bias either: the key lists depend on this rule.
 */
export interface NormSpec {
  readonly kind: NormKind;
  readonly convBias: boolean;
  make(channels: number): nn.UnaryModule;
}

export function normSpec(kind: NormKind): NormSpec {
  switch (kind) {
    // Learned scale and shift, running statistics for eval mode.
    case 'batch': return { kind, convBias: false, make: (c) => new nn.BatchNorm2d(c, { affine: true, trackRunningStats: true }) };
    // Plain per-image normalisation: nothing learned, nothing saved.
    case 'instance': return { kind, convBias: true, make: (c) => new nn.InstanceNorm2d(c, { affine: false, trackRunningStats: false }) };
    case 'none': return { kind, convBias: false, make: () => new nn.Identity() };
    default: throw new Error(`unknown normalisation '${String(kind)}': expected one of ${NORM_KINDS.join(', ')}`);
  }
}

export interface GeneratorOptions {
  inputNc: number;
  outputNc: number;
  /** Width of the outermost convolutions; inner ones are multiples of it. */
  ngf: number;
  netG: GeneratorName;
  /** Default 'batch', as the reference's define_G. */
  norm?: NormKind;
  useDropout?: boolean;
  /** Default 'normal'. */
  initType?: InitType;
  /** Default 0.02. */
  initGain?: number;
}

export interface DiscriminatorOptions {
  inputNc: number;
  /** Width of the first convolution. */
  ndf: number;
  netD: DiscriminatorName;
  /** Stride-2 layers of an 'n_layers' D (default 3, which is what 'basic' always uses). */
  nLayersD?: number;
  norm?: NormKind;
  initType?: InitType;
  initGain?: number;
}

function checkWidth(what: string, v: number): void {
  if (!Number.isInteger(v) || v < 1) throw new RangeError(`${what} must be a positive integer, got ${v}`);
}

/** A generator by name, initialised as the reference initialises it (N(0, 0.02) unless told otherwise). */
export function defineG(o: GeneratorOptions): nn.Module & nn.UnaryModule {
  checkWidth('inputNc', o.inputNc);
  checkWidth('outputNc', o.outputNc);
  checkWidth('ngf', o.ngf);
  const norm = normSpec(o.norm ?? 'batch');
  const useDropout = o.useDropout ?? false;
  let net: nn.Module & nn.UnaryModule;
  switch (o.netG) {
    case 'resnet_9blocks': net = new ResnetGenerator(o.inputNc, o.outputNc, { ngf: o.ngf, norm, useDropout, nBlocks: 9 }); break;
    case 'resnet_6blocks': net = new ResnetGenerator(o.inputNc, o.outputNc, { ngf: o.ngf, norm, useDropout, nBlocks: 6 }); break;
    case 'unet_128': net = new UnetGenerator(o.inputNc, o.outputNc, 7, { ngf: o.ngf, norm, useDropout }); break;
    case 'unet_256': net = new UnetGenerator(o.inputNc, o.outputNc, 8, { ngf: o.ngf, norm, useDropout }); break;
    case 'unet_32': net = new UnetGenerator(o.inputNc, o.outputNc, 5, { ngf: o.ngf, norm, useDropout }); break;
    case 'unet_64': net = new UnetGenerator(o.inputNc, o.outputNc, 6, { ngf: o.ngf, norm, useDropout }); break;
    default: throw new Error(`unknown generator '${String(o.netG)}': expected one of ${GENERATORS.join(', ')}`);
  }
  return initWeights(net, o.initType ?? 'normal', o.initGain ?? 0.02);
}

/** A discriminator by name, initialised as the reference initialises it. */
export function defineD(o: DiscriminatorOptions): nn.Module & nn.UnaryModule {
  checkWidth('inputNc', o.inputNc);
  checkWidth('ndf', o.ndf);
  const norm = normSpec(o.norm ?? 'batch');
  let net: nn.Module & nn.UnaryModule;
  switch (o.netD) {
    case 'basic': net = new NLayerDiscriminator(o.inputNc, { ndf: o.ndf, nLayers: 3, norm }); break;
    case 'n_layers': net = new NLayerDiscriminator(o.inputNc, { ndf: o.ndf, nLayers: o.nLayersD ?? 3, norm }); break;
    case 'pixel': net = new PixelDiscriminator(o.inputNc, { ndf: o.ndf, norm }); break;
    default: throw new Error(`unknown discriminator '${String(o.netD)}': expected one of ${DISCRIMINATORS.join(', ')}`);
  }
  return initWeights(net, o.initType ?? 'normal', o.initGain ?? 0.02);
}
