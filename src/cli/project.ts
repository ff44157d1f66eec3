// `ganforge project --network X.pkl --target img.png --outdir DIR` (or --run DIR): an image
// projected into a style-based generator's W, as stylegan2-ada-pytorch's projector.py
// (the optimisation is src/families/projector.ts), writing the fitted target, the
// projected image, w with the optimised noise maps, and optionally the progress as an
// animation.
import { existsSync, readFileSync, statSync } from 'node:fs';
import { basename, extname, join } from 'node:path';
import * as torch from '../torch/index.js';
import { UsageError } from '../config/errors.js';
import { parseCommand } from './command.js';
import { defineSchema, formatOptions } from '../config/options.js';
import { cropImage, decodeImage, resizeImage, writeImage, type Channels, type RawImage } from '../data/image.js';
import { IMAGE_FILE, checkOutputPath, checkReplaceableFile, makeFolder, type FileKind } from '../run/output.js';
import { LpipsDistance, PyramidDistance, type ImageDistance } from '../losses/image_distance.js';
import { PROJECTOR_DEFAULTS, project, type ProjectionStep } from '../families/projector.js';
import { imageShapeOf } from '../families/style_generator.js';
import { saveSafetensors } from '../io/tensors.js';
import { decodeSafetensors } from '../io/safetensors.js';
import { W_FILE_FORMAT } from '../io/w_file.js';
import { RUN_OPTIONS } from './latents.js';
import { openStyleSource, synthesizeW } from './style_source.js';
import { writeAnimation } from './interpolate.js';
import { countLine, progressPrinter } from './progress.js';

const D = PROJECTOR_DEFAULTS;
const SCHEMA = defineSchema({
  network: { type: 'string', default: null, help: "an NVIDIA network pickle (stylegan2-ada-pytorch's, or a TensorFlow StyleGAN2/StyleGAN one): its G_ema", metavar: 'PKL' },
  run: { ...RUN_OPTIONS.run, help: 'or a run folder of a style-based model (stylegan2, stylegan): its G_ema' },
  checkpoint: RUN_OPTIONS.checkpoint,
  target: { type: 'string', default: null, help: 'the image to project (png, jpg, webp)', metavar: 'FILE' },
  outdir: { type: 'string', default: null, help: 'where target.png, proj.png and projected_w.safetensors go (default with --run: <run>/projections/<target name>; required with --network)', metavar: 'DIR' },
  num_steps: { type: 'int', default: D.numSteps, help: 'optimisation steps', min: 1, max: 1_000_000 },
  seed: { type: 'int', default: D.seed, help: "seed of the noise maps' start and of w's noise", min: 0, max: 0xffffffff },
  vgg: { type: 'string', default: null, help: "NVIDIA's TorchScript vgg16.pt (stylegan2-ada-pytorch/pretrained/metrics/vgg16.pt): the distance is then LPIPS, as projector.py's; without it, pixel + multi-scale L2", metavar: 'PATH' },
  class: { type: 'string', default: null, help: 'the class to project into (conditional generators; required for them)', metavar: 'C' },
  resize: { type: 'bool', default: true, help: "fit the target to the generator's image size as projector.py does: crop the centre to its aspect ratio, Lanczos resize (--resize false: the target must be that size already)" },
  w_avg_samples: { type: 'int', default: D.wAvgSamples, help: "latents (numpy RandomState(123)) whose w give the start (their average) and w's noise scale (their spread)", min: 1, max: 1_000_000 },
  initial_learning_rate: { type: 'float', default: D.initialLearningRate, help: "Adam's learning rate at the top of its ramp", min: 0 },
  initial_noise_factor: { type: 'float', default: D.initialNoiseFactor, help: "w's noise at the start, in units of w's spread", min: 0 },
  lr_rampup_length: { type: 'float', default: D.lrRampupLength, help: 'fraction of the steps over which the learning rate ramps up', min: 1e-9, max: 1 },
  lr_rampdown_length: { type: 'float', default: D.lrRampdownLength, help: 'fraction of the steps at the end over which it ramps down (cosine)', min: 1e-9, max: 1 },
  noise_ramp_length: { type: 'float', default: D.noiseRampLength, help: "fraction of the steps after which w's noise is gone", min: 1e-9 },
  regularize_noise_weight: { type: 'float', default: D.regularizeNoiseWeight, help: 'weight of the noise maps\' autocorrelation penalty', min: 0 },
  save_video: { type: 'bool', default: false, help: 'also write the progress as an animation (target | projection at each kept step): proj.gif or proj.webp' },
  video_format: { type: 'string', default: 'gif', choices: ['gif', 'webp'], help: 'format of the --save_video animation' },
  video_frames: { type: 'int', default: 100, help: 'frames of the animation, evenly over the steps (the last step always)', min: 2, max: 10_000 },
  fps: { type: 'float', default: 10, help: 'frames per second of the animation', min: 0.02, max: 100 },
  device: RUN_OPTIONS.device,
  force: { type: 'bool', default: false, help: "overwrite the output files if they exist" },
});

