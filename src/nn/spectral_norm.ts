// Spectral normalisation as BigGAN-PyTorch's layers.SN mixin defines it (Miyato et al.
// 2018, with Brock et al.'s extensions): the weight, flattened to [out, -1], is divided by
// its largest singular value σ₀, estimated by power iteration from stored left singular
// vectors. Its state is the reference's: buffers u{i} [1, out] (the estimates, updated only
// in training mode) and sv{i} [1] (the last estimates of σᵢ, kept for logging only), so
// released checkpoints load unchanged. num_SVs > 1 estimates further singular vectors,
// Gram–Schmidt-orthogonalised against the earlier ones; only σ₀ normalises.
//
// Gradients flow through σ₀ = v Wᵀ uᵀ with u and v held constant, as in the reference (the
// power iteration itself runs without gradient).
import { Tensor, F, noGrad, randn, ones } from '../torch/index.js';
import { Conv2d, type Conv2dOptions } from './conv.js';
import { Linear } from './linear.js';
import { Embedding } from './embedding.js';

export interface SNOptions {
  /** Singular values to estimate (the reference's num_svs; num_G_SVs / num_D_SVs). */
  numSvs?: number;
  /** Power iterations per forward (num_itrs; num_G_SV_itrs / num_D_SV_itrs). */
  numItrs?: number;
  /** Floor of a vector's norm before it is normalised (SN_eps). */
  eps?: number;
}

// x / max(‖x‖₂, eps) along dim 1, as torch.nn.functional.normalize.
function normalize(x: Tensor, eps: number): Tensor {
  return x.div(x.norm(2, 1, true).clamp(eps));
}

// x minus its projections onto each of ys (rows [1, n]).
function gramSchmidt(x: Tensor, ys: readonly Tensor[]): Tensor {
  for (const y of ys) x = x.sub(y.mm(x.t()).mul(y).div(y.mm(y.t())));
  return x;
}

/**
 * The SN state of one layer: its u{i}/sv{i} buffers and the power iteration. A layer
 * makes one in its constructor, handing over how to register a buffer (so the keys sit
 * on the layer itself, after its weight and bias, as in the reference).
 */
export class SpectralNorm {
  readonly numSvs: number;
  readonly numItrs: number;
  readonly eps: number;
  readonly u: Tensor[] = [];
  readonly sv: Tensor[] = [];

  constructor(register: (name: string, t: Tensor) => Tensor, numOutputs: number, o: SNOptions = {}) {
    this.numSvs = o.numSvs ?? 1;
    this.numItrs = o.numItrs ?? 1;
    this.eps = o.eps ?? 1e-12;
    if (!Number.isInteger(this.numSvs) || this.numSvs < 1) throw new RangeError(`num_SVs must be a positive integer, got ${this.numSvs}`);
    if (!Number.isInteger(this.numItrs) || this.numItrs < 1) throw new RangeError(`num_SV_itrs must be a positive integer, got ${this.numItrs}`);
    for (let i = 0; i < this.numSvs; i++) {
      this.u.push(register(`u${i}`, randn([1, numOutputs])));
      this.sv.push(register(`sv${i}`, ones([1])));
    }
  }

  /**
   * One power iteration on `W` [out, in] from the stored u's: the singular value
   * estimates (σ₀ differentiable in W). With `update`, the u buffers take the new vectors.
   */
  #iterate(W: Tensor, update: boolean): Tensor[] {
    const us: Tensor[] = [], vs: Tensor[] = [], svs: Tensor[] = [];
    const Wt = W.t();
    for (const stored of this.u) {
      const [u, v] = noGrad(() => {
        const vi = normalize(gramSchmidt(stored.matmul(W), vs), this.eps);
        vs.push(vi);
        const ui = normalize(gramSchmidt(vi.matmul(Wt), us), this.eps);
        us.push(ui);
        if (update) stored.copy_(ui);
        return [ui, vi];
      });
      svs.push(v.matmul(Wt).matmul(u.t()).squeeze());
    }
    return svs;
  }

  /** W / σ₀(W); in training mode the u's move on and the sv's record the new estimates. */
  normalize(weight: Tensor, training: boolean): Tensor {
    const W = weight.view(weight.shape[0], -1);
    let svs: Tensor[] = [];
    for (let i = 0; i < this.numItrs; i++) svs = this.#iterate(W, training);
    if (training) noGrad(() => svs.forEach((s, i) => this.sv[i].copy_(s.reshape([1]))));
    return weight.div(svs[0]);
  }
}

/** Conv2d whose weight is spectrally normalised (the reference's SNConv2d). */
export class SNConv2d extends Conv2d {
  readonly sn: SpectralNorm;

  constructor(inChannels: number, outChannels: number, kernelSize: number, o: Conv2dOptions & SNOptions = {}) {
    super(inChannels, outChannels, kernelSize, o);
    this.sn = new SpectralNorm((n, t) => this.registerBuffer(n, t), outChannels, o);
  }

  /** W/σ₀(W); in training mode this moves u and sv, as forward does (call it once per forward). */
  override effectiveWeight(): Tensor {
    return this.sn.normalize(this.weight, this.training);
  }

  override forward(x: Tensor): Tensor {
    return F.conv2d(x, this.effectiveWeight(), this.bias, {
      stride: this.stride, padding: this.padding, dilation: this.dilation, groups: this.groups,
    });
  }
}

/** Linear with a spectrally normalised weight (SNLinear). */
export class SNLinear extends Linear {
  readonly sn: SpectralNorm;

  constructor(inFeatures: number, outFeatures: number, o: { bias?: boolean } & SNOptions = {}) {
    super(inFeatures, outFeatures, o);
    this.sn = new SpectralNorm((n, t) => this.registerBuffer(n, t), outFeatures, o);
  }

  override forward(x: Tensor): Tensor {
    return F.linear(x, this.sn.normalize(this.weight, this.training), this.bias);
  }
}

/**
 * Embedding with a spectrally normalised table (SNEmbedding, the projection
 * discriminator's class embedding): the table [classes, dim] is the matrix, so u has one
 * entry per class.
 */
export class SNEmbedding extends Embedding {
  readonly sn: SpectralNorm;

  constructor(numEmbeddings: number, embeddingDim: number, o: SNOptions = {}) {
    super(numEmbeddings, embeddingDim);
    this.sn = new SpectralNorm((n, t) => this.registerBuffer(n, t), numEmbeddings, o);
  }

  override forward(indices: Tensor): Tensor {
    return F.embedding(indices, this.sn.normalize(this.weight, this.training));
  }
}
