// The GAN objectives of the families ganforge trains, in one place, selected by name
// (the gradient regularisers R1 and WGAN-GP are in penalties.ts).
//
// Everything here works on raw discriminator outputs (logits, no sigmoid) of any shape:
// [N], [N, 1], or a PatchGAN map [N, 1, H, W]. Every term is a mean over all elements,
// as in the references, so a PatchGAN's loss is the average over its patches.
//
// Weighting is the recipe's job, not this file's: the references disagree on it (pix2pix
// halves its D loss, StyleGAN2 scales R1 by gamma/2 and by the lazy interval, PGGAN puts
// lambda = 10 on the gradient penalty) and keeping the terms plain keeps those choices
// visible in the one recipe that makes them.
//
// Memory: every function runs in its own scope(), so its intermediates are freed on return
// and only the returned tensors reach the caller's scope. The autograd graph holds its own
// references to what backward needs, so freeing our handles is safe.
import { Tensor, F, scope, onesLike, zerosLike } from '../torch/index.js';

/**
 * - 'logistic': non-saturating logistic loss (StyleGAN, StyleGAN2).
 * - 'vanilla': BCE with logits against 1/0 (pix2pix / CycleGAN `--gan_mode vanilla`, DCGAN).
 *   The same function as 'logistic'; kept separate to mirror the reference's computation.
 * - 'lsgan': least squares against 1/0 (`--gan_mode lsgan`, CycleGAN's default).
 * - 'wgangp': Wasserstein critic (PGGAN, `--gan_mode wgangp`); pair it with gradientPenalty.
 * - 'hinge': hinge loss (BigGAN, SAGAN).
 */
export type GanLoss = 'logistic' | 'vanilla' | 'lsgan' | 'wgangp' | 'hinge';

export const GAN_LOSSES: readonly GanLoss[] = ['logistic', 'vanilla', 'lsgan', 'wgangp', 'hinge'];

export function isGanLoss(kind: unknown): kind is GanLoss {
  return typeof kind === 'string' && (GAN_LOSSES as readonly string[]).includes(kind);
}

function assertGanLoss(kind: unknown, where: string): asserts kind is GanLoss {
  if (!isGanLoss(kind)) {
    throw new Error(`${where}: unknown GAN loss '${String(kind)}'; expected one of ${GAN_LOSSES.map((k) => `'${k}'`).join(', ')}`);
  }
}

export function assertLogits(t: unknown, name: string, where: string): asserts t is Tensor {
  if (!(t instanceof Tensor)) throw new TypeError(`${where}: ${name} must be a Tensor`);
  if (!t.isFloatingPoint) throw new TypeError(`${where}: ${name} must be floating point, got ${t.dtype}`);
  if (t.numel === 0) throw new RangeError(`${where}: ${name} is empty (the mean of nothing is NaN)`);
}

/** PGGAN's wgan_epsilon: weight of the drift term that keeps critic outputs near 0. */
export const DEFAULT_WGAN_DRIFT = 0.001;

export interface DiscriminatorLossOptions {
  /**
   * Weight of the drift penalty `drift · mean(real²)` added to the real term (PGGAN's
   * epsilon penalty, wgan_epsilon). Default 0.001 for 'wgangp' and 0 for every other kind;
   * pix2pix/CycleGAN's `--gan_mode wgangp` has no drift, so their recipes pass 0.
   */
  drift?: number;
}

/** The discriminator's loss and its two parts, each a scalar; `loss = real + fake` always. */
export interface DiscriminatorLoss {
  loss: Tensor;
  /** The term on real samples (drift included, it being a function of real logits only). */
  real: Tensor;
  /** The term on generated samples. */
  fake: Tensor;
}

/** The D term for logits of real (`isReal`) or generated samples, without drift. */
function discriminatorTerm(kind: GanLoss, logits: Tensor, isReal: boolean): Tensor {
  switch (kind) {
    case 'logistic':
      // StyleGAN2: softplus(-D(x)) + softplus(D(G(z))) = -log σ(D(x)) - log(1 - σ(D(G(z)))),
      // written with softplus so it stays finite for logits of any size.
      return F.softplus(isReal ? logits.neg() : logits).mean();
    case 'vanilla':
      return F.binaryCrossEntropyWithLogits(logits, isReal ? onesLike(logits) : zerosLike(logits));
    case 'lsgan':
      return F.mseLoss(logits, isReal ? onesLike(logits) : zerosLike(logits));
    case 'wgangp':
      // The critic raises real scores and lowers fake ones: minimise mean(fake) − mean(real).
      return isReal ? logits.mean().neg() : logits.mean();
    case 'hinge':
      // BigGAN's loss_hinge_dis: only samples inside the margin contribute.
      return isReal ? logits.rsub(1).relu().mean() : logits.add(1).relu().mean();
  }
}

