// BigGAN training as ajbrock/BigGAN-PyTorch's train_fns.GAN_training_function runs it: per
// iteration num_D_steps D updates, each over num_D_accumulations minibatches of
// `batch_size` real images and fresh latents and classes (G's output judged without
// gradient, G and D in training mode so their SN vectors and G's batch statistics move),
// then one G update over num_G_accumulations batches of G_batch_size latents, each
// optionally with the orthogonal regulariser added to the gradients, then G_ema. The
// loader's batch is batch_size × num_D_steps × num_D_accumulations, as the reference's
// D_batch_size. Options keep the reference's names and defaults (utils.prepare_parser);
// --config cifar and --config imagenet128 are its launch scripts.
import * as torch from '../torch/index.js';
import type { Tensor } from '../torch/index.js';
import type { Module } from '../nn/index.js';
import { BigGANGenerator, BigGANDiscriminator, BIGGAN_INITS, BIGGAN_ARCH_DEFAULTS, type BigGANArch } from '../models/biggan.js';
import type { BigGANDeepGenerator, BigGANDeepDiscriminator } from '../models/biggan_deep.js';
import { defineSchema, type Options, type OptionsOf } from '../config/options.js';
import { presetResolver } from '../train/options.js';
import { UsageError } from '../config/errors.js';
import { defineRecipe, type Phase, type Recipe, type RecipeEnv, type SampleInputs, type StepContext } from '../train/recipe.js';
import { discriminatorLoss, generatorLoss, type GanLoss } from '../losses/index.js';
import type { TensorBatch } from '../data/index.js';
import { orthoGradient, type OrthoMode } from './biggan_ortho.js';
import { DIFFAUGMENT_SCHEMA, discriminatorAugment } from './diffaugment.js';
import { isWeightsFolder, loadReferenceAdam, readReferenceState, readWeightFile } from './biggan_weights.js';
import { existsSync } from 'node:fs';
import { join } from 'node:path';

