// Options the trainer reads, in groups: every family gets COMMON; families with a fixed
// minibatch and learning rate (all but the progressive ones, whose schedule sets both) get
// BATCH and LR_POLICY; image families (DCGAN, PGGAN, StyleGAN, BigGAN) get IMAGE_DATA and
// KIMG (length in thousands of images, with a generator EMA); translation families
// (pix2pix, CycleGAN) get TRANSLATION_DATA and EPOCHS, spelled and defaulted as
// pytorch-CycleGAN-and-pix2pix.
import { type Options, type OptionsOf, type OptionValue, type Schema, defineSchema, isPowerOfTwo, optionsView, sizeOf } from '../config/options.js';
import { UsageError } from '../config/errors.js';
import { PREPROCESS_MODES, type DatasetOptions } from '../data/index.js';
import type { RecipeDef, RecipeEnv } from './recipe.js';
import { LR_POLICIES } from './lr.js';
import { PRECISIONS } from './precision.js';

const powerOfTwo = (v: unknown): string | null => (typeof v === 'number' && isPowerOfTwo(v) ? null : `must be a power of two, got ${v}`);
const channels = (v: unknown): string | null => (v === 2 ? 'must be 1 or 3' : null);

/**
 * How elongated a non-square image may be. The generators start from a 4×4·k constant and
 * the discriminators end on the same map, which any power of two k allows; past 8:1 (a
 * 4×32 start) the model is mostly a strip of its own border, and a crop serves better.
 */
export const MAX_ASPECT = 8;

/** --resolution: N, or WxH with both sides powers of two and an aspect ratio of at most MAX_ASPECT. */
const imageSize = (v: OptionValue): string | null => {
  if (typeof v === 'number') return isPowerOfTwo(v) ? null : `must be a power of two, got ${v}`;
  const { width: w, height: h } = sizeOf(String(v));
  if (!isPowerOfTwo(w) || !isPowerOfTwo(h)) return `${v}: both sides must be powers of two (e.g. 64x32)`;
  const r = Math.max(w, h) / Math.min(w, h);
  return r > MAX_ASPECT ? `${v}: an aspect ratio of ${r}:1 is too large (at most ${MAX_ASPECT}:1)` : null;
};

export const COMMON_SCHEMA = defineSchema({
  model: { type: 'string', default: null, help: 'model family', metavar: 'NAME' },
  data: { type: 'string', default: 'shapes', help: 'image folder, prepared cache, or a built-in set (shapes, shapes-pairs, shapes-domains)', metavar: 'PATH' },
  out: { type: 'string', default: null, help: 'run folder (default: runs/<model>-<data>-<resolution>)', metavar: 'DIR' },
  seed: { type: 'int', default: 0, help: 'seed of initialisation, data order and noise', min: 0 },
  max_dataset_size: { type: 'int', default: null, help: 'use at most this many images (the first, in sorted order)', min: 1 },
  no_flip: { type: 'bool', default: false, help: 'no random horizontal flips of the training images' },
  workers: { type: 'int', default: null, help: 'data-loading worker threads (default: cores − 1, at most 4)', min: 0 },
  log_every: { type: 'int', default: 10, help: 'log metrics every this many steps', min: 1 },
  keep: { type: 'int', default: 3, help: 'checkpoints to keep (0 = all)', min: 0 },
  n_samples: { type: 'int', default: 64, help: 'images in each sample grid', min: 1, max: 1024 },
  device: { type: 'string', default: 'cpu', help: "'cpu', 'cuda' or 'cuda:N'", check: (v) => (/^(cpu|cuda(:\d+)?)$/.test(String(v)) ? null : `must be cpu, cuda or cuda:N, got '${v}'`) },
  precision: { type: 'string', default: 'fp32', choices: PRECISIONS, help: 'arithmetic of the training steps: fp32, or bf16 mixed precision (convolutions, transposed ones too, and matrix products in bfloat16; norms, losses and reductions in fp32; weights, optimiser state, EMA, checkpoints and sample grids stay fp32; slower than fp32 on CPUs without AVX-512-BF16/AMX, which get a warning). May change on --resume' },
  resume: { type: 'bool', default: false, help: 'continue the run in --out from its latest checkpoint' },
  force: { type: 'bool', default: false, help: 'replace an existing run folder' },
  nproc: { type: 'int', default: null, help: 'train with N worker processes on this machine (data parallel over c10d/Gloo: the global batch is split between them; each gets cores/N threads unless GANFORGE_NUM_THREADS is set)', min: 1, metavar: 'N' },
  sync_bn: { type: 'bool', default: false, help: 'with several processes: batch norm over the whole global batch (synchronised), not each process\'s share' },
  dist_timeout: { type: 'float', default: 300, help: 'seconds a process waits for the others in a collective before it gives up with an error', min: 0.1 },
});

