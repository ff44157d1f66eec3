// Progressive-growing training schedules (PGGAN, StyleGAN v1) as pure functions of training
// progress: level of detail, working resolution, minibatch size, learning rates and the
// progress-report interval at any point of a run, with nothing to save on resume but the
// number of images shown.
//
// Sources (restated, not copied):
//   - PGGAN:    tkarras/progressive_growing_of_gans, train.py `TrainingSchedule` and the main
//               loop of train_progressive_gan(); defaults from config.py.
//   - StyleGAN: NVlabs/stylegan, training/training_loop.py `training_schedule()` and
//               training_loop(); defaults from train.py.
// The two formulas are the same except that StyleGAN adds a linear learning-rate ramp-up.
//
// The schedule, in words. Training runs in phases of lodTrainingKimg + lodTransitionKimg
// thousand real images. Each phase first trains at a fixed resolution, then fades in the
// layers of the next resolution during its transition part. The level of detail `lod`
// counts octaves below the final resolution: it starts at log2(final / initial), stays put
// during a stable part, falls linearly by one during a fade, and is clamped at 0 once the
// final resolution is reached (the final resolution then trains for the rest of the run).
// During a fade, `resolution` is already the NEW (finer) one: every resolution-keyed setting
// (minibatch, learning rates, tick length) switches at the START of the fade-in, not after it.
//
// Floating point: every value is computed in the originals' operation order, so a schedule
// evaluated at `kimg = curNimg / 1000` is bit-identical to theirs, exact phase boundaries
// included (test/fixtures/schedule/make_schedule_fixtures.py). Pass kimg computed that way.
//
// How the originals' main loop uses it (the same in both; the trainer must do likewise):
//   - the schedule is evaluated once per group of minibatchRepeats (4) × dRepeats (1)
//     discriminator steps, at the images shown so far, and held fixed for the whole group:
//     lod, minibatch and rates are piecewise constant, not per step;
//   - curNimg advances by `minibatch` after every D step (not after G steps); each group is
//     dRepeats D steps followed by one G step, repeated minibatchRepeats times;
//   - D steps use dLrate, G steps gLrate; both networks get the same (fractional) lod;
//   - with reset_opt_for_new_lod (default on) both Adam states are reset whenever
//     shouldResetOptimizer(prevLod, lod) holds, i.e. twice per new resolution: when a fade
//     starts and when it ends (and once at the very start of a run, or a resumed run);
//   - a tick ends when curNimg ≥ tickStartNimg + tickKimg·1000 of the last evaluation.

/** Settings keyed by resolution (4, 8, …, 1024): the originals' `*_dict` overrides. */
export type ResolutionDict = Readonly<Record<number, number>>;

/** The originals' schedule keyword arguments, plus the dataset's final resolution and GPU count. */
export interface ScheduleOptions {
  /** Final (dataset) resolution: a power of two. */
  resolution: number;
  /** `lod_initial_resolution`: resolution at the start (4 in the originals; train.py of StyleGAN sets 8). */
  lodInitialResolution: number;
  /** `lod_training_kimg`: thousands of real images at a fixed resolution before the next fade. */
  lodTrainingKimg: number;
  /** `lod_transition_kimg`: thousands of real images spent fading in the next resolution. */
  lodTransitionKimg: number;
  /** `minibatch_base`: the minibatch (total over all GPUs) where minibatchDict has no entry. */
  minibatchBase: number;
  /** `minibatch_dict`: per-resolution minibatch overrides. */
  minibatchDict: ResolutionDict;
  /** `max_minibatch_per_gpu`: per-resolution caps on minibatch / numGpus. Default {}. */
  maxMinibatchPerGpu?: ResolutionDict;
  /** `num_gpus`: the minibatch is rounded down to a multiple of it and split evenly. Default 1. */
  numGpus?: number;
  /** `G_lrate_base` / `G_lrate_dict`: generator learning rate and per-resolution overrides. */
  gLrateBase: number;
  gLrateDict: ResolutionDict;
  /** `D_lrate_base` / `D_lrate_dict`: discriminator learning rate and overrides. */
  dLrateBase: number;
  dLrateDict: ResolutionDict;
  /** `lrate_rampup_kimg` (StyleGAN only): both rates are scaled by min(kimg / this, 1); 0 = off. */
  lrateRampupKimg?: number;
  /** `tick_kimg_base`: progress-report interval in kimg where tickKimgDict has no entry. Default 160. */
  tickKimgBase?: number;
  /** `tick_kimg_dict`: per-resolution tick lengths; default is the family's own table. */
  tickKimgDict?: ResolutionDict;
}