export const BIGGAN_SCHEMA = defineSchema({
  config: { type: 'string', default: 'none', choices: ['none', 'cifar', 'imagenet128'], help: "a launch script's settings (cifar: launch_cifar_ema.sh, imagenet128: launch_BigGAN_bs256x8.sh) for every option not given" },
  // Architecture (BigGAN.py).
  G_ch: { type: 'int', default: 64, help: 'channel multiplier of G', min: 1 },
  D_ch: { type: 'int', default: 64, help: 'channel multiplier of D', min: 1 },
  dim_z: { type: 'int', default: 128, help: 'latent size', min: 1 },
  G_shared: { type: 'bool', default: false, help: "one class embedding shared by G's conditional batch norms" },
  shared_dim: { type: 'int', default: 0, help: 'size of the shared embedding (0: dim_z)', min: 0 },
  hier: { type: 'bool', default: false, help: 'hierarchical z: a chunk of z to each block of G (needs --G_shared)' },
  G_attn: { type: 'string', default: '64', help: "resolutions with self-attention in G, '_'-separated ('0': none)" },
  D_attn: { type: 'string', default: '64', help: "resolutions with self-attention in D, '_'-separated ('0': none)" },
  G_init: { type: 'string', default: 'ortho', choices: BIGGAN_INITS, help: 'initialisation of G' },
  D_init: { type: 'string', default: 'ortho', choices: BIGGAN_INITS, help: 'initialisation of D' },
  D_wide: { type: 'bool', default: true, help: "BigGAN's wide D blocks (false: SN-GAN's thin pattern, the reference's --D_thin)" },
  mybn: { type: 'bool', default: false, help: "the reference's own batch norm (myBN) in G" },
  BN_eps: { type: 'float', default: 1e-5, help: "epsilon of G's batch norms", min: 0 },
  SN_eps: { type: 'float', default: 1e-8, help: 'epsilon of spectral norm', min: 0 },
  num_G_SVs: { type: 'int', default: 1, help: 'singular values tracked per layer of G', min: 1 },
  num_G_SV_itrs: { type: 'int', default: 1, help: 'power iterations per forward in G', min: 1 },
  num_D_SVs: { type: 'int', default: 1, help: 'singular values tracked per layer of D', min: 1 },
  num_D_SV_itrs: { type: 'int', default: 1, help: 'power iterations per forward in D', min: 1 },
  // Training (train_fns.py, losses.py).
  loss: { type: 'string', default: 'hinge', choices: ['hinge', 'dcgan'], help: "losses.py's hinge loss or its DCGAN (softplus) loss" },
  G_lr: { type: 'float', default: 5e-5, help: 'Adam learning rate of G', min: 0 },
  D_lr: { type: 'float', default: 2e-4, help: 'Adam learning rate of D', min: 0 },
  G_B1: { type: 'float', default: 0, help: "Adam β1 of G", min: 0, max: 0.999999 },
  G_B2: { type: 'float', default: 0.999, help: "Adam β2 of G", min: 0, max: 0.999999 },
  D_B1: { type: 'float', default: 0, help: "Adam β1 of D", min: 0, max: 0.999999 },
  D_B2: { type: 'float', default: 0.999, help: "Adam β2 of D", min: 0, max: 0.999999 },
  adam_eps: { type: 'float', default: 1e-8, help: 'Adam epsilon of G and D', min: 0 },
  num_D_steps: { type: 'int', default: 2, help: 'D updates per G update', min: 1 },
  num_D_accumulations: { type: 'int', default: 1, help: 'minibatches whose gradients each D update accumulates', min: 1 },
  num_G_accumulations: { type: 'int', default: 1, help: 'minibatches whose gradients the G update accumulates', min: 1 },
  G_batch_size: { type: 'int', default: 0, help: "latents per G minibatch (0: --batch; at least --batch)", min: 0 },
  toggle_grads: { type: 'bool', default: true, help: "accepted for the reference's command lines, no effect: the network a phase does not train is always frozen here (in the reference, false only adds D's unused gradients to the G step)" },
  split_D: { type: 'bool', default: false, help: 'run D on fake and real apart instead of on one concatenated batch' },
  G_ortho: { type: 'float', default: 0, help: "orthogonal regularisation strength in G (1e-4 in the paper; G.shared exempt)", min: 0 },
  D_ortho: { type: 'float', default: 0, help: 'orthogonal regularisation strength in D', min: 0 },
  G_ortho_mode: { type: 'string', default: 'fast', choices: ['fast', 'full'], help: "'fast': BigGAN's off-diagonal form (utils.ortho); 'full': ‖WWᵀ − I‖² (utils.default_ortho)" },
  ema_decay: { type: 'float', default: 0.9999, help: 'decay of G_ema per iteration (replaces --ema_kimg/--ema_beta)', min: 0, max: 1 },
  ema_start: { type: 'int', default: 0, help: 'iterations before which G_ema copies G (the reference counts from 1)', min: 0 },
  accumulate_stats: { type: 'bool', default: false, help: "standing statistics: G_ema's batch norms re-estimated before each grid and checkpoint" },
  num_standing_accumulations: { type: 'int', default: 16, help: 'batches the standing statistics average over', min: 1 },
  resume_from: { type: 'string', default: null, help: "start from a BigGAN-PyTorch weights folder (G, G_ema, D and their optimisers; its itr counts towards ema_start); the architecture options must match it", metavar: 'DIR' },
  z_var: { type: 'float', default: 1, help: 'standard deviation of the latents (the reference calls it a variance)', min: 0 },
  ...DIFFAUGMENT_SCHEMA,
});

export type BigGANOptions = OptionsOf<typeof BIGGAN_SCHEMA>;

/** An unconditional run is a one-class conditional one (the projection term is then a learnt bias direction). */
export function bigganClasses(env: RecipeEnv): number {
  return Math.max(1, env.numClasses);
}

