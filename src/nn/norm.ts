// Batch and instance normalisation with PyTorch's parameters, buffers and update rules.
import { Tensor, F, ones, zeros, tensor, cat, full, noGrad } from '../torch/index.js';
import { Module } from './module.js';

export interface NormOptions {
  eps?: number;
  /** Running-average factor; null means a cumulative average (PyTorch's momentum=None). */
  momentum?: number | null;
  affine?: boolean;
  trackRunningStats?: boolean;
}

// What BatchNorm and InstanceNorm share: PyTorch's _NormBase, whose registration order
// (weight, bias, running_mean, running_var, num_batches_tracked) fixes the state-dict keys.
abstract class NormBase extends Module {
  readonly weight: Tensor | null;
  readonly bias: Tensor | null;
  readonly runningMean: Tensor | null;
  readonly runningVar: Tensor | null;
  readonly numBatchesTracked: Tensor | null;
  readonly eps: number;
  /** Mutable, as PyTorch's: standing statistics set it to null (a cumulative average) for a while. */
  momentum: number | null;
  readonly affine: boolean;
  readonly trackRunningStats: boolean;

  constructor(readonly numFeatures: number, o: NormOptions, defaults: { affine: boolean; track: boolean }) {
    super();
    this.eps = o.eps ?? 1e-5;
    this.momentum = o.momentum === undefined ? 0.1 : o.momentum;
    this.affine = o.affine ?? defaults.affine;
    this.trackRunningStats = o.trackRunningStats ?? defaults.track;
    this.weight = this.registerParameter('weight', this.affine ? ones([numFeatures]) : null);
    this.bias = this.registerParameter('bias', this.affine ? zeros([numFeatures]) : null);
    const track = this.trackRunningStats;
    this.runningMean = this.registerBuffer('running_mean', track ? zeros([numFeatures]) : null);
    this.runningVar = this.registerBuffer('running_var', track ? ones([numFeatures]) : null);
    this.numBatchesTracked = this.registerBuffer('num_batches_tracked', track ? tensor(0, { dtype: 'int64' }) : null);
  }

  protected checkInput(x: Tensor): void {
    if (x.ndim !== 4) throw new Error(`${this.constructor.name} expects a 4-D NCHW input, got shape [${x.shape.join(', ')}]`);
    if (x.shape[1] !== this.numFeatures) {
      throw new Error(`${this.constructor.name}(${this.numFeatures}) got an input with ${x.shape[1]} channels`);
    }
  }
}

/** A differentiable sum of a tensor over the processes of a data-parallel job (its gradient is summed the same way). */
export type ReplicaSum = (x: Tensor) => Tensor;

export class BatchNorm2d extends NormBase {
  /**
   * Set by data-parallel training (--sync_bn): in training mode the batch statistics are
   * those of the whole global batch, summed over the processes with this function, as
   * PyTorch's SyncBatchNorm. The sum is differentiable, so the gradient is the one a
   * single process with the whole batch would compute. Null: per-process statistics.
   */
  replicaSum: ReplicaSum | null = null;

  constructor(numFeatures: number, o: NormOptions = {}) {
    super(numFeatures, o, { affine: true, track: true });
  }

  forward(x: Tensor): Tensor {
    this.checkInput(x);
    let factor = this.momentum ?? 0;
    if (this.training && this.numBatchesTracked) {
      this.numBatchesTracked.add_(1);
      if (this.momentum === null) factor = 1 / this.numBatchesTracked.item();
    }
    if (this.training && this.replicaSum) return this.#synchronized(x, this.replicaSum, factor);
    // Batch statistics in training, or whenever there are no running ones to use.
    const useBatchStats = this.training || this.runningMean === null;
    const updateRunning = !this.training || this.trackRunningStats;
    return F.batchNorm(x, updateRunning ? this.runningMean : null, updateRunning ? this.runningVar : null, {
      weight: this.weight, bias: this.bias, training: useBatchStats, momentum: factor, eps: this.eps,
    });
  }

  /**
   * Batch norm over every process's batch: the mean from one sum over the replicas (with
   * the element count, so unequal local batches weigh right), then the biased variance
   * from a second sum of squared deviations (two passes: float32 keeps its precision where
   * E[x²]−E[x]² would cancel). Running statistics get the unbiased variance, as PyTorch's.
   */
  #synchronized(x: Tensor, sum: ReplicaSum, factor: number): Tensor {
    const c = this.numFeatures;
    const shape = [1, c, 1, 1];
    const dims = [0, 2, 3];
    const local = x.shape[0] * x.shape[2] * x.shape[3];
    const s1 = sum(cat([x.sum(dims), full([1], local, { dtype: x.dtype, device: x.device })]));
    const count = s1.narrow(0, c, 1);
    const mean = s1.narrow(0, 0, c).div(count);
    const centered = x.sub(mean.view(shape));
    const variance = sum(centered.square().sum(dims)).div(count);
    let y = centered.mul(variance.add(this.eps).rsqrt().view(shape));
    if (this.weight && this.bias) y = y.mul(this.weight.view(shape)).add(this.bias.view(shape));
    if (this.trackRunningStats && this.runningMean && this.runningVar) {
      const rm = this.runningMean, rv = this.runningVar;
      noGrad(() => {
        const n = count.item();
        rm.mul_(1 - factor).add_(mean.detach().mul(factor));
        rv.mul_(1 - factor).add_(variance.detach().mul(factor * n / Math.max(n - 1, 1)));
      });
    }
    return y;
  }
}

/** Per-sample, per-channel normalisation (pix2pix/CycleGAN's 'instance' norm: affine and tracking off by default). */
export class InstanceNorm2d extends NormBase {
  constructor(numFeatures: number, o: NormOptions = {}) {
    super(numFeatures, o, { affine: false, track: false });
  }

  forward(x: Tensor): Tensor {
    this.checkInput(x);
    return F.instanceNorm(x, {
      runningMean: this.runningMean, runningVar: this.runningVar, weight: this.weight, bias: this.bias,
      useInputStats: this.training || !this.trackRunningStats, momentum: this.momentum ?? 0.1, eps: this.eps,
    });
  }
}
