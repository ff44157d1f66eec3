// The contract between the trainer and a model family. A recipe owns its networks, its
// optimisers and what one training step does; the trainer owns the loop around it
// (progress, EMA, logging, samples, checkpoints, resume, Ctrl-C).
import type { Tensor, Device, optim } from '../torch/index.js';
import type { Module } from '../nn/index.js';
import type { Schema, Options } from '../config/options.js';
import type { TensorBatch } from '../data/index.js';

/** What the trainer learns from the data before building a recipe. */
export interface RecipeEnv {
  resolution: number;
  /** Image channels of the model's input. */
  channels: number;
  /** 0 for unconditional training. */
  numClasses: number;
  batchSize: number;
  device: Device;
}

export interface StepContext {
  /** Training steps done before this one. */
  step: number;
  /** Real images shown before this step. */
  imagesSeen: number;
}

/** Fixed inputs of the sample grid (latents, labels, or real images for translation). */
export interface SampleInputs {
  z: Tensor | null;
  labels: Tensor | null;
}

export interface Recipe {
  /** Networks by name. 'G' with 'G_ema' enables the trainer's generator moving average. */
  networks(): Record<string, Module>;
  /** How the moving average treats G's buffers (see updateEma); default 'copy'. */
  readonly emaBuffers?: 'copy' | 'average';
  optimizers(): Record<string, optim.Optimizer>;
  /** One training step on a batch of real data; returns the scalars to log. */
  step(batch: TensorBatch, ctx: StepContext): Record<string, number>;
  /** The fixed inputs of the sample grid (the caller seeds and isolates the generator). */
  sampleInputs(n: number, labels: number[] | null): SampleInputs;
  /** Images from fixed inputs, with the EMA generator when there is one, in [-1, 1]. */
  generate(inputs: SampleInputs): Tensor;
  /** Anything else a resume needs (schedules, pools), JSON-safe. */
  state(): Record<string, unknown>;
  loadState(s: Record<string, unknown>): void;
}

export interface RecipeDef {
  /** The --model name. */
  name: string;
  summary: string;
  /** The family's own options, spelled as in its reference implementation. */
  schema: Schema;
  /** Defaults this family prefers for the trainer's shared options (e.g. batch size). */
  trainerDefaults?: Options;
  create(o: Options, env: RecipeEnv): Recipe;
}