/** The networks' architecture from a run's options. */
export function bigganArch(o: BigGANOptions, resolution: number, nClasses: number, channels: number): BigGANArch {
  return {
    ...BIGGAN_ARCH_DEFAULTS, resolution, n_classes: nClasses, channels,
    G_ch: o.G_ch, D_ch: o.D_ch, dim_z: o.dim_z, G_shared: o.G_shared, shared_dim: o.shared_dim, hier: o.hier,
    G_attn: o.G_attn, D_attn: o.D_attn, G_init: o.G_init, D_init: o.D_init, D_wide: o.D_wide, mybn: o.mybn,
    BN_eps: o.BN_eps, SN_eps: o.SN_eps, num_G_SVs: o.num_G_SVs, num_G_SV_itrs: o.num_G_SV_itrs,
    num_D_SVs: o.num_D_SVs, num_D_SV_itrs: o.num_D_SV_itrs,
  };
}

/** The options the training recipe reads (BigGAN-deep's schema has no --D_wide). */
export type BigGANTrainOptions = Omit<BigGANOptions, 'D_wide'>;

/** G and D of BigGAN or BigGAN-deep, built for a run (the recipe trains either the same way). */
export interface BigGANNetworks {
  generator(): BigGANGenerator | BigGANDeepGenerator;
  discriminator(): BigGANDiscriminator | BigGANDeepDiscriminator;
}

export class BigGANRecipe implements Recipe {
  readonly G: BigGANGenerator | BigGANDeepGenerator;
  readonly G_ema: BigGANGenerator | BigGANDeepGenerator;
  readonly D: BigGANDiscriminator | BigGANDeepDiscriminator;
  readonly optG: torch.optim.Adam;
  readonly optD: torch.optim.Adam;
  readonly phases: readonly Phase[];
  readonly emaBuffers: 'average' | 'standing';
  readonly standingBatches: number;
  /** utils.accumulate_standing_stats runs G_ema in training mode: its spectral norms move too. */
  readonly standingTrainMode = true;
  readonly nClasses: number;
  readonly mode: GanLoss;
  readonly gBatch: number;
  /** What D sees of an image, real or generated: --aug's transform (DiffAugment), or the image. */
  readonly augment: (img: Tensor) => Tensor;
  /** G_ema came from --resume_from: the trainer leaves it as loaded. */
  readonly emaLoaded: boolean;
  /** Iterations the reference ran before --resume_from (its state_dict.pth itr). */
  #startItr = 0;

  constructor(readonly o: BigGANTrainOptions, readonly env: RecipeEnv, nets: BigGANNetworks) {
    this.nClasses = bigganClasses(env);
    this.G = nets.generator().to(env.device);
    this.D = nets.discriminator().to(env.device);
    this.G_ema = nets.generator().to(env.device);
    this.mode = o.loss === 'dcgan' ? 'logistic' : 'hinge';
    this.gBatch = Math.max(o.G_batch_size, env.batchSize);
    this.optG = new torch.optim.Adam(this.G.parameters(), { lr: o.G_lr, betas: [o.G_B1, o.G_B2], eps: o.adam_eps });
    this.optD = new torch.optim.Adam(this.D.parameters(), { lr: o.D_lr, betas: [o.D_B1, o.D_B2], eps: o.adam_eps });
    // The reference's ema averages G's whole state dict, buffers included.
    this.emaBuffers = o.accumulate_stats ? 'standing' : 'average';
    this.standingBatches = o.num_standing_accumulations;
    this.augment = discriminatorAugment(o) ?? ((img) => img);
    this.phases = this.#definePhases();
    this.emaLoaded = o.resume_from !== null;
    if (o.resume_from !== null) this.#resumeFrom(o.resume_from);
  }