/** The schedule at one point of training. */
export interface SchedulePoint {
  /** The progress it was evaluated at, in thousands of real images. */
  kimg: number;
  /** Index of the current phase (stable part + fade), and kimg into it. */
  phase: number;
  phaseKimg: number;
  /** Level of detail: octaves below the final resolution, fractional during a fade, ≥ 0. */
  lod: number;
  /** 2^(log2(final) − floor(lod)): the finer of the two resolutions being blended. */
  resolution: number;
  /** Minibatch size in images, total over all GPUs. */
  minibatch: number;
  /** Learning rates (after the ramp-up, if any). */
  gLrate: number;
  dLrate: number;
  /** The ramp-up factor applied to both rates (1 without ramp-up). */
  lrateRampup: number;
  /** Progress-report interval in kimg. */
  tickKimg: number;
}

/** PGGAN's default `tick_kimg_dict` (train.py). */
export const PGGAN_TICK_KIMG_DICT: ResolutionDict = Object.freeze({
  4: 160, 8: 140, 16: 120, 32: 100, 64: 80, 128: 60, 256: 40, 512: 20, 1024: 10,
});

/** StyleGAN's default `tick_kimg_dict` (training_loop.py): longer ticks at 512 and 1024. */
export const STYLEGAN_TICK_KIMG_DICT: ResolutionDict = Object.freeze({
  4: 160, 8: 140, 16: 120, 32: 100, 64: 80, 128: 60, 256: 40, 512: 30, 1024: 20,
});

/** log2 of a power-of-two resolution (the dataset's `resolution_log2`); throws otherwise. */
export function resolutionLog2(resolution: number): number {
  const l = Math.round(Math.log2(resolution));
  if (!Number.isInteger(resolution) || resolution < 1 || 2 ** l !== resolution) {
    throw new RangeError(`resolution must be a power of two, got ${resolution}`);
  }
  return l;
}

/**
 * The blend weight of the coarser level at `lod`: lod − floor(lod). process_reals lerps the
 * real images towards their 2×2-box-averaged copy by this much, and the networks' Grow
 * blocks weight the upsampled coarser output by it. 0 outside fades.
 */
export function lodFraction(lod: number): number {
  return lod - Math.floor(lod);
}

/** The papers' fade-in α of the newest layers: 1 − lodFraction(lod) (1 outside fades). */
export function fadeInAlpha(lod: number): number {
  return 1 - lodFraction(lod);
}

/** The working resolution at `lod` for a network of final resolution `finalResolution`. */
export function lodResolution(lod: number, finalResolution: number): number {
  return 2 ** (resolutionLog2(finalResolution) - Math.floor(lod));
}

/**
 * The originals' reset_opt_for_new_lod test: reset both optimisers' state when floor(lod)
 * or ceil(lod) changed since the previous evaluation. `prevLod` null (or the originals'
 * initial −1) means the first evaluation of a run, which always resets.
 */
export function shouldResetOptimizer(prevLod: number | null, lod: number): boolean {
  const prev = prevLod ?? -1;
  return Math.floor(lod) !== Math.floor(prev) || Math.ceil(lod) !== Math.ceil(prev);
}

function lookup(dict: ResolutionDict | undefined, resolution: number, fallback: number): number {
  return dict !== undefined && Object.hasOwn(dict, resolution) ? dict[resolution]! : fallback;
}

function check(name: string, v: number | undefined, min: number, integer = false): void {
  if (v === undefined) return;
  if (!Number.isFinite(v) || v < min || (integer && !Number.isInteger(v))) {
    throw new RangeError(`${name} must be ${integer ? 'an integer' : 'a finite number'} ≥ ${min}, got ${v}`);
  }
}