/**
 * Metrics during training (stylegan2-ada-pytorch's --metrics), each result a row of
 * metrics.jsonl, and the best checkpoints by the first metric kept (BigGAN-PyTorch keeps
 * its best too). How often: --metrics_kimg, or --metrics_epoch_freq for translation families.
 */
export const METRICS_SCHEMA = defineSchema({
  metrics: { type: 'string', default: null, help: 'measure these metrics during training, e.g. fid10k,kid10k (see ganforge eval --help)', metavar: 'LIST' },
  keep_best: { type: 'int', default: 1, help: 'keep the best this many checkpoints by the first metric, beside the latest --keep (named in best.json)', min: 0 },
  inception: { type: 'string', default: null, help: "with --metrics: NVIDIA's inception-2015-12-05.pt (default: $GANFORGE_INCEPTION, else downloaded once)", metavar: 'FILE' },
  features: { type: 'string', default: null, help: 'with --metrics: any TorchScript feature network with NVIDIA\'s convention instead of Inception', metavar: 'FILE' },
  vgg: { type: 'string', default: null, help: "with --metrics pr…: NVIDIA's vgg16.pt (default: $GANFORGE_VGG, else downloaded once)", metavar: 'FILE' },
});

/** A fixed minibatch (progressive families' schedules set their own). */
export const BATCH_SCHEMA = defineSchema({
  batch: { type: 'int', default: 64, help: 'images per training step', min: 1, aliases: ['batch_size'] },
});

/** Learning-rate policies over data epochs (progressive families' schedules set their own rates). */
export const LR_POLICY_SCHEMA = defineSchema({
  lr_policy: { type: 'string', default: 'constant', choices: LR_POLICIES, help: 'learning-rate schedule over data epochs (pytorch-CycleGAN-and-pix2pix names)' },
  n_epochs: { type: 'int', default: 100, help: "epochs at the initial rate ('linear'); cosine's half period", min: 1 },
  n_epochs_decay: { type: 'int', default: 100, help: "epochs of linear decay to zero after --n_epochs ('linear')", min: 0 },
  lr_decay_iters: { type: 'int', default: 50, help: "epochs between ×0.1 decays ('step')", min: 1 },
  plateau_metric: { type: 'string', default: 'loss_G', help: "logged scalar whose epoch mean 'plateau' watches (cut ×0.2 after 5 epochs without a 1% improvement)" },
});

/** Single images at one resolution, optionally with class labels. */
export const IMAGE_DATA_SCHEMA = defineSchema({
  resolution: { type: 'size', default: 32, help: `image size in pixels: N for N×N, or WxH, width by height (e.g. 64x32 for landscape, 32x64 for portrait; --model stylegan2 and dcgan, at most ${MAX_ASPECT}:1); powers of two`, min: 4, max: 4096, check: imageSize, metavar: 'N|WxH' },
  classes: { type: 'bool', default: false, help: 'train a class-conditional model (labels from sub-folders, the cache, or the main shape)', aliases: ['cond'] },
  channels: { type: 'int', default: 3, help: 'image channels (1 grayscale, 3 RGB)', min: 1, max: 3, check: channels },
  load_in_mem: { type: 'bool', default: false, help: "read a prepared cache (--data FILE) whole into memory first, as BigGAN-PyTorch's HDF5 option; otherwise each image is read from the file when needed" },
});

