// Training benchmark per recipe: images/s of a training step and of sampling, on
// synthetic data (no loader in the way), beside a PyTorch run of the same configuration
// by /usr/bin/python3 in the same process tree, and beside the figure in
// ../shared/reference-baselines.md where one exists.
//
// DCGAN's PyTorch side is bench/train_ref_dcgan.py (always run when python3 is there).
// pix2pix's and CycleGAN's are the reference drivers of ../shared/reference-bench/
// (bench_pix2pix.py, bench_cyclegan.py), which time junyanz/pytorch-CycleGAN-and-pix2pix
// itself; they run when CYCLEGAN_PIX2PIX_REF names a checkout of it (commit da39a52):
//   git -C <mirror or clone> archive da39a52 options models util data | tar -x -C /tmp/refrepo
//   CYCLEGAN_PIX2PIX_REF=/tmp/refrepo node dist/bench/train.js pix2pix cyclegan
// (bench/ref_driver.py stands in for torchvision where it is not installed.)
//
// Images are counted as reference-baselines.md counts them: a training step consumes
// `batch` real images (pix2pix: `batch` pairs), CycleGAN's 2 × batch (one A and one B per
// batch element); sampling counts generated images. pix2pix and CycleGAN sample with
// translateImages(G, x, evalMode = true) at batch 1, as the baselines run netG.eval().
//
// PGGAN and StyleGAN (progressive) are timed in the full-resolution phase: the schedule is
// set so that every step is at lod 0 with minibatch `batch` (lod_initial_resolution = the
// resolution, minibatch_base = batch, no minibatch_dict), recipe.nextBatchSize(imagesSeen)
// is called before each step as the trainer does, and the step includes the trainer's
// G_ema update (the GAN zoo's "D + gradient penalty, G, avgG update"). Sampling is
// recipe.generate (G_ema at the schedule's lod, 0) at batch `batch` under noGrad.
// PGGAN's PyTorch side is ../shared/reference-bench/bench_pggan.py, timing
// facebookresearch/pytorch_GAN_zoo (commit b75dee4) when GAN_ZOO_REF names a checkout:
//   git -C <mirror or clone> archive b75dee4 | tar -x -C /tmp/ganzoo
//   GAN_ZOO_REF=/tmp/ganzoo node dist/bench/train.js pggan
// There is no StyleGAN v1 reference: its cases print ours only.
// StyleGAN2 (stylegan2-cifar32, stylegan2-auto64) is timed as ../shared/reference-bench/
// bench_stylegan2ada.py times NVlabs/stylegan2-ada-pytorch (commit d72cc7d), phases
// amortised over their intervals, side by side when STYLEGAN2ADA_REF names a checkout:
//   STYLEGAN2ADA_REF=/work/refs/stylegan2-ada-pytorch node dist/bench/train.js stylegan2-cifar32
// Run: npx tsc -p . && node dist/bench/train.js [dcgan] [pix2pix] [cyclegan] [pggan] [stylegan] [stylegan2] [biggan] [--iters N]
//        [--profile DIR] [--no-ceiling] [--precision fp32,bf16]
// --precision bf16 times our steps under bf16 autocast (src/train/precision.ts), fp32,bf16 both
// (alternating within each round); the PyTorch side always trains in fp32, as the references do.
// (a model name runs all its cases; pggan32, pggan64, stylegan32, stylegan64 pick one)
//
// Arithmetic: a conv micro-benchmark first measures the machine's ceiling (bench/ceiling.ts;
// --no-ceiling skips it), and each case's first warm-up step and sampling call run under
// torch.countFlops, so every case prints its GFLOP per step and the GFLOP/s ours and
// PyTorch's reach, as a fraction of that ceiling (bench/work.ts).
// --profile DIR: after timing, one more step and sampling call of ours under libtorch's
// profiler and of the reference's under torch.profiler, Chrome traces in DIR and the top
// ops by self time printed for both (bench/profile.ts).
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import * as torch from '../src/torch/index.js';
import { packageRoot } from '../src/root.js';
import { RECIPES } from '../src/families/registry.js';
import { BIGGAN_CONFIGS } from '../src/families/biggan.js';
import { fullSchema, recipeEnv } from '../src/train/options.js';
import { translateImages, type Generator } from '../src/families/translation/networks.js';
import { emaBeta, initEma, updateEma } from '../src/train/ema.js';
import { PhaseRunner } from '../src/train/phase.js';
import { PRECISIONS, withPrecision, type Precision } from '../src/train/precision.js';
import type { Options } from '../src/config/options.js';
import type { Recipe } from '../src/train/recipe.js';
import type { TensorBatch } from '../src/data/index.js';
import { ceilingFor, formatCeiling, measureConvCeiling, type CeilingResult } from './ceiling.js';
import { addFlops, formatWork } from './work.js';
import { BenchProfiler } from './profile.js';
// The allocator settings the CLI trains with (bench figures are the CLI's).
if (!process.env.GANFORGE_SYSTEM_MALLOC || process.env.GANFORGE_SYSTEM_MALLOC === '0') torch.tuneMalloc();

