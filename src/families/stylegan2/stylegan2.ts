// StyleGAN2 (Karras et al. 2020) trained as stylegan2-ada-pytorch trains it
// (training/training_loop.py, training/loss.py StyleGAN2Loss, train.py's presets):
// four phases per iteration, each with its own fresh latents and labels —
//   Gmain  non-saturating logistic loss of G, every step;
//   Greg   path-length regularisation (weight 2 on half the batch, decay 0.01), every 4 G steps, lazily;
//   Dmain  logistic loss of D on fakes and reals, every step;
//   Dreg   R1 on reals (γ/2), every 16 D steps, lazily;
// style mixing (probability 0.9, the reference's crossover draw) whenever G runs, Adam
// (β 0, 0.99, ε 1e-8) with the lazy-regularisation correction of lr and β (the phase
// runner's `lazy`), and G_ema through the trainer (--ema_kimg, --ema_rampup from --cfg).
// G stays in training mode throughout (per-sample modulated convolutions, w_avg tracked,
// fresh noise), G_ema in eval mode as in the reference (fused convolutions off the CPU; on
// the CPU the per-sample form, faster there: see modconvFused).
//
// Before each optimiser step every gradient goes through nan_to_num (NaN 0, ±∞ ±1e5), and
// the labels of generated images are those of random training images (the data's label
// distribution), as the reference does.
//
// With --aug ada or fixed (ada.ts), every image D sees — fakes in Gmain and Dmain, reals in
// Dmain and Dreg, so R1 differentiates through the augmentation — goes through ADA's
// pipeline; ADA's p moves after each iteration from the signs of D's outputs on reals.
// --aug diffaugment puts DiffAugment in the same place.
//
// Differences: those training images are picked with torch's generator (saved in every
// checkpoint, so a resume continues the same draws), not numpy's; a recipe built without
// its data (sampling) draws labels uniformly over the classes.
import * as torch from '../../torch/index.js';
import { defineSchema, type OptionsOf } from '../../config/options.js';
import { UsageError } from '../../config/errors.js';
import type { TensorBatch } from '../../data/index.js';
import { Generator, Discriminator, type SynthesisArchitecture } from '../../models/stylegan2.js';
import { defineRecipe, type Phase, type PhaseLoss, type Recipe, type RecipeEnv, type SampleInputs, type StepContext, type StyleAccess } from '../../train/recipe.js';
import { r1Penalty } from '../../losses/index.js';
import { CFG_NAMES, resolveStyleGAN2Options } from './config.js';
import { pathLengthPenalty } from './path_length.js';
import { networksFromPickle, resumeFromOptions } from './resume_from.js';
import { DIFFAUGMENT_OPTION, discriminatorAugment } from '../diffaugment.js';
import { ADA_SCHEMA, DiscriminatorAugment, resolveAugOptions } from './ada.js';
import type { AdaState } from '../../augment/ada.js';

const ARCHS = ['orig', 'skip', 'resnet'] as const;

