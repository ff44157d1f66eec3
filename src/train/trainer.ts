// The training loop every family shares: data in, recipe steps, generator EMA, metrics,
// fixed-latent sample grids, crash-safe checkpoints, exact resume and clean interrupts.
import { existsSync } from 'node:fs';
import { basename, join } from 'node:path';
import * as torch from '../torch/index.js';
import { UsageError } from '../config/errors.js';
import { type Options, validateOptions, optionsView } from '../config/options.js';
import { openDataset, Loader, toTensorBatch, saveGrid, collate, type LoaderState, type Dataset, type DatasetOptions, type TensorBatch } from '../data/index.js';
import { checkpointName, saveCheckpoint, loadCheckpoint, pruneCheckpoints, removePartialCheckpoints, EMA_NETWORK } from '../io/checkpoint.js';
import { parseMetricList } from '../metrics/names.js';
import { addBest, readBest, type BestList } from '../run/best.js';
import { VERSION } from '../version.js';
import type { Recipe, RecipeDef, RecipeEnv, SampleInputs } from './recipe.js';
import { PhaseRunner, type GradientHook } from './phase.js';
import { checkPrecision, precisionWarning, type Precision } from './precision.js';
import { COMMON_SCHEMA, RESUMABLE_CHANGES, checkImageShape, fullSchema, datasetOptions, recipeEnv, resolutionOf, trainerOptions, type KimgOptions } from './options.js';
import { openTrainingData } from './data.js';
import { emaBeta, updateEma, initEma, type EmaOptions } from './ema.js';
import { standEma } from './standing_stats.js';
import { LrSchedule, type ScheduleState } from './lr_schedule.js';
import { type Job, rankSeed } from '../distributed/index.js';
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
  /**
   * This process's place in a data-parallel job (joined by the caller): the run is trained
   * by all its ranks together, --batch being the global batch; rank 0 alone writes the run
   * folder. Absent: one process trains alone.
   */
  distributed?: Job;
  /**
   * Measures the model for --metrics (the CLI's measures with `ganforge eval`'s machinery):
   * called every --metrics_kimg (--metrics_epoch_freq) and at the end, just after a
   * checkpoint of that state is written, with the training RNG put back afterwards.
   * Returns results by key (fid10k, is10k_mean …).
   */
  evaluate?: (ctx: EvaluationContext) => Promise<Record<string, number>>;
}

