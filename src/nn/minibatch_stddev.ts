// Minibatch standard deviation (Karras et al. 2018, PGGAN §3), as the originals'
// minibatch_stddev_layer: the batch is split into M = N/G groups of G samples, sample i
// belonging to group i mod M (TF reshapes to [G, M, ...]); within a group the population
// stddev of every (channel, pixel) is taken (√(var + 1e-8)), averaged over the channels of
// each of the n new-feature slices and over pixels, and appended as n constant channels.
import { Tensor, cat, scope } from '../torch/index.js';
import { Module } from './module.js';

export function minibatchStddev(x: Tensor, groupSize = 4, numNewFeatures = 1): Tensor {
  const s = x.shape;
  if (s.length !== 4) throw new Error(`minibatchStddev expects an NCHW tensor, got shape [${s.join(', ')}]`);
  const [n, c, h, w] = s;
  if (!Number.isInteger(groupSize) || groupSize < 1) throw new RangeError(`minibatchStddev: groupSize must be a positive integer, got ${groupSize}`);
  if (!Number.isInteger(numNewFeatures) || numNewFeatures < 1 || c % numNewFeatures !== 0) {
    throw new RangeError(`minibatchStddev: numNewFeatures (${numNewFeatures}) must be a positive integer dividing the ${c} channels`);
  }
  const g = Math.min(groupSize, n);
  if (n % g !== 0) throw new RangeError(`minibatchStddev: the batch size ${n} must be divisible by the group size ${g} (or smaller than ${groupSize})`);
  const m = n / g, nf = numNewFeatures;
  return scope(() => {
    const lowp = x.dtype === 'float16' || x.dtype === 'bfloat16';
    let y = (lowp ? x.float() : x).reshape(g, m, nf, c / nf, h, w);
    y = y.sub(y.mean(0, true));
    y = y.square().mean(0).add(1e-8).sqrt(); // [M, n, c, H, W]
    y = y.mean([2, 3, 4]); // [M, n]
    if (lowp) y = y.to(x.dtype);
    const tiled = y.reshape(1, m, nf, 1, 1).expand(g, m, nf, h, w).reshape(n, nf, h, w);
    return cat([x, tiled], 1);
  });
}

export class MinibatchStddev extends Module {
  constructor(readonly groupSize = 4, readonly numNewFeatures = 1) { super(); }
  forward(x: Tensor): Tensor { return minibatchStddev(x, this.groupSize, this.numNewFeatures); }
}