/** The options of train.py and training_loop.py, under their names; those --cfg sets default to null ("from --cfg"). */
const STYLEGAN2_SCHEMA = defineSchema({
  cfg: { type: 'string', default: 'auto', choices: CFG_NAMES, help: "train.py's base configuration: sets --batch, --kimg, --gamma, --map, --mbstd_group, --channel_base, --glr/--dlr, --ema_kimg, --ema_rampup (and for cifar --pl_weight 0, --style_mixing_prob 0, --d_architecture orig) unless given" },
  gamma: { type: 'float', default: null, help: 'R1 weight γ (default: from --cfg)', min: 0 },
  map: { type: 'int', default: null, help: 'mapping network depth (default: from --cfg)', min: 1 },
  mbstd_group: { type: 'int', default: null, help: 'minibatch-stddev group size (default: from --cfg)', min: 1 },
  mbstd_num_channels: { type: 'int', default: 1, help: 'minibatch-stddev features (0: no stddev layer)', min: 0 },
  channel_base: { type: 'int', default: null, help: 'channels at a resolution: min(channel_base / res, channel_max) (default: from --cfg)', min: 1 },
  channel_max: { type: 'int', default: 512, help: 'most channels in any layer', min: 1 },
  z_dim: { type: 'int', default: 512, help: 'size of z', min: 1 },
  w_dim: { type: 'int', default: 512, help: 'size of w', min: 1 },
  glr: { type: 'float', default: null, help: 'G learning rate (default: from --cfg)', min: 0 },
  dlr: { type: 'float', default: null, help: 'D learning rate (default: from --cfg)', min: 0 },
  pl_weight: { type: 'float', default: null, help: 'path-length regularisation weight (default 2; 0 for --cfg cifar)', min: 0 },
  pl_batch_shrink: { type: 'int', default: 2, help: 'path-length regularisation runs on batch / pl_batch_shrink images', min: 1 },
  pl_decay: { type: 'float', default: 0.01, help: 'decay of the running mean path length', min: 0, max: 1 },
  style_mixing_prob: { type: 'float', default: null, help: 'probability of style mixing (default 0.9; 0 for --cfg cifar)', min: 0, max: 1 },
  G_reg_interval: { type: 'int', default: 4, help: 'run Greg (path length) every this many steps, lazily', min: 1 },
  D_reg_interval: { type: 'int', default: 16, help: 'run Dreg (R1) every this many steps, lazily', min: 1 },
  g_architecture: { type: 'string', default: 'skip', choices: ARCHS, help: 'synthesis architecture' },
  d_architecture: { type: 'string', default: null, choices: ARCHS, help: 'discriminator architecture (default resnet; orig for --cfg cifar)' },
  num_fp16_res: { type: 'int', default: null, help: "the reference's fp16 resolutions (default 4, 0 with --fp32); recorded for its pickles, every layer runs in fp32 here", min: 0 },
  conv_clamp: { type: 'float', default: null, help: 'clamp convolution outputs to ±this (default 256, none with --fp32)', min: 0 },
  fp32: { type: 'bool', default: false, help: "as train.py --fp32: no fp16 resolutions and no conv_clamp" },
  mirror: { type: 'bool', default: false, help: 'augment the data with horizontal flips (train.py --mirror)' },
  aug: { type: 'string', default: 'noaug', choices: ['noaug', 'ada', 'fixed', 'diffaugment'], help: "discriminator augmentation (train.py --aug): noaug; ada (p adapts to D's overfitting: --target, --ada_kimg, --augpipe); fixed (p = --p); 'diffaugment' (Zhao et al. 2020, as the DiffAugment port of this reference; see --diffaugment). The reference's default is ada" },
  diffaugment: DIFFAUGMENT_OPTION,
  ...ADA_SCHEMA,
  resume_from: { type: 'string', default: null, help: "fine-tune from an NVIDIA network snapshot (train.py's --resume): G, D and G_ema start from its weights, the architecture options come from it (giving one otherwise is an error), the optimisers start fresh", metavar: 'PKL' },
});

type StyleGAN2Options = OptionsOf<typeof STYLEGAN2_SCHEMA>;

/** The latents and labels of each phase of an iteration, drawn together first as the reference draws them. */
export interface Shared {
  z: torch.Tensor[];
  c: (torch.Tensor | null)[];
}

const PHASES = ['Gmain', 'Greg', 'Dmain', 'Dreg'] as const;

/** What training_loop.py puts every gradient through before a step. */
const NAN_TO_NUM = { nan: 0, posinf: 1e5, neginf: -1e5 };

function need<T>(v: T | null, name: string): T {
  if (v === null) throw new Error(`internal: --${name} was not resolved from --cfg`);
  return v;
}

export class StyleGAN2Recipe implements Recipe<Shared> {
  readonly G: Generator;
  readonly G_ema: Generator;
  readonly D: Discriminator;
  readonly optG: torch.optim.Adam;
  readonly optD: torch.optim.Adam;
  readonly phases: readonly Phase<Shared>[];
  readonly style: StyleAccess;
  /** The running mean of the path lengths (the reference's pl_mean), part of the resume state. */
  plMean: torch.Tensor;
  /** ADA (--aug ada/fixed): applied to every image D sees. */
  readonly augment: DiscriminatorAugment | null;
  /** DiffAugment (--aug diffaugment): also applied to every image D sees. */
  readonly diffAugment: ((img: torch.Tensor) => torch.Tensor) | null;
  /** The iteration being run (prepare's), for ADA's adjustment after it. */
  #step = 0;
  readonly o: StyleGAN2Options;
  /** With --resume_from, G_ema holds the snapshot's own (not a copy of G). */
  readonly emaLoaded: boolean = false;
  /** The class of every training image (conditional runs trained on their data): what generated images' labels are drawn from. */
  readonly #labelPool: torch.Tensor | null;