  /** The reference's load_weights: networks, optimiser moments, and the iteration count. */
  #resumeFrom(dir: string): void {
    if (!isWeightsFolder(dir)) throw new UsageError(`--resume_from ${dir} is not a BigGAN-PyTorch weights folder (no G.pth)`);
    const state = readReferenceState(dir);
    torch.scope(() => {
      for (const [name, net] of [['G', this.G], ['D', this.D], ['G_ema', this.G_ema]] as const) {
        const file = name === 'G_ema' && !existsSync(join(dir, 'G_ema.pth')) ? 'G' : name;
        try {
          net.loadStateDict(readWeightFile(dir, file));
        } catch (e) {
          throw new UsageError(`--resume_from ${dir}: ${file}.pth does not fit the architecture the options give (${(e as Error).message.split('\n')[0]})`);
        }
      }
      loadReferenceAdam(dir, 'G_optim', this.optG);
      loadReferenceAdam(dir, 'D_optim', this.optD);
    });
    this.#startItr = typeof state.itr === 'number' ? state.itr : 0;
  }

  networks(): Record<string, Module> {
    return { G: this.G, D: this.D, G_ema: this.G_ema };
  }

  optimizers() {
    return { G: this.optG, D: this.optD };
  }

  nextBatchSize(): number {
    return this.env.batchSize * this.o.num_D_steps * this.o.num_D_accumulations;
  }

  batchSizes(): number[] {
    return [this.nextBatchSize()];
  }

  /** z_.sample_() and y_.sample_(): fresh latents N(0, z_var²) and uniform classes. */
  #latents(n: number): { z: Tensor; y: Tensor } {
    const z = torch.empty([n, this.G.dimZ], { device: this.env.device }).normal_(0, this.o.z_var);
    const y = torch.randint(0, this.nClasses, [n], { dtype: 'int64', device: this.env.device });
    return { z, y };
  }

  #labels(batch: TensorBatch): Tensor {
    return batch.labels ?? torch.zeros([batch.a.shape[0]], { dtype: 'int64', device: this.env.device });
  }

  /**
   * D on fake and real: one concatenated batch, or two calls with --split_D (each moves
   * D's u once). --aug's transform runs on what D gets, on the concatenation as the
   * DiffAugment port's G_D does.
   */
  #judge(fake: Tensor, gy: Tensor, real: Tensor, dy: Tensor): [Tensor, Tensor] {
    if (this.o.split_D) return [this.D.forward(this.augment(fake), gy), this.D.forward(this.augment(real), dy)];
    const out = this.D.forward(this.augment(torch.cat([fake, real], 0)), torch.cat([gy, dy], 0));
    const [f, r] = out.split([fake.shape[0], real.shape[0]], 0);
    return [f, r];
  }

  #definePhases(): Phase[] {
    const o = this.o;
    return [
      {
        name: 'D', nets: [this.D], optimizer: this.optD, steps: o.num_D_steps, accumulate: o.num_D_accumulations,
        beforeStep: o.D_ortho > 0 ? () => orthoGradient(this.D, o.D_ortho, 'fast', []) : undefined,
        loss: (batch) => {
          const n = batch.a.shape[0];
          const { z, y } = this.#latents(this.gBatch);
          const gy = y.slice(0, 0, n);
          const fake = torch.noGrad(() => this.G.generate(z.slice(0, 0, n), gy));
          const [dFake, dReal] = this.#judge(fake, gy, batch.a, this.#labels(batch));
          const d = discriminatorLoss(this.mode, dReal, dFake);
          return { loss: d.loss, log: { D_loss_real: d.real, D_loss_fake: d.fake } };
        },
      },
      {
        name: 'G', nets: [this.G], optimizer: this.optG, accumulate: o.num_G_accumulations, split: false,
        beforeStep: o.G_ortho > 0 ? () => orthoGradient(this.G, o.G_ortho, o.G_ortho_mode as OrthoMode, this.G.shared.parameters()) : undefined,
        loss: () => {
          const { z, y } = this.#latents(this.gBatch);
          const loss = generatorLoss(this.mode, this.D.forward(this.augment(this.G.generate(z, y)), y));
          return { loss, log: { G_loss: loss } };
        },
      },
    ];
  }

  /** ema.update(itr) with itr = step + 1: G_ema copies G until ema_start. */
  emaDecay(ctx: StepContext): number {
    return this.#startItr + ctx.step + 1 < this.o.ema_start ? 0 : this.o.ema_decay;
  }

  sampleInputs(n: number, labels: number[] | null): SampleInputs {
    const z = torch.empty([n, this.G.dimZ], { device: this.env.device }).normal_(0, this.o.z_var);
    const classes = labels ?? Array.from({ length: n }, (_, i) => i % this.nClasses);
    return { z, labels: torch.tensor(classes, { dtype: 'int64', device: this.env.device }) };
  }

  generate(inputs: SampleInputs): Tensor {
    const z = inputs.z!;
    // An unconditional run is one class (0). Broadcast from one index rather than made at
    // the batch's size, so that a traced graph (ONNX export) keeps its batch dynamic.
    const labels = inputs.labels ?? torch.zeros([1], { dtype: 'int64', device: z.device }).expand(z.shape[0]);
    return this.G_ema.generate(z, labels);
  }

  state(): Record<string, unknown> {
    return { startItr: this.#startItr };
  }

  loadState(s: Record<string, unknown>): void {
    if (typeof s.startItr === 'number') this.#startItr = s.startItr;
  }
}