/**
 * The discriminator's loss for one batch of real and one of generated samples.
 *
 * | kind     | real term                       | fake term              |
 * |----------|---------------------------------|------------------------|
 * | logistic | mean(softplus(−real))           | mean(softplus(fake))   |
 * | vanilla  | BCEWithLogits(real, 1)          | BCEWithLogits(fake, 0) |
 * | lsgan    | MSE(real, 1)                    | MSE(fake, 0)           |
 * | wgangp   | −mean(real) + drift·mean(real²) | mean(fake)             |
 * | hinge    | mean(relu(1 − real))            | mean(relu(1 + fake))   |
 *
 * `loss` is the plain sum. pix2pix and CycleGAN backpropagate (real + fake) × 0.5 in
 * backward_D; their recipes apply that factor. `fakeLogits` should come from detached
 * generator output when only D is being trained, as in every reference.
 */
export function discriminatorLoss(
  kind: GanLoss,
  realLogits: Tensor,
  fakeLogits: Tensor,
  opts: DiscriminatorLossOptions = {},
): DiscriminatorLoss {
  const where = 'discriminatorLoss()';
  assertGanLoss(kind, where);
  assertLogits(realLogits, 'realLogits', where);
  assertLogits(fakeLogits, 'fakeLogits', where);
  const drift = opts.drift ?? (kind === 'wgangp' ? DEFAULT_WGAN_DRIFT : 0);
  if (!(Number.isFinite(drift) && drift >= 0)) throw new RangeError(`${where}: drift must be a finite number >= 0, got ${drift}`);
  return scope(() => {
    let real = discriminatorTerm(kind, realLogits, true);
    if (drift !== 0) real = real.add(realLogits.square().mean().mul(drift));
    const fake = discriminatorTerm(kind, fakeLogits, false);
    return { loss: real.add(fake), real, fake };
  });
}

/**
 * The generator's loss from D's logits on generated samples.
 *
 * - logistic: mean(softplus(−fake)) (non-saturating: strong gradients while D wins).
 * - vanilla: BCEWithLogits(fake, 1), the same value; lsgan: MSE(fake, 1).
 * - wgangp, hinge: −mean(fake).
 */
export function generatorLoss(kind: GanLoss, fakeLogits: Tensor): Tensor {
  const where = 'generatorLoss()';
  assertGanLoss(kind, where);
  assertLogits(fakeLogits, 'fakeLogits', where);
  return scope(() => {
    switch (kind) {
      case 'logistic':
      case 'vanilla':
      case 'lsgan':
        // Non-saturating: G is scored as if its samples were labelled real.
        return discriminatorTerm(kind, fakeLogits, true);
      case 'wgangp':
      case 'hinge':
        // BigGAN's loss_hinge_gen is the Wasserstein generator loss, not a hinge.
        return fakeLogits.mean().neg();
    }
  });
}

export interface GanLossTargetOptions {
  /**
   * Who the loss is for. Required for 'hinge' only: the reference GANLoss has no hinge
   * mode, and hinge is the one loss whose generator term (−mean) is not its
   * discriminator's real term (mean(relu(1 − x))).
   */
  role?: 'discriminator' | 'generator';
}

/**
 * pytorch-CycleGAN-and-pix2pix's `GANLoss(prediction, target_is_real)`: the loss that
 * pushes `logits` towards "real" (targetIsReal) or "fake". The pix2pix and CycleGAN
 * recipes call it as the reference does: D with (real, true) and (fake, false), G with
 * (D(G(x)), true). For 'wgangp' it returns −mean / mean as the reference (no drift).
 */
export function ganLossTarget(kind: GanLoss, logits: Tensor, targetIsReal: boolean, opts: GanLossTargetOptions = {}): Tensor {
  const where = 'ganLossTarget()';
  assertGanLoss(kind, where);
  assertLogits(logits, 'logits', where);
  if (typeof targetIsReal !== 'boolean') throw new TypeError(`${where}: targetIsReal must be a boolean, got ${typeof targetIsReal}`);
  if (kind === 'hinge') {
    if (opts.role === undefined) {
      throw new Error(`${where}: 'hinge' needs opts.role ('discriminator' or 'generator'): its generator loss is not its real-target loss`);
    }
    if (opts.role === 'generator') {
      if (!targetIsReal) throw new Error(`${where}: a generator loss targets 'real' (targetIsReal = true)`);
      return generatorLoss(kind, logits);
    }
  }
  return scope(() => discriminatorTerm(kind, logits, targetIsReal));
}

// ---- regularisers ----