/** Image pairs (aligned) or two domains (unaligned), preprocessed as the reference does. */
export const TRANSLATION_DATA_SCHEMA = defineSchema({
  direction: { type: 'string', default: 'AtoB', choices: ['AtoB', 'BtoA'], help: 'which side of the data is the input' },
  input_nc: { type: 'int', default: 3, help: 'channels of the input images (1 or 3)', min: 1, max: 3, check: channels },
  output_nc: { type: 'int', default: 3, help: 'channels of the output images (1 or 3)', min: 1, max: 3, check: channels },
  preprocess: { type: 'string', default: 'resize_and_crop', choices: PREPROCESS_MODES, help: 'how training images are scaled and cropped' },
  load_size: { type: 'int', default: 286, help: 'scale images to this size before cropping', min: 4 },
  crop_size: { type: 'int', default: 256, help: 'then crop to this size: the model\'s resolution (a power of two)', min: 4, max: 4096, check: powerOfTwo },
  serial_batches: { type: 'bool', default: false, help: 'unaligned data: take B in order instead of at random' },
});

/** Length in thousands of real images shown, with a moving average of the generator. */
export const KIMG_SCHEMA = defineSchema({
  kimg: { type: 'float', default: 50, help: 'training length in thousands of real images shown', min: 0 },
  snapshot_kimg: { type: 'float', default: 10, help: 'write a checkpoint every this many kimg', min: 0 },
  sample_kimg: { type: 'float', default: 5, help: 'write a sample grid every this many kimg', min: 0 },
  metrics_kimg: { type: 'float', default: 50, help: 'with --metrics: measure (and checkpoint) every this many kimg, and at the end', min: 0 },
  ema_kimg: { type: 'float', default: 10, help: 'half-life of the generator EMA in kimg', min: 0 },
  ema_beta: { type: 'float', default: null, help: 'fixed EMA decay per step instead of --ema_kimg', min: 0, max: 1 },
  ema_start_kimg: { type: 'float', default: 0, help: 'kimg before which the EMA copies G', min: 0 },
  // On for every family: a short run's average forgets the initial weights; a long one
  // (past ema_kimg / ema_rampup, 200 kimg for 10) is untouched. 0 restores the originals.
  ema_rampup: { type: 'float', default: 0.05, help: "limit the EMA half-life (or the one --ema_beta implies) to this fraction of the images seen, as StyleGAN2's ema_rampup; 0 = off (the original rules)", min: 0 },
});

/** Length in epochs (--n_epochs + --n_epochs_decay), as the reference counts it. */
export const EPOCHS_SCHEMA = defineSchema({
  save_epoch_freq: { type: 'int', default: 5, help: 'write a checkpoint at the end of every this many epochs', min: 1 },
  metrics_epoch_freq: { type: 'int', default: 5, help: 'with --metrics: measure (and checkpoint) at the end of every this many epochs, and at the end', min: 1 },
  save_latest_freq: { type: 'int', default: 5000, help: 'and every this many images within epochs (0 = never)', min: 0 },
  display_freq: { type: 'int', default: 400, help: 'write a sample grid every this many images (0 = only at start and end)', min: 0 },
});

/** Options that may change when a run is resumed: they do not alter what is learned. */
export const RESUMABLE_CHANGES = new Set([
  'kimg', 'snapshot_kimg', 'sample_kimg', 'save_epoch_freq', 'save_latest_freq', 'display_freq',
  'log_every', 'keep', 'workers', 'load_in_mem', 'n_samples', 'resume', 'force', 'out', 'nproc', 'dist_timeout',
  'metrics', 'keep_best', 'inception', 'features', 'vgg', 'metrics_kimg', 'metrics_epoch_freq',
  // How the steps compute, not what they learn: checkpoints hold fp32 weights either way.
  'precision',
]);

