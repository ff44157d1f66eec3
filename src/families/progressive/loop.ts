// The training-loop side of progressive growing (PGGAN's train.py, StyleGAN's
// training_loop.py): the schedule is evaluated once per group of minibatch_repeats ×
// D_repeats discriminator steps, and within a group the level of detail, the minibatch
// and the learning rates stay fixed. A G step follows every D_repeats D steps. With
// reset_opt_for_new_lod, both optimisers forget their moments whenever the resolutions
// being trained change (when a fade starts and when it ends).
import * as torch from '../../torch/index.js';
import type { Module } from '../../nn/index.js';
import { defineSchema, type OptionsOf } from '../../config/options.js';
import { UsageError } from '../../config/errors.js';
import type { TensorBatch } from '../../data/index.js';
import type { Phase, PhaseLoss, PhaseContext, Recipe, RecipeEnv, SampleInputs } from '../../train/recipe.js';
import { type ScheduleOptions, type SchedulePoint, type ResolutionDict, growthPlan, shouldResetOptimizer } from './schedule.js';
import { type DIFFAUGMENT_SCHEMA, discriminatorAugment } from '../diffaugment.js';

export interface ProgressState {
  point: SchedulePoint | null;
  prevLod: number | null;
  /** D steps left in the current group. */
  groupLeft: number;
  /** D steps taken in the current group. */
  dSteps: number;
}

/** Parses `4:128,8:64` into {4: 128, 8: 64}; keys must be powers of two. */
export function parseResolutionDict(name: string, text: string): ResolutionDict {
  const out: Record<number, number> = {};
  if (text.trim() === '') return out;
  for (const part of text.split(',')) {
    const m = /^\s*(\d+)\s*:\s*([0-9.eE+-]+)\s*$/.exec(part);
    const res = m ? Number(m[1]) : NaN, v = m ? Number(m[2]) : NaN;
    if (!m || !Number.isFinite(v) || v <= 0 || (res & (res - 1)) !== 0 || res < 4) {
      throw new UsageError(`--${name} expects resolution:value pairs such as 4:128,8:64 (resolutions powers of two ≥ 4, values > 0), got '${text}'`);
    }
    out[res] = v;
  }
  return out;
}

function formatDict(d: ResolutionDict): string {
  return Object.entries(d).map(([k, v]) => `${k}:${v}`).join(',');
}

const dictCheck = (name: string) => (v: unknown): string | null => {
  try {
    parseResolutionDict(name, String(v));
    return null;
  } catch (e) {
    return (e as Error).message.replace(`--${name} `, '');
  }
};

/** Options both progressive families share (network widths, minibatch stddev, Adam), as the originals name them. */
export const PROGRESSIVE_NETWORK_SCHEMA = defineSchema({
  latent_size: { type: 'int', default: 512, help: 'size of the latent z', min: 1 },
  fmap_base: { type: 'int', default: 8192, help: 'feature maps: min(fmap_base / 2^(stage·fmap_decay), fmap_max)', min: 1 },
  fmap_decay: { type: 'float', default: 1, help: 'see --fmap_base' },
  fmap_max: { type: 'int', default: 512, help: 'see --fmap_base', min: 1 },
  mbstd_group_size: { type: 'int', default: 4, help: 'minibatch standard-deviation group size (0 = off)', min: 0 },
  adam_beta1: { type: 'float', default: 0, help: 'Adam β1', min: 0, max: 0.999999 },
  adam_beta2: { type: 'float', default: 0.99, help: 'Adam β2', min: 0, max: 0.999999 },
  adam_epsilon: { type: 'float', default: 1e-8, help: 'Adam ε', min: 0 },
});

/** The schedule's options, named as in the originals, with a family's defaults (PGGAN leaves out lrate_rampup_kimg). */
export function scheduleSchema(d: ScheduleOptions & { minibatchRepeats: number; dRepeats: number }) {
  return defineSchema({
    lod_initial_resolution: { type: 'int', default: d.lodInitialResolution, help: 'resolution training starts at', min: 4 },
    lod_training_kimg: { type: 'float', default: d.lodTrainingKimg, help: 'kimg at each resolution before fading in the next', min: 0 },
    lod_transition_kimg: { type: 'float', default: d.lodTransitionKimg, help: 'kimg of each fade-in', min: 0 },
    minibatch_base: { type: 'int', default: d.minibatchBase, help: 'minibatch where --minibatch_dict has no entry', min: 1 },
    minibatch_dict: { type: 'string', default: formatDict(d.minibatchDict), help: 'minibatch per resolution (res:size,...)', metavar: 'DICT', check: dictCheck('minibatch_dict') },
    G_lrate_base: { type: 'float', default: d.gLrateBase, help: 'G learning rate where --G_lrate_dict has no entry', min: 0 },
    G_lrate_dict: { type: 'string', default: formatDict(d.gLrateDict), help: 'G learning rate per resolution', metavar: 'DICT', check: dictCheck('G_lrate_dict') },
    D_lrate_base: { type: 'float', default: d.dLrateBase, help: 'D learning rate where --D_lrate_dict has no entry', min: 0 },
    D_lrate_dict: { type: 'string', default: formatDict(d.dLrateDict), help: 'D learning rate per resolution', metavar: 'DICT', check: dictCheck('D_lrate_dict') },
    lrate_rampup_kimg: { type: 'float', default: d.lrateRampupKimg ?? 0, help: 'ramp both learning rates up from 0 over this many kimg (0 = off)', min: 0 },
    minibatch_repeats: { type: 'int', default: d.minibatchRepeats, help: 'minibatches between schedule evaluations (each followed by a G step)', min: 1 },
    D_repeats: { type: 'int', default: d.dRepeats, help: 'D steps per G step', min: 1 },
    reset_opt_for_new_lod: { type: 'bool', default: true, help: 'reset both optimisers when the trained resolutions change' },
  });
}

