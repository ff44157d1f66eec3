// The gradient regularisers of D that need double backprop: R1 on real images
// (Mescheder et al., StyleGAN/StyleGAN2) and the WGAN-GP gradient penalty (Gulrajani et
// al., PGGAN). Both return the plain penalty; the family weights it (gamma/2, the lazy
// interval, lambda), as the references disagree on those factors.
//
// Memory: each runs in its own scope(), so only the returned tensor reaches the caller's
// scope; the autograd graph keeps what backward needs.
import { Tensor, scope, grad, rand } from '../torch/index.js';
import { assertLogits } from './gan.js';

function batchSquaredNorms(g: Tensor): Tensor {
  // Per-sample sum of squares over every non-batch dimension (C, H, W for images).
  return g.reshape([g.shape[0], -1]).square().sum(1);
}

/**
 * The R1 penalty of Mescheder et al. as StyleGAN2 computes it: the mean over the batch of
 * ‖∇ₓ Σ D(x)‖², summed over C, H, W. The recipe scales it by gamma/2 (and by the lazy
 * regularisation interval) and adds it to the D loss.
 *
 * `realImages` must have `requiresGrad = true` set before D runs on it (StyleGAN2's
 * `real_img.detach().requires_grad_(True)`), so the logits record how they depend on it.
 * The gradient is taken with createGraph so the penalty backpropagates into D's weights,
 * and the graph is retained so the same logits can still feed D's main loss.
 */
export function r1Penalty(realImages: Tensor, realLogits: Tensor): Tensor {
  const where = 'r1Penalty()';
  if (!(realImages instanceof Tensor)) throw new TypeError(`${where}: realImages must be a Tensor`);
  assertLogits(realLogits, 'realLogits', where);
  if (!realImages.requiresGrad) {
    throw new Error(`${where}: realImages.requiresGrad must be set before D runs on them (x = x.detach(); x.requiresGrad = true)`);
  }
  if (!realLogits.requiresGrad) {
    throw new Error(`${where}: realLogits carry no autograd history (was D run under noGrad()?)`);
  }
  if (realImages.ndim < 1 || realImages.shape[0] === 0) throw new RangeError(`${where}: realImages must have a non-empty batch dimension`);
  return scope(() => {
    const [g] = grad(realLogits.sum(), realImages, { createGraph: true, retainGraph: true, allowUnused: true });
    if (g === null) throw new Error(`${where}: realLogits do not depend on realImages (pass the tensor D was run on)`);
    return batchSquaredNorms(g).mean();
  });
}

export interface GradientPenaltyOptions {
  /** The gradient norm the critic is pulled towards (PGGAN's wgan_target). Default 1. */
  target?: number;
  /**
   * Mixing weights instead of fresh uniform ones: a tensor broadcastable to the images
   * (e.g. [N, 1, 1, 1]) or a number. 0 penalises at the real samples and 1 at the fakes,
   * which reproduces pix2pix's cal_gradient_penalty types 'real' and 'fake'.
   */
  alpha?: Tensor | number;
}

/**
 * The WGAN-GP gradient penalty (Gulrajani et al.) in PGGAN's form:
 *   x̂ = real + α·(fake − real),  α ~ U[0, 1) per sample,
 *   penalty = mean((‖∇ D(x̂)‖₂ − target)²) / target².
 * With target 1 this is Gulrajani's (‖g‖ − 1)²; dividing by target² keeps the weight
 * lambda meaningful when PGGAN raises the target. The recipe multiplies by lambda
 * (10 in PGGAN and Gulrajani).
 *
 * pix2pix's cal_gradient_penalty differs in small ways: it draws α as torch.rand(N, 1),
 * mixes α·real + (1 − α)·fake (the same distribution), adds 1e-16 to the gradient before
 * the norm, multiplies by lambda_gp itself, does not divide by constant², and returns the
 * gradients as well. Here a zero gradient is safe without the 1e-16 because libtorch's norm
 * backward maps a zero norm to a zero gradient.
 *
 * Both inputs are detached: the penalty trains D only. `D` maps a batch to logits of any
 * shape; its gradient is of their sum, which equals PyTorch's grad_outputs = ones. α is
 * drawn from the global generator, so a seeded run is reproducible.
 */
export function gradientPenalty(
  D: (x: Tensor) => Tensor,
  real: Tensor,
  fake: Tensor,
  opts: GradientPenaltyOptions = {},
): Tensor {
  const where = 'gradientPenalty()';
  if (typeof D !== 'function') throw new TypeError(`${where}: D must be a function from images to logits`);
  if (!(real instanceof Tensor) || !(fake instanceof Tensor)) throw new TypeError(`${where}: real and fake must be Tensors`);
  const rs = real.shape;
  const fs = fake.shape;
  if (rs.length !== fs.length || rs.some((d, i) => d !== fs[i])) {
    throw new RangeError(`${where}: real [${rs.join(', ')}] and fake [${fs.join(', ')}] must have the same shape`);
  }
  if (rs.length < 1 || rs[0] === 0) throw new RangeError(`${where}: the batch must not be empty`);
  if (!real.isFloatingPoint) throw new TypeError(`${where}: images must be floating point, got ${real.dtype}`);
  const target = opts.target ?? 1;
  if (!(Number.isFinite(target) && target > 0)) throw new RangeError(`${where}: target must be a finite number > 0, got ${target}`);
  if (typeof opts.alpha === 'number' && !Number.isFinite(opts.alpha)) throw new RangeError(`${where}: alpha must be finite, got ${opts.alpha}`);
  return scope(() => {
    const alpha = opts.alpha ?? rand([rs[0], ...rs.slice(1).map(() => 1)], { dtype: real.dtype, device: real.device });
    const mixed = real.detach().lerp(fake.detach(), alpha).detach();
    mixed.requiresGrad = true;
    const scores = D(mixed);
    if (!(scores instanceof Tensor)) throw new TypeError(`${where}: D must return a Tensor`);
    if (!scores.requiresGrad) throw new Error(`${where}: D's output carries no autograd history (is grad mode off?)`);
    const [g] = grad(scores.sum(), mixed, { createGraph: true, retainGraph: true, allowUnused: true });
    if (g === null) throw new Error(`${where}: D's output does not depend on its input`);
    const norms = g.reshape([rs[0], -1]).norm(2, 1);
    return norms.sub(target).square().mean().div(target * target);
  });
}
