// BigGAN's batch norms (BigGAN-PyTorch layers.py): `bn`, with a learnt gain and bias, and
// `ccbn`, class-conditional, whose per-sample gain (1 + ·) and bias are computed from the
// conditioning vector y (a class index through embeddings, or [shared embedding, z chunk]
// through linear layers). Both normalise with statistics kept in the reference's buffers
// stored_mean/stored_var (F.batch_norm semantics: batch mean and biased variance in
// training, running averages with momentum 0.1 of the mean and the unbiased variance), or,
// with --mybn, in a child `bn` of the reference's own myBN (mean of squares minus squared
// mean, and summed standing statistics divided by accumulation_counter).
import { Tensor, F, zeros, ones, noGrad, isGradEnabled } from '../torch/index.js';
import { Module } from './module.js';
import type { StandingNorm } from './standing.js';

export interface BigGANNormOptions {
  eps?: number;
  momentum?: number;
  /** The reference's --mybn: statistics in a myBN child (keys `bn.stored_mean` ...). */
  mybn?: boolean;
}

/** x·scale − shift with scale = gain/√(var + eps) and shift = mean·scale − bias (layers.fused_bn). */
function fusedBn(x: Tensor, mean: Tensor, variance: Tensor, gain: Tensor | null, bias: Tensor | null, eps: number): Tensor {
  let scale = variance.add(eps).rsqrt();
  if (gain) scale = scale.mul(gain);
  let shift = mean.mul(scale);
  if (bias) shift = shift.sub(bias);
  return x.mul(scale).sub(shift);
}

/**
 * The reference's myBN: batch statistics as E[x²] − E[x]² (biased), running averages with
 * `momentum`, and standing statistics as plain sums over the accumulated batches that
 * eval mode divides by the count.
 */
export class MyBN extends Module {
  readonly storedMean: Tensor;
  readonly storedVar: Tensor;
  readonly accumulationCounter: Tensor;
  /** Summing standing statistics (the reference's accumulate_standing; it stays on once set, as there). */
  accumulateStanding = false;

  constructor(numChannels: number, readonly eps = 1e-5, readonly momentum = 0.1) {
    super();
    this.storedMean = this.registerBuffer('stored_mean', zeros([numChannels]));
    this.storedVar = this.registerBuffer('stored_var', ones([numChannels]));
    this.accumulationCounter = this.registerBuffer('accumulation_counter', zeros([1]));
  }

  /** Starts summing standing statistics (the reference's reset_stats and accumulate_standing). */
  resetStats(): void {
    noGrad(() => {
      this.storedMean.zero_();
      this.storedVar.zero_();
      this.accumulationCounter.zero_();
    });
    this.accumulateStanding = true;
  }

  forward(x: Tensor, gain: Tensor | null, bias: Tensor | null): Tensor {
    if (this.training) {
      const m = x.mean([0, 2, 3], true);
      const variance = x.square().mean([0, 2, 3], true).sub(m.square());
      const out = fusedBn(x, m, variance, gain, bias, this.eps);
      noGrad(() => {
        const bm = m.flatten(), bv = variance.flatten();
        if (this.accumulateStanding) {
          this.storedMean.add_(bm);
          this.storedVar.add_(bv);
          this.accumulationCounter.add_(1);
        } else {
          this.storedMean.mul_(1 - this.momentum).add_(bm, this.momentum);
          this.storedVar.mul_(1 - this.momentum).add_(bv, this.momentum);
        }
      });
      return out;
    }
    let mean = this.storedMean.view(1, -1, 1, 1);
    let variance = this.storedVar.view(1, -1, 1, 1);
    // The counter alone says whether the stored values are sums (only standing accumulation
    // counts): the flag is not in the state dict, so a loaded checkpoint divides them too;
    // and the flag stays on after accumulating (as the reference's) while G's running
    // averages may since have been copied in with their counter of 0, which the reference
    // would divide by.
    if (this.accumulationCounter.item() > 0) {
      mean = mean.div(this.accumulationCounter);
      variance = variance.div(this.accumulationCounter);
    }
    return fusedBn(x, mean, variance, gain, bias, this.eps);
  }
}

// What ccbn and bn share: the stored statistics (or the myBN child) and the standing mode.
abstract class StoredStatsNorm extends Module implements StandingNorm {
  readonly eps: number;
  readonly momentum: number;
  readonly bn: MyBN | null;
  readonly storedMean: Tensor | null;
  readonly storedVar: Tensor | null;
  /** Batches averaged so far while estimating standing statistics; null otherwise. */
  #standing: number | null = null;

  constructor(readonly outputSize: number, o: BigGANNormOptions) {
    super();
    this.eps = o.eps ?? 1e-5;
    this.momentum = o.momentum ?? 0.1;
    this.bn = this.registerModule('bn', o.mybn ? new MyBN(outputSize, this.eps, this.momentum) : null);
    this.storedMean = this.registerBuffer('stored_mean', o.mybn ? null : zeros([outputSize]));
    this.storedVar = this.registerBuffer('stored_var', o.mybn ? null : ones([outputSize]));
  }