interface Rates {
  train: number;
  sample: number;
  /** Seconds per training step and per sampling call. */
  stepS: number;
  sampleS: number;
  /** CPU seconds per wall second over the timed training steps (≈ threads when nothing else ran), when known. */
  cores?: number;
  /** Parameter counts of G and D, when known. */
  params?: { G?: number; D?: number };
  /** Wall seconds of each warm-up and timed training step (ours). */
  stepTimes?: { warm: number[]; timed: number[] };
  /** FLOPs of one training step (amortised as the timing is) and of one sampling call, counted on a warm-up (ours). */
  trainFlops?: torch.FlopCount | null;
  sampleFlops?: torch.FlopCount | null;
}

interface Case {
  model: string;
  /** Name that selects this case alone on the command line (the model's name selects all its cases). */
  name?: string;
  label: string;
  resolution: number;
  batch: number;
  options: Options;
  /** Real images a training step consumes per batch element (CycleGAN: 2, one A and one B; default 1). */
  imagesPerItem?: number;
  /** Translation families: the step needs b as well as a; sampling runs translateImages(networks()[net], x, true). */
  translation?: { net: string; sampleBatch: number };
  /** Default iteration counts (--iters overrides `iters`), warm-ups, and how many times ours and PyTorch's alternate. */
  iters: number;
  sampleIters: number;
  warmup: number;
  rounds: number;
  /** PyTorch side: a driver in bench/ (argv: THREADS ...args ITERS), or one of ../shared/reference-bench/ that needs a checkout. */
  ref?: { script: string; args: string[] } | { driver: string; args: string[]; env: string };
  baseline?: { train: number; sample: number; what: string };
  /** Why there is no baseline figure (printed instead). */
  noBaseline?: string;
  /** Include the trainer's G_ema update in the timed step (as the baseline's step does). */
  ema?: boolean;
  /**
   * Sample as the PyTorch side times it: the networks in training mode (batch statistics,
   * spectral norm's power iteration moving u) and fresh latents every call (bench_biggan.py
   * times utils.sample on G_ema as train.py leaves it: in training mode, z_ and y_ redrawn).
   */
  sampleTrainMode?: boolean;
  /** Classes of a conditional case (random labels); default unconditional. */
  classes?: number;
  /** Real images the loader hands one step when the recipe asks for more than `batch` (BigGAN: batch × num_D_steps). */
  loaderBatch?: number;
  /**
   * Time the every-step phases and each lazy phase apart and amortise them over their
   * intervals, as bench_stylegan2ada.py times the reference: step = main + Σ reg / interval (+ G_ema).
   */
  amortised?: boolean;
}

/** The full-resolution phase of a progressive schedule: lod 0 and minibatch `batch` from the first step. */
const fullResPhase = (resolution: number, batch: number): Options => ({ lod_initial_resolution: resolution, minibatch_base: batch, minibatch_dict: '' });
const PGGAN_OPTS: Options = {
  latent_size: 512, fmap_base: 8192, fmap_decay: 1, fmap_max: 512, mbstd_group_size: 4,
  wgan_lambda: 10, wgan_epsilon: 0.001, wgan_target: 1, adam_beta1: 0, adam_beta2: 0.99, adam_epsilon: 1e-8,
  G_lrate_base: 0.001, D_lrate_base: 0.001, G_lrate_dict: '', D_lrate_dict: '',
  // The GAN zoo upsamples then convolves (and convolves then average-pools): tkarras's non-fused layers.
  fused_scale: false,
};
const PGGAN_LABEL = (r: number) => `PGGAN ${r}×${r} (4→…→${r}, ${r <= 32 ? '512 ch at every level' : '512 ch up to 32², 256 at 64²'}; latent 512, pixel norm, equalised lr, ` +
  `mbstd 4, non-fused up/down, WGAN-GP λ 10, drift 1e-3, Adam 1e-3 (0, 0.99), G_ema β 0.999; full-resolution phase, lod 0)`;
const STYLEGAN_LABEL = (r: number) => `StyleGAN v1 ${r}×${r} (4→…→${r} synthesis, ${r <= 32 ? '512 ch at every level' : '512 ch up to 32², 256 at 64²'}; ` +
  `z=w 512, 8-layer mapping, style mixing 0.9, mbstd 4, logistic NS loss + R1 γ 10, Adam (0, 0.99), G_ema half-life 10 kimg; full-resolution phase, lod 0)`;

// BigGAN: scripts/launch_cifar_ema.sh (the --config cifar preset: ch 64, z 128, no attention,
// 4 D steps of batch 50 per G step, N02, G_ema), beside ../shared/reference-bench/bench_biggan.py
// when BIGGAN_REF names a checkout of ajbrock/BigGAN-PyTorch:
//   BIGGAN_REF=/work/refs/BigGAN-PyTorch node dist/bench/train.js biggan-cifar32
const { seed: _seed, resolution: _res, batch: _batch, ...BIGGAN_CIFAR } = BIGGAN_CONFIGS.cifar;

