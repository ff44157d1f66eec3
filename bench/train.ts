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
// Run: npx tsc -p . && node dist/bench/train.js [dcgan] [pix2pix] [cyclegan] [--iters N]
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import * as torch from '../src/torch/index.js';
import { packageRoot } from '../src/root.js';
import { RECIPES } from '../src/recipes/registry.js';
import { fullSchema, recipeEnv } from '../src/recipes/trainer.js';
import { translateImages, type Generator } from '../src/recipes/translation.js';
import type { Options } from '../src/config/options.js';

interface Rates {
  train: number;
  sample: number;
  /** Seconds per training step and per sampling call. */
  stepS: number;
  sampleS: number;
  /** CPU seconds per wall second over the timed training steps (≈ threads when nothing else ran), when known. */
  cores?: number;
}

interface Case {
  model: string;
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
}

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
];

const args = process.argv.slice(2);
const itersAt = args.indexOf('--iters');
const ITERS = itersAt >= 0 ? Number(args[itersAt + 1]) : undefined;
const wanted = args.filter((a, i) => !a.startsWith('--') && (itersAt < 0 || i !== itersAt + 1));
const threads = torch.getNumThreads();
const REFERENCE_BENCH = process.env.REFERENCE_BENCH ?? join(packageRoot(), '..', 'shared', 'reference-bench');

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[s.length >> 1];
}

/** Median wall seconds of `n` calls after `warmup` untimed ones, and the CPU seconds used per wall second. */
function timeIt(fn: () => void, n: number, warmup: number): { s: number; cores: number } {
  for (let i = 0; i < warmup; i++) fn();
  const ts: number[] = [];
  const c0 = process.cpuUsage();
  for (let i = 0; i < n; i++) {
    const t0 = performance.now();
    fn();
    ts.push((performance.now() - t0) / 1000);
  }
  const cpu = process.cpuUsage(c0);
  return { s: median(ts), cores: (cpu.user + cpu.system) / 1e6 / ts.reduce((a, b) => a + b, 0) };
}

function runOurs(c: Case): Rates {
  const def = RECIPES[c.model];
  const o: Options = Object.fromEntries(Object.entries(fullSchema(def)).map(([k, s]) => [k, s.default]));
  // Translation families name the image side --crop_size (resolutionOf reads either).
  Object.assign(o, { model: c.model, batch: c.batch }, c.translation ? { crop_size: c.resolution, load_size: c.resolution } : { resolution: c.resolution }, c.options);
  torch.manualSeed(0);
  const recipe = def.create(o, recipeEnv(o, 0, 'cpu'));
  const image = (n: number) => torch.rand([n, 3, c.resolution, c.resolution]).mul(2).sub(1).keep();
  const real = image(c.batch);
  const realB = c.translation ? image(c.batch) : null;
  const perStep = c.batch * (c.imagesPerItem ?? 1);
  const iters = ITERS ?? c.iters;
  let step = 0;
  const { s: stepS, cores } = timeIt(() => torch.scope(() => {
    recipe.step({ a: real, b: realB, labels: null }, { step, imagesSeen: step * perStep });
    step++;
  }), iters, c.warmup);
  let sampleS: number;
  let sampled: number;
  if (c.translation) {
    const G = recipe.networks()[c.translation.net] as Generator;
    const x = image(c.translation.sampleBatch);
    sampleS = timeIt(() => torch.scope(() => { torch.noGrad(() => translateImages(G, x, true)); }), Math.max(iters, c.sampleIters), c.warmup).s;
    sampled = c.translation.sampleBatch;
    x.dispose();
  } else {
    const inputs = recipe.sampleInputs(c.batch, null);
    inputs.z?.keep();
    for (const m of Object.values(recipe.networks())) m.eval();
    sampleS = timeIt(() => torch.scope(() => { torch.noGrad(() => recipe.generate(inputs)); }), Math.max(iters, c.sampleIters), c.warmup).s;
    sampled = c.batch;
    inputs.z?.dispose();
  }
  real.dispose();
  realB?.dispose();
  recipe.dispose?.();
  return { train: perStep / stepS, sample: sampled / sampleS, stepS, sampleS, cores };
}

