// The training loop every family shares: data in, recipe steps, generator EMA, metrics,
// fixed-latent sample grids, crash-safe checkpoints, exact resume and clean interrupts.
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import * as torch from '../torch/index.js';
import { UsageError } from '../config/errors.js';
import { type Options, validateOptions, optionsView } from '../config/options.js';
import { openDataset, Loader, toTensorBatch, saveGrid, collate, type LoaderState, type Dataset, type DatasetOptions, type TensorBatch } from '../data/index.js';
import { checkpointName, saveCheckpoint, loadCheckpoint, removePartialCheckpoints, EMA_NETWORK } from '../io/checkpoint.js';
import { VERSION } from '../version.js';
import type { Recipe, RecipeDef, RecipeEnv, SampleInputs } from './recipe.js';
import { PhaseRunner, type GradientHook } from './phase.js';
import { COMMON_SCHEMA, RESUMABLE_CHANGES, applyPreset, fullSchema, datasetOptions, recipeEnv, resolutionOf, trainerOptions, type KimgOptions } from './options.js';
import { openTrainingData } from './data.js';
import { emaBeta, updateEma, initEma, type EmaOptions } from './ema.js';
import { standEma } from './standing_stats.js';
import { LrSchedule, type ScheduleState } from './lr_schedule.js';
import { type RunPaths, checkRunFolder, createRun, lockRunFolder, resumeCheckpoint, runProtection, runPaths, readConfig, writeConfig, configHash, appendMetrics, truncateMetrics } from '../run/folder.js';

export interface Progress {
  step: number;
  kimg: number;
  totalKimg: number;
  /** Epoch-based families: the epoch in progress (1-based) and the run's length. */
  epoch?: number;
  totalEpochs?: number;
  imgPerSec: number;
  etaSec: number;
  metrics: Record<string, number>;
}

export interface TrainHooks {
  /** Informational lines (where things are written, resume, interrupts). */
  log?: (line: string) => void;
  /** Called after each logged interval. */
  progress?: (p: Progress) => void;
  /** Called after every step; return true to stop (tests use it to stop mid-run). */
  afterStep?: (step: number) => boolean;
  /** Aborting it stops the run after the step in progress: a checkpoint is written and train() returns, interrupted. */
  signal?: AbortSignal;
  /** Called with each phase's parameters once their gradients are complete, before the optimiser steps (data parallelism all-reduces here). */
  gradientHook?: GradientHook;
}

export interface TrainResult {
  runDir: string;
  steps: number;
  kimg: number;
  /** The checkpoint written last. */
  checkpoint: string;
  /** The run was interrupted (Ctrl-C, SIGTERM or a hook) before its --kimg. */
  interrupted: boolean;
}

function defaultOut(o: Options): string {
  const c = optionsView(COMMON_SCHEMA, o);
  const data = c.data.replace(/[/\\]+$/, '').split(/[/\\]/).pop() || 'data';
  return join('runs', `${c.model}-${data.replace(/\.[^.]*$/, '')}-${resolutionOf(o)}`);
}

/** Refuses data of the wrong shape for the family, naming what it needs. */
function checkDataKind(def: RecipeDef, o: Options, dataset: Dataset): void {
  const k = dataset.kind;
  const wants = def.data ?? 'image';
  if (wants === 'image' && dataset.paired) throw new UsageError(`--model ${def.name} trains on single images, but ${o.data} is a paired dataset`);
  if (wants === 'aligned' && k !== 'aligned' && k !== 'shapes-pairs') {
    throw new UsageError(`--model ${def.name} needs aligned image pairs (a folder with train/ of side-by-side A|B images, or shapes-pairs); ${o.data} is a ${k} dataset`);
  }
  if (wants === 'unaligned' && k !== 'unaligned' && k !== 'shapes-domains') {
    throw new UsageError(`--model ${def.name} needs two image domains (a folder with trainA/ and trainB/, or shapes-domains); ${o.data} is a ${k} dataset`);
  }
}