const CASES: Case[] = [
  {
    model: 'dcgan', label: 'DCGAN 64×64 (nz 100, ngf=ndf 64, BCE, Adam 2e-4)', resolution: 64, batch: 16, options: {},
    iters: 10, sampleIters: 10, warmup: 2, rounds: 2,
    ref: { script: 'train_ref_dcgan.py', args: ['64', '16'] },
    baseline: { train: 20.2, sample: 184, what: 'GAN zoo dcgan_config, batch 16, 64×64' },
  },
  {
    model: 'pix2pix', label: 'pix2pix 256×256 (unet_256 G, basic D, batch norm, dropout, vanilla GAN + 100·L1, Adam 2e-4 β1 0.5)',
    resolution: 256, batch: 1, translation: { net: 'G', sampleBatch: 1 },
    options: { netG: 'unet_256', netD: 'basic', norm: 'batch', no_dropout: false, gan_mode: 'vanilla', lambda_L1: 100, lr: 2e-4, beta1: 0.5 },
    iters: 5, sampleIters: 10, warmup: 2, rounds: 1,
    ref: { driver: 'bench_pix2pix.py', args: ['--size=256'], env: 'CYCLEGAN_PIX2PIX_REF' },
    baseline: { train: 1.09, sample: 5.30, what: 'junyanz pix2pix, unet_256, batch 1, 256×256; sampling netG.eval() at batch 1' },
  },
  {
    model: 'cyclegan',
    label: 'CycleGAN 256×256 (2× resnet_9blocks G, 2× basic D, instance norm, LSGAN, λA=λB=10, λidt 0.5, pool 50, no dropout)',
    resolution: 256, batch: 1, imagesPerItem: 2, translation: { net: 'G_A', sampleBatch: 1 },
    options: {
      netG: 'resnet_9blocks', netD: 'basic', norm: 'instance', no_dropout: true, gan_mode: 'lsgan',
      lambda_A: 10, lambda_B: 10, lambda_identity: 0.5, pool_size: 50, lr: 2e-4, beta1: 0.5,
    },
    iters: 3, sampleIters: 5, warmup: 2, rounds: 1,
    ref: { driver: 'bench_cyclegan.py', args: ['--size=256'], env: 'CYCLEGAN_PIX2PIX_REF' },
    baseline: { train: 0.272, sample: 2.45, what: 'junyanz CycleGAN, batch 1, 256×256, 2 images per step; sampling G_A.eval() at batch 1' },
  },
  // Progressive families: a step takes 17–45 s here, so few steps: 1 warm-up + 2 timed at 32×32, 1 + 1 at 64×64
  // (steps vary by ~2 % and the warm-up is within ~7 % of them), about 6 minutes for the four cases;
  // --iters N times N steps in every case (--iters 3: about 9 minutes). The step times are printed.
  {
    model: 'pggan', name: 'pggan32', label: PGGAN_LABEL(32), resolution: 32, batch: 16, ema: true,
    options: { ...PGGAN_OPTS, ...fullResPhase(32, 16) },
    iters: 2, sampleIters: 5, warmup: 1, rounds: 1,
    ref: { driver: 'bench_pggan.py', args: ['--res=32', '--batch=16'], env: 'GAN_ZOO_REF' },
    baseline: { train: 1.14, sample: 25.6, what: 'GAN zoo pgan_config, 4→8→16→32 at 512 ch, batch 16, 32×32, alpha 0; one step = D + GP, G, avgG update; sampling avgG at batch 16' },
  },
  {
    model: 'pggan', name: 'pggan64', label: PGGAN_LABEL(64), resolution: 64, batch: 16, ema: true,
    options: { ...PGGAN_OPTS, ...fullResPhase(64, 16) },
    iters: 1, sampleIters: 3, warmup: 1, rounds: 1,
    ref: { driver: 'bench_pggan.py', args: ['--res=64', '--batch=16'], env: 'GAN_ZOO_REF' },
    noBaseline: 'no 64×64 PGGAN row (only 32×32); the same-machine GAN-zoo run (GAN_ZOO_REF) is the only PyTorch figure',
  },
  {
    model: 'biggan', name: 'biggan-cifar32', resolution: 32, batch: 50, loaderBatch: 200, classes: 10, ema: true, sampleTrainMode: true,
    label: 'BigGAN CIFAR 32×32 (launch_cifar_ema.sh: G_ch = D_ch 64, dim_z 128, no attention, SN, hinge, 4 D steps per G step, Adam 2e-4 (0, 0.999), N02, G_ema)',
    options: { ...BIGGAN_CIFAR },
    iters: 3, sampleIters: 5, warmup: 1, rounds: 1,
    ref: { driver: 'bench_biggan.py', args: ['--batch=50'], env: 'BIGGAN_REF' },
    noBaseline: 'no BigGAN row: the same-machine BigGAN-PyTorch run (BIGGAN_REF) is the PyTorch figure (both sample G_ema in training mode, fresh latents per call)',
  },
  {
    model: 'stylegan', name: 'stylegan32', label: STYLEGAN_LABEL(32), resolution: 32, batch: 16, ema: true,
    options: fullResPhase(32, 16),
    iters: 2, sampleIters: 5, warmup: 1, rounds: 1,
    noBaseline: 'no StyleGAN v1 row (the StyleGAN2-ADA rows are another network and loss): ours only',
  },
  {
    model: 'stylegan', name: 'stylegan64', label: STYLEGAN_LABEL(64), resolution: 64, batch: 16, ema: true,
    options: fullResPhase(64, 16),
    iters: 1, sampleIters: 3, warmup: 1, rounds: 1,
    noBaseline: 'no StyleGAN v1 row (the StyleGAN2-ADA rows are another network and loss): ours only',
  },
  // StyleGAN2 as bench_stylegan2ada.py runs stylegan2-ada-pytorch: train.py's --cfg with --fp32 (no fp16, no
  // conv_clamp), batch 16, no ADA; phases amortised over their intervals, G_ema update included.
  {
    model: 'stylegan2', name: 'stylegan2-cifar32', resolution: 32, batch: 16, ema: true, amortised: true, classes: 10,
    label: 'StyleGAN2 --cfg cifar 32×32, conditional (10 classes), fp32: map 2, 512 ch, D orig, mbstd 32 (16 by the batch), R1 γ 0.01, no pl, no mixing, lr 0.0025',
    options: { cfg: 'cifar', fp32: true },
    iters: 2, sampleIters: 5, warmup: 1, rounds: 1,
    ref: { driver: 'bench_stylegan2ada.py', args: ['--cfg=cifar', '--res=32', '--batch=16', '--cond=1'], env: 'STYLEGAN2ADA_REF' },
    baseline: { train: 1.20, sample: 7.76, what: 'stylegan2-ada-pytorch --cfg=cifar --cond=1, fp32, batch 16, amortised phases; sampling G_ema ψ 1, noise const' },
  },
  {
    model: 'stylegan2', name: 'stylegan2-auto64', resolution: 64, batch: 16, ema: true, amortised: true,
    label: 'StyleGAN2 --cfg auto 64×64, fp32: map 2, 512 ch up to 32², 256 at 64², resnet D, mbstd 4, R1 γ 0.0256, pl 2, mixing 0.9, lr 0.0025',
    options: { cfg: 'auto', fp32: true },
    iters: 1, sampleIters: 3, warmup: 1, rounds: 1,
    ref: { driver: 'bench_stylegan2ada.py', args: ['--cfg=auto', '--res=64', '--batch=16', '--cond=0'], env: 'STYLEGAN2ADA_REF' },
    baseline: { train: 0.602, sample: 5.84, what: 'stylegan2-ada-pytorch --cfg=auto 64×64, fp32, batch 16, amortised phases; sampling G_ema ψ 1, noise const' },
  },
];

