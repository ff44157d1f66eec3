// StyleGAN2's mapping network (Karras et al. 2020; stylegan2-ada-pytorch
// training/networks.py MappingNetwork): z normalised to unit second moment, an optional
// label embedding (itself normalised) concatenated, `numLayers` fully connected layers
// with lr multiplier 0.01 and lrelu, the tracked average of w (β 0.995 while training),
// broadcast to one w per synthesis input, and truncation towards that average as an
// explicit argument. Discriminators reuse it (z_dim 0, no broadcast, no average) to map
// labels to their projection vector.
//
// Keys: 'w_avg' (when broadcasting with a tracked average), 'embed.weight|bias',
// 'fc0.weight|bias', ... as the reference.
import { Tensor, cat, noGrad, scope, zeros, type DType } from '../torch/index.js';
import * as nn from '../nn/index.js';
import { labelMatrix } from './stylegan_mapping.js';

export interface MappingConfig {
  /** Size of z; 0 = no latent (a discriminator's label mapping). */
  zDim: number;
  /** Size of the one-hot label; 0 = unconditional. */
  cDim: number;
  wDim: number;
  /** Copies of w in the output; null returns [N, wDim] and tracks no average. */
  numWs: number | null;
  numLayers: number;
  /** Size of the label embedding (null: wDim). */
  embedFeatures: number | null;
  /** Width of the hidden layers (null: wDim). */
  layerFeatures: number | null;
  activation: nn.Activation;
  lrMultiplier: number;
  /** Decay of the tracked average of w; null = not tracked. */
  wAvgBeta: number | null;
}

export const MAPPING_DEFAULTS: Omit<MappingConfig, 'zDim' | 'cDim' | 'wDim' | 'numWs'> = {
  numLayers: 8, embedFeatures: null, layerFeatures: null, activation: 'lrelu', lrMultiplier: 0.01, wAvgBeta: 0.995,
};

/** x·rsqrt(mean(x²) + ε) along `dim` (the reference's normalize_2nd_moment). */
export function normalize2ndMoment(x: Tensor, dim = 1, eps = 1e-8): Tensor {
  return scope(() => x.mul(x.square().mean(dim, true).add(eps).rsqrt()));
}

export interface MappingForwardOptions {
  /** ψ: w ← lerp(w_avg, w, ψ); 1 or null = none. */
  truncationPsi?: number | null;
  /** Truncate only the first `cutoff` copies of w (null: all). */
  truncationCutoff?: number | null;
  /** Do not update w_avg from this call (the second latent of style mixing). */
  skipWAvgUpdate?: boolean;
}

/** Labels as the float [N, cDim] matrix the reference takes; class indices [N] are one-hot encoded. */
export function labelsAsMatrix(c: Tensor, cDim: number, dtype: DType = 'float32'): Tensor {
  return labelMatrix(c, cDim, dtype);
}

export class MappingNetwork extends nn.Module {
  readonly cfg: MappingConfig;
  readonly embed: nn.FullyConnectedLayer | null;
  readonly fc: nn.FullyConnectedLayer[] = [];

  constructor(cfg: Partial<MappingConfig> & Pick<MappingConfig, 'zDim' | 'cDim' | 'wDim' | 'numWs'>) {
    super();
    const c = (this.cfg = { ...MAPPING_DEFAULTS, ...cfg });
    if (!Number.isInteger(c.numLayers) || c.numLayers < 1) throw new RangeError(`mapping: num_layers must be a positive integer, got ${c.numLayers}`);
    if (c.zDim === 0 && c.cDim === 0) throw new RangeError('mapping: needs a latent (z_dim > 0) or a label (c_dim > 0)');
    const embedFeatures = c.cDim === 0 ? 0 : c.embedFeatures ?? c.wDim;
    const layerFeatures = c.layerFeatures ?? c.wDim;
    const features = [c.zDim + embedFeatures, ...Array<number>(c.numLayers - 1).fill(layerFeatures), c.wDim];
    this.embed = this.registerModule('embed', c.cDim > 0 ? new nn.FullyConnectedLayer(c.cDim, embedFeatures) : null);
    for (let i = 0; i < c.numLayers; i++) {
      this.fc.push(this.registerModule(`fc${i}`, new nn.FullyConnectedLayer(features[i], features[i + 1], { activation: c.activation, lrMultiplier: c.lrMultiplier })));
    }
    if (c.numWs !== null && c.wAvgBeta !== null) this.registerBuffer('w_avg', zeros([c.wDim]));
  }

  /** The tracked average of w [wDim] (the buffer itself), or null when not tracked. */
  get wAvg(): Tensor | null {
    return this.own('w_avg');
  }

  /** z [N, zDim] (null when zDim is 0), c [N, cDim] or class indices [N] → w [N, numWs, wDim] (or [N, wDim]). */
  forward(z: Tensor | null, c: Tensor | null, o: MappingForwardOptions = {}): Tensor {
    const cfg = this.cfg;
    return scope(() => {
      const parts: Tensor[] = [];
      if (cfg.zDim > 0) {
        if (!z || z.ndim !== 2 || z.size(1) !== cfg.zDim) throw new Error(`mapping: z must have shape [N, ${cfg.zDim}], got ${z ? `[${z.shape.join(', ')}]` : 'none'}`);
        parts.push(normalize2ndMoment(z.to(this.fc[0].weight.dtype)));
      }
      if (cfg.cDim > 0) {
        if (!c) throw new Error('this network is conditional: pass labels');
        parts.push(normalize2ndMoment(this.embed!.forward(labelsAsMatrix(c, cfg.cDim, this.embed!.weight.dtype).to(this.embed!.weight.dtype))));
      }
      let x = parts.length === 1 ? parts[0] : cat(parts, 1);
      for (const layer of this.fc) x = layer.forward(x);
      const avg = this.wAvg;
      if (avg && cfg.wAvgBeta !== null && this.training && !o.skipWAvgUpdate) {
        const beta = cfg.wAvgBeta;
        noGrad(() => scope(() => avg.copy_(x.detach().mean(0).lerp(avg, beta))));
      }
      if (cfg.numWs !== null) x = x.unsqueeze(1).repeat(1, cfg.numWs, 1);
      const psi = o.truncationPsi ?? 1;
      if (psi !== 1) {
        if (!avg) throw new Error('truncation needs the tracked average of w (w_avg_beta is null)');
        const cutoff = o.truncationCutoff ?? null;
        if (cfg.numWs === null || cutoff === null || cutoff >= cfg.numWs) x = avg.lerp(x, psi);
        else if (cutoff > 0) x = cat([avg.lerp(x.narrow(1, 0, cutoff), psi), x.narrow(1, cutoff, cfg.numWs - cutoff)], 1);
      }
      return x;
    });
  }
}
