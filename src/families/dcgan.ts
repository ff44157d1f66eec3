// DCGAN training: one discriminator step and one generator step per batch, Adam with
// β1 = 0.5 and lr 2e-4 (Radford et al.), the BCE loss of pytorch/examples by default.
import * as torch from '../torch/index.js';
import { DCGANGenerator, DCGANDiscriminator, type DCGANConfig } from '../models/dcgan.js';
import type { Options } from '../config/options.js';
import type { Recipe, RecipeDef, RecipeEnv, SampleInputs, StepContext } from '../train/recipe.js';
import { type GanLoss, GAN_LOSSES, discriminatorLoss, generatorLoss, gradientPenalty, r1Penalty } from '../losses/index.js';
import type { TensorBatch } from '../data/index.js';
import { optimizerStep } from '../train/update.js';

class DCGANRecipe implements Recipe {
  readonly G: DCGANGenerator;
  readonly G_ema: DCGANGenerator;
  readonly D: DCGANDiscriminator;
  readonly optG: torch.optim.Adam;
  readonly optD: torch.optim.Adam;
  readonly mode: GanLoss;
  // Batch-norm statistics must match the averaged weights they normalise.
  readonly emaBuffers = 'average' as const;

  constructor(readonly o: Options, readonly env: RecipeEnv) {
    const cfg: DCGANConfig = {
      resolution: env.resolution, nz: o.nz as number, ngf: o.ngf as number, ndf: o.ndf as number, nc: env.channels,
      numClasses: env.numClasses, embedDim: o.embed_dim as number,
    };
    this.G = new DCGANGenerator(cfg).to(env.device);
    this.D = new DCGANDiscriminator(cfg).to(env.device);
    this.G_ema = new DCGANGenerator(cfg).to(env.device);
    this.mode = o.gan_mode as GanLoss;
    const betas: [number, number] = [o.beta1 as number, o.beta2 as number];
    this.optG = new torch.optim.Adam(this.G.parameters(), { lr: o.lr as number, betas });
    this.optD = new torch.optim.Adam(this.D.parameters(), { lr: (o.lr_D as number | null) ?? (o.lr as number), betas });
  }

  networks() {
    return { G: this.G, D: this.D, G_ema: this.G_ema };
  }

  optimizers() {
    return { G: this.optG, D: this.optD };
  }

  step(batch: TensorBatch, ctx: StepContext): Record<string, number> {
    const real = batch.a;
    const labels = batch.labels;
    const n = real.shape[0];
    const z = torch.randn([n, this.o.nz as number], { device: this.env.device });
    // One fake batch serves both steps (detached for D), as pytorch/examples does.
    const fake = this.G.forward(z, labels);

    this.optD.zeroGrad();
    const r1Every = this.o.r1_interval as number;
    const doR1 = (this.o.r1_gamma as number) > 0 && ctx.step % r1Every === 0;
    const realIn = doR1 ? real.detach().requiresGrad_(true) : real;
    const dReal = this.D.forward(realIn, labels);
    const dFake = this.D.forward(fake.detach(), labels);
    const d = discriminatorLoss(this.mode, dReal, dFake);
    let lossD = d.loss;
    const out: Record<string, number> = {};
    if (this.mode === 'wgangp') {
      const gp = gradientPenalty((x) => this.D.forward(x, labels), real, fake.detach());
      lossD = lossD.add(gp.mul(this.o.lambda_gp as number));
      out.gp = gp.item();
    }
    if (doR1) {
      // Lazy R1 (StyleGAN2): every r1_interval steps, scaled up by the interval.
      const r1 = r1Penalty(realIn, dReal);
      lossD = lossD.add(r1.mul(((this.o.r1_gamma as number) / 2) * r1Every));
      out.r1 = r1.item();
    }
    lossD.backward();
    this.optD.step();

    const { loss: lossG } = optimizerStep(this.optG, [this.D], () => ({ loss: generatorLoss(this.mode, this.D.forward(fake, labels)) }));

    return { loss_G: lossG.item(), loss_D: d.loss.item(), loss_D_real: d.real.item(), loss_D_fake: d.fake.item(), ...out };
  }

  sampleInputs(n: number, labels: number[] | null): SampleInputs {
    return {
      z: torch.randn([n, this.o.nz as number], { device: this.env.device }),
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

export const dcgan: RecipeDef = {
  name: 'dcgan',
  summary: 'DCGAN (Radford et al. 2016): the smallest complete GAN, unconditional or class-conditional',
  trainerDefaults: { resolution: 32, batch: 64 },
  schema: {
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
  },
  create: (o, env) => {
    if (env.resolution < 16 || env.resolution > 128) throw new Error(`--model dcgan supports --resolution 16 to 128, got ${env.resolution}`);
    return new DCGANRecipe(o, env);
  },
};