const args = process.argv.slice(2);
const valued = new Set<number>();
/** The value after a flag (its position and the value's are not case names). */
function flagValue(flag: string): string | undefined {
  const i = args.indexOf(flag);
  if (i < 0) return undefined;
  if (i + 1 >= args.length) {
    console.error(`${flag} needs a value`);
    process.exit(2);
  }
  valued.add(i).add(i + 1);
  return args[i + 1];
}
const ITERS = flagValue('--iters') !== undefined ? Number(flagValue('--iters')) : undefined;
const PROFILE_DIR = flagValue('--profile');
const precisionArg = flagValue('--precision');
const OUR_PRECISIONS = (precisionArg ?? 'fp32').split(',') as Precision[];
if (OUR_PRECISIONS.some((p) => !PRECISIONS.includes(p))) {
  console.error(`--precision takes ${PRECISIONS.join(', ')} or a comma-separated list of them, got '${precisionArg}'`);
  process.exit(2);
}
const wanted = args.filter((a, i) => !a.startsWith('--') && !valued.has(i));
const profiler = PROFILE_DIR ? new BenchProfiler(PROFILE_DIR) : null;
const threads = torch.getNumThreads();
const REFERENCE_BENCH = process.env.REFERENCE_BENCH ?? join(packageRoot(), '..', 'shared', 'reference-bench');

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[s.length >> 1];
}

interface TimeOpts {
  /** Count the FLOPs of the first warm-up call (an extra untimed call without warm-ups). */
  count?: boolean;
  /** With --profile: profile one more call after the timed ones, as DIR/<profile>.json. */
  profile?: string;
}

/**
 * Median wall seconds of `n` calls after `warmup` untimed ones, and the CPU seconds used per
 * wall second; the FLOPs of one call when asked.
 */
