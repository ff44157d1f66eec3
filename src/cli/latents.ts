// What `sample`, `interpolate` and `mix` share: a seed's latent, class labels, the
// truncation options, rendering with fixed noise, and the checks on --run and --out.
import * as torch from '../torch/index.js';
import { UsageError } from '../config/errors.js';
import { defineSchema } from '../config/options.js';
import type { RecipeDef, Recipe, StyleAccess } from '../train/recipe.js';
import type { LoadedRun } from '../families/load.js';
import { IMAGE_FILE, checkOutputPath, checkReplaceableFile } from '../run/output.js';
import { readLatentsFile } from '../io/latents_file.js';
import { NumpyRandomState } from '../util/numpy_random.js';

/** 'fixed' (generate.py's 'const'): the stored noise maps; 'random': fresh per image; 'none': no noise (StyleGAN2). */
export type NoiseMode = 'fixed' | 'const' | 'random' | 'none';

/** Options `sample`, `interpolate` and `mix` all take. */
export const RUN_OPTIONS = defineSchema({
  run: { type: 'string', default: null, help: 'run folder written by ganforge train', metavar: 'DIR' },
  checkpoint: { type: 'string', default: null, help: 'checkpoint name under checkpoints/ (default: the latest)', metavar: 'NAME' },
  device: { type: 'string', default: 'cpu', help: "'cpu' or 'cuda[:N]'" },
});

export const TRUNCATION_OPTIONS = defineSchema({
  truncation_psi: { type: 'float', default: 1, aliases: ['trunc'], help: "truncation ψ (style-based models; generate.py's --trunc): w ← avg + ψ·(w − avg); 1 = none, 0 = the average w", metavar: 'PSI' },
  truncation_cutoff: { type: 'int', default: null, help: 'truncate only the first N synthesis layers (the paper uses 8; default: all layers)', min: 1, metavar: 'N' },
});

/** Run folders of translation families cannot draw images from latents. */
export function rejectTranslationRun(def: RecipeDef, run: string, command: string): void {
  if (def.data === 'aligned' || def.data === 'unaligned') {
    throw new UsageError(`${run} is a ${def.name} run, which translates images rather than drawing them from latents, so '${command}' does not apply: use 'ganforge translate --run ${run} --input IMAGES --out DIR'`);
  }
}

/**
 * Before any work: the image file --out can be written, and an existing one is replaced
 * only with --force and only when it is an image (the rule of run/output.ts).
 */
export function checkOutputImage(out: string, force: boolean): void {
  checkOutputPath(out, '--out', 'file');
  checkReplaceableFile(out, '--out', force, IMAGE_FILE);
}

/** "1,2,5-7" → [1, 2, 5, 6, 7]. */
export function parseSeeds(spec: string, option: string, opts: { min?: number; max?: number } = {}): number[] {
  const seeds: number[] = [];
  for (const part of spec.split(',').map((s) => s.trim())) {
    const m = /^(\d+)(?:-(\d+))?$/.exec(part);
    if (!m) throw new UsageError(`--${option} expects seeds such as 1,2,3 or 10-15; got '${spec}'`);
    const a = Number(m[1]);
    const b = m[2] === undefined ? a : Number(m[2]);
    if (b < a) throw new UsageError(`--${option}: the range ${part} runs backwards`);
    if (!Number.isSafeInteger(b) || b > 0xffffffff) throw new UsageError(`--${option}: seeds must be below 2^32, got ${part}`);
    for (let s = a; s <= b; s++) {
      seeds.push(s);
      if (seeds.length > (opts.max ?? 1024)) throw new UsageError(`--${option}: at most ${opts.max ?? 1024} seeds`);
    }
  }
  if (seeds.length < (opts.min ?? 1)) throw new UsageError(`--${option} needs at least ${opts.min} seeds, got ${seeds.length} ('${spec}')`);
  return seeds;
}

/** A short file-name part for a list of seeds. */
export function seedsTag(seeds: number[]): string {
  const s = seeds.join('_');
  return s.length <= 40 ? s : `${seeds[0]}_to_${seeds[seeds.length - 1]}_${seeds.length}`;
}

