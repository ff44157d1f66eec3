// The generator behind `project`, `sample --w` and the w-space figures (`interpolate`,
// `mix`): a run folder's (style-based families) or an NVIDIA network pickle's G_ema, with
// what the two draw differently — a seed's z (ganforge's torch generator for a run, the
// latent `sample --seed S --n 1` draws; numpy's RandomState(seed) for a network, as
// generate.py) and the quantisation of images (a run's as its sample grids; a network's
// as generate.py's) — and w files read against it.
import { existsSync } from 'node:fs';
import * as torch from '../torch/index.js';
import type { Tensor } from '../torch/index.js';
import { UsageError } from '../config/errors.js';
import { tensorToImages, type ImageBytes } from '../data/index.js';
import { loadRun, readRunOptions, type LoadedRun } from '../families/load.js';
import { loadNetworkGenerator } from '../families/network.js';
import { runStyleGenerator, type StyleGenerator, type StyleNoise } from '../families/style_generator.js';
import type { RecipeDef } from '../train/recipe.js';
import { readWFile } from '../io/w_file.js';
import type { RawTensor } from '../io/raw.js';
import { chunked, classIndex, disposeRun, numpySeedLatents, rejectTranslationRun, seedLatents } from './latents.js';

export interface StyleSource {
  readonly G: StyleGenerator;
  /** For messages: the checkpoint, or the network file. */
  readonly name: string;
  readonly network: boolean;
  /** A seed's latent as `sample` draws it for this source ([seeds, zDim]). */
  seedZ(seeds: readonly number[]): Tensor;
  /**
   * --class resolved against the generator: an index, or null when unconditional. A
   * conditional generator without --class takes class 0, or refuses when `required`.
   */
  classOf(spec: string | null, required?: boolean): number | null;
  /** Images in [-1, 1] as this source's `sample` quantises them. */
  toBytes(images: Tensor): ImageBytes;
  dispose(): void;
}

/** generate.py's quantisation: (img·127.5 + 128) clamped to [0, 255], truncated to uint8, NHWC. */
export function generatePyBytes(images: Tensor): ImageBytes {
  const [n, channels, height, width] = images.shape as [number, number, number, number];
  const data = torch.scope(() => images.mul(127.5).add(128).clamp(0, 255).to('uint8').permute(0, 2, 3, 1).contiguous().cpu().toBytes());
  return { data, n, height, width, channels };
}

export interface SourceOptions {
  run: string | null;
  checkpoint: string | null;
  network: string | null;
  device: string;
}

/**
 * Opens --run DIR or --network X.pkl. `notStyle` words the error for a run of a family
 * without w (given the family's definition).
 */
export function openStyleSource(o: SourceOptions, command: string, given: ReadonlySet<string>, notStyle: (def: RecipeDef, run: string) => string): StyleSource {
  if (o.network !== null) {
    if (given.has('run')) throw new UsageError('--run and --network each name a generator: give one or the other');
    if (given.has('checkpoint')) throw new UsageError('--checkpoint applies to --run; a network pickle holds one generator');
    return networkSource(o.network, o.device as torch.Device);
  }
  if (!o.run) throw new UsageError(`${command} needs --run DIR (a folder written by ganforge train) or --network X.pkl`);
  const { def } = readRunOptions(o.run);
  rejectTranslationRun(def, o.run, command);
  const loaded = loadRun(o.run, { checkpoint: o.checkpoint, device: o.device });
  const G = runStyleGenerator(loaded.recipe, loaded.classes?.length ?? 0);
  if (!G) {
    disposeRun(loaded);
    throw new UsageError(notStyle(def, o.run));
  }
  return runSource(loaded, G);
}

function runSource(loaded: LoadedRun, G: StyleGenerator): StyleSource {
  return {
    G, name: loaded.checkpoint, network: false,
    seedZ: (seeds) => seedLatents(loaded.recipe, seeds, null).z,
    classOf: (spec, required = false) => {
      const idx = classIndex(loaded, spec);
      if (idx === null && loaded.classes && required) throw new UsageError(`the run is class-conditional (${loaded.classes.length} classes): give --class (${loaded.classes.map((x, i) => `${i}:${x}`).join(', ')})`);
      return idx ?? (loaded.classes ? 0 : null);
    },
    toBytes: (images) => tensorToImages(images),
    dispose: () => disposeRun(loaded),
  };
}

