// PGGAN (Karras et al. 2018) as tkarras/progressive_growing_of_gans trains it: the
// resolution grows from --lod_initial_resolution to the dataset's by fading each new
// level in (the schedule in progressive_schedule.ts, the loop rules in progressive.ts),
// reals are faded the same way (process_reals), and the loss is WGAN-GP with the drift
// term, plus an AC-GAN label loss when the data has classes (loss.py's G_wgan_acgan /
// D_wgangp_acgan). Adam β = (0, 0.99), ε 1e-8; Gs is G averaged with β 0.999.
import * as torch from '../torch/index.js';
import { downscale2d } from '../nn/index.js';
import type { Options } from '../config/options.js';
import type { TensorBatch } from '../data/index.js';
import { PGGANGenerator, PGGANDiscriminator, type PGGANConfig } from '../models/pggan.js';
import type { Recipe, RecipeDef, RecipeEnv, SampleInputs, StepContext } from './recipe.js';
import { discriminatorLoss, generatorLoss, gradientPenalty } from './losses.js';
import { processReals } from './pggan_reals.js';
import { pgganDefaults, pgganLoopDefaults, pgganSchedule } from './progressive_schedule.js';
import { ProgressiveController, scheduleOptions, scheduleSchema, type ProgressState } from './progressive.js';

/** Reals at the resolution of the level being trained, then faded and brought to full size. */
export function realsAtLod(x: torch.Tensor, lod: number, mirror: boolean): torch.Tensor {
  return torch.scope(() => processReals(downscale2d(x, 2 ** Math.floor(lod)), lod, mirror));
}

/** Class indices [N] as the one-hot vectors the networks take, or null without classes. */
export function oneHotLabels(labels: torch.Tensor | null, numClasses: number): torch.Tensor | null {
  return labels && numClasses > 0 ? torch.F.oneHot(labels, numClasses).to('float32') : null;
}

class PGGANRecipe implements Recipe {
  readonly G: PGGANGenerator;
  readonly G_ema: PGGANGenerator;
  readonly D: PGGANDiscriminator;
  readonly optG: torch.optim.Adam;
  readonly optD: torch.optim.Adam;
  readonly progress: ProgressiveController;

  constructor(readonly o: Options, readonly env: RecipeEnv) {
    const cfg: Partial<PGGANConfig> & { resolution: number } = {
      resolution: env.resolution, numChannels: env.channels, latentSize: o.latent_size as number, labelSize: env.numClasses,
      fmapBase: o.fmap_base as number, fmapDecay: o.fmap_decay as number, fmapMax: o.fmap_max as number, fusedScale: o.fused_scale as boolean,
      mbstdGroupSize: o.mbstd_group_size as number,
    };
    this.G = new PGGANGenerator(cfg).to(env.device);
    this.G_ema = new PGGANGenerator(cfg).to(env.device);
    this.D = new PGGANDiscriminator(cfg).to(env.device);
    const adam = { betas: [o.adam_beta1 as number, o.adam_beta2 as number] as [number, number], eps: o.adam_epsilon as number };
    this.optG = new torch.optim.Adam(this.G.parameters(), adam);
    this.optD = new torch.optim.Adam(this.D.parameters(), adam);
    this.progress = new ProgressiveController(pgganSchedule, scheduleOptions(o), {
      minibatchRepeats: o.minibatch_repeats as number, dRepeats: o.D_repeats as number, resetOptForNewLod: o.reset_opt_for_new_lod as boolean,
    }, this.optG, this.optD);
    this.progress.checkGroups(o.mbstd_group_size as number);
  }

  networks() {
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

  /** Labels for generated images in G's step: drawn uniformly (the original draws from the dataset's label distribution). */
  #randomLabels(n: number): torch.Tensor | null {
    const k = this.env.numClasses;
    return k > 0 ? oneHotLabels(torch.randint(0, k, [n], { dtype: 'int64', device: this.env.device }), k) : null;
  }