  constructor(options: StyleGAN2Options, readonly env: RecipeEnv) {
    // Options built outside `train` (tests) may still hold the presets' nulls.
    const given = new Set(Object.entries(options).filter(([k, v]) => v !== null && k !== 'mirror').map(([k]) => k));
    const o = (this.o = resolveAugOptions(resolveStyleGAN2Options(
      { ...options, resolution: env.shape ? `${env.shape.width}x${env.shape.height}` : env.resolution, batch: env.batchSize }, given,
    ), given) as StyleGAN2Options);
    const synthesis = {
      channelBase: need(o.channel_base, 'channel_base'), channelMax: o.channel_max, numFp16Res: need(o.num_fp16_res, 'num_fp16_res'),
      convClamp: o.conv_clamp, architecture: o.g_architecture as SynthesisArchitecture,
    };
    // A non-square image: the blocks of its shorter side (env.resolution), stretched to its shape.
    const imgShape: [number, number] | null = env.shape ? [env.shape.height, env.shape.width] : null;
    const make = (): Generator => new Generator({
      zDim: o.z_dim, cDim: env.numClasses, wDim: o.w_dim, imgResolution: env.resolution, imgShape, imgChannels: env.channels,
      mapping: { numLayers: need(o.map, 'map') }, synthesis,
    }).to(env.device);
    if (o.resume_from !== null) {
      // The snapshot's own networks (its kwargs, its weights); a --resume then loads its checkpoint over them.
      ({ G: this.G, D: this.D, G_ema: this.G_ema } = networksFromPickle(o.resume_from, env));
      this.emaLoaded = true;
    } else {
      this.G = make();
      this.G_ema = make();
      this.D = new Discriminator({
        cDim: env.numClasses, imgResolution: env.resolution, imgShape, imgChannels: env.channels, architecture: need(o.d_architecture, 'd_architecture') as SynthesisArchitecture,
        channelBase: synthesis.channelBase, channelMax: o.channel_max, numFp16Res: synthesis.numFp16Res, convClamp: o.conv_clamp,
        mbstdGroupSize: need(o.mbstd_group, 'mbstd_group'), mbstdNumChannels: o.mbstd_num_channels,
      }).to(env.device);
    }
    const betas: [number, number] = [0, 0.99];
    this.optG = new torch.optim.Adam(this.G.parameters(), { lr: need(o.glr, 'glr'), betas, eps: 1e-8 });
    this.optD = new torch.optim.Adam(this.D.parameters(), { lr: need(o.dlr, 'dlr'), betas, eps: 1e-8 });
    this.plMean = torch.zeros([], { device: env.device }).keep();
    this.#labelPool = env.numClasses > 0 && env.labels?.length ? torch.tensor(env.labels, { dtype: 'int64', device: env.device }).keep() : null;
    this.diffAugment = discriminatorAugment(o);
    this.augment = DiscriminatorAugment.create(o, env.sumOverRanks);
    this.phases = this.#definePhases();
    const Gs = this.G_ema;
    this.style = {
      numLayers: Gs.numWs,
      dlatents: (z, labels, psi, cutoff) => Gs.mapping.forward(z, labels, { truncationPsi: psi, truncationCutoff: cutoff }),
      // Batch-independent: the non-fused modulated convolution (the fused one folds the
      // batch into a grouped convolution's group count); otherwise the reference's default.
      synthesize: (w, randomizeNoise = true, so = {}) => Gs.synthesis.forward(w, {
        noiseMode: randomizeNoise ? 'random' : 'const', fusedModconv: so.batchIndependent ? false : undefined,
      }),
      synthesizeNoiseless: (w) => Gs.synthesis.forward(w, { noiseMode: 'none' }),
      dlatentSize: Gs.cfg.wDim,
      get dlatentAvg() {
        const avg = Gs.mapping.wAvg;
        if (!avg) throw new Error('internal: this StyleGAN2 mapping tracks no average of w');
        return avg;
      },
    };
  }

  networks() {
    return { G: this.G, D: this.D, G_ema: this.G_ema };
  }

  optimizers() {
    return { G: this.optG, D: this.optD };
  }