/** The class index --class names (a name or an index), checked against the run. */
export function classIndex(loaded: LoadedRun, cls: string | null): number | null {
  if (!loaded.classes) {
    if (cls !== null) throw new UsageError('--class applies to class-conditional runs only (this one was trained without --classes)');
    return null;
  }
  if (cls === null) return null;
  const k = loaded.classes.length;
  const idx = /^\d+$/.test(cls) ? Number(cls) : loaded.classes.indexOf(cls);
  if (idx < 0 || idx >= k) throw new UsageError(`--class ${cls}: the run's classes are ${loaded.classes.map((x, i) => `${i}:${x}`).join(', ')}`);
  return idx;
}

export interface Truncation {
  psi: number | null;
  /** Resolved: a number of layers, never null when psi is set (the model reads null as "none"). */
  cutoff: number | null;
}

/**
 * --truncation_psi / --truncation_cutoff checked against the model: style-based models only
 * (ψ = 1 is accepted anywhere, as it changes nothing). The cutoff defaults to every layer.
 */
export function truncationOf(recipe: Recipe, model: string, psi: number, cutoff: number | null, cutoffGiven: boolean): Truncation {
  if (!recipe.style) {
    if (psi !== 1) throw new UsageError(`--truncation_psi applies to style-based models (stylegan); a ${model} generator has no w to truncate (use 1 or leave it out)`);
    if (cutoffGiven) throw new UsageError(`--truncation_cutoff applies to style-based models (stylegan); a ${model} generator has no synthesis layers to cut off`);
    return { psi: null, cutoff: null };
  }
  if (psi === 1) return { psi: null, cutoff: null };
  return { psi, cutoff: Math.min(cutoff ?? recipe.style.numLayers, recipe.style.numLayers) };
}

/**
 * The latent of each seed, as `ganforge sample --seed S --n 1` draws it ([S, ...] together).
 * (Not always row 0 of a larger draw: libtorch's CPU randn takes another path below 16 values.)
 */
export function seedLatents(recipe: Recipe, seeds: readonly number[], label: number | null): { z: torch.Tensor; labels: torch.Tensor | null } {
  return torch.scope(() => {
    const zs = seeds.map((s) => torch.withSeed(s, () => {
      const inputs = recipe.sampleInputs(1, label === null ? null : [label]);
      if (!inputs.z) throw new Error('this recipe draws no latents');
      return inputs.z;
    }));
    const z = torch.cat(zs);
    const labels = label === null ? null : torch.full([seeds.length], label, { dtype: 'int64', device: z.device });
    return { z, labels };
  });
}

/** Options choosing where latents come from, for commands that draw images from latents. */
export const LATENT_SOURCE_OPTIONS = defineSchema({
  z: { type: 'string', default: null, help: 'latents from a file instead of a seed: .npy or .safetensors (one tensor, or one named z), float32 or float64 [N, z_dim]; one image per row', metavar: 'FILE' },
  seed_rng: { type: 'string', default: null, choices: ['torch', 'numpy'], help: "what draws a seed's latents: torch (ganforge's generator, as the training sample grids; the default for --run) or numpy (np.random.RandomState(seed).randn(n, z_dim), as NVIDIA's generate.py draws z; the default for --network)" },
});

export type SeedRng = 'torch' | 'numpy';

/** --seed_rng resolved: numpy for NVIDIA networks (generate.py draws z with numpy), torch for our runs. */
export function seedRngOf(given: SeedRng | null, network: boolean): SeedRng {
  return given ?? (network ? 'numpy' : 'torch');
}

/** The shape of one latent of the recipe's generator (without the batch) and its device. */
export function latentShape(recipe: Recipe): { shape: number[]; device: torch.Device } {
  return torch.scope(() => torch.withSeed(0, () => {
    const z = recipe.sampleInputs(1, null).z;
    if (!z) throw new UsageError('this model draws no latents');
    return { shape: z.shape.slice(1), device: z.device };
  }));
}

function float32Latents(values: Float64Array, n: number, shape: readonly number[], device: torch.Device): torch.Tensor {
  const f32 = Float32Array.from(values);
  const t = torch.fromBytes(new Uint8Array(f32.buffer), [n, ...shape], 'float32');
  if (device === 'cpu') return t;
  const moved = t.to(device);
  t.dispose();
  return moved;
}

const numel = (shape: readonly number[]) => shape.reduce((a, b) => a * b, 1);

/**
 * `n` latents as numpy draws them: `RandomState(seed).randn(n, z_dim)`, row after row,
 * rounded to float32 (NVIDIA's networks cast z to float32 first thing).
 */
