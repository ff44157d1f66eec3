// SAGAN's self-attention block as BigGAN-PyTorch's layers.Attention implements it (the
// released code, not the paper's description): 1×1 convolutions theta and phi to C/8
// channels and g to C/2, phi and g max-pooled 2×2 (a quarter of the keys), a softmax over
// the keys, o back to C channels, and the result added to x with the learnt scalar gamma
// (initially 0, so the block starts as the identity).
import { Tensor, F, zeros } from '../torch/index.js';
import { Module } from './module.js';
import type { UnaryModule } from './container.js';

/** Builds one of the block's 1×1 convolutions, without bias (SNConv2d in BigGAN). */
export type Conv1x1 = (inChannels: number, outChannels: number) => UnaryModule;

export class Attention extends Module {
  readonly theta: UnaryModule;
  readonly phi: UnaryModule;
  readonly g: UnaryModule;
  readonly o: UnaryModule;
  readonly gamma: Tensor;

  constructor(readonly ch: number, conv: Conv1x1) {
    super();
    if (ch % 8 !== 0) throw new RangeError(`attention needs a channel count divisible by 8, got ${ch}`);
    this.theta = this.registerModule('theta', conv(ch, ch / 8));
    this.phi = this.registerModule('phi', conv(ch, ch / 8));
    this.g = this.registerModule('g', conv(ch, ch / 2));
    this.o = this.registerModule('o', conv(ch / 2, ch));
    this.gamma = this.registerParameter('gamma', zeros([]));
  }

  forward(x: Tensor): Tensor {
    const [n, , h, w] = x.shape;
    const c = this.ch;
    const theta = this.theta.forward(x).view(n, c / 8, h * w);
    const phi = F.maxPool2d(this.phi.forward(x), 2).view(n, c / 8, (h * w) / 4);
    const g = F.maxPool2d(this.g.forward(x), 2).view(n, c / 2, (h * w) / 4);
    // beta[n, i, j]: how much query position i attends to key position j.
    const beta = F.softmax(theta.transpose(1, 2).bmm(phi), -1);
    const o = this.o.forward(g.bmm(beta.transpose(1, 2)).view(n, c / 2, h, w));
    return o.mul(this.gamma).add(x);
  }
}