/** What an evaluation hook is given: the model as training left it, and where it was saved. */
export interface EvaluationContext {
  recipe: Recipe;
  /** The run's resolved options. */
  options: Options;
  numClasses: number;
  step: number;
  kimg: number;
  /** The checkpoint holding this state. */
  checkpoint: string;
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

/**
 * Options added after runs were already being trained. A checkpoint written before one
 * existed hashed the options without it; at its default the option trains as those runs
 * did, so their checkpoints still resume. (StyleGAN2 had --aug, as 'noaug' only, before
 * the others: its runs hashed it.)
 */
const LATER_OPTIONS = ['aug', 'diffaugment', 'p', 'target', 'augpipe', 'ada_kimg', 'ada_interval', 'load_in_mem'];

/** The hashes a checkpoint of an earlier version may carry for the same training. */
function legacyHashes(def: RecipeDef, o: Options, syncBn: boolean): string[] {
  const schema = fullSchema(def);
  const atDefault = LATER_OPTIONS.filter((k) => k in schema && k in o && o[k] === schema[k].default);
  const ignore = [...RESUMABLE_CHANGES, ...(syncBn ? [] : ['sync_bn'])];
  return [atDefault, atDefault.filter((k) => k !== 'aug')].map((later) => configHash(o, new Set([...ignore, ...later])));
}

function emaOptions(o: KimgOptions): EmaOptions {
  return { emaKimg: o.ema_kimg, beta: o.ema_beta, startKimg: o.ema_start_kimg, rampup: o.ema_rampup };
}

/** The random state to checkpoint: this process's, and under data parallelism every rank's (rank order). */
function rngStates(device: string, job: Job | undefined): { rng: Record<string, string>; rankRng?: string[] } {
  const rng = rngState(device);
  if (!job) return { rng };
  return { rng, rankRng: job.gatherBytes(torch.getRngState('cpu')).map((b) => Buffer.from(b).toString('base64')) };
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

/** The logged scalars averaged over the ranks: the global batch's (every rank logs the same names). */
function meanOverRanks(job: Job, m: Record<string, number>): Record<string, number> {
  const keys = Object.keys(m).sort();
  const all = job.group.allGatherNumbers(keys.map((k) => m[k]));
  return Object.fromEntries(keys.map((k, i) => [k, all.reduce((acc, r) => acc + r[i], 0) / all.length]));
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
export async function train(def: RecipeDef, given: Options, givenNames: Set<string>, hooks: TrainHooks = {}): Promise<TrainResult> {
  const job = hooks.distributed;
  try {
    return await trainAlone(def, given, givenNames, hooks);
  } catch (e) {
    // A collective that failed names the rank that caused it, where this process can tell.
    throw job ? job.explain(e) : e;
  }
}

async function trainAlone(def: RecipeDef, given: Options, givenNames: Set<string>, hooks: TrainHooks): Promise<TrainResult> {
  const log = hooks.log ?? ((s: string) => process.stderr.write(s + '\n'));
  const job = hooks.distributed;
  const world = job?.size ?? 1;
  // Rank 0 alone writes the run folder; the others read it (config, checkpoint) on resume.
  const lead = (job?.rank ?? 0) === 0;
  const dir = optionsView(COMMON_SCHEMA, given).out ?? defaultOut(given);
  let resuming = given.resume === true;
  // Before any work: --out can be written, and --force would replace only a run.
  if (lead) checkRunFolder(dir, { resume: resuming, force: given.force === true, data: optionsView(COMMON_SCHEMA, given).data });
  const o = resuming ? resumeOptions(def, dir, given, givenNames) : { ...(def.resolveOptions ? def.resolveOptions(given, givenNames) : given), out: dir };
  checkImageShape(def, o);
  const t = trainerOptions(def, o);
  const c = t.common, L = t.length;
  const device = c.device;
  if (device.startsWith('cuda') && !torch.cuda.isAvailable()) throw new UsageError(`--device ${device}: this libtorch has no CUDA device`);
  // --sync_bn off trains as runs did before the option existed: leaving it out of the hash
  // then keeps their checkpoints resumable.
  const hash = configHash(o, c.sync_bn ? RESUMABLE_CHANGES : new Set([...RESUMABLE_CHANGES, 'sync_bn']));
  const resumableHashes = new Set([hash, ...legacyHashes(def, o, c.sync_bn)]);
  const measured = t.metrics.metrics ? parseMetricList(t.metrics.metrics) : null;
  if (measured && !hooks.evaluate && (!hooks.distributed || hooks.distributed.rank === 0)) throw new UsageError('--metrics needs an evaluation hook (ganforge train provides one; a program calling train() passes hooks.evaluate)');

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
  if (t.batch && t.batch.batch % world !== 0) {
    throw new UsageError(`--batch ${t.batch.batch} is the global batch and must split evenly over the ${world} processes: use a multiple of ${world}`);
  }
  // Translation grids show the first images of the dataset (with their seed-fixed crops);
  // reading them now also fails early on a bad first image.
  const nSamples = c.n_samples;
  const real = byEpoch ? await firstSamples(def, o, nSamples, device) : undefined;

  // The networks before the run folder: a family's own option checks fail before it is made.
  torch.manualSeed(c.seed);
  const env: RecipeEnv = {
    ...recipeEnv(o, classes ? classNames!.length : 0, device),
    ...(classes ? { labels: dataset.labels() } : {}),
    ...(job ? { sumOverRanks: (v: number[]) => job.sum(v) } : {}),
  };
  const recipe: Recipe = def.create(o, env);
  // Before the optimisers' rates are read (lazy regularisation corrects them) or restored.
  const userHook = hooks.gradientHook;
  const gradientHook: GradientHook | undefined = job
    ? (params, phase) => {
        job.gradientHook(params);
        userHook?.(params, phase);
      }
    : userHook;
  checkPrecision(c.precision, device);
  const runner = new PhaseRunner(recipe, { gradientHook, precision: c.precision, device });
  const precisionNote = lead ? precisionWarning(c.precision, device) : null;
  if (precisionNote) log(precisionNote);
  const uneven = (recipe.batchSizes?.() ?? []).find((b) => b % world !== 0);
  if (uneven !== undefined) throw new UsageError(`the schedule asks for a minibatch of ${uneven}, which does not split evenly over the ${world} processes: use minibatches that are multiples of ${world}`);
  const largest = Math.max(0, ...(recipe.batchSizes?.() ?? []));
  if (largest > dataset.length) {
    throw new UsageError(`the schedule asks for minibatches of up to ${largest} images, more than the ${dataset.length} of ${c.data}: lower --minibatch_base/--minibatch_dict or use more data`);
  }

  // One process at a time writes a run: the lock is held until train() returns or throws.
  using _lock = lead ? lockRunFolder(dir, !resuming, log) : null;
  let paths: RunPaths;
  // The checkpoint a resume continues from: the newest intact one.
  let resumeFrom: string | null = null;
  if (!lead) {
    // Rank 0 checks the checkpoints (and moves damaged ones aside); the others take its pick.
    paths = runPaths(dir);
    if (resuming) {
      const pick = job!.group.storeGet('resume-from');
      resumeFrom = pick === '' ? null : pick;
      resuming = resumeFrom !== null;
    }
  } else if (resuming) {
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
    job?.group.storeSet('resume-from', resumeFrom ?? '');
  } else {
    paths = createRun(dir, c.force, runProtection(c.data));
  }
  // The best checkpoints by the first metric: kept through pruning, listed in best.json.
  const primary = measured?.[0];
  let best: BestList | null = primary && t.metrics.keep_best > 0 ? readBest(dir, paths.checkpoints, primary.keys[0], primary.lowerIsBetter) : null;
  const protectedCheckpoints = (): Set<string> => new Set(best?.best.map((e) => e.checkpoint) ?? []);
  if (lead) writeConfig(paths, { ganforge: VERSION, options: o, classes: classNames, dataset: { source: dataset.source, kind: dataset.kind, length: dataset.length } });

  const nets = recipe.networks();
  const G = nets.G, ema = nets[EMA_NETWORK];
  if (G && ema) initEma(ema, G, !recipe.emaLoaded);
  if (job) {
    // The trained networks' batch norms see the global batch (G_ema's statistics are stood
    // on rank 0 alone, which samples and saves it).
    if (c.sync_bn) job.syncBatchNorm(Object.entries(nets).filter(([k]) => k !== EMA_NETWORK).map(([, n]) => n));
    // Each rank draws its own noise (latents, dropout): a stream of the seed and the rank.
    torch.manualSeed(rankSeed(c.seed, job.rank));
  }
  // Base learning rates are read now, before a checkpoint could overwrite them.
  const schedule = t.lr ? new LrSchedule(t.lr, Object.values(recipe.optimizers())) : null;
  // Epoch-based families see every image once per epoch, the last batch possibly short, as
  // the reference's DataLoader; kimg-based ones keep every batch full.
  // Under data parallelism each rank takes its share of every global batch.
  const shard = job ? { index: job.rank, count: world } : undefined;
  const loaderOptions = (batchSize: number) => ({ batchSize, seed: c.seed, workers: c.workers ?? undefined, dropLast: !byEpoch, shard });
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
      const st = ck.state as { configHash: string; step: number; imagesSeen: number; precision?: Precision; loader: LoaderState; rng: Record<string, string>; rankRng?: string[]; world?: number; recipe: Record<string, unknown>; schedule: ScheduleState; optimizers: Record<string, Record<string, number | boolean | number[]>> };
      if (!resumableHashes.has(st.configHash)) throw new UsageError(`cannot resume ${dir}: its checkpoint was written with other options than config.json now holds`);
      const savedWorld = st.world ?? 1;
      if (savedWorld !== world) {
        throw new UsageError(`cannot resume ${dir} with ${world} process${world > 1 ? 'es' : ''}: it was trained with ${savedWorld} (each rank's data share and random stream belong to that world size); resume with --nproc ${savedWorld} or WORLD_SIZE=${savedWorld}`);
      }
      for (const [k, net] of Object.entries(nets)) {
        if (!ck.networks[k]) throw new UsageError(`checkpoint ${lastCheckpoint} has no weights for ${k}`);
        net.loadStateDict(ck.networks[k]);
      }
      for (const [k, opt] of Object.entries(recipe.optimizers())) opt.loadStateDict({ tensors: ck.optimizers[k] ?? {}, hyper: st.optimizers[k] });
      recipe.loadState(st.recipe, ck.extra ?? {});
      schedule?.load(st.schedule);
      loader.restore(st.loader);
      restoreRng(job ? { cpu: st.rankRng![job.rank] } : st.rng);
      step = st.step;
      imagesSeen = st.imagesSeen;
      // Allowed: the weights and optimiser state are fp32 whichever precision computed them.
      const was = st.precision ?? 'fp32';
      if (was !== c.precision && lead) log(`resuming with --precision ${c.precision}: the run was trained in ${was} up to this checkpoint (its weights and optimiser state are fp32 either way)`);
    });
    if (lead) truncateMetrics(paths, step);
    log(`resuming ${dir} from ${name} (${where()})`);
  }
  // The same starting weights on every rank (rank 0's), whether just made or loaded.
  job?.broadcastFromRoot(Object.values(nets));

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
    if (!lead) return file;
    const alone = <T>(fn: () => T): T => (job ? job.alone(fn) : fn());
    alone(stand);
    const images = torch.scope(() => torch.withSeed(0, () => torch.noGrad(() => alone(() => recipe.generate(fixed)))));
    try {
      await saveGrid(images, file, { nrow: recipe.gridColumns ?? Math.ceil(Math.sqrt(nSamples)) });
    } finally {
      images.dispose();
    }
    return file;
  };

  // Every rank calls it at the same step (it gathers their random states); rank 0 writes.
  const writeCheckpoint = (): string => torch.scope(() => {
    const rng = rngStates(device, job);
    if (!lead) return (lastCheckpoint = join(paths.checkpoints, checkpointName(imagesSeen / 1000)));
    if (job) job.alone(stand);
    else stand();
    const state = {
      ganforge: VERSION, configHash: hash, step, imagesSeen, kimg: imagesSeen / 1000, epoch: loader.epoch,
      precision: c.precision,
      loader: loader.state(), ...rng, ...(job ? { world } : {}), recipe: recipe.state(), schedule: schedule?.state() ?? null,
      optimizers: Object.fromEntries(Object.entries(recipe.optimizers()).map(([k, opt]) => [k, opt.stateDict().hyper])),
      ...(stoodAt === step ? { emaStanding: true } : {}),
    };
    const networks = Object.fromEntries(Object.entries(nets).map(([k, m]) => [k, m.stateDict()]));
    const optimizers = Object.fromEntries(Object.entries(recipe.optimizers()).map(([k, opt]) => [k, opt.stateDict().tensors]));
    const extra = recipe.stateTensors?.() ?? {};
    lastCheckpoint = saveCheckpoint(paths.checkpoints, checkpointName(imagesSeen / 1000), { networks, optimizers, extra, state }, c.keep, protectedCheckpoints());
    return lastCheckpoint;
  });

  // --metrics: a checkpoint of this state, the hook's results as a row of metrics.jsonl,
  // and the best list updated (a checkpoint that leaves it goes with the next pruning).
  let measuredAt = -1;
  const measure = async (): Promise<void> => {
    if (!measured || measuredAt === step) return;
    // Every rank takes part in the checkpoint; rank 0 alone measures, while the others wait
    // at their next collective (so a measurement must fit in --dist_timeout).
    const checkpoint = writeCheckpoint();
    if (!lead || !hooks.evaluate) {
      measuredAt = step;
      return;
    }
    const name = basename(checkpoint);
    const rng = rngState(device);
    const started = performance.now();
    let results: Record<string, number>;
    try {
      results = await hooks.evaluate({ recipe, options: o, numClasses: env.numClasses, step, kimg: imagesSeen / 1000, checkpoint });
    } finally {
      restoreRng(rng);
    }
    measuredAt = step;
    appendMetrics(paths, { step, kimg: imagesSeen / 1000, ...results, metrics_sec: (performance.now() - started) / 1000, checkpoint: name });
    const shown = Object.entries(results).map(([k, v]) => `${k} ${v.toPrecision(6)}`).join('  ');
    let note = '';
    if (best) {
      best = addBest(dir, best, { checkpoint: name, step, kimg: imagesSeen / 1000, value: results[primary!.keys[0]] }, t.metrics.keep_best);
      pruneCheckpoints(paths.checkpoints, c.keep, protectedCheckpoints());
      const top = best.best[0];
      note = top?.checkpoint === name ? '  (best so far)' : top ? `  (best: ${top.value.toPrecision(6)} at ${top.checkpoint})` : '';
    }
    log(`metrics at ${where()}: ${shown}${note}`);
  };

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
      // The images of the whole step, over every rank.
      const size = batch.size * world;
      schedule?.beforeStep(batch.epoch);
      const metrics = torch.scope(() => {
        const tb = toTensorBatch(batch, { device });
        const m = runner.run(tb, { step, imagesSeen });
        if (emaOpts) updateEma(ema, G, recipe.emaDecay ? recipe.emaDecay({ step, imagesSeen }) : emaBeta(emaOpts, size, imagesSeen), recipe.emaBuffers);
        return m;
      });
      const before = imagesSeen;
      imagesSeen += size;
      intervalImages += size;
      step++;
      schedule?.afterStep(metrics);
      averages.add(metrics);
      if (step % c.log_every === 0 || imagesSeen >= totalImages) {
        const now = performance.now();
        const imgPerSec = intervalImages / ((now - intervalStart) / 1000);
        const m = job ? meanOverRanks(job, averages.take()) : averages.take();
        const n = skippedCount();
        if (lead) appendMetrics(paths, {
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
        if (epochEnded && (batch.epoch + 1) % L.epochs.metrics_epoch_freq === 0) await measure();
      } else {
        if (crossed(before, imagesSeen, L.kimg.sample_kimg * 1000)) await writeSamples();
        if (crossed(before, imagesSeen, L.kimg.snapshot_kimg * 1000)) writeCheckpoint();
        if (crossed(before, imagesSeen, L.kimg.metrics_kimg * 1000)) await measure();
      }
      if (hooks.afterStep?.(step)) stopRequested = true;
      // Every rank stops after the same step (a Ctrl-C may reach them a step apart).
      if (job) stopRequested = job.any(stopRequested);
    }
    const final = writeCheckpoint();
    // An interrupted run stops promptly; the next one measures where it ends.
    if (!stopRequested) await measure();
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
