// Statistics of a set of feature vectors, gathered batch by batch: the running sums that
// FID's mean and covariance come from (float64, as stylegan2-ada-pytorch's FeatureStats
// keeps them), and, when a metric needs the vectors themselves (KID, IS, precision/recall),
// every vector.
import * as torch from '../torch/index.js';
import type { Tensor } from '../torch/index.js';

/** Mean [D] and covariance [D, D] of a feature set, float64. */
export interface MeanCov {
  mean: Tensor;
  cov: Tensor;
}

/**
 * Mean and covariance of features [N, D] in float64. The covariance is the biased one,
 * divided by N (stylegan2-ada-pytorch: raw_cov / N − μμᵀ), not pytorch-fid's np.cov with
 * N − 1: FID over 50k images differs by a factor of 1 + 1/49999 in the covariances.
 */
export function meanCov(features: Tensor): MeanCov {
  return torch.scope(() => {
    const x = features.to('float64');
    const n = x.shape[0];
    const mean = x.mean(0);
    const cov = x.t().matmul(x).div(n).sub(mean.outer(mean));
    return { mean, cov };
  });
}

export class FeatureStats {
  readonly captureAll: boolean;
  /** Vectors beyond this many are ignored (null: no limit). */
  readonly maxItems: number | null;
  #count = 0;
  #dim: number | null = null;
  #sum: Tensor | null = null;
  #gram: Tensor | null = null;
  #all: Tensor[] = [];

  constructor(opts: { captureAll?: boolean; maxItems?: number | null } = {}) {
    this.captureAll = opts.captureAll ?? false;
    this.maxItems = opts.maxItems ?? null;
  }

  get count(): number {
    return this.#count;
  }

  get dim(): number | null {
    return this.#dim;
  }

  isFull(): boolean {
    return this.maxItems !== null && this.#count >= this.maxItems;
  }

  /** Adds features [N, D] (cut to maxItems). */
  append(features: Tensor): void {
    if (features.ndim !== 2) throw new Error(`features must be [N, D], got [${features.shape.join(', ')}]`);
    if (this.#dim !== null && features.shape[1] !== this.#dim) {
      throw new Error(`features of dimension ${features.shape[1]} added to a set of dimension ${this.#dim}`);
    }
    if (this.isFull()) return;
    torch.scope(() => {
      let x = features.to('float32');
      if (this.maxItems !== null && this.#count + x.shape[0] > this.maxItems) x = x.narrow(0, 0, this.maxItems - this.#count);
      this.#dim = x.shape[1];
      this.#count += x.shape[0];
      if (this.captureAll) this.#all.push(x.to({ device: 'cpu', copy: true }).keep());
      const x64 = x.to('float64');
      const sum = x64.sum(0);
      const gram = x64.t().matmul(x64);
      this.#sum = replace(this.#sum, this.#sum ? this.#sum.add(sum) : sum);
      this.#gram = replace(this.#gram, this.#gram ? this.#gram.add(gram) : gram);
    });
  }

  /** Mean and (biased, see meanCov) covariance, float64, as new tensors. */
  meanCov(): MeanCov {
    if (!this.#sum || !this.#gram || this.#count === 0) throw new Error('no features were added');
    const sum = this.#sum;
    const gram = this.#gram;
    return torch.scope(() => {
      const mean = sum.div(this.#count);
      return { mean, cov: gram.div(this.#count).sub(mean.outer(mean)) };
    });
  }

  /** Every vector, [N, D] float32 (a new tensor); needs captureAll. */
  all(): Tensor {
    if (!this.captureAll) throw new Error('these feature statistics were gathered without keeping the vectors');
    if (this.#all.length === 0) throw new Error('no features were added');
    return torch.cat(this.#all, 0);
  }

  dispose(): void {
    this.#sum?.dispose();
    this.#gram?.dispose();
    for (const t of this.#all) t.dispose();
    this.#sum = this.#gram = null;
    this.#all = [];
  }
}

function replace(old: Tensor | null, next: Tensor): Tensor {
  old?.dispose();
  return next.keep();
}
