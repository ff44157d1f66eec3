// `ganforge interpolate --run DIR --seeds 1,2,3`: a walk through latent space from one
// seed's image to the next, as a PNG strip (one row per segment) or an animated GIF/WebP.
import * as fsp from 'node:fs/promises';
import { rmSync } from 'node:fs';
import { dirname, extname, join, resolve } from 'node:path';
import { randomBytes } from 'node:crypto';
import sharp from 'sharp';
import * as torch from '../torch/index.js';
import { UsageError } from '../config/errors.js';
import { parseCommand } from './command.js';
import { defineSchema, formatOptions, type OptionsOf } from '../config/options.js';
import { gridFromBytes, tensorToImages, writeImage, type ImageBytes } from '../data/index.js';
import { loadRun, readRunOptions } from '../families/load.js';
import type { StyleAccess } from '../train/recipe.js';
import {
  RUN_OPTIONS, TRUNCATION_OPTIONS, classIndex, disposeRun, parseSeeds, checkOutputImage, rejectTranslationRun,
  renderDlatents, renderLatents, seedLatents, seedsTag, truncationOf,
} from './latents.js';
import { blendNoiseMaps, openStyleSource, readWAgainst, splitFiles, synthesizeW } from './style_source.js';
import type { RawTensor } from '../io/raw.js';

const SCHEMA = defineSchema({
  run: RUN_OPTIONS.run,
  checkpoint: RUN_OPTIONS.checkpoint,
  network: { type: 'string', default: null, help: "an NVIDIA network pickle instead of --run (its G_ema; seeds drawn with numpy's RandomState, as generate.py)", metavar: 'PKL' },
  seeds: { type: 'string', default: null, help: 'the seeds to walk through, in order (at least two): 1,2,3 or 10-14', metavar: 'SEEDS' },
  w: { type: 'string', default: null, help: "walk through w from files instead of seeds (ganforge project's projected_w.safetensors, ...): every w of each file, in order, at least two in all; in w space, without truncation, with the files' noise maps blended when they hold them", metavar: 'FILES' },
  steps: { type: 'int', default: 8, help: 'steps from one seed to the next (each segment has steps + 1 images, both seeds included)', min: 1, max: 1024 },
  space: { type: 'string', default: 'z', choices: ['z', 'w'], help: 'walk in z (spherical interpolation) or in w (linear; style-based models only)' },
  loop: { type: 'bool', default: false, help: 'close the walk with a segment from the last seed back to the first' },
  class: { type: 'string', default: null, help: 'class name or index for a conditional model (default: 0)', metavar: 'C' },
  ...TRUNCATION_OPTIONS,
  out: { type: 'string', default: null, help: '.png/.jpg strip, or .gif/.webp animation (default: <run>/samples/interpolate-<space>-seeds<seeds>.png)', metavar: 'FILE' },
  fps: { type: 'float', default: 12, help: 'frames per second of a .gif/.webp animation', min: 0.02, max: 100 },
  device: RUN_OPTIONS.device,
  force: { type: 'bool', default: false, help: 'overwrite --out if it exists' },
});

export const INTERPOLATE_HELP = `Usage: ganforge interpolate --run DIR --seeds 1,2,3 [options]
       ganforge interpolate --network X.pkl --seeds 1,2,3 --out FILE [options]
       ganforge interpolate --network X.pkl --w a/projected_w.safetensors,b/projected_w.safetensors --out FILE

Walks from each seed's latent to the next (a seed's latent is the one
'ganforge sample --seed S --n 1' draws, so the walk starts and ends on that image):
spherical interpolation in z, or linear interpolation in w (style-based models, where
the paper measures perceptual path length). Style-based models render every frame with
the same noise maps (the generator's stored ones). With --network, a seed's latent is
numpy's RandomState(seed), as 'sample --network' and generate.py draw it. With --w, the
walk goes linearly through given w (projections, say); when every file holds noise maps
(project's do), each frame is drawn with its stops' maps blended, ((1 − t)·a + t·b) /
√((1 − t)² + t²), so every stop is its projection's proj.png; otherwise with the
generator's stored maps.

  .png/.jpg  a strip: one row per segment, steps + 1 images from one seed to the next
  .gif/.webp an animation: (seeds − 1)·steps + 1 frames (seeds·steps with --loop), looping
             (WebP stores identical consecutive frames once, with their durations added)

Options:
${formatOptions(SCHEMA)}
`;

