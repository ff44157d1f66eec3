// The contract between the trainer and a model family. A recipe owns its networks, its
// optimisers and the phases of a training iteration (what each loss is); the trainer owns
// the loop around them (running the phases, progress, EMA, logging, samples,
// checkpoints, resume, interrupts).
import type { Tensor, Device, optim } from '../torch/index.js';
import type { Module } from '../nn/index.js';
import type { Schema, Options, OptionsOf } from '../config/options.js';
import type { TensorBatch } from '../data/index.js';
import type { Phase, StepContext } from './phase.js';

export type { Phase, PhaseContext, PhaseLoss, StepContext } from './phase.js';

/** What the trainer learns from the data before building a recipe. */
export interface RecipeEnv {
  /** The image side, or with `shape` the shorter side of a non-square image. */
  resolution: number;
  /**
   * The image size when it is not square (--resolution WxH, for families with `nonSquare`);
   * absent: resolution × resolution.
   */
  shape?: { width: number; height: number };
  /** Image channels of the model's input. */
  channels: number;
  /** Image channels of a translation model's output (equal to `channels` for image families). */
  outputChannels: number;
  /** 0 for unconditional training. */
  numClasses: number;
  batchSize: number;
  device: Device;
  /**
   * A conditional run's class of every training image, in dataset order: what a family that
   * labels its generated images as the data is labelled (StyleGAN2) draws from. Absent where
   * a recipe is built without its data (sampling, tests).
   */
  labels?: Int32Array | null;
  /**
   * Under data parallelism: the element-wise sums of `values` over every rank. Every rank
   * must call it at the same point of the same step (a collective). Absent in a single
   * process.
   */
  sumOverRanks?: (values: number[]) => number[];
}

/** Fixed inputs of the sample grid: latents and labels, or real images for translation. */
export interface SampleInputs {
  z: Tensor | null;
  labels: Tensor | null;
  /** Translation: fixed real inputs (A) and their targets or other-domain images (B). */
  a?: Tensor | null;
  b?: Tensor | null;
  /** Style-based families: the truncation trick (ψ = 1 or null: none; cutoff: the layers below it, null = all). */
  truncationPsi?: number | null;
  truncationCutoff?: number | null;
}

/** What `interpolate` and `mix` need of a style-based generator (its EMA copy). */
export interface StyleAccess {
  /** Synthesis layers, each with its own w. */
  readonly numLayers: number;
  /** z [N, latent] (and labels) → w [N, numLayers, D], truncated as asked (cutoff null: every layer), no mixing. */
  dlatents(z: Tensor, labels: Tensor | null, truncationPsi: number | null, truncationCutoff: number | null): Tensor;
  /**
   * w [N, numLayers, D] → images in [-1, 1] at the run's level of detail; with
   * randomizeNoise false every image gets the model's stored noise maps (the original's
   * randomize_noise=False, used for its figures), else fresh noise per image.
   */
  synthesize(w: Tensor, randomizeNoise?: boolean, o?: SynthesizeOptions): Tensor;
  /** w → images with the noise inputs switched off (StyleGAN2's noise_mode 'none'), for models that can. */
  synthesizeNoiseless?(w: Tensor): Tensor;
  /** Width of w. */
  readonly dlatentSize: number;
  /** The tracked average of w [dlatentSize] that truncation pulls towards (the buffer itself: read it, do not dispose it). */
  readonly dlatentAvg: Tensor;
}

export interface SynthesizeOptions {
  /**
   * Run every image's ops apart from the batch's, so that a traced graph holds for any
   * batch (StyleGAN2's non-fused modulated convolution; the same numbers up to rounding).
   * Default: whatever the model runs by default (the reference's choice).
   */
  batchIndependent?: boolean;
}

