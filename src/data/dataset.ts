// Opening a dataset: from a path (image folder, CycleGAN folder, pix2pix pairs, prepared
// cache) or a built-in name, to a `Dataset` whose `spec` is plain data. The spec is what
// travels to the loader's worker threads, where `createSampler` rebuilds the reader;
// nothing here touches the engine, so workers never load the native addon.

import * as fs from 'node:fs';
import * as path from 'node:path';
import { type AlignedSpec, alignedSampler, openAligned } from './aligned.js';
import { type CacheSpec, cacheSampler, isCacheFile, openCache } from './cache.js';
import { type Direction, checkDirection } from './direction.js';
import { DataError, checkResolution } from './errors.js';
import { type Channels, checkChannels } from './image.js';
import { type FolderSpec, folderSampler, openFolder } from './folder.js';
import { type PreprocessMode, type PreprocessOptions, DEFAULT_PREPROCESS, checkPreprocess, fixedOutputSize } from './preprocess.js';
import {
  type BuiltinSet, type ProceduralSpec, BUILTIN_SETS, DEFAULT_COUNT, SHAPE_CLASSES, checkProcedural, isBuiltinSet, makeScene, proceduralSampler,
} from './procedural.js';
import type { BadFileHandler, Sample, Sampler } from './sampler.js';
import { type SingleSpec, openSingle, singleSampler } from './single.js';
import { type UnalignedSpec, hasDomainFolders, openUnaligned, unalignedSampler } from './unaligned.js';

export type DatasetSpec = FolderSpec | AlignedSpec | UnalignedSpec | SingleSpec | CacheSpec | ProceduralSpec;
export type DatasetKind = DatasetSpec['kind'];

/** The reference's `--dataset_mode` values we read from disk. */
export const DATASET_MODES = ['folder', 'aligned', 'unaligned', 'single'] as const;
export type DatasetMode = (typeof DATASET_MODES)[number];

export interface DatasetOptions {
  /**
   * How to read a folder. Default: 'unaligned' when it has `<phase>A/` or `<phase>B/`,
   * else 'folder'. Caches and built-in names are recognised by themselves.
   */
  mode?: DatasetMode;
  /** 'train' (default) or 'test': picks `trainA/` vs `testA/`, `train/` vs `test/`. */
  phase?: string;
  direction?: Direction;
  /** Channels of the model's input (and of `folder`/`single`/cache images): 1 or 3. */
  inputNc?: number;
  /** Channels of the model's target in paired datasets: 1 or 3. */
  outputNc?: number;
  /** Class labels from the first level of sub-folders (folder), the cache's labels, or the main shape (shapes). */
  classes?: boolean;
  /** CycleGAN: take B in order (index % |B|) instead of at random. */
  serialBatches?: boolean;
  /**
   * The model's image size. Must be a power of two. For folders it is the default
   * `loadSize` and `cropSize`; a cache must have been prepared at it; built-in sets are
   * rendered at it (8 to 256, default 64).
   */
  resolution?: number;
  /**
   * A non-square model's image size (`resolution` is then its shorter side): folders are
   * resized to it (the aspect not kept, as for a square), built-in sets are rendered at its
   * longer side and centre-cropped, caches must have been prepared at it.
   */
  shape?: { width: number; height: number };
  preprocess?: PreprocessMode;
  loadSize?: number;
  cropSize?: number;
  noFlip?: boolean;
  maxDatasetSize?: number;
  /** A prepared cache is read whole into memory at opening (BigGAN's --load_in_mem); otherwise each image is read from the file when needed. */
  loadInMem?: boolean;
  /** Built-in sets: seed of the content, and how many images an epoch has. */
  seed?: number;
  count?: number;
}

export function createSampler(spec: DatasetSpec, onBad: BadFileHandler): Sampler {
  switch (spec.kind) {
    case 'folder': return folderSampler(spec, onBad);
    case 'aligned': return alignedSampler(spec, onBad);
    case 'unaligned': return unalignedSampler(spec, onBad);
    case 'single': return singleSampler(spec, onBad);
    case 'cache': return cacheSampler(spec);
    default: return proceduralSampler(spec);
  }
}

function lengthOf(spec: DatasetSpec): number {
  switch (spec.kind) {
    case 'folder': case 'aligned': case 'single': return spec.files.length;
    case 'unaligned': return Math.max(spec.filesA.length, spec.filesB.length);
    default: return spec.count;
  }
}

/** A readable dataset; open one with `openDataset`. */
export class Dataset {
  readonly spec: DatasetSpec;
  readonly length: number;
  #sampler: Sampler | null = null;
  readonly #bad: string[] = [];