export type CommonOptions = OptionsOf<typeof COMMON_SCHEMA>;
export type MetricsOptions = OptionsOf<typeof METRICS_SCHEMA>;
export type BatchOptions = OptionsOf<typeof BATCH_SCHEMA>;
export type LrPolicyOptions = OptionsOf<typeof LR_POLICY_SCHEMA>;
export type ImageDataOptions = OptionsOf<typeof IMAGE_DATA_SCHEMA>;
export type TranslationDataOptions = OptionsOf<typeof TRANSLATION_DATA_SCHEMA>;
export type KimgOptions = OptionsOf<typeof KIMG_SCHEMA>;
export type EpochsOptions = OptionsOf<typeof EPOCHS_SCHEMA>;

/** Whether a family is trained on pairs or domains, for epochs (pix2pix, CycleGAN). */
export function isTranslation(def: RecipeDef): boolean {
  return def.data === 'aligned' || def.data === 'unaligned';
}

/** The trainer's option groups a family has, in --help's order. */
function trainerSchema(def: RecipeDef): Schema {
  const fixed = def.progressive ? {} : { ...BATCH_SCHEMA, ...LR_POLICY_SCHEMA };
  return isTranslation(def)
    ? { ...COMMON_SCHEMA, ...fixed, ...TRANSLATION_DATA_SCHEMA, ...EPOCHS_SCHEMA, ...METRICS_SCHEMA }
    : { ...COMMON_SCHEMA, ...fixed, ...IMAGE_DATA_SCHEMA, ...KIMG_SCHEMA, ...METRICS_SCHEMA };
}

/** Both schemas of a family, the trainer's first: every option `train` accepts. */
export function fullSchema(def: RecipeDef): Schema {
  const schema: Schema = {};
  const trainer = trainerSchema(def);
  const defaults: Options = def.trainerDefaults ?? {};
  for (const k of Object.keys(defaults)) {
    if (!(k in trainer)) throw new Error(`internal: recipe ${def.name} sets a default for --${k}, which its trainer does not have`);
  }
  for (const [k, s] of Object.entries(trainer)) schema[k] = k in defaults ? { ...s, default: defaults[k] } : s;
  for (const [k, s] of Object.entries(def.schema)) {
    if (k in schema) throw new Error(`internal: recipe ${def.name} redefines trainer option --${k}`);
    schema[k] = s;
  }
  return schema;
}

/**
 * A run's trainer options by group, each typed; a group the family does not have is null
 * (progressive families: batch and lr; image families: translation; and so on).
 */
export interface TrainerOptions {
  common: CommonOptions;
  metrics: MetricsOptions;
  batch: BatchOptions | null;
  lr: LrPolicyOptions | null;
  /** How long a run is: kimg (image families) or epochs (translation families, whose length is --n_epochs + --n_epochs_decay). */
  length: { byEpoch: false; image: ImageDataOptions; kimg: KimgOptions } | { byEpoch: true; translation: TranslationDataOptions; epochs: EpochsOptions; lr: LrPolicyOptions };
}

export function trainerOptions(def: RecipeDef, o: Options): TrainerOptions {
  return {
    common: optionsView(COMMON_SCHEMA, o),
    metrics: optionsView(METRICS_SCHEMA, o),
    batch: def.progressive ? null : optionsView(BATCH_SCHEMA, o),
    lr: def.progressive ? null : optionsView(LR_POLICY_SCHEMA, o),
    length: isTranslation(def)
      ? { byEpoch: true, translation: optionsView(TRANSLATION_DATA_SCHEMA, o), epochs: optionsView(EPOCHS_SCHEMA, o), lr: optionsView(LR_POLICY_SCHEMA, o) }
      : { byEpoch: false, image: optionsView(IMAGE_DATA_SCHEMA, o), kimg: optionsView(KIMG_SCHEMA, o) },
  };
}

