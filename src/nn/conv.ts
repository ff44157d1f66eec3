import { Tensor, F, empty } from '../torch/index.js';
import { Module } from './module.js';
import { kaimingUniform_, uniform_, fanInAndFanOut } from './init.js';

type Pair = number | [number, number];

function pair(v: Pair): [number, number] {
  return typeof v === 'number' ? [v, v] : v;
}

export interface Conv2dOptions {
  stride?: Pair;
  padding?: Pair;
  dilation?: Pair;
  groups?: number;
  bias?: boolean;
  /** 'zeros' pads inside the convolution; the others pad first, as PyTorch's padding_mode. */
  paddingMode?: 'zeros' | 'reflect' | 'replicate';
}

// PyTorch initialises every convolution the same way: kaiming_uniform(a=√5) on the
// weight and U(-1/√fan_in, 1/√fan_in) on the bias.
function resetConv(weight: Tensor, bias: Tensor | null): void {
  kaimingUniform_(weight, { a: Math.sqrt(5) });
  if (bias) {
    const [fanIn] = fanInAndFanOut(weight);
    const bound = fanIn > 0 ? 1 / Math.sqrt(fanIn) : 0;
    uniform_(bias, -bound, bound);
  }
}

function checkGroups(inC: number, outC: number, groups: number): void {
  if (!Number.isInteger(groups) || groups < 1 || inC % groups || outC % groups) {
    throw new Error(`groups=${groups} must divide in_channels=${inC} and out_channels=${outC}`);
  }
}

// PyTorch's _ConvNd: what every convolution holds, registered in its order (weight, bias).
abstract class ConvBase extends Module {
  readonly weight: Tensor;
  readonly bias: Tensor | null;
  readonly stride: [number, number];
  readonly padding: [number, number];
  readonly dilation: [number, number];
  readonly groups: number;

  /** A transposed convolution stores its weight as [in, out/groups, kH, kW]. */
  constructor(readonly inChannels: number, readonly outChannels: number, readonly kernelSize: Pair, o: Conv2dOptions, transposed: boolean) {
    super();
    this.groups = o.groups ?? 1;
    checkGroups(inChannels, outChannels, this.groups);
    const [kh, kw] = pair(kernelSize);
    this.stride = pair(o.stride ?? 1);
    this.padding = pair(o.padding ?? 0);
    this.dilation = pair(o.dilation ?? 1);
    const shape = transposed ? [inChannels, outChannels / this.groups, kh, kw] : [outChannels, inChannels / this.groups, kh, kw];
    this.weight = this.registerParameter('weight', empty(shape));
    this.bias = this.registerParameter('bias', o.bias === false ? null : empty([outChannels]));
    resetConv(this.weight, this.bias);
  }
}

export class Conv2d extends ConvBase {
  readonly paddingMode: 'zeros' | 'reflect' | 'replicate';

  constructor(inChannels: number, outChannels: number, kernelSize: Pair, o: Conv2dOptions = {}) {
    super(inChannels, outChannels, kernelSize, o, false);
    this.paddingMode = o.paddingMode ?? 'zeros';
  }

  /** The weight the convolution applies (a reparametrised layer, such as spectral norm, derives it from `weight`). */
  effectiveWeight(): Tensor {
    return this.weight;
  }

  forward(x: Tensor): Tensor {
    if (this.paddingMode === 'zeros') {
      return F.conv2d(x, this.weight, this.bias, { stride: this.stride, padding: this.padding, dilation: this.dilation, groups: this.groups });
    }
    const [ph, pw] = this.padding;
    const padded = F.pad(x, [pw, pw, ph, ph], { mode: this.paddingMode });
    try {
      return F.conv2d(padded, this.weight, this.bias, { stride: this.stride, dilation: this.dilation, groups: this.groups });
    } finally {
      padded.dispose();
    }
  }
}

export interface ConvTranspose2dOptions extends Omit<Conv2dOptions, 'paddingMode'> {
  outputPadding?: Pair;
}

/** Weight layout [in, out/groups, kH, kW], as PyTorch. */
export class ConvTranspose2d extends ConvBase {
  readonly outputPadding: [number, number];

  constructor(inChannels: number, outChannels: number, kernelSize: Pair, o: ConvTranspose2dOptions = {}) {
    super(inChannels, outChannels, kernelSize, o, true);
    this.outputPadding = pair(o.outputPadding ?? 0);
  }

  forward(x: Tensor): Tensor {
    return F.convTranspose2d(x, this.weight, this.bias, {
      stride: this.stride, padding: this.padding, outputPadding: this.outputPadding, groups: this.groups, dilation: this.dilation,
    });
  }
}