/**
 * The first `n` samples (n at most the dataset's length) as one batch of tensors, read as
 * the reference's test.py reads them: unflipped, and for unaligned data B_i paired with
 * A_i in order, so each row of a grid shows a different B.
 */
async function firstSamples(def: RecipeDef, o: Options, n: number, device: string): Promise<TensorBatch> {
  const { data, seed } = optionsView(COMMON_SCHEMA, o);
  const dataset = await openDataset(data, { ...datasetOptions(def, o), serialBatches: true, noFlip: true });
  const count = Math.min(n, dataset.length);
  const samples = await Promise.all(Array.from({ length: count }, (_, i) => dataset.get(i, seed)));
  return toTensorBatch(collate(samples, samples.map((_, i) => i), 0, 0, dataset.labeled), { device });
}

/** The options a resumed run continues with: the saved ones, plus allowed changes. */
function resumeOptions(def: RecipeDef, dir: string, given: Options, givenNames: Set<string>): Options {
  if (!existsSync(runPaths(dir).config)) throw new UsageError(`cannot resume ${dir}: no run there (no config.json)`);
  // The family first: another family's options would read as unknown ones.
  const config = readConfig(dir);
  if (config.options.model !== def.name) throw new UsageError(`cannot resume ${dir} with --model ${def.name}: this run was trained with --model ${String(config.options.model)}`);
  const saved = validateOptions(config.options, fullSchema(def), join(dir, 'config.json'));
  const changed = [...givenNames].filter((k) => !RESUMABLE_CHANGES.has(k) && given[k] !== saved[k]);
  if (changed.length) {
    throw new UsageError(`cannot resume ${dir} with a different --${changed[0]} (${saved[changed[0]]} → ${given[changed[0]]}); only ${[...RESUMABLE_CHANGES].filter((k) => k !== 'resume' && k !== 'force' && k !== 'out').map((k) => '--' + k).join(', ')} may change`);
  }
  const merged = { ...saved };
  for (const k of givenNames) if (RESUMABLE_CHANGES.has(k)) merged[k] = given[k];
  merged.resume = true;
  merged.force = false;
  merged.out = dir;
  return merged;
}

function emaOptions(o: KimgOptions): EmaOptions {
  return { emaKimg: o.ema_kimg, beta: o.ema_beta, startKimg: o.ema_start_kimg, rampup: o.ema_rampup };
}

function rngState(device: string): Record<string, string> {
  const s: Record<string, string> = { cpu: Buffer.from(torch.getRngState('cpu')).toString('base64') };
  if (device.startsWith('cuda')) s[device] = Buffer.from(torch.getRngState(device)).toString('base64');
  return s;
}

function restoreRng(s: Record<string, string>): void {
  for (const [dev, b64] of Object.entries(s)) torch.setRngState(new Uint8Array(Buffer.from(b64, 'base64')), dev);
}

/** Whether a step from `before` to `after` images passed a multiple of `every` images. */
function crossed(before: number, after: number, every: number): boolean {
  if (!(every > 0)) return false;
  return Math.floor(before / every) < Math.floor(after / every);
}