function evaluate(kimg: number, o: ScheduleOptions, tickDict: ResolutionDict, rampupKimg: number): SchedulePoint {
  check('kimg', kimg, 0);
  check('lodTrainingKimg', o.lodTrainingKimg, 0);
  check('lodTransitionKimg', o.lodTransitionKimg, 0);
  check('numGpus', o.numGpus, 1, true);
  check('lrateRampupKimg', rampupKimg, 0);
  if (!(o.lodInitialResolution >= 1)) throw new RangeError(`lodInitialResolution must be ≥ 1, got ${o.lodInitialResolution}`);
  const rlog2 = resolutionLog2(o.resolution);

  // Phase: a stable part followed by a fade; with both lengths 0 there is no growing at all.
  const phaseDur = o.lodTrainingKimg + o.lodTransitionKimg;
  const phase = phaseDur > 0 ? Math.floor(kimg / phaseDur) : 0;
  const phaseKimg = kimg - phase * phaseDur;

  // Level of detail, in the originals' order of operations (bit-exact at the boundaries).
  let lod = rlog2;
  lod -= Math.floor(Math.log2(o.lodInitialResolution));
  lod -= phase;
  if (o.lodTransitionKimg > 0) lod -= Math.max(phaseKimg - o.lodTrainingKimg, 0) / o.lodTransitionKimg;
  lod = Math.max(lod, 0);
  const resolution = 2 ** (rlog2 - Math.floor(lod));

  // Minibatch: per-resolution override, a multiple of the GPU count, capped per GPU.
  const gpus = o.numGpus ?? 1;
  let minibatch = lookup(o.minibatchDict, resolution, o.minibatchBase);
  minibatch -= minibatch % gpus;
  if (o.maxMinibatchPerGpu !== undefined && Object.hasOwn(o.maxMinibatchPerGpu, resolution)) {
    minibatch = Math.min(minibatch, o.maxMinibatchPerGpu[resolution]! * gpus);
  }
  if (!Number.isInteger(minibatch) || minibatch < 1) {
    throw new RangeError(`minibatch at ${resolution}x${resolution} is ${minibatch} (numGpus ${gpus}): must be a positive integer`);
  }

  // Learning rates, with StyleGAN's optional linear ramp-up from 0.
  let gLrate = lookup(o.gLrateDict, resolution, o.gLrateBase);
  let dLrate = lookup(o.dLrateDict, resolution, o.dLrateBase);
  let lrateRampup = 1;
  if (rampupKimg > 0) {
    lrateRampup = Math.min(kimg / rampupKimg, 1);
    gLrate *= lrateRampup;
    dLrate *= lrateRampup;
  }

  const tickKimg = lookup(tickDict, resolution, o.tickKimgBase ?? 160);
  return { kimg, phase, phaseKimg, lod, resolution, minibatch, gLrate, dLrate, lrateRampup, tickKimg };
}

/**
 * PGGAN's TrainingSchedule at `kimg` (= curNimg / 1000). PGGAN has no learning-rate ramp-up:
 * a non-zero lrateRampupKimg is refused (the original would reject the keyword).
 */
export function pgganSchedule(kimg: number, o: ScheduleOptions): SchedulePoint {
  if ((o.lrateRampupKimg ?? 0) !== 0) {
    throw new RangeError('PGGAN has no learning-rate ramp-up (lrateRampupKimg); use styleganSchedule');
  }
  return evaluate(kimg, o, o.tickKimgDict ?? PGGAN_TICK_KIMG_DICT, 0);
}

/** StyleGAN's training_schedule() at `kimg` (= curNimg / 1000). */
export function styleganSchedule(kimg: number, o: ScheduleOptions): SchedulePoint {
  return evaluate(kimg, o, o.tickKimgDict ?? STYLEGAN_TICK_KIMG_DICT, o.lrateRampupKimg ?? 0);
}

/** One resolution's place in the run: trained from stableKimg, faded in over [fadeStartKimg, stableKimg). */
export interface GrowthStage {
  resolution: number;
  /** Where its fade-in starts (null for the initial resolution, which has none). */
  fadeStartKimg: number | null;
  /** Where its stable training starts (0 for the initial resolution). */
  stableKimg: number;
}

/**
 * The resolutions a run goes through and when, from the same formula (exact kimg values;
 * evaluated schedules flip at the first evaluation at or after each boundary).
 */
export function growthPlan(o: Pick<ScheduleOptions, 'resolution' | 'lodInitialResolution' | 'lodTrainingKimg' | 'lodTransitionKimg'>): GrowthStage[] {
  const rlog2 = resolutionLog2(o.resolution);
  const levels = Math.max(rlog2 - Math.floor(Math.log2(o.lodInitialResolution)), 0);
  const first = 2 ** (rlog2 - levels);
  const phaseDur = o.lodTrainingKimg + o.lodTransitionKimg;
  const plan: GrowthStage[] = [{ resolution: first, fadeStartKimg: null, stableKimg: 0 }];
  if (phaseDur <= 0) {
    // No growing: the schedule stays at the initial lod for the whole run.
    return plan;
  }
  for (let i = 0; i < levels; i++) {
    plan.push({ resolution: first * 2 ** (i + 1), fadeStartKimg: i * phaseDur + o.lodTrainingKimg, stableKimg: (i + 1) * phaseDur });
  }
  return plan;
}

// ---------------------------------------------------------------------------------------
// The originals' defaults.