/** Resolutions BigGAN has both a G and a D architecture for. */
export const RESOLUTIONS = [32, 64, 128, 256];

/** The reference's launch scripts by name (--config), every value overridable. */
export const BIGGAN_CONFIGS: Readonly<Record<string, Options>> = {
  // scripts/launch_cifar_ema.sh (--ema --use_ema: G_ema is always kept and sampled here).
  cifar: {
    resolution: 32, batch: 50, num_G_accumulations: 1, num_D_accumulations: 1, num_D_steps: 4, G_lr: 2e-4, D_lr: 2e-4,
    G_ortho: 0, G_attn: '0', D_attn: '0', G_init: 'N02', D_init: 'N02', ema_start: 1000, seed: 0,
  },
  // scripts/launch_BigGAN_bs256x8.sh (inplace_relu is ReLU; --G_eval_mode: samples use eval mode here always).
  imagenet128: {
    resolution: 128, batch: 256, load_in_mem: true, num_G_accumulations: 8, num_D_accumulations: 8, num_D_steps: 1, G_lr: 1e-4, D_lr: 4e-4,
    D_B2: 0.999, G_B2: 0.999, G_attn: '64', D_attn: '64', SN_eps: 1e-6, BN_eps: 1e-5, adam_eps: 1e-6, G_ortho: 0,
    G_shared: true, G_init: 'ortho', D_init: 'ortho', hier: true, dim_z: 120, shared_dim: 128, G_ch: 96, D_ch: 96,
    ema_start: 20000, seed: 0,
  },
};

export const biggan = defineRecipe({
  name: 'biggan',
  summary: 'BigGAN (Brock et al. 2019): class-conditional, spectral norm, shared embedding, hierarchical z, self-attention, hinge loss',
  trainerDefaults: { resolution: 32, batch: 64 },
  schema: BIGGAN_SCHEMA,
  resolveOptions: presetResolver('config', BIGGAN_CONFIGS),
  create: (o, env) => {
    if (!RESOLUTIONS.includes(env.resolution)) throw new UsageError(`--model biggan supports --resolution ${RESOLUTIONS.join(', ')}, got ${env.resolution}`);
    if (o.hier && !o.G_shared) throw new UsageError('--hier needs --G_shared (the z chunks join the shared class embedding)');
    const arch = bigganArch(o, env.resolution, bigganClasses(env), env.channels);
    return new BigGANRecipe(o, env, { generator: () => new BigGANGenerator(arch), discriminator: () => new BigGANDiscriminator(arch) });
  },
});