function timeIt(fn: () => void, n: number, warmup: number, opts: TimeOpts = {}): { s: number; cores: number; times: number[]; warm: number[]; flops?: torch.FlopCount } {
  const warm: number[] = [];
  let flops: torch.FlopCount | undefined;
  if (opts.count && warmup === 0) flops = torch.countFlops(fn).flops;
  for (let i = 0; i < warmup; i++) {
    const t0 = performance.now();
    if (opts.count && i === 0) flops = torch.countFlops(fn).flops;
    else fn();
    warm.push((performance.now() - t0) / 1000);
  }
  const ts: number[] = [];
  const c0 = process.cpuUsage();
  for (let i = 0; i < n; i++) {
    const t0 = performance.now();
    fn();
    ts.push((performance.now() - t0) / 1000);
  }
  const cpu = process.cpuUsage(c0);
  if (opts.profile && profiler) profiler.ours(opts.profile, fn);
  return { s: median(ts), cores: (cpu.user + cpu.system) / 1e6 / ts.reduce((a, b) => a + b, 0), times: ts, warm, flops };
}

/**
 * A phased recipe timed as bench_stylegan2ada.py times the reference: the phases that run
 * every step together (at a step no lazy phase is due), each lazy phase alone, the G_ema
 * update apart; the step is their sum with each lazy phase divided by its interval.
 */
function timeAmortised(recipe: Recipe, batch: TensorBatch, iters: number, warmup: number, ema: (() => void) | null, precision: Precision, profileAs?: string): ReturnType<typeof timeIt> {
  const groups = [recipe.phases.filter((p) => (p.interval ?? 1) === 1), ...recipe.phases.filter((p) => (p.interval ?? 1) > 1).map((p) => [p])];
  let total = 0, cores = 0;
  const times: number[] = [];
  const warm: number[] = [];
  const flops: { flops: torch.FlopCount; weight: number }[] = [];
  for (const phases of groups) {
    const interval = phases[0].interval ?? 1;
    // Lazy phases run at step 0 (a multiple of every interval); the main ones at step 1.
    const runner = new PhaseRunner({ networks: () => recipe.networks(), phases, prepare: recipe.prepare?.bind(recipe) }, { precision });
    const step = interval > 1 ? 0 : 1;
    const profile = profileAs && `${profileAs}-${phases.map((p) => p.name).join('+')}`;
    const t = timeIt(() => torch.scope(() => { runner.run(batch, { step, imagesSeen: step * batch.a.shape[0] }); }), iters, warmup, { count: true, profile });
    total += t.s / interval;
    flops.push({ flops: t.flops!, weight: 1 / interval });
    cores = Math.max(cores, t.cores);
    times.push(...t.times.map((x) => x / interval));
    warm.push(...t.warm.map((x) => x / interval));
  }
  if (ema) total += timeIt(() => torch.scope(ema), Math.max(iters, 3), 1, { profile: profileAs && `${profileAs}-ema` }).s;
  return { s: total, cores, times, warm, flops: addFlops(flops) };
}

/** A case's name in file names (its own name, else its model's). */
const caseName = (c: Case) => c.name ?? c.model;

