// The ResNet generator of CycleGAN (after Johnson et al.'s fast style transfer): two
// stride-2 downsamplings, a stack of residual blocks at 1/4 resolution, two transposed
// upsamplings. Reflection padding instead of zeros keeps borders free of artefacts.
import { Tensor } from '../torch/index.js';
import * as nn from '../nn/index.js';
import type { NormSpec } from './pix2pix.js';

export type PaddingType = 'reflect' | 'replicate' | 'zero';

/** x + f(x), f = pad, 3×3 conv, norm, ReLU, [dropout], pad, 3×3 conv, norm. */
export class ResnetBlock extends nn.Module {
  // The reference's attribute name, hence the key `conv_block.N.weight`.
  readonly convBlock: nn.Sequential;

  constructor(dim: number, o: { paddingType: PaddingType; norm: NormSpec; useDropout: boolean; bias: boolean }) {
    super();
    // Either a separate padding layer (which shifts the conv's index in the keys) or zero padding inside the conv.
    const padded = (): { pad: nn.UnaryModule[]; p: number } => {
      switch (o.paddingType) {
        case 'reflect': return { pad: [new nn.ReflectionPad2d(1)], p: 0 };
        case 'replicate': return { pad: [new nn.ReplicationPad2d(1)], p: 0 };
        case 'zero': return { pad: [], p: 1 };
        default: throw new Error(`unknown padding type '${String(o.paddingType)}': expected reflect, replicate or zero`);
      }
    };
    const a = padded();
    const layers: nn.UnaryModule[] = [...a.pad, new nn.Conv2d(dim, dim, 3, { padding: a.p, bias: o.bias }), o.norm.make(dim), new nn.ReLU(true)];
    if (o.useDropout) layers.push(new nn.Dropout(0.5));
    const b = padded();
    layers.push(...b.pad, new nn.Conv2d(dim, dim, 3, { padding: b.p, bias: o.bias }), o.norm.make(dim));
    this.convBlock = this.registerModule('conv_block', new nn.Sequential(...layers));
  }

  forward(x: Tensor): Tensor {
    // Safe to read x afterwards: the block's first layer is a pad or a conv, never in place.
    const f = this.convBlock.forward(x);
    try {
      return x.add(f);
    } finally {
      f.dispose();
    }
  }
}

export interface ResnetOptions {
  ngf: number;
  norm: NormSpec;
  useDropout?: boolean;
  nBlocks: number;
  paddingType?: PaddingType;
}

export class ResnetGenerator extends nn.Module {
  readonly model: nn.Sequential;

  constructor(readonly inputNc: number, readonly outputNc: number, o: ResnetOptions) {
    super();
    if (!Number.isInteger(o.nBlocks) || o.nBlocks < 0) throw new RangeError(`nBlocks must be a non-negative integer, got ${o.nBlocks}`);
    const { ngf, norm } = o;
    const bias = norm.convBias;
    const layers: nn.UnaryModule[] = [
      new nn.ReflectionPad2d(3), new nn.Conv2d(inputNc, ngf, 7, { bias }), norm.make(ngf), new nn.ReLU(true),
    ];
    const nDown = 2;
    for (let i = 0; i < nDown; i++) {
      const c = ngf * 2 ** i;
      layers.push(new nn.Conv2d(c, c * 2, 3, { stride: 2, padding: 1, bias }), norm.make(c * 2), new nn.ReLU(true));
    }
    const dim = ngf * 2 ** nDown;
    for (let i = 0; i < o.nBlocks; i++) {
      layers.push(new ResnetBlock(dim, { paddingType: o.paddingType ?? 'reflect', norm, useDropout: o.useDropout ?? false, bias }));
    }
    for (let i = 0; i < nDown; i++) {
      const c = ngf * 2 ** (nDown - i);
      // output_padding 1 restores the exact even size that the stride-2 conv halved.
      layers.push(new nn.ConvTranspose2d(c, Math.floor(c / 2), 3, { stride: 2, padding: 1, outputPadding: 1, bias }),
        norm.make(Math.floor(c / 2)), new nn.ReLU(true));
    }
    // The image layer always has a bias: no norm follows it.
    layers.push(new nn.ReflectionPad2d(3), new nn.Conv2d(ngf, outputNc, 7), new nn.Tanh());
    this.model = this.registerModule('model', new nn.Sequential(...layers));
  }

  forward(x: Tensor): Tensor {
    return this.model.forward(x);
  }
}
