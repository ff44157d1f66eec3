// The two weight layers of stylegan2-ada-pytorch (training/networks.py): equalised
// learning rate as run-time gains (weights stored N(0, 1)/lr_multiplier, multiplied by
// lr_multiplier/√fan_in when used; the bias by lr_multiplier), the activation's own gain
// applied after it (bias_act), and a Conv2dLayer that resamples with the FIR filter it
// keeps as its 'resample_filter' buffer. Keys: 'weight', 'bias', 'resample_filter'.
import { Tensor, F, empty, full, noGrad, scope } from '../torch/index.js';
import { Module } from './module.js';
import { biasAct, commutesWithGain, ACTIVATIONS, type Activation } from './bias_act.js';
import { conv2dResample } from './conv2d_resample.js';
import { setupFilter } from './upfirdn2d.js';

function checkPositiveInt(v: number, name: string): void {
  if (!Number.isInteger(v) || v < 1) throw new RangeError(`${name} must be a positive integer, got ${v}`);
}

export interface FullyConnectedOptions {
  bias?: boolean;
  activation?: Activation;
  lrMultiplier?: number;
  biasInit?: number;
}

export class FullyConnectedLayer extends Module {
  readonly weight: Tensor;
  readonly bias: Tensor | null;
  readonly activation: Activation;
  readonly weightGain: number;
  readonly biasGain: number;

  constructor(readonly inFeatures: number, readonly outFeatures: number, o: FullyConnectedOptions = {}) {
    super();
    checkPositiveInt(inFeatures, 'inFeatures');
    checkPositiveInt(outFeatures, 'outFeatures');
    const lr = o.lrMultiplier ?? 1;
    if (!(lr > 0)) throw new RangeError(`lrMultiplier must be positive, got ${lr}`);
    this.activation = o.activation ?? 'linear';
    this.weight = this.registerParameter('weight', empty([outFeatures, inFeatures]));
    noGrad(() => this.weight.normal_(0, 1 / lr));
    this.bias = this.registerParameter('bias', o.bias ?? true ? full([outFeatures], o.biasInit ?? 0) : null);
    this.weightGain = lr / Math.sqrt(inFeatures);
    this.biasGain = lr;
  }

  forward(x: Tensor): Tensor {
    return scope(() => {
      const w = this.weight.mul(this.weightGain);
      const b = this.bias === null ? null : this.biasGain !== 1 ? this.bias.mul(this.biasGain) : this.bias;
      if (this.activation === 'linear') return F.linear(x, w, b);
      return biasAct(F.linear(x, w), b, { act: this.activation });
    });
  }
}

export interface Conv2dLayerOptions {
  bias?: boolean;
  activation?: Activation;
  up?: number;
  down?: number;
  resampleFilter?: readonly number[];
  /** Clamp the output to ±convClamp (scaled by the forward gain); null = none. */
  convClamp?: number | null;
}

export class Conv2dLayer extends Module {
  readonly weight: Tensor;
  readonly bias: Tensor | null;
  readonly resampleFilter: Tensor;
  readonly activation: Activation;
  readonly up: number;
  readonly down: number;
  readonly padding: number;
  readonly convClamp: number | null;
  readonly weightGain: number;

  constructor(readonly inChannels: number, readonly outChannels: number, readonly kernelSize: number, o: Conv2dLayerOptions = {}) {
    super();
    checkPositiveInt(inChannels, 'inChannels');
    checkPositiveInt(outChannels, 'outChannels');
    checkPositiveInt(kernelSize, 'kernelSize');
    this.activation = o.activation ?? 'linear';
    this.up = o.up ?? 1;
    this.down = o.down ?? 1;
    this.convClamp = o.convClamp ?? null;
    this.padding = kernelSize >> 1;
    this.weightGain = 1 / Math.sqrt(inChannels * kernelSize * kernelSize);
    this.weight = this.registerParameter('weight', empty([outChannels, inChannels, kernelSize, kernelSize]));
    noGrad(() => this.weight.normal_(0, 1));
    this.bias = this.registerParameter('bias', o.bias ?? true ? full([outChannels], 0) : null);
    this.resampleFilter = this.registerBuffer('resample_filter', setupFilter(o.resampleFilter ?? [1, 3, 3, 1]));
  }

  /** `gain` scales the activation's gain and the clamp (the resnet branches use √½). */
  forward(x: Tensor, gain = 1): Tensor {
    return scope(() => {
      const actGain = ACTIVATIONS[this.activation].gain * gain;
      const clamp = this.convClamp === null ? null : this.convClamp * gain;
      const rs = { filter: this.resampleFilter, up: this.up, down: this.down, padding: this.padding, flipWeight: this.up === 1 };
      if (!commutesWithGain(this.activation) || !(actGain > 0)) {
        return biasAct(conv2dResample(x, this.weight.mul(this.weightGain), rs), this.bias, { act: this.activation, gain: actGain, clamp });
      }
      // act(conv(x, w·c) + b)·g = act(conv(x, w·c·g) + b·g): the gain rides on the weight's
      // run-time scale and the convolution adds the bias, leaving one activation pass.
      const b = this.bias === null ? null : actGain !== 1 ? this.bias.mul(actGain) : this.bias;
      const y = conv2dResample(x, this.weight.mul(this.weightGain * actGain), { ...rs, bias: b });
      return this.activation === 'linear' && clamp === null ? y : biasAct(y, null, { act: this.activation, gain: 1, clamp });
    });
  }
}