function runOurs(c: Case, precision: Precision, profile: boolean): Rates {
  const profileAs = profile ? `${caseName(c)}-ours-${precision}` : undefined;
  const def = RECIPES[c.model];
  const o: Options = Object.fromEntries(Object.entries(fullSchema(def)).map(([k, s]) => [k, s.default]));
  // Translation families name the image side --crop_size (resolutionOf reads either).
  Object.assign(o, { model: c.model, batch: c.batch }, c.translation ? { crop_size: c.resolution, load_size: c.resolution } : { resolution: c.resolution }, c.options);
  // What a preset (StyleGAN2's --cfg) sets beyond the case's own options, as the trainer resolves it.
  if (def.resolveOptions) Object.assign(o, def.resolveOptions(o, new Set(['model', 'batch', 'resolution', 'crop_size', 'load_size', ...Object.keys(c.options)])));
  torch.manualSeed(0);
  const recipe = def.create(o, recipeEnv(o, c.classes ?? 0, 'cpu'));
  const runner = new PhaseRunner(recipe, { precision });
  const nets = recipe.networks();
  // The trainer's generator average, when the case times it: β per step as the trainer computes it.
  const G = nets.G, ema = c.ema ? nets.G_ema : undefined;
  if (c.ema && (!G || !ema)) throw new Error(`${c.model} has no G and G_ema to average`);
  if (ema) initEma(ema, G!);
  const emaOpts = { emaKimg: o.ema_kimg as number, beta: o.ema_beta as number | null, startKimg: o.ema_start_kimg as number, rampup: o.ema_rampup as number | null };
  const image = (n: number) => torch.rand([n, 3, c.resolution, c.resolution]).mul(2).sub(1).keep();
  const real = image(c.loaderBatch ?? c.batch);
  const realB = c.translation ? image(c.batch) : null;
  const labels = c.classes ? torch.randint(0, c.classes, [real.shape[0]], { dtype: 'int64' }).keep() : null;
  const perStep = c.loaderBatch ?? c.batch * (c.imagesPerItem ?? 1);
  const iters = ITERS ?? c.iters;
  let step = 0;
  const timed = c.amortised ? timeAmortised(recipe, { a: real, b: realB, labels }, iters, c.warmup, ema ? () => updateEma(ema, G!, emaBeta(emaOpts, c.batch, (step++) * perStep), recipe.emaBuffers) : null, precision, profileAs && `${profileAs}-train`) : null;
  const { s: stepS, cores, times, warm, flops: trainFlops } = timed ?? timeIt(() => torch.scope(() => {
    const imagesSeen = step * perStep;
    // Progressive recipes evaluate their schedule here; the case's options pin it to lod 0, minibatch `batch`.
    const mb = recipe.nextBatchSize?.(imagesSeen);
    if (mb !== undefined && mb !== (c.loaderBatch ?? c.batch)) throw new Error(`${c.model}: the schedule asks for minibatch ${mb}, not ${c.loaderBatch ?? c.batch}`);
    const m = runner.run({ a: real, b: realB, labels }, { step, imagesSeen });
    if (mb !== undefined && !c.loaderBatch && m.lod !== 0) throw new Error(`${c.model}: the step ran at lod ${m.lod}, not 0 (full resolution)`);
    if (ema) updateEma(ema, G!, recipe.emaDecay ? recipe.emaDecay({ step, imagesSeen }) : emaBeta(emaOpts, c.batch, imagesSeen), recipe.emaBuffers);
    step++;
  }), iters, c.warmup, { count: true, profile: profileAs && `${profileAs}-train` });
  let sampleS: number;
  let sampleFlops: torch.FlopCount | undefined;
  const sampleOpts = { count: true, profile: profileAs && `${profileAs}-sample` };
  let sampled: number;
  if (c.translation) {
    const G = recipe.networks()[c.translation.net] as Generator;
    const x = image(c.translation.sampleBatch);
    ({ s: sampleS, flops: sampleFlops } = timeIt(() => torch.scope(() => { torch.noGrad(() => withPrecision(precision, 'cpu', () => translateImages(G, x, true))); }), Math.max(iters, c.sampleIters), c.warmup, sampleOpts));
    sampled = c.translation.sampleBatch;
    x.dispose();
  } else {
    const draw = () => recipe.sampleInputs(c.batch, c.classes ? Array.from({ length: c.batch }, (_, i) => i % c.classes!) : null);
    const inputs = draw();
    inputs.z?.keep();
    inputs.labels?.keep();
    for (const m of Object.values(recipe.networks())) m.train(c.sampleTrainMode ?? false);
    ({ s: sampleS, flops: sampleFlops } = timeIt(() => torch.scope(() => { torch.noGrad(() => withPrecision(precision, 'cpu', () => recipe.generate(c.sampleTrainMode ? draw() : inputs))); }), Math.max(iters, c.sampleIters), c.warmup, sampleOpts));
    sampled = c.batch;
    inputs.z?.dispose();
    inputs.labels?.dispose();
  }
  labels?.dispose();
  real.dispose();
  realB?.dispose();
  labels?.dispose();
  recipe.dispose?.();
  const count = (k: string) => nets[k] ? nets[k].parameters().reduce((a, p) => a + p.numel, 0) : undefined;
  return { train: perStep / stepS, sample: sampled / sampleS, stepS, sampleS, cores, params: { G: count('G'), D: count('D') }, stepTimes: { warm, timed: times }, trainFlops, sampleFlops };
}