export const PROJECT_HELP = `Usage: ganforge project --network X.pkl --target IMAGE --outdir DIR [options]
       ganforge project --run DIR --target IMAGE [options]

Finds the w that makes a style-based generator (StyleGAN2, StyleGAN) draw an image,
as stylegan2-ada-pytorch's projector.py: one w, broadcast to every layer, starts at the
average w and is optimised with Adam together with the generator's noise maps
(regularised so they do not carry the image), the learning rate ramped up and down
and w's exploration noise faded out over the first 75 % of the steps.

The distance is LPIPS when --vgg names NVIDIA's TorchScript vgg16.pt (this machine
cannot download it: fetch it where you can); without it, a pixel + multi-scale L2
distance, which projects colours and layout well but blurs detail.

Writes into --outdir:
  target.png                the target as fitted to the generator's image size
  proj.png                  the projection, quantised as 'sample' quantises this source
  projected_w.safetensors   w as float32 [1, num_ws, w_dim] under 'w', and the optimised
                            noise maps under the generator's own names; 'ganforge sample
                            --w FILE' draws proj.png from it again; interpolate --w walks
                            between projections (their noise maps blended), mix --rows_w
                            --cols_w mixes their styles (with the stored noise maps)
  proj.gif | proj.webp      with --save_video: target | projection over the steps

Options:
${formatOptions(SCHEMA)}
`;

/** A ganforge w file (what --force may replace among the outputs). */
const W_FILE: FileKind = {
  name: 'a w file (ganforge project)',
  test: (file) => {
    try {
      return decodeSafetensors(readFileSync(file), file).metadata.format === W_FILE_FORMAT;
    } catch {
      return false;
    }
  },
};

/**
 * The target fitted to width × height: the centre crop with the generator's aspect ratio
 * (projector.py: the centre square), then a Lanczos resize; unchanged when it fits.
 */
export async function fitTarget(img: RawImage, width: number, height: number): Promise<RawImage> {
  if (img.width === width && img.height === height) return img;
  let cw = img.width, ch = img.height;
  if (img.width * height > img.height * width) cw = Math.max(1, Math.round((img.height * width) / height));
  else ch = Math.max(1, Math.round((img.width * height) / width));
  const cropped = cropImage(img, Math.floor((img.width - cw) / 2), Math.floor((img.height - ch) / 2), cw, ch);
  return resizeImage(cropped, width, height, 'lanczos');
}

/** The frames of the progress animation: target | projection side by side. */
function sideBySide(target: RawImage, frames: Uint8Array, n: number): { data: Uint8Array; n: number; width: number; height: number; channels: number } {
  const { width: w, height: h, channels: c } = target;
  const row = w * c;
  const data = new Uint8Array(n * h * 2 * row);
  for (let k = 0; k < n; k++) {
    for (let y = 0; y < h; y++) {
      const at = (k * h + y) * 2 * row;
      data.set(target.data.subarray(y * row, (y + 1) * row), at);
      data.set(frames.subarray((k * h + y) * row, (k * h + y + 1) * row), at + row);
    }
  }
  return { data, n, width: 2 * w, height: h, channels: c };
}

/** The steps whose w the animation shows: `frames` of them, evenly spread, the last one included. */
export function videoSteps(numSteps: number, frames: number): number[] {
  const n = Math.min(frames, numSteps);
  return [...new Set(Array.from({ length: n }, (_, i) => Math.round(((i + 1) * numSteps) / n) - 1))];
}

