// Parameter-free layers, as modules so they can sit in a Sequential.
import { Tensor, F } from '../torch/index.js';
import { Module } from './module.js';

export class Identity extends Module {
  forward(x: Tensor): Tensor { return x; }
}

/** With `inplace`, overwrites its input (PyTorch's inplace=True): only for inputs nothing else reads. */
export class ReLU extends Module {
  constructor(readonly inplace = false) { super(); }
  forward(x: Tensor): Tensor { return this.inplace ? x.relu_() : F.relu(x); }
}

export class LeakyReLU extends Module {
  constructor(readonly negativeSlope = 0.01, readonly inplace = false) { super(); }
  forward(x: Tensor): Tensor { return this.inplace ? x.leakyRelu_(this.negativeSlope) : F.leakyRelu(x, this.negativeSlope); }
}

export class Tanh extends Module {
  forward(x: Tensor): Tensor { return F.tanh(x); }
}

export class Sigmoid extends Module {
  forward(x: Tensor): Tensor { return F.sigmoid(x); }
}

/** Active only in training mode, as PyTorch. */
export class Dropout extends Module {
  constructor(readonly p = 0.5) {
    super();
    if (!(p >= 0 && p <= 1)) throw new RangeError(`dropout probability must be in [0, 1], got ${p}`);
  }
  forward(x: Tensor): Tensor { return F.dropout(x, this.p, this.training); }
}

export class Flatten extends Module {
  constructor(readonly startDim = 1, readonly endDim = -1) { super(); }
  forward(x: Tensor): Tensor { return x.flatten(this.startDim, this.endDim); }
}

type Pad4 = number | [number, number, number, number];
function pad4(p: Pad4): number[] {
  return typeof p === 'number' ? [p, p, p, p] : [...p];
}

export class ReflectionPad2d extends Module {
  readonly padding: number[];
  constructor(padding: Pad4) { super(); this.padding = pad4(padding); }
  forward(x: Tensor): Tensor { return F.pad(x, this.padding, { mode: 'reflect' }); }
}

export class ReplicationPad2d extends Module {
  readonly padding: number[];
  constructor(padding: Pad4) { super(); this.padding = pad4(padding); }
  forward(x: Tensor): Tensor { return F.pad(x, this.padding, { mode: 'replicate' }); }
}

export class ZeroPad2d extends Module {
  readonly padding: number[];
  constructor(padding: Pad4) { super(); this.padding = pad4(padding); }
  forward(x: Tensor): Tensor { return F.pad(x, this.padding); }
}

export class Upsample extends Module {
  constructor(readonly opts: F.InterpolateOptions) { super(); }
  forward(x: Tensor): Tensor { return F.interpolate(x, this.opts); }
}

export class AvgPool2d extends Module {
  constructor(readonly kernelSize: number, readonly opts: F.AvgPool2dOptions = {}) { super(); }
  forward(x: Tensor): Tensor { return F.avgPool2d(x, this.kernelSize, this.opts); }
}
