// StyleGAN's mapping network (Karras, Laine & Aila 2019, §2; NVlabs/stylegan
// training/networks_stylegan.py, G_mapping): z, optionally concatenated with an embedded
// label, normalised to unit mean square (pixel norm), then 8 equalised dense layers of
// 512 with a learning-rate multiplier of 0.01 and leaky ReLU 0.2, broadcast to one copy
// of w per synthesis layer.
//
// State-dict keys follow the original's variable scopes: 'LabelConcat.weight' ([label,
// latent], N(0, 1), no run-time scale, as the original's plain matmul), 'Dense0.weight',
// 'Dense0.bias', ... 'Dense7.bias' (PyTorch layout [out, in]: a TF weight is transposed).
import { Tensor, F, cat, scope, type DType } from '../torch/index.js';
import * as nn from '../nn/index.js';

export interface StyleGANMappingConfig {
  /** Size of z (default 512). */
  latentSize: number;
  /** Number of classes (one-hot label size); 0 for an unconditional model. */
  labelSize: number;
  /** Size of w (default 512). */
  dlatentSize: number;
  /** Copies of w in the output ([N, broadcast, dlatentSize]); null returns [N, dlatentSize]. */
  dlatentBroadcast: number | null;
  /** Dense layers (default 8). */
  mappingLayers: number;
  /** Width of the hidden dense layers (default 512). */
  mappingFmaps: number;
  /** Learning-rate multiplier of the dense layers (default 0.01). */
  mappingLrmul: number;
  /** 'lrelu' (slope 0.2) or 'relu'; both with He gain √2. */
  mappingNonlinearity: 'lrelu' | 'relu';
  /** Pixel-normalise the (label-concatenated) latent first (default true). */
  normalizeLatents: boolean;
}

export const STYLEGAN_MAPPING_DEFAULTS: StyleGANMappingConfig = {
  latentSize: 512, labelSize: 0, dlatentSize: 512, dlatentBroadcast: null, mappingLayers: 8, mappingFmaps: 512,
  mappingLrmul: 0.01, mappingNonlinearity: 'lrelu', normalizeLatents: true,
};

/**
 * Labels as the original's one-hot float matrix [N, labelSize]: int64/int32 class indices
 * [N] are one-hot encoded, a floating [N, labelSize] matrix is used as it is (soft labels).
 */
export function labelMatrix(labels: Tensor, labelSize: number, dtype: DType = 'float32'): Tensor {
  if (labels.isFloatingPoint) {
    if (labels.ndim !== 2 || labels.size(1) !== labelSize) {
      throw new Error(`labels must be class indices [N] or a [N, ${labelSize}] matrix, got shape [${labels.shape.join(', ')}]`);
    }
    return labels;
  }
  if (labels.ndim !== 1) throw new Error(`class-index labels must have shape [N], got [${labels.shape.join(', ')}]`);
  return scope(() => F.oneHot(labels.long(), labelSize).to(dtype));
}

/** Leaky ReLU 0.2 or ReLU, as the original's `act` (the √2 gain lives in the next layer's weight scale). */
export function activate(x: Tensor, kind: 'lrelu' | 'relu'): Tensor {
  return kind === 'lrelu' ? F.leakyRelu(x, 0.2) : F.relu(x);
}

export class StyleGANMapping extends nn.Module {
  readonly cfg: StyleGANMappingConfig;
  readonly labelConcat: nn.Embedding | null;
  readonly dense: nn.EqualizedLinear[] = [];

  constructor(cfg: Partial<StyleGANMappingConfig> = {}) {
    super();
    this.cfg = { ...STYLEGAN_MAPPING_DEFAULTS, ...cfg };
    const c = this.cfg;
    if (!Number.isInteger(c.mappingLayers) || c.mappingLayers < 1) throw new RangeError(`mappingLayers must be a positive integer, got ${c.mappingLayers}`);
    // The label embedding is a [label, latent] matrix drawn N(0, 1): an Embedding holds exactly that.
    this.labelConcat = this.registerModule('LabelConcat', c.labelSize > 0 ? new nn.Embedding(c.labelSize, c.latentSize) : null);
    let fin = c.latentSize * (c.labelSize > 0 ? 2 : 1);
    for (let i = 0; i < c.mappingLayers; i++) {
      const fout = i === c.mappingLayers - 1 ? c.dlatentSize : c.mappingFmaps;
      this.dense.push(this.registerModule(`Dense${i}`, new nn.EqualizedLinear(fin, fout, { gain: Math.SQRT2, lrmul: c.mappingLrmul })));
      fin = fout;
    }
  }

  /** z: [N, latentSize]; labels: class indices [N] or one-hot [N, labelSize] for a conditional model. */
  forward(z: Tensor, labels: Tensor | null = null): Tensor {
    const c = this.cfg;
    if (z.ndim !== 2 || z.size(1) !== c.latentSize) throw new Error(`StyleGAN mapping: z must have shape [N, ${c.latentSize}], got [${z.shape.join(', ')}]`);
    return scope(() => {
      let x = z;
      if (this.labelConcat) {
        if (!labels) throw new Error('this StyleGAN mapping network is conditional: pass class labels');
        x = cat([x, labelMatrix(labels, c.labelSize, z.dtype).matmul(this.labelConcat.weight)], 1);
      }
      if (c.normalizeLatents) x = nn.pixelNorm(x);
      for (const d of this.dense) x = activate(d.forward(x), c.mappingNonlinearity);
      if (c.dlatentBroadcast !== null) x = x.unsqueeze(1).expand(x.size(0), c.dlatentBroadcast, c.dlatentSize);
      return x;
    });
  }
}