export async function projectCommand(argv: string[]): Promise<number> {
  const parsed = parseCommand(argv, SCHEMA, 'project', PROJECT_HELP);
  if (!parsed) return 0;
  const { options: o, given } = parsed;
  if (o.network === null && o.run === null) throw new UsageError('project needs --network X.pkl or --run DIR (the generator to project into)');
  if (!o.target) throw new UsageError('project needs --target IMAGE (the image to project)');
  if (!existsSync(o.target) || !statSync(o.target).isFile()) throw new UsageError(`--target ${o.target}: no such file`);
  if (o.vgg !== null && !(existsSync(o.vgg) && statSync(o.vgg).isFile())) throw new UsageError(`--vgg ${o.vgg}: no such file`);
  if (!o.save_video) {
    for (const opt of ['video_format', 'video_frames', 'fps'] as const) if (given.has(opt)) throw new UsageError(`--${opt} applies with --save_video`);
  }
  if (o.network !== null && o.outdir === null) throw new UsageError('project --network needs --outdir DIR (where the projection goes)');
  const outdir = o.outdir ?? join(o.run!, 'projections', basename(o.target, extname(o.target)));
  checkOutputPath(outdir, '--outdir', 'folder');
  const files = {
    target: join(outdir, 'target.png'), proj: join(outdir, 'proj.png'), w: join(outdir, 'projected_w.safetensors'),
    video: o.save_video ? join(outdir, `proj.${o.video_format}`) : null,
  };
  for (const f of [files.target, files.proj, files.video]) if (f) checkReplaceableFile(f, '--outdir', o.force, IMAGE_FILE);
  checkReplaceableFile(files.w, '--outdir', o.force, W_FILE);

  const src = openStyleSource(o, 'project', given, (def, run) => `project needs a style-based model (stylegan2, stylegan): ${run} is a ${def.name} run, which has no W to project into`);
  let distance: ImageDistance | null = null;
  try {
    const G = src.G;
    const cls = src.classOf(o.class, true);
    const [C, H, W] = imageShapeOf(G);
    if (C !== 1 && C !== 3) throw new UsageError(`${src.name} draws ${C}-channel images; project handles 1 (grey) or 3 (RGB)`);
    let target = await decodeImage(o.target, C as Channels);
    if (target.width !== W || target.height !== H) {
      if (!o.resize) throw new UsageError(`--target ${o.target} is ${target.width}×${target.height}, the generator draws ${W}×${H}: give an image of that size, or leave --resize on (centre crop and Lanczos resize, as projector.py)`);
      target = await fitTarget(target, W, H);
    }
    if (o.vgg !== null) {
      distance = LpipsDistance.open(o.vgg, o.device as torch.Device);
    } else {
      distance = new PyramidDistance();
      process.stderr.write("note: no --vgg, so the distance is pixel + multi-scale L2 rather than projector.py's LPIPS (give NVIDIA's vgg16.pt with --vgg PATH for sharper projections)\n");
    }
    process.stderr.write(`projecting ${o.target} (${W}×${H}) into ${src.name} for ${o.num_steps} steps; distance: ${distance.description}\n`);
    const keep = o.save_video ? new Set(videoSteps(o.num_steps, o.video_frames)) : undefined;
    const bar = progressPrinter<ProjectionStep & { seconds: number }>(process.stderr, (s) =>
      `${countLine({ done: s.step + 1, total: s.numSteps, seconds: s.seconds, unit: 'steps' })}  dist ${s.dist.toPrecision(4)}  loss ${s.loss.toPrecision(4)}`);
    const every = process.stderr.isTTY ? 1 : Math.max(1, Math.floor(o.num_steps / 10));
    const t0 = performance.now();
    const d = distance;
    const out = torch.scope(() => {
      const targetTensor = torch.fromBytes(target.data, [1, H, W, C], 'uint8').permute(0, 3, 1, 2).to('float32');
      const p = project(G, targetTensor, d, {
        numSteps: o.num_steps, seed: o.seed, wAvgSamples: o.w_avg_samples, initialLearningRate: o.initial_learning_rate,
        initialNoiseFactor: o.initial_noise_factor, lrRampupLength: o.lr_rampup_length, lrRampdownLength: o.lr_rampdown_length,
        noiseRampLength: o.noise_ramp_length, regularizeNoiseWeight: o.regularize_noise_weight, cls, keepSteps: keep,
        onStep: (s) => {
          if ((s.step + 1) % every === 0 || s.step + 1 === s.numSteps) bar.update({ ...s, seconds: (performance.now() - t0) / 1000 });
        },
      });
      bar.done();
      // The saved w and maps, on the CPU; the images drawn with the optimised maps.
      const tensors: Record<string, torch.Tensor> = { w: p.w.cpu().contiguous() };
      for (const [k, t] of G.noiseMaps()) tensors[k] = t.detach().cpu().contiguous();
      const image = src.toBytes(synthesizeW(G, p.w));
      const frames = keep ? src.toBytes(synthesizeW(G, torch.cat([...keep].map((s) => p.kept.get(s)!)))) : null;
      return { tensors, image, frames, dist: p.dist, loss: p.loss };
    });
    const seconds = (performance.now() - t0) / 1000;
    makeFolder(outdir);
    await writeImage(target, files.target);
    await writeImage({ data: out.image.data, width: W, height: H, channels: C }, files.proj);
    saveSafetensors(files.w, out.tensors, {
      format: W_FILE_FORMAT, generator: src.name, target: o.target, num_steps: String(o.num_steps), seed: String(o.seed),
      distance: distance.description, final_distance: String(out.dist[out.dist.length - 1]),
    });
    const numMaps = Object.keys(out.tensors).length - 1;
    for (const t of Object.values(out.tensors)) t.dispose();
    if (files.video && out.frames) await writeAnimation(sideBySide(target, out.frames.data, out.frames.n), files.video, o.fps);
    const [d0, d1] = [out.dist[0]!, out.dist[out.dist.length - 1]!];
    process.stdout.write(`wrote ${files.proj}, ${files.w} (w [1, ${G.numWs}, ${G.wDim}] and ${numMaps} noise maps)${files.video ? ` and ${files.video}` : ''}: distance ${d0.toPrecision(4)} → ${d1.toPrecision(4)} in ${o.num_steps} steps, ${seconds.toFixed(1)} s\n`);
  } finally {
    distance?.dispose();
    src.dispose();
  }
  return 0;
}