  constructor(spec: DatasetSpec) {
    this.spec = spec;
    this.length = lengthOf(spec);
  }

  get kind(): DatasetKind {
    return this.spec.kind;
  }

  /** Sorted class names when samples carry labels, else null (write these into the run's config). */
  get classes(): string[] | null {
    const s = this.spec;
    if (s.kind === 'folder' || s.kind === 'cache') return s.classes;
    if (s.kind === 'shapes') return s.labels ? [...SHAPE_CLASSES] : null;
    return null;
  }

  get labeled(): boolean {
    return this.classes !== null;
  }

  /** The class of every sample, in order (labelled datasets), else null: the data's label distribution. */
  labels(): Int32Array | null {
    const s = this.spec;
    if ((s.kind === 'folder' || s.kind === 'cache') && s.labels) return s.labels.slice(0, this.length);
    if (s.kind === 'shapes' && s.labels) return Int32Array.from({ length: s.count }, (_, i) => makeScene(s.seed, 0, i).label);
    return null;
  }

  /** Whether samples have a target image `b` (pix2pix and CycleGAN datasets). */
  get paired(): boolean {
    const k = this.spec.kind;
    return k === 'aligned' || k === 'unaligned' || k === 'shapes-pairs' || k === 'shapes-domains';
  }

  /** Channels of `a` and (paired datasets) `b`. */
  get channels(): { a: Channels; b: Channels | null } {
    const s = this.spec;
    switch (s.kind) {
      case 'folder': case 'single': case 'cache': return { a: s.channels, b: null };
      case 'shapes': return { a: s.inputNc, b: null };
      default: return { a: s.inputNc, b: s.outputNc };
    }
  }

  /** The side of every output image when it is fixed (crop modes, caches, built-in sets), else null. */
  get imageSize(): number | null {
    const s = this.spec;
    if (s.kind === 'cache' || isBuiltinSet(s.kind)) return (s as CacheSpec | ProceduralSpec).resolution;
    return fixedOutputSize((s as FolderSpec).transform);
  }

  /** The path it reads, or the built-in set's name. */
  get source(): string {
    const s = this.spec;
    if (s.kind === 'cache') return s.path;
    if (isBuiltinSet(s.kind)) return s.kind;
    return (s as FolderSpec).root;
  }

  /** Files found unreadable by `get` in this thread (the loader keeps its own count). */
  get skipped(): readonly string[] {
    return this.#bad;
  }

  /** Reads one sample in this thread (tools and tests; training goes through a Loader). */
  async get(index: number, seed = 0): Promise<Sample> {
    if (!Number.isInteger(index) || index < 0 || index >= this.length) {
      throw new RangeError(`Dataset.get(${index}): index out of range [0, ${this.length})`);
    }
    this.#sampler ??= createSampler(this.spec, (file) => this.#bad.push(file));
    return this.#sampler.load(index, seed);
  }

  /** What to record in a run's config.json: enough to know what the run was trained on. */
  describe(): Record<string, unknown> {
    const s = this.spec;
    const base: Record<string, unknown> = { kind: s.kind, source: this.source, length: this.length, channels: this.channels, classes: this.classes };
    if ('transform' in s) Object.assign(base, s.transform);
    if (s.kind === 'aligned' || s.kind === 'unaligned' || s.kind === 'shapes-pairs' || s.kind === 'shapes-domains') base.direction = s.direction;
    if (s.kind === 'unaligned') Object.assign(base, { sizeA: s.filesA.length, sizeB: s.filesB.length, serialBatches: s.serialBatches });
    if (s.kind === 'cache') Object.assign(base, { resolution: s.resolution, noFlip: s.noFlip }, s.width !== s.height ? { width: s.width, height: s.height } : {});
    if (isBuiltinSet(s.kind)) {
      const p = s as ProceduralSpec;
      Object.assign(base, { resolution: p.resolution, seed: p.seed, noFlip: p.noFlip }, p.shape ? { shape: p.shape } : {});
    }
    return base;
  }

  toString(): string {
    const c = this.channels;
    const shape = this.spec.kind === 'cache' ? this.spec : (this.spec as { shape?: { width: number; height: number } }).shape;
    const height = (this.spec as { transform?: PreprocessOptions }).transform?.height;
    const size = shape ? `${shape.width}x${shape.height}` : this.imageSize ? `${this.imageSize}x${height ?? this.imageSize}` : 'sizes vary';
    const cls = this.classes ? `, ${this.classes.length} classes` : '';
    return `${this.kind} dataset ${this.source}: ${this.length} samples, ${size}, ${c.a}${c.b ? `->${c.b}` : ''} channels${cls}`;
  }
}

