// CycleGAN (Zhu et al. 2017): two generators, G_A: A→B and G_B: B→A, trained without
// pairs. D_A judges B-domain images (real B against G_A's fakes), D_B judges A-domain
// ones. What keeps the mappings meaningful is cycle consistency, G_B(G_A(a)) ≈ a and
// G_A(G_B(b)) ≈ b (weights λ_A, λ_B), plus an identity term, G_A(b) ≈ b, that keeps
// colours from drifting. The step follows the reference's cycle_gan_model.py: both
// generators first with the discriminators frozen, then both discriminators on real
// images and on fakes drawn from the image pools, each D loss averaged ×0.5.
import * as torch from '../../torch/index.js';
import { defineSchema, type OptionsOf } from '../../config/options.js';
import { UsageError } from '../../config/errors.js';
import type { TensorBatch } from '../../data/index.js';
import { defineRecipe, type Phase, type Recipe, type RecipeEnv, type SampleInputs } from '../../train/recipe.js';
import { type GanLoss, ganLossTarget, gradientPenalty } from '../../losses/index.js';
import { ImagePool } from './image_pool.js';
import { NETWORK_SCHEMA, TRANSLATION_TRAINER_DEFAULTS, buildD, buildG, checkImageSize, gridRows, realSampleInputs, translateImages, type Generator, type Network } from './networks.js';

/** CycleGAN's options: the shared network options (dropout off by default), the cycle and identity weights, the image pool. */
const CYCLEGAN_SCHEMA = defineSchema({
  ...NETWORK_SCHEMA,
  no_dropout: { ...NETWORK_SCHEMA.no_dropout, default: true },
  lambda_A: { type: 'float', default: 10, help: 'weight of the cycle loss A → B → A', min: 0 },
  lambda_B: { type: 'float', default: 10, help: 'weight of the cycle loss B → A → B', min: 0 },
  lambda_identity: {
    type: 'float', default: 0.5, min: 0,
    help: 'weight of the identity loss, relative to --lambda_A/--lambda_B (0.5: half the cycle weight)',
  },
  pool_size: { type: 'int', default: 50, help: 'generated images kept for the discriminators (0 = none)', min: 0 },
});

type CycleGANOptions = OptionsOf<typeof CYCLEGAN_SCHEMA>;

/** What G's and D's phases share in an iteration: each domain's fakes and reconstructions. */
interface Shared {
  fakeB: torch.Tensor;
  recA: torch.Tensor;
  fakeA: torch.Tensor;
  recB: torch.Tensor;
}

class CycleGANRecipe implements Recipe<Shared> {
  readonly G_A: Generator;
  readonly G_B: Generator;
  readonly D_A: Network;
  readonly D_B: Network;
  readonly optG: torch.optim.Adam;
  readonly optD: torch.optim.Adam;
  readonly mode: GanLoss;
  readonly phases: readonly Phase<Shared>[];
  /** Fakes of each domain as D sees them: fake_A for D_B, fake_B for D_A. */
  readonly poolA: ImagePool;
  readonly poolB: ImagePool;
  /** Each grid row: real A, G_A(A), its reconstruction, real B, G_B(B), its reconstruction. */
  readonly gridColumns = 6;

  constructor(readonly o: CycleGANOptions, readonly env: RecipeEnv) {
    checkImageSize(o, env.resolution);
    const ncA = env.channels, ncB = env.outputChannels;
    if (o.lambda_identity > 0 && ncA !== ncB) {
      throw new UsageError(`--lambda_identity needs --input_nc equal to --output_nc (G_A(B) must be comparable with B), got ${ncA} and ${ncB}; pass --lambda_identity 0`);
    }
    this.G_A = buildG(o, ncA, ncB, env.device);
    this.G_B = buildG(o, ncB, ncA, env.device);
    this.D_A = buildD(o, ncB, env.device);
    this.D_B = buildD(o, ncA, env.device);
    this.mode = o.gan_mode;
    const betas: [number, number] = [o.beta1, 0.999];
    this.optG = new torch.optim.Adam([...this.G_A.parameters(), ...this.G_B.parameters()], { lr: o.lr, betas });
    this.optD = new torch.optim.Adam([...this.D_A.parameters(), ...this.D_B.parameters()], { lr: o.lr, betas });
    this.poolA = new ImagePool(o.pool_size);
    this.poolB = new ImagePool(o.pool_size);
    this.phases = this.#definePhases();
  }

  networks() {
    return { G_A: this.G_A, G_B: this.G_B, D_A: this.D_A, D_B: this.D_B };
  }

  optimizers() {
    return { G: this.optG, D: this.optD };
  }

  /** The four translations both phases use: fakes and reconstructions of each domain. */
  prepare(batch: TensorBatch): Shared {
    const fakeB = this.G_A.forward(batch.a);
    const recA = this.G_B.forward(fakeB);
    const fakeA = this.G_B.forward(batch.b!);
    const recB = this.G_A.forward(fakeA);
    return { fakeB, recA, fakeA, recB };
  }