export interface Recipe<S = unknown> {
  /** Networks by name. 'G' with 'G_ema' enables the trainer's generator moving average. */
  networks(): Record<string, Module>;
  /**
   * How G_ema's buffers are made: copied from G or averaged like the weights (see
   * updateEma), or 'standing': copied while training, and batch-norm statistics
   * re-estimated for G_ema's own weights before each sample grid and checkpoint
   * (BigGAN's standing statistics, see standing_stats.ts). Default 'copy'.
   */
  readonly emaBuffers?: 'copy' | 'average' | 'standing';
  /**
   * The generator average's decay after the iteration at `ctx`, for a family whose
   * reference fixes its own rule (BigGAN: ema_decay, copying G before ema_start
   * iterations); without it the --ema_* options decide.
   */
  emaDecay?(ctx: StepContext): number;
  /**
   * G_ema already holds weights of its own (loaded from elsewhere, e.g. a reference
   * checkpoint): the trainer does not start it as a copy of G.
   */
  readonly emaLoaded?: boolean;
  /** Batches standing statistics average over (default 16, BigGAN's num_standing_accumulations). */
  readonly standingBatches?: number;
  /**
   * Standing statistics run the whole of G_ema in training mode, not just its batch norms
   * (BigGAN's utils.accumulate_standing_stats calls net.train(): each batch also takes a
   * power-iteration step in every spectral norm, moving its u and sv). Default false.
   */
  readonly standingTrainMode?: boolean;
  optimizers(): Record<string, optim.Optimizer>;
  /** The phases of one training iteration, in order (run by the trainer's PhaseRunner). */
  readonly phases: readonly Phase<S>[];
  /**
   * Work the phases of an iteration share, done once before the first, with every network
   * trainable: e.g. the one generator forward whose output D judges detached and G is
   * trained through. Its result reaches each phase as `ctx.shared`.
   */
  prepare?(batch: TensorBatch, ctx: StepContext): S;
  /** Scalars to log after each iteration besides the phases' (the level of detail, learning rates). */
  stepLog?(): Record<string, number>;
  /**
   * The fixed inputs of the sample grid (the caller seeds and isolates the generator).
   * Translation families get `real`: the first images of the dataset.
   */
  sampleInputs(n: number, labels: number[] | null, real?: TensorBatch): SampleInputs;
  /** Images from fixed inputs, with the EMA generator when there is one, in [-1, 1]. */
  generate(inputs: SampleInputs): Tensor;
  /** Images per row of a sample grid (default √n); translation grids show one input per row. */
  readonly gridColumns?: number;
  /** Anything else a resume needs (schedules, pool counters), JSON-safe. */
  state(): Record<string, unknown>;
  /** Tensors a resume needs beyond weights and optimiser state (e.g. image pools). */
  stateTensors?(): Record<string, Tensor>;
  loadState(s: Record<string, unknown>, tensors?: Record<string, Tensor>): void;
  /**
   * Progressive families: the minibatch of the next step, when `imagesSeen` images have
   * been shown (the trainer re-batches its loader when it changes). The recipe then also
   * sets its optimisers' learning rates itself.
   */
  nextBatchSize?(imagesSeen: number): number;
  /** Every minibatch size the schedule can ask for (checked against the data up front). */
  batchSizes?(): number[];
  /** Style-based families (StyleGAN): mapping and synthesis apart, for mixing and walks in w. */
  readonly style?: StyleAccess;
  /** Frees what the recipe holds besides its networks and optimisers (e.g. image pools). */
  dispose?(): void;
}

/**
 * What a training sample is: one image ('image': DCGAN and the other unconditional or
 * class-conditional GANs, trained for --kimg with a generator EMA), an aligned pair
 * ('aligned': pix2pix) or one image of each of two domains ('unaligned': CycleGAN), the
 * last two trained for --n_epochs + --n_epochs_decay epochs as the reference does.
 */
export type RecipeData = 'image' | 'aligned' | 'unaligned';

export interface RecipeDef<S extends Schema = Schema> {
  /** The --model name. */
  name: string;
  summary: string;
  /** The family's own options, spelled as in its reference implementation. */
  schema: S;
  /** Default 'image'. */
  data?: RecipeData;
  /**
   * The family grows progressively: its schedule sets the minibatch and the learning rates
   * (Recipe.nextBatchSize), so --batch and the --lr_policy options do not apply.
   */
  progressive?: boolean;
  /** The family trains non-square images (--resolution WxH, RecipeEnv.shape); others are refused them. */
  nonSquare?: boolean;
  /** Defaults this family prefers for the trainer's shared options (e.g. batch size). */
  trainerDefaults?: Options;
  /**
   * Options whose defaults depend on other options (a config preset such as StyleGAN2's
   * --cfg, the resolution): returns `o` with those the user did not give (not in `given`)
   * filled in, before anything is built. A new run's config.json records the result, so a
   * resume reads the same values.
   */
  resolveOptions?(o: Options, given: ReadonlySet<string>): Options;
  /** Builds the family's networks and optimisers from its options (typed by its schema). */
  create(o: OptionsOf<S>, env: RecipeEnv): Recipe;
}

/** Declares a family, keeping its schema's option types for create(). */
export function defineRecipe<const S extends Schema>(def: RecipeDef<S>): RecipeDef<S> {
  return def;
}