/** Means over a logging interval, each over the steps that reported it (G steps may be fewer than D steps). */
class Averages {
  #sum: Record<string, number> = {};
  #count: Record<string, number> = {};
  add(m: Record<string, number>): void {
    for (const [k, v] of Object.entries(m)) {
      this.#sum[k] = (this.#sum[k] ?? 0) + v;
      this.#count[k] = (this.#count[k] ?? 0) + 1;
    }
  }
  take(): Record<string, number> {
    const out: Record<string, number> = {};
    for (const [k, v] of Object.entries(this.#sum)) out[k] = v / this.#count[k];
    this.#sum = {};
    this.#count = {};
    return out;
  }
}

/**
 * Trains `def` with `given` options (parsed by the CLI; `givenNames` are those the user
 * set explicitly). Returns when --kimg is reached or the run is interrupted; either way
 * the last state is in a checkpoint.
 */
export async function train(def: RecipeDef, givenOptions: Options, givenNames: Set<string>, hooks: TrainHooks = {}): Promise<TrainResult> {
  const given = applyPreset(def, givenOptions, givenNames);
  const log = hooks.log ?? ((s: string) => process.stderr.write(s + '\n'));
  const dir = optionsView(COMMON_SCHEMA, given).out ?? defaultOut(given);
  let resuming = given.resume === true;
  // Before any work: --out can be written, and --force would replace only a run.
  checkRunFolder(dir, { resume: resuming, force: given.force === true, data: optionsView(COMMON_SCHEMA, given).data });
  const o = resuming ? resumeOptions(def, dir, given, givenNames) : { ...given, out: dir };
  const t = trainerOptions(def, o);
  const c = t.common, L = t.length;
  const device = c.device;
  if (device.startsWith('cuda') && !torch.cuda.isAvailable()) throw new UsageError(`--device ${device}: this libtorch has no CUDA device`);
  const hash = configHash(o, RESUMABLE_CHANGES);

  // Open the data first: a bad --data must fail before a run folder is made.
  const { dataset, unreadable } = await openTrainingData(def, o, log);
  checkDataKind(def, o, dataset);
  const byEpoch = L.byEpoch;
  const classNames = dataset.classes;
  const classes = !L.byEpoch && L.image.classes;
  if (classes && (!classNames || classNames.length < 2)) throw new UsageError(`--classes needs at least two classes in ${c.data}`);
  if (!byEpoch && t.batch && dataset.length < t.batch.batch) {
    throw new UsageError(`--batch ${t.batch.batch} is larger than the ${dataset.length} images of ${c.data}`);
  }
  // Translation grids show the first images of the dataset (with their seed-fixed crops);
  // reading them now also fails early on a bad first image.
  const nSamples = c.n_samples;
  const real = byEpoch ? await firstSamples(def, o, nSamples, device) : undefined;

  // The networks before the run folder: a family's own option checks fail before it is made.
  torch.manualSeed(c.seed);
  const env = recipeEnv(o, classes ? classNames!.length : 0, device);
  const recipe: Recipe = def.create(o, env);
  // Before the optimisers' rates are read (lazy regularisation corrects them) or restored.
  const runner = new PhaseRunner(recipe, { gradientHook: hooks.gradientHook });
  const largest = Math.max(0, ...(recipe.batchSizes?.() ?? []));
  if (largest > dataset.length) {
    throw new UsageError(`the schedule asks for minibatches of up to ${largest} images, more than the ${dataset.length} of ${c.data}: lower --minibatch_base/--minibatch_dict or use more data`);
  }

  // One process at a time writes a run: the lock is held until train() returns or throws.
  using _lock = lockRunFolder(dir, !resuming, log);
  let paths: RunPaths;
  // The checkpoint a resume continues from: the newest intact one.
  let resumeFrom: string | null = null;
  if (resuming) {
    paths = runPaths(dir);
    const removed = removePartialCheckpoints(paths.checkpoints);
    if (removed.length) log(`removed ${removed.length} incomplete checkpoint folder(s) left by a crash`);
    resumeFrom = resumeCheckpoint(paths, log);
    if (resumeFrom === null) {
      // Killed during its very first checkpoint: nothing was trained yet, so start again.
      log(`${dir} has no complete checkpoint (its first was interrupted): starting it afresh from its config.json`);
      truncateMetrics(paths, 0);
      resuming = false;
    }
  } else {
    paths = createRun(dir, c.force, runProtection(c.data));
  }
  writeConfig(paths, { ganforge: VERSION, options: o, classes: classNames, dataset: { source: dataset.source, kind: dataset.kind, length: dataset.length } });

  const nets = recipe.networks();
  const G = nets.G, ema = nets[EMA_NETWORK];
  if (G && ema) {
    if (recipe.emaLoaded) {
      ema.requiresGrad_(false);
      ema.eval();
    } else initEma(ema, G);
  }
  // Base learning rates are read now, before a checkpoint could overwrite them.
  const schedule = t.lr ? new LrSchedule(t.lr, Object.values(recipe.optimizers())) : null;
  // Epoch-based families see every image once per epoch, the last batch possibly short, as
  // the reference's DataLoader; kimg-based ones keep every batch full.
  const loaderOptions = (batchSize: number) => ({ batchSize, seed: c.seed, workers: c.workers ?? undefined, dropLast: !byEpoch });
  let loader = new Loader(dataset, loaderOptions(t.batch ? t.batch.batch : Math.min(dataset.length, 1)));
  // A progressive schedule changes the minibatch between steps: the loader continues from
  // the same place with the new size (batches read ahead are dropped, none is skipped).
  // Every size it can ask for was checked against the data above.
  const rebatch = async (batchSize: number): Promise<void> => {
    if (batchSize === loader.batchSize) return;
    const st = loader.state();
    for (const f of loader.skipped) skipped.add(f);
    await loader.close();
    loader = new Loader(dataset, loaderOptions(batchSize));
    loader.restore({ ...st, batchSize });
  };

  // Unreadable files: those found before training, and those the loaders meet.
  const skipped = new Set(unreadable);
  const skippedCount = (): number => {
    for (const f of loader.skipped) skipped.add(f);
    return skipped.size;
  };
  let step = 0;
  let imagesSeen = 0;
  let lastCheckpoint = '';
  // Epoch-based runs see each image once per epoch, so both lengths count images.
  const totalEpochs = L.byEpoch ? L.lr.n_epochs + L.lr.n_epochs_decay : 0;
  const totalImages = L.byEpoch ? totalEpochs * dataset.length : L.kimg.kimg * 1000;
  const emaOpts = G && ema && !L.byEpoch ? emaOptions(L.kimg) : null;
  const where = (): string => (byEpoch ? `epoch ${Math.min(loader.epoch + 1, totalEpochs)}/${totalEpochs}, step ${step}` : `step ${step}, ${(imagesSeen / 1000).toFixed(3)} kimg`);
  if (resumeFrom !== null) {
    const name = resumeFrom;
    lastCheckpoint = join(paths.checkpoints, name);
    torch.scope(() => {
      const ck = loadCheckpoint(lastCheckpoint);
      const st = ck.state as { configHash: string; step: number; imagesSeen: number; loader: LoaderState; rng: Record<string, string>; recipe: Record<string, unknown>; schedule: ScheduleState; optimizers: Record<string, Record<string, number | boolean | number[]>> };
      if (st.configHash !== hash) throw new UsageError(`cannot resume ${dir}: its checkpoint was written with other options than config.json now holds`);
      for (const [k, net] of Object.entries(nets)) {
        if (!ck.networks[k]) throw new UsageError(`checkpoint ${lastCheckpoint} has no weights for ${k}`);
        net.loadStateDict(ck.networks[k]);
      }
      for (const [k, opt] of Object.entries(recipe.optimizers())) opt.loadStateDict({ tensors: ck.optimizers[k] ?? {}, hyper: st.optimizers[k] });
      recipe.loadState(st.recipe, ck.extra ?? {});
      schedule?.load(st.schedule);
      loader.restore(st.loader);
      restoreRng(st.rng);
      step = st.step;
      imagesSeen = st.imagesSeen;
    });
    truncateMetrics(paths, step);
    log(`resuming ${dir} from ${name} (${where()})`);
  }

  // The same latents (and labels) for every grid of the run, drawn apart from the training stream.
  const sampleLabels = env.numClasses > 0 ? Array.from({ length: nSamples }, (_, i) => Math.floor((i * env.numClasses) / nSamples)) : null;
  const fixed: SampleInputs = torch.scope(() => {
    const inputs = torch.withSeed(c.seed + 1_000_003, () => recipe.sampleInputs(nSamples, sampleLabels, real));
    return { z: inputs.z, labels: inputs.labels, a: inputs.a ?? null, b: inputs.b ?? null };
  });
  const fixedTensors = [fixed.z, fixed.labels, fixed.a, fixed.b].filter((t): t is torch.Tensor => t != null);
  for (const t of [real?.a, real?.b, real?.labels]) if (t && !fixedTensors.includes(t)) t.dispose();

  // Standing statistics: G_ema's batch norms re-estimated for its own weights before it is
  // sampled or saved, from latents of their own seed (nothing training reads depends on them).
  let stoodAt = -1;
  const stand = (): void => {
    if (recipe.emaBuffers !== 'standing' || !ema || stoodAt === step) return;
    standEma(recipe, ema, { batch: env.batchSize || 64, numClasses: env.numClasses, runSeed: c.seed });
    stoodAt = step;
  };

  const writeSamples = async (): Promise<string> => {
    const file = join(paths.samples, `${checkpointName(imagesSeen / 1000)}.png`);
    stand();
    const images = torch.scope(() => torch.withSeed(0, () => torch.noGrad(() => recipe.generate(fixed))));
    try {
      await saveGrid(images, file, { nrow: recipe.gridColumns ?? Math.ceil(Math.sqrt(nSamples)) });
    } finally {
      images.dispose();
    }
    return file;
  };

  const writeCheckpoint = (): string => torch.scope(() => {
    stand();
    const state = {
      ganforge: VERSION, configHash: hash, step, imagesSeen, kimg: imagesSeen / 1000, epoch: loader.epoch,
      loader: loader.state(), rng: rngState(device), recipe: recipe.state(), schedule: schedule?.state() ?? null,
      optimizers: Object.fromEntries(Object.entries(recipe.optimizers()).map(([k, opt]) => [k, opt.stateDict().hyper])),
      ...(stoodAt === step ? { emaStanding: true } : {}),
    };
    const networks = Object.fromEntries(Object.entries(nets).map(([k, m]) => [k, m.stateDict()]));
    const optimizers = Object.fromEntries(Object.entries(recipe.optimizers()).map(([k, opt]) => [k, opt.stateDict().tensors]));
    const extra = recipe.stateTensors?.() ?? {};
    lastCheckpoint = saveCheckpoint(paths.checkpoints, checkpointName(imagesSeen / 1000), { networks, optimizers, extra, state }, c.keep);
    return lastCheckpoint;
  });

  // A stop request (the CLI's Ctrl-C) finishes the step in progress, then checkpoints and
  // returns like the end of the run.
  let stopRequested = hooks.signal?.aborted ?? false;
  const onAbort = (): void => {
    stopRequested = true;
  };
  hooks.signal?.addEventListener('abort', onAbort, { once: true });

  const averages = new Averages();
  const t0 = performance.now();
  let intervalStart = performance.now();
  let intervalImages = 0;
  const startImages = imagesSeen;
  // A logged row averages the steps since the previous row; after a resume the first
  // window starts at the resume step. A row of a partial window (after a resume, at the
  // end) says how many steps it averages, and after a resume from which step.
  let windowStart = step;
  let resumedAt: number | null = resuming ? step : null;
  try {
    if (!resuming) {
      const length = L.byEpoch ? `, ${totalEpochs} epochs` : `, ${L.kimg.kimg} kimg`;
      log(`training ${def.name} on ${dataset.source} (${dataset.length} ${dataset.paired ? 'samples' : 'images'}${classNames && classes ? `, ${classNames.length} classes` : ''}${length}) into ${dir}`);
      writeCheckpoint();
      await writeSamples();
    }
    while (imagesSeen < totalImages && !stopRequested) {
      // A prefetched batch resolves as a microtask, which never lets the event loop poll:
      // yield once per step so signals (Ctrl-C) and worker messages are handled promptly.
      await new Promise<void>((resolve) => setImmediate(resolve));
      if (recipe.nextBatchSize) await rebatch(recipe.nextBatchSize(imagesSeen));
      const batch = await loader.next();
      schedule?.beforeStep(batch.epoch);
      const metrics = torch.scope(() => {
        const tb = toTensorBatch(batch, { device });
        const m = runner.run(tb, { step, imagesSeen });
        if (emaOpts) updateEma(ema, G, recipe.emaDecay ? recipe.emaDecay({ step, imagesSeen }) : emaBeta(emaOpts, batch.size, imagesSeen), recipe.emaBuffers);
        return m;
      });
      const before = imagesSeen;
      imagesSeen += batch.size;
      intervalImages += batch.size;
      step++;
      schedule?.afterStep(metrics);
      averages.add(metrics);
      if (step % c.log_every === 0 || imagesSeen >= totalImages) {
        const now = performance.now();
        const imgPerSec = intervalImages / ((now - intervalStart) / 1000);
        const m = averages.take();
        const n = skippedCount();
        appendMetrics(paths, {
          step, kimg: imagesSeen / 1000, epoch: batch.epoch, ...m, ...(schedule ? { lr_mult: schedule.multiplier } : {}), img_per_s: imgPerSec, sec: (now - t0) / 1000,
          ...(step - windowStart !== c.log_every ? { window_steps: step - windowStart, ...(resumedAt !== null ? { resumed_at_step: resumedAt } : {}) } : {}),
          ...(n ? { skipped_files: n } : {}),
        });
        windowStart = step;
        resumedAt = null;
        const done = imagesSeen - startImages;
        const rate = done / ((now - t0) / 1000);
        hooks.progress?.({
          step, kimg: imagesSeen / 1000, totalKimg: totalImages / 1000, imgPerSec, etaSec: (totalImages - imagesSeen) / rate, metrics: m,
          ...(byEpoch ? { epoch: batch.epoch + 1, totalEpochs } : {}),
        });
        intervalStart = now;
        intervalImages = 0;
      }
      if (L.byEpoch) {
        const { display_freq, save_epoch_freq, save_latest_freq } = L.epochs;
        const epochEnded = loader.epoch > batch.epoch;
        if (crossed(before, imagesSeen, display_freq)) await writeSamples();
        if ((epochEnded && (batch.epoch + 1) % save_epoch_freq === 0) || crossed(before, imagesSeen, save_latest_freq)) writeCheckpoint();
      } else {
        if (crossed(before, imagesSeen, L.kimg.sample_kimg * 1000)) await writeSamples();
        if (crossed(before, imagesSeen, L.kimg.snapshot_kimg * 1000)) writeCheckpoint();
      }
      if (hooks.afterStep?.(step)) stopRequested = true;
    }
    const final = writeCheckpoint();
    const grid = await writeSamples();
    if (stopRequested) log(`stopped at ${where()}; continue with --resume --out ${dir}`);
    if (skippedCount()) log(`skipped ${skipped.size} unreadable image file(s) of ${dataset.source}, ${[...skipped].sort()[0]} first`);
    log(`checkpoint: ${final}`);
    log(`samples:    ${grid}`);
    return { runDir: dir, steps: step, kimg: imagesSeen / 1000, checkpoint: final, interrupted: stopRequested };
  } finally {
    hooks.signal?.removeEventListener('abort', onAbort);
    await loader.close();
    for (const t of fixedTensors) t.dispose();
    for (const net of Object.values(nets)) net.dispose();
    for (const opt of Object.values(recipe.optimizers())) opt.dispose();
    recipe.dispose?.();
  }
}