/** The PyTorch side, or null (with the reason) when it cannot run. */
function runRef(c: Case, profile: boolean): { rates: Rates | null; why?: string } {
  if (!c.ref) return { rates: null };
  if (!existsSync('/usr/bin/python3')) return { rates: null, why: 'no /usr/bin/python3' };
  const iters = ITERS ?? c.iters;
  // The child inherits our environment, OMP_WAIT_POLICY=PASSIVE included (src/torch/native.ts sets it).
  const env: NodeJS.ProcessEnv = { ...process.env, BENCH_THREADS: String(threads) };
  let argv: string[];
  if ('script' in c.ref) {
    argv = [join(packageRoot(), 'bench', c.ref.script), String(threads), ...c.ref.args, String(iters)];
  } else {
    const checkout = process.env[c.ref.env];
    const driver = join(REFERENCE_BENCH, c.ref.driver);
    if (!checkout) return { rates: null, why: `set ${c.ref.env} to a checkout of the reference (see the top of bench/train.ts) to run it here` };
    if (!existsSync(driver)) return { rates: null, why: `${driver} not found (set REFERENCE_BENCH)` };
    argv = [join(packageRoot(), 'bench', 'ref_driver.py'), driver, checkout, ...c.ref.args, `--iters=${iters}`, `--warmup=${c.warmup}`];
    if (profile && profiler) Object.assign(env, profiler.refEnv(`${caseName(c)}-pytorch`));
  }
  try {
    const out = execFileSync('/usr/bin/python3', argv, { encoding: 'utf8', env, stdio: ['ignore', 'pipe', 'pipe'], maxBuffer: 1 << 26 });
    const j = JSON.parse(out.trim().split('\n').pop()!);
    if (profile && profiler && !('script' in c.ref)) {
      profiler.reference(`${caseName(c)}-pytorch`, c.amortised ? ['Gmain', 'Dmain', 'Greg', 'Dreg', 'G_ema update', 'sample'] : ['train step', 'sample']);
    }
    if ('script' in c.ref) return { rates: { train: j.train_img_per_s, sample: j.sample_img_per_s, stepS: c.batch / j.train_img_per_s, sampleS: c.batch / j.sample_img_per_s } };
    // The reference drivers report mean and median; compare medians, as ours are.
    const perStep = c.loaderBatch ?? c.batch * (c.imagesPerItem ?? 1);
    const sb = (j.config.sample_batch ?? j.config.sample_images_per_call) as number;
    const sum = (xs: number[]) => xs.reduce((a, b) => a + b, 0);
    const cores = j.train.cpu_s ? sum(j.train.cpu_s) / sum(j.train.times_s) : undefined;
    const params = j.params ? { G: j.params.G as number | undefined, D: j.params.D as number | undefined } : undefined;
    // bench_stylegan2ada.py reports its amortised step as a mean only.
    const trainS = (j.train.median_s ?? j.train.mean_s) as number, sampleS = (j.sample.median_s ?? j.sample.mean_s) as number;
    return { rates: { train: perStep / trainS, sample: sb / sampleS, stepS: trainS, sampleS, cores, params } };
  } catch (e) {
    const err = e as { stderr?: string; message: string };
    return { rates: null, why: `PyTorch run failed: ${(err.stderr ?? err.message).trim().split('\n').pop()}` };
  }
}

const best = (a: Rates | null, b: Rates): Rates => (a ? {
  train: Math.max(a.train, b.train), sample: Math.max(a.sample, b.sample), stepS: Math.min(a.stepS, b.stepS), sampleS: Math.min(a.sampleS, b.sampleS),
  cores: a.train >= b.train ? a.cores : b.cores, params: b.params ?? a.params,
  stepTimes: a.train >= b.train ? a.stepTimes : b.stepTimes,
  trainFlops: b.trainFlops ?? a.trainFlops, sampleFlops: b.sampleFlops ?? a.sampleFlops,
} : b);

