// PGGAN (Karras et al. 2018) as tkarras/progressive_growing_of_gans trains it: the
// resolution grows from --lod_initial_resolution to the dataset's by fading each new
// level in (the schedule in progressive_schedule.ts, the loop rules in progressive.ts),
// reals are faded the same way (process_reals), and the loss is WGAN-GP with the drift
// term, plus an AC-GAN label loss when the data has classes (loss.py's G_wgan_acgan /
// D_wgangp_acgan). Adam β = (0, 0.99), ε 1e-8; Gs is G averaged with β 0.999.
import * as torch from '../../torch/index.js';
import { downscale2d } from '../../nn/index.js';
import { defineSchema, type OptionsOf } from '../../config/options.js';
import type { TensorBatch } from '../../data/index.js';
import { PGGANGenerator, PGGANDiscriminator, type PGGANConfig } from '../../models/pggan.js';
import { defineRecipe, type PhaseLoss, type RecipeEnv, type SampleInputs } from '../../train/recipe.js';
import { discriminatorLoss, generatorLoss, gradientPenalty } from '../../losses/index.js';
import { processReals } from './reals.js';
import { pgganDefaults, pgganLoopDefaults, pgganSchedule } from './schedule.js';
import { ProgressiveRecipe, PROGRESSIVE_NETWORK_SCHEMA, scheduleSchema } from './loop.js';
import { DIFFAUGMENT_SCHEMA } from '../diffaugment.js';

/** Reals at the resolution of the level being trained, then faded and brought to full size. */
export function realsAtLod(x: torch.Tensor, lod: number, mirror: boolean): torch.Tensor {
  return torch.scope(() => processReals(downscale2d(x, 2 ** Math.floor(lod)), lod, mirror));
}

/** Class indices [N] as the one-hot vectors the networks take, or null without classes. */
export function oneHotLabels(labels: torch.Tensor | null, numClasses: number): torch.Tensor | null {
  return labels && numClasses > 0 ? torch.F.oneHot(labels, numClasses).to('float32') : null;
}

const LOOP = pgganLoopDefaults();
// PGGAN's schedule has no learning-rate ramp-up.
const { lrate_rampup_kimg: _noRampup, ...PGGAN_SCHEDULE_SCHEMA } = scheduleSchema({ ...pgganDefaults(1024), minibatchRepeats: LOOP.minibatchRepeats, dRepeats: LOOP.dRepeats });

/** PGGAN's options, as the original's config.py and loss.py name them. */
const PGGAN_SCHEMA = defineSchema({
  ...PROGRESSIVE_NETWORK_SCHEMA,
  fused_scale: { type: 'bool', default: true, help: 'fused upscale+conv and conv+downscale layers' },
  wgan_lambda: { type: 'float', default: 10, help: 'gradient-penalty weight', min: 0 },
  wgan_epsilon: { type: 'float', default: 0.001, help: 'drift penalty on real scores', min: 0 },
  wgan_target: { type: 'float', default: 1, help: 'gradient norm the penalty pulls towards', min: 0 },
  cond_weight: { type: 'float', default: 1, help: 'weight of the AC-GAN label loss (--classes)', min: 0 },
  ...DIFFAUGMENT_SCHEMA,
  ...PGGAN_SCHEDULE_SCHEMA,
});

type PGGANOptions = OptionsOf<typeof PGGAN_SCHEMA>;

class PGGANRecipe extends ProgressiveRecipe<PGGANGenerator, PGGANDiscriminator, PGGANOptions> {
  constructor(o: PGGANOptions, env: RecipeEnv) {
    const cfg: Partial<PGGANConfig> & { resolution: number } = {
      resolution: env.resolution, numChannels: env.channels, latentSize: o.latent_size, labelSize: env.numClasses,
      fmapBase: o.fmap_base, fmapDecay: o.fmap_decay, fmapMax: o.fmap_max, fusedScale: o.fused_scale,
      mbstdGroupSize: o.mbstd_group_size,
    };
    const make = () => new PGGANGenerator(cfg).to(env.device);
    super(o, env, make(), make(), new PGGANDiscriminator(cfg).to(env.device), pgganSchedule);
  }

  protected lossD(batch: TensorBatch): PhaseLoss {
    const { lod } = this.progress.point!;
    const o = this.o;
    const reals = realsAtLod(batch.a, lod, false);
    const labels = oneHotLabels(batch.labels, this.env.numClasses);
    // D_wgangp_acgan: fakes conditioned on the reals' labels.
    const fakes = torch.noGrad(() => this.G.forward(this.latents(batch.a.shape[0]), labels, lod));
    const dReal = this.D.forward(this.augment(reals), lod);
    const dFake = this.D.forward(this.augment(fakes), lod);
    const d = discriminatorLoss('wgangp', dReal.scores, dFake.scores, { drift: o.wgan_epsilon });
    const gp = gradientPenalty((x) => this.D.forward(this.augment(x), lod).scores, reals, fakes, { target: o.wgan_target });
    let loss = d.loss.add(gp.mul(o.wgan_lambda));
    const log: Record<string, torch.Tensor> = {};
    if (labels && dReal.labels && dFake.labels) {
      const ce = labelLoss(dReal.labels, labels).add(labelLoss(dFake.labels, labels));
      loss = loss.add(ce.mul(o.cond_weight));
      log.loss_D_labels = ce;
    }
    return { loss, log: { ...log, loss_D: loss, loss_D_real: d.real, loss_D_fake: d.fake, gp } };
  }

  /** G_wgan_acgan. */
  protected lossG(batch: TensorBatch): PhaseLoss {
    const { lod } = this.progress.point!;
    const n = batch.a.shape[0];
    const labels = oneHotLabels(this.randomClasses(n), this.env.numClasses);
    const score = this.D.forward(this.augment(this.G.forward(this.latents(n), labels, lod)), lod);
    let loss = generatorLoss('wgangp', score.scores);
    if (labels && score.labels) loss = loss.add(labelLoss(score.labels, labels).mul(this.o.cond_weight));
    return { loss, log: { loss_G: loss } };
  }

  generate(inputs: SampleInputs): torch.Tensor {
    return this.G_ema.forward(inputs.z!, oneHotLabels(inputs.labels, this.env.numClasses), this.progress.lodNow());
  }
}

/** Softmax cross-entropy against one-hot labels, averaged over the batch. */
function labelLoss(logits: torch.Tensor, oneHot: torch.Tensor): torch.Tensor {
  return logits.logSoftmax(1).mul(oneHot).sum(1).neg().mean();
}

export const pggan = defineRecipe({
  name: 'pggan',
  summary: 'PGGAN (Karras et al. 2018): progressive growing, equalised learning rate, pixel norm, minibatch stddev, WGAN-GP',
  progressive: true,
  trainerDefaults: { resolution: 32, kimg: LOOP.totalKimg, ema_beta: 0.999, n_samples: 64, sample_kimg: 50, snapshot_kimg: 100 },
  schema: PGGAN_SCHEMA,
  create: (o, env) => new PGGANRecipe(o, env),
});