/** Main-loop settings that go with a schedule (not part of it). */
export interface ProgressiveLoopDefaults {
  /** `total_kimg` of the shipped config. */
  totalKimg: number;
  /** Minibatches per schedule evaluation. */
  minibatchRepeats: number;
  /** D steps per G step. */
  dRepeats: number;
  /** Reset Adam state when the lod crosses an integer (shouldResetOptimizer). */
  resetOptForNewLod: boolean;
  /** Random horizontal flips of the reals (on for CelebA-HQ and FFHQ). */
  mirrorAugment: boolean;
  /** PGGAN: fixed EMA decay of Gs per D step. StyleGAN: half-life in kimg, β = 0.5^(minibatch / (kimg·1000)). */
  gSmoothing?: number;
  gSmoothingKimg?: number;
  /** Adam settings of both optimisers. */
  adam: { beta1: number; beta2: number; epsilon: number };
}

export type PgganPreset = 'v1-1gpu' | 'v2-1gpu' | 'v2-2gpus' | 'v2-4gpus' | 'v2-8gpus';
export type StyleganPreset = '1gpu' | '2gpu' | '4gpu' | '8gpu';

type Defaults = Omit<ScheduleOptions, 'resolution'>;

function freezeDefaults<T extends object>(d: T): Readonly<T> {
  for (const v of Object.values(d)) if (v !== null && typeof v === 'object') Object.freeze(v);
  return Object.freeze(d);
}

function dict(d: Record<number, number>): Record<number, number> {
  return { ...d };
}

/** TrainingSchedule's own keyword defaults (train.py of PGGAN), before config.py. */
export const PGGAN_SCHEDULE_DEFAULTS: Readonly<Defaults> = freezeDefaults({
  lodInitialResolution: 4, lodTrainingKimg: 600, lodTransitionKimg: 600,
  minibatchBase: 16, minibatchDict: {}, maxMinibatchPerGpu: {}, numGpus: 1,
  gLrateBase: 0.001, gLrateDict: {}, dLrateBase: 0.001, dLrateDict: {},
  tickKimgBase: 160, tickKimgDict: dict(PGGAN_TICK_KIMG_DICT),
});

/** training_schedule()'s own keyword defaults (training_loop.py of StyleGAN), before train.py. */
export const STYLEGAN_SCHEDULE_DEFAULTS: Readonly<Defaults> = freezeDefaults({
  ...PGGAN_SCHEDULE_DEFAULTS,
  minibatchDict: {}, maxMinibatchPerGpu: {}, gLrateDict: {}, dLrateDict: {},
  lrateRampupKimg: 0, tickKimgDict: dict(STYLEGAN_TICK_KIMG_DICT),
});

const PGGAN_PRESETS: Record<PgganPreset, { numGpus: number; minibatchBase: number; minibatchDict: Record<number, number>; lrateDict: Record<number, number>; lodKimg?: number; totalKimg: number }> = {
  'v1-1gpu': { numGpus: 1, minibatchBase: 16, minibatchDict: { 256: 14, 512: 6, 1024: 3 }, lrateDict: {}, lodKimg: 800, totalKimg: 19000 },
  'v2-1gpu': { numGpus: 1, minibatchBase: 4, minibatchDict: { 4: 128, 8: 128, 16: 128, 32: 64, 64: 32, 128: 16, 256: 8, 512: 4 }, lrateDict: { 1024: 0.0015 }, totalKimg: 12000 },
  'v2-2gpus': { numGpus: 2, minibatchBase: 8, minibatchDict: { 4: 256, 8: 256, 16: 128, 32: 64, 64: 32, 128: 16, 256: 8 }, lrateDict: { 512: 0.0015, 1024: 0.002 }, totalKimg: 12000 },
  'v2-4gpus': { numGpus: 4, minibatchBase: 16, minibatchDict: { 4: 512, 8: 256, 16: 128, 32: 64, 64: 32, 128: 16 }, lrateDict: { 256: 0.0015, 512: 0.002, 1024: 0.003 }, totalKimg: 12000 },
  'v2-8gpus': { numGpus: 8, minibatchBase: 32, minibatchDict: { 4: 512, 8: 256, 16: 128, 32: 64, 64: 32 }, lrateDict: { 128: 0.0015, 256: 0.002, 512: 0.003, 1024: 0.003 }, totalKimg: 12000 },
};