console.log(`ganforge training benchmark — libtorch ${torch.buildInfo().torchVersion}, ${threads} threads, ours ${OUR_PRECISIONS.join(' and ')} (PyTorch fp32), CPU, synthetic data, median of the timed iterations after warm-ups, OMP_WAIT_POLICY=${process.env.OMP_WAIT_POLICY} (PyTorch runs with the same)`);
const ran: string[] = [];
const known = new Set(CASES.flatMap((x) => [x.model, x.name ?? x.model]));
const unknown = wanted.filter((w) => !known.has(w));
if (unknown.length) {
  console.error(`unknown case ${unknown.join(', ')}: choose from ${[...known].join(', ')}`);
  process.exit(2);
}
// The machine's conv ceiling, once, before the cases (same process, same threads).
let ceiling: CeilingResult[] = [];
if (!args.includes('--no-ceiling')) {
  ceiling = measureConvCeiling(3);
  console.log(formatCeiling(ceiling, 3));
}
for (const c of CASES.filter((x) => wanted.length === 0 || wanted.includes(x.model) || (x.name !== undefined && wanted.includes(x.name)))) {
  ran.push(c.model);
  // Alternate ours and PyTorch's and keep each side's best: the machine is noisy.
  const oursBy = new Map<Precision, Rates>();
  let ref: Rates | null = null;
  let why: string | undefined;
  for (let r = 0; r < c.rounds; r++) {
    for (const p of OUR_PRECISIONS) oursBy.set(p, best(oursBy.get(p) ?? null, runOurs(c, p, r === 0)));
    const p = runRef(c, r === 0);
    if (p.rates) ref = best(ref, p.rates);
    else why = p.why;
  }
  const o = oursBy.get(OUR_PRECISIONS[0])!;
  const iters = ITERS ?? c.iters;
  const perStep = c.loaderBatch ?? c.batch * (c.imagesPerItem ?? 1);
  const sb = c.translation?.sampleBatch ?? c.batch;
  console.log(`\n${c.label}, batch ${c.batch}`);
  console.log(`  measured: training step on ${perStep} real image${perStep > 1 ? 's' : ''}${c.ema ? ' (nextBatchSize, recipe.step, G_ema update)' : ''} (${c.warmup} warm-up + ${iters} timed)` +
    `; sampling ${c.translation ? `translateImages(${c.translation.net}, x, evalMode=true)` : c.sampleTrainMode ? 'recipe.generate, networks in training mode, fresh latents per call' : 'recipe.generate, networks in eval mode'} at batch ${sb}` +
    ` (${c.warmup} + ${Math.max(iters, c.sampleIters)}), best of ${c.rounds} round${c.rounds > 1 ? 's' : ''}`);
  const line = (what: string, v: number, s: number, rv: number | undefined, rs: number | undefined, digits: number) =>
    `  ${what}: ${v.toFixed(digits)} img/s (${s.toFixed(3)} s)` +
    (rv !== undefined ? `   PyTorch (same machine, same config): ${rv.toFixed(digits)} img/s (${rs!.toFixed(3)} s)   ratio ${(v / rv).toFixed(3)}` : '');
  const dg = o.train < 10 ? 3 : 2;
  const tag = (p: Precision) => (OUR_PRECISIONS.length > 1 || p !== 'fp32' ? ` ${p}` : '');
  for (const p of OUR_PRECISIONS) console.log(line(`train${tag(p)}`.padEnd(6), oursBy.get(p)!.train, oursBy.get(p)!.stepS, ref?.train, ref?.stepS, dg));
  for (const p of OUR_PRECISIONS) console.log(line(`sample${tag(p)}`, oursBy.get(p)!.sample, oursBy.get(p)!.sampleS, ref?.sample, ref?.sampleS, o.sample < 10 ? 2 : 1));
  if (!ref && why) console.log(`  PyTorch side not run: ${why}`);
  // Below about `threads`, something else was running: those timings are slow for it.
  console.log(`  CPU use during the timed training steps (CPU s per wall s; ${threads} = had the cores to itself): ours ${o.cores!.toFixed(2)}` +
    (ref?.cores !== undefined ? `, PyTorch ${ref.cores.toFixed(2)}` : ''));
  // Slow steps are few: show each one, so a disturbed step can be seen.
  if (o.stepS >= 1 && o.stepTimes) {
    const f = (xs: number[]) => xs.map((x) => x.toFixed(2)).join(', ');
    console.log(`  our training steps (s): warm-up ${f(o.stepTimes.warm)}; timed ${f(o.stepTimes.timed)}`);
  }
  const m = (n: number | undefined) => (n === undefined ? '?' : `${(n / 1e6).toFixed(2)}M`);
  if (o.params?.G !== undefined) {
    console.log(`  parameters G / D: ours ${m(o.params.G)} / ${m(o.params.D)}` + (ref?.params ? `, PyTorch ${m(ref.params.G)} / ${m(ref.params.D)}` : ''));
  }
  // Each precision of ours against its own ceiling (PyTorch's fp32 against the fp32 one).
  for (const p of OUR_PRECISIONS) {
    const r = oursBy.get(p)!;
    if (OUR_PRECISIONS.length > 1) console.log(`  ${p}:`);
    for (const l of formatWork([
      { what: 'train', flops: r.trainFlops ?? null, oursS: r.stepS, refS: p === 'fp32' ? ref?.stepS : undefined },
      { what: 'sample', flops: r.sampleFlops ?? null, oursS: r.sampleS, refS: p === 'fp32' ? ref?.sampleS : undefined },
    ], { value: ceilingFor(ceiling, p), what: `${p} ceiling` })) console.log(l);
  }
  if (profiler) for (const t of profiler.take()) console.log(t);
  if (c.baseline) {
    console.log(`  reference-baselines.md (${c.baseline.what}): train ${c.baseline.train} img/s, sample ${c.baseline.sample} img/s` +
      ` → ratios ${(o.train / c.baseline.train).toFixed(2)}, ${(o.sample / c.baseline.sample).toFixed(2)}`);
  } else if (c.noBaseline) {
    console.log(`  reference-baselines.md: ${c.noBaseline}`);
  }
}
const envPrefix = [
  process.env.CYCLEGAN_PIX2PIX_REF && ran.some((m) => m === 'pix2pix' || m === 'cyclegan') ? `CYCLEGAN_PIX2PIX_REF=${process.env.CYCLEGAN_PIX2PIX_REF} ` : '',
  process.env.GAN_ZOO_REF && ran.includes('pggan') ? `GAN_ZOO_REF=${process.env.GAN_ZOO_REF} ` : '',
  process.env.STYLEGAN2ADA_REF && ran.includes('stylegan2') ? `STYLEGAN2ADA_REF=${process.env.STYLEGAN2ADA_REF} ` : '',
  process.env.BIGGAN_REF && ran.includes('biggan') ? `BIGGAN_REF=${process.env.BIGGAN_REF} ` : '',
].join('');
const flags = [ITERS !== undefined ? ` --iters ${ITERS}` : '', PROFILE_DIR ? ` --profile ${PROFILE_DIR}` : '', precisionArg !== undefined ? ` --precision ${OUR_PRECISIONS.join(',')}` : '', args.includes('--no-ceiling') ? ' --no-ceiling' : ''].join('');
console.log(`\nrepeat: npx tsc -p . && ${envPrefix}node dist/bench/train.js ${wanted.join(' ')}${flags}`.replace(/ +$/, ''));