  /** All four phases' latents and labels at once (also for phases that skip this step), as the reference. */
  prepare(batch: TensorBatch, ctx?: StepContext): Shared {
    this.#step = ctx?.step ?? this.#step;
    const n = batch.a.shape[0];
    const z = torch.randn([PHASES.length * n, this.o.z_dim], { device: this.env.device }).split(n, 0);
    const k = this.env.numClasses;
    const pool = this.#labelPool;
    // The reference's training_set.get_label(randint(len(training_set))), one per image of every phase.
    const draw = (): torch.Tensor => pool
      ? pool.indexSelect(0, torch.randint(0, pool.size(0), [PHASES.length * n], { device: this.env.device }))
      : torch.randint(0, k, [PHASES.length * n], { device: this.env.device });
    const c = k > 0 ? draw().split(n, 0) : PHASES.map(() => null);
    return { z, c };
  }

  /**
   * The reference's run_G: mapping (tracking w_avg), style mixing — a crossover drawn
   * uniformly in [1, numWs), kept with probability style_mixing_prob (else numWs: none),
   * the layers from it on taking w of a fresh latent — then synthesis with fresh noise.
   */
  runG(z: torch.Tensor, c: torch.Tensor | null): { img: torch.Tensor; ws: torch.Tensor } {
    return torch.scope(() => {
      let ws = this.G.mapping.forward(z, c);
      const prob = need(this.o.style_mixing_prob, 'style_mixing_prob');
      if (prob > 0) {
        const L = ws.size(1);
        let cutoff = torch.randint(1, L, [], { device: ws.device }).item();
        if (!(torch.rand([], { device: ws.device }).item() < prob)) cutoff = L;
        const ws2 = this.G.mapping.forward(torch.randnLike(z), c, { skipWAvgUpdate: true });
        if (cutoff < L) ws = torch.cat([ws.narrow(1, 0, cutoff), ws2.narrow(1, cutoff, L - cutoff)], 1);
      }
      return { img: this.G.synthesis.forward(ws, { noiseMode: 'random' }), ws };
    });
  }

  runD(img: torch.Tensor, c: torch.Tensor | null): torch.Tensor {
    const seen = this.diffAugment ? this.diffAugment(img) : img;
    return this.D.forward(this.augment ? this.augment.apply(seen) : seen, c);
  }

  /** After each iteration (the trainer logs what this returns): ADA moves p. */
  stepLog(): Record<string, number> {
    return this.augment ? this.augment.afterStep(this.#step, this.env.batchSize) : {};
  }

  #definePhases(): Phase<Shared>[] {
    const o = this.o;
    const plWeight = need(o.pl_weight, 'pl_weight');
    const gamma = need(o.gamma, 'gamma');
    const at = (name: (typeof PHASES)[number]): number => PHASES.indexOf(name);
    return [
      {
        name: 'Gmain', nets: [this.G], optimizer: this.optG, nanToNum: NAN_TO_NUM,
        loss: (_b, { shared }): PhaseLoss => {
          const { img } = this.runG(shared.z[at('Gmain')], shared.c[at('Gmain')]);
          const logits = this.runD(img, shared.c[at('Gmain')]);
          const loss = torch.F.softplus(logits.neg()).mean();
          return { loss, log: { loss_G: loss, scores_fake: logits.mean() } };
        },
      },
      {
        // A phase even with pl_weight 0, as the reference: G's optimiser keeps the lazy correction.
        name: 'Greg', nets: [this.G], optimizer: this.optG, interval: o.G_reg_interval, lazy: true, nanToNum: NAN_TO_NUM,
        runs: ({ step }) => plWeight > 0 && step % o.G_reg_interval === 0,
        loss: (_b, { shared }): PhaseLoss => {
          const z = shared.z[at('Greg')], c = shared.c[at('Greg')];
          const n = Math.floor(z.size(0) / o.pl_batch_shrink);
          if (n < 1) throw new UsageError(`--pl_batch_shrink ${o.pl_batch_shrink} leaves no image of a batch of ${z.size(0)} for path-length regularisation`);
          const { img, ws } = this.runG(z.narrow(0, 0, n), c ? c.narrow(0, 0, n) : null);
          const pl = pathLengthPenalty(img, ws, this.plMean, o.pl_decay);
          torch.noGrad(() => this.plMean.copy_(pl.mean));
          const penalty = pl.penalty.mean();
          // The image's zero term, as the reference: every parameter the image depends on
          // gets a gradient (zero where the penalty has none), so Adam treats them all alike.
          const loss = img.select(1, 0).select(1, 0).select(1, 0).mul(0).add(pl.penalty.mul(plWeight)).mean().mul(o.G_reg_interval);
          return { loss, log: { pl_penalty: penalty, pl_mean: pl.mean } };
        },
      },
      {
        name: 'Dmain', nets: [this.D], optimizer: this.optD, nanToNum: NAN_TO_NUM,
        loss: (batch, { shared }): PhaseLoss => {
          const c = shared.c[at('Dmain')];
          const fake = torch.noGrad(() => this.runG(shared.z[at('Dmain')], c).img);
          const fakeLogits = this.runD(fake, c);
          const realLogits = this.runD(batch.a, batch.labels);
          this.augment?.observeReal(realLogits);
          const lossFake = torch.F.softplus(fakeLogits).mean();
          const lossReal = torch.F.softplus(realLogits.neg()).mean();
          const loss = lossFake.add(lossReal);
          return { loss, log: { loss_D: loss, scores_real: realLogits.mean(), scores_fake_D: fakeLogits.mean() } };
        },
      },
      {
        name: 'Dreg', nets: [this.D], optimizer: this.optD, interval: o.D_reg_interval, lazy: true, nanToNum: NAN_TO_NUM,
        runs: ({ step }) => gamma > 0 && step % o.D_reg_interval === 0,
        loss: (batch): PhaseLoss => {
          const real = batch.a.detach().requiresGrad_(true);
          const logits = this.runD(real, batch.labels);
          // ADA's statistic counts these reals too, as the reference's Loss/signs/real.
          this.augment?.observeReal(logits);
          const r1 = r1Penalty(real, logits);
          // The logits' zero term, as the reference (see Greg).
          return { loss: logits.mul(0).mean().add(r1.mul(gamma / 2)).mul(o.D_reg_interval), log: { r1_penalty: r1 } };
        },
      },
    ];
  }