export function numpyLatents(seed: number, n: number, shape: readonly number[], device: torch.Device = 'cpu'): torch.Tensor {
  return float32Latents(new NumpyRandomState(seed).randn(n * numel(shape)), n, shape, device);
}

/** One latent per seed as generate.py draws it: `RandomState(seed).randn(1, z_dim)`. */
export function numpySeedLatents(seeds: readonly number[], shape: readonly number[], device: torch.Device = 'cpu'): torch.Tensor {
  const d = numel(shape);
  const all = new Float64Array(seeds.length * d);
  seeds.forEach((s, i) => all.set(new NumpyRandomState(s).randn(d), i * d));
  return float32Latents(all, seeds.length, shape, device);
}

/**
 * --z FILE as a float32 tensor [N, ...shape]: the file holds [N, z_dim] with z_dim the
 * size of one latent (or exactly [N, ...shape]).
 */
export function fileLatents(path: string, shape: readonly number[], device: torch.Device = 'cpu', model = 'this'): torch.Tensor {
  let raw;
  try {
    raw = readLatentsFile(path);
  } catch (e) {
    throw new UsageError(`--z ${(e as Error).message}`);
  }
  const d = numel(shape);
  const n = raw.shape[0]!;
  const perRow = numel(raw.shape.slice(1));
  const exact = raw.shape.length === shape.length + 1 && shape.every((s, i) => raw.shape[i + 1] === s);
  if (!(raw.shape.length === 2 && perRow === d) && !exact) {
    throw new UsageError(`--z ${path}: latents have shape [${raw.shape.join(', ')}]; ${model} generator takes z of ${d} values per image ([N, ${d}])`);
  }
  return torch.scope(() => {
    const t = torch.fromBytes(raw.data, raw.shape, raw.dtype).reshape([n, ...shape]);
    const f = raw.dtype === 'float32' ? t : t.to('float32');
    return device === 'cpu' ? f : f.to(device);
  });
}

/** Runs `fn` on chunks of `n` items and concatenates the image batches it returns. */
export function chunked(n: number, size: number, fn: (start: number, len: number) => torch.Tensor): torch.Tensor {
  return torch.scope(() => {
    const parts: torch.Tensor[] = [];
    for (let i = 0; i < n; i += size) parts.push(fn(i, Math.min(size, n - i)));
    return parts.length === 1 ? parts[0] : torch.cat(parts);
  });
}

/**
 * Images from latents z [N, ...] (labels [N] or null) in batches of `batch`, with
 * truncation. A style-based model with 'fixed' noise draws every image with the model's
 * stored noise maps, so images differ only by their latents.
 */
export function renderLatents(recipe: Recipe, z: torch.Tensor, labels: torch.Tensor | null, t: Truncation, noise: NoiseMode = 'fixed', batch = 16): torch.Tensor {
  const style = recipe.style;
  return torch.noGrad(() => chunked(z.size(0), batch, (i, len) => {
    const zi = z.narrow(0, i, len), li = labels ? labels.narrow(0, i, len) : null;
    if (style && (noise === 'fixed' || noise === 'const')) return style.synthesize(style.dlatents(zi, li, t.psi, t.cutoff), false);
    if (style && noise === 'none') {
      if (!style.synthesizeNoiseless) throw new UsageError("--noise none: this model's noise inputs cannot be switched off");
      return style.synthesizeNoiseless(style.dlatents(zi, li, t.psi, t.cutoff));
    }
    return recipe.generate({ z: zi, labels: li, truncationPsi: t.psi, truncationCutoff: t.cutoff });
  }));
}

/** Images from dlatents w [N, numLayers, D] with the model's stored noise maps. */
export function renderDlatents(style: StyleAccess, w: torch.Tensor, batch = 16): torch.Tensor {
  return torch.noGrad(() => chunked(w.size(0), batch, (i, len) => style.synthesize(w.narrow(0, i, len), false)));
}

/** Frees a loaded run: its networks, its optimisers' state and whatever else the recipe holds. */
export function disposeRun(loaded: LoadedRun): void {
  for (const net of Object.values(loaded.recipe.networks())) net.dispose();
  for (const opt of Object.values(loaded.recipe.optimizers())) opt.dispose();
  loaded.recipe.dispose?.();
}
