// Inception Score (Salimans et al.): exp E_x[KL(p(y|x) ‖ p(y))] over class probabilities,
// in splits, as stylegan2-ada-pytorch computes it (10 splits, the softmax of logits taken
// without the output layer's bias, which the caller asks of the network).
import * as torch from '../torch/index.js';
import type { Tensor } from '../torch/index.js';

/** Mean and (population) standard deviation over the splits of IS, from probabilities [N, C]. */
export function inceptionScore(probs: Tensor, splits = 10): { mean: number; std: number } {
  const n = probs.shape[0];
  if (n < splits) throw new Error(`IS with ${splits} splits needs at least ${splits} images, got ${n}`);
  const scores = torch.scope(() => {
    const p = probs.to('float64');
    const out: number[] = [];
    for (let i = 0; i < splits; i++) {
      const lo = Math.floor((i * n) / splits);
      const hi = Math.floor(((i + 1) * n) / splits);
      const part = p.narrow(0, lo, hi - lo);
      const kl = part.mul(part.log().sub(part.mean(0, true).log())).sum(1).mean();
      out.push(Math.exp(kl.item()));
    }
    return out;
  });
  const mean = scores.reduce((a, b) => a + b, 0) / splits;
  const std = Math.sqrt(scores.reduce((a, b) => a + (b - mean) ** 2, 0) / splits);
  return { mean, std };
}
