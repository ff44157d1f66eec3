// DCGAN training: one discriminator step and one generator step per batch, Adam with
// β1 = 0.5 and lr 2e-4 (Radford et al.), the BCE loss of pytorch/examples by default.
// With --aug diffaugment every image D sees, real or generated, passes through DiffAugment.
import * as torch from '../torch/index.js';
import { DCGANGenerator, DCGANDiscriminator, type DCGANConfig } from '../models/dcgan.js';
import { defineSchema, type OptionsOf } from '../config/options.js';
import { UsageError } from '../config/errors.js';
import { defineRecipe, type Phase, type Recipe, type RecipeEnv, type SampleInputs } from '../train/recipe.js';
import { type GanLoss, GAN_LOSSES, discriminatorLoss, generatorLoss, gradientPenalty, r1Penalty } from '../losses/index.js';
import type { TensorBatch } from '../data/index.js';
import { DIFFAUGMENT_SCHEMA, discriminatorAugment } from './diffaugment.js';

/** What D's and G's phases share in an iteration: G's output for the batch. */
interface Shared {
  fake: torch.Tensor;
}

/** DCGAN's options, named as pytorch/examples' dcgan (plus the losses and R1 the other families use). */
const DCGAN_SCHEMA = defineSchema({
  nz: { type: 'int', default: 100, help: 'latent size', min: 1 },
  ngf: { type: 'int', default: 64, help: 'generator base width', min: 1 },
  ndf: { type: 'int', default: 64, help: 'discriminator base width', min: 1 },
  embed_dim: { type: 'int', default: 50, help: 'label embedding size of a conditional G', min: 1 },
  gan_mode: { type: 'string', default: 'vanilla', choices: GAN_LOSSES, help: 'adversarial loss' },
  lr: { type: 'float', default: 2e-4, help: 'Adam learning rate of G (and of D unless --lr_D)', min: 0 },
  lr_D: { type: 'float', default: null, help: 'Adam learning rate of D', min: 0 },
  beta1: { type: 'float', default: 0.5, help: 'Adam β1', min: 0, max: 0.999999 },
  beta2: { type: 'float', default: 0.999, help: 'Adam β2', min: 0, max: 0.999999 },
  lambda_gp: { type: 'float', default: 10, help: 'gradient-penalty weight (gan_mode wgangp)', min: 0 },
  r1_gamma: { type: 'float', default: 0, help: 'R1 penalty weight γ on real images (0 = off)', min: 0 },
  r1_interval: { type: 'int', default: 16, help: 'apply R1 every this many steps (lazy regularisation)', min: 1 },
  ...DIFFAUGMENT_SCHEMA,
});

type DCGANOptions = OptionsOf<typeof DCGAN_SCHEMA>;

class DCGANRecipe implements Recipe<Shared> {
  readonly G: DCGANGenerator;
  readonly G_ema: DCGANGenerator;
  readonly D: DCGANDiscriminator;
  readonly optG: torch.optim.Adam;
  readonly optD: torch.optim.Adam;
  readonly mode: GanLoss;
  readonly phases: readonly Phase<Shared>[];
  /** What D sees of an image, real or generated: --aug's transform (DiffAugment), or the image. */
  readonly augment: (img: torch.Tensor) => torch.Tensor;
  // Batch-norm statistics must match the averaged weights they normalise: BigGAN's
  // standing statistics, re-estimated for G_ema before each grid and checkpoint. (G's
  // running statistics averaged alongside the weights fit them 3-6× worse on MNIST, and
  // not at all while the average still holds the initial weights.)
  readonly emaBuffers = 'standing' as const;

