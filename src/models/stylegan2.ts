// StyleGAN2 (Karras et al. 2020) as stylegan2-ada-pytorch defines it: the Generator
// (synthesis network built first, which fixes how many w's the mapping broadcasts) and
// the Discriminator, and their construction from the reference's constructor arguments
// as a network pickle's `_init_kwargs` records them, so weights from such a pickle (or
// from our own checkpoints) load into the right architecture.
import { Tensor, scope } from '../torch/index.js';
import * as nn from '../nn/index.js';
import { MappingNetwork, type MappingConfig, type MappingForwardOptions } from './stylegan2_mapping.js';
import { SynthesisNetwork, ARCHITECTURES, type SynthesisConfig, type SynthesisForwardOptions } from './stylegan2_synthesis.js';
import { Discriminator, type DiscriminatorConfig } from './stylegan2_discriminator.js';

export * from './stylegan2_mapping.js';
export * from './stylegan2_synthesis.js';
export * from './stylegan2_discriminator.js';

export type GeneratorMappingConfig = Omit<MappingConfig, 'zDim' | 'cDim' | 'wDim' | 'numWs'>;
export type GeneratorSynthesisConfig = Omit<SynthesisConfig, 'wDim' | 'imgResolution' | 'imgShape' | 'imgChannels'>;

export interface GeneratorConfig {
  zDim: number;
  cDim: number;
  wDim: number;
  /** The image side, or the shorter side of a non-square image. */
  imgResolution: number;
  /** A non-square image's [height, width] (null or absent: square). */
  imgShape?: readonly [number, number] | null;
  imgChannels: number;
  mapping: Partial<GeneratorMappingConfig>;
  synthesis: Partial<GeneratorSynthesisConfig>;
}

export interface GeneratorForwardOptions extends SynthesisForwardOptions, Omit<MappingForwardOptions, 'skipWAvgUpdate'> {}

export class Generator extends nn.Module {
  readonly cfg: GeneratorConfig;
  readonly synthesis: SynthesisNetwork;
  readonly mapping: MappingNetwork;
  readonly numWs: number;

  constructor(cfg: Partial<GeneratorConfig> & Pick<GeneratorConfig, 'imgResolution'>) {
    super();
    const c = (this.cfg = { zDim: 512, cDim: 0, wDim: 512, imgChannels: 3, mapping: {}, synthesis: {}, ...cfg });
    this.synthesis = this.registerModule('synthesis', new SynthesisNetwork({ ...c.synthesis, wDim: c.wDim, imgResolution: c.imgResolution, imgShape: c.imgShape ?? null, imgChannels: c.imgChannels }));
    this.numWs = this.synthesis.numWs;
    this.mapping = this.registerModule('mapping', new MappingNetwork({ ...c.mapping, zDim: c.zDim, cDim: c.cDim, wDim: c.wDim, numWs: this.numWs }));
  }

  /** z [N, zDim], c [N, cDim] (or class indices, or null) → images [N, C, H, W] (R × R when square) in about [-1, 1]. */
  forward(z: Tensor, c: Tensor | null = null, o: GeneratorForwardOptions = {}): Tensor {
    return scope(() => this.synthesis.forward(
      this.mapping.forward(z, c, { truncationPsi: o.truncationPsi, truncationCutoff: o.truncationCutoff }),
      { noiseMode: o.noiseMode, fusedModconv: o.fusedModconv },
    ));
  }
}

// ---------------------------------------------------------------------------------------
// Construction from the reference's constructor arguments (a pickle's _init_kwargs).

type Kwargs = Record<string, unknown>;

/** Keys the reference accepts that change nothing here (precision and memory layout). */
const IGNORED = new Set(['fp16_channels_last', 'channels_last']);

function num(v: unknown, name: string): number {
  if (typeof v !== 'number' || !Number.isFinite(v)) throw new TypeError(`StyleGAN2 kwargs: ${name} must be a number, got ${JSON.stringify(v)}`);
  return v;
}

function numOrNull(v: unknown, name: string): number | null {
  return v === null || v === undefined ? null : num(v, name);
}

function dict(v: unknown, name: string): Kwargs {
  if (v === undefined || v === null) return {};
  if (typeof v !== 'object' || Array.isArray(v)) throw new TypeError(`StyleGAN2 kwargs: ${name} must be a dict, got ${JSON.stringify(v)}`);
  return v as Kwargs;
}

/** Translates snake_case reference kwargs by a table; an unknown key is an error (it would change the network). */
function translate(kw: Kwargs, table: Record<string, (v: unknown) => [string, unknown]>, where: string): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(kw)) {
    if (IGNORED.has(k)) continue;
    if (k === 'freeze_layers') {
      if (v) throw new RangeError(`StyleGAN2 kwargs: ${where}.freeze_layers (Freeze-D) is not supported`);
      continue;
    }
    const f = table[k];
    if (!f) throw new RangeError(`StyleGAN2 kwargs: unknown ${where} argument '${k}'`);
    const [name, value] = f(v);
    out[name] = value;
  }
  return out;
}

const filterArg = (v: unknown): number[] => {
  if (!Array.isArray(v) || !v.every((x) => typeof x === 'number')) throw new TypeError(`StyleGAN2 kwargs: resample_filter must be a list of numbers, got ${JSON.stringify(v)}`);
  return v as number[];
};
const str = <T extends string>(choices: readonly T[], name: string) => (v: unknown): T => {
  if (!choices.includes(v as T)) throw new RangeError(`StyleGAN2 kwargs: ${name} must be one of ${choices.join(', ')}, got ${JSON.stringify(v)}`);
  return v as T;
};
const ACTS = Object.keys(nn.ACTIVATIONS) as nn.Activation[];