/**
 * A family's named configurations (a reference's launch scripts) as its
 * RecipeDef.resolveOptions: the string option `option` picks one, whose values replace
 * every option the user did not give (in `given`), so each value stays overridable.
 * Unchanged when none is chosen ('none' or null).
 */
export function presetResolver(option: string, named: Readonly<Record<string, Options>>): (o: Options, given: ReadonlySet<string>) => Options {
  return (o, given) => {
    const name = o[option];
    if (name === null || name === undefined || name === 'none') return o;
    const values = named[String(name)];
    if (!values) throw new UsageError(`--${option} must be one of ${['none', ...Object.keys(named)].join(', ')}, got '${String(name)}'`);
    const out = { ...o };
    for (const [k, v] of Object.entries(values)) if (!given.has(k)) out[k] = v;
    return out;
  };
}

/** The model's image size as given: --resolution (N or 'WxH'), or --crop_size for translation families. */
export function resolutionOf(o: Options): number | string {
  return 'crop_size' in o ? optionsView(TRANSLATION_DATA_SCHEMA, o).crop_size : optionsView(IMAGE_DATA_SCHEMA, o).resolution;
}

/** --resolution as the side the networks are built by (the shorter one) and, when not square, the image's size. */
function imageShapeOf(i: ImageDataOptions): { resolution: number; shape?: { width: number; height: number } } {
  const { width, height } = sizeOf(i.resolution);
  return width === height ? { resolution: width } : { resolution: Math.min(width, height), shape: { width, height } };
}

/** Refuses --resolution WxH for a family that trains square images only (one line, naming it). */
export function checkImageShape(def: RecipeDef, o: Options): void {
  if (isTranslation(def) || def.nonSquare) return;
  const r = optionsView(IMAGE_DATA_SCHEMA, o).resolution;
  if (typeof r === 'string') throw new UsageError(`--resolution ${r}: --model ${def.name} trains square images only; give one side (e.g. --resolution ${Math.min(sizeOf(r).width, sizeOf(r).height)})`);
}

/** How the trainer's options select and preprocess the data a family trains on. */
export function datasetOptions(def: RecipeDef, o: Options): DatasetOptions {
  const c = optionsView(COMMON_SCHEMA, o);
  const common = { seed: c.seed, maxDatasetSize: c.max_dataset_size ?? undefined, noFlip: c.no_flip };
  if (!isTranslation(def)) {
    const i = optionsView(IMAGE_DATA_SCHEMA, o);
    return { ...common, ...imageShapeOf(i), classes: i.classes, inputNc: i.channels, loadInMem: i.load_in_mem };
  }
  const t = optionsView(TRANSLATION_DATA_SCHEMA, o);
  return {
    ...common, mode: def.data === 'aligned' ? 'aligned' : 'unaligned', direction: t.direction,
    inputNc: t.input_nc, outputNc: t.output_nc, resolution: t.crop_size,
    preprocess: t.preprocess, loadSize: t.load_size, cropSize: t.crop_size, serialBatches: t.serial_batches,
  };
}

/** What a recipe is built for, from a run's options. */
export function recipeEnv(o: Options, numClasses: number, device: string): RecipeEnv {
  const batchSize = 'batch' in o ? optionsView(BATCH_SCHEMA, o).batch : 0;
  if ('input_nc' in o) {
    const t = optionsView(TRANSLATION_DATA_SCHEMA, o);
    return { resolution: t.crop_size, channels: t.input_nc, outputChannels: t.output_nc, numClasses, batchSize, device };
  }
  const i = optionsView(IMAGE_DATA_SCHEMA, o);
  return { ...imageShapeOf(i), channels: i.channels, outputChannels: i.channels, numClasses, batchSize, device };
}