function transformFrom(o: DatasetOptions): PreprocessOptions {
  const res = o.shape ? o.shape.width : o.resolution;
  if (res !== undefined && o.cropSize !== undefined && o.cropSize !== res) {
    throw new DataError(`--crop_size ${o.cropSize} does not match the model's resolution ${res}: they must be equal`);
  }
  return checkPreprocess({
    preprocess: o.preprocess ?? DEFAULT_PREPROCESS.preprocess,
    loadSize: o.loadSize ?? res ?? DEFAULT_PREPROCESS.loadSize,
    cropSize: o.cropSize ?? res ?? DEFAULT_PREPROCESS.cropSize,
    noFlip: o.noFlip ?? false,
    ...(o.shape ? { height: o.shape.height } : {}),
  });
}

function maxSize(o: DatasetOptions): number {
  const m = o.maxDatasetSize ?? Infinity;
  if (!(m >= 1)) throw new DataError(`--max_dataset_size ${m} is not valid: expected a positive number`);
  return m;
}

/**
 * Opens a dataset: a built-in name (`shapes`, `shapes-pairs`, `shapes-domains`), a cache
 * file made by `ganforge dataset prepare`, or a folder read as `opts.mode`. A built-in
 * name wins over a folder of the same name; write `./shapes` for the folder.
 */
export async function openDataset(source: string, opts: DatasetOptions = {}): Promise<Dataset> {
  if (opts.resolution !== undefined) checkResolution(opts.resolution, 'resolution');
  const inputNc = checkChannels(opts.inputNc ?? 3, '--input_nc');
  const outputNc = checkChannels(opts.outputNc ?? 3, '--output_nc');
  const direction = checkDirection(opts.direction ?? 'AtoB');
  const phase = opts.phase ?? 'train';
  const classes = opts.classes ?? false;
  const maxDatasetSize = maxSize(opts);

  if (isBuiltinSet(source)) {
    const kind: BuiltinSet = source;
    return new Dataset(checkProcedural({
      kind, seed: opts.seed ?? 0, resolution: opts.resolution ?? 64, ...(opts.shape ? { shape: opts.shape } : {}), count: Math.min(opts.count ?? DEFAULT_COUNT[kind], maxDatasetSize),
      inputNc, outputNc, labels: classes, noFlip: opts.noFlip ?? false, direction, serialBatches: opts.serialBatches ?? false,
    }));
  }

  const p = path.resolve(source);
  let st: fs.Stats;
  try {
    st = fs.statSync(p);
  } catch {
    throw new DataError(`${source}: no such file or folder (expected an image folder, a dataset cache, or one of ${BUILTIN_SETS.join(', ')})`, p);
  }
  if (st.isFile()) {
    if (isCacheFile(p)) {
      if (opts.mode && opts.mode !== 'folder') throw new DataError(`${p} is a dataset cache of single images; --dataset_mode ${opts.mode} needs a folder`, p);
      return new Dataset(openCache(p, { channels: inputNc, classes, noFlip: opts.noFlip ?? false, resolution: opts.resolution, shape: opts.shape, maxDatasetSize, loadInMem: opts.loadInMem }));
    }
    if (opts.mode === 'single') return new Dataset(openSingle(p, { channels: inputNc, transform: transformFrom(opts), maxDatasetSize }));
    throw new DataError(`${p} is a file: expected an image folder or a dataset cache (made by 'ganforge dataset prepare')`, p);
  }
  if (!st.isDirectory()) throw new DataError(`${p} is neither a file nor a folder (expected an image folder or a dataset cache)`, p);

  const transform = transformFrom(opts);
  const mode = opts.mode ?? (hasDomainFolders(p, phase) ? 'unaligned' : 'folder');
  if (classes && mode !== 'folder') {
    throw new DataError(`--classes needs a folder dataset with one sub-folder per class; ${p} is read as '${mode}', which has no labels`, p);
  }
  switch (mode) {
    case 'folder':
      return new Dataset(openFolder(p, { classes, channels: inputNc, transform, maxDatasetSize }));
    case 'aligned':
      return new Dataset(openAligned(p, { phase, direction, inputNc, outputNc, transform, maxDatasetSize }));
    case 'unaligned':
      return new Dataset(openUnaligned(p, { phase, direction, inputNc, outputNc, serialBatches: opts.serialBatches ?? false, transform, maxDatasetSize }));
    case 'single':
      return new Dataset(openSingle(p, { channels: inputNc, transform, maxDatasetSize }));
    default:
      throw new DataError(`--dataset_mode ${String(mode)} is not known: expected one of ${DATASET_MODES.join(', ')}`);
  }
}