const STYLEGAN_PRESETS: Record<StyleganPreset, { numGpus: number; minibatchBase: number; minibatchDict: Record<number, number> }> = {
  '1gpu': { numGpus: 1, minibatchBase: 4, minibatchDict: { 4: 128, 8: 128, 16: 128, 32: 64, 64: 32, 128: 16, 256: 8, 512: 4 } },
  '2gpu': { numGpus: 2, minibatchBase: 8, minibatchDict: { 4: 256, 8: 256, 16: 128, 32: 64, 64: 32, 128: 16, 256: 8 } },
  '4gpu': { numGpus: 4, minibatchBase: 16, minibatchDict: { 4: 512, 8: 256, 16: 128, 32: 64, 64: 32, 128: 16 } },
  '8gpu': { numGpus: 8, minibatchBase: 32, minibatchDict: { 4: 512, 8: 256, 16: 128, 32: 64, 64: 32 } },
};

/** config.py's fp32 per-GPU caps, active in every shipped PGGAN config. */
const PGGAN_FP32_CAPS = { 256: 16, 512: 8, 1024: 4 };
/** StyleGAN's train.py learning rates for every GPU count. */
const STYLEGAN_LRATE_DICT = { 128: 0.0015, 256: 0.002, 512: 0.003, 1024: 0.003 };

/**
 * PGGAN's config.py schedule for a final resolution: a preset line (default 'v2-1gpu', the
 * one config.py ships enabled) with the '-fp32' per-GPU caps. The dicts do not depend on the
 * final resolution; only the entries up to it are ever used.
 */
export function pgganDefaults(resolution: number, preset: PgganPreset = 'v2-1gpu'): ScheduleOptions {
  resolutionLog2(resolution);
  const p = PGGAN_PRESETS[preset];
  return {
    ...PGGAN_SCHEDULE_DEFAULTS,
    resolution,
    lodTrainingKimg: p.lodKimg ?? 600,
    lodTransitionKimg: p.lodKimg ?? 600,
    minibatchBase: p.minibatchBase,
    minibatchDict: dict(p.minibatchDict),
    maxMinibatchPerGpu: dict(PGGAN_FP32_CAPS),
    numGpus: p.numGpus,
    gLrateDict: dict(p.lrateDict),
    dLrateDict: dict(p.lrateDict),
    tickKimgDict: dict(PGGAN_TICK_KIMG_DICT),
  };
}

/**
 * StyleGAN's train.py schedule for a final resolution: a GPU-count line (default '8gpu', the
 * one train.py ships enabled; '1gpu' is its single-GPU line), lod_initial_resolution 8 and
 * the per-resolution learning rates. No per-GPU caps and no ramp-up in the shipped config.
 */
export function styleganDefaults(resolution: number, preset: StyleganPreset = '8gpu'): ScheduleOptions {
  resolutionLog2(resolution);
  const p = STYLEGAN_PRESETS[preset];
  return {
    ...STYLEGAN_SCHEDULE_DEFAULTS,
    resolution,
    lodInitialResolution: 8,
    minibatchBase: p.minibatchBase,
    minibatchDict: dict(p.minibatchDict),
    maxMinibatchPerGpu: {},
    numGpus: p.numGpus,
    gLrateDict: dict(STYLEGAN_LRATE_DICT),
    dLrateDict: dict(STYLEGAN_LRATE_DICT),
    tickKimgDict: dict(STYLEGAN_TICK_KIMG_DICT),
  };
}

/** config.py's shipped PGGAN schedule ('v2-1gpu', fp32) without the final resolution. */
export const PGGAN_DEFAULTS: Readonly<Defaults> = freezeDefaults((({ resolution: _r, ...rest }) => rest)(pgganDefaults(1024)));

/** train.py's shipped StyleGAN schedule ('8gpu') without the final resolution. */
export const STYLEGAN_DEFAULTS: Readonly<Defaults> = freezeDefaults((({ resolution: _r, ...rest }) => rest)(styleganDefaults(1024)));

/** PGGAN's main-loop defaults (train_progressive_gan() as configured by config.py for CelebA-HQ). */
export function pgganLoopDefaults(preset: PgganPreset = 'v2-1gpu'): ProgressiveLoopDefaults {
  return {
    totalKimg: PGGAN_PRESETS[preset].totalKimg, minibatchRepeats: 4, dRepeats: 1, resetOptForNewLod: true,
    mirrorAugment: true, gSmoothing: 0.999, adam: { beta1: 0, beta2: 0.99, epsilon: 1e-8 },
  };
}

/** StyleGAN's main-loop defaults (training_loop() as configured by train.py for FFHQ). */
export const STYLEGAN_LOOP_DEFAULTS: Readonly<ProgressiveLoopDefaults> = freezeDefaults({
  totalKimg: 25000, minibatchRepeats: 4, dRepeats: 1, resetOptForNewLod: true,
  mirrorAugment: true, gSmoothingKimg: 10, adam: { beta1: 0, beta2: 0.99, epsilon: 1e-8 },
});