type ScheduleSchemaOptions = OptionsOf<ReturnType<typeof scheduleSchema>>;

/** What the progressive loop reads of a family's options (PGGAN has no lrate_rampup_kimg). */
export type ProgressiveOptions = OptionsOf<typeof PROGRESSIVE_NETWORK_SCHEMA> & Omit<ScheduleSchemaOptions, 'lrate_rampup_kimg'> &
  Partial<Pick<ScheduleSchemaOptions, 'lrate_rampup_kimg'>> & OptionsOf<typeof DIFFAUGMENT_SCHEMA>;

/** ScheduleOptions from a run's options, for the dataset's resolution. */
export function scheduleOptions(o: ProgressiveOptions, resolution: number): ScheduleOptions {
  return {
    resolution,
    lodInitialResolution: o.lod_initial_resolution,
    lodTrainingKimg: o.lod_training_kimg,
    lodTransitionKimg: o.lod_transition_kimg,
    minibatchBase: o.minibatch_base,
    minibatchDict: parseResolutionDict('minibatch_dict', o.minibatch_dict),
    gLrateBase: o.G_lrate_base,
    gLrateDict: parseResolutionDict('G_lrate_dict', o.G_lrate_dict),
    dLrateBase: o.D_lrate_base,
    dLrateDict: parseResolutionDict('D_lrate_dict', o.D_lrate_dict),
    lrateRampupKimg: o.lrate_rampup_kimg ?? 0,
  };
}

export class ProgressiveController {
  #s: ProgressState = { point: null, prevLod: null, groupLeft: 0, dSteps: 0 };

  constructor(
    readonly schedule: (kimg: number, o: ScheduleOptions) => SchedulePoint,
    readonly sched: ScheduleOptions,
    readonly o: { minibatchRepeats: number; dRepeats: number; resetOptForNewLod: boolean },
    readonly optG: torch.optim.Optimizer,
    readonly optD: torch.optim.Optimizer,
  ) {}

  /** The minibatch of every resolution the run can reach (each fade start and stable stretch). */
  batchSizes(): number[] {
    const kimgs = growthPlan(this.sched).flatMap((g) => (g.fadeStartKimg === null ? [g.stableKimg] : [g.fadeStartKimg, g.stableKimg]));
    return [...new Set(kimgs.map((k) => this.schedule(k, this.sched).minibatch))];
  }

  /**
   * Refuses a schedule whose minibatches the minibatch-stddev layer cannot group (a
   * minibatch must be a multiple of the group, or smaller than it), before training.
   */
  checkGroups(groupSize: number): void {
    if (groupSize <= 1) return;
    const bad = this.batchSizes().find((mb) => mb % Math.min(groupSize, mb) !== 0);
    if (bad !== undefined) {
      throw new UsageError(`the schedule asks for a minibatch of ${bad}, which --mbstd_group_size ${groupSize} does not divide: change --minibatch_base/--minibatch_dict or the group size`);
    }
  }

  /** The schedule point the current group runs with (null before the first step). */
  get point(): SchedulePoint | null {
    return this.#s.point;
  }

  /** The level of detail to sample at: the current one, or the start's before training. */
  lodNow(): number {
    return this.#s.point?.lod ?? this.schedule(0, this.sched).lod;
  }