/** Spherical interpolation between two latents (flattened), endpoints exact; lerp when they are parallel. */
export function slerpWeights(a: ArrayLike<number>, b: ArrayLike<number>, t: number): [number, number] {
  if (t === 0) return [1, 0];
  if (t === 1) return [0, 1];
  let dot = 0, na = 0, nb = 0;
  for (let i = 0; i < a.length; i++) {
    dot += a[i] * b[i];
    na += a[i] * a[i];
    nb += b[i] * b[i];
  }
  const cos = Math.min(1, Math.max(-1, dot / Math.sqrt(na * nb || 1)));
  const omega = Math.acos(cos);
  const so = Math.sin(omega);
  if (so < 1e-6) return [1 - t, t];
  return [Math.sin((1 - t) * omega) / so, Math.sin(t * omega) / so];
}

/**
 * The walk's frames as [segment, t] pairs: every segment's steps + 1 points for a strip;
 * shared endpoints once for an animation, which ends on the last seed or, looped, just
 * before the first one comes round again.
 */
export function walkPoints(segments: number, steps: number, strip: boolean, loop = false): Array<[number, number]> {
  const pts: Array<[number, number]> = [];
  for (let s = 0; s < segments; s++) {
    for (let k = 0; k < steps; k++) pts.push([s, k / steps]);
    if (strip || (s === segments - 1 && !loop)) pts.push([s, 1]);
  }
  return pts;
}

/**
 * The frames' latents: z [F, ...] by slerp between consecutive seeds' z, or w [F, L, D] by
 * lerp between their w (already truncated). `ends[s]` and `ends[s + 1]` bound segment s.
 */
function walkLatents(ends: torch.Tensor, points: Array<[number, number]>, spherical: boolean): torch.Tensor {
  return torch.scope(() => {
    const rows = ends.unbind(0);
    const flat = spherical ? rows.map((r) => r.cpu().toTypedArray() as Float32Array) : [];
    const nEnds = rows.length;
    return torch.stack(points.map(([s, t]) => {
      const a = rows[s], b = rows[(s + 1) % nEnds];
      if (t === 0) return a;
      if (t === 1) return b;
      const [ca, cb] = spherical ? slerpWeights(flat[s], flat[(s + 1) % nEnds], t) : [1 - t, t];
      return a.mul(ca).add(b.mul(cb));
    }));
  });
}

/** Frames (uint8, same size) as an animated GIF or WebP file, written via a temporary name. */
export async function writeAnimation(frames: ImageBytes, file: string, fps: number): Promise<void> {
  let { data, channels } = frames;
  if (channels === 1) {
    const rgb = new Uint8Array(data.length * 3);
    for (let i = 0; i < data.length; i++) rgb[3 * i] = rgb[3 * i + 1] = rgb[3 * i + 2] = data[i];
    [data, channels] = [rgb, 3];
  }
  const delay = Array<number>(frames.n).fill(Math.round(1000 / fps));
  const img = sharp(data, { raw: { width: frames.width, height: frames.height * frames.n, channels: channels as 3 | 4, pageHeight: frames.height } });
  const bytes = extname(file).toLowerCase() === '.gif'
    ? await img.gif({ loop: 0, delay }).toBuffer()
    : await img.webp({ loop: 0, delay, quality: 95 }).toBuffer();
  await fsp.mkdir(dirname(resolve(file)), { recursive: true });
  const tmp = `${file}.tmp-${process.pid}-${randomBytes(4).toString('hex')}`;
  try {
    await fsp.writeFile(tmp, bytes);
    await fsp.rename(tmp, file);
  } catch (e) {
    rmSync(tmp, { force: true });
    throw e;
  }
}

/** The walk's frames written as a strip (one row per segment) or an animation. */
async function writeWalk(bytes: ImageBytes, out: string, animated: boolean, steps: number, fps: number): Promise<void> {
  if (animated) await writeAnimation(bytes, out, fps);
  else await writeImage(gridFromBytes(bytes, { nrow: steps + 1 }), out);
}