const MAPPING_TABLE: Record<string, (v: unknown) => [string, unknown]> = {
  num_layers: (v) => ['numLayers', num(v, 'num_layers')],
  embed_features: (v) => ['embedFeatures', numOrNull(v, 'embed_features')],
  layer_features: (v) => ['layerFeatures', numOrNull(v, 'layer_features')],
  activation: (v) => ['activation', str(ACTS, 'activation')(v)],
  lr_multiplier: (v) => ['lrMultiplier', num(v, 'lr_multiplier')],
  w_avg_beta: (v) => ['wAvgBeta', numOrNull(v, 'w_avg_beta')],
};

const SYNTHESIS_TABLE: Record<string, (v: unknown) => [string, unknown]> = {
  channel_base: (v) => ['channelBase', num(v, 'channel_base')],
  channel_max: (v) => ['channelMax', num(v, 'channel_max')],
  num_fp16_res: (v) => ['numFp16Res', num(v, 'num_fp16_res')],
  conv_clamp: (v) => ['convClamp', numOrNull(v, 'conv_clamp')],
  architecture: (v) => ['architecture', str(ARCHITECTURES, 'architecture')(v)],
  resample_filter: (v) => ['resampleFilter', filterArg(v)],
  use_noise: (v) => ['useNoise', Boolean(v)],
  activation: (v) => ['activation', str(ACTS, 'activation')(v)],
  kernel_size: (v) => ['kernelSize', num(v, 'kernel_size')],
};

/** A Generator from the reference's Generator(**kwargs) arguments (e.g. a pickle's G._init_kwargs). */
export function generatorFromInitKwargs(kwargs: Record<string, unknown>): Generator {
  const known = new Set(['z_dim', 'c_dim', 'w_dim', 'img_resolution', 'img_channels', 'mapping_kwargs', 'synthesis_kwargs', 'class_name']);
  for (const k of Object.keys(kwargs)) {
    if (!known.has(k)) throw new RangeError(`StyleGAN2 kwargs: unknown Generator argument '${k}'`);
  }
  return new Generator({
    zDim: num(kwargs.z_dim, 'z_dim'),
    cDim: num(kwargs.c_dim, 'c_dim'),
    wDim: num(kwargs.w_dim, 'w_dim'),
    imgResolution: num(kwargs.img_resolution, 'img_resolution'),
    imgChannels: num(kwargs.img_channels, 'img_channels'),
    mapping: translate(dict(kwargs.mapping_kwargs, 'mapping_kwargs'), MAPPING_TABLE, 'mapping_kwargs') as Partial<GeneratorMappingConfig>,
    synthesis: translate(dict(kwargs.synthesis_kwargs, 'synthesis_kwargs'), SYNTHESIS_TABLE, 'synthesis_kwargs') as Partial<GeneratorSynthesisConfig>,
  });
}

/** A Discriminator from the reference's Discriminator(**kwargs) arguments. */
export function discriminatorFromInitKwargs(kwargs: Record<string, unknown>): Discriminator {
  const top = translate(
    Object.fromEntries(Object.entries(kwargs).filter(([k]) => !['c_dim', 'img_resolution', 'img_channels', 'block_kwargs', 'mapping_kwargs', 'epilogue_kwargs', 'class_name'].includes(k))),
    {
      architecture: (v) => ['architecture', str(ARCHITECTURES, 'architecture')(v)],
      channel_base: SYNTHESIS_TABLE.channel_base, channel_max: SYNTHESIS_TABLE.channel_max,
      num_fp16_res: SYNTHESIS_TABLE.num_fp16_res, conv_clamp: SYNTHESIS_TABLE.conv_clamp,
      cmap_dim: (v) => ['cmapDim', numOrNull(v, 'cmap_dim')],
    },
    'Discriminator',
  );
  const block = translate(dict(kwargs.block_kwargs, 'block_kwargs'), {
    activation: SYNTHESIS_TABLE.activation, resample_filter: SYNTHESIS_TABLE.resample_filter,
  }, 'block_kwargs');
  const epilogue = translate(dict(kwargs.epilogue_kwargs, 'epilogue_kwargs'), {
    mbstd_group_size: (v) => ['mbstdGroupSize', numOrNull(v, 'mbstd_group_size')],
    mbstd_num_channels: (v) => ['mbstdNumChannels', num(v, 'mbstd_num_channels')],
    activation: SYNTHESIS_TABLE.activation,
  }, 'epilogue_kwargs');
  if ('activation' in block && 'activation' in epilogue && block.activation !== epilogue.activation) {
    throw new RangeError('StyleGAN2 kwargs: different activations in the discriminator blocks and epilogue are not supported');
  }
  const mapping = translate(dict(kwargs.mapping_kwargs, 'mapping_kwargs'), MAPPING_TABLE, 'mapping_kwargs');
  return new Discriminator({
    ...(top as Partial<DiscriminatorConfig>), ...(block as Partial<DiscriminatorConfig>), ...(epilogue as Partial<DiscriminatorConfig>),
    cDim: num(kwargs.c_dim, 'c_dim'),
    imgResolution: num(kwargs.img_resolution, 'img_resolution'),
    imgChannels: num(kwargs.img_channels, 'img_channels'),
    mapping: mapping as DiscriminatorConfig['mapping'],
  });
}