  sampleInputs(n: number, labels: number[] | null): SampleInputs {
    return {
      z: torch.randn([n, this.o.z_dim], { device: this.env.device }),
      labels: labels ? torch.tensor(labels, { dtype: 'int64', device: this.env.device }) : null,
    };
  }

  /** G_ema with its stored noise, as the reference's snapshot grids (noise_mode 'const'). */
  generate(inputs: SampleInputs): torch.Tensor {
    return this.G_ema.forward(inputs.z!, inputs.labels, {
      truncationPsi: inputs.truncationPsi ?? 1, truncationCutoff: inputs.truncationCutoff ?? null, noiseMode: 'const',
    });
  }

  state(): Record<string, unknown> {
    const ada = this.augment?.state();
    return ada ? { ada } : {};
  }

  stateTensors(): Record<string, torch.Tensor> {
    return { pl_mean: this.plMean };
  }

  loadState(s: Record<string, unknown>, tensors?: Record<string, torch.Tensor>): void {
    if (tensors?.pl_mean) torch.noGrad(() => this.plMean.copy_(tensors.pl_mean));
    this.augment?.loadState(s.ada as AdaState | undefined, this.env.device);
  }

  dispose(): void {
    this.plMean.dispose();
    this.#labelPool?.dispose();
    this.augment?.dispose();
  }
}

export const stylegan2 = defineRecipe({
  name: 'stylegan2',
  summary: 'StyleGAN2 (Karras et al. 2020) as stylegan2-ada-pytorch: modulated convolutions, path-length and lazy R1 regularisation, --cfg presets',
  // What --cfg sets has no fixed default (--help shows none; config.json records the value used).
  trainerDefaults: { resolution: 32, batch: null, kimg: null, ema_kimg: null, ema_rampup: null, no_flip: null },
  nonSquare: true,
  schema: STYLEGAN2_SCHEMA,
  resolveOptions: (o, given) => {
    const r = resumeFromOptions(o, given);
    return resolveAugOptions(resolveStyleGAN2Options(r.o, r.given), given);
  },
  create: (o, env) => {
    if (env.resolution < 8) {
      const got = env.shape ? `${env.shape.width}x${env.shape.height}` : env.resolution;
      throw new UsageError(`--model stylegan2 needs --resolution 8 or more${env.shape ? ' on the shorter side' : ''}, got ${got}`);
    }
    return new StyleGAN2Recipe(o, env);
  },
});