const MAX_FRAMES = 4096;

export async function interpolateCommand(argv: string[]): Promise<number> {
  const parsed = parseCommand(argv, SCHEMA, 'interpolate', INTERPOLATE_HELP);
  if (!parsed) return 0;
  const { options: o, given } = parsed;
  if (!o.run && !o.network) throw new UsageError('interpolate needs --run DIR (a folder written by ganforge train) or --network X.pkl');
  let files: string[] | null = null;
  if (o.w !== null) {
    if (o.seeds !== null) throw new UsageError('--seeds and --w each give the stops of the walk: give one or the other');
    if (given.has('space') && o.space === 'z') throw new UsageError('--w walks in w (the files hold w, not z): leave --space out');
    if (given.has('truncation_psi') || given.has('truncation_cutoff')) throw new UsageError('--truncation_psi applies to w drawn from seeds; w files are used as they are');
    files = splitFiles(o.w, 'w');
  } else if (!o.seeds) {
    throw new UsageError('interpolate needs --seeds, at least two of them (e.g. --seeds 1,2,3), or --w FILES');
  }
  const seeds = files ? null : parseSeeds(o.seeds!, 'seeds', { min: 2, max: 256 });
  const space: 'z' | 'w' = files ? 'w' : o.space;
  if (o.network !== null && !o.out) throw new UsageError('interpolate --network needs --out FILE (.png/.jpg strip or .gif/.webp animation)');
  const out = o.out ?? join(o.run!, 'samples', `interpolate-${space}-${seeds ? `seeds${seedsTag(seeds)}` : `w${files!.length}`}.png`);
  const ext = extname(out).toLowerCase();
  if (!['.png', '.jpg', '.jpeg', '.gif', '.webp'].includes(ext)) throw new UsageError(`--out ${out}: expected a .png or .jpg strip, or a .gif or .webp animation`);
  const animated = ext === '.gif' || ext === '.webp';
  if (!animated && given.has('fps')) throw new UsageError(`--fps applies to animations: name a .gif or .webp --out (${out} is a still strip)`);
  checkOutputImage(out, o.force);
  const walk = { out, animated, space, seeds };
  return o.network === null && files === null ? interpolateRun(o, given, walk) : interpolateStyle(o, given, walk, files);
}

type InterpolateOptions = OptionsOf<typeof SCHEMA>;
interface Walk { out: string; animated: boolean; space: 'z' | 'w'; seeds: number[] | null }

/** Seeds of a run: any family in z, style-based ones in w too. */
async function interpolateRun(o: InterpolateOptions, given: ReadonlySet<string>, { out, animated, space, seeds: s }: Walk): Promise<number> {
  const seeds = s!;
  const run = o.run!;
  const { def } = readRunOptions(run);
  rejectTranslationRun(def, run, 'interpolate');
  const loaded = loadRun(run, { checkpoint: o.checkpoint, device: o.device });
  try {
    const recipe = loaded.recipe;
    const style: StyleAccess | undefined = recipe.style;
    if (space === 'w' && !style) throw new UsageError(`--space w needs a style-based model (stylegan): a ${def.name} generator has no w; use --space z`);
    const trunc = truncationOf(recipe, def.name, o.truncation_psi, o.truncation_cutoff, given.has('truncation_cutoff'));
    const label = loaded.classes ? (classIndex(loaded, o.class) ?? 0) : classIndex(loaded, o.class);
    const segments = o.loop ? seeds.length : seeds.length - 1;
    const steps = o.steps;
    const points = walkPoints(segments, steps, !animated, o.loop);
    if (points.length > MAX_FRAMES) throw new UsageError(`${points.length} images is more than one walk holds (${MAX_FRAMES}): fewer --seeds or --steps`);
    const started = Date.now();
    const images = torch.scope(() => {
      const { z, labels } = seedLatents(recipe, seeds, label);
      const frameLabels = labels ? labels.narrow(0, 0, 1).expand(points.length).contiguous() : null;
      if (space === 'w') {
        const w = torch.noGrad(() => style!.dlatents(z, labels, trunc.psi, trunc.cutoff));
        return renderDlatents(style!, walkLatents(w, points, false));
      }
      return renderLatents(recipe, walkLatents(z, points, true), frameLabels, trunc);
    });
    const bytes = tensorToImages(images);
    images.dispose();
    await writeWalk(bytes, out, animated, steps, o.fps);
    const what = animated ? `a ${points.length}-frame animation` : `a ${segments} × ${steps + 1} strip`;
    process.stdout.write(`wrote ${what} (${space}, seeds ${seeds.join(',')}${o.loop ? ', looped' : ''}) from ${loaded.checkpoint} to ${out} in ${((Date.now() - started) / 1000).toFixed(1)} s\n`);
  } finally {
    disposeRun(loaded);
  }
  return 0;
}

