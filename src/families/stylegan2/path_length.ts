// StyleGAN2's path-length regulariser (Karras et al. 2020, §3.2; stylegan2-ada-pytorch
// training/loss.py, Gpl): for images g(w) and a random image-space direction y ~ N(0, I)/√(HW),
// the length of Jᵀy = ∇_w (g(w)·y) averaged over the w's, pulled towards its running mean
// a (decay pl_decay): penalty = (‖Jᵀy‖ − a)², per sample. Lengths use the sum over w's
// features and the mean over its copies, as the reference does.
import * as torch from '../../torch/index.js';
import type { Tensor } from '../../torch/index.js';

export interface PathLength {
  /** (‖Jᵀy‖ − a)² per sample [N]. */
  penalty: Tensor;
  /** The updated running mean a (detached): the caller keeps it for the next call. */
  mean: Tensor;
}

/** `img` must have been synthesised from `ws` [N, numWs, wDim] in the current graph; `plMean` is a 0-d tensor. */
export function pathLengthPenalty(img: Tensor, ws: Tensor, plMean: Tensor, decay: number): PathLength {
  return torch.scope(() => {
    const noise = torch.randnLike(img).div(Math.sqrt(img.size(2) * img.size(3)));
    const [g] = torch.grad(img.mul(noise).sum(), ws, { createGraph: true });
    const lengths = g!.square().sum(2).mean(1).sqrt();
    const mean = plMean.lerp(lengths.mean(), decay);
    return { penalty: lengths.sub(mean).square(), mean: mean.detach() };
  });
}
