// PatchGAN discriminators of pix2pix: fully convolutional, answering real/fake for each
// overlapping patch (70×70 for the default three layers) rather than for the whole
// image, which penalises local texture and leaves global structure to the L1 term.
// Both return raw scores (no sigmoid): the GAN loss applies its own.
import { Tensor } from '../torch/index.js';
import * as nn from '../nn/index.js';
import type { NormSpec } from './pix2pix.js';

export interface NLayerOptions {
  ndf: number;
  /** Stride-2 convolutions, the first included; 3 is the pix2pix 'basic' D. */
  nLayers: number;
  norm: NormSpec;
}

/** nLayers stride-2 convolutions halve the size, then two stride-1 ones give one score map channel. */
export class NLayerDiscriminator extends nn.Module {
  readonly model: nn.Sequential;

  constructor(readonly inputNc: number, o: NLayerOptions) {
    super();
    if (!Number.isInteger(o.nLayers) || o.nLayers < 1) throw new RangeError(`nLayers must be a positive integer, got ${o.nLayers}`);
    const { ndf, nLayers, norm } = o;
    const bias = norm.convBias;
    const k = 4, p = 1;
    // Width doubles per layer up to 8·ndf, then stays, so deep Ds do not explode in size.
    const width = (n: number): number => ndf * Math.min(2 ** n, 8);
    // No norm on the first layer: normalising raw image statistics away would hurt.
    const layers: nn.UnaryModule[] = [new nn.Conv2d(inputNc, ndf, k, { stride: 2, padding: p }), new nn.LeakyReLU(0.2, true)];
    for (let n = 1; n < nLayers; n++) {
      layers.push(new nn.Conv2d(width(n - 1), width(n), k, { stride: 2, padding: p, bias }), norm.make(width(n)), new nn.LeakyReLU(0.2, true));
    }
    layers.push(new nn.Conv2d(width(nLayers - 1), width(nLayers), k, { stride: 1, padding: p, bias }), norm.make(width(nLayers)), new nn.LeakyReLU(0.2, true));
    layers.push(new nn.Conv2d(width(nLayers), 1, k, { stride: 1, padding: p }));
    this.model = this.registerModule('model', new nn.Sequential(...layers));
  }

  forward(x: Tensor): Tensor {
    return this.model.forward(x);
  }
}

/** The 1×1 PatchGAN ("PixelGAN"): judges each pixel's colour alone, with no spatial context. */
export class PixelDiscriminator extends nn.Module {
  // Named `net` in the reference, hence keys `net.N.weight`.
  readonly net: nn.Sequential;

  constructor(readonly inputNc: number, o: { ndf: number; norm: NormSpec }) {
    super();
    const { ndf, norm } = o;
    const bias = norm.convBias;
    this.net = this.registerModule('net', new nn.Sequential(
      new nn.Conv2d(inputNc, ndf, 1), new nn.LeakyReLU(0.2, true),
      new nn.Conv2d(ndf, ndf * 2, 1, { bias }), norm.make(ndf * 2), new nn.LeakyReLU(0.2, true),
      // Unlike NLayerDiscriminator's, this output conv follows the norm's bias rule too.
      new nn.Conv2d(ndf * 2, 1, 1, { bias }),
    ));
  }

  forward(x: Tensor): Tensor {
    return this.net.forward(x);
  }
}