/** A network's seeds (z or w), or w files for a network or a style-based run. */
async function interpolateStyle(o: InterpolateOptions, given: ReadonlySet<string>, { out, animated, space, seeds }: Walk, files: string[] | null): Promise<number> {
  const src = openStyleSource(o, 'interpolate', given, (def) => `--w needs a style-based model (stylegan): a ${def.name} generator has no w`);
  try {
    const G = src.G;
    const cls = src.classOf(o.class);
    const steps = o.steps;
    const started = Date.now();
    const walk = torch.scope(() => {
      let ends: torch.Tensor;
      // Each stop's noise maps (its file's), when every file holds the same set: a projection's own.
      let stopNoise: Record<string, RawTensor>[] | null = null;
      if (files) {
        const read = files.map((f) => readWAgainst(src, f, '--w'));
        ends = torch.cat(read.map((r) => r.w));
        const names = (n: Record<string, RawTensor>) => Object.keys(n).sort().join(',');
        if (read.every((r) => names(r.noise) !== '' && names(r.noise) === names(read[0]!.noise))) {
          stopNoise = read.flatMap((r) => Array<Record<string, RawTensor>>(r.w.size(0)).fill(r.noise));
        }
      } else {
        const z = src.seedZ(seeds!);
        ends = space === 'w' ? torch.noGrad(() => G.mapping(z, cls, o.truncation_psi, o.truncation_cutoff)) : z;
      }
      const stops = ends.size(0);
      if (stops < 2) throw new UsageError(`--w: ${files!.join(', ')} hold${files!.length === 1 ? 's' : ''} one w; a walk needs at least two`);
      const segments = o.loop ? stops : stops - 1;
      const points = walkPoints(segments, steps, !animated, o.loop);
      if (points.length > MAX_FRAMES) throw new UsageError(`${points.length} images is more than one walk holds (${MAX_FRAMES}): fewer stops or --steps`);
      const frames = walkLatents(ends, points, space === 'z');
      const ws = space === 'z' ? torch.noGrad(() => G.mapping(frames, cls, o.truncation_psi, o.truncation_cutoff)) : frames;
      if (!stopNoise) return { bytes: src.toBytes(synthesizeW(G, ws)), stops, segments, frames: points.length, blended: false };
      // Frame by frame, each with the noise maps between its stops' (the stops themselves: exactly theirs).
      const images = torch.cat(points.map(([s, t], k) => {
        blendNoiseMaps(src, stopNoise![s]!, stopNoise![(s + 1) % stops]!, t);
        return synthesizeW(G, ws.narrow(0, k, 1));
      }));
      return { bytes: src.toBytes(images), stops, segments, frames: points.length, blended: true };
    });
    await writeWalk(walk.bytes, out, animated, steps, o.fps);
    const what = animated ? `a ${walk.frames}-frame animation` : `a ${walk.segments} × ${steps + 1} strip`;
    const from = seeds ? `seeds ${seeds.join(',')}` : `${walk.stops} w from ${files!.join(', ')}${walk.blended ? ', their noise maps blended' : ''}`;
    process.stdout.write(`wrote ${what} (${space}, ${from}${o.loop ? ', looped' : ''}) from ${src.name} to ${out} in ${((Date.now() - started) / 1000).toFixed(1)} s\n`);
  } finally {
    src.dispose();
  }
  return 0;
}