  beginStanding(): void {
    if (this.bn) this.bn.resetStats();
    else this.#standing = 0;
  }

  endStanding(): void {
    this.#standing = null;
  }

  /** The myBN child, in this layer's mode (standing statistics switch only the norm layers to training). */
  protected myBN(): MyBN {
    this.bn!.training = this.training;
    return this.bn!;
  }

  /** The running averages' momentum for this batch: standing statistics are a cumulative average, every batch weighted equally. */
  #momentum(): number {
    return this.training && this.#standing !== null ? 1 / ++this.#standing : this.momentum;
  }

  /** (x − μ)/√(σ² + eps) with the batch's or the stored statistics, no affine part. */
  protected normalized(x: Tensor, weight: Tensor | null, bias: Tensor | null): Tensor {
    return F.batchNorm(x, this.storedMean, this.storedVar, { weight, bias, training: this.training, momentum: this.#momentum(), eps: this.eps });
  }

  /**
   * Whether to normalise by scaleShift: in training mode without gradients (sampling as the
   * reference's bench and train.py do, G in D's steps, standing statistics), normalisation
   * and the affine map are one scale and shift per (sample, channel), two passes over x
   * after its statistics instead of four. With gradients, batch norm's own backward (one
   * kernel) is the cheaper; eval mode keeps batch norm too, as ONNX export traces it.
   */
  protected fusable(): boolean {
    return this.training && !isGradEnabled();
  }

  /** x·scale + shift with scale = gain/√(σ² + eps), shift = bias − μ·scale (gain, bias [N or 1, C, 1, 1]). */
  protected scaleShift(x: Tensor, gain: Tensor, bias: Tensor): Tensor {
    const [mean, variance] = this.statistics(x);
    const scale = variance.add(this.eps).rsqrt().mul(gain);
    return x.mul(scale).add_(bias.sub(mean.mul(scale)));
  }

  /**
   * The batch's mean and biased variance [1, C, 1, 1], moving the stored averages as
   * F.batch_norm does (momentum; the unbiased variance). No gradient flows through them.
   */
  protected statistics(x: Tensor): [Tensor, Tensor] {
    return noGrad(() => {
      const mean = this.storedMean!.view(1, -1, 1, 1), variance = this.storedVar!.view(1, -1, 1, 1);
      const m = this.#momentum();
      const bm = x.mean([0, 2, 3], true), bv = x.var([0, 2, 3], { correction: 0, keepdim: true });
      const count = x.numel / x.shape[1];
      mean.mul_(1 - m).add_(bm, m);
      variance.mul_(1 - m).add_(bv, (m * count) / Math.max(count - 1, 1));
      return [bm, bv];
    });
  }
}

/** A module from the conditioning vector (or class index) to `out` values per sample. */
export type ConditionalLinear = Module & { forward(y: Tensor): Tensor };

/**
 * Class-conditional batch norm (layers.ccbn, norm_style 'bn'): BN(x) · (1 + gain(y)) +
 * bias(y). `which` builds gain and bias: a linear layer without bias over [shared
 * embedding, z chunk] (SNLinear under G_param 'SN'), or an embedding of the class index.
 */
export class CCBN extends StoredStatsNorm {
  readonly gain: ConditionalLinear;
  readonly bias: ConditionalLinear;

  constructor(outputSize: number, readonly inputSize: number, which: (inSize: number, outSize: number) => ConditionalLinear, o: BigGANNormOptions = {}) {
    super(outputSize, o);
    this.gain = this.registerModule('gain', which(inputSize, outputSize));
    this.bias = this.registerModule('bias', which(inputSize, outputSize));
  }

  forward(x: Tensor, y: Tensor): Tensor {
    const n = y.shape[0];
    const gain = this.gain.forward(y).add(1).view(n, -1, 1, 1);
    const bias = this.bias.forward(y).view(n, -1, 1, 1);
    if (this.bn) return this.myBN().forward(x, gain, bias);
    if (this.fusable()) return this.scaleShift(x, gain, bias);
    return this.normalized(x, null, null).mul(gain).add(bias);
  }
}

/** The unconditional batch norm of G's output layer (layers.bn): parameters `gain` and `bias`. */
export class BN extends StoredStatsNorm {
  readonly gain: Tensor;
  readonly bias: Tensor;

  constructor(outputSize: number, o: BigGANNormOptions = {}) {
    super(outputSize, o);
    this.gain = this.registerParameter('gain', ones([outputSize]));
    this.bias = this.registerParameter('bias', zeros([outputSize]));
  }

  forward(x: Tensor): Tensor {
    if (this.bn) return this.myBN().forward(x, this.gain.view(1, -1, 1, 1), this.bias.view(1, -1, 1, 1));
    if (this.fusable()) return this.scaleShift(x, this.gain.view(1, -1, 1, 1), this.bias.view(1, -1, 1, 1));
    return this.normalized(x, this.gain, this.bias);
  }
}
