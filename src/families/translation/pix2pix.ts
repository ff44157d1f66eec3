// pix2pix (Isola et al. 2017): a generator maps A to B; a conditional PatchGAN judges
// (A, B) pairs, so it learns what a plausible B *for this A* looks like, and an L1 term
// (weight 100) ties the output to the ground truth at low frequencies. The step follows
// the reference's pix2pix_model.py: one forward of G, then D on (A, fake B) detached and
// on (A, real B) with the average of the two losses, then G with D frozen.
import * as torch from '../../torch/index.js';
import { defineSchema, type OptionsOf } from '../../config/options.js';
import type { TensorBatch } from '../../data/index.js';
import { defineRecipe, type Phase, type Recipe, type RecipeEnv, type SampleInputs } from '../../train/recipe.js';
import { type GanLoss, ganLossTarget, gradientPenalty } from '../../losses/index.js';
import { NETWORK_SCHEMA, TRANSLATION_TRAINER_DEFAULTS, buildD, buildG, checkImageSize, gridRows, realSampleInputs, translateImages, type Generator, type Network } from './networks.js';

/** pix2pix's options: the shared network options and the L1 weight. */
const PIX2PIX_SCHEMA = defineSchema({
  ...NETWORK_SCHEMA,
  netG: { ...NETWORK_SCHEMA.netG, default: 'unet_256' },
  norm: { ...NETWORK_SCHEMA.norm, default: 'batch' },
  gan_mode: { ...NETWORK_SCHEMA.gan_mode, default: 'vanilla' },
  lambda_L1: { type: 'float', default: 100, help: 'weight of the L1 loss between generated and real B', min: 0 },
});

type Pix2PixOptions = OptionsOf<typeof PIX2PIX_SCHEMA>;

/** What D's and G's phases share in an iteration. */
interface Shared {
  fakeB: torch.Tensor;
}

class Pix2PixRecipe implements Recipe<Shared> {
  readonly G: Generator;
  readonly D: Network;
  readonly optG: torch.optim.Adam;
  readonly optD: torch.optim.Adam;
  readonly mode: GanLoss;
  readonly phases: readonly Phase<Shared>[];
  /** Each grid row: input A, generated B, real B. */
  readonly gridColumns = 3;

  constructor(readonly o: Pix2PixOptions, readonly env: RecipeEnv) {
    checkImageSize(o, env.resolution);
    this.G = buildG(o, env.channels, env.outputChannels, env.device);
    // Conditional D: it sees the input and the (real or fake) output stacked on channels.
    this.D = buildD(o, env.channels + env.outputChannels, env.device);
    this.mode = o.gan_mode;
    const betas: [number, number] = [o.beta1, 0.999];
    this.optG = new torch.optim.Adam(this.G.parameters(), { lr: o.lr, betas });
    this.optD = new torch.optim.Adam(this.D.parameters(), { lr: o.lr, betas });
    this.phases = this.#definePhases();
  }

  networks() {
    return { G: this.G, D: this.D };
  }

  optimizers() {
    return { G: this.optG, D: this.optD };
  }

  /** G's output for the batch: judged detached in D's phase, trained through in G's. */
  prepare(batch: TensorBatch): Shared {
    return { fakeB: this.G.forward(batch.a) };
  }

  /** D sees the input and the (real or fake) output stacked on channels. */
  #judge(realA: torch.Tensor, b: torch.Tensor): torch.Tensor {
    return this.D.forward(torch.cat([realA, b], 1));
  }

  #definePhases(): Phase<Shared>[] {
    return [
      {
        name: 'D', nets: [this.D], optimizer: this.optD,
        loss: (batch, { shared }) => {
          const realA = batch.a, realB = batch.b!, fakeB = shared.fakeB.detach();
          const lossDFake = ganLossTarget(this.mode, this.#judge(realA, fakeB), false);
          const lossDReal = ganLossTarget(this.mode, this.#judge(realA, realB), true);
          let loss = lossDFake.add(lossDReal).mul(0.5);
          const log: Record<string, torch.Tensor> = { loss_D_real: lossDReal, loss_D_fake: lossDFake };
          if (this.mode === 'wgangp' && this.o.lambda_gp > 0) {
            const gp = gradientPenalty((b) => this.#judge(realA, b), realB, fakeB);
            loss = loss.add(gp.mul(this.o.lambda_gp));
            log.gp = gp;
          }
          return { loss, log: { ...log, loss_D: loss } };
        },
      },
      {
        name: 'G', nets: [this.G], optimizer: this.optG,
        loss: (batch, { shared }) => {
          const lambda = this.o.lambda_L1;
          const gan = ganLossTarget(this.mode, this.#judge(batch.a, shared.fakeB), true, { role: 'generator' });
          const l1 = torch.F.l1Loss(shared.fakeB, batch.b!);
          const loss = gan.add(l1.mul(lambda));
          return { loss, log: { loss_G: loss, loss_G_GAN: gan, loss_G_L1: l1.mul(lambda), l1 } };
        },
      },
    ];
  }

  sampleInputs(_n: number, _labels: number[] | null, real?: TensorBatch): SampleInputs {
    return realSampleInputs(real, 'pix2pix');
  }

  generate(inputs: SampleInputs): torch.Tensor {
    return gridRows([inputs.a!, translateImages(this.G, inputs.a!), inputs.b!]);
  }

  state(): Record<string, unknown> {
    return {};
  }

  loadState(): void {}
}

export const pix2pix = defineRecipe({
  name: 'pix2pix',
  summary: 'pix2pix (Isola et al. 2017): paired image-to-image translation, U-Net G + conditional PatchGAN, L1 + GAN loss',
  data: 'aligned',
  trainerDefaults: { ...TRANSLATION_TRAINER_DEFAULTS, data: 'shapes-pairs' },
  schema: PIX2PIX_SCHEMA,
  create: (o, env) => new Pix2PixRecipe(o, env),
});