  /**
   * The minibatch of the next D step, taken when `imagesSeen` real images have been shown.
   * Starts a new group (evaluating the schedule, maybe resetting the optimisers, setting
   * the learning rates) when the last one is used up.
   */
  nextBatchSize(imagesSeen: number): number {
    if (this.#s.groupLeft === 0) {
      const p = this.schedule(imagesSeen / 1000, this.sched);
      if (this.o.resetOptForNewLod && shouldResetOptimizer(this.#s.prevLod, p.lod)) {
        this.optG.resetState();
        this.optD.resetState();
      }
      this.#s = { point: p, prevLod: p.lod, groupLeft: this.o.minibatchRepeats * this.o.dRepeats, dSteps: 0 };
      this.optG.lr = p.gLrate;
      this.optD.lr = p.dLrate;
    }
    return this.#s.point!.minibatch;
  }

  /** Counts the D step about to run; returns whether a G step follows it. */
  countDStep(): boolean {
    if (!this.#s.point) throw new Error('internal: a progressive step ran before nextBatchSize()');
    this.#s.groupLeft--;
    this.#s.dSteps++;
    return this.#s.dSteps % this.o.dRepeats === 0;
  }

  state(): ProgressState {
    return { ...this.#s };
  }

  load(s: ProgressState | undefined): void {
    if (!s) return;
    this.#s = { ...s };
    if (s.point) {
      this.optG.lr = s.point.gLrate;
      this.optD.lr = s.point.dLrate;
    }
  }
}

/** What an iteration's phases share: whether G steps after this D step (every D_repeats D steps). */
export interface ProgressiveShared {
  gStep: boolean;
}

/**
 * What PGGAN's and StyleGAN's recipes share: G, its moving average G_ema and D, Adam for
 * each, the progressive loop rules and their two phases (D every iteration, G after every
 * D_repeats D steps), latents and random labels, and the resumable state. A family adds
 * its losses and how it draws samples.
 */
export abstract class ProgressiveRecipe<Gen extends Module, Dis extends Module, O extends ProgressiveOptions = ProgressiveOptions> implements Recipe<ProgressiveShared> {
  readonly optG: torch.optim.Adam;
  readonly optD: torch.optim.Adam;
  readonly progress: ProgressiveController;
  readonly phases: readonly Phase<ProgressiveShared>[];
  /** What D sees of an image, real or generated: --aug's transform (DiffAugment), or the image. */
  readonly augment: (img: torch.Tensor) => torch.Tensor;

  constructor(
    readonly o: O, readonly env: RecipeEnv, readonly G: Gen, readonly G_ema: Gen, readonly D: Dis,
    schedule: (kimg: number, o: ScheduleOptions) => SchedulePoint,
  ) {
    const adam = { betas: [o.adam_beta1, o.adam_beta2] as [number, number], eps: o.adam_epsilon };
    this.optG = new torch.optim.Adam(G.parameters(), adam);
    this.optD = new torch.optim.Adam(D.parameters(), adam);
    this.progress = new ProgressiveController(schedule, scheduleOptions(o, env.resolution), {
      minibatchRepeats: o.minibatch_repeats, dRepeats: o.D_repeats, resetOptForNewLod: o.reset_opt_for_new_lod,
    }, this.optG, this.optD);
    this.progress.checkGroups(o.mbstd_group_size);
    this.augment = discriminatorAugment(o) ?? ((img) => img);
    this.phases = [
      { name: 'D', nets: [D], optimizer: this.optD, loss: (batch, ctx) => this.lossD(batch, ctx) },
      { name: 'G', nets: [G], optimizer: this.optG, runs: ({ shared }) => shared.gStep, loss: (batch, ctx) => this.lossG(batch, ctx) },
    ];
  }

  prepare(): ProgressiveShared {
    return { gStep: this.progress.countDStep() };
  }

  /** D's loss at the current level of detail (D_wgangp_acgan, D_logistic_simplegp). */
  protected abstract lossD(batch: TensorBatch, ctx: PhaseContext<ProgressiveShared>): PhaseLoss;
  /** G's loss, on the batch's size of fresh latents (D frozen). */
  protected abstract lossG(batch: TensorBatch, ctx: PhaseContext<ProgressiveShared>): PhaseLoss;

  stepLog(): Record<string, number> {
    const { lod, minibatch } = this.progress.point!;
    return { lod, minibatch, lr_G: this.optG.lr, lr_D: this.optD.lr };
  }

  networks(): Record<string, Module> {
    return { G: this.G, D: this.D, G_ema: this.G_ema };
  }

  optimizers() {
    return { G: this.optG, D: this.optD };
  }

  nextBatchSize(imagesSeen: number): number {
    return this.progress.nextBatchSize(imagesSeen);
  }

  batchSizes(): number[] {
    return this.progress.batchSizes();
  }

  protected latents(n: number): torch.Tensor {
    return torch.randn([n, this.o.latent_size], { device: this.env.device });
  }

  /** Class indices for G's step, drawn uniformly (the originals draw from the dataset's label distribution); null without classes. */
  protected randomClasses(n: number): torch.Tensor | null {
    const k = this.env.numClasses;
    return k > 0 ? torch.randint(0, k, [n], { dtype: 'int64', device: this.env.device }) : null;
  }

  abstract generate(inputs: SampleInputs): torch.Tensor;

  sampleInputs(n: number, labels: number[] | null): SampleInputs {
    return { z: this.latents(n), labels: labels ? torch.tensor(labels, { dtype: 'int64', device: this.env.device }) : null };
  }

  state(): Record<string, unknown> {
    return { progress: this.progress.state() };
  }

  loadState(s: Record<string, unknown>): void {
    this.progress.load(s.progress as ProgressState | undefined);
  }
}