function networkSource(file: string, device: torch.Device): StyleSource {
  const net = loadNetworkGenerator(file, device);
  const G = net.style;
  return {
    G, name: file, network: true,
    seedZ: (seeds) => numpySeedLatents(seeds, [G.zDim], device),
    classOf: (spec, required = false) => {
      if (G.cDim === 0) {
        if (spec !== null) throw new UsageError(`--class applies to conditional networks; ${file} is unconditional`);
        return null;
      }
      if (spec === null) {
        if (required) throw new UsageError(`${file} is a conditional network (${G.cDim} classes): give --class K (0 to ${G.cDim - 1})`);
        return 0;
      }
      if (!/^\d+$/.test(spec) || Number(spec) >= G.cDim) throw new UsageError(`--class ${spec}: ${file} has classes 0 to ${G.cDim - 1}`);
      return Number(spec);
    },
    toBytes: generatePyBytes,
    dispose: () => net.dispose(),
  };
}

/**
 * A w file read and checked against the generator: w float32 [N, numWs, wDim] on its
 * device, and the file's noise maps, each one of the generator's, of the same shape.
 */
export function readWAgainst(src: StyleSource, path: string, option: string): { w: Tensor; noise: Record<string, RawTensor> } {
  let f;
  try {
    f = readWFile(path);
  } catch (e) {
    const msg = (e as Error).message;
    throw new UsageError(`${option} ${msg.includes(path) ? msg : `${path}: ${msg}`}`);
  }
  const [n, L, D] = f.w.shape as [number, number, number];
  if (L !== src.G.numWs || D !== src.G.wDim) {
    throw new UsageError(`${option} ${path}: w has shape [${f.w.shape.join(', ')}]; ${src.name} takes w of [N, ${src.G.numWs}, ${src.G.wDim}] (a projection of another network?)`);
  }
  const maps = new Map(src.G.noiseMaps());
  for (const [k, raw] of Object.entries(f.noise)) {
    const buf = maps.get(k);
    if (!buf) throw new UsageError(`${option} ${path}: '${k}' is not a noise map of ${src.name} (a projection of another network?)`);
    if (raw.shape.join(',') !== buf.shape.join(',')) throw new UsageError(`${option} ${path}: noise map '${k}' has shape [${raw.shape.join(', ')}], ${src.name}'s has [${buf.shape.join(', ')}]`);
  }
  const w = torch.scope(() => {
    const t = torch.fromBytes(f.w.data, [n, L, D], f.w.dtype).to('float32');
    return src.G.device === 'cpu' ? t : t.to(src.G.device);
  });
  return { w, noise: f.noise };
}

const asTensor = (raw: RawTensor): Tensor => torch.fromBytes(raw.data, raw.shape, raw.dtype);

/**
 * Puts the noise maps of a w file (read by readWAgainst) into the generator's stored ones,
 * what 'const' noise draws with; returns how many.
 */
export function applyNoiseMaps(src: StyleSource, noise: Record<string, RawTensor>): number {
  const maps = new Map(src.G.noiseMaps());
  torch.noGrad(() => torch.scope(() => {
    for (const [k, raw] of Object.entries(noise)) maps.get(k)!.copy_(asTensor(raw));
  }));
  return Object.keys(noise).length;
}

/**
 * Sets the stored noise maps between two w files' maps (both read by readWAgainst, with
 * the same names): ((1 − t)·a + t·b) / √((1 − t)² + t²), which keeps independent maps of
 * unit variance at unit variance along the way; a at t = 0 and b at t = 1 exactly.
 */
export function blendNoiseMaps(src: StyleSource, a: Record<string, RawTensor>, b: Record<string, RawTensor>, t: number): void {
  if (t === 0 || t === 1) {
    applyNoiseMaps(src, t === 0 ? a : b);
    return;
  }
  const maps = new Map(src.G.noiseMaps());
  const norm = Math.hypot(1 - t, t);
  torch.noGrad(() => torch.scope(() => {
    for (const [k, raw] of Object.entries(a)) maps.get(k)!.copy_(asTensor(raw).mul((1 - t) / norm).add(asTensor(b[k]!).mul(t / norm)));
  }));
}

/** Images of w [N, numWs, wDim] in batches, without autograd. */
export function synthesizeW(G: StyleGenerator, w: Tensor, noise: StyleNoise = 'const', batch = 16): Tensor {
  return torch.noGrad(() => chunked(w.size(0), batch, (i, len) => G.synthesis(w.narrow(0, i, len), noise)));
}

/** FILE[,FILE...] → the paths, each an existing file. */
export function splitFiles(spec: string, option: string): string[] {
  const files = spec.split(',').map((s) => s.trim()).filter((s) => s !== '');
  if (files.length === 0) throw new UsageError(`--${option} names no file`);
  for (const f of files) if (!existsSync(f)) throw new UsageError(`--${option} ${f}: no such file`);
  return files;
}
