// Batch and instance normalisation with PyTorch's parameters, buffers and update rules.
import { Tensor, F, ones, zeros, tensor } from '../torch/index.js';
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

export class BatchNorm2d extends NormBase {
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
    // Batch statistics in training, or whenever there are no running ones to use.
    const useBatchStats = this.training || this.runningMean === null;
    const updateRunning = !this.training || this.trackRunningStats;
    return F.batchNorm(x, updateRunning ? this.runningMean : null, updateRunning ? this.runningVar : null, {
      weight: this.weight, bias: this.bias, training: useBatchStats, momentum: factor, eps: this.eps,
    });
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