  /**
   * D's loss on real images and (detached) fakes, averaged, as the reference's
   * backward_D_basic; the gradient penalty (wgangp) is added to the first and returned apart.
   */
  #lossD(D: Network, real: torch.Tensor, fake: torch.Tensor): { loss: torch.Tensor; plain: torch.Tensor; gp: torch.Tensor | null } {
    const lossReal = ganLossTarget(this.mode, D.forward(real), true);
    const lossFake = ganLossTarget(this.mode, D.forward(fake.detach()), false);
    const plain = lossReal.add(lossFake).mul(0.5);
    if (this.mode === 'wgangp' && this.o.lambda_gp > 0) {
      const gp = gradientPenalty((x) => D.forward(x), real, fake.detach());
      return { loss: plain.add(gp.mul(this.o.lambda_gp)), plain, gp };
    }
    return { loss: plain, plain, gp: null };
  }

  #definePhases(): Phase<Shared>[] {
    const lambdaA = this.o.lambda_A;
    const lambdaB = this.o.lambda_B;
    const lambdaIdt = this.o.lambda_identity;
    return [
      {
        // Both generators first, the discriminators frozen.
        name: 'G', nets: [this.G_A, this.G_B], optimizer: this.optG,
        loss: (batch, { shared: f }) => {
          const realA = batch.a, realB = batch.b!;
          const log: Record<string, torch.Tensor> = {};
          let loss = torch.zeros([], { device: this.env.device });
          if (lambdaIdt > 0) {
            // G_A should leave a B-domain image alone (and G_B an A-domain one).
            log.loss_idt_A = torch.F.l1Loss(this.G_A.forward(realB), realB).mul(lambdaB * lambdaIdt);
            log.loss_idt_B = torch.F.l1Loss(this.G_B.forward(realA), realA).mul(lambdaA * lambdaIdt);
            loss = loss.add(log.loss_idt_A).add(log.loss_idt_B);
          }
          log.loss_G_A = ganLossTarget(this.mode, this.D_A.forward(f.fakeB), true, { role: 'generator' });
          log.loss_G_B = ganLossTarget(this.mode, this.D_B.forward(f.fakeA), true, { role: 'generator' });
          log.loss_cycle_A = torch.F.l1Loss(f.recA, realA).mul(lambdaA);
          log.loss_cycle_B = torch.F.l1Loss(f.recB, realB).mul(lambdaB);
          loss = loss.add(log.loss_G_A).add(log.loss_G_B).add(log.loss_cycle_A).add(log.loss_cycle_B);
          return { loss, log: { loss_G: loss, ...log } };
        },
      },
      {
        // Then both discriminators, on fakes drawn from the pools.
        name: 'D', nets: [this.D_A, this.D_B], optimizer: this.optD,
        loss: (batch, { shared: f }) => {
          const dA = this.#lossD(this.D_A, batch.b!, this.poolB.query(f.fakeB));
          const dB = this.#lossD(this.D_B, batch.a, this.poolA.query(f.fakeA));
          const log: Record<string, torch.Tensor> = { loss_D: dA.plain.add(dB.plain), loss_D_A: dA.plain, loss_D_B: dB.plain };
          if (dA.gp && dB.gp) log.gp = dA.gp.add(dB.gp).div(2);
          return { loss: dA.loss.add(dB.loss), log };
        },
      },
    ];
  }

  sampleInputs(_n: number, _labels: number[] | null, real?: TensorBatch): SampleInputs {
    return realSampleInputs(real, 'CycleGAN');
  }

  generate(inputs: SampleInputs): torch.Tensor {
    const a = inputs.a!, b = inputs.b!;
    const fakeB = translateImages(this.G_A, a);
    const fakeA = translateImages(this.G_B, b);
    return gridRows([a, fakeB, translateImages(this.G_B, fakeB), b, fakeA, translateImages(this.G_A, fakeA)]);
  }

  state(): Record<string, unknown> {
    return { poolA: this.poolA.count, poolB: this.poolB.count };
  }

  stateTensors(): Record<string, torch.Tensor> {
    return { ...this.poolA.stateTensors('pool_A'), ...this.poolB.stateTensors('pool_B') };
  }

  loadState(_s: Record<string, unknown>, tensors: Record<string, torch.Tensor> = {}): void {
    this.poolA.load(tensors.pool_A);
    this.poolB.load(tensors.pool_B);
  }

  dispose(): void {
    this.poolA.dispose();
    this.poolB.dispose();
  }
}

export const cyclegan = defineRecipe({
  name: 'cyclegan',
  summary: 'CycleGAN (Zhu et al. 2017): unpaired translation between two domains with cycle-consistency and identity losses',
  data: 'unaligned',
  trainerDefaults: { ...TRANSLATION_TRAINER_DEFAULTS, data: 'shapes-domains' },
  schema: CYCLEGAN_SCHEMA,
  create: (o, env) => new CycleGANRecipe(o, env),
});
