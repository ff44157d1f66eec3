// StyleGAN v1 (Karras, Laine & Aila 2019) as NVlabs/stylegan trains it: progressive
// growing on StyleGAN's schedule (training_loop.py), the non-saturating logistic loss for
// G and the logistic loss with R1 on reals (γ 10) for D (loss.py's
// G_logistic_nonsaturating / D_logistic_simplegp), style mixing (0.9) and the tracked
// average of w while training, Adam β = (0, 0.99), and Gs averaged with a half-life of
// 10 kimg (the trainer's --ema_kimg). One difference in order: the original updates Gs
// with each D step, before the group's G step, so its Gs trails G by one update; the
// trainer averages after the whole step.
import * as torch from '../../torch/index.js';
import { defineSchema, type OptionsOf } from '../../config/options.js';
import type { TensorBatch } from '../../data/index.js';
import { StyleGANGenerator, StyleGANDiscriminator, type StyleGANGeneratorConfig } from '../../models/stylegan.js';
import { defineRecipe, type PhaseLoss, type RecipeEnv, type SampleInputs, type StyleAccess } from '../../train/recipe.js';
import { discriminatorLoss, generatorLoss, r1Penalty } from '../../losses/index.js';
import { realsAtLod } from './pggan.js';
import { styleganDefaults, styleganSchedule, STYLEGAN_LOOP_DEFAULTS } from './schedule.js';
import { ProgressiveRecipe, PROGRESSIVE_NETWORK_SCHEMA, scheduleSchema } from './loop.js';
import { DIFFAUGMENT_SCHEMA } from '../diffaugment.js';

const SCHED = styleganDefaults(1024, '1gpu');

/** StyleGAN's options, as the original's training_loop.py, networks_stylegan.py and loss.py name them. */
const STYLEGAN_SCHEMA = defineSchema({
  ...PROGRESSIVE_NETWORK_SCHEMA,
  dlatent_size: { type: 'int', default: 512, help: 'size of w (and width of the mapping layers)', min: 1 },
  mapping_layers: { type: 'int', default: 8, help: 'dense layers of the mapping network', min: 1 },
  mapping_lrmul: { type: 'float', default: 0.01, help: 'learning-rate multiplier of the mapping network', min: 0 },
  style_mixing_prob: { type: 'float', default: 0.9, help: 'probability of mixing two latents while training', min: 0, max: 1 },
  dlatent_avg_beta: { type: 'float', default: 0.995, help: 'decay of the tracked average of w (the truncation centre)', min: 0, max: 1 },
  r1_gamma: { type: 'float', default: 10, help: 'R1 penalty weight γ on real images', min: 0 },
  ...DIFFAUGMENT_SCHEMA,
  ...scheduleSchema({ ...SCHED, minibatchRepeats: STYLEGAN_LOOP_DEFAULTS.minibatchRepeats, dRepeats: STYLEGAN_LOOP_DEFAULTS.dRepeats }),
});

type StyleGANOptions = OptionsOf<typeof STYLEGAN_SCHEMA>;

class StyleGANRecipe extends ProgressiveRecipe<StyleGANGenerator, StyleGANDiscriminator, StyleGANOptions> {
  readonly style: StyleAccess;

  constructor(o: StyleGANOptions, env: RecipeEnv) {
    const maps = { fmapBase: o.fmap_base, fmapDecay: o.fmap_decay, fmapMax: o.fmap_max };
    const gcfg: Partial<StyleGANGeneratorConfig> = {
      ...maps, resolution: env.resolution, numChannels: env.channels, labelSize: env.numClasses,
      latentSize: o.latent_size, dlatentSize: o.dlatent_size, mappingLayers: o.mapping_layers,
      mappingFmaps: o.dlatent_size, mappingLrmul: o.mapping_lrmul,
      styleMixingProb: o.style_mixing_prob, dlatentAvgBeta: o.dlatent_avg_beta,
    };
    const make = () => new StyleGANGenerator(gcfg).to(env.device);
    const D = new StyleGANDiscriminator({
      ...maps, resolution: env.resolution, numChannels: env.channels, labelSize: env.numClasses, mbstdGroupSize: o.mbstd_group_size,
    }).to(env.device);
    super(o, env, make(), make(), D, styleganSchedule);
    const Gs = this.G_ema;
    this.style = {
      numLayers: Gs.numLayers,
      // A ψ without a cutoff truncates every layer.
      dlatents: (z, labels, psi, cutoff) => Gs.dlatents(z, labels, {
        lod: this.progress.lodNow(), truncationPsi: psi, truncationCutoff: cutoff ?? Gs.numLayers, styleMixingProb: null, updateDlatentAvg: false,
      }),
      // Its ops never depend on the batch: batchIndependent changes nothing.
      synthesize: (w, randomizeNoise = true) => Gs.synthesis.forward(w, { lod: this.progress.lodNow(), randomizeNoise }),
      dlatentSize: Gs.cfg.dlatentSize,
      get dlatentAvg() {
        return Gs.dlatentAvg;
      },
    };
  }

  /** D_logistic_simplegp: fakes from G in training mode (mixing, and w's average tracked). */
  protected lossD(batch: TensorBatch): PhaseLoss {
    const { lod } = this.progress.point!;
    const labels = batch.labels;
    const reals = realsAtLod(batch.a, lod, false).detach().requiresGrad_(true);
    const fakes = torch.noGrad(() => this.G.forward(this.latents(batch.a.shape[0]), labels, { lod }));
    const dReal = this.D.forward(this.augment(reals), labels, { lod });
    const dFake = this.D.forward(this.augment(fakes), labels, { lod });
    const d = discriminatorLoss('logistic', dReal, dFake);
    const r1 = r1Penalty(reals, dReal);
    const loss = d.loss.add(r1.mul(this.o.r1_gamma * 0.5));
    return { loss, log: { loss_D: loss, loss_D_real: d.real, loss_D_fake: d.fake, r1 } };
  }

  /** G_logistic_nonsaturating. */
  protected lossG(batch: TensorBatch): PhaseLoss {
    const { lod } = this.progress.point!;
    const n = batch.a.shape[0];
    const labels = this.randomClasses(n);
    const loss = generatorLoss('logistic', this.D.forward(this.augment(this.G.forward(this.latents(n), labels, { lod })), labels, { lod }));
    return { loss, log: { loss_G: loss } };
  }

  /** Untruncated unless asked (the original's snapshot grids are drawn with is_validation). */
  generate(inputs: SampleInputs): torch.Tensor {
    return torch.scope(() => {
      const w = this.style.dlatents(inputs.z!, inputs.labels, inputs.truncationPsi ?? null, inputs.truncationCutoff ?? null);
      return this.style.synthesize(w);
    });
  }
}

export const stylegan = defineRecipe({
  name: 'stylegan',
  summary: 'StyleGAN (Karras et al. 2019): mapping network, AdaIN, noise inputs, style mixing, truncation; progressive growing',
  progressive: true,
  trainerDefaults: { resolution: 32, kimg: STYLEGAN_LOOP_DEFAULTS.totalKimg, ema_kimg: 10, n_samples: 64, sample_kimg: 50, snapshot_kimg: 100 },
  schema: STYLEGAN_SCHEMA,
  create: (o, env) => new StyleGANRecipe(o, env),
});