  constructor(readonly o: DCGANOptions, readonly env: RecipeEnv) {
    const cfg: DCGANConfig = {
      resolution: env.resolution, shape: env.shape ? [env.shape.height, env.shape.width] : null, nz: o.nz, ngf: o.ngf, ndf: o.ndf, nc: env.channels,
      numClasses: env.numClasses, embedDim: o.embed_dim,
    };
    this.G = new DCGANGenerator(cfg).to(env.device);
    this.D = new DCGANDiscriminator(cfg).to(env.device);
    this.G_ema = new DCGANGenerator(cfg).to(env.device);
    this.mode = o.gan_mode;
    const betas: [number, number] = [o.beta1, o.beta2];
    this.optG = new torch.optim.Adam(this.G.parameters(), { lr: o.lr, betas });
    this.optD = new torch.optim.Adam(this.D.parameters(), { lr: o.lr_D ?? o.lr, betas });
    this.augment = discriminatorAugment(o) ?? ((img) => img);
    this.phases = this.#definePhases();
  }

  networks() {
    return { G: this.G, D: this.D, G_ema: this.G_ema };
  }

  optimizers() {
    return { G: this.optG, D: this.optD };
  }

  /** One fake batch serves both phases (detached for D), as pytorch/examples does. */
  prepare(batch: TensorBatch): Shared {
    const z = torch.randn([batch.a.shape[0], this.o.nz], { device: this.env.device });
    return { fake: this.G.forward(z, batch.labels) };
  }

  #definePhases(): Phase<Shared>[] {
    return [
      {
        name: 'D', nets: [this.D], optimizer: this.optD,
        loss: (batch, { step, shared }) => {
          const { labels } = batch;
          const fake = shared.fake.detach();
          // Lazy R1 (StyleGAN2's rule folded into D's own step, as before): every
          // r1_interval steps, scaled up by the interval.
          const r1Every = this.o.r1_interval;
          const doR1 = this.o.r1_gamma > 0 && step % r1Every === 0;
          const real = doR1 ? batch.a.detach().requiresGrad_(true) : batch.a;
          const judge = (x: torch.Tensor): torch.Tensor => this.D.forward(this.augment(x), labels);
          const dReal = judge(real);
          const d = discriminatorLoss(this.mode, dReal, judge(fake));
          let loss = d.loss;
          const log: Record<string, torch.Tensor> = { loss_D: d.loss, loss_D_real: d.real, loss_D_fake: d.fake };
          if (this.mode === 'wgangp') {
            const gp = gradientPenalty(judge, batch.a, fake);
            loss = loss.add(gp.mul(this.o.lambda_gp));
            log.gp = gp;
          }
          if (doR1) {
            const r1 = r1Penalty(real, dReal);
            loss = loss.add(r1.mul((this.o.r1_gamma / 2) * r1Every));
            log.r1 = r1;
          }
          return { loss, log };
        },
      },
      {
        name: 'G', nets: [this.G], optimizer: this.optG,
        loss: (batch, { shared }) => {
          const loss = generatorLoss(this.mode, this.D.forward(this.augment(shared.fake), batch.labels));
          return { loss, log: { loss_G: loss } };
        },
      },
    ];
  }

  sampleInputs(n: number, labels: number[] | null): SampleInputs {
    return {
      z: torch.randn([n, this.o.nz], { device: this.env.device }),
      labels: labels ? torch.tensor(labels, { dtype: 'int64', device: this.env.device }) : null,
    };
  }

  generate(inputs: SampleInputs): torch.Tensor {
    return this.G_ema.forward(inputs.z!, inputs.labels);
  }

  state(): Record<string, unknown> {
    return {};
  }

  loadState(): void {}
}

export const dcgan = defineRecipe({
  name: 'dcgan',
  summary: 'DCGAN (Radford et al. 2016): the smallest complete GAN, unconditional or class-conditional',
  trainerDefaults: { resolution: 32, batch: 64 },
  nonSquare: true,
  schema: DCGAN_SCHEMA,
  create: (o, env) => {
    if (env.resolution < 16 || env.resolution > 128) {
      if (env.shape) throw new UsageError(`--model dcgan supports a shorter side of 16 to 128, got --resolution ${env.shape.width}x${env.shape.height}`);
      throw new UsageError(`--model dcgan supports --resolution 16 to 128, got ${env.resolution}`);
    }
    return new DCGANRecipe(o, env);
  },
});
