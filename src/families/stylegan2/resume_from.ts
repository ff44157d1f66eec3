// `train --model stylegan2 --resume_from X.pkl`: fine-tuning from an NVIDIA snapshot, as
// train.py's --resume. The architecture is the pickle's (its _init_kwargs, which our
// options mirror and config.json records: an option given otherwise is refused), G, D and
// G_ema start from its weights, the optimisers start fresh.
import * as torch from '../../torch/index.js';
import { UsageError } from '../../config/errors.js';
import type { Options } from '../../config/options.js';
import type { NetworkPickle, PickledNetwork } from '../../io/nvidia_pickle.js';
import { discriminatorFromInitKwargs, generatorFromInitKwargs, type Discriminator, type Generator } from '../../models/stylegan2.js';
import { buildFromKwargs, loadPickledWeights, readNetworkFile } from '../network.js';

type Kwargs = Record<string, unknown>;
const sub = (kw: Kwargs, k: string): Kwargs => (kw[k] && typeof kw[k] === 'object' ? (kw[k] as Kwargs) : {});

/** The pickle's G, D and G_ema, or a one-line error naming what is missing. */
function networksOf(file: string): { p: NetworkPickle; G: PickledNetwork; D: PickledNetwork; G_ema: PickledNetwork } {
  const p = readNetworkFile(file);
  if (p.family !== 'stylegan2') throw new UsageError(`--resume_from ${file} is a StyleGAN (v1) pickle: --model stylegan2 fine-tunes StyleGAN2 networks only`);
  const { G, D, G_ema } = p;
  const missing = (['G', 'D', 'G_ema'] as const).filter((k) => !p[k]);
  if (missing.length) throw new UsageError(`--resume_from ${file} holds no ${missing.join(', ')}: fine-tuning needs G, D and G_ema (a training snapshot)`);
  return { p, G: G!, D: D!, G_ema: G_ema! };
}

/**
 * Our options as the pickle's networks fix them (the reference's defaults where its
 * kwargs leave one out), under our names.
 */
export function pickleOptions(G: PickledNetwork, D: PickledNetwork): Options {
  const g = G.initKwargs, d = D.initKwargs;
  const map = sub(g, 'mapping_kwargs'), syn = sub(g, 'synthesis_kwargs'), epi = sub(d, 'epilogue_kwargs');
  return {
    resolution: g.img_resolution as number,
    z_dim: g.z_dim as number,
    w_dim: g.w_dim as number,
    map: (map.num_layers as number | undefined) ?? 8,
    channel_base: syn.channel_base as number,
    channel_max: (syn.channel_max as number | undefined) ?? 512,
    num_fp16_res: (syn.num_fp16_res as number | undefined) ?? 0,
    conv_clamp: (syn.conv_clamp as number | null | undefined) ?? null,
    g_architecture: (syn.architecture as string | undefined) ?? 'skip',
    d_architecture: (d.architecture as string | undefined) ?? 'resnet',
    mbstd_group: (epi.mbstd_group_size as number | undefined) ?? 4,
    mbstd_num_channels: (epi.mbstd_num_channels as number | undefined) ?? 1,
  };
}

/**
 * With --resume_from: the options the pickle fixes, filled in, and added to `given` (so
 * --cfg leaves them alone); one the user gave with another value is refused, by name.
 */
export function resumeFromOptions(o: Options, given: ReadonlySet<string>): { o: Options; given: ReadonlySet<string> } {
  const file = o.resume_from;
  if (typeof file !== 'string') return { o, given };
  const { G, D } = networksOf(file);
  const fixed = pickleOptions(G, D);
  const r: Options = { ...o };
  for (const [k, v] of Object.entries(fixed)) {
    if (given.has(k) && o[k] !== v) {
      throw new UsageError(`--${k} ${String(o[k])} clashes with --resume_from ${file}, whose networks have ${k} ${String(v)}: leave --${k} out`);
    }
    r[k] = v;
  }
  return { o: r, given: new Set([...given, ...Object.keys(fixed)]) };
}

/**
 * G, D and G_ema built from the pickle's own kwargs (so nothing our options do not name
 * is lost: the mapping's lr_multiplier, embed_features, ...) and holding its weights, on
 * `device`.
 */
export function networksFromPickle(file: string, env: { numClasses: number; channels: number; resolution: number; device: torch.Device }): { G: Generator; D: Discriminator; G_ema: Generator } {
  const nets = networksOf(file);
  const g = nets.G.initKwargs;
  if (g.c_dim !== env.numClasses) {
    throw new UsageError(g.c_dim
      ? `--resume_from ${file} is conditional on ${String(g.c_dim)} classes: train it with --classes on a dataset of ${String(g.c_dim)} classes (this one gives ${env.numClasses})`
      : `--resume_from ${file} is unconditional: leave --classes out`);
  }
  if (g.img_channels !== env.channels) throw new UsageError(`--resume_from ${file} draws ${String(g.img_channels)}-channel images, the data has ${env.channels}`);
  if (g.img_resolution !== env.resolution) throw new UsageError(`--resume_from ${file} draws ${String(g.img_resolution)} px images: train at --resolution ${String(g.img_resolution)}`);
  const where = (k: string) => `--resume_from ${file} (${k})`;
  const gen = (k: 'G' | 'G_ema'): Generator =>
    loadPickledWeights(buildFromKwargs(() => generatorFromInitKwargs(nets[k].initKwargs), where(k)), nets[k], where(k), env.device);
  const D: Discriminator = loadPickledWeights(buildFromKwargs(() => discriminatorFromInitKwargs(nets.D.initKwargs), where('D')), nets.D, where('D'), env.device);
  return { G: gen('G'), D, G_ema: gen('G_ema') };
}