/** The PyTorch side, or null (with the reason) when it cannot run. */
function runRef(c: Case): { rates: Rates | null; why?: string } {
  if (!c.ref) return { rates: null };
  if (!existsSync('/usr/bin/python3')) return { rates: null, why: 'no /usr/bin/python3' };
  const iters = ITERS ?? c.iters;
  // The child inherits our environment, OMP_WAIT_POLICY=PASSIVE included (src/torch/native.ts sets it).
  const env = { ...process.env, BENCH_THREADS: String(threads) };
  let argv: string[];
  if ('script' in c.ref) {
    argv = [join(packageRoot(), 'bench', c.ref.script), String(threads), ...c.ref.args, String(iters)];
  } else {
    const checkout = process.env[c.ref.env];
    const driver = join(REFERENCE_BENCH, c.ref.driver);
    if (!checkout) return { rates: null, why: `set ${c.ref.env} to a checkout of the reference (see the top of bench/train.ts) to run it here` };
    if (!existsSync(driver)) return { rates: null, why: `${driver} not found (set REFERENCE_BENCH)` };
    argv = [join(packageRoot(), 'bench', 'ref_driver.py'), driver, checkout, ...c.ref.args, `--iters=${iters}`, `--warmup=${c.warmup}`];
  }
  try {
    const out = execFileSync('/usr/bin/python3', argv, { encoding: 'utf8', env, stdio: ['ignore', 'pipe', 'pipe'], maxBuffer: 1 << 26 });
    const j = JSON.parse(out.trim().split('\n').pop()!);
    if ('script' in c.ref) return { rates: { train: j.train_img_per_s, sample: j.sample_img_per_s, stepS: c.batch / j.train_img_per_s, sampleS: c.batch / j.sample_img_per_s } };
    // The reference drivers report mean and median; compare medians, as ours are.
    const perStep = c.batch * (c.imagesPerItem ?? 1);
    const sb = j.config.sample_batch as number;
    const sum = (xs: number[]) => xs.reduce((a, b) => a + b, 0);
    const cores = j.train.cpu_s ? sum(j.train.cpu_s) / sum(j.train.times_s) : undefined;
    return { rates: { train: perStep / j.train.median_s, sample: sb / j.sample.median_s, stepS: j.train.median_s, sampleS: j.sample.median_s, cores } };
  } catch (e) {
    const err = e as { stderr?: string; message: string };
    return { rates: null, why: `PyTorch run failed: ${(err.stderr ?? err.message).trim().split('\n').pop()}` };
  }
}

const best = (a: Rates | null, b: Rates): Rates => (a ? {
  train: Math.max(a.train, b.train), sample: Math.max(a.sample, b.sample), stepS: Math.min(a.stepS, b.stepS), sampleS: Math.min(a.sampleS, b.sampleS),
  cores: a.train >= b.train ? a.cores : b.cores,
} : b);

console.log(`ganforge training benchmark — libtorch ${torch.buildInfo().torchVersion}, ${threads} threads, float32, CPU, synthetic data, median of the timed iterations after warm-ups, OMP_WAIT_POLICY=${process.env.OMP_WAIT_POLICY} (PyTorch runs with the same)`);
const ran: string[] = [];
for (const c of CASES.filter((x) => wanted.length === 0 || wanted.includes(x.model))) {
  ran.push(c.model);
  // Alternate ours and PyTorch's and keep each side's best: the machine is noisy.
  let ours: Rates | null = null;
  let ref: Rates | null = null;
  let why: string | undefined;
  for (let r = 0; r < c.rounds; r++) {
    ours = best(ours, runOurs(c));
    const p = runRef(c);
    if (p.rates) ref = best(ref, p.rates);
    else why = p.why;
  }
  const o = ours!;
  const iters = ITERS ?? c.iters;
  const perStep = c.batch * (c.imagesPerItem ?? 1);
  const sb = c.translation?.sampleBatch ?? c.batch;
  console.log(`\n${c.label}, batch ${c.batch}`);
  console.log(`  measured: training step on ${perStep} real image${perStep > 1 ? 's' : ''} (${c.warmup} warm-up + ${iters} timed)` +
    `; sampling ${c.translation ? `translateImages(${c.translation.net}, x, evalMode=true)` : 'recipe.generate, networks in eval mode'} at batch ${sb}` +
    ` (${c.warmup} + ${Math.max(iters, c.sampleIters)}), best of ${c.rounds} round${c.rounds > 1 ? 's' : ''}`);
  const line = (what: string, v: number, s: number, rv: number | undefined, rs: number | undefined, digits: number) =>
    `  ${what}: ${v.toFixed(digits)} img/s (${s.toFixed(3)} s)` +
    (rv !== undefined ? `   PyTorch (same machine, same config): ${rv.toFixed(digits)} img/s (${rs!.toFixed(3)} s)   ratio ${(v / rv).toFixed(3)}` : '');
  const dg = o.train < 10 ? 3 : 2;
  console.log(line('train ', o.train, o.stepS, ref?.train, ref?.stepS, dg));
  console.log(line('sample', o.sample, o.sampleS, ref?.sample, ref?.sampleS, o.sample < 10 ? 2 : 1));
  if (!ref && why) console.log(`  PyTorch side not run: ${why}`);
  // Below about `threads`, something else was running: those timings are slow for it.
  console.log(`  CPU use during the timed training steps (CPU s per wall s; ${threads} = had the cores to itself): ours ${o.cores!.toFixed(2)}` +
    (ref?.cores !== undefined ? `, PyTorch ${ref.cores.toFixed(2)}` : ''));
  if (c.baseline) {
    console.log(`  reference-baselines.md (${c.baseline.what}): train ${c.baseline.train} img/s, sample ${c.baseline.sample} img/s` +
      ` → ratios ${(o.train / c.baseline.train).toFixed(2)}, ${(o.sample / c.baseline.sample).toFixed(2)}`);
  }
}
const envPrefix = process.env.CYCLEGAN_PIX2PIX_REF && ran.some((m) => m !== 'dcgan') ? `CYCLEGAN_PIX2PIX_REF=${process.env.CYCLEGAN_PIX2PIX_REF} ` : '';
console.log(`\nrepeat: npx tsc -p . && ${envPrefix}node dist/bench/train.js ${wanted.join(' ')}${ITERS !== undefined ? ` --iters ${ITERS}` : ''}`.replace(/ +$/, ''));
