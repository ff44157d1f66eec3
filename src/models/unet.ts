// The U-Net generator of pix2pix: an encoder-decoder whose every level hands its input
// straight across to the decoder by channel concatenation, so fine detail need not pass
// through the bottleneck. Built from the bottleneck outwards, each level wrapping the
// previous one, which is why the reference's keys nest as `model.model.1.model.3...`.
import { Tensor, cat } from '../torch/index.js';
import * as nn from '../nn/index.js';
import type { NormSpec } from './pix2pix.js';

type Role = 'outermost' | 'middle' | 'innermost';

/**
 * One U-Net level: down (4×4 stride-2 conv), the inner levels, up (4×4 stride-2
 * transposed conv). Every level but the outermost returns [its input, its output]
 * stacked on channels, so the level above sees twice the channels it sent down.
 */
export class UnetSkipBlock extends nn.Module {
  readonly model: nn.Sequential;

  /**
   * outerNc: channels this level returns to its parent (before the skip); innerNc:
   * channels it sends to `inner`; inputNc: channels it receives (default outerNc).
   */
  constructor(
    readonly role: Role,
    outerNc: number,
    innerNc: number,
    o: { inputNc?: number; inner?: UnetSkipBlock | null; norm: NormSpec; useDropout?: boolean },
  ) {
    super();
    const bias = o.norm.convBias;
    const inputNc = o.inputNc ?? outerNc;
    if (role !== 'innermost' && !o.inner) throw new Error(`a ${role} U-Net level needs an inner level`);
    const down = new nn.Conv2d(inputNc, innerNc, 4, { stride: 2, padding: 1, bias });
    // The inner level returns innerNc channels of its own plus the innerNc it was sent.
    const upIn = role === 'innermost' ? innerNc : innerNc * 2;
    let layers: nn.UnaryModule[];
    if (role === 'outermost') {
      // The image side: no activation on the raw input, no norm on the picture, and a
      // biased output conv since nothing after it could supply the shift.
      layers = [down, o.inner!, new nn.ReLU(true), new nn.ConvTranspose2d(upIn, outerNc, 4, { stride: 2, padding: 1 }), new nn.Tanh()];
    } else if (role === 'innermost') {
      // The bottleneck is 1×1: normalising it would be meaningless (and zero with instance norm).
      layers = [new nn.LeakyReLU(0.2, true), down, new nn.ReLU(true),
        new nn.ConvTranspose2d(upIn, outerNc, 4, { stride: 2, padding: 1, bias }), o.norm.make(outerNc)];
    } else {
      layers = [new nn.LeakyReLU(0.2, true), down, o.norm.make(innerNc), o.inner!, new nn.ReLU(true),
        new nn.ConvTranspose2d(upIn, outerNc, 4, { stride: 2, padding: 1, bias }), o.norm.make(outerNc)];
      if (o.useDropout) layers.push(new nn.Dropout(0.5));
    }
    this.model = this.registerModule('model', new nn.Sequential(...layers));
  }

  forward(x: Tensor): Tensor {
    if (this.role === 'outermost') return this.model.forward(x);
    // The first layer is an in-place leaky ReLU (as in the reference, to save memory), so
    // by the time the model returns, `x` holds activated values and the skip carries
    // those. It makes no difference: the parent applies a ReLU to the concatenation next,
    // and relu(leaky(x)) = relu(x), values and gradients alike. `x` is always an
    // intermediate of the parent level, never the caller's image.
    const y = this.model.forward(x);
    try {
      return cat([x, y], 1);
    } finally {
      y.dispose();
    }
  }
}

export interface UnetOptions {
  ngf: number;
  norm: NormSpec;
  /** Dropout 0.5 in the widest (ngf·8 → ngf·8) levels around the bottleneck. */
  useDropout?: boolean;
}

/**
 * numDowns stride-2 levels, so an input side must be a multiple of 2^numDowns
 * (unet_128: 7, unet_256: 8) for the bottleneck to reach 1×1 and the halves to line up.
 */
export class UnetGenerator extends nn.Module {
  readonly model: UnetSkipBlock;

  constructor(readonly inputNc: number, readonly outputNc: number, readonly numDowns: number, o: UnetOptions) {
    super();
    if (!Number.isInteger(numDowns) || numDowns < 5) throw new RangeError(`a U-Net needs at least 5 downsamplings, got ${numDowns}`);
    const { ngf, norm } = o;
    let block = new UnetSkipBlock('innermost', ngf * 8, ngf * 8, { norm });
    for (let i = 0; i < numDowns - 5; i++) {
      block = new UnetSkipBlock('middle', ngf * 8, ngf * 8, { inner: block, norm, useDropout: o.useDropout });
    }
    // The four outer levels narrow from ngf·8 to ngf on the way to the image.
    block = new UnetSkipBlock('middle', ngf * 4, ngf * 8, { inner: block, norm });
    block = new UnetSkipBlock('middle', ngf * 2, ngf * 4, { inner: block, norm });
    block = new UnetSkipBlock('middle', ngf, ngf * 2, { inner: block, norm });
    this.model = this.registerModule('model', new UnetSkipBlock('outermost', outputNc, ngf, { inputNc, inner: block, norm }));
  }

  forward(x: Tensor): Tensor {
    const side = 2 ** this.numDowns;
    if (x.ndim !== 4 || x.shape[2] % side || x.shape[3] % side) {
      throw new Error(`this U-Net (${this.numDowns} downsamplings) needs an NCHW input with sides a multiple of ${side}, got [${x.shape.join(', ')}]`);
    }
    return this.model.forward(x);
  }
}
