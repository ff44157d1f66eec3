// BigGAN's standing statistics (Brock et al. 2019, utils.accumulate_standing_stats): the
// batch-norm statistics an eval-mode generator normalises with, re-estimated for its own
// weights. G_ema's weights are an average that G never had, so the running statistics of
// G (copied or averaged alongside) do not fit them: its eval-mode samples wash out to a
// flat grey. Running the averaged generator on a few batches of fresh latents, its batch
// norms in train mode with a cumulative average (PyTorch's momentum=None), gives the mean
// and variance of its own activations.
import { BatchNorm2d, isStandingNorm, type Module, type StandingNorm } from '../nn/index.js';
import { noGrad, scope, withSeed } from '../torch/index.js';
import type { Recipe } from './recipe.js';

export interface StandingStatsOptions {
  /** Batches of latents to average over (BigGAN's num_standing_accumulations: 16). */
  batches: number;
  /**
   * Seed of the latents, drawn from a generator seeded for the purpose and put back
   * afterwards: the run's random stream (and so exact resume) is untouched.
   */
  seed: number;
  /**
   * The whole network in training mode meanwhile, as BigGAN's accumulate_standing_stats
   * runs it (its spectral norms then move their u and sv once per batch); default: only the
   * normalisation layers.
   */
  trainMode?: boolean;
}

export const STANDING_BATCHES = 16;

/** The batch norms of `net` that keep running statistics (those eval mode uses). */
export function trackingBatchNorms(net: Module): BatchNorm2d[] {
  return net.modules().filter((m): m is BatchNorm2d => m instanceof BatchNorm2d && m.trackRunningStats && m.runningMean !== null);
}

/** The other normalisation layers of `net` that can re-estimate their statistics (nn/standing.ts). */
export function standingNorms(net: Module): (Module & StandingNorm)[] {
  return net.modules().filter((m): m is Module & StandingNorm => isStandingNorm(m));
}

/**
 * Resets the running statistics of every batch norm in `net` (and of every StandingNorm) and re-estimates them as the
 * mean, over `o.batches` calls of `forward` (each runs `net` on one batch of fresh inputs),
 * of each batch's mean and unbiased variance. Only the batch norms switch to train mode
 * meanwhile (the whole network with `o.trainMode`); every module's mode and momentum is
 * as before afterwards. A network without batch norm is left alone (and `forward` is never called).
 */
export function accumulateStandingStats(net: Module, forward: () => unknown, o: StandingStatsOptions): void {
  const bns = trackingBatchNorms(net);
  const others = standingNorms(net);
  if (bns.length === 0 && others.length === 0) return;
  if (!Number.isInteger(o.batches) || o.batches < 1) throw new RangeError(`standing statistics need at least one batch, got ${o.batches}`);
  const saved = bns.map((bn) => ({ training: bn.training, momentum: bn.momentum }));
  const savedModes = others.map((m) => m.training);
  const all = net.modules();
  const allModes = all.map((m) => m.training);
  try {
    if (o.trainMode) net.train();
    for (const m of others) {
      m.beginStanding();
      m.training = true;
    }
    noGrad(() => {
      for (const bn of bns) {
        bn.runningMean!.zero_();
        bn.runningVar!.fill_(1);
        bn.numBatchesTracked!.zero_();
        bn.momentum = null;
        bn.training = true;
      }
    });
    withSeed(o.seed, () => {
      for (let i = 0; i < o.batches; i++) scope(() => noGrad(() => void forward()));
    });
  } finally {
    bns.forEach((bn, i) => {
      bn.training = saved[i].training;
      bn.momentum = saved[i].momentum;
    });
    others.forEach((m, i) => {
      m.endStanding();
      m.training = savedModes[i];
    });
    all.forEach((m, i) => (m.training = allModes[i]));
  }
}

/** Their latents' seed, apart from the run's own stream and from the sample grids' (seed + 1 000 003). */
export const STANDING_SEED_OFFSET = 2_000_003;

/**
 * Standing statistics for a recipe whose G_ema asks for them (emaBuffers 'standing'):
 * `STANDING_BATCHES` batches of `batch` latents (class labels in turn for a conditional
 * model; `recipe.standingBatches` when it sets it), each through `recipe.generate`, which runs G_ema; the same latents every time
 * for a run of seed `runSeed`, so a checkpoint's statistics are reproducible.
 */
export function standEma(recipe: Recipe, ema: Module, o: { batch: number; numClasses: number; runSeed: number }): void {
  const labels = o.numClasses > 0 ? Array.from({ length: o.batch }, (_, i) => i % o.numClasses) : null;
  accumulateStandingStats(ema, () => recipe.generate(recipe.sampleInputs(o.batch, labels)), {
    batches: recipe.standingBatches ?? STANDING_BATCHES, seed: o.runSeed + STANDING_SEED_OFFSET, trainMode: recipe.standingTrainMode ?? false,
  });
}