  step(batch: TensorBatch, _ctx: StepContext): Record<string, number> {
    const { lod, minibatch } = this.progress.point!;
    const n = batch.a.shape[0];
    const o = this.o;
    const latents = () => torch.randn([n, o.latent_size as number], { device: this.env.device });
    const reals = realsAtLod(batch.a, lod, false);
    const labels = oneHotLabels(batch.labels, this.env.numClasses);
    const out: Record<string, number> = { lod, minibatch };

    // D_wgangp_acgan: fakes conditioned on the reals' labels.
    this.D.requiresGrad_(true);
    this.optD.zeroGrad();
    const fakes = torch.noGrad(() => this.G.forward(latents(), labels, lod));
    const dReal = this.D.forward(reals, lod);
    const dFake = this.D.forward(fakes, lod);
    const d = discriminatorLoss('wgangp', dReal.scores, dFake.scores, { drift: o.wgan_epsilon as number });
    const target = o.wgan_target as number;
    const gp = gradientPenalty((x) => this.D.forward(x, lod).scores, reals, fakes, { target });
    let lossD = d.loss.add(gp.mul(o.wgan_lambda as number));
    if (labels && dReal.labels && dFake.labels) {
      const ce = labelLoss(dReal.labels, labels).add(labelLoss(dFake.labels, labels));
      lossD = lossD.add(ce.mul(o.cond_weight as number));
      out.loss_D_labels = ce.item();
    }
    lossD.backward();
    this.optD.step();
    Object.assign(out, { loss_D: lossD.item(), loss_D_real: d.real.item(), loss_D_fake: d.fake.item(), gp: gp.item() });

    if (this.progress.afterDStep()) {
      // G_wgan_acgan, with D frozen.
      this.D.requiresGrad_(false);
      this.optG.zeroGrad();
      const gLabels = this.#randomLabels(n);
      const score = this.D.forward(this.G.forward(latents(), gLabels, lod), lod);
      let lossG = generatorLoss('wgangp', score.scores);
      if (gLabels && score.labels) lossG = lossG.add(labelLoss(score.labels, gLabels).mul(o.cond_weight as number));
      lossG.backward();
      this.optG.step();
      this.D.requiresGrad_(true);
      out.loss_G = lossG.item();
    }
    out.lr_G = this.optG.lr;
    out.lr_D = this.optD.lr;
    return out;
  }

  sampleInputs(n: number, labels: number[] | null): SampleInputs {
    return {
      z: torch.randn([n, this.o.latent_size as number], { device: this.env.device }),
      labels: labels ? torch.tensor(labels, { dtype: 'int64', device: this.env.device }) : null,
    };
  }

  generate(inputs: SampleInputs): torch.Tensor {
    return this.G_ema.forward(inputs.z!, oneHotLabels(inputs.labels, this.env.numClasses), this.progress.lodNow());
  }

  state(): Record<string, unknown> {
    return { progress: this.progress.state() };
  }

  loadState(s: Record<string, unknown>): void {
    this.progress.load(s.progress as ProgressState | undefined);
  }
}

/** Softmax cross-entropy against one-hot labels, averaged over the batch. */
function labelLoss(logits: torch.Tensor, oneHot: torch.Tensor): torch.Tensor {
  return logits.logSoftmax(1).mul(oneHot).sum(1).neg().mean();
}

const LOOP = pgganLoopDefaults();

export const pggan: RecipeDef = {
  name: 'pggan',
  summary: 'PGGAN (Karras et al. 2018): progressive growing, equalised learning rate, pixel norm, minibatch stddev, WGAN-GP',
  progressive: true,
  trainerDefaults: { resolution: 32, kimg: LOOP.totalKimg, ema_beta: 0.999, n_samples: 64, sample_kimg: 50, snapshot_kimg: 100 },
  schema: {
    latent_size: { type: 'int', default: 512, help: 'latent size', min: 1 },
    fmap_base: { type: 'int', default: 8192, help: 'feature maps: min(fmap_base / 2^(stage·fmap_decay), fmap_max)', min: 1 },
    fmap_decay: { type: 'float', default: 1, help: 'see --fmap_base' },
    fmap_max: { type: 'int', default: 512, help: 'see --fmap_base', min: 1 },
    fused_scale: { type: 'bool', default: true, help: 'fused upscale+conv and conv+downscale layers' },
    mbstd_group_size: { type: 'int', default: 4, help: 'minibatch standard-deviation group size (0 = off)', min: 0 },
    wgan_lambda: { type: 'float', default: 10, help: 'gradient-penalty weight', min: 0 },
    wgan_epsilon: { type: 'float', default: 0.001, help: 'drift penalty on real scores', min: 0 },
    wgan_target: { type: 'float', default: 1, help: 'gradient norm the penalty pulls towards', min: 0 },
    cond_weight: { type: 'float', default: 1, help: 'weight of the AC-GAN label loss (--classes)', min: 0 },
    adam_beta1: { type: 'float', default: 0, help: 'Adam β1', min: 0, max: 0.999999 },
    adam_beta2: { type: 'float', default: 0.99, help: 'Adam β2', min: 0, max: 0.999999 },
    adam_epsilon: { type: 'float', default: 1e-8, help: 'Adam ε', min: 0 },
    ...scheduleSchema({ ...pgganDefaults(1024), minibatchRepeats: LOOP.minibatchRepeats, dRepeats: LOOP.dRepeats }, 'pggan'),
  },
  create: (o, env) => new PGGANRecipe(o, env),
};
